#!/usr/bin/env bash
# gluster-volume.sh: the engine under the tests of several braidfsd hosts
# (gluster.sh) works, and gives what braidfsd relies on: a replica-2
# GlusterFS volume mounted twice (two FUSE clients stand in for two hosts)
# shows one client's bytes bit-exact through the other, and an OFD write
# lock (fcntl F_OFD_SETLK, the lock braidfsd takes on a session) taken
# through one mount is refused through the other and through a second
# open of the same mount, and is released when its holder is killed -9.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LIB_DIR/gluster.sh"

gluster_setup 2
M1=${GL_MNT[1]} M2=${GL_MNT[2]}

note "bytes written through one mount, read through the other"
head -c 8M /dev/urandom >"$T/src.bin"
cp "$T/src.bin" "$M1/src.bin"
check "mount 2 reads mount 1's file bit-exact" cmp "$T/src.bin" "$M2/src.bin"
check "brick 1 holds it" cmp "$T/src.bin" "$GL_DIR/b1/src.bin"
check "brick 2 holds it too (replica 2)" cmp "$T/src.bin" "$GL_DIR/b2/src.bin"

note "an OFD lock through mount 1 holds against mount 2"
bg python3 "$LIB_DIR/ofd_lock.py" hold "$M1/owner" >"$T/hold.out" 2>&1
holder=$BG_LAST
_held() { grep -qx held "$T/hold.out"; }
wait_until 30 "the holder to take the lock" _held || fail "the lock through mount 1 was not taken: $(cat "$T/hold.out")"
_busy() { ! python3 "$LIB_DIR/ofd_lock.py" try "$1" >/dev/null; }
check "the lock is refused through mount 2" _busy "$M2/owner"
check "... and through another open of mount 1" _busy "$M1/owner"

note "kill -9 of the holder releases it"
kill -9 "$holder"
wait "$holder" 2>/dev/null || true
_free() { python3 "$LIB_DIR/ofd_lock.py" try "$1" >/dev/null; }
check "the lock is free through mount 2 once its holder is dead" \
	wait_until 30 "the lock to be released" _free "$M2/owner"

finish
