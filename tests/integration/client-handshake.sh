#!/usr/bin/env bash
# client-handshake.sh: the client bounds its whole handshake, not each read,
# and reads no large frame before the server's WELCOME. Against
# fake_server.py:
#  1. --trickle 1.5: the server sends its preface and WELCOME one byte every
#     1.5 s, so that every read gets a byte within the client's timeout=3
#     but the handshake would take over a minute: braidfs gives up and
#     exits non-zero with a message within a few seconds.
#  2. --big-welcome: the server answers HELLO with the header of an 8 MiB
#     WELCOME: braidfs refuses the frame at once (over the handshake's
#     64 KiB limit), without waiting for its body.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# mount_fails NAME WITHIN OPTS: braidfs -f fails (does not mount) within
# WITHIN seconds; its output in $T/NAME.out, its time in $T/NAME.secs
mount_fails() {
	local name=$1 within=$2 rc=0 t0
	mkdir -p "$T/mnt-$name"
	ALL_MOUNTS+=("$T/mnt-$name")
	t0=$(now)
	timeout -k 5 "$(tmo 120)" "$BRAIDFS" "127.0.0.1:$PORT" "$T/mnt-$name" -f -o "$3" \
		>"$T/$name.out" 2>&1 || rc=$?
	elapsed "$t0" >"$T/$name.secs"
	sed 's/^/   | /' "$T/$name.out"
	echo "   exit $rc after $(cat "$T/$name.secs") s"
	check "braidfs fails ($name)" test "$rc" -ne 0 -a "$rc" -ne 124
	check "... and does not leave a mount" not_mounted "$T/mnt-$name"
	assert_le "$(cut -d. -f1 <"$T/$name.secs")" "$(tmo "$within")" "... within $within s"
}
not_mounted() { ! is_mounted "$1"; }

note "1. a server that trickles its handshake"
PORT=$(free_port)
start_fake_server fake1 --trickle 1.5
mount_fails trickle 15 timeout=3
check "... saying it timed out" grep -qiE "timed out|Resource temporarily unavailable" "$T/trickle.out"

note "2. an 8 MiB frame before the WELCOME"
PORT=$(free_port)
start_fake_server fake2 --big-welcome
mount_fails big 15 timeout=30
check "... saying the frame is over the limit" grep -qE "65536|limit|too long|over" "$T/big.out"

finish
