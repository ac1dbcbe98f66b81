# shellcheck shell=bash
# tests/integration/hostns.sh — "hosts" for the tests of several braidfsd
# on one store: N network namespaces, each joined to the root namespace by
# one veth pair, each running its own braidfsd; the client runs in the
# root namespace and reaches host i at HOST_ADDR[i] over its link. Source
# it after lib.sh (it sources netns.sh, whose address blocks it uses):
#
#   source "$LIB_DIR/hostns.sh"
#   hosts_setup 400mbit 400mbit           # one host per rate ("none")
#   host_start_server 1 a "$T/va" "$STORE" linger=30
#
# Host i: namespace HOST_NS[i] with HOST_ADDR[i] (10.78.B+i.2/24) on
# HOST_IF[i]; the root side is HOST_RT[i] (10.78.B+i.1) on HOST_RT_IF[i],
# where a tbf qdisc limits what the client sends to the host (the data
# direction; netns.sh's tbf_params), so that a copy lasts long enough to
# act in its middle however fast the machine. The block of addresses is
# reserved as netns.sh reserves its own (a lock per block, held until
# teardown), so concurrent runs never share addresses. braidfsd runs in
# the namespace through nsenter --net (same pid, same mounts: its view and
# a FUSE store are seen by everybody). Torn down however the test ends
# (hosts_teardown, an on_cleanup hook run after the daemons are gone).

source "$LIB_DIR/netns.sh"

HOSTS_N=0
declare -a HOST_NS=() HOST_IF=() HOST_RT_IF=() HOST_ADDR=() HOST_RT=()

on_cleanup hosts_teardown

hosts_teardown() {
	local i
	for ((i = 1; i <= HOSTS_N; i++)); do
		[[ -n ${HOST_RT_IF[i]:-} ]] && ip link del "${HOST_RT_IF[i]}" 2>/dev/null
		[[ -n ${HOST_NS[i]:-} ]] && ip netns del "${HOST_NS[i]}" 2>/dev/null
	done
	HOSTS_N=0 HOST_NS=() HOST_IF=() HOST_RT_IF=() HOST_ADDR=() HOST_RT=()
	return 0
}

# hosts_setup RATE...: one host per RATE (tc syntax, or none). 1-4 hosts.
hosts_setup() {
	local i rate bits
	(($# >= 1 && $# <= 4)) || fail "hosts_setup: 1 to 4 hosts, not $#"
	mkdir -p /run/netns
	netns_reap_stale
	_netns_claim_block $# || fail "hosts_setup: no free block of 10.78.x.0/24 addresses"
	for ((i = 1; i <= $#; i++)); do
		HOSTS_N=$i
		HOST_NS[i]=bfit-$$-900$i  # netns_reap_stale's pattern
		HOST_RT_IF[i]=bf$$r$i
		HOST_IF[i]=bf$$n$i
		HOST_RT[i]=10.78.$((NS_BLOCK + i)).1
		HOST_ADDR[i]=10.78.$((NS_BLOCK + i)).2
		ip netns add "${HOST_NS[i]}" || fail "hosts_setup: ip netns add failed"
		_netns_quiet "${HOST_NS[i]}"
		ip link add "${HOST_RT_IF[i]}" type veth peer name "${HOST_IF[i]}" \
			netns "${HOST_NS[i]}" || fail "hosts_setup: cannot create veth ${HOST_RT_IF[i]}"
		ip addr add "${HOST_RT[i]}/24" dev "${HOST_RT_IF[i]}"
		ip link set "${HOST_RT_IF[i]}" up
		in_host "$i" ip addr add "${HOST_ADDR[i]}/24" dev "${HOST_IF[i]}"
		in_host "$i" ip link set "${HOST_IF[i]}" up
		rate=${!i}
		if [[ $rate != none ]]; then
			bits=$(rate_bits "$rate")
			# shellcheck disable=SC2046 # word-split the parameters on purpose
			tc qdisc replace dev "${HOST_RT_IF[i]}" root tbf rate "${bits}bit" \
				$(tbf_params "$bits")
		fi
		wait_until 10 "the link to host $i" _host_link_up "$i" ||
			fail "hosts_setup: the link to host $i does not come up"
	done
	printf '   hosts: %s\n' "$(for ((i = 1; i <= HOSTS_N; i++)); do
		printf '%s at %s (%s)  ' "${HOST_NS[i]}" "${HOST_ADDR[i]}" "${!i}"
	done)"
}

_host_link_up() {
	[[ $(cat "/sys/class/net/${HOST_RT_IF[$1]}/carrier" 2>/dev/null) == 1 ]] &&
		in_host "$1" ping -c 1 -W 1 "${HOST_RT[$1]}" >/dev/null 2>&1
}

# in_host I command...: run in host I's namespace (network only).
in_host() {
	local i=$1
	shift
	nsenter --net="/run/netns/${HOST_NS[i]}" -- "$@"
}

# host_start_server I NAME MNT STORE [options...]: braidfsd in host I,
# listening on HOST_ADDR[I]:PORT (insecure: not loopback, no key).
host_start_server() {
	local i=$1 name=$2 mnt=$3 store=$4 opts o dbg=()
	shift 4
	opts="listen=${HOST_ADDR[i]}:$PORT,store=$store,insecure"
	for o in "$@"; do opts+=",$o"; done
	mkdir -p "$store"
	[[ ${BRAIDFS_TEST_DEBUG:-0} == 1 ]] && dbg=(-d)
	start_daemon "$name" server "$mnt" nsenter --net="/run/netns/${HOST_NS[i]}" -- \
		"$BRAIDFSD" "$mnt" -o "$opts" -f "${dbg[@]}"
	wait_until "$MOUNT_TIMEOUT" "$name to listen in host $i" _host_listening "$i" ||
		fail "$name does not listen on ${HOST_ADDR[i]}:$PORT"
}

_host_listening() {
	local hex
	hex=$(printf ':%04X' "$PORT")
	in_host "$1" awk -v h="$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp
}
