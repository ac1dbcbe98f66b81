#!/usr/bin/env bash
# repeat-race.sh: an OP or an ITEM_OPEN that arrives on two paths of one
# session at once runs once, and both copies get its answer (issue 18: the
# server looked an op id up and recorded it in two separate lock holds
# around running it, so a copy arriving in between ran it a second time; a
# rename then answered NOT_FOUND on one path).
#
# repeat_race.py sends, 200 times, the same RENAME (one op id) and the
# same ITEM_OPEN on paths A and B back to back. Every answer must be OK:
# no timing is assumed (the copies may be read in any order, at any
# distance), only that a repeat is never run twice.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=200
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
check "repeat_race.py ran to the end" \
	run_t 240 python3 "$LIB_DIR/repeat_race.py" 127.0.0.1 "$PORT" "$ROUNDS" "$T/race.json"
[[ -s $T/race.json ]] || fail "repeat_race.py wrote no results"

# answers KIND STATUS: how many answers of that kind had that status
answers() {
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]].get(sys.argv[3], 0))' "$T/race.json" "$1" "$2"
}
python3 -c 'import json, sys
for b in json.load(open(sys.argv[1]))["bad"]: print("     " + b)' "$T/race.json"
assert_eq $((2 * ROUNDS)) "$(answers rename OK)" "the RENAME sent on both paths: both answered OK, every time"
assert_eq $((2 * ROUNDS)) "$(answers open OK)" "the ITEM_OPEN sent on both paths: both answered OPENED OK, every time"
assert_eq "$ROUNDS" "$(answers stored OK)" "every item stored"

S=$(session_for_label "$T/srv" race) || fail "no session labelled race"
renamed=$(find "$S" -maxdepth 1 -type d -name 'e*' | wc -l)
left=$(find "$S" -maxdepth 1 -name 'd*' | wc -l)
files=$(find "$S" -maxdepth 1 -type f -name 'f*' | wc -l)
assert_eq "$ROUNDS" "$renamed" "the server's view has every renamed directory"
assert_eq 0 "$left" "... and none under its old name"
assert_eq "$ROUNDS" "$files" "... and every item"
finish
