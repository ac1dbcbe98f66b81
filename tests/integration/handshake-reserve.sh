#!/usr/bin/env bash
# handshake-reserve.sh: idle connections that fill braidfsd's handshake
# slots do not lock a known client out. braidfsd with max_handshakes=4,
# max_handshakes_per_addr=4, handshake_timeout=60; a protocol peer:
#  1. makes a session from 127.0.0.1 (its token is known);
#  2. fills the 4 slots with idle connections from 127.0.2.1, and waits
#     until a 5th idle one (127.0.2.2) is closed by the server;
#  3. then, while the 4 still hold the slots:
#     - an ATTACH of a second path with the session's token, from
#       127.0.0.1, is taken (WELCOME OK) on a reserve seat;
#     - a HELLO NEW from 127.0.2.3 is refused with WELCOME LIMIT (a
#       reserve seat takes only attaches);
#     - an ATTACH with a wrong token from 127.0.2.4 is refused (AUTH);
#  4. the attached path works (PING/PONG).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
start_server server "$T/srv" "$T/store" max_handshakes=4 max_handshakes_per_addr=4 \
	handshake_timeout=60
cat >"$T/peer.py" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[1])
import hostile_peer as h
h.HOST, h.PORT = "127.0.0.1", int(sys.argv[2])

def try_(what, fn):
    try:
        print("%s: %s" % (what, fn()), flush=True)
    except Exception as e:      # noqa: BLE001
        print("%s: failed: %s: %s" % (what, type(e).__name__, e), flush=True)

p = h.Peer("reserve", hostile=False, src="127.0.0.1")
sid, token = p.new_session("reserve")
idle = [h.connect("127.0.2.1") for _ in range(4)]
probe = h.Peer("probe", hostile=False, src="127.0.2.2")
closed, _ = probe.closed_within(30)
print("a 5th idle connection closed by the server: %s" % closed, flush=True)

def attach():
    q = h.Peer("attach", hostile=False, src="127.0.0.1")
    q.attach(sid, token, index=1)
    q.send(h.ping(7))
    q.expect(h.PONG, "PONG")
    return "OK, PONG"
try_("attach with the token", attach)

def new():
    q = h.Peer("new", hostile=False, src="127.0.2.3")
    q.preface()
    st, _, _, msg = q.hello(h.NEW, label="x")
    return "%s (%s)" % (h.st_name(st), msg)
try_("new session", new)

def wrong():
    q = h.Peer("wrong", hostile=False, src="127.0.2.4")
    q.preface()
    st, _, _, msg = q.hello(h.ATTACH, sid, bytes(16), path_index=2)
    return "%s (%s)" % (h.st_name(st), msg)
try_("attach with a wrong token", wrong)
still = 0
for s in idle:
    s.setblocking(False)
    try:
        still += s.recv(1) != b""
    except BlockingIOError:
        still += 1
    except OSError:
        pass
print("idle connections still held: %d" % still, flush=True)
for s in idle:
    s.close()
PY
check "the peer runs" run_t 90 python3 "$T/peer.py" "$LIB_DIR" "$PORT" >"$T/peer.out" 2>&1
sed 's/^/   /' "$T/peer.out"
check "the slots were full: a 5th idle connection was closed" \
	grep -q "^a 5th idle connection closed by the server: True" "$T/peer.out"
check "the 4 idle connections still held their slots afterwards" \
	grep -q "^idle connections still held: 4" "$T/peer.out"
check "an ATTACH with the session's token is taken, and its path works" \
	grep -q "^attach with the token: OK, PONG" "$T/peer.out"
check "a HELLO NEW is refused with LIMIT" grep -q "^new session: LIMIT (too many connections in the handshake" "$T/peer.out"
check "an ATTACH with a wrong token is refused" grep -q "^attach with a wrong token: AUTH" "$T/peer.out"

finish
