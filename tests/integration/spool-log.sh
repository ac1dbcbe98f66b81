#!/usr/bin/env bash
# spool-log.sh: under delivery=async a small file (up to 64 KiB, a record
# of the spool's log) gets no file of its own in the spool: its close(2)
# syncs its record, and it is delivered from that record, after a kill -9
# of the client too (spoollog.h).
#  1. the server frozen, cp of 300 files of 4 KiB (two directories), one
#     of 64 KiB and one of 64 KiB + 1 into the mount: cp returns, all wait
#     in the spool; the only file in the spool's items/ with bytes is the
#     largest one's (an older client wrote one for each); a file written
#     again on the descriptor that a shell's redirection closed once
#     (`{ a; b; } > f`), and one renamed and chmod'ed while it waits, get
#     none either; a large version of a name replaces a small one
#     waiting
#  2. the client killed (-9), the server thawed; without the spool's key
#     a mount is refused, the message counting the waiting files (records
#     of the log); a new mount on the same spool delivers every one of
#     them, bit-exact, each stored once (the large version last), and
#     empties the log

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SPOOL=$T/spool
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

mkdir -p "$T/src/a" "$T/src/b"
python3 - "$T/src" <<'EOF'
import os, random, sys
src = sys.argv[1]
r = random.Random(13)
for i in range(300):
    with open(os.path.join(src, "ab"[i % 2], f"f{i:03d}"), "wb") as f:
        f.write(r.randbytes(4096))
for name, size in (("edge", 65536), ("over", 65537)):
    with open(os.path.join(src, name), "wb") as f:
        f.write(r.randbytes(size))
EOF
# files in items/ with bytes in them (made ahead, a file is empty)
own_files() { find "$SPOOL/items" -name '*.item' -size +0 | wc -l; }

note "1. small files spooled while the server is frozen"
start_client c1 "$T/cli" label=logonly "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" logonly) || fail "no session for label logonly"
# Directory operations wait for the server; files do not.
mkdir -p "$T/cli/in/a" "$T/cli/in/b"
kill -STOP "$SPID"
check "cp of 302 files returns while the server is frozen" run_t 120 bash -c \
	'cp "$1"/a/* "$2/a/" && cp "$1"/b/* "$2/b/" && cp "$1"/edge "$1"/over "$2/"' \
	_ "$T/src" "$T/cli/in"
assert_eq 302 "$(spool_field "$T/cli" pending)" "all 302 wait in the spool"
assert_eq 1 "$(own_files)" "only the file over 64 KiB has a file of its own"
# a shell's redirection: the open descriptor is dup'd and the original
# closed (a commit of the empty file) before the writes
check "{ echo; echo; } > twice returns" run_t 30 bash -c \
	'{ echo one; echo two; } >"$1"' _ "$T/cli/in/twice"
printf 'one\ntwo\n' >"$T/src/twice"
check "echo > moved returns" run_t 30 bash -c 'echo moved >"$1"' _ "$T/cli/in/moving"
echo moved >"$T/src/moved"
_queued() { (($(spool_field "$T/cli" pending) == 304)); }
check "both wait in the spool" wait_until 30 "304 pending" _queued
check "mv of a waiting file returns" run_t 30 mv "$T/cli/in/moving" "$T/cli/in/moved"
check "chmod of a waiting file returns" run_t 30 chmod 600 "$T/cli/in/moved"
chmod 600 "$T/src/moved"
assert_eq 1 "$(own_files)" "still only one file of its own"
# Versions of one name: a small one waiting (a record), then a large one
# (a file of its own, made ahead) over it, which replaces it
head -c 100 /dev/urandom >"$T/small-v1"
check "a small version of 'versions' returns" run_t 30 cp "$T/small-v1" "$T/cli/in/versions"
cp "$T/src/over" "$T/src/versions"
check "a large version over it returns" run_t 30 cp "$T/src/versions" "$T/cli/in/versions"
_queued2() { (($(spool_field "$T/cli" pending) == 305)); }
check "the large version replaces the small one waiting" wait_until 30 "305 pending" _queued2
kill_daemon c1 KILL
kill -CONT "$SPID"
check "the spool holds 305 committed files" \
	test "$(python3 "$LIB_DIR/spool_file.py" committed "$SPOOL/items")" -eq 305
# without its key the spool is refused, the message counting the records
mv "$SPOOL.key" "$T/key.saved"
out=$(run_t 30 "$BRAIDFS" "127.0.0.1:$PORT" "$T/cli" -o "spool=$SPOOL" -f 2>&1 </dev/null) &&
	rc=0 || rc=$?
check "without its key, the spool is refused" test "$rc" -ne 0
check "... saying how many files wait" grep -q "305 files wait in it" <<<"$out"
mv "$T/key.saved" "$SPOOL.key"

note "2. a new mount delivers them from the log"
start_client c2 "$T/cli" label=logonly "spool=$SPOOL"
check "the client log names the recovered files" \
	grep -q "305 files from an earlier mount to deliver" "$(daemon_log c2)"
check "the spool drains" wait_spool_empty "$T/cli" 120
check "all arrived bit-exact, the last version of a name last" \
	diff -r "$T/src" "$SESS/in"
check "... with their modes" test "$(stat -c %a "$SESS/in/moved")" = 600
check "... and nothing under the old name" test ! -e "$SESS/in/moving"
assert_eq 305 "$(session_field "$SESS/.session" versions)" "each was stored exactly once"
check "the log was emptied" test -z "$(find "$SPOOL/items" -name '*.log')"
check "no file with bytes is left in the spool" test "$(own_files)" -eq 0
check "nothing was set aside" test -z "$(ls -A "$SPOOL/failed")"
stop_daemon c2
stop_daemon server
finish
