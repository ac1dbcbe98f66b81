#!/usr/bin/env bash
# bench/wan-bench.sh — braidfs over emulated WAN links (round trips of
# 10-600 ms, loss) against what TCP, MPTCP, rsync, tar over ssh and sshfs
# do over the same links, in one run; and the per-file costs on loopback.
#
# usage: bench/wan-bench.sh [BUILD_DIR] [-w LIST] [-r RUNS] [-o OPTS] [-q]
#   BUILD_DIR   meson build directory (default ./build): src/client/braidfs,
#               src/server/braidfsd, tests/integration/wanem, bench/nullfs;
#               nothing is built
#   -w LIST     scenarios, comma-separated (default all, in this order):
#     wan80     3 x 100 Mbit/s, 40 ms each way (80 ms RTT): one 120 MiB file
#               (ceiling, braidfs, MPTCP); 1000 x 16 KiB files, braidfs
#               delivery=async until all are stored (cp -r, and cp -a, which
#               sets every directory's mode and time) vs rsync -a over ssh on
#               link 1; 100 x 16 KiB with delivery=close (a sequential cp
#               pays a round trip per file: ms per file)
#     sat       2 x 50 Mbit/s, 300 ms each way (600 ms RTT): one 64 MiB file
#     unequal   100 Mbit/s at 5 ms + 100 Mbit/s at 40 ms each way (10 ms and
#               80 ms RTT): one 120 MiB file, and braidfs's tail
#     lossy     3 x 100 Mbit/s at 40 ms each way, link 3 losing 1 % of the
#               frames each way: one 120 MiB file
#     loopback  10000 x 4 KiB in 10 directories, no emulator: tar | ssh |
#               tar -x + sync, sshfs (cp -r + sync), cp -r into
#               bench/nullfs (FUSE's requests alone, nothing kept: the
#               ceiling of any FUSE client), braidfs delivery=close,
#               braidfs delivery=async until all are stored
#   -r RUNS     timed runs per cell; median and range reported (default 3)
#   -o OPTS     extra braidfs client options, comma-separated
#   -q          quick: file sizes and counts / 4, for trying the script
#   --no-mptcp  leave the MPTCP cells out
#
# Every emulated link is wanem (tests/integration/netns.sh,
# netns_setup_wan): a packet-level bridge in a middle namespace, so TCP
# sees the real round trip; its queue holds one bandwidth-delay product.
# braidfsd runs in the root namespace, braidfs in the client namespace
# with one path per link (defaults otherwise); each scenario starts fresh
# daemons. Cells:
#   steady    one iperf3 stream per link at once for 8 s (600 ms: 24 s),
#             the first 2 s (8 s) of slow start left out: what the links
#             carry once TCP is up
#   ceiling   one iperf3 stream per link at once, each moving SIZE/N
#             bytes (slow start included, as for the file); goodput = the
#             sum of the streams' receiver rates. braidfs and MPTCP are
#             given as ratios to both
#   braidfs   `cp FILE MOUNT/`: close(2) returns once the server has
#             verified and fsynced it; first run checked with cmp
#   MPTCP     `mptcpize run iperf3 -n SIZE` over all links (the kernel's
#             in-kernel path manager, one subflow per link)
#   small     files: braidfs delivery=async, from the start of `cp -r` (or
#             `cp -a`) until
#             the server's .session counts every file stored; rsync -a over
#             ssh (a throwaway sshd and key) on link 1, until it exits
# Nothing written is deleted between the runs of a cell, only after its
# last: on ext4 without a journal (this VM's /var/tmp) every create scans
# past the inodes deleted in the last 30 s (the kernel's recently_deleted,
# half of braidfsd's CPU per small file once 10000 were just deleted), so
# a run right after deleting the previous run's files paid for them
# (tar|ssh: 0.9 s, 3.8 s, 6.5 s in one cell).
# The peak RSS (VmHWM, reset before each run) of both daemons is printed
# for every braidfs run; wanem's CPU time and lateness per scenario.
# Needs root, python3, iproute2, ethtool, iperf3 (+ mptcpize), rsync,
# openssh-server and openssh-client, sshfs. See bench/README.md.

# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build
RUNS=3
OPTS=
QUICK=0
DO_MPTCP=1
PARTS=wan80,sat,unequal,lossy,loopback
while (($#)); do
	case $1 in
	-w) PARTS=$2; shift 2 ;;
	-r) RUNS=$2; shift 2 ;;
	-o) OPTS=$2; shift 2 ;;
	-q) QUICK=1; shift ;;
	--no-mptcp) DO_MPTCP=0; shift ;;
	-h | --help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "wan-bench: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "wan-bench: no build directory '$BUILD'" >&2; exit 2; }
export BRAIDFS=$BUILD/src/client/braidfs BRAIDFSD=$BUILD/src/server/braidfsd WANEM=$BUILD/tests/integration/wanem
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=wan-bench
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"
# shellcheck source=../tests/integration/netns.sh
source "$HERE/../tests/integration/netns.sh"
# shellcheck source=sshd.sh
source "$HERE/sshd.sh"

for p in ${PARTS//,/ }; do
	[[ $p =~ ^(wan80|sat|unequal|lossy|loopback)$ ]] ||
		fail "unknown scenario '$p' (wan80, sat, unequal, lossy, loopback)"
done
for c in iperf3 rsync ssh ssh-keygen /usr/sbin/sshd sshfs ethtool; do
	command -v "$c" >/dev/null || fail "$c not found (apt-get install iperf3 rsync openssh-server openssh-client sshfs ethtool)"
done
if ((DO_MPTCP)) && ! command -v mptcpize >/dev/null; then
	echo "   mptcpize not found (apt-get install mptcpize): no MPTCP cells"
	DO_MPTCP=0
fi
IFS=, read -r -a EXTRA <<<"$OPTS"
SCALE=$((QUICK ? 4 : 1))

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
range() { printf '%s\n' "$@" | sort -g | sed -n '1p;$p' | paste -sd - | sed 's/^\([^-]*\)$/\1-\1/'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
mbps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.2f", n / s / 1e6 }'; }
# payload MB/s of RATE_BITS of frames (TCP/IPv4 with timestamps: 1448 of 1514)
payload() { awk -v r="$1" 'BEGIN { printf "%.2f", r / 8e6 * 1448 / 1514 }'; }

# Results: ROW[scenario] lists its row keys; VAL/RANGE/NOTE[scenario,key]
declare -A VAL=() RANGE=() NOTE=() TITLE=() UNIT=() REF=() ROWNAME=()
declare -A ROWS=()
# record SCEN KEY NAME UNIT "values..." [note]
record() {
	local scen=$1 key=$2 name=$3 unit=$4 vals=$5 note=${6:-}
	# shellcheck disable=SC2086 # the values, space-separated
	VAL[$scen,$key]=$(median $vals)
	# shellcheck disable=SC2086
	RANGE[$scen,$key]=$(range $vals)
	NOTE[$scen,$key]=$note
	ROWNAME[$scen,$key]=$name
	UNIT[$scen,$key]=$unit
	ROWS[$scen]+="$key "
}

# ------------------------------------------------------------ peak RSS

# rss_reset NAME: VmHWM := current RSS (Linux >= 4.0)
rss_reset() { echo 5 >"/proc/${D_PID[$1]}/clear_refs"; }
rss_peak() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${D_PID[$1]}/status"; }
declare -A RSS=()
# rss_note SCEN KEY CLIENT SERVER: "client/server MiB" of the last run,
# the largest over the runs kept
rss_note() {
	local c s old
	c=$(rss_peak "$3")
	s=$(rss_peak "$4")
	old=${RSS[$1,$2]:-0/0}
	RSS[$1,$2]="$((c > ${old%/*} ? c : ${old%/*}))/$((s > ${old#*/} ? s : ${old#*/}))"
	printf '      peak RSS: client %s MiB, server %s MiB\n' "$c" "$s"
}

# ------------------------------------------------------------ iperf3

# iperf_srv PORT ADDR OUT [mptcpize]: one test, JSON in OUT
iperf_srv() {
	local wrap=()
	[[ ${4:-} == mptcpize ]] && wrap=(mptcpize run)
	"${wrap[@]}" iperf3 -s -1 -B "$2" -p "$1" -J >"$3" 2>"$3.err" &
	BG_PIDS+=("$!")
	IPERF_SPIDS+=("$!")
	wait_until 10 "iperf3 listening on $1" port_listening "$1" || fail "iperf3 -s: $(cat "$3.err")"
}

# recv_rate JSON -> receiver goodput MB/s
recv_rate() {
	python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("%.2f" % (e["bytes"] / e["seconds"] / 1e6))' "$1"
}

# iperf_links PREFIX IPERF3_CLIENT_OPTION...: one iperf3 stream per link,
# all at once, until all end; the server's JSON of link I in PREFIX-I.json,
# the client's in PREFIX-cli-I.json
iperf_links() {
	local pre=$1 i port cpids=()
	shift
	IPERF_SPIDS=()
	rm -f "$pre"-*.json "$pre"-*.err # an earlier scenario may have had more links
	for ((i = 1; i <= NS_N; i++)); do
		port=$(free_port)
		iperf_srv "$port" "${RT_ADDR[i]}" "$pre-$i.json"
		"${NS_EXEC[@]}" timeout -k 5 600 iperf3 -c "${RT_ADDR[i]}" -p "$port" -J "$@" \
			>"$pre-cli-$i.json" 2>&1 &
		cpids+=("$!")
		BG_PIDS+=("$!")
	done
	for i in "${cpids[@]}"; do wait "$i" || fail "iperf3 -c $*: $(tail -n 5 "$pre"-cli-*.json)"; done
	for i in "${IPERF_SPIDS[@]}"; do wait "$i" || true; done
}

# sum_rates JSON... -> the sum of their receiver goodputs, MB/s
sum_rates() {
	local f sum=0
	for f in "$@"; do sum=$(awk -v a="$sum" -v b="$(recv_rate "$f")" 'BEGIN { printf "%.2f", a + b }'); done
	echo "$sum"
}

# bench_ceiling SCEN BYTES: one stream per link at once, BYTES/N each
bench_ceiling() {
	local scen=$1 bytes=$2 r i rates=() per per_link
	per=$((bytes / NS_N))
	for ((r = 1; r <= RUNS; r++)); do
		iperf_links "$T/ceil" -n "$per"
		rates+=("$(sum_rates "$T"/ceil-[0-9].json)")
		per_link=$(for ((i = 1; i <= NS_N; i++)); do recv_rate "$T/ceil-$i.json"; done | paste -sd ' ')
		printf '   %-8s ceiling  run %d: %6s MB/s (per link %s)\n' "$scen" "$r" "${rates[-1]}" "$per_link"
	done
	record "$scen" ceiling "ceiling: $NS_N iperf3 streams, one per link, $((per >> 20)) MiB each" "MB/s" "${rates[*]}"
}

# bench_capacity SCEN SECS OMIT: one stream per link at once for SECS,
# the first OMIT s (slow start) left out: what the links carry once TCP
# is up
bench_capacity() {
	local scen=$1 secs=$2 omit=$3 r rates=()
	for ((r = 1; r <= RUNS; r++)); do
		iperf_links "$T/cap" -t "$secs" -O "$omit"
		# the clients' JSON: the server's counts the omitted seconds too
		rates+=("$(sum_rates "$T"/cap-cli-[0-9].json)")
		printf '   %-8s capacity run %d: %6s MB/s\n' "$scen" "$r" "${rates[-1]}"
	done
	record "$scen" capacity "steady: $NS_N iperf3 streams -t $secs, first $omit s omitted" "MB/s" "${rates[*]}"
}

joins() { in_ns nstat -asz MPTcpExtMPJoinSynAckRx | awk '$1 == "MPTcpExtMPJoinSynAckRx" { print $2 }'; }

# bench_mptcp SCEN BYTES
bench_mptcp() {
	local scen=$1 bytes=$2 r port rates=() j0 j1
	for ((r = 1; r <= RUNS; r++)); do
		IPERF_SPIDS=()
		port=$(free_port)
		iperf_srv "$port" "${RT_ADDR[1]}" "$T/mptcp.json" mptcpize
		j0=$(joins)
		run_t 600 "${NS_EXEC[@]}" mptcpize run iperf3 -c "${RT_ADDR[1]}" -p "$port" -n "$bytes" -J \
			>"$T/mptcp-cli.json" 2>&1 || fail "mptcpize iperf3 -c failed: $(tail -n 5 "$T/mptcp-cli.json")"
		wait "${IPERF_SPIDS[0]}" || true
		j1=$(joins)
		rates+=("$(recv_rate "$T/mptcp.json")")
		printf '   %-8s MPTCP    run %d: %6s MB/s (%d MP_JOINs)\n' "$scen" "$r" "${rates[-1]}" "$((j1 - j0))"
	done
	record "$scen" mptcp "MPTCP: mptcpize iperf3 -n $((bytes >> 20)) MiB" "MB/s" "${rates[*]}" "$((j1 - j0)) joins"
}

# ------------------------------------------------------------ braidfs

# path_bytes_sampler MNT OUT: every 20 ms "t b1 b2 ..." (time.time(), the
# client's acknowledged bytes per path) until killed
path_bytes_sampler() {
	python3 - "$@" <<'EOF' &
import sys, time
mnt, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    while True:
        try:
            lines = open(mnt + "/.braidfs/paths").read().splitlines()
        except OSError:
            time.sleep(0.02); continue
        col, vals = None, []
        for l in lines:
            if l.startswith("#"):
                h = l.lstrip("# ").split()
                col = h.index("bytes") if "bytes" in h else None
            elif l.strip() and col is not None:
                vals.append(l.split()[col])
        f.write("%.3f %s\n" % (time.time(), " ".join(vals))); f.flush()
        time.sleep(0.02)
EOF
	SAMPLER_PID=$!
	BG_PIDS+=("$SAMPLER_PID")
}

# tail_of SAMPLES T_END -> "TAIL SLOW_LAST": s from the first path's last
# acknowledged byte to T_END (the file stored), and s between the first
# and the last path's last acknowledged byte
tail_of() {
	awk -v tend="$2" '
		NR == 1 { n = NF - 1; for (i = 2; i <= NF; i++) prev[i] = $i; next }
		{ for (i = 2; i <= NF; i++) { if ($i != prev[i]) last[i] = $1; prev[i] = $i } }
		END {
			first = 1e18; lastp = 0
			for (i = 2; i <= n + 1; i++) if (i in last) { if (last[i] < first) first = last[i]; if (last[i] > lastp) lastp = last[i] }
			if (first == 1e18) print "- -"; else printf "%.2f %.2f\n", tend - first, lastp - first
		}' "$1"
}

# bench_braidfs_file SCEN FILE [tail]
bench_braidfs_file() {
	local scen=$1 f=$2 want_tail=${3:-} label r t0 t1 dt rates=() tails=() slows=() sess size tl a b
	label=$scen-file
	size=$(stat -c %s "$f")
	mapfile -t PATHS < <(ns_path_opts "$PORT")
	ns_start_client "c-$label" "$T/cli-$label" "label=$label" "${EXTRA[@]}" "${PATHS[@]}"
	sess=$(session_for_label "$T/srv" "$label") || fail "no session directory for $label"
	for ((r = 1; r <= RUNS; r++)); do
		rss_reset "c-$label"
		rss_reset server
		[[ -n $want_tail ]] && path_bytes_sampler "$T/cli-$label" "$T/samples"
		t0=$(now)
		run_t 900 cp "$f" "$T/cli-$label/run$r" || fail "$label: cp failed (run $r)"
		t1=$(now)
		dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		rates+=("$(mbps "$size" "$dt")")
		tl=
		if [[ -n $want_tail ]]; then
			kill "$SAMPLER_PID" 2>/dev/null
			wait "$SAMPLER_PID" 2>/dev/null || true
			read -r a b < <(tail_of "$T/samples" "$t1")
			tails+=("$a")
			slows+=("$b")
			tl=", tail $a s (slow path's last bytes $b s after the fast path's)"
		fi
		printf '   %-8s braidfs  run %d: %6s s, %6s MB/s%s\n' "$scen" "$r" "$dt" "${rates[-1]}" "$tl"
		rss_note "$scen" braidfs "c-$label" server
		((r == 1)) && check "$label: the server's copy equals the source" cmp "$f" "$sess/run$r"
		rm -f "$sess/run$r"
	done
	stop_daemon "c-$label"
	record "$scen" braidfs "braidfs: cp FILE MOUNT/ (${OPTS:-defaults})" "MB/s" "${rates[*]}"
	if [[ -n $want_tail ]]; then
		record "$scen" tail "braidfs tail: first path done -> file stored" s "${tails[*]}"
		record "$scen" slowlast "braidfs: slow path's last bytes after the fast path's" s "${slows[*]}"
	fi
}

# session_items SESSDIR -> the server's count of stored files
session_items() { session_field "$1/.session" items; }

# wait_items SESSDIR N -> epoch time (time.time()) at which the session
# first counts N stored files (polled every 10 ms), or fails after 900 s
wait_items() {
	python3 - "$1/.session" "$2" <<'EOF'
import sys, time
f, n = sys.argv[1], int(sys.argv[2])
end = time.time() + 900
while time.time() < end:
    try:
        for l in open(f):
            if l.startswith("items:") and int(l.split()[1]) >= n:
                print("%.3f" % time.time()); sys.exit(0)
    except OSError:
        pass
    time.sleep(0.01)
sys.exit(1)
EOF
}

# bench_braidfs_tree SCEN KEY SRC_TREE NFILES close|async [loopback]
# (a KEY ending in -a copies with cp -a: directory modes and times too)
bench_braidfs_tree() {
	local scen=$1 key=$2 src=$3 n=$4 mode=$5 where=${6:-ns} label r t0 tcp tdone dt times=() cps=() sess opts=()
	local cpf=-r
	[[ $key == *-a ]] && cpf=-a
	label=$scen-$key
	[[ $mode == async ]] && opts=("spool=$T/spool-$label")
	if [[ $where == loopback ]]; then
		start_client "c-$label" "$T/cli-$label" "label=$label" "${opts[@]}" "${EXTRA[@]}"
	else
		mapfile -t PATHS < <(ns_path_opts "$PORT")
		ns_start_client "c-$label" "$T/cli-$label" "label=$label" "${opts[@]}" "${EXTRA[@]}" "${PATHS[@]}"
	fi
	sess=$(session_for_label "$T/srv" "$label") || fail "no session directory for $label"
	for ((r = 1; r <= RUNS; r++)); do
		rss_reset "c-$label"
		rss_reset server
		sync
		t0=$(now)
		run_t 900 cp $cpf "$src" "$T/cli-$label/run$r" || fail "$label: cp $cpf failed (run $r)"
		tcp=$(elapsed "$t0")
		tdone=$(wait_items "$sess" $((r * n))) || fail "$label: not all $n files stored after 900 s ($(session_items "$sess"))"
		dt=$(awk -v a="$t0" -v b="$tdone" 'BEGIN { d = b - a; printf "%.3f", d }')
		[[ $mode == close ]] && dt=$tcp
		times+=("$dt")
		cps+=("$tcp")
		printf '   %-8s %-8s run %d: %6s s until stored (cp %s alone %s s)\n' "$scen" "$key" "$r" "$dt" "$cpf" "$tcp"
		rss_note "$scen" "$key" "c-$label" server
		((r == 1)) && check "$label: the server's copy equals the source" diff_trees "$src" "$sess/run$r"
	done
	rm -rf "$sess"/run*
	[[ $(session_items "$sess") == 0 ]] || fail "$label: files left in the session after rm"
	stop_daemon "c-$label" any
	local what="until stored" extra="cp $cpf alone $(median "${cps[@]}") s"
	[[ $cpf == -a ]] && what="cp -a, until stored"
	[[ $mode == close ]] && what="cp -r returns" &&
		extra="$(awk -v t="$(median "${times[@]}")" -v n="$n" 'BEGIN { printf "%.1f ms per file", t / n * 1000 }')"
	record "$scen" "$key" "braidfs delivery=$mode: $what" s "${times[*]}" "$extra"
}

# ------------------------------------------------------------ ssh peers

# bench_rsync SCEN SRC_TREE: rsync -a over ssh on link 1
bench_rsync() {
	local scen=$1 src=$2 r t0 times=() dst=$T/rsync-dst
	sshd_start "${RT_ADDR[1]}"
	rm -rf "$dst"
	mkdir -p "$dst"
	for ((r = 1; r <= RUNS; r++)); do
		sync
		t0=$(now)
		run_t 900 "${NS_EXEC[@]}" rsync -a -e "ssh ${SSH_OPTS[*]}" "$src/" "$SSH_HOST:$dst/run$r/" ||
			fail "rsync over ssh failed"
		times+=("$(elapsed "$t0")")
		printf '   %-8s rsync    run %d: %6s s\n' "$scen" "$r" "${times[-1]}"
		((r == 1)) && check "rsync: the copy equals the source" diff_trees "$src" "$dst/run1"
	done
	rm -rf "$dst"
	sshd_stop
	record "$scen" rsync "rsync -a over ssh on link 1 (no fsync)" s "${times[*]}"
}

# ------------------------------------------------------------ wanem CPU

# wan_cpu SCEN T0: the emulators' CPU seconds (all links) since the
# scenario started, their worst lateness and any frame they dropped for
# being slow (a nonzero drop_rx means the figures are not trustworthy)
wan_cpu() {
	local scen=$1 t0=$2 i s cpu=0 late=0 rx=0 wall
	for ((i = 1; i <= NS_N; i++)); do
		s=$(wan_stats "$i")
		cpu=$(awk -v a="$cpu" -v b="$(awk '/cpu_s=/ { for (i = 1; i <= NF; i++) if ($i ~ /^cpu_s=/) print substr($i, 7) }' <<<"$s")" 'BEGIN { print a + b }')
		for d in up down; do
			late=$(awk -v a="$late" -v b="$(wan_stat "$s" "$d" late_max_us)" 'BEGIN { print (b > a ? b : a) }')
			rx=$((rx + $(wan_stat "$s" "$d" drop_rx)))
		done
	done
	wall=$(elapsed "$t0")
	INFO[$scen]=$(printf 'wanem: %.1f CPU s in %.0f s (%.0f %% of one core, %d links), worst lateness %.1f ms, %d frames dropped for reading late' \
		"$cpu" "$wall" "$(awk -v c="$cpu" -v w="$wall" 'BEGIN { print 100 * c / w }')" "$NS_N" \
		"$(awk -v l="$late" 'BEGIN { print l / 1000 }')" "$rx")
	echo "   ${INFO[$scen]}"
	check "$scen: wanem read every frame in time" test "$rx" -eq 0
}
declare -A INFO=()

# ------------------------------------------------------------ scenarios

# spec RATE_MBIT ONE_WAY_MS [extra]: a link with a queue of one BDP
spec() {
	local q
	q=$(awk -v r="$1" -v d="$2" 'BEGIN { q = r * 1e6 / 8 * 2 * d / 1000; if (q < 65536) q = 65536; printf "%d", q }')
	echo "${1}mbit:${2}ms:queue=$q${3:+:$3}"
}

# scenario_start SCEN TITLE SPEC...: links, MPTCP, a fresh server
scenario_start() {
	local scen=$1
	TITLE[$scen]=$2
	shift 2
	note "scenario $scen: ${TITLE[$scen]}"
	netns_setup_wan "$@"
	SUM_RATE=0
	for ((i = 1; i <= NS_N; i++)); do SUM_RATE=$((SUM_RATE + LINK_RATE[i])); done
	REF[$scen]=$(payload "$SUM_RATE")
	((DO_MPTCP)) && { ns_mptcp_setup || { echo "   no MPTCP in this kernel"; DO_MPTCP=0; }; }
	PORT=$(free_port)
	ns_start_server server "$T/srv" "$T/store"
	SCEN_T0=$(now)
}

scenario_end() {
	wan_cpu "$1" "$SCEN_T0"
	stop_daemon server
	rm -rf "$T/store"
	netns_teardown
}

# file_cells SCEN MIB [tail]: steady capacity, ceiling, braidfs, MPTCP
# for one file (at 600 ms, slow start takes seconds: a longer capacity run)
file_cells() {
	local scen=$1 mib=$(($2 / SCALE)) f cap=(8 2)
	[[ $scen == sat ]] && cap=(24 8)
	f=$T/file-$mib.bin
	[[ -f $f ]] || head -c "$((mib << 20))" /dev/urandom >"$f"
	bench_capacity "$scen" "${cap[@]}"
	bench_ceiling "$scen" "$((mib << 20))"
	bench_braidfs_file "$scen" "$f" "${3:-}"
	((DO_MPTCP)) && bench_mptcp "$scen" "$((mib << 20))"
	return 0
}

run_wan80() {
	local n=$((1000 / SCALE))
	scenario_start wan80 "3 x 100 Mbit/s, 40 ms each way (80 ms RTT)" \
		"$(spec 100 40)" "$(spec 100 40)" "$(spec 100 40)"
	file_cells wan80 120
	make_files "$T/small16/tree" "$n" 16384 10
	bench_rsync wan80 "$T/small16/tree"
	bench_braidfs_tree wan80 async "$T/small16/tree" "$n" async
	bench_braidfs_tree wan80 async-a "$T/small16/tree" "$n" async
	# delivery=close: a sequential cp pays at least a round trip per file
	make_files "$T/small16c/tree" $((n / 10)) 16384 10
	bench_braidfs_tree wan80 close "$T/small16c/tree" $((n / 10)) close
	scenario_end wan80
}

run_sat() {
	scenario_start sat "2 x 50 Mbit/s, 300 ms each way (600 ms RTT)" "$(spec 50 300)" "$(spec 50 300)"
	file_cells sat 64
	scenario_end sat
}

run_unequal() {
	scenario_start unequal "100 Mbit/s at 5 ms + 100 Mbit/s at 40 ms each way (10 ms and 80 ms RTT)" \
		"$(spec 100 5)" "$(spec 100 40)"
	file_cells unequal 120 tail
	scenario_end unequal
}

run_lossy() {
	scenario_start lossy "3 x 100 Mbit/s, 40 ms each way, link 3 loses 1 % of the frames each way" \
		"$(spec 100 40)" "$(spec 100 40)" "$(spec 100 40 loss=1%)"
	file_cells lossy 120
	scenario_end lossy
}

# null_tree_cell SRC N: cp -r of SRC into bench/nullfs, mounted as the
# braidfs outbox is (default_permissions): FUSE's requests per file and
# nothing else, the ceiling of a FUSE client on this machine.
null_tree_cell() {
	local src=$1 n=$2 r t0 times=()
	[[ -x $BUILD/bench/nullfs ]] || fail "no $BUILD/bench/nullfs (meson compile -C $BUILD)"
	start_daemon null client "$T/null" "$BUILD/bench/nullfs" "$T/null" -o default_permissions -f
	for ((r = 1; r <= RUNS; r++)); do
		t0=$(now)
		run_t 900 cp -r "$src" "$T/null/run$r" || fail "cp -r into nullfs failed"
		times+=("$(elapsed "$t0")")
		printf '   %-8s nullfs   run %d: %6s s\n' loopback "$r" "${times[-1]}"
		((r == 1)) && assert_eq "$n" "$(find "$T/null/run1" -type f | wc -l)" "nullfs: cp -r made all $n files"
	done
	stop_daemon null
	record loopback null "nullfs: cp -r (FUSE alone, nothing kept)" s "${times[*]}"
}

run_loopback() {
	local n=$((10000 / SCALE)) src=$T/small4/tree r t0 times=() dst
	TITLE[loopback]="loopback, $n x 4 KiB in 10 directories, no emulator"
	note "scenario loopback: ${TITLE[loopback]}"
	make_files "$src" "$n" 4096 10
	sshd_start 127.0.0.1
	dst=$T/tar-dst
	for ((r = 1; r <= RUNS; r++)); do
		mkdir -p "$dst/run$r"
		sync
		t0=$(now)
		tar -C "$src/.." -cf - tree | run_t 900 ssh "${SSH_OPTS[@]}" "$SSH_HOST" "tar -C '$dst/run$r' -xf - && sync" ||
			fail "tar | ssh | tar -x failed"
		times+=("$(elapsed "$t0")")
		printf '   %-8s tar|ssh  run %d: %6s s\n' loopback "$r" "${times[-1]}"
		((r == 1)) && check "tar over ssh: the copy equals the source" diff_trees "$src" "$dst/run1/tree"
	done
	rm -rf "$dst"
	record loopback tar "tar | ssh | tar -x + sync" s "${times[*]}"
	times=()
	mkdir -p "$T/sshfs-dst" "$T/sshfs"
	ALL_MOUNTS+=("$T/sshfs")
	run_t 60 sshfs "$SSH_HOST:$T/sshfs-dst" "$T/sshfs" -p "$SSH_PORT" -o "IdentityFile=$T/ssh/id" \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes ||
		fail "sshfs did not mount"
	for ((r = 1; r <= RUNS; r++)); do
		sync
		t0=$(now)
		run_t 900 cp -r "$src" "$T/sshfs/run$r" || fail "cp -r into sshfs failed"
		sync
		times+=("$(elapsed "$t0")")
		printf '   %-8s sshfs    run %d: %6s s\n' loopback "$r" "${times[-1]}"
		((r == 1)) && check "sshfs: the copy equals the source" diff_trees "$src" "$T/sshfs-dst/run1"
	done
	rm -rf "$T/sshfs-dst"/run*
	unmount "$T/sshfs"
	sshd_stop
	record loopback sshfs "sshfs: cp -r + sync" s "${times[*]}"
	null_tree_cell "$src" "$n"
	PORT=$(free_port)
	start_server server "$T/srv" "$T/store"
	bench_braidfs_tree loopback close "$src" "$n" close loopback
	bench_braidfs_tree loopback async "$src" "$n" async loopback
	stop_daemon server
	rm -rf "$T/store"
}

# ------------------------------------------------------------------ run

need_space 2000
note "machine: $(nproc) CPU(s), $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
note "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
note "braidfs: $("$BRAIDFS" -V 2>&1 | head -n 1), commit $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$HERE/.." diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')"
note "TCP: $(sysctl -n net.ipv4.tcp_congestion_control), tcp_wmem $(sysctl -n net.ipv4.tcp_wmem | tr '\t' ' '), tcp_rmem $(sysctl -n net.ipv4.tcp_rmem | tr '\t' ' ')"
note "client options: ${OPTS:-defaults}; $RUNS runs per cell (median, range)$( ((QUICK)) && echo '; QUICK: sizes / 4')"
T_ALL=$(now)
for p in ${PARTS//,/ }; do
	case $p in
	wan80) run_wan80 ;;
	sat) run_sat ;;
	unequal) run_unequal ;;
	lossy) run_lossy ;;
	loopback) run_loopback ;;
	esac
done
check_sanitizers
note "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(elapsed "$T_ALL") s in all"

# --------------------------------------------------------------- tables
echo
for scen in ${PARTS//,/ }; do
	echo "$scen: ${TITLE[$scen]}"
	[[ -n ${REF[$scen]:-} ]] && echo "  link payload (rate x 1448/1514, summed): ${REF[$scen]} MB/s"
	printf '  %-58s %9s %-17s %s\n' "" median range ratio
	for key in ${ROWS[$scen]}; do
		v=${VAL[$scen,$key]} ratio=
		case $key in
		braidfs | mptcp) ratio="$(fdiv "$v" "${VAL[$scen,ceiling]:-}") of the ceiling, $(fdiv "$v" "${VAL[$scen,capacity]:-}") of steady" ;;
		ceiling | capacity) ratio="$(fdiv "$v" "${REF[$scen]}") of the link payload" ;;
		async | async-a) [[ -n ${VAL[$scen,rsync]:-} ]] && ratio="$(fdiv "$v" "${VAL[$scen,rsync]}") x rsync"
			[[ -n ${VAL[$scen,tar]:-} ]] && ratio="$(fdiv "$v" "${VAL[$scen,tar]}") x tar|ssh" ;;
		close | sshfs | null) ratio="$(fdiv "$v" "${VAL[$scen,tar]:-}") x tar|ssh" ;;
		esac
		[[ -n ${NOTE[$scen,$key]} ]] && ratio+="${ratio:+; }${NOTE[$scen,$key]}"
		[[ -n ${RSS[$scen,$key]:-} ]] && ratio+="; peak RSS client/server ${RSS[$scen,$key]} MiB"
		printf '  %-58s %9s %-17s %s\n' "${ROWNAME[$scen,$key]}" "$v ${UNIT[$scen,$key]}" "(${RANGE[$scen,$key]})" "$ratio"
	done
	[[ -n ${INFO[$scen]:-} ]] && echo "  ${INFO[$scen]}"
	echo
done

((FAILS == 0)) || fail "$FAILS check(s) failed: the figures above are not trustworthy"
exit 0
