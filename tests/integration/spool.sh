#!/usr/bin/env bash
# spool.sh: delivery=async keeps every file whose close(2) succeeded, across
# kill -9 of the client and unmounts, and delivers each exactly once into
# the same session.
#  1. the server is frozen (SIGSTOP), 100 files are copied: cp returns, all
#     100 wait in the spool; the client is killed (-9), the server resumes,
#     a new mount on the same spool delivers all 100, once each, into the
#     session of the first mount
#  2. the kill lands while files are being delivered (some stored, some
#     half sent, some not started: the server is frozen for a moment with
#     deliveries under way while cp fills the spool)
#  3. an unmount with files undelivered leaves them in the spool, says so,
#     and the next mount delivers them
#  4. a file whose writer was killed before close(2) is never delivered
#  5. writes on a descriptor kept open after a close(2) of another one
#     (a shell's `{ a; b; } > f`) never harm the version that close kept:
#     an overwrite or an append, then kill -9 of the client, delivers that
#     version; a second close(2) keeps the new one
#  6. a second mount on the same spool is refused

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SPOOL=$T/spool
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

mkdir -p "$T/src1" "$T/src2" "$T/src3"
python3 - "$T" <<'EOF'
import os, random, sys
t = sys.argv[1]
r = random.Random(7)
for d, n in (("src1", 100), ("src2", 100), ("src3", 5)):
    for i in range(n):
        # mostly small files, a few of several chunks
        size = r.choice([0, 1, 4096, 70000, 300000]) if i % 10 else 1_500_000
        with open(os.path.join(t, d, f"f{i:03d}.bin"), "wb") as f:
            f.write(r.randbytes(size))
EOF
head -c 24M /dev/urandom >"$T/src2/f050-big.bin"


note "1. 100 files spooled while the server is frozen, client killed"
start_client c1 "$T/cli" label=spooled "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" spooled) || fail "no session for label spooled"
# Directory operations wait for the server; files do not.
mkdir "$T/cli/one"
kill -STOP "$SPID"
check "cp of 100 files returns while the server is frozen" run_t 60 cp "$T/src1"/* "$T/cli/one/"
pending=$(spool_field "$T/cli" pending)
assert_eq 100 "$pending" "all 100 files wait in the spool"
kill_daemon c1 KILL
kill -CONT "$SPID"
check "the spool holds 100 committed files on disk" \
	test "$(python3 "$LIB_DIR/spool_file.py" committed "$SPOOL/items")" -eq 100
start_client c2 "$T/cli" label=spooled "spool=$SPOOL"
check "the new mount shows the spooled files" test -e "$T/cli/one/f050.bin"
check "the spool drains" wait_spool_empty "$T/cli" 60
check "one session directory for the label" session_for_label "$T/srv" spooled
assert_eq "$SESS" "$(session_for_label "$T/srv" spooled)" "the same session directory"
check "all 100 arrived bit-exact" diff -r "$T/src1" "$SESS/one"
assert_eq 100 "$(session_field "$SESS/.session" versions)" "each was stored exactly once"
check "the client log names the recovered files" \
	grep -q "100 files from an earlier mount to deliver" "$(daemon_log c2)"

note "2. client killed while files are being delivered"
mkdir "$T/cli/two"
base=$(session_field "$SESS/.session" versions)
# copy_in_two.py SRC DST N CTL: copies SRC's files (in name order, as cp
# does) into DST; after the first N it creates CTL/written and waits for
# CTL/go, then copies the rest and creates CTL/done.
cat >"$T/copy_in_two.py" <<'PY'
import os, shutil, sys, time
src, dst, n, ctl = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
names = sorted(os.listdir(src))
for i, name in enumerate(names):
    if i == n:
        open(os.path.join(ctl, "written"), "w").close()
        deadline = time.monotonic() + 300
        while not os.path.exists(os.path.join(ctl, "go")) and time.monotonic() < deadline:
            time.sleep(0.02)
    shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
open(os.path.join(ctl, "done"), "w").close()
PY
mkdir "$T/ctl2"
bg python3 "$T/copy_in_two.py" "$T/src2" "$T/cli/two" 51 "$T/ctl2"
cpid=$BG_LAST
# c2 delivered part 1's 100. The copier spools the first 51 files of part 2
# (the 24 MiB one last) and waits; once 30 of them are stored the server
# freezes, with deliveries under way, and the copier spools the other 50,
# which wait; then the client is killed and the server thaws.
_delivered_at_least() { (($(spool_field "$T/cli" delivered) >= $1)); }
check "30 files of part 2 delivered" \
	wait_until 60 "130 files delivered" _delivered_at_least 130
kill -STOP "$SPID"
touch "$T/ctl2/go"
check "the other 50 files spooled behind the frozen server" \
	wait_until 60 "the copier done" test -e "$T/ctl2/done"
kill_daemon c2 KILL
kill -CONT "$SPID"
wait "$cpid" 2>/dev/null || true
at_kill=$(($(session_field "$SESS/.session" versions) - base))
left=$(find "$SPOOL/items" -name '*.item' -size +0 | wc -l)
# the names in the spooled files' headers (see src/client/spool.c)
python3 "$LIB_DIR/spool_file.py" names "$SPOOL/items" >"$T/spooled.txt"
echo "   stored when the client was killed: $at_kill; left in the spool: $left" \
	"($(wc -l <"$T/spooled.txt") committed: $(tr '\n' ' ' <"$T/spooled.txt"))"
check "the kill left files in the spool" test "$left" -gt 0
start_client c3 "$T/cli" label=spooled "spool=$SPOOL"
check "the spool drains" wait_spool_empty "$T/cli" 120
assert_eq "$SESS" "$(session_for_label "$T/srv" spooled)" "still the same session directory"
n=$(find "$SESS/two" -type f | wc -l)
echo "   files on the server: $n"
check "every file on the server is bit-exact" bash -c '
	for f in "$1"/*; do cmp -s "$f" "$2/$(basename "$f")" || { echo "differs: $f"; exit 1; }; done' _ "$SESS/two" "$T/src2"
check "at least those stored before the kill" test "$n" -ge "$at_kill"
check "every committed file in the spool arrived" bash -c '
	while read -r name; do cmp -s "$1/$name" "$2/$(basename "$name")" || { echo "missing: $name"; exit 1; }; done <"$3"' \
	_ "$SESS" "$T/src2" "$T/spooled.txt"
assert_eq $((base + n)) "$(session_field "$SESS/.session" versions)" "each was stored exactly once"

note "3. unmount with files undelivered"
mkdir "$T/cli/three"
kill -STOP "$SPID"
check "cp of 5 files while the server is frozen" run_t 30 cp "$T/src3"/* "$T/cli/three/"
stop_daemon c3
kill -CONT "$SPID"
check "the client said what stays in the spool" \
	grep -q "5 files not delivered yet stay in the spool" "$(daemon_log c3)"
check "they are in the spool" \
	test "$(python3 "$LIB_DIR/spool_file.py" committed "$SPOOL/items")" -eq 5
start_client c4 "$T/cli" label=spooled "spool=$SPOOL"
check "the spool drains" wait_spool_empty "$T/cli" 60
check "the 5 arrived" diff -r "$T/src3" "$SESS/three"

note "4. a writer killed before close(2)"
bg python3 -c '
import sys, time
f = open(sys.argv[1], "wb"); f.write(b"x" * 100000); f.flush()
open(sys.argv[2], "w").close()
time.sleep(60)' "$T/cli/never.bin" "$T/never.written"
wpid=$BG_LAST
check "the writer wrote into the mount (without closing)" \
	wait_until 60 "the writer's 100000 bytes" test -e "$T/never.written"
kill_daemon c4 KILL
kill -9 "$wpid" 2>/dev/null || true
start_client c5 "$T/cli" label=spooled "spool=$SPOOL"
check "the spool drains" wait_spool_empty "$T/cli" 60
check "the unclosed file was not delivered" test ! -e "$SESS/never.bin"
check "nor kept in the spool" test "$(find "$SPOOL/items" -name '*.item' -size +0 | wc -l)" -eq 0

note "5. writes after a close(2), on a descriptor still open"
# later.py PATH MODE READY: writes version 1 and has the close(2) of a
# dup'd descriptor keep it; then, on the descriptor still open, MODE
# "overwrite" changes bytes of it, "append" adds bytes after it, "again"
# overwrites and keeps version 2 with a second close(2) of a dup; then
# creates READY and sleeps until killed.
cat >"$T/later.py" <<'PY'
import os, sys, time
path, mode, ready = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"1" * 300000)
os.close(os.dup(fd))
if mode == "append":
    os.write(fd, b"3" * 5000)
else:
    os.pwrite(fd, b"2" * 5000, 1000)
if mode == "again":
    os.close(os.dup(fd))
open(ready, "w").close()
time.sleep(120)
PY
python3 -c 'import sys; sys.stdout.buffer.write(b"1" * 300000)' >"$T/v1"
python3 -c 'import sys; sys.stdout.buffer.write(b"1" * 1000 + b"2" * 5000 + b"1" * 294000)' >"$T/v2"
mkdir "$T/cli/five"
writers=()
for m in overwrite append again; do
	bg python3 "$T/later.py" "$T/cli/five/$m" "$m" "$T/ready-$m"
	writers+=("$BG_LAST")
done
check "the writers kept their versions" run_t 30 bash -c \
	'until [[ -e $1-overwrite && -e $1-append && -e $1-again ]]; do sleep 0.1; done' _ "$T/ready"
kill_daemon c5 KILL
kill -9 "${writers[@]}" 2>/dev/null || true
start_client c6 "$T/cli" label=spooled "spool=$SPOOL"
check "the spool drains" wait_spool_empty "$T/cli" 60
check "an overwrite after close(2): the kept version arrives" cmp "$T/v1" "$SESS/five/overwrite"
check "an append after close(2): the kept version arrives" cmp "$T/v1" "$SESS/five/append"
check "a second close(2) keeps the second version" cmp "$T/v2" "$SESS/five/again"

note "6. one mount per spool"
mkdir -p "$T/cli2"
out=$(run_t 30 "$BRAIDFS" "127.0.0.1:$PORT" "$T/cli2" -o "spool=$SPOOL" -f 2>&1) && rc=0 || rc=$?
echo "   $out"
check "a second mount on the same spool fails" test "$rc" -ne 0
check "... saying the spool is in use" grep -q "is in use by another braidfs mount" <<<"$out"

finish
