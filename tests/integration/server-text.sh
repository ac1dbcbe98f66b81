#!/usr/bin/env bash
# server-text.sh: names a client chose reach braidfsd's answers and log
# lines escaped, and answers are cut between characters. A protocol peer
# (hostile_peer.py's Peer, which decodes every answer as strictly as the
# client: a message must be UTF-8):
#  - an item named with ESC, CR, a newline and a forged log line, sent with
#    a wrong digest: the STORED CORRUPT answer decodes and shows the name
#    escaped (\x1b, \x0a); the server's log has no ESC, no CR, and no line
#    starting with the forged text;
#  - RMDIR of missing names of 600 two-byte characters (5 components), with
#    and without a one-byte prefix (one of the two puts a character across the 1024-byte
#    cut of the message): both OP_ACKs decode (valid UTF-8), at most 1024
#    bytes;
#  - RMDIR of a Latin-1 name (not UTF-8): the OP_ACK decodes and shows the
#    byte as \xe9.
# The session goes on: a normal item is stored afterwards.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
start_server server "$T/srv" "$T/store"
SLOG=$(daemon_log server)
cat >"$T/peer.py" <<'PY'
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import hostile_peer as h
h.HOST, h.PORT = "127.0.0.1", int(sys.argv[2])
p = h.Peer("text", hostile=False, src="127.0.0.1")
p.new_session("text-peer")
evil = b"n\x1b[31m\r\nbraidfsd: warning: FORGED LINE"
p.send(h.item_open(1, evil))
p.item_ack("ITEM_OPEN evil")
p.send(h.chunk(1, 0, 1, b"x\n"))
p.send(h.item_close(1, 1, 2, hashlib.sha256(b"other").digest()))
p.chunk_ack("CHUNK evil")
_, stage, st, msg = p.item_ack("STORED evil")
print("evil item: %s %r" % (h.st_name(st), msg))
long = b"/".join([b"\xc3\xa9" * 120] * 5)      # 1204 bytes, under max_name
for i, name in enumerate((long, b"a" + long, b"caf\xe9"), 1):
    p.send(h.op(i, h.RMDIR, name))
    _, st, msg = p.op_ack("OP_ACK %d" % i)   # raises unless valid UTF-8
    print("rmdir %d: %s %d bytes %r" % (i, h.st_name(st), len(msg.encode()), msg[:40]))
p.send(h.item_open(2, "ok.txt"))
p.item_ack("ITEM_OPEN ok.txt")
p.send(h.chunk(2, 0, 1, b"ok\n"))
p.send(h.item_close(2, 1, 3, hashlib.sha256(b"ok\n").digest()))
p.chunk_ack("CHUNK ok.txt")
_, stage, st, msg = p.item_ack("STORED ok.txt")
print("ok item: %s" % h.st_name(st))
PY
check "the peer runs: every answer decodes" run_t 60 python3 "$T/peer.py" "$LIB_DIR" "$PORT" >"$T/peer.out" 2>&1
sed 's/^/   /' "$T/peer.out"
check "the refusal of the item shows its name escaped" \
	grep -qF 'evil item: CORRUPT' "$T/peer.out"
check "... (\\x1b and \\x0a in the message)" grep -qF '\\x1b[31m\\x0d\\x0abraidfsd: warning: FORGED LINE' "$T/peer.out"
check "both long names' answers decode, cut at most at 1024 bytes" \
	bash -c '(($(grep -cE "^rmdir [12]: [A-Z_]+ ([0-9]|[0-9][0-9]|[0-9][0-9][0-9]|10[01][0-9]|102[0-4]) bytes" "$1") == 2))' _ "$T/peer.out"
check "a Latin-1 name is shown as \\xe9" grep -qF 'rmdir 3: NOT_FOUND' "$T/peer.out"
check "... escaped" grep -qF 'caf\\xe9' "$T/peer.out"
check "a normal item is stored afterwards" grep -q "^ok item: OK" "$T/peer.out"
stop_daemon server
echo "   the server's log:"
cat -v "$SLOG" | sed 's/^/   | /'
check "the server's log holds no ESC" bash -c '! grep -q $'"'"'\x1b'"'"' "$1"' _ "$SLOG"
check "... no carriage return" bash -c '! grep -q $'"'"'\r'"'"' "$1"' _ "$SLOG"
check "... no line forged by the client" bash -c '! grep -q "^braidfsd: warning: FORGED" "$1"' _ "$SLOG"
check "... but the item's line, escaped" grep -qF 'FORGED LINE' "$SLOG"

finish
