#!/usr/bin/env bash
# spool-powercut.sh: a power cut during a second commit of a spooled file
# (issue 19.8) never loses the version the first close(2) kept.
#
# A writer keeps version 1 (300000 bytes) with a close(2) of a dup'd
# descriptor, appends 5000 bytes on the descriptor still open and keeps
# them with a second close(2); the client is then killed (-9) with the
# server frozen, so both stay in the spool. The cut is played on the
# spool's files as the disk can leave them when the power goes during the
# second commit, before its fdatasync returned (what ext4's data=ordered
# allows: an overwrite in place, the header, reaches the disk; an append,
# with its size, does not, or only part of a header sector does):
#  1. "cut": the second header on disk, the appended bytes not;
#  2. "tear": the second header torn, the appended bytes on disk.
# The next mount must deliver version 1, bit-exact, for both.
#  3. "small": a 4 KiB file, whose close(2) synced only a record in the
#     spool's log (spoollog.h), has no file of its own to lose (an older
#     client wrote one, unsynced, and a cut could leave it empty): the
#     next mount delivers it from the record, bit-exact. (An older
# client rewrote its one header in place: it dropped case 1 as "no close(2)
# succeeded" and set case 2 aside as forged.)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SPOOL=$T/spool
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

cat >"$T/twice.py" <<'PY'
import os, sys, time
path, ready = sys.argv[1:3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"1" * 300000)
os.close(os.dup(fd))            # version 1
os.write(fd, b"3" * 5000)
os.close(os.dup(fd))            # version 2: the append
open(ready, "w").close()
time.sleep(300)
PY
python3 -c 'import sys; sys.stdout.buffer.write(b"1" * 300000)' >"$T/v1"
head -c 4096 /dev/urandom >"$T/small"

start_client c1 "$T/cli" label=powercut "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" powercut) || fail "no session for label powercut"
mkdir "$T/cli/d"
kill -STOP "$SPID"
writers=()
for m in cut tear; do
	bg python3 "$T/twice.py" "$T/cli/d/$m" "$T/ready-$m"
	writers+=("$BG_LAST")
done
check "both writers kept two versions" run_t 30 bash -c \
	'until [[ -e $1-cut && -e $1-tear ]]; do sleep 0.1; done' _ "$T/ready"
check "a small file is kept" cp "$T/small" "$T/cli/d/small"
kill_daemon c1 KILL
kill -9 "${writers[@]}" 2>/dev/null || true
kill -CONT "$SPID"

python3 "$LIB_DIR/spool_file.py" names "$SPOOL/items" >"$T/names"
check "the three files are in the spool" test "$(wc -l <"$T/names")" -eq 3
for f in "$SPOOL"/items/*.item; do
	case $(python3 "$LIB_DIR/spool_file.py" name "$f") in
	d/cut) python3 "$LIB_DIR/spool_file.py" cut "$f" 300000 ;;
	d/tear) python3 "$LIB_DIR/spool_file.py" tear "$f" ;;
	esac
done

read -r small how < <(python3 "$LIB_DIR/spool_file.py" find "$SPOOL/items" d/small)
assert_eq logonly "$how" "the small file is a record of the log alone"
check "... with no file of its own" test ! -e "$small"

start_client c2 "$T/cli" label=powercut "spool=$SPOOL"
check "the spool drains" wait_spool_empty "$T/cli" 60
check "cut: version 1 arrived, bit-exact" cmp "$T/v1" "$SESS/d/cut"
check "tear: version 1 arrived, bit-exact" cmp "$T/v1" "$SESS/d/tear"
check "small: delivered from the log, bit-exact" cmp "$T/small" "$SESS/d/small"
check "the log was emptied" test -z "$(find "$SPOOL/items" -name '*.log')"
check "nothing was set aside" test -z "$(ls -A "$SPOOL/failed")"

finish
