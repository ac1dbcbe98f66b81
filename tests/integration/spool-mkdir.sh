#!/usr/bin/env bash
# spool-mkdir.sh: under delivery=async mkdir(2), and chmod(2) and
# utimensat(2) of a directory, wait for the spool's record, not for the
# server, and what returned is done on the server even if the client is
# killed first; a directory's time is set after the files in it arrived,
# so it holds (async-dirs.h).
#  1. the server frozen (SIGSTOP): mkdir -p of a tree (empty directories,
#     one with mode 700) and cp -r of files into it return; the spool's
#     status counts the directories not yet confirmed; then cp -a of a
#     tree, touch -d and chmod of directories return too
#  2. the client killed (-9), the server thawed, a torn record appended;
#     a new mount on the same spool says it ignores that, makes every
#     directory, the empty ones too, with their modes,
#     delivers the files into them, sets the directories' times and modes
#     (cp -a's times hold although its files arrived later), and empties
#     the spool's record
#  3. with the server running: mkdir, files in it, rmdir of an empty one,
#     mv of a directory, cp -a (every directory's time as the source's),
#     touch -d of a directory then rmdir of it at once, mkdir over a name
#     the server already holds as a file (refused there: the client says so
#     in its log); the server's tree ends equal to the client's
#  4. the server killed (-9): mkdir, cp -a and touch -d of a directory
#     return while it is down; once it is back and the paths re-attached,
#     what was sent before it died is sent again and done

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SPOOL=$T/spool
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

mkdir -p "$T/src/a/b" "$T/src/c"
for i in 1 2 3; do head -c $((i * 5000)) /dev/urandom >"$T/src/a/b/f$i"; done
head -c 300000 /dev/urandom >"$T/src/c/big"

note "1. directories made while the server is frozen"
start_client c1 "$T/cli" label=dirs "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" dirs) || fail "no session for label dirs"
check "a first mkdir with the server running returns" run_t 30 mkdir "$T/cli/t"
check "... and reaches the server" wait_until 30 "t on the server" test -d "$SESS/t"
kill -STOP "$SPID"
check "mkdir -p of three levels returns while the server is frozen" \
	run_t 30 mkdir -p "$T/cli/t/e1/e2/e3"
check "mkdir -m 700 returns" run_t 30 mkdir -m 700 "$T/cli/t/private"
check "cp -r of a tree with files returns" run_t 60 cp -r "$T/src" "$T/cli/t/copy"
check "the mount shows the new directories" test -d "$T/cli/t/e1/e2/e3"
assert_eq 700 "$(stat -c %a "$T/cli/t/private")" "the mount shows the mode"
# e1 e2 e3 private copy copy/a copy/a/b copy/c
assert_eq 8 "$(spool_field "$T/cli" dirs_pending)" "8 directories wait for the server"
touch -d @1000000000 "$T/src/a/b" "$T/src/a" "$T/src/c" "$T/src"
check "cp -a of a tree returns" run_t 60 cp -a "$T/src" "$T/cli/t/copya"
check "touch -d of a directory returns" run_t 30 touch -d @1100000000 "$T/cli/t/e1"
check "chmod of a directory returns" run_t 30 chmod 750 "$T/cli/t/copy/c"
check "more operations wait for the server" test "$(spool_field "$T/cli" dirs_pending)" -gt 12
kill_daemon c1 KILL
kill -CONT "$SPID"
check "the spool's record of directories is not empty" test -s "$SPOOL/dirs"
# what a crash in the middle of a record's write leaves
printf 'BFSDIR01\002\003\011\000torn' >>"$SPOOL/dirs"

note "2. a new mount makes them"
start_client c2 "$T/cli" label=dirs "spool=$SPOOL"
check "the client log names the directory operations left" \
	grep -q "directory operations from an earlier mount to do" "$(daemon_log c2)"
check "... and the torn record it ignored" grep -q "do not authenticate" "$(daemon_log c2)"
check "the spool drains" wait_spool_empty "$T/cli" 120
check "the empty directories were made" test -d "$SESS/t/e1/e2/e3"
assert_eq 700 "$(stat -c %a "$SESS/t/private")" "with their modes"
check "the files arrived bit-exact in their directories" diff -r "$T/src" "$SESS/t/copy"
check "... and those of cp -a" diff -r "$T/src" "$SESS/t/copya"
dir_times() { (cd "$1" && find . -type d -printf '%p %T@ %m\n' | sort); }
check "cp -a's directory times and modes hold" \
	diff <(dir_times "$T/src") <(dir_times "$SESS/t/copya")
assert_eq 1100000000 "$(stat -c %Y "$SESS/t/e1")" "touch -d of a directory"
assert_eq 750 "$(stat -c %a "$SESS/t/copy/c")" "chmod of a directory"
check "the record was emptied" test ! -s "$SPOOL/dirs"

note "3. directories and files with the server running"
check "mkdir, files in it" run_t 30 bash -c \
	'mkdir -p "$1/live/x/y" && echo hi >"$1/live/x/f" && mkdir "$1/live/gone"' _ "$T/cli"
check "rmdir of an empty one" run_t 30 rmdir "$T/cli/live/gone"
check "mv of a directory" run_t 30 mv "$T/cli/live/x" "$T/cli/live/z"
check "cp -a" run_t 60 cp -a "$T/src" "$T/cli/live/a"
check "touch -d of a directory, then rmdir" run_t 30 bash -c \
	'mkdir "$1/live/brief" && touch -d @1000000000 "$1/live/brief" && rmdir "$1/live/brief"' _ "$T/cli"
check "the spool drains" wait_spool_empty "$T/cli" 60
check "the server has the client's tree" diff -r "$T/cli/live" "$SESS/live"
check "... and nothing under the old names" test ! -e "$SESS/live/x" -a ! -e "$SESS/live/gone" -a ! -e "$SESS/live/brief"
check "cp -a's directory times and modes hold" \
	diff <(dir_times "$T/src") <(dir_times "$SESS/live/a")
check "the client logged no failure" test -z "$(grep 'did not make' "$(daemon_log c2)")"
# a name the server holds as a file that this mount never saw
echo stored >"$T/store/$(basename "$SESS")/data/clash"
check "mkdir over it returns (the mount does not know it)" run_t 30 mkdir "$T/cli/clash"
check "the client says the server did not make it" wait_until 30 "a log line" \
	grep -q "did not make or change directory 'clash'" "$(daemon_log c2)"
check "the spool drains" wait_spool_empty "$T/cli" 60
assert_eq stored "$(cat "$SESS/clash")" "the server's file is untouched"

note "4. the server killed and started again"
kill_daemon server KILL
check "mkdir -p returns while the server is down" run_t 30 mkdir -p "$T/cli/down/e/f"
check "cp -a returns" run_t 60 cp -a "$T/src" "$T/cli/down/a"
check "touch -d of a directory returns" run_t 30 touch -d @1200000000 "$T/cli/down/e"
start_server server "$T/srv" "$T/store"
check "the spool drains" wait_spool_empty "$T/cli" 120
check "the empty directories were made" test -d "$SESS/down/e/f"
assert_eq 1200000000 "$(stat -c %Y "$SESS/down/e")" "the directory's time was set"
check "cp -a's files, directory times and modes arrived" \
	diff <(dir_times "$T/src") <(dir_times "$SESS/down/a")
check "... bit-exact" diff -r "$T/src" "$SESS/down/a"
stop_daemon c2
stop_daemon server
finish
