#!/usr/bin/env bash
# bench/files-rss.sh — the client's memory over many small files copied
# into one mount (issue 13): B batches of N x 4 KiB in 10 directories,
# each cp -r into a directory of its own (under delivery=async waited for
# until the spool is empty); after each, the client's VmRSS and VmHWM.
# With -A OTHER_BUILD the same runs with the other build's binaries follow
# in the same invocation, for a before/after under the same load.
#
# usage: bench/files-rss.sh [BUILD_DIR] [-A OTHER_BUILD] [-n N] [-b B] [-m close|async]
#   BUILD_DIR   meson build directory (default ./build); nothing is built
#   -n N        files per batch (default 10000)
#   -b B        batches (default 3)
#   -m MODE     delivery=close (default) or async (a spool in the run's dir)
# Needs root (FUSE), python3. See bench/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build OTHER= N=10000 B=3 MODE=close
while (($#)); do
	case $1 in
	-A) OTHER=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	-b) B=$2; shift 2 ;;
	-m) MODE=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "files-rss: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
[[ $MODE == close || $MODE == async ]] || { echo "files-rss: -m close or async" >&2; exit 2; }
builds=()
for b in "$BUILD" ${OTHER:+"$OTHER"}; do
	builds+=("$(cd "$b" 2>/dev/null && pwd)") || { echo "files-rss: no build directory $b" >&2; exit 2; }
done
export BRAIDFS=${builds[0]}/src/client/braidfs BRAIDFSD=${builds[0]}/src/server/braidfsd
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=files-rss
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

make_files "$T/src" "$N" 4096 10
PORT=$(free_port)
start_server server "$T/srv" "$T/store"

mem() { awk '/^Vm(RSS|HWM):/ { printf "%s %d KiB  ", $1, $2 }' "/proc/$1/status"; }

run=0
for b in "${builds[@]}"; do
	run=$((run + 1))
	BRAIDFS=$b/src/client/braidfs
	opts=(label="rss$run")
	[[ $MODE == async ]] && opts+=("spool=$T/spool$run")
	start_client "c$run" "$T/cli$run" "${opts[@]}"
	pid=$(daemon_pid "c$run")
	note "$b: load average $(cut -d' ' -f1-3 /proc/loadavg); $B x $N x 4 KiB, delivery=$MODE"
	echo "   start:   $(mem "$pid")"
	for ((i = 1; i <= B; i++)); do
		t0=$(now)
		run_t 3600 cp -r "$T/src" "$T/cli$run/b$i"
		[[ $MODE == async ]] && wait_spool_empty "$T/cli$run" 3600
		echo "   batch $i: $(mem "$pid") ($(elapsed "$t0") s)"
	done
	stop_daemon "c$run"
done
finish
