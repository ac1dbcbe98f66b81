#!/usr/bin/env bash
# hostile-key.sh: the hostile cases of a keyed server (key_file), while a
# legitimate keyed client copies 64 MiB files in another session; the
# keyless cases are hostile.sh's.
#
# keyed-peer (tests/integration/keyed-peer.c, built by meson) speaks the
# real key handshake through src/core/handshake.c and seal.c and tries: a
# handshake with the wrong key, a HELLO without AUTH, AUTH steps out of
# order, a whole recorded handshake replayed on a new connection, and after
# a good handshake: a replayed sealed frame, bit flips in a sealed frame's
# ciphertext, tag and clear header, two sealed frames reordered, a clear
# frame, a sealed frame shorter than its tag. Each must get the answer
# man/braidfs-protocol.7 gives (ERROR AUTH, WELCOME AUTH, ERROR CORRUPT),
# then the close, and a server log line naming the connection's port. A
# good handshake with a PING answered is the control.
#
# Afterwards: every legitimate cp exited 0 and equals the source, the
# legitimate session is connected, braidfsd is alive.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x ${KEYED_PEER:-} ]] || fail "KEYED_PEER is not set to the keyed-peer helper (meson sets it)"
need_space 600
PORT=$(free_port)
SIZE=$((64 << 20))
head -c "$SIZE" /dev/urandom >"$T/big.bin"
(umask 077 && head -c 32 /dev/urandom >"$T/key" && head -c 32 /dev/urandom >"$T/other")

start_server server "$T/srv" "$T/store" "key_file=$T/key"
start_client client "$T/cli" label=legit "key_file=$T/key"
LEGIT=$(session_for_label "$T/srv" legit) || fail "no session for label legit"
SPID=$(daemon_pid server)
SLOG=$(daemon_log server)

# the legitimate transfer: 64 MiB copies for as long as the attack lasts
copy_loop_start "$T/big.bin" "$T/cli" "$LEGIT"

CASES=(good wrong-key no-key out-of-order replay-handshake replayed-frame
	flipped-body flipped-tag flipped-header reordered clear-frame short-sealed)
note "keyed-peer on 127.0.0.1:$PORT: ${CASES[*]}"
: >"$T/peer.out"
for c in "${CASES[@]}"; do
	key=$T/key
	[[ $c == wrong-key ]] && key=$T/other
	rc=0
	run_t 30 "$KEYED_PEER" 127.0.0.1 "$PORT" "$key" "$c" >>"$T/peer.out" 2>&1 || rc=$?
	line=$(grep -P "^(PASS|FAIL)\t$c\t" "$T/peer.out" | tail -n 1 || true)
	echo "   ${line//$'\t'/ }"
	assert_eq 0 "$rc" "$c: answered as the spec says"
done
copy_loop_stop

note "a log line for every hostile connection"
while IFS=$'\t' read -r _ c port; do
	[[ $c == good || $c == recorder ]] && continue
	words='closing path|dropping connection|refusing handshake'
	line=$(grep -m 1 -E "($words) from 127\.0\.0\.1:$port([^0-9]|\$)" "$SLOG" || true)
	echo "     $line"
	check "$c: server log line for port $port" test -n "$line"
done < <(grep -P '^port\t' "$T/peer.out")
check "the wrong key is logged as such" grep -qE "refusing handshake from 127\.0\.0\.1:[0-9]+: wrong key" "$SLOG"
check "a failed frame is logged as such" grep -qE "closing path from .*failed authentication" "$SLOG"

note "legitimate transfer"
assert_eq 0 "$COPY_RC" "every legitimate 64 MiB cp exited 0 and cmp equalled the source ($COPIES copies)"
check "at least one legitimate copy completed" test "$(grep -c '^cmp [0-9]* 0$' "$T/copies.log" || true)" -ge 1
assert_eq connected "$(session_field "$LEGIT/.session" state)" "legitimate session still connected"
check "braidfsd (pid $SPID) is alive" pid_alive "$SPID"
check "no path of the legitimate client was lost" bash -c "! grep -q 'lost:' '$(daemon_log client)'"

finish
