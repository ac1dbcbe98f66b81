#!/usr/bin/env bash
# status.sh: `braidfs status --json` during a copy shows the file's
# progress, paced by the writer (writer.py --parts), reaching its size;
# the human form and .braidfs/metrics (Prometheus' text format) agree,
# and the metrics count the FUSE operations (3 cp of a small file: 3
# creates, writes, flushes);
# the rate column of .braidfs/paths is a moving average that falls to 0
# once the paths are idle (it stayed at the fastest path's estimate).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PARTS=4
SIZE=$((8 << 20))
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" paths=2 chunk_size=64K
head -c "$SIZE" /dev/urandom >"$T/src"

# jq-like access to the status: status_get EXPR (python over the JSON)
status_json() { "$BRAIDFS" status --json "$T/cli"; }
status_get() {
	status_json | python3 -c "import json, sys; s = json.load(sys.stdin); print($1)"
}
# done_at_least NAME BYTES: the file in flight has that many bytes done
done_at_least() {
	local n
	n=$(status_get "[f['bytes_done'] for f in s['files'] if f['name'] == '$1'] or [-1]" |
		tr -d '[]')
	echo "   status: $1 bytes_done $n (waiting for $2)"
	((n >= $2))
}

note "progress while the writer holds the file open"
mkdir -p "$T/ctl"
bg python3 "$LIB_DIR/writer.py" "$T/cli/big" "$T/src" --parts "$PARTS" "$T/ctl"
WRITER=$BG_LAST
chunk=$((64 << 10))
for ((k = 1; k < PARTS; k++)); do
	wait_until 60 "part $k written" test -e "$T/ctl/written.$k" || fail "writer stuck"
	# everything written but the chunk being filled is acknowledged
	want=$((SIZE * k / PARTS - chunk))
	wait_until 60 "part $k acknowledged" done_at_least big "$want" ||
		fail "status shows no progress for part $k"
	pass "status --json shows >= $want bytes of big done after part $k"
	size=$(status_get "[f['size'] for f in s['files'] if f['name'] == 'big'][0]")
	assert_eq $((SIZE * k / PARTS)) "$size" "status shows the size written so far"
	touch "$T/ctl/go.$k"
done
wait "$WRITER" || fail "writer failed"

note "the verdict"
assert_eq "$SIZE" "$(status_get "[f['bytes_done'] for f in s['recent'] if f['name'] == 'big'][0]")" \
	"recent: big reached its size"
assert_eq stored "$(status_get "[f['result'] for f in s['recent'] if f['name'] == 'big'][0]")" \
	"recent: big stored"
assert_eq 1 "$(status_get "s['totals']['files_stored']")" "totals: 1 file stored"
assert_eq 0 "$(status_get "len(s['files'])")" "no file in flight any more"
assert_eq 1 "$(status_get "s['version']")" "status.json is version 1"
cmp "$T/src" "$(session_for_label "$T/srv")/big" || fail "big differs on the server"

note "the human form"
"$BRAIDFS" status "$T/cli" >"$T/human.out" || fail "braidfs status failed"
sed 's/^/   | /' "$T/human.out"
check "braidfs status names the mount and the server" grep -qF "$T/cli -> 127.0.0.1:$PORT" "$T/human.out"
check "braidfs status counts the stored file" grep -qF "1 files stored" "$T/human.out"
RC=0
"$BRAIDFS" status --json "$T/nowhere" >/dev/null 2>"$T/err.out" || RC=$?
assert_eq 1 "$RC" "braidfs status of a non-mount exits 1"
check "and says so" grep -qF "a braidfs mount?" "$T/err.out"

note "metrics"
cat "$T/cli/.braidfs/metrics" >"$T/metrics"
check "metrics: files stored" grep -qE '^braidfs_files_stored_total\{server="127.0.0.1:'"$PORT"'"\} 1$' "$T/metrics"
check "metrics: bytes sent" grep -qE '^braidfs_sent_bytes_total\{[^}]*\} '"$SIZE"'$' "$T/metrics"
check "metrics: every sample line is NAME{LABELS} VALUE" \
	bash -c "! grep -vE '^(# (HELP|TYPE) .*|[a-z_]+\{[^}]*\} -?[0-9.e+-]+)$' '$T/metrics'"

note "metrics: the FUSE operations, counted per op"
fop() { awk -v op="op=\"$2\"" 'index($0, "braidfs_fuse_ops_total{") == 1 && index($0, op) { n = $2 } END { print n + 0 }' "$1"; }
head -c 4096 /dev/urandom >"$T/small"
cat "$T/cli/.braidfs/metrics" >"$T/metrics1"
for i in 1 2 3; do cp "$T/small" "$T/cli/small$i"; done
cat "$T/cli/.braidfs/metrics" >"$T/metrics2"
for op in create write; do
	assert_eq 3 "$(($(fop "$T/metrics2" $op) - $(fop "$T/metrics1" $op)))" \
		"metrics: 3 cp of a 4 KiB file: 3 more $op ops"
done
# and the close of the metrics file read before them
assert_eq 4 "$(($(fop "$T/metrics2" flush) - $(fop "$T/metrics1" flush)))" \
	"metrics: 3 cp of a 4 KiB file and a cat: 4 more flush ops"
check "metrics: the time of the flushes" \
	grep -qE '^braidfs_fuse_op_seconds_total\{server="[^"]*",op="flush"\} [0-9.e-]+$' "$T/metrics2"

note "idle paths: the rate column falls to 0"
all_rates_zero() { status_cols "$T/cli" rate_MBps | awk '$1 != "0.0" { bad = 1 } END { exit bad }'; }
wait_until 60 "every path's rate 0.0 MB/s while idle" all_rates_zero ||
	{ show_status "$T/cli"; fail "idle paths still show a rate"; }
pass "idle paths show rate 0.0"

stop_all
finish
