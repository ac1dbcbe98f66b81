#!/usr/bin/env bash
# bench/multipath-bench.sh — braidfs over several rate-limited links vs the
# kernel's MPTCP and plain TCP, on the network-namespace harness of the
# multipath tests (tests/integration/netns.sh).
#
# usage: bench/multipath-bench.sh [BUILD_DIR] [-w LIST] [-r RUNS] [-s MIB] [-f MIB]
#                                 [-c SECS] [-o OPTS] [--no-mptcp] [--no-failover]
#   BUILD_DIR   meson build directory holding src/client/braidfs and
#               src/server/braidfsd (default ./build); nothing is built here
#   -w LIST     parts to run, comma-separated (default links,failover,coding):
#               links = the equal/unequal cells and plain TCP; failover;
#               coding = stripe, rs:2/3, shamir:2/3 over 3 equal links
#   -r RUNS     timed runs per cell, the median is reported (default 3)
#   -s MIB      file size per run (default 40)
#   -f MIB      file size of the braidfs failover run (default 96: the cut
#               comes at 2 s and the rest must take several seconds)
#   -c SECS     when the failover runs cut the 64 Mbit/s link (default 2)
#   -o OPTS     extra braidfs client options, comma-separated (e.g.
#               chunk_size=256K); default: none (the defaults)
#   --no-mptcp, --no-failover   leave those parts out
#
# Three veth links from a client namespace to the root namespace, rate
# limited by tbf on the client->server side; braidfsd in the root
# namespace listens on each link's address, braidfs in the namespace has
# one path per link. Cells:
#   equal     3 x 32 Mbit/s         braidfs dynamic, braidfs rr, MPTCP
#   unequal   16 + 32 + 64 Mbit/s   same
#   single    one 32 Mbit/s link    plain TCP (iperf3), the reference
# braidfs: time of `cp FILE MOUNT/` (close(2) returns once the server has
# verified and fsynced the file). MPTCP: iperf3 under mptcpize moving the
# same number of bytes (-n), goodput as iperf3's receiver reports it.
# Ratio = goodput / sum of the link rates (TCP payload through tbf tops out
# at 1448/1514 = 0.956 of it).
# Coding (3 x 32 Mbit/s): braidfs dynamic with coding=stripe, rs:2/3 and
# shamir:2/3, the same file, timed like the cells above; goodput (file
# bytes / time until cp returns) against the link sum and against the best
# the coding allows: every byte of file costs 1 byte on the wire (stripe),
# 3/2 (rs:2/3: 3 shares of half a chunk) or 3 (shamir:2/3: 3 shares of a
# whole chunk), so at most 1, 2/3 or 1/3 of the link sum.
# Failover: on the unequal links, the 64 Mbit/s link is cut silently at
# -c SECS; from byte counts sampled every ~0.1 s (braidfs: the client's
# acknowledged bytes; MPTCP: the server sockets' received bytes): how long
# until the goodput is back to 80 % of the remaining links' capacity (over
# 1 s), and how many seconds of that capacity were lost to the cut.
# Needs root, python3, iproute2, util-linux; iperf3 and mptcpize (Debian
# packages iperf3, mptcpize) for the MPTCP and TCP cells. See bench/README.md.

# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build
RUNS=3
MIB=40
FMIB=96
CUT_AT=2
OPTS=
DO_MPTCP=1
DO_FAIL=1
PARTS=links,failover,coding
while (($#)); do
	case $1 in
	-w) PARTS=$2; shift 2 ;;
	-r) RUNS=$2; shift 2 ;;
	-s) MIB=$2; shift 2 ;;
	-f) FMIB=$2; shift 2 ;;
	-c) CUT_AT=$2; shift 2 ;;
	-o) OPTS=$2; shift 2 ;;
	--no-mptcp) DO_MPTCP=0; shift ;;
	--no-failover) DO_FAIL=0; shift ;;
	-h | --help) sed -n '2,46p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "multipath-bench: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
DO_LINKS=0 DO_CODING=0 want_fail=0
IFS=, read -r -a _parts <<<"$PARTS"
for p in "${_parts[@]}"; do
	case $p in
	links) DO_LINKS=1 ;;
	failover) want_fail=1 ;;
	coding) DO_CODING=1 ;;
	*) echo "multipath-bench: unknown part '$p' (links, failover, coding)" >&2; exit 2 ;;
	esac
done
((want_fail)) || DO_FAIL=0
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "multipath-bench: no build directory '$BUILD'" >&2; exit 2; }
export BRAIDFS=$BUILD/src/client/braidfs BRAIDFSD=$BUILD/src/server/braidfsd
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=multipath-bench
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"
# shellcheck source=../tests/integration/netns.sh
source "$HERE/../tests/integration/netns.sh"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
IFS=, read -r -a EXTRA <<<"$OPTS"
declare -A RESULT=() INFO=()

HAVE_IPERF=1
if ! command -v iperf3 >/dev/null || ! command -v mptcpize >/dev/null; then
	HAVE_IPERF=0
	echo "   iperf3 or mptcpize missing (apt-get install iperf3 mptcpize): no MPTCP/TCP cells"
fi

# set_rates R1 R2 R3 -> SUM_RATE (bit/s)
set_rates() {
	local i
	SUM_RATE=0
	for ((i = 1; i <= $#; i++)); do
		ns_set_rate "$i" "${!i}"
		SUM_RATE=$((SUM_RATE + LINK_RATE[i]))
	done
}

# ratio MB_PER_S BITS_PER_S
ratio() { awk -v g="$1" -v r="$2" 'BEGIN { if (g == "" || g == "-") print "-"; else printf "%.2f", g * 8e6 / r }'; }

# link_tx I -> bytes sent by the namespace end of link I (per-link shares;
# /proc/net/dev follows the reader's namespace, /sys/class/net does not)
# shellcheck disable=SC2016 # awk's $1, not the shell's
link_tx() { in_ns awk -v d="${NS_IF[$1]}:" '$1 == d { print $10 }' /proc/net/dev; }
all_tx() {
	local i
	for ((i = 1; i <= NS_N; i++)); do printf '%s ' "$(link_tx "$i")"; done
}
# shares "TX0..." "TX1..." -> "0.33/0.33/0.33"
shares() {
	awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++) { d[i] = y[i] - x[i]; t += d[i] }
		for (i = 1; i <= n; i++) printf "%s%.2f", (i > 1 ? "/" : ""), (t > 0 ? d[i] / t : 0) }'
}

# ------------------------------------------------------------- braidfs

# wire_factor "B0..." "B1..." SIZE -> bytes acknowledged on all paths
# between the two samples / SIZE (1 for stripe, n/k for rs, n for shamir)
wire_factor() {
	awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { k = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= k; i++) t += y[i] - x[i]; printf "%.2f", t / n }'
}

# bench_braidfs CELL KEY CLIENT_OPTION...: a fresh client for the cell,
# RUNS timed cp's; the median MB/s in RESULT[CELL,KEY], every run's in
# SPREAD[CELL,KEY] ("min-max"), the wire bytes per file byte in WIRE[...]
declare -A SPREAD=() WIRE=()
bench_braidfs() {
	local cell=$1 key=$2 label i t0 dt rates=() sess b0 b1 size
	shift 2
	label=$cell-$(tr ':/' '-_' <<<"$key")
	size=$(stat -c %s "$T/f.bin")
	mapfile -t PATHS < <(ns_path_opts "$PORT")
	ns_start_client "c-$label" "$T/cli-$label" "label=$label" "$@" "${EXTRA[@]}" "${PATHS[@]}"
	sess=$(session_for_label "$T/srv" "$label") || fail "no session directory for $label"
	for ((i = 1; i <= RUNS; i++)); do
		b0=$(status_cols "$T/cli-$label" bytes | tr '\n' ' ')
		t0=$(now)
		if ! run_t 600 cp "$T/f.bin" "$T/cli-$label/run$i"; then
			printf '   %-18s run %d: cp FAILED after %s s\n' "$label" "$i" "$(elapsed "$t0")"
			rates+=(0)
			continue
		fi
		dt=$(elapsed "$t0")
		b1=$(status_cols "$T/cli-$label" bytes | tr '\n' ' ')
		rates+=("$(awk -v n="$size" -v s="$dt" 'BEGIN { printf "%.2f", n / s / 1e6 }')")
		WIRE[$cell,$key]=$(wire_factor "$b0" "$b1" "$size")
		printf '   %-18s run %d: %6s s, %6s MB/s, per-path shares %s, %s x the file on the wire\n' \
			"$label" "$i" "$dt" "${rates[-1]}" "$(shares "$b0" "$b1")" "${WIRE[$cell,$key]}"
		((i == 1)) && check "$label: the server's copy equals the source" cmp "$T/f.bin" "$sess/run$i"
		rm -f "$sess/run$i" || echo "   (could not remove $sess/run$i)"
	done
	stop_daemon "c-$label"
	RESULT[$cell,$key]=$(median "${rates[@]}")
	SPREAD[$cell,$key]=$(printf '%s\n' "${rates[@]}" | sort -g | sed -n '1p;$p' | paste -sd -)
}

# ------------------------------------------------------- MPTCP and TCP

# iperf_server PORT ADDR [mptcpize] [iperf3 options...] -> IPERF_SPID;
# JSON in $T/iperf-srv.json; one test, then it exits
iperf_server() {
	local port=$1 addr=$2 wrap=()
	shift 2
	[[ ${1:-} == mptcpize ]] && { wrap=(mptcpize run); shift; }
	"${wrap[@]}" iperf3 -s -1 -B "$addr" -p "$port" -J "$@" >"$T/iperf-srv.json" 2>"$T/iperf-srv.err" &
	IPERF_SPID=$!
	BG_PIDS+=("$IPERF_SPID")
	wait_until 10 "iperf3 listening on $port" port_listening "$port" || fail "iperf3 -s: $(cat "$T/iperf-srv.err")"
}

# json_recv_mbps FILE -> receiver goodput in MB/s
json_recv_mbps() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 8e6))' "$1"
}

# subflow_addrs PORT -> the distinct local addresses of the namespace's
# established TCP sockets (MPTCP subflows) to PORT
subflow_addrs() {
	in_ns ss -tnH state established "( dport = :$1 )" |
		awk '{ a = $3; sub(/:[0-9]+$/, "", a); sub(/%.*/, "", a); print a }' | sort -u | paste -sd ' '
}

joins() { in_ns nstat -asz MPTcpExtMPJoinSynAckRx | awk '$1 == "MPTcpExtMPJoinSynAckRx" { print $2 }'; }

# bench_mptcp CELL
bench_mptcp() {
	local cell=$1 i rates=() ip tx0 tx1 j0 j1 subs
	for ((i = 1; i <= RUNS; i++)); do
		ip=$(free_port)
		iperf_server "$ip" "${RT_ADDR[1]}" mptcpize
		tx0=$(all_tx)
		j0=$(joins)
		"${NS_EXEC[@]}" timeout -k 5 "$(tmo 300)" mptcpize run iperf3 -c "${RT_ADDR[1]}" -p "$ip" -n "${MIB}M" -J \
			>"$T/iperf-cli.json" 2>"$T/iperf-cli.err" &
		local cpid=$!
		BG_PIDS+=("$cpid")
		sleep 1
		subs=$(subflow_addrs "$ip")
		wait "$cpid" || fail "mptcpize iperf3 -c failed: $(cat "$T/iperf-cli.err")"
		wait "$IPERF_SPID" || true
		tx1=$(all_tx)
		j1=$(joins)
		rates+=("$(json_recv_mbps "$T/iperf-srv.json")")
		printf '   %-18s run %d: %6s MB/s, per-link shares %s, subflows from %s (%d MP_JOINs)\n' \
			"$cell-mptcp" "$i" "${rates[-1]}" "$(shares "$tx0" "$tx1")" "$subs" "$((j1 - j0))"
		if ((i == 1)); then
			check "$cell MPTCP: a subflow on each of the $NS_N links" test "$(wc -w <<<"$subs")" -eq "$NS_N"
			INFO[$cell,subflows]="$(wc -w <<<"$subs") subflows ($subs), $((j1 - j0)) joins"
		fi
	done
	RESULT[$cell,mptcp]=$(median "${rates[@]}")
}

# bench_tcp LINK: plain iperf3 over one link
bench_tcp() {
	local l=$1 i rates=() ip
	for ((i = 1; i <= RUNS; i++)); do
		ip=$(free_port)
		iperf_server "$ip" "${RT_ADDR[l]}"
		run_t 300 "${NS_EXEC[@]}" iperf3 -c "${RT_ADDR[l]}" -p "$ip" -n "${MIB}M" -J >"$T/iperf-cli.json" ||
			fail "iperf3 -c failed"
		wait "$IPERF_SPID" || true
		rates+=("$(json_recv_mbps "$T/iperf-srv.json")")
		printf '   %-18s run %d: %6s MB/s\n' "single-tcp" "$i" "${rates[-1]}"
	done
	RESULT[single,tcp]=$(median "${rates[@]}")
}

# ------------------------------------------------------------ failover

# analyze SAMPLES T_CUT REMAINING_BITS_PER_S: SAMPLES has "t bytes" lines
# (t in s from the start, bytes received so far). Prints
# "RECOVERY LOST RATE_AFTER TIMELINE": seconds from the cut until the rate
# over the next 1 s is >= 80 % of the remaining payload capacity (or
# "never"); seconds of that capacity lost between the cut and the last
# sample; MB/s from the recovery to the end; and MB/s per 0.5 s from 1 s
# before the cut to 6 s after it.
analyze() {
	python3 - "$@" <<'EOF'
import sys
samples = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
tcut, rem_bits = float(sys.argv[2]), float(sys.argv[3])
cap = rem_bits * 1448 / 1514 / 8          # bytes/s of TCP payload left
samples.sort()
if len(samples) < 3 or samples[-1][0] <= tcut:
    print("- - - -"); sys.exit()
def at(t):                                # bytes at t, linear interpolation
    if t <= samples[0][0]: return samples[0][1]
    for (t0, b0), (t1, b1) in zip(samples, samples[1:]):
        if t0 <= t <= t1:
            return b0 + (b1 - b0) * ((t - t0) / (t1 - t0) if t1 > t0 else 0)
    return samples[-1][1]
tend = samples[-1][0]
rec = None
t = tcut
while t + 1.0 <= tend:
    if at(t + 1.0) - at(t) >= 0.8 * cap:
        rec = t - tcut
        break
    t += 0.05
lost = ((tend - tcut) * cap - (at(tend) - at(tcut))) / cap
after = (at(tend) - at(tcut + rec)) / (tend - tcut - rec) / 1e6 if rec is not None and tend - tcut - rec > 0.5 else float("nan")
tl = []
t = tcut - 1.0
while t + 0.5 <= min(tend, tcut + 6.0) + 1e-9:
    tl.append("%.1f" % ((at(t + 0.5) - at(t)) / 0.5 / 1e6))
    t += 0.5
print("%s %.2f %.2f %s" % ("never" if rec is None else "%.2f" % rec, lost, after, ",".join(tl)))
EOF
}

# fail_braidfs: cp of the big file, link 3 cut at CUT_AT s; samples of the
# client's acknowledged bytes (.braidfs/paths) every 0.1 s
fail_braidfs() {
	local label=fail-dynamic sampler t_start t_cut rc res
	mapfile -t PATHS < <(ns_path_opts "$PORT")
	ns_start_client "c-$label" "$T/cli-$label" "label=$label" scheduler=dynamic "${EXTRA[@]}" "${PATHS[@]}"
	t_start=$(date +%s.%N)
	(
		trap - ERR EXIT INT TERM
		set +eE
		while :; do
			printf '%s %s\n' "$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')" \
				"$(acked_total "$T/cli-$label" 2>/dev/null)"
			sleep 0.1
		done
	) >"$T/fail-braidfs.samples" &
	sampler=$!
	BG_PIDS+=("$sampler")
	cp_bg 600 "$T/big.bin" "$T/cli-$label/"
	sleep "$CUT_AT"
	ns_link_cut 3
	t_cut=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
	cp_wait
	rc=$CP_RC
	sleep 0.2
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null || true
	ns_link_restore 3
	if ((rc != 0)); then
		RESULT[fail,braidfs]="cp failed (exit $rc after $CP_SECS s)"
	else
		# up to the last sample where the count grew: the file is complete
		awk '{ l[NR] = $0; if ($2 != prev) last = NR; prev = $2 } END { for (i = 1; i <= last; i++) print l[i] }' \
			"$T/fail-braidfs.samples" >"$T/fail-braidfs.trimmed"
		res=$(analyze "$T/fail-braidfs.trimmed" "$t_cut" $((LINK_RATE[1] + LINK_RATE[2])))
		RESULT[fail,braidfs]=$res
		check "failover: the server's copy equals the source" cmp "$T/big.bin" \
			"$(session_for_label "$T/srv" "$label")/big.bin"
	fi
	printf '   braidfs failover: cut at %s s, cp %s s, exit %s: %s\n' "$t_cut" "$CP_SECS" "$rc" "${RESULT[fail,braidfs]}"
	stop_daemon "c-$label" any
}

# mptcp_sampler PORT SECS OUT T_START: every 0.1 s, the bytes received so
# far by the root namespace's MPTCP sockets on local port PORT (the
# connection-level rcv_nxt that `ss -M` shows, from each socket's first
# sighting; a closed socket keeps its last value), as "t bytes" lines with
# t in s since T_START (epoch), the clock of the cut
mptcp_sampler() {
	python3 - "$@" <<'EOF'
import re, subprocess, sys, time
port, secs, out, t0 = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4])
first, last = {}, {}
with open(out, "w") as f:
    end = time.time() + secs
    while time.time() < end:
        t = time.time()
        txt = subprocess.run(["ss", "-MinH"], capture_output=True, text=True).stdout
        key = None
        for line in txt.splitlines():
            if not line[:1].isspace():
                p = line.split()
                key = (p[3], p[4]) if len(p) >= 5 and p[3].endswith(":" + port) else None
                continue
            m = re.search(r"rcv_nxt:([0-9a-f]+)", line) if key else None
            if m:
                v = int(m.group(1), 16)
                first.setdefault(key, v)
                last[key] = (v - first[key]) % (1 << 64)
        f.write("%.3f %d\n" % (t - t0, sum(last.values())))
        f.flush()
        time.sleep(max(0.0, 0.1 - (time.time() - t)))
EOF
}

# fail_mptcp: iperf3 -t over MPTCP, link 3 cut at CUT_AT s; the received
# bytes sampled on the server's sockets (mptcp_sampler)
fail_mptcp() {
	local ip t_start t_cut cpid dur spid
	dur=$(awk -v c="$CUT_AT" 'BEGIN { printf "%d", c + 10 }')
	ip=$(free_port)
	iperf_server "$ip" "${RT_ADDR[1]}" mptcpize
	t_start=$(date +%s.%N)
	mptcp_sampler "$ip" $((dur + 2)) "$T/fail-mptcp.samples" "$t_start" &
	spid=$!
	BG_PIDS+=("$spid")
	"${NS_EXEC[@]}" timeout -k 5 "$(tmo $((dur + 60)))" mptcpize run iperf3 -c "${RT_ADDR[1]}" -p "$ip" -t "$dur" \
		>"$T/iperf-cli.txt" 2>&1 &
	cpid=$!
	BG_PIDS+=("$cpid")
	sleep "$CUT_AT"
	ns_link_cut 3
	t_cut=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
	wait "$cpid" || echo "   (mptcpize iperf3 -c exited non-zero: $(tail -n 3 "$T/iperf-cli.txt"))"
	wait "$IPERF_SPID" || true
	wait "$spid" 2>/dev/null || true
	ns_link_restore 3
	# up to the last sample where the count grew: the end of the transfer
	awk '{ l[NR] = $0; if ($2 != prev) last = NR; prev = $2 } END { for (i = 1; i <= last; i++) print l[i] }' \
		"$T/fail-mptcp.samples" >"$T/fail-mptcp.trimmed"
	RESULT[fail,mptcp]=$(analyze "$T/fail-mptcp.trimmed" "$t_cut" $((LINK_RATE[1] + LINK_RATE[2])))
	printf '   MPTCP failover: cut at %s s: %s\n' "$t_cut" "${RESULT[fail,mptcp]}"
}

# ---------------------------------------------------------------- run

need_space $((MIB * 4 + FMIB * 2 + 200))
note "machine: $(nproc) CPU(s), $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), kernel $(uname -r)"
note "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
note "braidfs: $("$BRAIDFS" -V 2>&1 | head -n 1), commit $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$HERE/.." diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')"
note "client options: ${OPTS:-defaults}; $MIB MiB per run, median of $RUNS; iperf3: $(iperf3 --version 2>/dev/null | head -n 1 || echo none)"

netns_setup 32mbit 32mbit 32mbit
note "TCP congestion control in the namespace: $(in_ns sysctl -n net.ipv4.tcp_congestion_control)"
if ((DO_MPTCP && HAVE_IPERF && (DO_LINKS || DO_FAIL))); then
	ns_mptcp_setup || { echo "   no MPTCP in this kernel"; DO_MPTCP=0; }
else
	DO_MPTCP=0
fi
head -c "${MIB}M" /dev/urandom >"$T/f.bin"
PORT=$(free_port)
ns_start_server server "$T/srv" "$T/store"

declare -A CELL_RATES=([equal]="32mbit 32mbit 32mbit" [unequal]="16mbit 32mbit 64mbit")
declare -A CELL_NAME=([equal]="equal 3x32" [unequal]="unequal 16+32+64")
declare -A CELL_SUM=()
for cell in equal unequal; do
	((DO_LINKS)) || continue
	# shellcheck disable=SC2086 # three rates
	set_rates ${CELL_RATES[$cell]}
	CELL_SUM[$cell]=$SUM_RATE
	note "$cell links: ${CELL_RATES[$cell]}"
	bench_braidfs "$cell" dynamic scheduler=dynamic
	bench_braidfs "$cell" rr scheduler=rr
	((DO_MPTCP)) && bench_mptcp "$cell"
done
if ((DO_LINKS && HAVE_IPERF)); then
	set_rates 32mbit 32mbit 32mbit
	note "plain TCP over link 2 (32mbit)"
	bench_tcp 2
fi
if ((DO_FAIL)); then
	set_rates 16mbit 32mbit 64mbit
	head -c "${FMIB}M" /dev/urandom >"$T/big.bin"
	note "failover: link 3 (64mbit) cut at ${CUT_AT} s; remaining 16+32 Mbit/s"
	fail_braidfs
	((DO_MPTCP)) && fail_mptcp
fi
# the file's bytes per byte of the link sum that each coding can reach
CODINGS=(stripe rs:2/3 shamir:2/3)
declare -A BEST=([stripe]=1 [rs:2/3]=0.6667 [shamir:2/3]=0.3333)
if ((DO_CODING)); then
	set_rates 32mbit 32mbit 32mbit
	CODING_SUM=$SUM_RATE
	note "coding over 3 x 32 Mbit/s: ${CODINGS[*]}"
	for c in "${CODINGS[@]}"; do
		bench_braidfs coding "$c" scheduler=dynamic "coding=$c"
	done
fi
stop_all
check_sanitizers

# --------------------------------------------------------------- table
cellv() { echo "${RESULT[$1]:--}"; }
fmt() { # fmt MBPS SUM_BITS -> "12.34 (0.88)"
	if [[ $1 == - ]]; then echo "-"; else printf '%s (%s)' "$1" "$(ratio "$1" "$2")"; fi
}
echo
echo "goodput in MB/s (10^6 bytes/s), median of $RUNS runs of $MIB MiB; (ratio) = goodput / sum of the link rates"
echo "TCP payload through tbf is at most 1448/1514 = 0.956 of the link rate"
((DO_LINKS)) && printf '%-30s %-16s %-16s %-16s\n' "links (Mbit/s)" "braidfs dynamic" "braidfs rr" "MPTCP (iperf3)"
for cell in equal unequal; do
	((DO_LINKS)) || continue
	printf '%-30s %-16s %-16s %-16s\n' \
		"${CELL_NAME[$cell]} = $((CELL_SUM[$cell] / 1000000))" \
		"$(fmt "$(cellv "$cell,dynamic")" "${CELL_SUM[$cell]}")" \
		"$(fmt "$(cellv "$cell,rr")" "${CELL_SUM[$cell]}")" \
		"$(fmt "$(cellv "$cell,mptcp")" "${CELL_SUM[$cell]}")"
done
[[ -n ${RESULT[single,tcp]:-} ]] &&
	printf '%-30s %-16s %-16s %-16s\n' "single 32, plain TCP (iperf3)" "" "" "$(fmt "${RESULT[single,tcp]}" 32000000)"
for cell in equal unequal; do
	((DO_LINKS)) || continue
	[[ -n ${INFO[$cell,subflows]:-} ]] && echo "MPTCP $cell: ${INFO[$cell,subflows]}"
done
if ((DO_FAIL)); then
	echo
	echo "failover: 16+32+64 Mbit/s, the 64 Mbit/s link cut silently at ${CUT_AT} s (remaining capacity 48 Mbit/s = $(awk 'BEGIN { printf "%.2f", 48e6 * 1448 / 1514 / 8e6 }') MB/s payload)"
	echo "recovery = s from the cut until the goodput over 1 s is >= 80 % of that; lost = s of that capacity lost after the cut"
	printf '%-16s %-10s %-8s %-14s %s\n' "" recovery lost "rate after" "MB/s per 0.5 s from 1 s before the cut"
	for w in braidfs mptcp; do
		v=${RESULT[fail,$w]:-}
		[[ -z $v ]] && continue
		name=$([[ $w == braidfs ]] && echo "braidfs dynamic" || echo "MPTCP (iperf3)")
		if [[ $v == cp* ]]; then
			printf '%-16s %s\n' "$name" "$v"
		else
			read -r rec lost after tl <<<"$v"
			printf '%-16s %-10s %-8s %-14s %s\n' "$name" "${rec} s" "${lost} s" "$after MB/s" "${tl//,/ }"
		fi
	done
fi
if ((DO_CODING)); then
	echo
	echo "coding over 3 x 32 Mbit/s = $((CODING_SUM / 1000000)) Mbit/s, braidfs dynamic: goodput = file bytes / time until cp returns"
	echo "best = the share of the link sum the coding leaves for file data (stripe 1, rs:2/3 2/3, shamir:2/3 1/3)"
	printf '%-12s %-10s %-12s %-10s %-6s %-10s %s\n' coding "MB/s" "runs" "/link sum" best "/best" "wire/file"
	for c in "${CODINGS[@]}"; do
		g=$(cellv "coding,$c")
		printf '%-12s %-10s %-12s %-10s %-6s %-10s %s\n' "$c" "$g" "${SPREAD[coding,$c]:--}" \
			"$(ratio "$g" "$CODING_SUM")" "$(awk -v b="${BEST[$c]}" 'BEGIN { printf "%.2f", b }')" \
			"$(awk -v g="$g" -v r="$CODING_SUM" -v b="${BEST[$c]}" 'BEGIN { if (g == "-") print "-"; else printf "%.2f", g * 8e6 / (r * b) }')" \
			"${WIRE[coding,$c]:--}"
	done
fi

((FAILS == 0)) || fail "$FAILS check(s) failed: the figures above are not trustworthy"
exit 0
