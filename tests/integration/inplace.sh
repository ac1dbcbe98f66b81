#!/usr/bin/env bash
# inplace.sh: writes inside a delivered file and truncates to a smaller
# size (delivery=close) send nothing before the first byte changed: the
# server keeps that much of its stored file (ITEM_OPEN base_keep,
# braidfs-protocol(7) "Appending to a stored file"); the client reads
# those bytes back only to hash them.
#  1. a 64 MiB file delivered; `dd conv=notrunc bs=4k count=1 seek=1000`
#     (dd opens it O_RDWR and closes a dup of the descriptor before it
#     writes: on main that delivered the file whole, then failed the
#     write with EIO): the server's f is the model bit for bit; the paths
#     carry the bytes from the write on (about 60 MiB; not bounded here:
#     resends on another path count too); the same at seek=15000 carries
#     at most the 3.6 MiB from there and 2 MiB of slack;
#  2. `truncate -s 10M`: the model, and nothing is sent but frames; an
#     ftruncate(2) to the size it has changes nothing;
#  3. 100 bytes written at 5 MiB by a program (open O_WRONLY without
#     O_TRUNC, pwrite): the model, and at most the 5 MiB from there on;
#  4. a write 1 MiB before the end: at most 1 MiB and 2 MiB of slack;
#  5. an O_RDWR writer that reads before and after its write, and another
#     reader meanwhile (the bytes before the cut come from the server):
#     what they read is the model;
#  6. the server killed in the middle of a cut's base copy
#     (BRAIDFSD_CRASH_AFTER=base-copy:3) and restarted: the dd goes on
#     and the server's f is the model.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=appends.sh
source "$LIB_DIR/appends.sh"

need_space 400
PORT=$(free_port)
head -c 4096 /dev/urandom >"$T/block"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=inp
CLI=$T/cli
deliver_f inp
wait_acked "$CLI" "$SIZE" "$(tmo 30)"

size_is() { test "$(stat -c %s "$CLI/f")" -eq "$1"; }

# Chunks carried twice so far (tail copies and resends: both copies may
# be acknowledged and counted; paths.sh), one 256 KiB chunk each
twice() { status_cols "$CLI" duplicates resent | awk '{ n += $1 + $2 } END { print n + 0 }'; }
TWICE_PREV=$(twice)

# change WHAT AT MAX CMD...: runs CMD (which changes the outbox's f and
# the model from offset AT on), then checks the server's copy and that
# the paths carried at least the bytes from AT to the end and at most MAX,
# plus a chunk for each carried twice since the previous step began (a
# copy of that step's may be acknowledged during this one)
change() {
	local what=$1 at=$2 max=$3 before size t0 slack
	shift 3
	t0=$(twice)
	before=$(acked_total "$CLI")
	check "$what exits 0" "$@"
	size=$(stat -c %s "$T/model")
	wait_acked "$CLI" $((before + size - at)) "$(tmo 60)"
	check "$what: the server's f is the model, bit for bit" cmp "$T/model" "$SESS/f"
	# a stat while it was written may be cached for attr_timeout (1 s)
	check "$what: the outbox shows its size" \
		wait_until 10 "f of $size bytes in the outbox" size_is "$size"
	local sent=$(($(acked_total "$CLI") - before))
	slack=$((($(twice) - TWICE_PREV) * 262144))
	TWICE_PREV=$t0
	echo "   $what: $sent bytes acknowledged on the paths ($slack carried twice at most)"
	assert_le "$sent" "$((max + slack))" "$what: bytes sent"
}
dd_in() {
	dd if="$T/block" of="$CLI/f" bs=4k count=1 seek="$1" conv=notrunc status=none &&
		dd if="$T/block" of="$T/model" bs=4k count=1 seek="$1" conv=notrunc status=none
}
change "dd conv=notrunc seek=1000" $((4096 * 1000)) $((SIZE + (4 << 20))) dd_in 1000
change "dd conv=notrunc seek=15000" $((4096 * 15000)) $((SIZE - 4096 * 15000 + (2 << 20))) dd_in 15000
shrink() { truncate -s 10M "$CLI/f" && truncate -s 10M "$T/model"; }
change "truncate -s 10M" $((10 << 20)) $((1 << 20)) shrink
shrink_fd() {
	python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_WRONLY)
    os.ftruncate(fd, 10 << 20)
    os.close(fd)' "$CLI/f" "$T/model"
}
change "ftruncate to 10 MiB (the same size)" $((10 << 20)) $((1 << 20)) shrink_fd
pwrite_at() {
	python3 -c 'import os, sys
data = bytes(range(100))
for p in sys.argv[1:]:
    fd = os.open(p, os.O_WRONLY)
    os.pwrite(fd, data, int(os.environ["AT"]))
    os.close(fd)' "$CLI/f" "$T/model"
}
at_5m() { AT=$((5 << 20)) pwrite_at; }
change "100 bytes written at 5 MiB" $((5 << 20)) $((6 << 20)) at_5m
near_end() { AT=$((9 << 20)) pwrite_at; }
change "100 bytes written 1 MiB before the end" $((9 << 20)) $((3 << 20)) near_end
rdwr() {
	python3 -c 'import os, sys
got = []
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDWR)
    a = os.pread(fd, 4096, 1 << 20)
    os.pwrite(fd, b"rdwr", 2 << 20)
    b = os.pread(fd, 4096, 1 << 20) + os.pread(fd, 4096, (2 << 20) - 2)
    with open(p, "rb") as other:    # another reader meanwhile
        other.seek((2 << 20) - 2)
        c = other.read(4096)
    os.close(fd)
    got.append((a, b, c))
sys.exit(0 if got[0] == got[1] else 1)' "$CLI/f" "$T/model"
}
change "an O_RDWR writer reading around its write at 2 MiB" $((2 << 20)) \
	$((10 << 20)) rdwr

note "the server killed in the middle of a cut's base copy"
stop_daemon server
BRAIDFSD_CRASH_AFTER=base-copy:3 start_server server "$T/srv" "$T/store"
cp "$T/model" "$T/before-crash"
dd_rc() { dd_in "$1"; echo $? >"$T/dd.rc"; }
bg dd_rc 2000
DD=$BG_LAST
check "braidfsd killed itself copying the cut's base" \
	wait_exit "$(daemon_pid server)" "$(tmo 60)"
kill_daemon server KILL >/dev/null
check "the crash hook fired" grep -q "crashing at base-copy" "$(daemon_log server)"
start_server server "$T/srv" "$T/store"
check "the dd ends after the restart" wait_exit "$DD" "$(tmo 120)"
check "... with exit 0" test "$(cat "$T/dd.rc")" = 0
check "after the restart the server's f is the model, bit for bit" \
	cmp "$T/model" "$SESS/f"
check "... which the dd changed" bash -c '! cmp -s "$1" "$2"' _ "$T/before-crash" "$SESS/f"
finish
