#!/usr/bin/env bash
# client-server-text.sh: what a server says reaches the client's terminal
# and log only escaped, and an answer the client cannot decode does not make
# it repeat the question for ever. Against fake_server.py:
#  1. --evil-text: WELCOME, an OP_ACK (mkdir .../evil) and an ITEM_ACK
#     STORED (cp to x.evil) carry terminal escapes, a carriage return and
#     a newline followed by a forged "braidfs: notice: FORGED LINE": the
#     client's log (its stderr) holds no ESC, no CR and no line that starts
#     with the forged text; the messages are there, escaped (\x1b).
#  2. --bad-utf8-op: an OP_ACK whose message is not UTF-8 (rmdir .../bad):
#     the path that carried it is closed as a protocol error, the rmdir
#     fails (EIO) long before timeout=60, and the client sent that OP at
#     most 3 times, not in a loop.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

note "1. control characters in the server's messages"
PORT=$(free_port)
start_fake_server fake1 --evil-text
start_client c1 "$T/cli" paths=2
check "mkdir d (an ordinary OP) works" mkdir "$T/cli/d"
check "mkdir d/evil fails (the server refuses it)" bash -c '! mkdir "$1" 2>/dev/null' _ "$T/cli/d/evil"
echo data >"$T/x"
check "cp to x.evil fails (the server refuses to store it)" \
	bash -c '! cp "$1" "$2" 2>/dev/null' _ "$T/x" "$T/cli/x.evil"
stop_daemon c1
LOG1=$(daemon_log c1)
echo "   the client's log:"
sed 's/^/   | /' "$LOG1" | cat -v
check "the log holds no ESC character" bash -c '! grep -q $'"'"'\x1b'"'"' "$1"' _ "$LOG1"
check "... no carriage return" bash -c '! grep -q $'"'"'\r'"'"' "$1"' _ "$LOG1"
check "... no line forged by the server" bash -c '! grep -q "^braidfs: notice: FORGED" "$1"' _ "$LOG1"
check "... and shows the refusal of d/evil, escaped" \
	grep -qE 'evil.*\\x1b\]0;pwned\\x07.*FORGED LINE' "$LOG1"

note "2. an answer that is not UTF-8"
PORT=$(free_port)
start_fake_server fake2 --bad-utf8-op /bad
start_client c2 "$T/cli" paths=2 timeout=60
check "mkdir d" mkdir "$T/cli/d"
t0=$(now)
out=$(run_t 90 rmdir "$T/cli/d" 2>&1) && rc=0 || rc=$?
t=$(elapsed "$t0")
echo "   rmdir d: exit $rc after $t s: $out"
# The rmdir of d is an ordinary OP: it must work; the bad answer is for
# names ending with /bad.
check "rmdir of an ordinary directory works" test "$rc" -eq 0
check "mkdir x/bad: the parent" mkdir -p "$T/cli/x"
t0=$(now)
out=$(run_t 90 mkdir "$T/cli/x/bad" 2>&1) && rc=0 || rc=$?
t=$(elapsed "$t0")
echo "   mkdir x/bad: exit $rc after $t s: $out"
check "mkdir x/bad fails" test "$rc" -ne 0
check "... with EIO" grep -q "Input/output error" <<<"$out"
assert_le "${t%.*}" 30 "... well before timeout=60 (s)"
sent=$(grep -c '^OP-BADUTF8' "$T/fake2.events" || true)
echo "   the OP was answered badly $sent times"
assert_le "$sent" 3 "the client did not repeat the OP in a loop"
check "the log says the server's answer could not be decoded" \
	grep -q "not valid UTF-8" "$(daemon_log c2)"
check "the mount still works: mkdir y" mkdir "$T/cli/y"
stop_daemon c2

finish
