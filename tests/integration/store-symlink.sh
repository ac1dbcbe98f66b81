#!/usr/bin/env bash
# store-symlink.sh: symlinks planted inside the store (by a local user with
# access to it, or a bug) are never followed, neither by what clients send
# nor by the server's view. braidfsd resolves every name with openat2(2)
# RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS. Planted in
# a session's data/:
#   evil     -> $T/outside          (a directory outside the store)
#   up       -> ../../..            (a relative way out)
#   link.txt -> $T/outside/target.txt
#   proc     -> /proc/self/cwd      (a magic link)
# Through the client: files and directories under evil/, up/, proc/, a
# rename into evil/, a setattr of link.txt, hard links of link.txt or into
# evil/ and reads of link.txt or through evil/, up/, proc/ (READ) all fail
# with an error, a file
# written to link.txt replaces the link itself (the target is untouched),
# and nothing appears outside the store. The view shows the links as
# links (their text, never resolved by braidfsd), and rm removes a link,
# not its target; evil/ cannot be listed nor its files read through the
# view. The session goes on: a normal file arrives.
#
# The bookkeeping files beneath the store are opened the same way (never
# through a link, never blocking on a FIFO, never a file with a second
# name): planted in a session's tmp/ as the .part and .rec of the next
# item, as verdicts (symlink), ops (a hard link) and max_id (a FIFO), and
# as a session directory's session file (a symlink to a key-file-shaped
# secret), none changes or shows anything outside the store, and a restart
# does not hang. A store or session directory writable by group or others
# or not braidfsd's user's is refused with a message saying what to do.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
OUT=$T/outside
OUT2=$T/outside-tmp   # targets of links planted in tmp/
mkdir -p "$OUT" "$OUT2"
echo "outside, must stay so" >"$OUT/target.txt"
target_before=$(stat -c '%s %Y' "$OUT/target.txt")-$(sha256sum <"$OUT/target.txt")
echo data >"$T/x.txt"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=links
check "a first file arrives" cp "$T/x.txt" "$T/cli/first.txt"
SESS=$(session_for_label "$T/srv" links) || fail "no session for label links"
DATA=$T/store/$(basename "$SESS")/data
ln -s "$OUT" "$DATA/evil"
ln -s ../../.. "$DATA/up"
ln -s "$OUT/target.txt" "$DATA/link.txt"
ln -s /proc/self/cwd "$DATA/proc"

SLOG=$(daemon_log server)
SCWD=$(readlink "/proc/$(daemon_pid server)/cwd")

note "a protocol peer names evil/x and friends directly"
cat >"$T/peer.py" <<'EOF'
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import hostile_peer as h
h.HOST, h.PORT = "127.0.0.1", int(sys.argv[2])
import os, time
# its own session, in whose data/ the test plants the same links
p = h.Peer("links", hostile=False, src="127.0.0.1")
p.new_session("links-peer")
open(sys.argv[3] + ".ready", "w").close()
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[3] + ".go") and time.monotonic() < deadline:
    p.send(h.ping(1))
    p.expect(h.PONG, "PING")
    time.sleep(0.1)
res = []
for iid, name in enumerate(("evil/x", "up/x", "proc/x", "evil/sub/x"), 1):
    p.send(h.item_open(iid, name))
    _, stage, st, msg = p.item_ack("ITEM_OPEN")
    if st == h.OK:      # the name is resolved when the item is stored
        data = b"escaped\n"
        p.send(h.chunk(iid, 0, 1, data))
        p.send(h.item_close(iid, 1, len(data), hashlib.sha256(data).digest()))
        p.chunk_ack("CHUNK")
        _, stage, st, msg = p.item_ack("ITEM_CLOSE")
    res.append("item %s: stage %d %s (%s)" % (name, stage, h.st_name(st), msg))
p.send(h.item_open(9, "first.txt"))     # then a rename of it into evil/
p.item_ack("ITEM_OPEN first.txt")
p.send(h.chunk(9, 0, 1, b"first\n"))
p.send(h.item_close(9, 1, 6, hashlib.sha256(b"first\n").digest()))
p.chunk_ack("CHUNK")
p.item_ack("STORED first.txt")
for oid, (kind, a, b) in enumerate(((h.MKDIR, "evil/d", ""), (h.MKDIR, "up/d", ""),
                                    (h.MKDIR, "proc/d", ""),
                                    (h.RENAME, "first.txt", "evil/r"),
                                    (h.SETATTR, "link.txt", "")), 1):
    p.send(h.op(oid, kind, a, b, mode=0o600, flags=1 if kind == h.SETATTR else 0))
    _, st, msg = p.op_ack("op")
    res.append("op %d %s: %s (%s)" % (kind, a, h.st_name(st), msg))
p.send(h.item_open(0x20, "planted.txt", mode=0o4755))  # its .part/.rec are links
p.item_ack("ITEM_OPEN planted.txt")
p.send(h.chunk(0x20, 0, 1, b"planted\n"))
p.send(h.item_close(0x20, 1, 8, hashlib.sha256(b"planted\n").digest(), mode=0o4755))
p.chunk_ack("CHUNK planted.txt")
_, stage, st, msg = p.item_ack("STORED planted.txt")
res.append("item planted.txt: stage %d %s (%s)" % (stage, h.st_name(st), msg))
# a hard link of a planted symlink, or into a linked directory
import bfwire as W
for oid, (a, b) in enumerate((("link.txt", "hard"), ("first.txt", "evil/hard")), 10):
    p.send(h.op(oid, W.LINK, a, b))
    _, st, msg = p.op_ack("LINK")
    res.append("op %d %s: %s (%s)" % (W.LINK, a, h.st_name(st), msg))
# reads through the links: READ_DATA says why, and carries nothing
for rid, name in enumerate(("link.txt", "evil/target.txt", "up/etc/hostname",
                            "proc/status"), 20):
    p.send(W.read(rid, 0, 4096, name))
    m = p.expect_msg(W.READ_DATA, "READ " + name)
    res.append("read %s: %s (%d bytes)" % (name, h.st_name(m.status), len(m.payload)))
print("\n".join(res))
EOF
bg python3 "$T/peer.py" "$LIB_DIR" "$PORT" "$T/peer" >"$T/peer.out" 2>&1
ppid=$BG_LAST
deadline=$((SECONDS + $(tmo 20)))
until [[ -e $T/peer.ready ]] || ((SECONDS >= deadline)); do sleep 0.05; done
PEER=$(session_for_label "$T/srv" links-peer) || fail "no session for label links-peer"
PDATA=$T/store/$(basename "$PEER")/data
PTMP=$T/store/$(basename "$PEER")/tmp
for f in part rec; do
	printf 'outside %s\n' "$f" >"$OUT2/$f.target"
	chmod 600 "$OUT2/$f.target"
	ln -s "$OUT2/$f.target" "$PTMP/0000000000000020.$f"
done
outside_state() { (cd "$OUT2" && stat -c '%n %s %a %Y' -- * && cat -- *) | sha256sum; }
outside_before=$(outside_state)
ln -s "$OUT" "$PDATA/evil"
ln -s ../../.. "$PDATA/up"
ln -s "$OUT/target.txt" "$PDATA/link.txt"
ln -s /proc/self/cwd "$PDATA/proc"
touch "$T/peer.go"
wait "$ppid" || true
sed 's/^/   /' "$T/peer.out"
check "every ITEM, OP and READ through a link failed (none OK), with BAD_NAME" \
	bash -c '! grep -v planted.txt "$1" | grep -qE ": (stage [0-9] )?(OK|PROTOCOL) " &&
		(($(grep -c BAD_NAME "$1") == 15))' _ "$T/peer.out"
check "... and the renamed file stayed in the store" grep -qx first "$PDATA/first.txt"
check "an item whose tmp/ .part and .rec were links to outside files is stored" \
	grep -q "item planted.txt: stage 2 OK" "$T/peer.out"
check "... as a regular file in the store, bit-exact" grep -qx planted "$PDATA/planted.txt"
check "... and the link targets outside are untouched (size, mode, content)" \
	test "$(outside_state)" = "$outside_before"

note "the client writes through the planted links"
for d in evil up proc; do
	check "mkdir $d in the outbox fails (the server finds a symlink)" \
		bash -c '! mkdir "$1" 2>/dev/null' _ "$T/cli/$d"
done
check "cp to link.txt works: it replaces the link itself" cp "$T/x.txt" "$T/cli/link.txt"
check "... which is now a regular file in the store" test -f "$DATA/link.txt" -a ! -L "$DATA/link.txt"

note "the view shows the links as links; braidfsd never goes through them"
# A path through a symlink never reaches braidfsd: the reader's kernel
# resolves the text readlink gives, on the reader's side (braidfsd(8)).
assert_eq "$OUT" "$(readlink "$SESS/evil" 2>&1)" "readlink of evil in the view gives the planted text"
check "up in the view is a symlink" test -L "$SESS/up"
check "rm of evil in the view removes the link" rm "$SESS/evil"
check "... from the store, not its target" test ! -L "$DATA/evil" -a -d "$OUT"

note "nothing left the store"
assert_eq "target.txt" "$(ls -A "$OUT")" "the outside directory holds only its target.txt"
assert_eq "$target_before" "$(stat -c '%s %Y' "$OUT/target.txt")-$(sha256sum <"$OUT/target.txt")" \
	"the link's target is untouched"
# where the links lead: $OUT, $T (up), the server's working directory (proc)
stray=$(find "$T" "$SCWD" -maxdepth 2 \( -name x -o -name d -o -name r -o -name sub \) \
	-newer "$T/x.txt" ! -path "$T/store/*" ! -path "$T/cli/*" ! -path "$T/srv/*" 2>/dev/null | head -n 5 || true)
assert_eq "" "$stray" "nothing the peer sent exists where the links lead (outside the store)"
grep -m 3 -E "Too many levels of symbolic links|symbolic" "$SLOG" | sed 's/^/     /' || true
check "a normal file still arrives" cp "$T/x.txt" "$T/cli/last.txt"
check "... bit-exact" cmp "$T/x.txt" "$SESS/last.txt"

note "links, a FIFO and a hard link in tmp/ and a session file, read at start-up"
stop_daemon client
stop_daemon server
for f in verdicts ops max_id; do
	printf 'outside %s\n' "$f" >"$OUT2/$f.target"
	chmod 600 "$OUT2/$f.target"
done
rm -f "$PTMP/verdicts" "$PTMP/ops" "$PTMP/max_id"
ln -s "$OUT2/verdicts.target" "$PTMP/verdicts"
ln "$OUT2/ops.target" "$PTMP/ops"
mkfifo "$PTMP/max_id"
printf '[session]\nid=%s\ntoken=%s\nlabel=SECRET-FROM-OUTSIDE\nstarted=1700000000\n' \
	"$(printf 'ab%.0s' {1..16})" "$(printf 'cd%.0s' {1..16})" >"$OUT2/secret.target"
chmod 600 "$OUT2/secret.target"
FAKE=$T/store/20240101-000000-planted-abababab
mkdir -p "$FAKE/data" "$FAKE/tmp"
ln -s "$OUT2/secret.target" "$FAKE/session"
# a copy of a real session, other id, its directory group-writable
GRP=$T/store/20240101-000000-groupw-efefefef
cp -a "$T/store/$(basename "$SESS")" "$GRP"
sed -i "s/^id=.*/id=$(printf 'ef%.0s' {1..16})/" "$GRP/session"
chmod 770 "$GRP"
outside_before=$(outside_state)
start_server server "$T/srv" "$T/store"
SLOG=$(daemon_log server)
check "the server restarts (a FIFO in tmp/ does not block it) and shows the peer's session" \
	test -f "$PEER/planted.txt"
check "... a session whose session file is a link is not loaded" \
	bash -c '! ls "$1" | grep -q planted-abababab' _ "$T/srv"
check "... nor one whose directory is group-writable" \
	bash -c '! ls "$1" | grep -q groupw-efefefef' _ "$T/srv"
check "... which the log says, with what to do" grep -q "writable by group or others.*chmod go-w" "$SLOG"
check "... no .session shows the outside file's text" \
	bash -c '! cat "$1"/*/.session | grep -q SECRET-FROM-OUTSIDE' _ "$T/srv"
start_client client "$T/cli" label=links2
check "a file arrives in a new session" cp "$T/x.txt" "$T/cli/again.txt"
stop_daemon client
stop_daemon server
check "nothing outside changed: the link targets of verdicts, ops, max_id" \
	test "$(outside_state)" = "$outside_before"

note "a store open to others, or someone else's, is refused"
refused_store() {
	local what=$1 dir=$2 want=$3 rc=0
	mkdir -p "$T/mnt-$what"
	timeout "$(tmo 20)" "$BRAIDFSD" "$T/mnt-$what" -f \
		-o "store=$dir,listen=127.0.0.1:$(free_port)" >"$T/$what.out" 2>&1 || rc=$?
	sed 's/^/   | /' "$T/$what.out"
	check "braidfsd refuses a store $what (exit $rc, not mounted)" \
		test "$rc" -ne 0 -a "$rc" -ne 124
	check "... and says why and what to do" grep -q "$want" "$T/$what.out"
}
mkdir -m 0777 "$T/store-open"
refused_store "writable by others" "$T/store-open" "is writable by group or others (mode 0777).*chmod go-w"
mkdir -m 0700 "$T/store-nobody"
chown nobody "$T/store-nobody"
refused_store "of another user" "$T/store-nobody" "belongs to uid $(id -u nobody), not to braidfsd's user"

finish
