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

legit_loop() {
	local i=0 rc
	while ((i < 100)); do
		i=$((i + 1))
		((i > 1)) && rm -f "$LEGIT/big-$((i - 1)).bin"
		touch "$T/legit.started"
		rc=0
		run_t 60 cp "$T/big.bin" "$T/cli/big-$i.bin" || rc=$?
		echo "cp $i $rc" >>"$T/legit.log"
		((rc == 0)) || return 1
		rc=0
		cmp "$T/big.bin" "$LEGIT/big-$i.bin" || rc=$?
		echo "cmp $i $rc" >>"$T/legit.log"
		((rc == 0)) || return 1
		[[ -e $T/hostile.done ]] && break
	done
	return 0
}
: >"$T/legit.log"
bg legit_loop
legit_pid=$BG_LAST
until [[ -e $T/legit.started ]] || ! pid_alive "$legit_pid"; do sleep 0.05; done
sleep 0.2

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
touch "$T/hostile.done"

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
lrc=0
wait "$legit_pid" || lrc=$?
ncp=$(grep -c '^cp ' "$T/legit.log" || true)
echo "   $ncp copies of 64 MiB during the attack; failed steps: $(grep -v ' 0$' "$T/legit.log" | tr '\n' ' ')"
assert_eq 0 "$lrc" "every legitimate 64 MiB cp exited 0 and cmp equalled the source ($ncp copies)"
check "at least one legitimate copy completed" test "$(grep -c '^cmp [0-9]* 0$' "$T/legit.log" || true)" -ge 1
assert_eq connected "$(session_field "$LEGIT/.session" state)" "legitimate session still connected"
check "braidfsd (pid $SPID) is alive" pid_alive "$SPID"
check "no path of the legitimate client was lost" bash -c "! grep -q 'lost:' '$(daemon_log client)'"

finish
