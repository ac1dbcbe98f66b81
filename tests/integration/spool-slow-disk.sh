#!/usr/bin/env bash
# spool-slow-disk.sh: a spool on a disk that stalls holds up only the
# requests on the files whose I/O stalls; ls, stat and the status files of
# the outbox answer at once throughout. The spool is on slowfs (a
# passthrough FUSE file system whose writes and syncs under items/ wait
# while a gate file exists):
#  1. twelve files are left in the spool by a mount killed while the server
#     was stopped; remounted with the gate shut, each delivery worker
#     records its file's delivery attempt in the file's log record (small
#     files have no file of their own), a write that stalls (it used to be
#     made under the session's lock, which .braidfs/paths and every path
#     need);
#  2. meanwhile a rename of a queued file writes a new record of it into
#     a new segment of the log and syncs it, writes that stall too (they
#     used to be made under the delivery's lock, which .braidfs/spool
#     needs). The file is in a directory of its own:
#     the kernel locks the directory of a rename until it returns, so ls
#     of that directory waits for the disk whatever braidfs does;
#  3. the gate open, every file is delivered, the renamed one under its
#     new name.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LIB_DIR/probe.sh"

[[ -x ${SLOWFS:-} ]] || skip "no slowfs helper (SLOWFS)"
mkdir -p "$T/slow-src" "$T/slow"
bg "$SLOWFS" "$T/slow-src" "$T/slow" "$T/gate" "$T/slowfs.log"
ALL_MOUNTS+=("$T/slow")
ALL_LOGS+=("$T/slowfs.log")
check "slowfs is mounted" wait_until 30 "slowfs" is_mounted "$T/slow"
SP=$T/slow/spool

PORT=$(free_port)
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

note "twelve files left in the spool"
start_client c1 "$T/cli" "spool=$SP" label=slow
mkdir "$T/cli/d"
kill -STOP "$SPID"
for ((i = 1; i <= 11; i++)); do
	printf 'file %d\n' "$i" >"$T/cli/f$i"
done
printf 'file 12\n' >"$T/cli/d/f12"
spooled() {
	awk '$1 == "pending" && $2 == 12 { p = 1 } $1 == "writing" && $2 == 0 { w = 1 }
		END { exit !(p && w) }' "$T/cli/.braidfs/spool"
}
check "the spool holds them" wait_until 30 "12 files spooled" spooled
kill_daemon c1 KILL
kill -CONT "$SPID"

note "1. remounted with the spool's disk stalled"
# the segments of c1's log: the workers write into these only
find "$T/slow-src/spool/items" -name '*.log' -printf '%f\n' >"$T/old-segs"
check "c1 left its files in its log" test -s "$T/old-segs"
touch "$T/gate"
start_client c2 "$T/cli" "spool=$SP" label=slow
held() { grep -q "^held write /spool/items/${1:-}" "$T/slowfs.log"; }
check "a worker's record of its file stalls" wait_until 30 "a held write" held
# what the workers write is in the log's old segments, never in a file
# of its own
OWN='^held [a-z]+ /spool/items(/[0-9a-f]{16}\.item)?$'
held_new() {
	grep -E '^held write /spool/items/[0-9a-f]{16}\.log$' "$T/slowfs.log" |
		grep -vqFf "$T/old-segs"
}

note "2. a rename of a queued file, stalled too"
check "... no file of its own is written for it" \
	bash -c '! grep -Eq "$1" "$2"' _ "$OWN" "$T/slowfs.log"
# the twelfth file made: queued behind the eight workers' files
bg mv "$T/cli/d/f12" "$T/cli/d/g12"
mover=$BG_LAST
check "its new record stalls" wait_until 30 "f12's held write" held_new
run_probe stalled 3
check_fast stalled
check "the rename waits for the disk" kill -0 "$mover"

note "3. the disk back"
rm "$T/gate"
check "the rename returns" wait_until 30 "mv" bash -c '! kill -0 "$1" 2>/dev/null' _ "$mover"
check "every file is delivered" wait_spool_empty "$T/cli" 60
SESS=$(session_for_label "$T/srv" slow) || fail "no session for label slow"
for ((i = 1; i <= 11; i++)); do
	check "f$i arrived" grep -qx "file $i" "$SESS/f$i"
done
check "the renamed file arrived under its new name" grep -qx "file 12" "$SESS/d/g12"
check "... and not under its old one" test ! -e "$SESS/d/f12"
stop_daemon c2
stop_daemon server
finish
