#!/usr/bin/env bash
# write-only.sh: the client mount is an outbox. Files written into it are
# listed (ls -l, with sizes) but cannot be read back: open for reading fails
# with EACCES, so cat and cp out of it fail. The delivered copy on the server
# is not affected.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
mkdir -p "$T/src/sub"
head -c 300000 /dev/urandom >"$T/src/f.bin"
printf 'hello\n' >"$T/src/sub/g.txt"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=wo
CLI=$T/cli

check "cp -r into the client mount" run_t 60 cp -r "$T/src/." "$CLI/"
assert_eq 300000 "$(stat -c %s "$CLI/f.bin" 2>&1)" "stat shows the size on the client mount"
check "ls -l on the client mount works" bash -c "ls -l '$CLI' '$CLI/sub' >/dev/null"

out=$(run_t 10 cat "$CLI/f.bin" 2>&1 >/dev/null) && rc=0 || rc=$?
echo "   cat: exit $rc: $out"
check "cat of a file in the client mount fails" test "$rc" -ne 0
check "cat reports 'Permission denied'" grep -q 'Permission denied' <<<"$out"

out=$(run_t 10 cp "$CLI/sub/g.txt" "$T/copied-out" 2>&1) && rc=0 || rc=$?
echo "   cp out: exit $rc: $out"
check "cp out of the client mount fails" test "$rc" -ne 0
check "nothing was copied out" test ! -s "$T/copied-out"

# errno_of FILE: errno name of open(FILE, O_RDONLY) + read, or OK
errno_of() {
	run_t 10 python3 - "$1" <<'EOF'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
    try:
        os.read(fd, 1)
        print("OK")
    except OSError as e:
        print("read:" + errno.errorcode.get(e.errno, str(e.errno)))
    os.close(fd)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}
assert_eq EACCES "$(errno_of "$CLI/f.bin")" \
	"open(O_RDONLY) on the client mount fails with EACCES"

SESS=$(session_for_label "$T/srv" wo) || fail "no session for label wo"
check "server copy intact after the read attempts (diff -r)" diff_trees "$T/src" "$SESS"

finish
