#!/usr/bin/env bash
# bench/small-ops.sh — what one small file costs in FUSE requests: the
# operations the outbox answered per file (.braidfs/metrics:
# braidfs_fuse_ops_total, braidfs_fuse_op_seconds_total) and, with -k,
# the requests the kernel sent (libfuse's debug log: LOOKUPs apart from
# GETATTRs), for cp -r, tar -x and rsync -a of N x 4 KiB in 10
# directories into one mount on loopback.
#
# usage: bench/small-ops.sh [BUILD_DIR] [-n N] [-m close|async] [-t TOOLS] [-k]
#   BUILD_DIR   meson build directory (default ./build); nothing is built
#   -n N        files (default 1000)
#   -m MODE     delivery=close (default) or async (a spool in the run's dir)
#   -t TOOLS    among cp, tar, rsync (default "cp tar rsync")
#   -k          also count the kernel's requests (libfuse -d: slower, so
#               the times of that run are not the mount's usual ones)
# Per tool: the wall time and, per op, requests per file, mean time in the
# daemon, and daemon time per file (a flush is close(2): under
# delivery=close it waits for the server). Needs root (FUSE), python3.
# See bench/README.md.

# shellcheck source-path=SCRIPTDIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=./build N=1000 MODE=close TOOLS="cp tar rsync" KERNEL=0
while (($#)); do
	case $1 in
	-n) N=$2; shift 2 ;;
	-m) MODE=$2; shift 2 ;;
	-t) TOOLS=$2; shift 2 ;;
	-k) KERNEL=1; shift ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "small-ops: unknown option $1" >&2; exit 2 ;;
	*) BUILD=$1; shift ;;
	esac
done
[[ $MODE == close || $MODE == async ]] || { echo "small-ops: -m close or async" >&2; exit 2; }
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "small-ops: no build directory" >&2; exit 2; }
export BRAIDFS=$BUILD/src/client/braidfs BRAIDFSD=$BUILD/src/server/braidfsd
# shellcheck disable=SC2034 # lib.sh's name for the logs
TEST_NAME=small-ops
((KERNEL)) && export BRAIDFS_TEST_DEBUG=1
# shellcheck source=../tests/integration/lib.sh
source "$HERE/../tests/integration/lib.sh"

note "load average $(cut -d' ' -f1-3 /proc/loadavg); $N x 4 KiB, delivery=$MODE"
src=$T/src/tree
make_files "$src" "$N" 4096 10
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
opts=()
[[ $MODE == async ]] && opts+=("spool=$T/spool")
((KERNEL)) && opts+=(debug)
start_client c "$T/cli" "${opts[@]}"
log=$T/logs/c.1.log

# per_file M1 M2: the ops between two snapshots of the metrics, per file
per_file() {
	awk -v n="$N" '
	/^braidfs_fuse_op/ {
		match($0, /op="[a-z]+"/); op = substr($0, RSTART + 4, RLENGTH - 5)
		secs = index($0, "_seconds_") > 0
		if (FNR == NR) before[secs, op] = $2; else after[secs, op] = $2
		ops[op] = 1
	}
	END {
		for (op in ops) {
			c = after[0, op] - before[0, op]; s = after[1, op] - before[1, op]
			if (c <= 0) continue
			tc += c; ts += s
			printf "   %-9s %6.2f per file %9.1f us each %7.3f ms per file\n", op, c / n, s / c * 1e6, s / n * 1e3
		}
		printf "   %-9s %6.2f per file %9s         %7.3f ms per file\n", "all", tc / n, "", ts / n * 1e3
	}' "$1" "$2" | sort -k2,2 -rn
}

# releases: the debug log has a RELEASE per file since offset $from
# shellcheck disable=SC2317 # run by wait_until
releases() { (($(tail -c +$((from + 1)) "$log" | grep -ac 'opcode: RELEASE') >= N)); }

for tool in $TOOLS; do
	cat "$T/cli/.braidfs/metrics" >"$T/m1"
	from=$(stat -c %s "$log")
	t0=$(now)
	case $tool in
	cp) run_t 900 cp -r "$src" "$T/cli/cp" ;;
	tar) mkdir "$T/cli/tar" && tar -C "$src/.." -cf - tree | run_t 900 tar -C "$T/cli/tar" -xf - ;;
	rsync) run_t 900 rsync -a "$src/" "$T/cli/rsync/" ;;
	*) fail "unknown tool $tool (cp, tar, rsync)" ;;
	esac
	dt=$(elapsed "$t0")
	cat "$T/cli/.braidfs/metrics" >"$T/m2"
	note "$tool: $dt s, $(awk -v t="$dt" -v n="$N" 'BEGIN { printf "%.3f", t * 1000 / n }') ms per file; the outbox's ops:"
	per_file "$T/m1" "$T/m2"
	if ((KERNEL)); then
		# a RELEASE reaches the daemon after close(2) returned
		wait_until 60 "a RELEASE per file in the debug log" releases || fail "releases missing from the log"
		echo "   the kernel's requests per file (libfuse -d):"
		tail -c +$((from + 1)) "$log" | grep -ao 'opcode: [A-Z_]*' | sort | uniq -c |
			awk -v n="$N" '{ t += $1; printf "   %-11s %6.2f\n", $3, $1 / n } END { printf "   %-11s %6.2f\n", "all", t / n }'
	fi
done
stop_all
finish
