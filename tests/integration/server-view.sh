#!/usr/bin/env bash
# server-view.sh: the server mount is read-only except rm / rmdir.
# Creating, writing, appending, truncating, renaming, chmod and mkdir fail
# and change nothing; rm, rmdir and rm -r work, and what was removed stays
# removed after a server restart (the store is the truth). Finally a whole
# finished session directory can be removed with rm -r.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SRC=$T/src
mkdir -p "$SRC/dir/deeper" "$SRC/keep" "$SRC/empty dir"
printf 'alpha\n' >"$SRC/a.txt"
head -c 70000 /dev/urandom >"$SRC/dir/b.bin"
printf 'c\n' >"$SRC/dir/deeper/c.txt"
printf 'kept\n' >"$SRC/keep/k.txt"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=view
check "cp -r files into the client mount" run_t 60 cp -r "$SRC/a.txt" "$SRC/dir" "$SRC/keep" "$T/cli/"
check "mkdir -p an empty directory in the client mount" mkdir -p "$T/cli/empty dir"
SESS=$(session_for_label "$T/srv" view) || fail "no session for label view"
check "session equals the source" diff_trees "$SRC" "$SESS"

# must_fail DESC command...: the command fails (its message is shown)
must_fail() {
	local desc=$1 out rc=0
	shift
	out=$(run_t 10 "$@" 2>&1) || rc=$?
	echo "   $desc: exit $rc: ${out//$'\n'/ }"
	check "server mount refuses: $desc" test "$rc" -ne 0
}
must_fail "create a file" touch "$SESS/new-file"
must_fail "write a file by redirection" bash -c 'echo x >"$1"' _ "$SESS/new-file2"
must_fail "append to a delivered file" bash -c 'echo x >>"$1"' _ "$SESS/a.txt"
must_fail "truncate a delivered file" truncate -s 0 "$SESS/a.txt"
must_fail "rename a delivered file" mv "$SESS/a.txt" "$SESS/renamed.txt"
must_fail "chmod a delivered file" chmod 600 "$SESS/a.txt"
must_fail "mkdir in a session" mkdir "$SESS/newdir"
must_fail "mkdir at the top of the mount" mkdir "$T/srv/not-a-session"
check "refused operations changed nothing" diff_trees "$SRC" "$SESS"

check "rm of a delivered file" rm "$SESS/a.txt"
check "rmdir of an empty directory" rmdir "$SESS/empty dir"
check "rm -r of a directory tree" rm -r "$SESS/dir"
rm -r "$SRC/a.txt" "$SRC/empty dir" "$SRC/dir"
check "removed entries are gone, the rest is intact" diff_trees "$SRC" "$SESS"

stop_daemon client
stop_daemon server
start_server server "$T/srv" "$T/store"
check "after restart the removed entries stay removed" diff_trees "$SRC" "$SESS"

check "rm -r of a whole finished session directory" rm -r "$SESS"
assert_eq "" "$(session_dirs "$T/srv")" "no session directory left"
stop_daemon server
start_server server "$T/srv" "$T/store"
assert_eq "" "$(session_dirs "$T/srv")" "no session directory after restart"

finish
