#!/usr/bin/env bash
# writeback.sh: braidfsd sends a large item's data to the disk while the
# rest arrives, so that one item's dirty pages stay bounded and the fsync
# before STORED finds little left. A 96 MiB file is written with paths=1
# (the server handles its chunks in order, on one thread); while cp still
# holds it open after 64 MiB, the first 16 MiB of tmp/<id>.part, written
# over 40 MiB before, must have no dirty page and none under writeback
# (cachestat(2)). Without the writeback they would stay dirty until the
# kernel's flusher takes them (dirty_expire_centisecs, 30 s by default).
# Then the file is stored whole.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 400
case $(stat -f -c %T "$T") in
tmpfs | ramfs) skip "the store is in a $(stat -f -c %T "$T"): no disk to write back to" ;;
esac
python3 - <<'PY' || skip "no cachestat(2) (Linux >= 6.5)"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r, c = (ctypes.c_uint64 * 2)(0, 0), (ctypes.c_uint64 * 5)()
fd = os.open("/proc/self/exe", os.O_RDONLY)
raise SystemExit(libc.syscall(451, fd, r, c, 0) != 0)
PY
PORT=$(free_port)
CTL=$T/ctl
mkdir -p "$CTL"
dd if=/dev/urandom of="$T/src.bin" bs=1M count=128 status=none

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=wb paths=1 chunk_size=256K

bg run_t 300 python3 "$LIB_DIR/writer.py" "$T/cli/big.bin" "$T/src.bin" \
	--parts 2 "$CTL" >"$T/writer.out" 2>&1
WPID=$BG_LAST
wait_until 120 "the writer's first 64 MiB" test -e "$CTL/written.1" ||
	fail "the writer did not write its first half"

part_size() {
	local f
	f=$(find "$T/store" -path '*/tmp/*.part' -print -quit)
	[[ -n $f ]] && (($(stat -c %s "$f") >= 64 << 20))
}
wait_until 120 "the server writes the first 64 MiB" part_size ||
	fail "the server did not write 64 MiB of the item"
PART=$(find "$T/store" -path '*/tmp/*.part' -print -quit)

# cachestat(2) of [0, 16 MiB): "dirty writeback" in pages.
read -r dirty wb < <(python3 - "$PART" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r, c = (ctypes.c_uint64 * 2)(0, 16 << 20), (ctypes.c_uint64 * 5)()
fd = os.open(sys.argv[1], os.O_RDONLY)
if libc.syscall(451, fd, r, c, 0) != 0:
    raise SystemExit(os.strerror(ctypes.get_errno()))
print(c[1], c[2])
PY
) || fail "cachestat of $PART failed"
echo "   first 16 MiB of the item with 64 MiB written: $dirty dirty pages, $wb under writeback"
assert_eq "$dirty" 0 "dirty pages in the first 16 MiB"
assert_eq "$wb" 0 "pages under writeback in the first 16 MiB"

touch "$CTL/go.1"
wrc=0
wait "$WPID" || wrc=$?
assert_eq "$wrc" 0 "the writer's exit status"
check "write and close succeed" grep -qx 'write:OK close:OK' "$T/writer.out"
SESS=$(session_for_label "$T/srv" wb) || fail "no session for label wb"
check "the stored file equals the source" run_t 120 cmp "$T/src.bin" "$SESS/big.bin"

finish
