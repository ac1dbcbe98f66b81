#!/usr/bin/env bash
# trees.sh [async]: real trees hold more than files. cp -a, rsync -aH and
# tar -x of a tree with symlinks (relative, absolute, dangling, to a
# directory), hard links, a FIFO, empty directories, directory modes and
# mtimes and a sparse file give the same tree in the server's view: same
# contents (diff -r --no-dereference) and the same type, mode, mtime, link
# target and link count of every entry. A device node is refused with
# EPERM and the files around it still arrive. With "async" the client
# runs with delivery=async and a spool.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SRC=$T/src
mkdir -p "$SRC/top/sub/deep" "$SRC/empty" "$SRC/closed" "$SRC/top/empty2"
head -c 100000 /dev/urandom >"$SRC/top/sub/data.bin"
printf 'hello\n' >"$SRC/top/hello.txt"
ln "$SRC/top/hello.txt" "$SRC/top/sub/hello-link.txt"
ln "$SRC/top/hello.txt" "$SRC/hello-link2.txt"
ln -s hello.txt "$SRC/top/rel-link"
ln -s ../top/sub "$SRC/empty/../dir-link"
ln -s /etc/hostname "$SRC/top/abs-link"
ln -s does/not/exist "$SRC/top/dangling"
ln -s "a target with spaces and ../.. in it" "$SRC/top/odd-link"
mkfifo -m 640 "$SRC/top/pipe"
truncate -s 3M "$SRC/top/sparse.img"
printf 'middle' | dd of="$SRC/top/sparse.img" bs=1 seek=1000000 conv=notrunc status=none
chmod 750 "$SRC/top/sub"
chmod 700 "$SRC/closed"
chmod 1775 "$SRC/top/empty2"   # setgid is not stored (braidfsd(8))
touch -h -d '2005-05-05 05:05:05' "$SRC/top/rel-link" "$SRC/top/dangling" "$SRC/dir-link"
touch -d '2001-02-03 04:05:06' "$SRC/top/sub/data.bin" "$SRC/top/hello.txt"
touch -d '2002-02-02 02:02:02' "$SRC/top/sub/deep" "$SRC/top/sub" "$SRC/empty" \
	"$SRC/closed" "$SRC/top/empty2" "$SRC/top/pipe"
touch -d '2003-03-03 03:03:03' "$SRC/top"

# Store and spool on file systems of known sizes, for df.
mkdir -p "$T/store" "$T/spool"
mount -t tmpfs -o size=256m,mode=0755 tmpfs "$T/store" || fail "cannot mount a tmpfs for the store (needs root)"
EXTRA_MOUNTS+=("$T/store")
start_server server "$T/srv" "$T/store"
MODE=${1:-close}
if [[ $MODE == async ]]; then
	mount -t tmpfs -o size=32m,mode=700 tmpfs "$T/spool" || fail "cannot mount a tmpfs for the spool"
	EXTRA_MOUNTS+=("$T/spool")
	start_client client "$T/cli" label=trees "spool=$T/spool"
else
	start_client client "$T/cli" label=trees
fi
CLI=$T/cli

check "cp -a into the client mount" run_t 60 cp -a "$SRC" "$CLI/cpa"
check "rsync -aH into the client mount" run_t 60 rsync -aH "$SRC/" "$CLI/rs/"
check "tar -x into the client mount" run_t 60 bash -c \
	'set -o pipefail; mkdir "$2/tar" && tar -C "$1" -cf - . | tar -C "$2/tar" -xf -' _ "$SRC" "$CLI"
if [[ $MODE == async ]]; then
	check "the spool drains" wait_spool_empty "$CLI" 60
fi

# The outbox itself shows what it sent.
assert_eq hello.txt "$(readlink "$CLI/cpa/top/rel-link" 2>&1)" "readlink in the outbox"
assert_eq "l" "$(stat -c %A "$CLI/rs/top/dangling" 2>&1 | cut -c1)" "ls -l in the outbox: a symlink"
assert_eq "p" "$(stat -c %A "$CLI/tar/top/pipe" 2>&1 | cut -c1)" "ls -l in the outbox: a FIFO"

SESS=$(session_for_label "$T/srv" trees) || fail "no session for label trees"

# meta DIR: type, mode, mtime (seconds), link target, link count of every
# entry below DIR (directories' mtimes included, the top one not).
meta() {
	(cd "$1" && find . -mindepth 1 -printf '%P %y %m %T@ [%l] %n\n' |
		sed -E 's/\.[0-9]+ \[/ [/' | LC_ALL=C sort)
}
for tree in cpa rs tar; do
	# diff reports any two FIFOs as different: meta compares the pipe.
	check "$tree: contents equal to the source" \
		diff -r --no-dereference -x pipe "$SRC" "$SESS/$tree"
	check "$tree: type, mode, mtime, target and link count equal to the source" \
		diff <(meta "$SRC") <(meta "$SESS/$tree")
	assert_eq "$(stat -c %i "$SESS/$tree/top/hello.txt")" \
		"$(stat -c %i "$SESS/$tree/top/sub/hello-link.txt")" \
		"$tree: hard links are one inode in the view"
	assert_eq 3 "$(find "$SESS/$tree" -samefile "$SESS/$tree/top/hello.txt" | wc -l)" \
		"$tree: three names, one file"
done

# What the server keeps: the symlinks as symlinks with the text sent,
# never followed (the absolute one names the server's /etc, not the store).
STORE_DATA=$(find "$T/store" -maxdepth 2 -type d -name data | head -n 1)
assert_eq "/etc/hostname" "$(readlink "$STORE_DATA/cpa/top/abs-link")" "the store holds the absolute target as text"
check "the view does not open a FIFO for reading" \
	bash -c '! timeout 10 cat "$1" 2>/dev/null' _ "$SESS/cpa/top/pipe"

# A device node is refused with EPERM; the client says why in its log.
check "mknod of a device in the outbox fails" \
	bash -c '! mknod "$1/cpa/dev-null" c 1 3 2>/dev/null' _ "$CLI"
check "no device node reached the server" test ! -e "$SESS/cpa/dev-null"
check "the client logs why the device was refused" \
	grep -q "device nodes are not transferred" "$(daemon_log client)"

# df on the outbox shows the server's store (its size exactly; its free
# space, or the spool's where that is smaller).
bytes_of() { stat -f -c '%b %S' "$1" | awk '{ printf "%d\n", $1 * $2 }'; }
avail_of() { stat -f -c '%a %S' "$1" | awk '{ printf "%d\n", $1 * $2 }'; }
assert_eq "$(bytes_of "$T/store")" "$(bytes_of "$CLI")" "df: the outbox's size is the store's"
check "df: the outbox's free space is at most the store's" \
	test "$(avail_of "$CLI")" -le "$(avail_of "$T/store")"
check "df: the outbox has free space" test "$(avail_of "$CLI")" -gt 0
if [[ $MODE == async ]]; then
	check "df: the outbox's free space is at most the spool's" \
		test "$(avail_of "$CLI")" -le "$(avail_of "$T/spool")"
fi
df -h "$CLI" "$T/store"

check "setxattr in the outbox fails with ENOTSUP" python3 -c '
import errno, os, sys
try:
    os.setxattr(sys.argv[1], "user.test", b"1")
except OSError as e:
    sys.exit(e.errno != errno.ENOTSUP)
sys.exit(1)' "$CLI/cpa/top/hello.txt"

finish
