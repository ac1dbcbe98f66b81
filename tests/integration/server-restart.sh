#!/usr/bin/env bash
# server-restart.sh: braidfsd is killed (-9) once a quarter of a 256 MiB
# file is acknowledged (its writer waits after the first half, so the file
# is still open) and started again on the same store and port while the
# client stays mounted and the file stays open. The server keeps partial
# items in its store (data, a map of the chunks it holds, the item's
# ITEM_OPEN and ITEM_CLOSE); the client's paths re-attach to the same
# session, see a new server process in WELCOME (INSTANCE), open the file
# again and send only what the old process never acknowledged. The file
# arrives bit-exact in the same session directory, and the bytes sent
# twice are under 10 % of it. Then a 128 MiB copy survives 7 kills between
# the parts its writer writes (it waits for the test after each), with
# nothing partial ever visible in the store's data/.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 900
PORT=$(free_port)
MIB=256
head -c "${MIB}M" /dev/urandom >"$T/src.bin"
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=restarted paths=2 timeout=60
printf 'before\n' >"$T/pre.txt"
check "cp of a file before the restart" run_t 60 cp "$T/pre.txt" "$T/cli/pre.txt"
SESS=$(session_for_label "$T/srv" restarted) || fail "no session for label restarted"
SESS_NAME=$(basename "$SESS")

quarter=$(($(stat -c %s "$T/src.bin") / 4))
# The writer writes the first half, then waits for the test (ctl1/go.1):
# the kill lands while the file is open, however fast the machine.
mkdir "$T/ctl1"
bg run_t 150 python3 "$LIB_DIR/writer.py" "$T/cli/big.bin" "$T/src.bin" \
	--parts 2 "$T/ctl1" >"$T/writer.out" 2>&1
wpid=$BG_LAST
check "a quarter of the file acknowledged while the writer has it open" \
	wait_until 60 "a quarter of big.bin acknowledged" _acked_at_least "$T/cli" "$quarter"
echo "   acknowledged when the kill comes: $(acked_total "$T/cli") bytes"
check "... and the writer is still writing" pid_alive "$wpid"

note "kill -9 the server mid-transfer, start it again on the same store and port"
kill_daemon server KILL
start_server server "$T/srv" "$T/store"
touch "$T/ctl1/go.1"
wrc=0
wait "$wpid" || wrc=$?
echo "   writer: exit $wrc: $(cat "$T/writer.out")"
check "writer finished (not stopped by its timeout)" test "$wrc" -eq 0
check "the rest of the file was written and close(2) succeeded" \
	grep -q "write:OK close:OK" "$T/writer.out"
CLOG=$(daemon_log client)
SLOG=$(daemon_log server)
check "the client log says the server restarted" grep -q "server .* restarted: resuming 1 files in flight" "$CLOG"
check "the server log says it kept the partial item" grep -q "1 partial items kept for their client" "$SLOG"
grep -h -m 2 -E "restarted|partial items kept" "$CLOG" "$SLOG" | sed 's/^/     /' || true

SESS=$(session_for_label "$T/srv" restarted) || fail "no session for label restarted after the restart"
assert_eq "$SESS_NAME" "$(basename "$SESS")" "the same session directory"
check "big.bin arrived bit-exact" cmp "$T/src.bin" "$SESS/big.bin"
check "the file from before is there" cmp "$T/pre.txt" "$SESS/pre.txt"
sed 's/^/   /' "$T/cli/.braidfs/paths"
# chunks sent again: those of the resend queue (written to the old process
# and never acknowledged) and tail copies; 256 KiB each (chunk_size)
again=$(awk '!/^#/ { n += $11 + $12 } END { print n + 0 }' "$T/cli/.braidfs/paths")
size=$(stat -c %s "$T/src.bin")
resent=$((again * 262144))
pct=$(awk -v r="$resent" -v s="$size" 'BEGIN { printf "%.2f", 100 * r / s }')
echo "   chunks sent again: $again ($resent bytes, $pct % of the file)"
check "bytes sent again are under 10 % of the file ($pct %)" \
	awk -v r="$resent" -v s="$size" 'BEGIN { exit !(r < s / 10) }'
check "nothing is left in the store's tmp/" \
	test -z "$(find "$T/store/$SESS_NAME/tmp" \( -name "*.rec" -o -name "rec.*" \) -size +0 -o -name "*.part" | head -n 1)"

note "the session goes on"
printf 'after\n' >"$T/post.txt"
check "cp of a new file after the restart" run_t 60 cp "$T/post.txt" "$T/cli/post.txt"
check "the new file arrived in the same session" cmp "$T/post.txt" "$SESS/post.txt"
check "the server's .session shows the client connected" grep -q "^state: connected" "$SESS/.session"

# Many crashes in one transfer, at different points: after each restart
# the store must hold only complete, verified files (nothing partial in the
# view) and the transfer must go on from what was kept.
note "kill -9 the server at 7 points of one 128 MiB copy"
head -c 128M /dev/urandom >"$T/src2.bin"
resumes_before=$(grep -c "restarted: resuming" "$CLOG" || true)
# The writer writes the file in 8 parts and waits for go.K after part K,
# so every kill lands while the file is open, however fast the machine.
mkdir "$T/ctl"
bg run_t 300 python3 "$LIB_DIR/writer.py" "$T/cli/many.bin" "$T/src2.bin" \
	--parts 8 "$T/ctl" >"$T/writer2.out" 2>&1
wpid=$BG_LAST
kills=0
# saw_restarts N: the client has logged at least N restarts
saw_restarts() { (($(grep -c "restarted: resuming" "$CLOG" || true) >= $1)); }
# all_or_nothing: the file in data/ is absent or complete, never partial
all_or_nothing() { [[ ! -e $1 ]] || cmp -s "$T/src2.bin" "$1"; }
for k in 1 2 3 4 5 6 7; do
	wait_until 120 "part $k of many.bin written" test -e "$T/ctl/written.$k" ||
		fail "the writer did not finish part $k of many.bin"
	kill_daemon server KILL >/dev/null
	kills=$((kills + 1))
	check "after kill $k: many.bin in the store's data/ is absent or complete" \
		all_or_nothing "$T/store/$SESS_NAME/data/many.bin"
	start_server server "$T/srv" "$T/store" >/dev/null
	# the next kill must hit a process the client has re-attached to
	wait_until 20 "the client to re-attach" saw_restarts $((resumes_before + kills)) || true
	check "after kill $k: the client re-attached to the new server process" \
		saw_restarts $((resumes_before + kills))
	touch "$T/ctl/go.$k"
done
wrc=0
wait "$wpid" || wrc=$?
echo "   writer: exit $wrc: $(cat "$T/writer2.out"); $kills kills while it ran"
check "all 7 kills landed while the file was open ($kills)" test "$kills" -eq 7
check "the copy survived them (write and close succeed)" grep -q "write:OK close:OK" "$T/writer2.out"
check "many.bin arrived bit-exact" cmp "$T/src2.bin" "$SESS/many.bin"
# Each restart is seen when a path re-attaches; the file is resumed unless
# the kill came after the server had stored it (possible for the last).
seen=$(($(grep -c "restarted: resuming" "$CLOG" || true) - resumes_before))
resumed=$(($(grep -c "restarted: resuming 1 files in flight" "$CLOG" || true) - resumes_before))
echo "   the client saw $seen restarts and resumed the file after $resumed"
assert_eq "$kills" "$seen" "the client saw every restart"
check "it resumed the file after every kill but possibly the last ($resumed of $kills)" \
	test "$resumed" -ge $((kills - 1))
check "nothing is left in the store's tmp/" \
	test -z "$(find "$T/store/$SESS_NAME/tmp" \( -name "*.rec" -o -name "rec.*" \) -size +0 -o -name "*.part" | head -n 1)"

finish
