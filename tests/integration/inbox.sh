#!/usr/bin/env bash
# inbox.sh: scripting the server's inbox without polling it.
# - /.events in the view: tail -f follows it; one line per stored file
#   (time, session, path, size, digest), each file exactly once, the
#   digest BLAKE3, b3sum's (what a user checks a delivered file with);
#   waited on line by line.
# - .session counts bytes as they arrive, before the file completes
#   (writer.py --parts holds it open).
# - the session directory's mtime moves when items arrive.
# - /.metrics (Prometheus' text format) counts the session's files.
# - braidfsd status (--json) lists the session with its counts; several
#   sessions sorted by name (by start time).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" paths=2 chunk_size=64K
check "the view's root lists .events" test -f "$T/srv/.events"

# tail -f, as a consumer would run it, from before the first file
bg bash -c "exec tail -n +1 -f '$T/srv/.events' >'$T/tail.out'"
TAIL=$BG_LAST
lines() { wc -l <"$T/tail.out"; }
lines_at_least() { (($(lines) >= $1)); }

note "a tree arrives: one line per file"
mkdir -p "$T/src/sub dir"
for i in 1 2 3; do head -c $((i * 100000)) /dev/urandom >"$T/src/f$i"; done
head -c 5000 /dev/urandom >"$T/src/sub dir/with space"
echo tiny >"$T/src/sub dir/t"
N=5
cp -r "$T/src/." "$T/cli/" || fail "cp -r"
wait_until 60 "$N lines in tail -f of .events" lines_at_least "$N" ||
	fail "tail -f of .events shows $(lines) lines, not $N"
sed 's/^/   | /' "$T/tail.out"
SESS=$(basename "$(session_for_label "$T/srv")")
# each file exactly once, with its size and b3sum's digest
for f in f1 f2 f3 "sub dir/with space" "sub dir/t"; do
	esc=${f// /\\040}
	want="$SESS $esc $(stat -c %s "$T/src/$f") blake3:$(b3sum <"$T/src/$f" | cut -d' ' -f1)"
	assert_eq 1 "$(W=$want awk '{ $1 = ""; sub(/^ /, "") } $0 == ENVIRON["W"] { n++ } END { print n + 0 }' "$T/tail.out")" \
		"one event for '$f' with its size and digest"
done
check "event times are ISO 8601 UTC" bash -c "! grep -vqE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z ' '$T/tail.out'"

note "bytes counted as they arrive; mtimes move"
M0=$(stat -c %.9Y "$T/srv/$SESS")
before=$(session_field "$T/srv/$SESS/.session" received)
head -c $((4 << 20)) /dev/urandom >"$T/big"
mkdir -p "$T/ctl"
bg python3 "$LIB_DIR/writer.py" "$T/cli/big" "$T/big" --parts 2 "$T/ctl"
WRITER=$BG_LAST
wait_until 60 "half of big written" test -e "$T/ctl/written.1" || fail "writer stuck"
received_over() { (($(session_field "$T/srv/$SESS/.session" received) >= $1)); }
wait_until 60 ".session received grows while big is open" received_over $((before + (1 << 20))) ||
	fail ".session does not count bytes before the file completes"
pass ".session counts bytes as they arrive ($(session_field "$T/srv/$SESS/.session" received) received, big not complete)"
check "big is not shown while partial" test ! -e "$T/srv/$SESS/big"
touch "$T/ctl/go.1"
wait "$WRITER" || fail "writer"
wait_until 60 "$((N + 1)) lines" lines_at_least $((N + 1)) || fail "no event for big"
M1=$(stat -c %.9Y "$T/srv/$SESS")
check "the session directory's mtime moved when big arrived ($M0 -> $M1)" \
	awk -v a="$M0" -v b="$M1" 'BEGIN { exit !(b > a) }'
check "the session directory's mtime is not 1970" awk -v a="$M1" 'BEGIN { exit !(a > 1e9) }'
assert_eq $((N + 1)) "$(lines)" "no event twice"

note "metrics"
cat "$T/srv/.metrics" >"$T/metrics"
check "metrics: files of the session" grep -qE "^braidfsd_session_files\{session=\"$SESS\",label=\"\"\} $((N + 1))\$" "$T/metrics"
check "metrics: every sample line is NAME{LABELS} VALUE" \
	bash -c "! grep -vE '^(# (HELP|TYPE) .*|[a-z_]+(\{[^}]*\})? [0-9]+)$' '$T/metrics'"

note "braidfsd status"
"$BRAIDFSD" status --json "$T/srv" >"$T/sstatus.json" || fail "braidfsd status --json failed"
sget() { python3 -c "import json, sys; s = json.load(open('$T/sstatus.json')); print($1)"; }
assert_eq "$SESS" "$(sget "s[0]['name']")" "braidfsd status --json names the session"
assert_eq $((N + 1)) "$(sget "s[0]['items']")" "braidfsd status --json counts its files"
assert_eq connected "$(sget "s[0]['state']")" "braidfsd status --json: connected"
"$BRAIDFSD" status "$T/srv" >"$T/sstatus.txt" || fail "braidfsd status failed"
sed 's/^/   | /' "$T/sstatus.txt"
check "braidfsd status lists the session" grep -qF "$SESS" "$T/sstatus.txt"
RC=0
"$BRAIDFSD" status "$T/nowhere" 2>/dev/null || RC=$?
assert_eq 1 "$RC" "braidfsd status of a missing view exits 1"

note "braidfsd status lists the sessions by name (by start time)"
for l in s5 s4 s3 s2 s1 s0; do
	check "a new session $l (session_peer.py)" \
		run_t 30 python3 "$LIB_DIR/session_peer.py" "$PORT" 127.0.0.1 new "$l"
done
_sessions() { (($(find "$T/srv" -mindepth 1 -maxdepth 1 -name '[!.]*' | wc -l) >= $1)); }
check "the view lists 7 sessions" wait_until "$(tmo 30)" "7 sessions in the view" _sessions 7
"$BRAIDFSD" status --json "$T/srv" >"$T/sstatus.json" || fail "braidfsd status --json failed"
# shellcheck disable=SC2016
sorted_py='import json, sys
n = [s["name"] for s in json.load(open(sys.argv[1]))]
print("   " + " ".join(n))
sys.exit(0 if len(n) == 7 and n == sorted(n) else 1)'
check "braidfsd status --json lists the 7 sessions sorted by name" \
	python3 -c "$sorted_py" "$T/sstatus.json"
"$BRAIDFSD" status "$T/srv" >"$T/sstatus.txt" || fail "braidfsd status failed"
awk 'NR > 2 { print $1 }' "$T/sstatus.txt" >"$T/rows"
check "... and so does the table" bash -c '[[ $(wc -l <"$1") -eq 7 ]] && LC_ALL=C sort -c "$1"' _ "$T/rows"

# the reader holds .events open: the view's daemon would wait for it
kill "$TAIL"
stop_all
finish
