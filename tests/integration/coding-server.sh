#!/usr/bin/env bash
# coding-server.sh: braidfsd rebuilds shamir and rs items from shares sent
# by a test client (coding_peer.py, shares from coding-shares, the
# product's encoder): every k of n shares rebuild a chunk whatever the
# order, paths and repeats, the extra shares are acknowledged and ignored,
# the stored file is exact; malformed share sets are refused with ERROR
# PROTOCOL, the buffering limits with LIMIT; and across a kill -9 of the
# server only rebuilt chunks survive (a chunk with one share of two must be
# sent again, chunks rebuilt before the crash need not).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 300
PORT=$(free_port)
: "${CODING_SHARES:=${BUILD_DIR:-./build}/tests/integration/coding-shares}"
[[ -x $CODING_SHARES ]] || fail "coding-shares not built ($CODING_SHARES)"
: >"$T/results.tsv"

peer() {
	local rc=0
	run_t 120 python3 "$LIB_DIR/coding_peer.py" "$1" 127.0.0.1 "$PORT" \
		"$T/srv" "$CODING_SHARES" "$T/state.json" "$T/results.tsv" || rc=$?
	assert_eq 0 "$rc" "coding_peer.py $1 ran to the end"
}

start_server server "$T/srv" "$T/store" max_depth=16
SLOG=$(daemon_log server)

note "shares delivered, refused and limited"
peer main

note "crash between shares"
peer resume-1
kill_daemon server KILL
start_server server "$T/srv" "$T/store" max_depth=16
peer resume-2

note "results"
while IFS=$'\t' read -r verdict what why; do
	CHECKS=$((CHECKS + 1))
	if [[ $verdict != PASS ]]; then
		FAILS=$((FAILS + 1))
		printf 'FAIL (recap): %s: %s\n' "$what" "$why"
	fi
done <"$T/results.tsv"
echo "   coding_peer.py: $(grep -c . "$T/results.tsv") checks, $(grep -c '^FAIL' "$T/results.tsv" || true) failed"
check "braidfsd is alive after the refusals" pid_alive "$(daemon_pid server)"
for w in "share_index 3 but coding_n is 3" "resent with different bytes" \
	"pad 4 does not fit" "chunk 0 of 101 bytes, of 100 bytes before" \
	"chunk 256: 256 chunks of the item already wait" "would exceed 67108864 bytes"; do
	check "server log names the refusal: $w" grep -q -- "$w" "$SLOG"
done
finish
