#!/usr/bin/env bash
# bench/commit-bench.sh — the server's cost per small file, two braidfsd
# builds in one run (interleaved), e.g. before and after a change to how
# items are committed.
#
# usage: bench/commit-bench.sh BRAIDFSD_A BRAIDFSD_B [-r RUNS] [-n FILES]
#                                 [-s SIZE] [-m MODES]
#   BRAIDFSD_A/B  the two server binaries (the client is ./build's, or
#                 $BRAIDFS)
#   -r RUNS       timed runs per cell, median reported (default 3)
#   -n FILES      files in 10 directories (default 10000)
#   -s SIZE       bytes per file, K/M/G suffixes (default 4K)
#   -m MODES      comma-separated (default close,async): delivery=close,
#                 delivery=async, or pipe: no client, but
#                 tests/integration/commit_peer.py sending N items of
#                 1..16 KiB on one connection without waiting (what a
#                 client that pipelines items does; -s is then unused)
#   -o OPTS       more braidfsd -o options for both servers (e.g.
#                 max_open_items=4096 for an older server and -m pipe)
#
# The two servers' runs alternate (A, B, A, B...), so that the load of a
# shared machine falls on both alike. Cells per server: delivery=close (time of cp -r, which returns once
# every file is stored) and delivery=async (time until the server counts
# every file stored). Per cell: the median time, the server's CPU time
# per file (user + system of braidfsd during the run, in µs) and the
# server's fsync(2)+fdatasync(2) calls per file, counted by strace in one
# more run (untimed: strace slows every syscall down). Loopback,
# store and spool under the same temp directory (the same disk).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
A=$1 B=$2
shift 2
RUNS=3 N=10000 SIZE=4K MODES=close,async SOPTS=()
while getopts r:n:s:m:o: o; do
	case $o in
	o) SOPTS=("$OPTARG") ;;
	r) RUNS=$OPTARG ;;
	n) N=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	m) MODES=$OPTARG ;;
	*) exit 2 ;;
	esac
done
export BRAIDFS=${BRAIDFS:-$HERE/../build/src/client/braidfs} BRAIDFSD=$A
export BRAIDFS_TEST_TIMEOUT=3600
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

SRC=$T/src
for ((i = 0; i < N; i++)); do
	d=$SRC/d$((i % 10))
	[[ -d $d ]] || mkdir -p "$d"
	head -c "$(to_bytes "$SIZE")" /dev/urandom >"$d/f$i"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# syscalls_per_file LABEL: one extra, untimed run with strace attached to
# every thread of braidfsd (no tracepoints nor kprobes on these VMs);
# prints its fsync(2)+fdatasync(2) and all its system calls per file, and
# keeps each call's count per file in $T/calls-LABEL for the table at the
# end
syscalls_per_file() {
	local label=$1 pid=${PID[$1]} out=$T/strace-$1
	strace -f -c -o "$out" -p "$pid" 2>/dev/null &
	local st=$!
	wait_until 30 "strace attached" bash -c "grep -q TracerPid:.\\$st /proc/$pid/status"
	copy "$label" counted
	kill -INT "$st"
	wait "$st" || true
	[[ -n ${SESS[$label]:-} ]] && rm -rf "${SESS[$label]:?}/counted"
	# strace -c rows: % time, seconds, usecs/call, calls, [errors,] name
	awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "%s %.2f\n", $NF, $4 / n }' \
		"$out" >"$T/calls-$label"
	awk '$1 == "fsync" || $1 == "fdatasync" { f += $2 } { a += $2 }
		END { printf "%.2f fsyncs/file  %.1f syscalls/file", f, a }' "$T/calls-$label"
}

declare -A RES SESS PID PORTS
# up WHICH BIN MODE: a server and a client for one cell (no client for
# pipe: commit_peer.py is the client)
up() {
	local label=$1-$3 opts=()
	[[ $3 == async ]] && opts=("spool=$T/spool-$label")
	PORT=$(free_port)
	PORTS[$label]=$PORT
	BRAIDFSD=$2 start_server "s-$label" "$T/srv-$label" "$T/store-$label" "${SOPTS[@]}"
	PID[$label]=$(daemon_pid "s-$label")
	[[ $3 == pipe ]] && return 0
	start_client "c-$label" "$T/cli-$label" "label=$label" "${opts[@]}"
	SESS[$label]=$(session_for_label "$T/srv-$label" "$label")
}

# copy LABEL RUN: the run's files to the server, until all are stored
copy() {
	local label=$1 out=$T/pipe-$1-$2
	if [[ $label == *-pipe ]]; then
		python3 "$HERE/../tests/integration/commit_peer.py" 127.0.0.1 \
			"${PORTS[$label]}" "$label-$2" "$N" "$out" >/dev/null
		[[ $(cat "$out/result") == "stored $N failed 0 closed 0" ]] ||
			fail "$label: $(cat "$out/result")"
		rm -rf "$out"
		return 0
	fi
	cp -r "$SRC" "$T/cli-$label/$2"
	wait_until 900 "all stored" bash -c '(($(sed -n "s/^items: *//p" "$1") >= $2))' _ "${SESS[$label]}/.session" "$N"
}

# run LABEL R: one timed run; prints "seconds µs-per-file"
run() {
	local label=$1 r=$2 pid=${PID[$1]} t0 c0 dt cpu
	sync
	c0=$(cpu_ticks "$pid")
	t0=$(now)
	copy "$label" "run$r"
	dt=$(elapsed "$t0")
	cpu=$(awk -v c="$(($(cpu_ticks "$pid") - c0))" -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", c / hz * 1e6 / n }')
	echo "$dt $cpu"
}

note "$N x $SIZE in 10 directories, loopback; A=$A B=$B; $RUNS runs each, A and B in turns"
for mode in ${MODES//,/ }; do
	up A "$A" "$mode"
	up B "$B" "$mode"
	declare -a tA=() cA=() tB=() cB=()
	for ((r = 1; r <= RUNS; r++)); do
		for w in A B; do
			read -r dt cpu < <(run "$w-$mode" "$r")
			echo "   $w-$mode run $r: $dt s, server CPU $cpu µs/file"
			eval "t$w+=($dt); c$w+=($cpu)"
			[[ $mode == pipe ]] && continue
			((r == 1)) && check "$w-$mode: the copy equals the source" \
				diff_trees "$SRC" "${SESS[$w-$mode]}/run1"
			rm -rf "${SESS[$w-$mode]:?}/run$r"
		done
	done
	for w in A B; do
		label=$w-$mode
		fs=$(syscalls_per_file "$label")
		[[ $mode == pipe ]] || stop_daemon "c-$label"
		stop_daemon "s-$label"
		eval 'RES[$label]="$(median "${t'$w'[@]}") s  $(median "${c'$w'[@]}") µs/file  $fs"'
	done
	unset tA cA tB cB
done
for mode in ${MODES//,/ }; do
	for k in A-$mode B-$mode; do
		printf '%-8s %s\n' "$k" "${RES[$k]}"
	done
done
# each system call's count per file, A beside B (calls under 0.05 per file
# in both left out)
for mode in ${MODES//,/ }; do
	echo "system calls per file, $mode:   A   B"
	join -a 1 -a 2 -e 0 -o 0,1.2,2.2 <(sort "$T/calls-A-$mode") <(sort "$T/calls-B-$mode") |
		awk '$2 >= 0.05 || $3 >= 0.05 { printf "  %-18s %6.2f %6.2f\n", $1, $2, $3 }'
done
finish
