# shellcheck shell=bash
# tests/integration/netns.sh — a client network namespace joined to the root
# namespace by N rate-limited veth links, for the multipath tests and the
# multipath benchmark. Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
#   netns_setup 16mbit 32mbit 64mbit      # one link per rate
#
# Link i (1..N) is a veth pair: NS_IF[i] in the namespace with NS_ADDR[i]
# (10.78.X.2/24) and RT_IF[i] in the root namespace with RT_ADDR[i]
# (10.78.X.1/24), X distinct per link and per concurrent run. The rate limit
# is a tbf qdisc on the egress of NS_IF[i], i.e. the client->server direction
# that carries the data; the ACK direction is not limited (it carries ~1/40
# of the bytes). braidfsd runs in the root namespace and listens on every
# RT_ADDR; braidfs runs in the namespace (ns_start_client) with one
# path=RT_ADDR[i]:PORT@NS_ADDR[i] per link, so path i uses link i.
#
# Why nsenter and not `ip netns exec`: the latter also unshares the mount
# namespace (to bind /etc/netns/...), so a FUSE mount made by a process it
# starts is invisible to everybody else. nsenter --net only switches the
# network namespace, and execs the command in place (same pid).
#
# Everything is torn down however the test ends: netns_teardown is a cleanup
# hook (lib.sh's on_cleanup), so it runs after the daemons (one of which
# runs inside the namespace) are stopped and the mounts undone, and deletes
# the veths and the namespace (and restores the root MPTCP limits if
# changed).
# Names carry the pid of the test ($$) so parallel runs never clash; a run
# killed with SIGKILL leaves them behind, and the next netns_setup deletes
# those whose pid is gone (netns_reap_stale).
#
# Nothing waits for another run: each run reserves its own block of four
# /24s (10.78.B+1 to 10.78.B+4) by taking, without waiting (flock -n), the
# lock file of that block under /run/lock/braidfs-netns/, and keeps it
# until netns_teardown (or until it dies: the kernel drops the lock with
# the last process holding it), so concurrent runs, from any worktree,
# never pick the same addresses and never wait for each other. (Older
# copies of this file used 10.77.X with one lock for all runs, held across
# whole tests by the WAN emulators that inherited it; the ranges differ so
# that the two never meet.)
#
# WAN links: netns_setup_wan SPEC... makes the same links through a middle
# namespace where wanem (tests/integration/wanem.c) bridges two veths per
# link at layer 2 with a rate, a one-way delay per direction, random loss
# and a bounded queue, e.g.
#
#   netns_setup_wan 100mbit:40ms 100mbit:40ms 100mbit:40ms   # 80 ms RTT
#   netns_setup_wan 50mbit:300ms:queue=1m 20mbit/5mbit:10ms/30ms:loss=1%
#
# (SPEC: RATE[/RATE]:DELAY[/DELAY][:loss=PCT[/PCT]][:queue=BYTES[/BYTES]],
# up = client->server first; see wanem.c). Addresses, interface names and
# every helper below are the same as for netns_setup, so a test or a bench
# runs unchanged over either; ns_set_rate/ns_set_wan restart the link's
# emulator (frames in flight are lost), wan_stats reads its counters.
#
#   client ns                 middle ns (NS_MID)                root ns
#   NS_IF[i] <--veth--> MID_A[i] [wanem] MID_B[i] <--veth--> RT_IF[i]
#
# Offloads are off on the four veth ends (ethtool: no TSO/GRO super-frames,
# checksums computed by the sender), and both sides have a permanent ARP
# entry for the other, so no ARP crosses a lossy or delayed link.
#
# Also: ns_link_cut/ns_link_restore (a silent cut), ns_set_rate,
# ns_start_server/ns_start_client, session_link_bytes/session_link_conns
# (the server's bytes per link), netns_capture_start/netns_capture_stop
# (tcpdump on every link), ns_mptcp_setup (the kernel's MPTCP over the
# links); and, from relay.sh, start_relay/relay_stall/relay_pass
# (relay.py). The client's status readers (status_cols, wait_acked, ...)
# and cp_bg/cp_wait are lib.sh's.
#
# Globals after netns_setup: NS NS_N NS_IF[] RT_IF[] NS_ADDR[] RT_ADDR[]
# LINK_RATE[] (bit/s, client->server) LINK_SPEC[] (as given, e.g. 32mbit or
# 100mbit:40ms) NS_EXEC (command prefix that runs a program in the
# namespace); after netns_setup_wan also NS_MID MID_A[] MID_B[] WAN_PID[]
# WAN_LOG[]. netns_teardown undoes it all, after which netns_setup or
# netns_setup_wan may be called again (a benchmark's next scenario).

[[ $(type -t on_cleanup) == function ]] || {
	echo "netns.sh: source lib.sh first" >&2
	exit 1
}
# shellcheck source=relay.sh
source "$LIB_DIR/relay.sh"

NS=
NS_MID=
NS_N=0
NS_BLOCK=
declare -a NS_IF=() RT_IF=() NS_ADDR=() RT_ADDR=() LINK_RATE=() LINK_SPEC=()
declare -a MID_A=() MID_B=() WAN_PID=() WAN_LOG=()
_NETNS_DONE=0
: "${WANEM:=$(dirname "$BRAIDFS")/../../tests/integration/wanem}"

_NETNS_LOCK_DIR=/run/lock/braidfs-netns
_NETNS_BLOCK_FD=
_NETNS_MPTCP_LIMITS=

command -v ip >/dev/null || skip "ip (iproute2) not found"
command -v tc >/dev/null || skip "tc (iproute2) not found"
command -v nsenter >/dev/null || skip "nsenter (util-linux) not found"

# ----------------------------------------------------------------- teardown

on_cleanup netns_teardown

# netns_teardown: delete what netns_setup made (idempotent, never fails).
netns_teardown() {
	local i
	((_NETNS_DONE)) && return 0
	_NETNS_DONE=1
	for ((i = 1; i <= NS_N; i++)); do
		_wan_stop "$i"
		# deleting one end of a veth pair deletes the other
		[[ -n ${RT_IF[i]:-} ]] && ip link del "${RT_IF[i]}" 2>/dev/null
	done
	[[ -n $NS ]] && ip netns del "$NS" 2>/dev/null
	[[ -n $NS_MID ]] && ip netns del "$NS_MID" 2>/dev/null
	if [[ -n $_NETNS_MPTCP_LIMITS ]]; then
		# shellcheck disable=SC2086 # "subflows N add_addr_accepted M"
		ip mptcp limits set $_NETNS_MPTCP_LIMITS 2>/dev/null
	fi
	# the addresses are free again: give the block back
	[[ -n $_NETNS_BLOCK_FD ]] && exec {_NETNS_BLOCK_FD}>&-
	_NETNS_BLOCK_FD=
	# ready for another netns_setup
	NS='' NS_MID='' NS_N=0 NS_BLOCK='' _NETNS_MPTCP_LIMITS=''
	NS_IF=() RT_IF=() NS_ADDR=() RT_ADDR=() LINK_RATE=() LINK_SPEC=()
	MID_A=() MID_B=() WAN_PID=() WAN_LOG=()
	_NETNS_DONE=0
	return 0
}

# netns_reap_stale: delete namespaces and veths of earlier runs (by this
# library) whose test process no longer exists, e.g. after a SIGKILL.
netns_reap_stale() {
	local n pid l
	for n in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		[[ $n =~ ^bfit-([0-9]+)-[0-9]+$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ -d /proc/$pid ]] && continue
		echo "   netns: removing stale namespace $n"
		ip netns del "$n" 2>/dev/null || true
	done
	for l in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
		[[ $l =~ ^bf([0-9]+)r[0-9]+$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ -d /proc/$pid ]] && continue
		echo "   netns: removing stale veth $l"
		ip link del "$l" 2>/dev/null || true
	done
}

# ------------------------------------------------------------------- setup

# rate_bits 16mbit|500kbit|1gbit|123|none -> bit/s (none: 0)
rate_bits() {
	local v=${1,,}
	case $v in
	none) echo 0 ;;
	*gbit) echo $((${v%gbit} * 1000000000)) ;;
	*mbit) echo $((${v%mbit} * 1000000)) ;;
	*kbit) echo $((${v%kbit} * 1000)) ;;
	*bit) echo $((${v%bit})) ;;
	*) echo $((v)) ;;
	esac
}

# tbf_params RATE_BITS -> "burst B limit L" (bytes) for that rate.
# burst: the bucket must hold what arrives between two timer events; 4 ms
# of data (one jiffy at HZ=250), at least 16 KiB, measured accurate to ~1 %
# at 16-64 Mbit/s (multipath-harness.sh checks that no more gets through). A much larger burst
# lets a fresh TCP flow run above the rate for its first hundreds of ms.
# limit: the queue holds 20 ms of data (at least 64 KiB); more only adds
# delay that the RTT-driven scheduler would see as a slower link.
tbf_params() {
	local bps=$(($1 / 8)) burst lim
	burst=$((bps / 250))
	((burst < 16384)) && burst=16384
	lim=$((bps / 50))
	((lim < 65536)) && lim=65536
	echo "burst $burst limit $lim"
}

# in_ns command...: run in the client namespace (network only; same mounts).
# NS_EXEC is the same as a command prefix, for `timeout`/run_t (which cannot
# run a shell function).
in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
declare -a NS_EXEC=()

# _netns_claim_block N: reserve a block for N links: NS_BLOCK is the first
# B whose lock this run gets at once and whose 10.78.B+1 .. 10.78.B+N are
# used by nothing in the root namespace (addresses, routes: a leftover of
# a run killed before its teardown, or anything else). The lock stays held
# (_NETNS_BLOCK_FD) until netns_teardown. Runs in this shell, not in a
# subshell, which would drop the lock as it ends.
_netns_claim_block() {
	local n=$1 b i used fd
	mkdir -p "$_NETNS_LOCK_DIR" || return 1
	used=$( {
		ip -o -4 addr show 2>/dev/null
		ip -4 route show table all 2>/dev/null
	} | grep -oE '10\.78\.[0-9]+\.' | sort -u)
	for ((b = 0; b + n <= 252; b += 4)); do
		for ((i = 1; i <= n; i++)); do
			grep -qxF "10.78.$((b + i))." <<<"$used" && continue 2
		done
		exec {fd}>"$_NETNS_LOCK_DIR/block-$b.lock" || continue
		if flock -n "$fd"; then
			_NETNS_BLOCK_FD=$fd
			NS_BLOCK=$b
			return 0
		fi
		exec {fd}>&-
	done
	return 1
}

# netns_setup RATE... : one link per RATE (tc syntax: 16mbit, 1gbit, ...;
# "none" for no limit), limited by tbf on the client side. 1-4 links.
# With BRAIDFS_TEST_WAN_DELAY=MS (e.g. 10ms) set, the links are emulated
# WAN links RATE:MS instead (netns_setup_wan), to run a test over a round
# trip of 2 x MS.
netns_setup() {
	local r specs=()
	if [[ -n ${BRAIDFS_TEST_WAN_DELAY:-} ]]; then
		for r in "$@"; do specs+=("$r:$BRAIDFS_TEST_WAN_DELAY"); done
		netns_setup_wan "${specs[@]}"
		return 0
	fi
	_netns_setup tbf "$@"
}

# netns_setup_wan SPEC... : one emulated WAN link per SPEC (wanem's syntax,
# above; e.g. 100mbit:40ms). 1-4 links.
netns_setup_wan() {
	command -v ethtool >/dev/null || fail "netns_setup_wan: ethtool not found (apt-get install ethtool)"
	[[ -x $WANEM ]] || fail "netns_setup_wan: WANEM=$WANEM is not an executable (meson compile builds it)"
	_netns_setup wan "$@"
}

# _netns_setup tbf|wan SPEC...
_netns_setup() {
	local mode=$1
	shift
	(($# >= 1 && $# <= 4)) || fail "netns_setup: 1 to 4 links, not $#"
	[[ -z $NS ]] || fail "netns_setup: already set up ($NS)"
	mkdir -p /run/netns
	local block i
	netns_reap_stale
	_netns_claim_block $# ||
		fail "netns_setup: no free block of 10.78.x.0/24 addresses for $# links (in use: $(ls "$_NETNS_LOCK_DIR" 2>/dev/null | wc -l) lock files under $_NETNS_LOCK_DIR; is something else using 10.78.0.0/16?)"
	block=$NS_BLOCK
	NS=bfit-$$-$RANDOM
	# shellcheck disable=SC2034 # for the tests
	NS_EXEC=(nsenter --net="/run/netns/$NS" --)
	ip netns add "$NS" || {
		NS=
		fail "netns_setup: ip netns add failed"
	}
	_netns_quiet "$NS"
	if [[ $mode == wan ]]; then
		NS_MID=bfit-$$-$((RANDOM + 32768))
		ip netns add "$NS_MID" || {
			NS_MID=
			fail "netns_setup: ip netns add (middle namespace) failed"
		}
		_netns_quiet "$NS_MID"
	fi
	for ((i = 1; i <= $#; i++)); do
		NS_N=$i
		RT_IF[i]=bf$$r$i
		NS_IF[i]=bf$$n$i
		RT_ADDR[i]=10.78.$((block + i)).1
		NS_ADDR[i]=10.78.$((block + i)).2
		LINK_SPEC[i]=${!i}
		if [[ $mode == wan ]]; then
			_netns_wan_veths "$i"
		else
			ip link add "${RT_IF[i]}" type veth peer name "${NS_IF[i]}" netns "$NS" ||
				fail "netns_setup: cannot create veth ${RT_IF[i]}"
		fi
		[[ -w /proc/sys/net/ipv6/conf/${RT_IF[i]}/disable_ipv6 ]] &&
			echo 1 >"/proc/sys/net/ipv6/conf/${RT_IF[i]}/disable_ipv6"
		ip addr add "${RT_ADDR[i]}/24" dev "${RT_IF[i]}"
		ip link set "${RT_IF[i]}" up
		in_ns ip addr add "${NS_ADDR[i]}/24" dev "${NS_IF[i]}"
		in_ns ip link set "${NS_IF[i]}" up
		# A permanent ARP entry on the namespace side: when the link is cut
		# the kernel keeps it (it drops only resolved entries on carrier
		# loss), so no failed ARP turns into an ICMP host-unreachable that
		# the client's sockets would see (SO_ERROR, or a refused connect).
		in_ns ip neigh replace "${RT_ADDR[i]}" dev "${NS_IF[i]}" nud permanent \
			lladdr "$(cat "/sys/class/net/${RT_IF[i]}/address")"
		if [[ $mode == wan ]]; then
			# and on the server side: an ARP lost on a lossy link costs 1 s
			ip neigh replace "${NS_ADDR[i]}" dev "${RT_IF[i]}" nud permanent \
				lladdr "$(in_ns ip -o link show dev "${NS_IF[i]}" | grep -oP 'link/ether \K[0-9a-f:]+')"
			_wan_start "$i" "${!i}"
		else
			ns_set_rate "$i" "${!i}"
		fi
	done
	for ((i = 1; i <= NS_N; i++)); do
		ns_wait_link "$i" || fail "netns_setup: link $i does not come up"
	done
	printf '   netns %s: %s\n' "$NS" "$(for ((i = 1; i <= NS_N; i++)); do
		printf 'link%d %s<->%s %s  ' "$i" "${NS_ADDR[i]}" "${RT_ADDR[i]}" "${LINK_SPEC[i]}"
	done)"
}

# _netns_quiet NETNS: lo up, no IPv6 (no router solicitations, no DAD:
# only our traffic on the links)
_netns_quiet() {
	nsenter --net="/run/netns/$1" -- ip link set lo up
	nsenter --net="/run/netns/$1" -- sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

# _netns_wan_veths I: link I's two veth pairs through the middle namespace,
# offloads off on all four ends (wanem forwards MTU-sized frames with
# their checksums as they are)
_netns_wan_veths() {
	local i=$1 mid=(nsenter --net="/run/netns/$NS_MID" --)
	MID_A[i]=bf$$a$i
	MID_B[i]=bf$$b$i
	ip link add "${RT_IF[i]}" type veth peer name "${MID_B[i]}" netns "$NS_MID" ||
		fail "netns_setup_wan: cannot create veth ${RT_IF[i]}"
	"${mid[@]}" ip link add "${MID_A[i]}" type veth peer name "${NS_IF[i]}" netns "$NS" ||
		fail "netns_setup_wan: cannot create veth ${MID_A[i]}"
	"${mid[@]}" ip link set "${MID_A[i]}" up
	"${mid[@]}" ip link set "${MID_B[i]}" up
	_no_offloads "${RT_IF[i]}"
	_no_offloads "${NS_IF[i]}" in_ns
	_no_offloads "${MID_A[i]}" "${mid[@]}"
	_no_offloads "${MID_B[i]}" "${mid[@]}"
}

# _no_offloads IF [prefix...]: no TSO (the stack's GSO then cuts frames
# before the veth, so TCP keeps its large buffers), no GRO, no checksum
# offload (a frame wanem copies must carry its real checksum)
_no_offloads() {
	local dev=$1
	shift
	"$@" ethtool -K "$dev" tx off tso off gro off >/dev/null 2>&1 ||
		fail "netns_setup_wan: ethtool -K $dev tx off tso off gro off failed"
}

# _wan_start I SPEC: link I's emulator, until it says it is ready
_wan_start() {
	local i=$1 spec=$2 k
	WAN_LOG[i]=$T/logs/wanem-$i.$((${#ALL_LOGS[@]} + 1)).log
	ALL_LOGS+=("${WAN_LOG[i]}")
	LINK_SPEC[i]=$spec
	LINK_RATE[i]=$(rate_bits "${spec%%[:/]*}")
	nsenter --net="/run/netns/$NS_MID" -- "$WANEM" --die-with-parent --realtime --seed "$((i * 7919 + $$))" \
		"${MID_A[i]}" "${MID_B[i]}" "$spec" >"${WAN_LOG[i]}" 2>&1 &
	WAN_PID[i]=$!
	BG_PIDS+=("${WAN_PID[i]}")
	for ((k = 0; k < 200; k++)); do
		grep -qs '^wanem: ready' "${WAN_LOG[i]}" && {
			sed 's/^/   /' "${WAN_LOG[i]}"
			return 0
		}
		pid_alive "${WAN_PID[i]}" || fail "wanem of link $i exited: $(cat "${WAN_LOG[i]}")"
		sleep 0.05
	done
	fail "wanem of link $i not ready after 10 s"
}

# _wan_stop I: end link I's emulator (its last counters go to its log)
_wan_stop() {
	local pid=${WAN_PID[$1]:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait_exit "$pid" 5 >/dev/null || true
	wait "$pid" 2>/dev/null || true
	WAN_PID[$1]=
}

# ns_set_wan I SPEC: give emulated link I a new spec (its emulator is
# restarted: frames in flight are lost, as in a short outage)
ns_set_wan() {
	[[ -n ${MID_A[$1]:-} ]] || fail "ns_set_wan: link $1 is not an emulated WAN link"
	_wan_stop "$1"
	_wan_start "$1" "$2"
}

# wan_stats I: print link I's emulator counters now (wanem's "stats"
# lines: up, down, cpu), waiting until it has written them
wan_stats() {
	local log=${WAN_LOG[$1]} n
	n=$(grep -c '^wanem: stats' "$log" || true)
	kill -USR1 "${WAN_PID[$1]}"
	wait_until 10 "wanem of link $1 printing its counters" _lines_at_least "$log" '^wanem: stats' $((n + 3)) ||
		return 1
	grep '^wanem: stats' "$log" | tail -n 3
}

# _lines_at_least FILE REGEX N: FILE has at least N lines matching REGEX
_lines_at_least() { (($(grep -c "$2" "$1" || true) >= $3)); }

# wan_stat "STATS" DIR KEY -> the value of KEY for direction DIR (up, down)
# in wan_stats output, e.g. wan_stat "$s" up drop_loss
wan_stat() {
	awk -v d="$2" -v k="$3" '$4 == d { for (i = 5; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' <<<"$1"
}

# ns_set_rate I RATE: (re)set link I's client->server rate ("none":
# unlimited); on an emulated WAN link, the rate of both directions
ns_set_rate() {
	local i=$1 rate=$2
	if [[ -n ${MID_A[i]:-} ]]; then
		ns_set_wan "$i" "$rate:${LINK_SPEC[i]#*:}"
		return 0
	fi
	LINK_SPEC[i]=$rate
	if [[ $rate == none ]]; then
		LINK_RATE[i]=0
		in_ns tc qdisc del dev "${NS_IF[i]}" root 2>/dev/null || true
		return 0
	fi
	LINK_RATE[i]=$(rate_bits "$rate")
	# shellcheck disable=SC2046 # word-split the parameters on purpose
	in_ns tc qdisc replace dev "${NS_IF[i]}" root tbf rate "${LINK_RATE[i]}bit" \
		$(tbf_params "${LINK_RATE[i]}")
}

# ns_link_up I: both ends of link I are up with carrier
ns_link_up() {
	ip link show "${RT_IF[$1]}" 2>/dev/null | grep -q 'state UP' &&
		in_ns ip link show "${NS_IF[$1]}" 2>/dev/null | grep -q 'state UP'
}

ns_wait_link() {
	local k
	for ((k = 0; k < 100; k++)); do
		ns_link_up "$1" && return 0
		sleep 0.05
	done
	return 1
}

# ns_link_cut I: cut link I silently. The root-side end goes down: the
# namespace side loses carrier, its qdisc drops every packet while reporting
# success (noop qdisc, NET_XMIT_CN), so the client's TCP gets no RST and no
# error, its segments and SYNs just vanish; the server's replies find no
# route and are dropped too. Addresses, qdisc and sockets stay as they are.
ns_link_cut() {
	ip link set "${RT_IF[$1]}" down
	printf '   netns: link %d (%s) cut at %s\n' "$1" "${LINK_SPEC[$1]}" "$(date +%T.%N | cut -c1-12)"
}

# ns_link_restore I: undo ns_link_cut (the connected routes come back with
# the link; the tbf qdisc was kept)
ns_link_restore() {
	ip link set "${RT_IF[$1]}" up
	ns_wait_link "$1" || fail "link $1 does not come back up"
	printf '   netns: link %d (%s) restored at %s\n' "$1" "${LINK_SPEC[$1]}" "$(date +%T.%N | cut -c1-12)"
}

# --------------------------------------------------------------- captures

# netns_capture_start NAME: one tcpdump per link, on its root-side veth,
# full packets of the connections to $PORT, into $T/NAME-I.pcap; returns
# once each says it is listening
declare -a TCPDUMP_PIDS=()
netns_capture_start() {
	local i log
	command -v tcpdump >/dev/null || fail "tcpdump not found (apt-get install tcpdump)"
	TCPDUMP_PIDS=()
	for ((i = 1; i <= NS_N; i++)); do
		log=$T/logs/tcpdump-$1-$i.log
		ALL_LOGS+=("$log")
		tcpdump -i "${RT_IF[i]}" -s 0 -B 65536 -U -n -w "$T/$1-$i.pcap" "tcp port $PORT" >"$log" 2>&1 &
		TCPDUMP_PIDS+=("$!")
		BG_PIDS+=("$!")
	done
	for ((i = 1; i <= NS_N; i++)); do
		wait_until 10 "tcpdump listening on ${RT_IF[i]}" grep -q "listening on" "$T/logs/tcpdump-$1-$i.log" ||
			fail "tcpdump did not start on ${RT_IF[i]}"
	done
}

# netns_capture_stop NAME: once every connection of the captures has ended
# in them (pcap_closed.py: the daemons must be stopped first), stop
# tcpdump, and print what it says it dropped
netns_capture_stop() {
	local p i
	wait_until 60 "every connection ended in the captures $1-*.pcap" \
		python3 "$LIB_DIR/pcap_closed.py" "$T/$1"-*.pcap ||
		echo "   the captures lack the end of some connections: tcpdump lost packets?"
	for p in "${TCPDUMP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${TCPDUMP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for ((i = 1; i <= NS_N; i++)); do
		printf '   tcpdump %s link %d: %s\n' "$1" "$i" \
			"$(grep -h 'dropped by kernel' "$T/logs/tcpdump-$1-$i.log" || echo '?')"
	done
}

# ---------------------------------------------------------------- MPTCP

# ns_mptcp_setup: let the kernel's MPTCP use every link from the namespace.
# The client announces nothing: each NS_ADDR[i] (i >= 2) is an in-kernel
# path manager "subflow" endpoint, so a connection to RT_ADDR[1] opens one
# extra subflow from each of them; source routing (a table per link, "from
# NS_ADDR[i]" -> via RT_ADDR[i]) sends each subflow out of its own link,
# where the main table would send them all out of link 1. All of this is
# inside the namespace; in the root namespace only the server's subflow
# limit is raised if it is below N-1 (and restored at teardown).
ns_mptcp_setup() {
	local i cur
	[[ -r /proc/sys/net/mptcp/enabled ]] || return 1
	in_ns sysctl -qw net.mptcp.enabled=1
	in_ns ip mptcp limits set subflow 8 add_addr_accepted 8
	for ((i = 1; i <= NS_N; i++)); do
		in_ns ip rule add from "${NS_ADDR[i]}" table $((100 + i))
		in_ns ip route add default via "${RT_ADDR[i]}" dev "${NS_IF[i]}" table $((100 + i))
		((i >= 2)) && in_ns ip mptcp endpoint add "${NS_ADDR[i]}" dev "${NS_IF[i]}" subflow
	done
	cur=$(ip mptcp limits show | awk '{ for (i = 1; i < NF; i++) if ($i == "subflows") print $(i + 1) }')
	if [[ -n $cur ]] && ((cur < NS_N - 1)); then
		_NETNS_MPTCP_LIMITS=$(ip mptcp limits show | sed 's/subflows/subflow/')
		ip mptcp limits set subflow $((NS_N - 1))
	fi
	return 0
}

# ------------------------------------------------------- braidfs on links

# ns_path_opts PORT -> "path=RT_ADDR[i]:PORT@NS_ADDR[i]" for every link
ns_path_opts() {
	local i
	for ((i = 1; i <= NS_N; i++)); do
		printf 'path=%s:%s@%s\n' "${RT_ADDR[i]}" "$1" "${NS_ADDR[i]}"
	done
}

# ns_start_server NAME MNT STORE [-o options...]: braidfsd in the root
# namespace, listening on RT_ADDR[i]:PORT for every link (with insecure:
# they are not loopback addresses; a key_file among the options still
# keys every path)
ns_start_server() {
	local name=$1 mnt=$2 store=$3 i extra=()
	shift 3
	for ((i = 2; i <= NS_N; i++)); do extra+=("listen=${RT_ADDR[i]}:$PORT"); done
	# the links' addresses are not loopback: without a key, insecure
	SERVER_LISTEN="${RT_ADDR[1]}:$PORT" start_server "$name" "$mnt" "$store" "${extra[@]}" insecure "$@"
}

# ns_start_client NAME MNT [-o options...]: braidfs inside the namespace,
# session created at RT_ADDR[1]:PORT (NS_SERVER_ADDR overrides), with
# insecure (as ns_start_server); pass the path= options (ns_path_opts)
# among the options.
ns_start_client() {
	local name=$1 mnt=$2 opts=() dbg=()
	shift 2
	opts=(-o "$(
		IFS=,
		echo "insecure,$*"
	)")
	[[ ${BRAIDFS_TEST_DEBUG:-0} == 1 ]] && dbg=(-d)
	start_daemon "$name" client "$mnt" nsenter --net="/run/netns/$NS" -- \
		"$BRAIDFS" "${NS_SERVER_ADDR:-${RT_ADDR[1]}:$PORT}" "$mnt" "${opts[@]}" -f "${dbg[@]}"
}

# session_link_bytes SESSION_FILE -> for each link I (1..NS_N) the server's
# bytes from paths whose client address is NS_ADDR[I] (summed: a path that
# was re-attached may be listed more than once), space-separated
session_link_bytes() {
	local f=$1 i out=()
	for ((i = 1; i <= NS_N; i++)); do
		out+=("$(sed -n 's/^path: [0-9]* \([^ ]*\) -> [^ ]* bytes=\([0-9]*\).*/\1 \2/p' "$f" |
			awk -v a="${NS_ADDR[i]}" '{ h = $1; sub(/:[0-9]+$/, "", h); gsub(/[][]/, "", h) } h == a { n += $2 } END { printf "%d", n }')")
	done
	echo "${out[*]}"
}

# session_link_conns SESSION_FILE I -> "PORT BYTES" for each path line of
# the server whose client address is NS_ADDR[I] (one per TCP connection)
session_link_conns() {
	sed -n 's/^path: [0-9]* \([^ ]*\) -> [^ ]* bytes=\([0-9]*\).*/\1 \2/p' "$1" |
		awk -v a="${NS_ADDR[$2]}" '{ h = $1; p = h; sub(/:[0-9]+$/, "", h); sub(/.*:/, "", p) } h == a { print p, $2 }'
}
