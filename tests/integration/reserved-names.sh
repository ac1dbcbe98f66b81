#!/usr/bin/env bash
# reserved-names.sh: .session at the top of a session directory is the
# view's own file. The outbox refuses to make anything by that name (cp,
# mkdir, mv onto it: EPERM), and braidfsd refuses it from any client (an
# ITEM_OPEN, a MKDIR, a RENAME onto it: BAD_NAME, with a message saying it
# is reserved), so the generated .session is never shadowed and the session
# can still be removed. A .session deeper down is an ordinary name.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
echo data >"$T/x.txt"
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=reserved
CLI=$T/cli
check "a first file arrives" cp "$T/x.txt" "$CLI/a.txt"
SESS=$(session_for_label "$T/srv" reserved) || fail "no session for label reserved"

note "the outbox"
# refused WHAT CMD...: CMD fails with "Operation not permitted"
refused() {
	local what=$1 out rc=0
	shift
	out=$(run_t 20 "$@" 2>&1) || rc=$?
	echo "   $*: exit $rc: $out"
	check "$what is refused" test "$rc" -ne 0
	check "... with EPERM" grep -q "Operation not permitted" <<<"$out"
}
refused "cp to .session" cp "$T/x.txt" "$CLI/.session"
refused "mkdir .session" mkdir "$CLI/.session"
refused "mv a.txt .session" mv "$CLI/a.txt" "$CLI/.session"
check "a .session below the top is an ordinary file" \
	bash -c 'mkdir "$1/sub" && cp "$2" "$1/sub/.session"' _ "$CLI" "$T/x.txt"
check "... which arrives" cmp "$T/x.txt" "$SESS/sub/.session"

note "a protocol peer"
cat >"$T/peer.py" <<'PY'
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import hostile_peer as h
h.HOST, h.PORT = "127.0.0.1", int(sys.argv[2])
p = h.Peer("reserved", hostile=False, src="127.0.0.1")
p.new_session("reserved-peer")
res = []
p.send(h.item_open(1, ".session"))
_, stage, st, msg = p.item_ack("ITEM_OPEN .session")
res.append("item .session: stage %d %s (%s)" % (stage, h.st_name(st), msg))
p.send(h.item_open(2, "b.txt"))
p.item_ack("ITEM_OPEN b.txt")
p.send(h.chunk(2, 0, 1, b"b\n"))
p.send(h.item_close(2, 1, 2, hashlib.sha256(b"b\n").digest()))
p.chunk_ack("CHUNK b.txt")
_, stage, st, msg = p.item_ack("STORED b.txt")
res.append("item b.txt: stage %d %s (%s)" % (stage, h.st_name(st), msg))
for oid, (kind, a, b) in enumerate(((h.MKDIR, ".session", ""),
                                    (h.RENAME, "b.txt", ".session")), 1):
    p.send(h.op(oid, kind, a, b, mode=0o755))
    _, st, msg = p.op_ack("op")
    res.append("op %d %s %s: %s (%s)" % (kind, a, b, h.st_name(st), msg))
print("\n".join(res))
PY
check "the peer runs" run_t 30 python3 "$T/peer.py" "$LIB_DIR" "$PORT" >"$T/peer.out" 2>&1
sed 's/^/   /' "$T/peer.out"
check "ITEM_OPEN .session is refused with BAD_NAME, saying it is reserved" \
	grep -qE "^item \.session: stage [0-9] BAD_NAME \(.*reserved" "$T/peer.out"
check "MKDIR .session is refused with BAD_NAME, saying it is reserved" \
	grep -qE "^op [0-9]+ \.session : BAD_NAME \(.*reserved" "$T/peer.out"
check "RENAME onto .session is refused with BAD_NAME, saying it is reserved" \
	grep -qE "^op [0-9]+ b\.txt \.session: BAD_NAME \(\.session: .*reserved" "$T/peer.out"
PEER=$(session_for_label "$T/srv" reserved-peer) || fail "no session for label reserved-peer"
check "b.txt stayed b.txt" test -f "$PEER/b.txt"

note "the view"
for s in "$SESS" "$PEER"; do
	check "$(basename "$s"): no .session in the store's data/" test ! -e "$T/store/$(basename "$s")/data/.session"
	check "... .session is the generated one" grep -q "^id: " "$s/.session"
	assert_eq 1 "$(ls -A "$s" | grep -cx .session)" "... listed once"
done
stop_daemon client
wait_until 20 "the session disconnected" grep -q "^state: disconnected" "$SESS/.session" ||
	fail "the client's session is still connected"
check "the client's session can be removed with rm -r" rm -r "$SESS"
check "... and is gone from the store" test ! -e "$T/store/$(basename "$SESS")"

finish
