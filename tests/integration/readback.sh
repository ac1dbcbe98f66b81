#!/usr/bin/env bash
# readback.sh [async]: what the outbox delivered can be read back from it,
# served by the server over the session's paths: cat, cmp, cp out,
# sha256sum, diff -r of the source against the outbox, reads at any offset
# (dd skip=), of an empty file and past the end. A file still being
# written is read from the client's copy where there is one (the spool
# with "async", a writer that opened it O_RDWR: git clone --no-local),
# else not at all (EBUSY); with "async" a spooled file is read once it is
# delivered. Delivered files take appends (echo >> twice), writes in
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
# A file being written (O_WRONLY): with delivery=close its bytes are not
# all anywhere yet; with async the spool holds them and serves the read.
exec {wfd}>"$CLI/open.txt"
printf 'partial' >&"$wfd"
if [[ $MODE == async ]]; then
	assert_eq OK "$(errno_of "$CLI/open.txt")" "a file being written is read from the spool"
	assert_eq partial "$(run_t 10 cat "$CLI/open.txt" 2>&1)" "... what was written so far"
else
	assert_eq EBUSY "$(errno_of "$CLI/open.txt")" "a file being written is not read back (EBUSY)"
fi
exec {wfd}>&-
# One opened O_RDWR keeps a local copy: its own descriptor and other
# opens read what it wrote so far, before anything is delivered.
check "a file open O_RDWR is read while written, by itself and others" \
	run_t 60 python3 - "$CLI/rdwr.bin" "$T/src/rdwr.bin" <<'PY'
import os, sys
p = sys.argv[1]
data = os.urandom(3 * 1024 * 1024 + 17)
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, data[:2000000])
assert os.pread(fd, 5000, 1000) == data[1000:6000], "own pread"
os.write(fd, data[2000000:])
with open(p, "rb") as other:
    assert other.read() == data, "another open while written"
assert os.pread(fd, len(data) + 100, 0) == data, "own pread to the end"
os.close(fd)
open(sys.argv[2], "wb").write(data)
PY
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
# --no-local: index-pack reads its pack back while it writes it (O_RDWR).
check "git clone --no-local into the outbox" \
	run_t 120 git clone -q --no-local "$T/repo" "$CLI/clone-nl"
if [[ $MODE == async ]]; then
	check "the spool drains" wait_spool_empty "$CLI" 60
fi
for c in clone clone-nl; do
	check "git fsck of the server's $c" git -C "$SESS/$c" fsck --strict
	assert_eq 3 "$(git -C "$SESS/$c" log --oneline 2>&1 | wc -l)" "git log of the server's $c"
	check "the $c's files equal the repository's" diff -r -x .git "$T/repo" "$SESS/$c"
done
check "diff -r of the repository against the outbox's clone" \
	run_t 60 diff -r -x .git "$T/repo" "$CLI/clone-nl"
check "git fsck in the outbox (reads every object back)" \
	run_t 120 git -C "$CLI/clone-nl" fsck --strict


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
	bash -c 'LC_ALL=C diff -r -x .session -x "clone*" "$1" "$2"' _ "$T/src" "$SESS"

note "a stored file changed behind the client's back fails its whole-file check"
STORED=$T/store/$(basename "$SESS")/data/big.bin
check "cmp of big.bin read back before the change" run_t 60 cmp "$T/src/big.bin" "$CLI/big.bin"
# one byte flipped (a byte written over it may be the same one: 1 run in 256)
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, bytes([os.pread(fd, 1, 777777)[0] ^ 0xff]), 777777)
os.close(fd)' "$STORED"
check "the stored copy changed" bash -c '! cmp -s "$1" "$2"' _ "$T/src/big.bin" "$STORED"
# cat_fails FILE: reading FILE whole fails with EIO
cat_fails() { ! run_t 60 cat "$1" >/dev/null 2>"$T/cat.err" && grep -q "Input/output error" "$T/cat.err"; }
check "a whole read of it fails (EIO), though each piece passes its CRC32C" \
	cat_fails "$CLI/big.bin"
check "... said in the client's log" grep -q \
	"'big.bin' read back from server .* is not the version this mount delivered" \
	"$(daemon_log client)"
assert_eq "$(dd if="$T/src/big.bin" bs=4096 skip=3 count=2 status=none | sha256sum)" \
	"$(run_t 30 dd if="$CLI/big.bin" bs=4096 skip=3 count=2 status=none | sha256sum)" \
	"... a range read without reaching its end is served"

finish
