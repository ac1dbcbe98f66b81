#!/usr/bin/env bash
# key-bitflip.sh: with key_file, one bit flipped on the wire is detected,
# only that path is closed, its chunks are re-sent on the other paths, the
# path is attached again, and the file arrives bit-exact.
#
# Three explicit paths over loopback: path 0 through relay.py, which flips
# the lowest bit of byte FLIP of its connection's client->server stream
# once (--flip-after), inside the sealed frames carrying the file; paths 1
# and 2 straight to braidfsd. Checks: the relay flipped the bit; braidfsd
# closed that path because a frame failed authentication (and said so);
# the client lost path 0 with chunks in flight, sent them on the others,
# and re-attached it; the session (and the cp) never failed; cmp.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=relay.sh
source "$LIB_DIR/relay.sh"

PORT=$(free_port)
RPORT=$(free_port)
# Inside the third 256 KiB chunk: with its window of 4, every path gets 4
# chunks before any rate is known, so path 0 carries this byte whatever
# share the scheduler gives it later (a slow relay under a sanitizer gets
# little).
FLIP=600000
MIB=48
need_space $((MIB * 3 + 100))

(umask 077 && head -c 32 /dev/urandom >"$T/key")
head -c "${MIB}M" /dev/urandom >"$T/f.bin"

start_server server "$T/srv" "$T/store" "key_file=$T/key"
start_relay flip "127.0.0.1:$RPORT" "127.0.0.1:$PORT" --rcvbuf 0 --flip-after "$FLIP"
RLOG=${RELAY_LOG[flip]}
start_client client "$T/cli" label=flip "key_file=$T/key" chunk_size=256K \
	"path=127.0.0.1:$RPORT" "path=127.0.0.1:$PORT" "path=127.0.0.1:$PORT"
CLOG=$(daemon_log client)
SLOG=$(daemon_log server)

note "cp of $MIB MiB; the relay flips bit 0 of byte $FLIP of path 0"
check "cp exits 0" run_t 120 cp "$T/f.bin" "$T/cli/"
SESS=$(session_for_label "$T/srv" flip) || fail "no session labelled flip"
check "the file arrived bit-exact" cmp "$T/f.bin" "$SESS/f.bin"

grep -m1 'flipped' "$RLOG" | sed 's/^/   /' || true
check "the relay flipped a bit of path 0" grep -qE "flipped bit 0 of byte $FLIP of connection 1 c2s" "$RLOG"
line=$(grep -m1 -E "closing path from 127\.0\.0\.1:[0-9]+.*failed authentication" "$SLOG" || true)
echo "   server: $line"
check "braidfsd closed the path: a frame failed authentication" test -n "$line"
lost=$(grep -m1 -E "path 0 \(127\.0\.0\.1:$RPORT\) lost: .*; [0-9]+ chunks go on the other paths" "$CLOG" || true)
echo "   client: $lost"
# The client reads the server's ERROR, or only the close: the server closes
# with the client's later frames unread, and the reset that makes may
# overtake the ERROR in the relay. Either way it is this path that is lost.
check "the client lost path 0 (the server's ERROR, or its close)" test -n "$lost"
moved=$(sed -n 's/.*; \([0-9]*\) chunks go on the other paths.*/\1/p' <<<"$lost")
check "the lost path's chunks (${moved:-none}) went to the other paths" test "${moved:-0}" -ge 1
# the path comes back (a re-attach waits for the backoff)
reattached() { grep -qE "path 0 \(127\.0\.0\.1:$RPORT\) re-attached" "$CLOG"; }
check "path 0 re-attached" wait_until 20 "path 0 re-attached" reattached
check "only one path was ever lost" test "$(grep -cE 'path [0-9]+ \(.*\) lost:' "$CLOG")" -eq 1
check "the session did not fail" bash -c "! grep -qiE 'session failed|gave up' '$CLOG'"
show_status "$T/cli"

finish
