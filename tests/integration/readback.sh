#!/usr/bin/env bash
# readback.sh [async]: what the outbox delivered can be read back from it,
# served by the server over the session's paths: cat, cmp, cp out,
# sha256sum, diff -r of the source against the outbox, reads at any offset
# (dd skip=), of an empty file and past the end. A file still being
# written cannot be read (EBUSY); with "async" a spooled file is read once
# it is delivered. Delivered files take appends (echo >> twice), writes in
# place (dd conv=notrunc) and truncate -s to less and more; the server's
# copies are what they should be.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
mkdir -p "$T/src/sub/deeper" "$T/src/empty-dir"
head -c 3000000 /dev/urandom >"$T/src/big.bin"
head -c 300000 /dev/urandom >"$T/src/f.bin"
printf 'hello\n' >"$T/src/sub/g.txt"
: >"$T/src/sub/deeper/empty"
ln -s g.txt "$T/src/sub/link"

start_server server "$T/srv" "$T/store"
MODE=${1:-close}
if [[ $MODE == async ]]; then
	start_client client "$T/cli" label=rb "spool=$T/spool"
else
	start_client client "$T/cli" label=rb
fi
CLI=$T/cli

check "cp -a into the client mount" run_t 60 cp -a "$T/src/." "$CLI/"
# With async, reads wait for the spooled files' delivery by themselves.
check "cat reads a file back" run_t 60 cmp "$T/src/f.bin" "$CLI/f.bin"
check "cmp of a 3 MB file read back" run_t 60 cmp "$T/src/big.bin" "$CLI/big.bin"
assert_eq "$(cd "$T/src" && sha256sum big.bin f.bin sub/g.txt)" \
	"$(cd "$CLI" && run_t 60 sha256sum big.bin f.bin sub/g.txt 2>&1)" "sha256sum in the outbox"
check "diff -r of the source against the outbox" run_t 60 diff -r "$T/src" "$CLI"
check "cp out of the outbox" run_t 60 cp -a "$CLI/sub" "$T/copied-out"
check "... what was copied out is the source" diff -r "$T/src/sub" "$T/copied-out"
assert_eq "$(dd if="$T/src/big.bin" bs=4096 skip=333 count=17 status=none | sha256sum)" \
	"$(run_t 30 dd if="$CLI/big.bin" bs=4096 skip=333 count=17 status=none | sha256sum)" \
	"dd reads a range in the middle"
assert_eq "$(tail -c 1000 "$T/src/big.bin" | sha256sum)" \
	"$(run_t 30 tail -c 1000 "$CLI/big.bin" | sha256sum)" "tail reads the end"
assert_eq 0 "$(run_t 10 wc -c <"$CLI/sub/deeper/empty")" "an empty file reads empty"

# errno_of FILE: errno name of open(FILE, O_RDONLY) + read, or OK
errno_of() {
	run_t 10 python3 - "$1" <<'PY'
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
PY
}
# A file being written: its bytes are not all anywhere yet.
exec {wfd}>"$CLI/open.txt"
printf 'partial' >&"$wfd"
assert_eq EBUSY "$(errno_of "$CLI/open.txt")" "a file being written is not read back (EBUSY)"
exec {wfd}>&-
printf 'partial' >"$T/src/open.txt"
if [[ $MODE == async ]]; then
	check "the spool drains" wait_spool_empty "$CLI" 60
fi
assert_eq partial "$(run_t 10 cat "$CLI/open.txt" 2>&1)" "... and is once closed"

SESS=$(session_for_label "$T/srv" rb) || fail "no session for label rb"

note "git clone into the outbox"
git init -q "$T/repo"
for i in 1 2 3; do
	head -c 20000 /dev/urandom | base64 >"$T/repo/file$i"
	git -C "$T/repo" add "file$i"
	git -C "$T/repo" -c user.name=t -c user.email=t@example.org commit -q -m "commit $i"
done
check "git clone of a local repository into the outbox" run_t 120 git clone -q "$T/repo" "$CLI/clone"
check "git status in the clone (reads its index back)" run_t 60 git -C "$CLI/clone" status --porcelain
if [[ $MODE == async ]]; then
	check "the spool drains" wait_spool_empty "$CLI" 60
fi
check "git fsck of the server's copy" git -C "$SESS/clone" fsck --strict
assert_eq 3 "$(git -C "$SESS/clone" log --oneline 2>&1 | wc -l)" "git log of the server's copy"
check "the clone's files equal the repository's" diff -r -x .git "$T/repo" "$SESS/clone"


note "appending to and truncating delivered files"
check "echo >> a delivered file" run_t 30 bash -c 'echo line1 >>"$1/log.txt"' _ "$CLI"
check "echo >> it again" run_t 30 bash -c 'echo line2 >>"$1/log.txt"' _ "$CLI"
check "dd conv=notrunc writes in the middle of a delivered file" run_t 30 \
	bash -c 'printf XYZ | dd of="$1/sub/g.txt" bs=1 seek=2 conv=notrunc status=none' _ "$CLI"
check "truncate -s of a delivered file to less" run_t 30 truncate -s 1000000 "$CLI/big.bin"
check "truncate -s of a delivered file to more" run_t 30 truncate -s 1000100 "$CLI/f.bin"
if [[ $MODE == async ]]; then
	check "the spool drains" wait_spool_empty "$CLI" 60
fi
assert_eq "$(printf 'line1\nline2')" "$(cat "$SESS/log.txt" 2>&1)" "both lines on the server"
assert_eq "$(printf 'line1\nline2')" "$(run_t 10 cat "$CLI/log.txt" 2>&1)" "both lines read back"
assert_eq heXYZ "$(cat "$SESS/sub/g.txt" 2>&1)" "the bytes written in place, the rest kept"
check "the shortened file is the source's start" \
	cmp "$SESS/big.bin" <(head -c 1000000 "$T/src/big.bin")
check "the lengthened file is the source and zeros" \
	cmp "$SESS/f.bin" <(cat "$T/src/f.bin"; head -c 700100 /dev/zero)
head -c 1000000 "$T/src/big.bin" >"$T/big.want"
mv "$T/big.want" "$T/src/big.bin"
cat "$T/src/f.bin" <(head -c 700100 /dev/zero) >"$T/f.want"
mv "$T/f.want" "$T/src/f.bin"
printf 'line1\nline2\n' >"$T/src/log.txt"
printf 'heXYZ\n' >"$T/src/sub/g.txt"
check "server copy intact after the reads (diff -r)" \
	bash -c 'LC_ALL=C diff -r -x .session -x clone "$1" "$2"' _ "$T/src" "$SESS"

finish
