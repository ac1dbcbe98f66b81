#!/usr/bin/env bash
# outage.sh: with the server killed, the client logs the outage at once
# (well within the stall time) and keeps it in .braidfs/events; an
# operation that gives up after `timeout` has its cause in the log line
# beside it; after a restart of the server the recovery is logged too.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STALL=5
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" paths=2 stall=$STALL timeout=3
echo hello >"$T/cli/first" || fail "a first file"
LOG=$(daemon_log client)

outage_logged() { grep -qF "outage: no path to server 127.0.0.1:$PORT is up" "$LOG"; }
outage_kept() { grep -qF "outage: no path to server 127.0.0.1:$PORT is up" "$T/cli/.braidfs/events"; }
recovery_logged() { grep -qF "outage over: server 127.0.0.1:$PORT reachable again" "$LOG"; }
recovery_kept() { grep -qF "outage over: server 127.0.0.1:$PORT reachable again" "$T/cli/.braidfs/events"; }

check "no outage logged while the server runs" bash -c "! grep -qF 'outage:' '$LOG'"

note "the server is killed"
t0=$(now)
kill_daemon server
wait_until "$STALL" "the outage line in the client's log" outage_logged ||
	fail "no outage line within the stall time ($STALL s)"
pass "outage logged $(elapsed "$t0") s after the kill (stall=$STALL)"
grep -F 'outage:' "$LOG" | sed 's/^/   | /'
check ".braidfs/events keeps the outage line" outage_kept
assert_eq 1 "$(grep -cF 'outage: no path' "$LOG")" "one outage line for one outage (not one per path)"

note "an operation gives up after timeout, its cause logged beside it"
RC=0
run_t 30 mkdir "$T/cli/during" 2>"$T/mkdir.err" || RC=$?
check "mkdir during the outage fails" test "$RC" -ne 0
sed 's/^/   | /' "$T/mkdir.err"
check "the log says why, naming the file" \
	grep -qE "operation on 'during' not done: no path to server 127.0.0.1:$PORT has worked" "$LOG"

note "the server is back"
start_server server "$T/srv" "$T/store"
wait_until 60 "the recovery line in the client's log" recovery_logged ||
	fail "no recovery line after the restart"
grep -F 'outage over' "$LOG" | sed 's/^/   | /'
check ".braidfs/events keeps the recovery line" recovery_kept
echo again >"$T/cli/second" || fail "a file after the outage"
check "files go through after the outage" test -s "$(session_for_label "$T/srv")/second"

stop_all
finish
