#!/usr/bin/env bash
# bench/cp-bench.sh — cp into braidfs vs cp into a plain directory.
#
# usage: bench/cp-bench.sh [BUILD_DIR] [-r RUNS] [-W WARMUP] [-w WORKLOADS] [-k]
#   BUILD_DIR   meson build directory holding src/client/braidfs and
#               src/server/braidfsd (default ./build); nothing is built here
#   -r RUNS     timed runs per cell, the median is reported (default 3)
#   -W N        untimed warm-up runs per cell before those (default 1: on
#               these VMs the first touch of fresh memory is slow)
#   -w LIST     comma-separated workloads (default big,medium,small):
#                 big     1 file of 1 GiB
#                 medium  1000 files of 1 MiB      (cp -r)
#                 small   10000 files of 4 KiB     (cp -r)
#                 few     1000 files of 4 KiB      (cp -r; for -D)
#   -k          braidfs cells with key_file on both sides (a key made for the
#               run): every path authenticated and every frame sealed
#   -S DIR      the server's store in a fresh directory under DIR (default:
#               the run's temp dir, on the same disk as the client's spool).
#               A tmpfs here stands in for a server with its own disk: on
#               one machine both sides' fsyncs otherwise queue on one disk
#   -D MS       braidfs cells reach the server through a userspace relay
#               (tests/integration/relay.py) that delays each direction by
#               MS ms: a round trip of 2*MS ms, as over a WAN
#
# For each workload the same random source (made once, in the page cache)
# is copied with plain `cp` / `cp -r` into:
#   plain      a directory on the same filesystem: the time of cp alone,
#              which ends when the data is in the page cache (not on disk)
#   plain+sync the same, plus the `sync` that puts it on disk
#   p=1, p=4   a braidfs client mount with paths=1 / paths=4, connected over
#              loopback to a braidfsd on this machine; cp ends when the
#              server has fsynced every file (close(2) waits for that)
#   async      paths=4 with delivery=async and a spool on the same
#              filesystem: timed until the spool is empty (every file on
#              the server's disk); the time cp alone took is printed too
# Each cell starts with WARMUP untimed runs. The target is removed (and
# `sync` run, untimed) before every timed run. Each braidfs cell checks its
# first timed run against the source (untimed).
# Needs root (FUSE), bash, python3, coreutils; see bench/README.md.

set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build
RUNS=3
WARMUP=1
WORKLOADS=big,medium,small
KEYED=0
STORE_BASE=
DELAY=0
while (($#)); do
	case $1 in
	-r) RUNS=$2; shift 2 ;;
	-W) WARMUP=$2; shift 2 ;;
	-w) WORKLOADS=$2; shift 2 ;;
	-k) KEYED=1; shift ;;
	-S) STORE_BASE=$2; shift 2 ;;
	-D) DELAY=$2; shift 2 ;;
	-h | --help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "cp-bench: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "cp-bench: no build directory '$BUILD'" >&2; exit 2; }
export BRAIDFS=$BUILD/src/client/braidfs BRAIDFSD=$BUILD/src/server/braidfsd
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=cp-bench
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"
# shellcheck source=../tests/integration/relay.sh
source "$HERE/../tests/integration/relay.sh" # start_relay

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A BYTES=() DESC=() RESULT=()

# tree_src W N SIZE: N random files of SIZE bytes, 100 per directory
tree_src() { make_files "$T/src-$1/tree" "$2" "$3" $((($2 + 99) / 100)); }

make_sources() {
	local w
	for w in ${WORKLOADS//,/ }; do
		case $w in
		big)
			DESC[$w]="1 file of 1 GiB"
			mkdir -p "$T/src-big"
			head -c $((1 << 30)) /dev/urandom >"$T/src-big/file.bin"
			;;
		medium)
			DESC[$w]="1000 files of 1 MiB"
			tree_src medium 1000 $((1 << 20))
			;;
		small)
			DESC[$w]="10000 files of 4 KiB"
			tree_src small 10000 4096
			;;
		few)
			DESC[$w]="1000 files of 4 KiB"
			tree_src few 1000 4096
			;;
		*) fail "unknown workload '$w' (big, medium, small, few)" ;;
		esac
		BYTES[$w]=$(find "$T/src-$w" -type f -printf '%s\n' | awk '{ n += $1 } END { printf "%d", n }')
	done
}

# copy_src W DEST: the timed command (cp for one file, cp -r for a tree)
copy_src() {
	if [[ $1 == big ]]; then
		cp "$T/src-big/file.bin" "$2"
	else
		cp -r "$T/src-$1/tree" "$2"
	fi
}

# bench_plain W
bench_plain() {
	local w=$1 i t0 dt rates=() srates=()
	mkdir -p "$T/plain"
	for ((i = 1; i <= WARMUP; i++)); do
		rm -rf "$T/plain/run"
		copy_src "$w" "$T/plain/run"
	done
	for ((i = 1; i <= RUNS; i++)); do
		rm -rf "$T/plain/run"
		sync
		t0=$(now)
		copy_src "$w" "$T/plain/run"
		dt=$(elapsed "$t0")
		sync
		rates+=("$(mb_per_s "${BYTES[$w]}" "$dt")")
		srates+=("$(mb_per_s "${BYTES[$w]}" "$(elapsed "$t0")")")
		printf '   %-6s plain      run %d: %s s, %s MB/s\n' "$w" "$i" "$dt" "${rates[-1]}"
	done
	rm -rf "$T/plain/run"
	RESULT[$w,plain]=$(median "${rates[@]}")
	RESULT[$w,plainsync]=$(median "${srates[@]}")
}

# delay_on / delay_off: the delaying relay (-D) in front of the server on
# $PORT; the client connects to it (SERVER_ADDR)
delay_on() {
	local rport
	rport=$(free_port)
	start_relay delay "127.0.0.1:$rport" "127.0.0.1:$PORT" --delay "$DELAY"
	SERVER_ADDR=127.0.0.1:$rport
}

delay_off() {
	[[ -n ${RELAY_PID[delay]:-} ]] || return 0
	kill "${RELAY_PID[delay]}" 2>/dev/null || true
	wait "${RELAY_PID[delay]}" 2>/dev/null || true
	unset 'RELAY_PID[delay]' SERVER_ADDR
}

# bench_braidfs W PATHS [async]: one server and one client for the cell
bench_braidfs() {
	local w=$1 p=$2 mode=${3:-close} i t0 dt dcp rates=() sess extra=() key=p$2 keyopt=()
	((KEYED)) && keyopt=("key_file=$T/key")
	PORT=$(free_port)
	start_server "srv-$w-p$p" "$T/srv" "$STORE" "${keyopt[@]}"
	((DELAY == 0)) || delay_on
	if [[ $mode == async ]]; then
		rm -rf "$T/spool"
		extra=("spool=$T/spool")
		key=async
	fi
	start_client "cli-$w-p$p" "$T/cli" "paths=$p" "label=bench-$w-p$p" "${extra[@]}" "${keyopt[@]}"
	sess=$(session_for_label "$T/srv" "bench-$w-p$p") || fail "no session directory"
	for ((i = 1; i <= WARMUP; i++)); do
		copy_src "$w" "$T/cli/warmup$i" || fail "cp into the braidfs mount failed ($w, paths=$p, warm-up)"
		[[ $mode == close ]] || wait_spool_empty "$T/cli" 600 || fail "the spool did not drain"
		rm -rf "$sess/warmup$i" || true
	done
	for ((i = 1; i <= RUNS; i++)); do
		sync
		t0=$(now)
		copy_src "$w" "$T/cli/run$i" || fail "cp into the braidfs mount failed ($w, paths=$p, run $i)"
		dcp=$(elapsed "$t0")
		[[ $mode == close ]] || wait_spool_empty "$T/cli" 600 || fail "the spool did not drain"
		dt=$(elapsed "$t0")
		rates+=("$(mb_per_s "${BYTES[$w]}" "$dt")")
		printf '   %-6s %-10s run %d: %s s, %s MB/s (cp alone %s s)\n' "$w" "$key" "$i" "$dt" "${rates[-1]}" "$dcp"
		if ((i == 1)); then
			if [[ $w == big ]]; then
				check "$w p=$p: the server's copy equals the source" cmp "$T/src-big/file.bin" "$sess/run1"
			else
				check "$w p=$p: the server's copy equals the source" diff_trees "$T/src-$w/tree" "$sess/run1"
			fi
		fi
		rm -rf "$sess/run$i" || echo "   (could not remove $sess/run$i)" # frees the store
	done
	stop_daemon "cli-$w-p$p"
	stop_daemon "srv-$w-p$p"
	delay_off
	rm -rf "$STORE"
	RESULT[$w,$key]=$(median "${rates[@]}")
}

# ---------------------------------------------------------------- run

need_space 4500
note "machine: $(nproc) CPU(s), $(awk '/MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo), kernel $(uname -r)"
note "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
note "filesystem of $T: $(df -PT "$T" | awk 'NR == 2 { print $2 }')"
note "braidfs: $("$BRAIDFS" -V 2>&1 | head -n 1), commit $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
note "runs per cell: $WARMUP untimed warm-up, then $RUNS timed (median reported)"
if [[ -n $STORE_BASE ]]; then
	# each braidfs cell makes it and removes it
	STORE=$STORE_BASE/braidfs-bench-store.$$
	mkdir -p "$STORE"
	note "server store: $STORE ($(df -PT "$STORE" | awk 'NR == 2 { print $2 }'))"
else
	STORE=$T/store
fi
if ((KEYED)); then
	(umask 077 && head -c 32 /dev/urandom >"$T/key")
	note "braidfs cells with key_file (paths authenticated, frames sealed with AES-256-GCM)"
fi
((DELAY == 0)) || note "braidfs cells through a relay delaying each direction by $DELAY ms"

t0=$(now)
make_sources
note "sources made in $(elapsed "$t0") s"

for w in ${WORKLOADS//,/ }; do
	note "workload $w: ${DESC[$w]}"
	bench_plain "$w"
	bench_braidfs "$w" 1
	bench_braidfs "$w" 4
	bench_braidfs "$w" 4 async
done
check_sanitizers
[[ -z $STORE_BASE ]] || rm -rf "$STORE"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else printf "%.2fx", a / b }'; }
echo
echo "cp throughput, MB/s (10^6 bytes/s), median of $RUNS; ratio vs plain cp:"
printf '%-22s %10s %16s %18s %18s %18s\n' workload "plain cp" "plain+sync" "braidfs paths=1" "braidfs paths=4" "p=4 async"
for w in ${WORKLOADS//,/ }; do
	pl=${RESULT[$w,plain]}
	printf '%-22s %10s %16s %18s %18s %18s\n' "${DESC[$w]}" "$pl" \
		"${RESULT[$w,plainsync]} ($(ratio "${RESULT[$w,plainsync]}" "$pl"))" \
		"${RESULT[$w,p1]} ($(ratio "${RESULT[$w,p1]}" "$pl"))" \
		"${RESULT[$w,p4]} ($(ratio "${RESULT[$w,p4]}" "$pl"))" \
		"${RESULT[$w,async]} ($(ratio "${RESULT[$w,async]}" "$pl"))"
done
echo "plain cp ends in the page cache; plain+sync and braidfs end with the data on disk"
echo "(async: in the spool when cp ends, on the server's disk when the time stops)."

((FAILS == 0)) || fail "$FAILS check(s) failed: the figures above are not trustworthy"
exit 0
