#!/usr/bin/env bash
# bench/fast-profile.sh — where the time of a large braidfs copy goes, on
# both daemons: on-CPU (perf record, cpu-clock samples with call chains)
# and off-CPU (bpftrace on sched_switch: how long each thread waited, and
# on what), per 256 KiB chunk.
#
# usage: bench/fast-profile.sh [BUILD_DIR] [-p PATHS] [-k] [-s MIB]
#                              [-o OPTS] [-F HZ] [-O OUTDIR]
#   BUILD_DIR   meson build directory (default ./build); call chains
#               through braidfs's own code need frame pointers:
#                 meson setup build-prof -Dc_args='-fno-omit-frame-pointer
#                   -mno-omit-leaf-frame-pointer'
#   -p PATHS    client paths (default 4)
#   -k          key_file on both sides
#   -s MIB      file size (default 1024)
#   -o OPTS     extra braidfs client options, comma-separated
#   -F HZ       perf's sampling rate per CPU (default 999)
#   -O OUTDIR   keep perf.data, bpftrace's output and the reports there
#               (default: a directory under /var/tmp, printed)
#
# One server and one client on loopback; a warm-up copy; one copy under
# perf (cpu-clock samples) and bpftrace; one under perf recording every
# switch off the CPU with its call chain; one without them (the
# profilers' own cost is the difference). Reports (bench/fast-profile.py): per daemon, the CPU time
# by what it was spent on (% of one core over the profiled copy, and µs
# per chunk), per thread the time running, waiting for a CPU and blocked
# (by reason), and the server's fsyncs. Needs root, perf (linux-perf),
# bpftrace, python3. See bench/README.md ("fast-profile.sh and blocks-bench").

# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build
PATHS=4
KEYED=0
MIB=1024
OPTS=
HZ=999
OUT=
while (($#)); do
	case $1 in
	-p) PATHS=$2; shift 2 ;;
	-k) KEYED=1; shift ;;
	-s) MIB=$2; shift 2 ;;
	-o) OPTS=$2; shift 2 ;;
	-F) HZ=$2; shift 2 ;;
	-O) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fast-profile: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "fast-profile: no build directory '$BUILD'" >&2; exit 2; }
export BRAIDFS=$BUILD/src/client/braidfs BRAIDFSD=$BUILD/src/server/braidfsd
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=fast-profile
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

for c in perf bpftrace python3; do
	command -v "$c" >/dev/null || fail "$c not found (apt-get install linux-perf bpftrace python3)"
done
[[ -n $OUT ]] || OUT=$(mktemp -d /var/tmp/fast-profile.XXXXXX)
mkdir -p "$OUT"
IFS=, read -r -a EXTRA <<<"$OPTS"
if [[ ! -d /sys/kernel/tracing/events ]]; then
	mount -t tracefs tracefs /sys/kernel/tracing || fail "cannot mount tracefs at /sys/kernel/tracing: bpftrace needs it"
	EXTRA_MOUNTS+=(/sys/kernel/tracing)   # unmounted again on exit
fi

need_space $((MIB * 2 + 500))
note "machine: $(nproc) CPU(s), kernel $(uname -r), cpu $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
note "braidfs: commit $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown), build $BUILD"
note "paths=$PATHS$( ((KEYED)) && echo ', key_file')${OPTS:+, $OPTS}; $MIB MiB; perf at $HZ Hz; output in $OUT"
note "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$T/src"
mount -t tmpfs -o size=$((MIB + 64))m tmpfs "$T/src"
EXTRA_MOUNTS+=("$T/src")
head -c $((MIB << 20)) /dev/urandom >"$T/src/file.bin"

keyopt=()
if ((KEYED)); then
	(umask 077 && head -c 32 /dev/urandom >"$T/key")
	keyopt=("key_file=$T/key")
fi
PORT=$(free_port)
start_server srv "$T/srv" "$T/store" "${keyopt[@]}"
start_client cli "$T/cli" "paths=$PATHS" label=profile "${keyopt[@]}" "${EXTRA[@]}"
sess=$(session_for_label "$T/srv" profile) || fail "no session directory"
CPID=$(daemon_pid cli)
SPID=$(daemon_pid srv)
CHUNK=262144
for o in "${EXTRA[@]}"; do [[ $o == chunk_size=* ]] && CHUNK=$(to_bytes "${o#chunk_size=}"); done

copy() {
	local t0
	sync -f "$T"
	t0=$(now)
	run_t 900 cp "$T/src/file.bin" "$T/cli/$1" || fail "cp into the braidfs mount failed ($1)"
	elapsed "$t0"
}

note "warm-up copy: $(copy warmup) s"
rm -f "$sess/warmup"

# threads DIR PID...: each thread's CPU and run-queue time so far
# (/proc/TID/schedstat, ns) as "pid tid comm run wait" lines in DIR
threads() {
	local out=$1 p t
	shift
	for p in "$@"; do
		for t in /proc/"$p"/task/*; do
			printf '%s %s %s %s\n' "$p" "${t##*/}" "$(tr ' ' _ <"$t/comm")" "$(cut -d' ' -f1-2 "$t/schedstat")"
		done
	done >"$out"
}

# perf_start NAME EVENT_OPTIONS...: one perf per daemon, into
# OUT/NAME-client.data and OUT/NAME-server.data
perf_start() {
	local name=$1 d pid
	shift
	PERFS=()
	for d in client server; do
		pid=$CPID
		[[ $d == server ]] && pid=$SPID
		perf record -q "$@" --call-graph dwarf,16384 -p "$pid" -o "$OUT/$name-$d.data" \
			2>"$OUT/perf-$name-$d.err" &
		PERFS+=("$!")
		BG_PIDS+=("$!")
	done
	wait_until 30 "perf recording" test -s "$OUT/$name-client.data" -a -s "$OUT/$name-server.data" ||
		fail "perf did not start: $(cat "$OUT"/perf-"$name"-*.err)"
}

perf_stop() {
	kill -INT "${PERFS[@]}"
	wait "${PERFS[@]}" || true
	local d
	for d in client server; do
		perf script -i "$OUT/$1-$d.data" -F comm,tid,period,event,ip,sym,dso 2>/dev/null \
			>"$OUT/$1-$d.script" || fail "perf script failed for the $d"
	done
}

# 1. on-CPU samples, threads' schedstat, off-CPU time by reason (bpftrace
# counts between the opening of the two mark files)
: >"$T/mark-start"
: >"$T/mark-end"
BPFTRACE_MAP_KEYS_MAX=65536 bpftrace "$HERE/fast-offcpu.bt" "$CPID" "$SPID" "$T/mark-start" "$T/mark-end" \
	>"$OUT/offcpu.txt" 2>"$OUT/bpftrace.err" &
BPF=$!
BG_PIDS+=("$BPF")
wait_until 60 "bpftrace attached" grep -q '^Attaching' "$OUT/offcpu.txt" ||
	fail "bpftrace did not attach: $(cat "$OUT/bpftrace.err")"
perf_start cpu -e cpu-clock -F "$HZ"
sync -f "$T"
threads "$OUT/threads.before" "$CPID" "$SPID"
: <"$T/mark-start"
T0=$(now)
run_t 900 cp "$T/src/file.bin" "$T/cli/profiled" || fail "cp into the braidfs mount failed (profiled)"
T1=$(now)
: <"$T/mark-end"
threads "$OUT/threads.after" "$CPID" "$SPID"
wait "$BPF" || true
secs=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')
perf_stop cpu
note "profiled copy: $secs s ($(awk -v s="$secs" -v m="$MIB" 'BEGIN { printf "%.0f", m / s }') MiB/s)"
check "the profiled copy equals the source" cmp "$T/src/file.bin" "$sess/profiled"
rm -f "$sess/profiled"

# 2. every switch off the CPU, with its call chain (where futex waits
# come from)
perf_start switch -e sched:sched_switch -c 1
note "copy with the switches recorded: $(copy switches) s"
perf_stop switch
rm -f "$sess/switches"

note "unprofiled copy: $(copy plain) s"
rm -f "$sess/plain"
note "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
stop_all
check_sanitizers

python3 "$HERE/fast-profile.py" --wall "$secs" --bytes $((MIB << 20)) --chunk "$CHUNK" \
	--client "$OUT/cpu-client.script" "$OUT/switch-client.script" \
	--server "$OUT/cpu-server.script" "$OUT/switch-server.script" \
	--offcpu "$OUT/offcpu.txt" --pids "$CPID" "$SPID" \
	--threads "$OUT/threads.before" "$OUT/threads.after" | tee "$OUT/report.txt"
((FAILS == 0)) || fail "$FAILS check(s) failed"
exit 0
