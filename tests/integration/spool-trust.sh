#!/usr/bin/env bash
# spool-trust.sh: the client (root here) trusts nothing it finds in its
# spool directory. Each attack of the review changes nothing outside the
# spool and is reported clearly:
#  1. a spool others could change is refused at mount time, saying what to
#     fix: mode 0755, owned by another user, under a directory writable by
#     others (a sticky one such as /tmp's is fine)
#  2. items -> a symlink to another directory: the mount is refused and the
#     directory's files stay (recovery used to remove every one of them)
#  3. failed -> a symlink: refused; a refused file never lands there
#  4. lock -> a dangling symlink: refused; nothing is created at its target
#  5. session -> a symlink to a secret: refused; the secret appears nowhere
#  6. forged spooled items (the old header format, and a header with a MAC
#     made without the key) beside a genuine one: only the genuine one is
#     delivered; the forged ones go to failed/, logged
#  7. the spool's key missing while files wait: refused (nothing removed);
#     so is a key others can read, or one of the wrong length; with the
#     key back, the files are delivered
#  8. a file of version 2 (one header) is rewritten and delivered
#  9. a file of version 3 (two slots, no base) and one of version 4 are
#     delivered; a version 4 header whose base fields were changed after
#     its MAC was made is set aside in failed/
# 10. a file of version 5 (the algorithm of its digest after the base:
#     BLAKE3) is delivered; one whose algorithm was changed after its MAC
#     was made, and one whose MAC is right but whose algorithm no one
#     knows, are set aside in failed/

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
# max_item_size: a file the server refuses for good, for case 3
start_server server "$T/srv" "$T/store" max_item_size=1M
SPID=$(daemon_pid server)

# try_mount SPOOL [ACTION]: mounts $T/cli with that spool. OUT gets the
# client's output; MOUNTED is 1 if the mount came up (ACTION then runs, and
# the mount is undone).
try_mount() {
	local log=$T/logs/try.$((++TRIES)).log pid deadline
	ALL_LOGS+=("$log")
	mkdir -p "$T/cli"
	MOUNTED=0
	"$BRAIDFS" "127.0.0.1:$PORT" "$T/cli" -o "spool=$1" -f </dev/null >"$log" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	deadline=$((SECONDS + $(tmo 30)))
	while pid_alive "$pid" && ! is_mounted "$T/cli" && ((SECONDS < deadline)); do
		sleep 0.05
	done
	if is_mounted "$T/cli"; then
		MOUNTED=1
		"${2:-true}"
		unmount "$T/cli"
	fi
	wait_exit "$pid" "$(tmo 30)" || true
	wait "$pid" 2>/dev/null || true
	OUT=$(cat "$log")
	echo "   $(grep -v '^Ignoring' "$log" | head -n 3 | tr '\n' ' ')"
}
TRIES=0

# refused WHAT PATTERN: the last try_mount did not mount, and said PATTERN
refused() {
	assert_eq 0 "$MOUNTED" "$1: the mount is refused"
	check "$1: the message says so" grep -qE -- "$2" <<<"$OUT"
}

note "1. a spool others could change"
mkdir -m 755 "$T/s-mode"
try_mount "$T/s-mode"
refused "mode 0755" "is open to group or others \(mode 0755\): .*chmod 700"
mkdir -m 700 "$T/s-owner"
chown 65534 "$T/s-owner"
try_mount "$T/s-owner"
refused "owned by uid 65534" "belongs to uid 65534, not to you"
mkdir -m 777 "$T/open"
chmod 777 "$T/open"
try_mount "$T/open/spool"
refused "under a directory writable by all" "$T/open is writable by group or others"
mkdir -m 1777 "$T/sticky"
chmod 1777 "$T/sticky"
try_mount "$T/sticky/spool"
assert_eq 1 "$MOUNTED" "a spool under a sticky directory (like /tmp) mounts"

note "2. items -> a symlink to another directory"
mkdir -p "$T/victim" "$T/s-items"
chmod 700 "$T/s-items"
for f in precious 0000000000000001.item notes.txt; do
	echo "keep me" >"$T/victim/$f"
done
ln -s "$T/victim" "$T/s-items/items"
try_mount "$T/s-items"
refused "items -> symlink" "items/ is a symlink or not a directory"
check "the other directory keeps its 3 files" test "$(find "$T/victim" -type f | wc -l)" -eq 3

note "3. failed -> a symlink"
mkdir -p "$T/victim2" "$T/s-failed"
chmod 700 "$T/s-failed"
ln -s "$T/victim2" "$T/s-failed/failed"
# If it mounted, a file the server refuses for good would go to failed/.
write_refused() {
	head -c 2M /dev/zero >"$T/cli/too-big"
	wait_spool_empty "$T/cli" 30 || true
}
try_mount "$T/s-failed" write_refused
refused "failed -> symlink" "failed/ is a symlink or not a directory"
check "nothing landed in the symlink's target" test -z "$(ls -A "$T/victim2")"

note "4. lock -> a dangling symlink"
mkdir -p "$T/s-lock"
chmod 700 "$T/s-lock"
ln -s "$T/made-by-root" "$T/s-lock/lock"
try_mount "$T/s-lock"
refused "lock -> symlink" "lock: not a regular file of yours"
check "nothing was created at the symlink's target" test ! -e "$T/made-by-root"

note "5. session -> a symlink to a secret"
mkdir -p "$T/s-session"
chmod 700 "$T/s-session"
printf 'TOPSECRET-%s\nmore\n' "$RANDOM$RANDOM" >"$T/secret"
chmod 600 "$T/secret"
ln -s "$T/secret" "$T/s-session/session"
try_mount "$T/s-session"
refused "session -> symlink" "session file is not a regular file of yours"
check "the secret appears in no output" bash -c '! grep -rq TOPSECRET "$1"' _ "$T/logs"

note "6. forged spooled items"
SP=$T/s-forge
# A genuine spooled file: written while the server is frozen, then the
# client is killed; its spool keeps it for the next mount.
start_client c1 "$T/cli" "spool=$SP" label=forge
SESS=$(session_for_label "$T/srv" forge)
kill -STOP "$SPID"
echo genuine >"$T/cli/genuine.txt"
kill_daemon c1 KILL
kill -CONT "$SPID"
# forge.py DIR: items/…ff.item with the old header (CRC-32C, no MAC) and
# items/…fe.item with a new one whose MAC was made without the key, both
# internally consistent (size and SHA-256 of their bytes)
python3 - "$SP/items" "$LIB_DIR" <<'PY'
import hashlib, os, struct, sys
sys.path.insert(0, sys.argv[2])
import hostile_peer as hp
def item(path, magic, name, data):
    n = name.encode()
    fixed = struct.pack("<8sIIQQIIq32sH", magic, 1 if magic == b"BFSPOOL1" else 2,
                        0, 0, len(data), 0o644, 0, 1700000000,
                        hashlib.sha256(data).digest(), len(n))
    if magic == b"BFSPOOL1":
        crc = hp.crc32c(fixed[16:] + n)
        h = fixed[:12] + struct.pack("<I", crc) + fixed[16:] + n
    else:
        h = fixed + os.urandom(32) + n
    with open(path, "wb") as f:
        f.write(h.ljust(8192, b"\0") + data)
item(os.path.join(sys.argv[1], "00000000000000ff.item"), b"BFSPOOL1",
     "forged-v1.txt", b"not yours\n")
item(os.path.join(sys.argv[1], "00000000000000fe.item"), b"BFSPOOL2",
     "forged-v2.txt", b"not yours either\n")
PY
start_client c2 "$T/cli" "spool=$SP" label=forge
check "the genuine file is delivered" wait_spool_empty "$T/cli" 60
check "... into the same session, intact" grep -qx genuine "$SESS/genuine.txt"
check "the old-format item was not delivered" test ! -e "$SESS/forged-v1.txt"
check "the item with a wrong MAC was not delivered" test ! -e "$SESS/forged-v2.txt"
check "both were set aside in failed/" test -s "$SP/failed/00000000000000ff.item" -a \
	-s "$SP/failed/00000000000000fe.item"
check "the log names them" test "$(grep -c "does not authenticate with the spool's key" \
	"$(daemon_log c2)")" -eq 2
stop_daemon c2

note "7. the spool's key missing while files wait"
start_client c3 "$T/cli" "spool=$SP" label=forge
kill -STOP "$SPID"
echo waiting >"$T/cli/waiting.txt"
kill_daemon c3 KILL
kill -CONT "$SPID"
mv "$SP.key" "$T/key.saved"
try_mount "$SP"
refused "key missing" "1 files wait in it, but its key .* is missing"
check "the waiting file is still in the spool" \
	test "$(python3 "$LIB_DIR/spool_file.py" committed "$SP/items")" -eq 1
mv "$T/key.saved" "$SP.key"
chmod 644 "$SP.key"
try_mount "$SP"
refused "a key others can read" "spool key .* is not 32 bytes that only you can read"
chmod 600 "$SP.key"
cp "$SP.key" "$T/key.saved"
echo >>"$SP.key"
try_mount "$SP"
refused "a key of 33 bytes" "spool key .* is not 32 bytes"
mv "$T/key.saved" "$SP.key"
start_client c4 "$T/cli" "spool=$SP" label=forge
check "with the key back, it is delivered" wait_spool_empty "$T/cli" 60
check "... intact" grep -qx waiting "$SESS/waiting.txt"
stop_daemon c4

note "8. a file spooled by the previous version (one header, version 2)"
# Written with the spool's key as that version did; the mount rewrites it
# in this version's form (two header slots) and delivers it.
python3 - "$SP" <<'PY'
import hashlib, os, struct, sys
sp = sys.argv[1]
key = open(sp + ".key", "rb").read()
seq, name, data = 0xF0, b"upgraded.txt", b"from version 2\n"
fixed = struct.pack("<8sIIQQIIq32sH", b"BFSPOOL2", 2, 0, 0, len(data), 0o644, 0,
                    1700000000, hashlib.sha256(data).digest(), len(name))
mac = hashlib.blake2b(b"braidfs spool item v2\0" + struct.pack("<Q", seq) + fixed + name,
                      key=key, digest_size=32).digest()
with open(os.path.join(sp, "items", f"{seq:016x}.item"), "wb") as f:
    f.write((fixed + mac + name).ljust(8192, b"\0") + data)
PY
start_client c5 "$T/cli" "spool=$SP" label=forge
check "it is delivered" wait_spool_empty "$T/cli" 60
check "... intact" grep -qx "from version 2" "$SESS/upgraded.txt"
check "... not set aside" test ! -e "$SP/failed/00000000000000f0.item"
stop_daemon c5

note "9. files of version 3 (no base) and version 4 (an append's base after the name)"
# A version 3 file is delivered whole, as before; a version 4 file with no
# base likewise; one whose base fields were changed after its MAC was
# made does not authenticate: set aside, never delivered; nor is one
# whose MAC is right but whose base names a digest no one knows.
python3 - "$SP" <<'PY'
import hashlib, os, struct, sys
sp = sys.argv[1]
key = open(sp + ".key", "rb").read()
def item(seq, version, name, data, tail=b"", forge_tail=None):
    magic = b"BFSPOOL%d" % version
    fixed = struct.pack("<8sIIQQIIq32sH", magic, version, 1, 0, len(data), 0o644,
                        0, 1700000000, hashlib.sha256(data).digest(), len(name))
    mac = hashlib.blake2b(b"braidfs spool item v2\0" + struct.pack("<Q", seq) +
                          fixed + name + tail, key=key, digest_size=32).digest()
    h = fixed + mac + name + (forge_tail if forge_tail is not None else tail)
    with open(os.path.join(sp, "items", f"{seq:016x}.item"), "wb") as f:
        f.write(h.ljust(2 * 6144, b"\0") + data)
no_base = struct.pack("<Q", 0) + bytes(32) + b"\0"
item(0xF1, 3, b"from-v3.txt", b"from version 3\n")
item(0xF2, 4, b"from-v4.txt", b"from version 4\n", no_base)
item(0xF3, 4, b"forged-base.txt", b"a base made up\n", no_base,
     struct.pack("<Q", 1 << 20) + bytes(32) + b"\2")
item(0xF4, 4, b"unknown-alg.txt", b"a base of no known digest\n",
     struct.pack("<Q", 1 << 20) + bytes(32) + b"\x09")
PY
start_client c6 "$T/cli" "spool=$SP" label=forge
check "they are delivered" wait_spool_empty "$T/cli" 60
check "the version 3 file, intact" grep -qx "from version 3" "$SESS/from-v3.txt"
check "the version 4 file, intact" grep -qx "from version 4" "$SESS/from-v4.txt"
check "the file whose base was changed is not delivered" test ! -e "$SESS/forged-base.txt"
check "... but set aside in failed/" test -s "$SP/failed/00000000000000f3.item"
check "a base of an unknown digest (its MAC right) is not delivered" \
  test ! -e "$SESS/unknown-alg.txt"
check "... but set aside in failed/" test -s "$SP/failed/00000000000000f4.item"
stop_daemon c6

note "10. files of version 5 (the algorithm of the digest after the base)"
python3 - "$SP" <<'PY'
import hashlib, os, struct, subprocess, sys
sp = sys.argv[1]
key = open(sp + ".key", "rb").read()
def b3(data):
    out = subprocess.run(["b3sum", "--no-names"], input=data, capture_output=True,
                         check=True).stdout
    return bytes.fromhex(out.split()[0].decode())
def item(seq, name, data, alg, digest, forge_alg=None):
    fixed = struct.pack("<8sIIQQIIq32sH", b"BFSPOOL5", 5, 1, 0, len(data), 0o644,
                        0, 1700000000, digest, len(name))
    tail = struct.pack("<Q", 0) + bytes(32) + b"\0"
    mac = hashlib.blake2b(b"braidfs spool item v2\0" + struct.pack("<Q", seq) +
                          fixed + name + tail + bytes([alg]), key=key,
                          digest_size=32).digest()
    h = fixed + mac + name + tail + bytes([alg if forge_alg is None else forge_alg])
    with open(os.path.join(sp, "items", f"{seq:016x}.item"), "wb") as f:
        f.write(h.ljust(2 * 6144, b"\0") + data)
v5, forged, unknown = b"from version 5\n", b"an algorithm made up\n", b"no known digest\n"
item(0xF5, b"from-v5.txt", v5, 3, b3(v5))
item(0xF6, b"forged-alg.txt", forged, 3, hashlib.sha256(forged).digest(), forge_alg=2)
item(0xF7, b"unknown-digest.txt", unknown, 9, b3(unknown))
PY
start_client c7 "$T/cli" "spool=$SP" label=forge
check "they are delivered" wait_spool_empty "$T/cli" 60
check "the version 5 file, intact" grep -qx "from version 5" "$SESS/from-v5.txt"
check "the file whose algorithm was changed is not delivered" \
  test ! -e "$SESS/forged-alg.txt"
check "... but set aside in failed/" test -s "$SP/failed/00000000000000f6.item"
check "an unknown algorithm (its MAC right) is not delivered" \
  test ! -e "$SESS/unknown-digest.txt"
check "... but set aside in failed/" test -s "$SP/failed/00000000000000f7.item"

finish
