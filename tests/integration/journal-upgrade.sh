#!/usr/bin/env bash
# journal-upgrade.sh: a store whose partial items a braidfsd from before
# record files left (tmp/<id>.rec in format BFREC002, no id inside) is
# read right by this one after an upgrade.
#
# Each round kills the server at a hook (BRAIDFSD_CRASH_AFTER) in the
# middle of a cp, with the client held (SIGSTOP); the records the crash
# left become the old layout: tmp/rec.N rewritten as tmp/<id>.rec in
# BFREC002 (or, with BRAIDFSD_OLD=PATH, the crashing server is that older
# braidfsd, which writes them so itself). Then this server starts on the
# store and the client goes on:
#  - chunk-map: a 2 MiB file with 3 chunks recorded: the item is kept
#    from the old record (not opened again from scratch), its old record
#    goes once it is stored, the file arrives bit-exact;
#  - renamed: a file renamed into data/, its directory not fsynced, its
#    verdict not yet recorded: the old record, closed with its data gone,
#    says STORED, so the client's repeated ITEM_CLOSE is answered so (not
#    opened again).
# Last, tmp/ holds no record and no data file.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SRV=$T/srv
STORE=$T/store
CLI=$T/cli
NEW=$BRAIDFSD
OLD=${BRAIDFSD_OLD:-}
head -c $((2 << 20)) /dev/urandom >"$T/big.bin"
head -c $((100 << 10)) /dev/urandom >"$T/small.bin"

# records DIR: the item records in tmp/ DIR: record files holding one, and
# old <id>.rec files
records() { find "$1" \( -name 'rec.*' -o -name '*.rec' \) -size +0; }

# to_old_layout DIR: each record file rec.N in DIR becomes tmp/<id>.rec as
# a braidfsd before record files wrote it (BFREC002: the id only in the
# name; its CRC32C over the fields without it)
to_old_layout() {
	python3 - "$LIB_DIR" "$1" <<'EOF'
import os, struct, sys
sys.path.insert(0, sys.argv[1])
from bfwire import crc32c
d = sys.argv[2]
for f in sorted(os.listdir(d)):
    p = os.path.join(d, f)
    if not f.startswith("rec.") or os.path.getsize(p) == 0:
        continue
    rec = bytearray(open(p, "rb").read())
    assert rec[:8] == b"BFREC003", f
    item_id = struct.unpack(">Q", rec[8:16])[0]
    nlen = struct.unpack(">H", rec[37:39])[0]
    fields = b"BFREC002" + bytes(rec[16:39]) + bytes(rec[39:39 + nlen])
    old = fields + struct.pack(">I", crc32c(fields))
    rec[:39 + nlen + 4] = old + bytes(8)
    with open(os.path.join(d, "%016x.rec" % item_id), "wb") as out:
        out.write(rec)
    os.unlink(p)
    print("   %s -> %016x.rec" % (f, item_id))
EOF
}

connected() { [[ $(session_field "$SESS/.session" paths 2>/dev/null) == 2 ]]; }

start_server server "$SRV" "$STORE"
start_client client "$CLI" label=upgrade paths=2 timeout=60
cp "$T/small.bin" "$CLI/warmup.bin"
SESS=$(session_for_label "$SRV" upgrade) || fail "no session for label upgrade"
TMP=$STORE/$(basename "$SESS")/tmp

# round HOOK FILE: the crash, the old layout, the upgrade, the rest of the
# copy of FILE; prints nothing, checks
round() {
	local hook=$1 file=$2 log cpid
	note "round $hook: $file"
	stop_daemon server >/dev/null
	BRAIDFSD=${OLD:-$NEW} BRAIDFSD_CRASH_AFTER=$hook start_server server "$SRV" "$STORE" >/dev/null
	wait_until 30 "the client re-attached" connected ||
		fail "the client did not re-attach"
	bg run_t 120 cp "$T/$file" "$CLI/$file"
	cpid=$BG_LAST
	wait_dead server "$(tmo 30)" || fail "$hook: the server did not crash at the hook"
	kill -STOP "$(daemon_pid client)"
	[[ -n $OLD ]] || to_old_layout "$TMP"
	check "$hook: tmp/ holds records in the old layout only (<id>.rec)" \
		bash -c '[[ -n $(find "$1" -name "*.rec" -size +0) && -z $(find "$1" -name "rec.*" -size +0) ]]' _ "$TMP"
	BRAIDFSD=$NEW start_server server "$SRV" "$STORE" >/dev/null
	log=$(daemon_log server)
	kill -CONT "$(daemon_pid client)"
	local rc=0
	wait "$cpid" || rc=$?
	check "$hook: cp $file exits 0 after the upgrade" test "$rc" -eq 0
	check "$hook: $file arrived bit-exact (view)" cmp "$T/$file" "$SESS/$file"
	check "$hook: nothing was opened again from scratch" \
		bash -c '! grep -q "opening it again" "$1"' _ "$log"
	check "$hook: tmp/ holds no partial item" \
		test -z "$(records "$TMP"; find "$TMP" -name '*.part')"
}

round chunk-map:3 big.bin
check "chunk-map: the upgraded server kept the partial item from its old record" \
	grep -q "1 partial items kept for their client" "$(daemon_log server)"
round renamed:1 small.bin
check "renamed: the old record said STORED (none kept, none opened again)" \
	bash -c '! grep -q "partial items kept" "$1"' _ "$(daemon_log server)"

stop_daemon client
finish
