#!/usr/bin/env bash
# stuck-reader.sh: a client that stops reading holds up nothing but its own
# path (issue 12, item 2).
#
# stuck_reader.py opens a session with two paths and makes the server owe
# answers to path A, which never reads (its receive buffer is 4 KiB, its
# answers are ~1 KiB each): the server's thread for A blocks writing them
# and stops reading A. Then items of that session complete whose STORED
# goes to A. The server must store them (and every other session's files)
# as if nothing happened: only A's own thread waits on A's socket, every
# other thread posts to A's bounded outbox.
#
# Phase 1, send_timeout=3600 (A is never dropped during it): the stuck
# session's items are all stored, and an honest client in another session
# copies 20 files, each bit-exact, while A is still attached (its session
# shows 2 paths and the server has logged nothing about A). The order of
# events is the assertion; no timing threshold: a server whose finalizers
# send on A's socket stores nothing more and the copies hang (the test's
# watchdog ends it).
# Phase 2, send_timeout=2: the server drops A, saying so in its log; the
# session's other path still answers, and asking on it for the items'
# verdicts again gets STORED OK for each (nothing acknowledged is lost).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 200
PORT=$(free_port)
for i in $(seq 1 20); do head -c $((64 << 10)) /dev/urandom >"$T/h$i.bin"; done

json() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

note "phase 1: path A stops reading; send_timeout=3600"
start_server server "$T/srv" "$T/store" send_timeout=3600
SLOG=$(daemon_log server)
start_client client "$T/cli" paths=2 label=honest
HONEST=$(session_for_label "$T/srv" honest) || fail "no session labelled honest"
# (its own child, not run_t's: the cleanup kills the children of bg jobs)
bg python3 "$LIB_DIR/stuck_reader.py" hold 127.0.0.1 "$PORT" "$T/srv" \
	"$T/hold.json" "$T/hold.quit"
peer=$BG_LAST
wait_until 120 "stuck_reader.py hold: A backed up and its items stored" test -s "$T/hold.json" ||
	fail "stuck_reader.py hold did not get there"
STUCK=$(session_for_label "$T/srv" stuck) || fail "no session labelled stuck"
A=$(json "$T/hold.json" a)
assert_eq 32 "$(json "$T/hold.json" stored)" "the stuck session's 32 items are stored although their STORED goes to A"
t0=$(now)
for i in $(seq 1 20); do
	check "honest cp $i" run_t 120 cp "$T/h$i.bin" "$T/cli/"
done
echo "   20 honest copies in $(elapsed "$t0") s"
bad=0
for i in $(seq 1 20); do cmp -s "$T/h$i.bin" "$HONEST/h$i.bin" || bad=$((bad + 1)); done
assert_eq 0 "$bad" "the 20 honest files arrived bit-exact"
assert_eq 2 "$(session_field "$STUCK/.session" paths)" "... while A is still attached (the stuck session has 2 paths)"
check "... and the server has said nothing about A" bash -c '! grep -q -- "from $1" "$2"' _ "$A" "$SLOG"
touch "$T/hold.quit"
rc=0
wait "$peer" || rc=$?
assert_eq 0 "$rc" "stuck_reader.py hold ran to the end"
stop_daemon client
stop_daemon server

note "phase 2: send_timeout=2 drops A"
start_server server2 "$T/srv" "$T/store" send_timeout=2
SLOG=$(daemon_log server2)
rc=0
run_t 240 python3 "$LIB_DIR/stuck_reader.py" drop 127.0.0.1 "$PORT" "$T/srv" \
	"$T/drop.json" "$T/drop.quit" || rc=$?
assert_eq 0 "$rc" "stuck_reader.py drop ran to the end"
A=$(json "$T/drop.json" a)
line=$(grep -m 1 -- "closing path 1 from $A " "$SLOG" || true)
echo "     $line"
check "server log: A dropped because it does not read" grep -q "does not read" <<<"$line"
check "... naming send_timeout" grep -q "send_timeout 2 s" <<<"$line"
assert_eq 32 "$(json "$T/drop.json" stored)" "the items whose STORED went to A are stored"
assert_eq 32 "$(json "$T/drop.json" verdicts_ok)" "their ITEM_CLOSE repeated on the other path: STORED OK for each"
assert_eq True "$(json "$T/drop.json" pong)" "the session's other path still answers PING"
check "A's sender saw its connection closed" test "$(json "$T/drop.json" a_error)" != None
finish
