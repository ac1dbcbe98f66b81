#!/usr/bin/env bash
# stored-proof.sh: the client forgets a file only on an ITEM_ACK STORED
# that proves what was stored (issue 19.7). Against fake_server.py, which
# answers files named *.forged with STORED OK and a wrong proof:
#  1. delivery=close: cp of a.ok succeeds (the honest proof is taken); cp
#     of b.forged fails (EIO) and the log says the STORED does not prove
#     the bytes
#  2. delivery=async: c.ok leaves the spool; d.forged is refused each time
#     it is sent, and stays in the spool (its bytes are there after the
#     unmount), the log says why

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

note "1. delivery=close"
PORT=$(free_port)
start_fake_server fake1 --forge-stored .forged
start_client c1 "$T/cli" paths=2
echo "honest bytes" >"$T/a"
echo "bytes whose STORED is forged" >"$T/b"
check "cp a.ok succeeds: the honest STORED is taken" cp "$T/a" "$T/cli/a.ok"
wait_event fake1 '^STORED a.ok ' 10 || fail "the fake server did not store a.ok"
out=$(cp "$T/b" "$T/cli/b.forged" 2>&1) && rc=0 || rc=$?
echo "   cp b.forged: exit $rc: $out"
check "cp b.forged fails" test "$rc" -ne 0
check "... with EIO" grep -q "Input/output error" <<<"$out"
check "the server did answer it STORED OK (forged)" \
	grep -q '^STORED-FORGED b.forged ' "$T/fake1.events"
check "the log says the STORED does not prove the bytes" \
	grep -q "b.forged.*does not prove these bytes" "$(daemon_log c1)"
stop_daemon c1
fake_results fake1

note "2. delivery=async: a forged STORED leaves the file in the spool"
PORT=$(free_port)
SPOOL=$T/spool
start_fake_server fake2 --forge-stored .forged
start_client c2 "$T/cli" paths=2 delivery=async "spool=$SPOOL"
echo "honest async bytes" >"$T/c"
echo "UNIQUE-forged-async-bytes-$RANDOM$RANDOM" >"$T/d"
check "cp c.ok" cp "$T/c" "$T/cli/c.ok"
check "c.ok is delivered (the spool empties)" wait_spool_empty "$T/cli" 30
check "cp d.forged (async: close succeeds at once)" cp "$T/d" "$T/cli/d.forged"
wait_event fake2 '^STORED-FORGED d.forged ' 30 ||
	fail "the fake server never answered d.forged"
LOG2=$(daemon_log c2)
wait_until 30 "the client log refuses the forged STORED" \
	grep -q "d.forged.*does not prove these bytes" "$LOG2" ||
	fail "the client did not refuse the forged STORED of d.forged"
pass "the client log refuses the forged STORED of d.forged"
# Sent again after the refusal: a second forged answer shows that the
# file stayed in the spool rather than being forgotten.
wait_until 60 "d.forged is sent again" \
	bash -c '(($(grep -c "^STORED-FORGED d.forged " "$1") >= 2))' _ "$T/fake2.events" ||
	fail "d.forged was not sent again"
pass "d.forged is sent again"
check "the spool still says d.forged is pending" \
	awk '$1 == "pending" && $2 >= 1 { ok = 1 } END { exit !ok }' "$T/cli/.braidfs/spool"
stop_daemon c2
check "after the unmount the spool holds d.forged's bytes" \
	grep -rqF "$(cat "$T/d")" "$SPOOL"
fake_results fake2

finish
