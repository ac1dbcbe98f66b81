#!/usr/bin/env bash
# bench/coding-bench.sh — throughput of the share coder (coding=shamir/rs)
# against a byte-at-a-time GF(2^8) log/exp-table baseline, in one run.
#
# usage: bench/coding-bench.sh [BUILD_DIR] [coding-bench options]
#   BUILD_DIR   meson build directory (default ./build); the coding-bench
#               target is (re)built in it first
#   -s BYTES    chunk size (default 1048576; a multiple of 4)
#   -t SECS     seconds per round (default 0.25)
#   -r N        rounds per cell, the median is shown (default 5)
# Prints a Markdown table; see bench/README.md. Takes about 20 s.
set -euo pipefail
BUILD=./build
if (($#)) && [[ $1 != -* ]]; then
	BUILD=$1
	shift
fi
case ${1-} in -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[[ -f $BUILD/build.ninja ]] || {
	echo "coding-bench: $BUILD is not a meson build directory (meson setup $BUILD)" >&2
	exit 2
}
meson compile -C "$BUILD" coding-bench >/dev/null
if grep -q -- "-fsanitize" "$BUILD/build.ninja"; then
	echo "coding-bench: warning: $BUILD is a sanitizer build; timings are not representative" >&2
fi
echo "# $(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo '?'), $(uname -r)"
exec "$BUILD/bench/coding-bench" "$@"
