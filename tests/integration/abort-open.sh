#!/usr/bin/env bash
# abort-open.sh: the outbox's FUSE connection ends while descriptors are
# open (the kernel then never sends their RELEASE: an unmount right after
# a close(2) can do the same, as the connection is aborted here so that
# it happens every time). For delivery=close and delivery=async, with a
# file half written, a delivered file being read, one opened for
# appending and not written yet, and .braidfs/status open:
#  1. the client exits with status 0 and frees all of it (under ASan:
#     no leak report; the client's handles.h);
#  2. nothing partial reaches the server: the half-written file is not
#     stored, the delivered one is unchanged;
#  3. a remount delivers what was spooled (async) and works as before.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
head -c 700000 /dev/urandom >"$T/done"
head -c 300000 /dev/urandom >"$T/half"
start_server server "$T/srv" "$T/store"

# conn_of MNT: the FUSE connection (minor) of the mount at MNT.
conn_of() { fuse_conns | awk -v m="$1" '$2 == m { print $1 }'; }
# holder CLI: one process opens the four descriptors and holds them (a
# shell would not do: each of its children closing a copy of a descriptor
# is a close(2), which FLUSHes: delivers the half-written file).
holder() {
	python3 - "$1" "$T/half" "$T/done" "$T/held" <<'PY' &
import os, sys, time
cli, half, done, held = sys.argv[1:]
w = os.open(cli + "/half", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(w, open(half, "rb").read())
r = os.open(cli + "/done", os.O_RDONLY)
ok = os.read(r, 4096) == open(done, "rb").read(4096)
a = os.open(cli + "/done", os.O_WRONLY | os.O_APPEND)
st = os.open(cli + "/.braidfs/status.json", os.O_RDONLY)
os.read(st, 100)
open(held, "w").write("held %s\n" % ("read-ok" if ok else "read-wrong"))
time.sleep(600)
PY
	HOLDER=$!
	BG_PIDS+=("$HOLDER")
}
# in_sessions LABEL NAME: NAME's path in one of LABEL's sessions, if any.
in_sessions() {
	local d
	for d in $(session_dirs "$T/srv" | grep -E "$(session_re "$1")"); do
		[[ -e $T/srv/$d/$2 ]] && echo "$T/srv/$d/$2" && return 0
	done
	return 1
}
not_in_sessions() { ! in_sessions "$@" >/dev/null; }

# round DELIVERY CLIENT-OPTIONS...
round() {
	local how=$1 cli=$T/cli-$1 label=abort-$1 sess minor rc
	shift
	note "delivery=$how"
	start_client "c-$how" "$cli" "label=$label" "$@"
	check "cp of a file into the outbox" run_t 60 cp "$T/done" "$cli/done"
	[[ $how == async ]] && check "the spool is empty" wait_spool_empty "$cli" 60
	sess=$(session_for_label "$T/srv" "$label") || fail "no session for $label"
	check "the server has it" cmp "$T/done" "$sess/done"

	rm -f "$T/held"
	holder "$cli"
	check "a process holds four descriptors" \
		wait_until 30 "the holder's descriptors" test -s "$T/held"
	assert_eq "held read-ok" "$(cat "$T/held")" "the held reader's first 4 KiB"
	minor=$(conn_of "$cli")
	check "the mount's FUSE connection is found" test -n "$minor"
	check "the connection is aborted with four descriptors open" abort_conn "$minor"
	check "the client exits within 30 s" wait_exit "$(daemon_pid "c-$how")" "$(tmo 30)"
	rc=0
	wait "$(daemon_pid "c-$how")" || rc=$?
	assert_eq 0 "$rc" "the client's exit status"
	unset "D_PID[c-$how]"
	kill "$HOLDER"
	wait "$HOLDER" || true
	unmount "$cli"
	check "the server's file is unchanged" cmp "$T/done" "$sess/done"
	check "the half-written file is not stored" not_in_sessions "$label" half

	start_client "c-$how" "$cli" "label=$label" "$@"
	check "after a remount, cp works" run_t 60 cp "$T/half" "$cli/again"
	[[ $how == async ]] && check "the spool is empty" wait_spool_empty "$cli" 60
	check "... and it arrives bit-exact" cmp "$T/half" "$(in_sessions "$label" again)"
	check "... the half-written file still is not stored" not_in_sessions "$label" half
	stop_daemon "c-$how"
}

round close
round async "spool=$T/spool"
finish
