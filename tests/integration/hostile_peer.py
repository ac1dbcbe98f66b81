#!/usr/bin/env python3
"""hostile_peer.py: a hostile braidfs client, for tests/integration/hostile.sh.

Speaks the wire protocol of man/braidfs-protocol.7 (bfwire.py: a second
implementation, checked against the man page's EXAMPLE and against the
project's codec by test_bfwire.py) to a running braidfsd and sends it one
violation per connection. Every answer is decoded as strictly as braidfsd
decodes what it receives.
For each case it checks the answer the man page gives (ERROR with the right
status, WELCOME with an error status, or a silent close), that the
connection is closed after it, and that the server still answers a fresh
path afterwards (ATTACH to a control session + PING/PONG).

usage: hostile_peer.py HOST PORT SERVER_MOUNT LEGIT_SESSION_FILE SERVER_PID
                       RESULTS PORTS

RESULTS gets one line per check: "PASS<TAB>what" or "FAIL<TAB>what<TAB>why"
(hostile.sh counts them). PORTS gets "case<TAB>addr:port addr:port ...": the
local ends of each case's connections, which the server names in its log
lines. Exit status 0 unless the script itself broke.

Each case connects from its own loopback address (127.0.1.N), as hostile
peers on other hosts would: braidfsd limits connections in the handshake
and handshakes per second per source address (the legitimate client is
127.0.0.1). The cases on those limits (handshake-cap, attach-rate, the 500
idle connections) come from their own addresses on purpose.
"""

import hashlib
import os
import select
import socket
import struct
import sys
import threading
import time

# ---------------------------------------------------------------- protocol

# The frames are bfwire.py's (checked there against the man page's EXAMPLE,
# and by test_bfwire.py against src/core/wire.c). Its names are this
# module's too, as the other peers and the tests' inline scripts use them
# (hp.chunk, hp.OK, ...); AUTH here is the status 9, as it always was in
# this module (bfwire.AUTH is the frame type, bfwire.AUTH_FAILED the status).
from bfwire import (  # noqa: E402,F401
    ATTACH, BAD_NAME, BLAKE2B, BODY_MAX, CANCEL, CHUNK, CHUNK_ACK, CORRUPT,
    ERROR, EXISTS, FLAG_SEALED, FRAME_NAMES, HDR, HELLO, IO, ITEM_ACK,
    ITEM_CLOSE, ITEM_OPEN, LIMIT, MAGIC, MKDIR, NEW, NO_SPACE, NOT_EMPTY,
    NOT_FOUND, OK, OP, OP_ACK, OPENED, PING, PONG, PREFACE, PROTOCOL,
    PROTOCOL_VERSION, PROTOCOL_VERSION_MIN, RENAME, RMDIR, SETATTR, SHA256, SHAMIR, RS, ST, STORED,
    STRIPE, TLV_LABEL, TLV_NONCE, TLV_PATH_INDEX, TLV_PROOF, TOO_BIG, UNLINK,
    VERSION, WELCOME, WireError, chunk, chunk_ack, crc32c, decode, error,
    fname, frame, hello, item_ack, item_close, item_open, op, op_ack, ping,
    pong, self_test, st_name, tlv, welcome)
from bfwire import AUTH_FAILED as AUTH  # noqa: E402


def text(b):
    """A message from the wire, for our output (valid UTF-8 once decoded)."""
    return b.decode("utf-8", "replace")

# ---------------------------------------------------------------- harness

HOST = PORT = None
SRV_MOUNT = LEGIT_FILE = None
SERVER_PID = 0
RESULTS = []
PORTS = {}
LOCK = threading.Lock()


def result(ok, what, why=""):
    with LOCK:
        RESULTS.append((ok, what, why))
    if ok:
        print("PASS: %s" % what, flush=True)
    else:
        print("FAIL: %s: %s" % (what, why), flush=True)
    return ok


def info(msg):
    print("   " + msg, flush=True)


class Closed(Exception):
    """The server closed the connection (FIN or RST)."""


SRCS = {}


def src_for(case):
    """The loopback address a case connects from: its own."""
    with LOCK:
        if case not in SRCS:
            SRCS[case] = "127.0.1.%d" % (len(SRCS) + 1)
        return SRCS[case]


def connect(src, timeout=10.0):
    return socket.create_connection((HOST, PORT), timeout=timeout,
                                    source_address=(src, 0))


def local_end(s):
    a, port = s.getsockname()[:2]
    return "%s:%d" % (a, port)


class Peer:
    def __init__(self, case, timeout=10.0, hostile=True, src=None):
        self.case = case
        self.s = connect(src or src_for(case), timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self.s.getsockname()[1]
        if hostile:     # its violation must show in the server log
            with LOCK:
                PORTS.setdefault(case, []).append(local_end(self.s))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n, timeout=10.0):
        self.s.settimeout(timeout)
        while len(self.buf) < n:
            try:
                d = self.s.recv(max(65536, n - len(self.buf)))
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                raise Closed("closed after %d of %d bytes" % (len(self.buf), n))
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self, timeout=10.0):
        hdr = self.recv_exact(6, timeout)
        n, t, f = HDR.unpack(hdr)
        if n > BODY_MAX:
            raise AssertionError("server sent a %d-byte body" % n)
        return t, f, self.recv_exact(n, timeout)

    def closed_within(self, secs):
        """True when the server closes the connection within secs, after
        sending nothing more than what is buffered."""
        deadline = time.monotonic() + secs
        got = self.buf
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, got
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False, got
            except (ConnectionResetError, BrokenPipeError):
                return True, got
            if not d:
                return True, got
            got += d

    def preface(self):
        self.send(PREFACE)
        got = self.recv_exact(8)
        if got != PREFACE:
            raise AssertionError("server preface %r" % got)

    def hello(self, *args, **kw):
        self.send(hello(*args, **kw))
        return self.hello_raw_answer()

    def msg(self, timeout=10.0):
        """The next frame, decoded (bfwire.Msg); WireError if malformed."""
        t, f, body = self.frame(timeout)
        return decode(t, body, f)

    def hello_raw_answer(self):
        """The answer to a HELLO: (status, sid, token, msg) of a WELCOME."""
        m = self.msg()
        if m.type == ERROR:
            raise AssertionError("got ERROR %s \"%s\"" % (
                st_name(m.status), text(m.message)))
        if m.type != WELCOME:
            raise AssertionError("got %s" % fname(m.type))
        return m.status, m.session_id, m.token, text(m.message)

    def new_session(self, label):
        self.preface()
        status, sid, token, msg = self.hello(NEW, label=label)
        if status != OK:
            raise AssertionError("HELLO NEW refused: %s %s" % (st_name(status), msg))
        return sid, token

    def attach(self, sid, token, index=1):
        self.preface()
        status, _, _, msg = self.hello(ATTACH, sid, token, path_index=index)
        if status != OK:
            raise AssertionError("HELLO ATTACH refused: %s %s" % (st_name(status), msg))

    @staticmethod
    def _want(m, ftype, what):
        if m.type == ERROR and ftype != ERROR:
            raise AssertionError("%s: expected %s, got ERROR %s: %s" % (
                what, fname(ftype), st_name(m.status), text(m.message)))
        if m.type != ftype:
            raise AssertionError("%s: expected %s, got %s" % (what, fname(ftype), fname(m.type)))
        return m

    def expect_msg(self, ftype, what):
        """The next frame, decoded, which must be of type ftype."""
        return self._want(self.msg(), ftype, what)

    def expect(self, ftype, what):
        """The body of the next frame, which must decode as type ftype."""
        t, f, body = self.frame()
        self._want(decode(t, body, f), ftype, what)
        return body

    def item_ack(self, what):
        m = self.expect_msg(ITEM_ACK, what)
        return m.item_id, m.stage, m.status, text(m.message)

    def chunk_ack(self, what):
        m = self.expect_msg(CHUNK_ACK, what)
        return m.item_id, m.chunk_id, m.share_index

    def op_ack(self, what):
        m = self.expect_msg(OP_ACK, what)
        return m.op_id, m.status, text(m.message)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def expect_error(p, want, what, close_secs=5.0):
    """The next frame is ERROR with status want, then the server closes."""
    try:
        m = p.msg(timeout=10.0)
    except Closed as e:
        return result(False, what, "connection closed without an ERROR frame "
                      "(spec: ERROR %s) [%s]" % (st_name(want), e))
    except socket.timeout:
        return result(False, what, "no answer within 10 s (spec: ERROR %s)" % st_name(want))
    except WireError as e:
        return result(False, what, "malformed answer: %s (spec: ERROR %s)" % (e, st_name(want)))
    if m.type != ERROR:
        return result(False, what, "got %s, spec: ERROR %s" % (fname(m.type), st_name(want)))
    st, msg = m.status, text(m.message)
    info("%s: ERROR %s \"%s\"" % (what, st_name(st), msg))
    ok = result(st == want, what + ": ERROR status " + st_name(want),
                "got ERROR %s \"%s\"" % (st_name(st), msg))
    ok &= result(len(msg) > 0, what + ": ERROR message names the problem",
                 "empty message")
    closed, extra = p.closed_within(close_secs)
    ok &= result(closed and not extra, what + ": connection closed after the ERROR",
                 "still open after %.0f s" % close_secs if not closed else
                 "%d more bytes after the ERROR" % len(extra))
    p.close()
    return ok


def expect_welcome_refused(p, want, what):
    try:
        status, sid, token, msg = p.hello_raw_answer()
    except Closed as e:
        return result(False, what, "closed without WELCOME (spec: WELCOME %s) [%s]"
                      % (st_name(want), e))
    except AssertionError as e:
        return result(False, what, str(e) + " (spec: WELCOME %s)" % st_name(want))
    info("%s: WELCOME %s \"%s\"" % (what, st_name(status), msg))
    ok = result(status == want, what + ": WELCOME status " + st_name(want),
                "got WELCOME %s \"%s\"" % (st_name(status), msg))
    ok &= result(sid == bytes(16) and token == bytes(16),
                 what + ": session id and token are zero in the refusal",
                 "sid %s token %s" % (sid.hex(), token.hex()))
    closed, extra = p.closed_within(5.0)
    ok &= result(closed and not extra, what + ": connection closed after the refusal",
                 "still open after 5 s" if not closed else "%d more bytes" % len(extra))
    p.close()
    return ok




def server_alive():
    try:
        with open("/proc/%d/stat" % SERVER_PID) as f:
            st = f.read()
    except OSError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


CONTROL = {}   # sid, token of the control session, for probes
PROBE_N = [0]


def probe(case):
    """The server is alive and answers a new path: ATTACH + PING/PONG."""
    what = case + ": server still alive and answering"
    if not server_alive():
        return result(False, what, "braidfsd (pid %d) is gone" % SERVER_PID)
    PROBE_N[0] += 1
    opaque = 0x5EED000000000000 | PROBE_N[0]
    p = None
    try:
        p = Peer("probe", hostile=False)   # its own address, like every case
        p.attach(CONTROL["sid"], CONTROL["token"], index=40)
        p.send(ping(opaque))
        ok = p.expect_msg(PONG, "PING").opaque == opaque
        return result(ok, what, "PONG carries another value")
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        return result(False, what, "%s: %s" % (type(e).__name__, e))
    finally:
        if p:
            p.close()


def wait_answering(secs):
    """Until the server completes a new path's handshake again (an ATTACH
    to the control session and a PING), at most secs: a case that held the
    server's handshake slots or descriptors waits here for it to notice
    they are gone, however long that takes on this machine. The probe
    after the case then checks it."""
    deadline = time.monotonic() + secs
    while True:
        p = None
        try:
            p = Peer("probe", hostile=False)
            p.attach(CONTROL["sid"], CONTROL["token"], index=40)
            p.send(ping(1))
            p.expect_msg(PONG, "PING")
            return True
        except Exception:  # noqa: BLE001 - not yet: try again
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        finally:
            if p:
                p.close()


def run_case(name, fn):
    print("== case: %s" % name, flush=True)
    try:
        fn(name)
    except Exception as e:  # noqa: BLE001
        result(False, name, "unexpected: %s: %s" % (type(e).__name__, e))
    probe(name)


def session_dir(sid):
    suffix = "-" + sid.hex()[:8]
    for d in os.listdir(SRV_MOUNT):
        if d.endswith(suffix):
            return os.path.join(SRV_MOUNT, d)
    return None


def wait_path(path, present, secs=3.0):
    deadline = time.monotonic() + secs
    while True:
        if os.path.exists(path) == present:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# ---------------------------------------------------------------- cases

def c_repeats(case):
    """What a client sends again after losing a path is answered, never run
    twice: ITEM_OPEN and ITEM_CLOSE of a stored item, an OP by its op_id,
    and an ATTACH with the index of a live path replaces that path."""
    a = Peer(case, hostile=False)
    sid, token = a.new_session("hostile-repeats")
    open_item(a, 1, "rep.bin", "ITEM_OPEN")
    data = os.urandom(3000)
    a.send(chunk(1, 0, 1, data))
    result(a.chunk_ack("CHUNK 0") == (1, 0, 0), case + ": chunk acknowledged", "")
    a.send(item_close(1, 1, len(data), hashlib.sha256(data).digest()))
    iid, stage, st, msg = a.item_ack("ITEM_CLOSE")
    result((stage, st) == (STORED, OK), case + ": stored", "%s %s" % (st_name(st), msg))
    a.send(item_open(1, "rep.bin", chunk_size=4096))
    iid, stage, st, msg = a.item_ack("ITEM_OPEN again")
    result((iid, stage, st) == (1, STORED, OK),
           case + ": ITEM_OPEN of a stored item answered STORED OK again",
           "%d/%d %s %s" % (iid, stage, st_name(st), msg))
    b = Peer(case, hostile=False)
    b.attach(sid, token, index=1)
    b.send(item_close(1, 1, len(data), hashlib.sha256(data).digest()))
    iid, stage, st, msg = b.item_ack("ITEM_CLOSE again on another path")
    result((iid, stage, st) == (1, STORED, OK),
           case + ": ITEM_CLOSE repeated on another path answered STORED OK", "")
    a.send(op(5, MKDIR, "d", mode=0o755))
    result(a.op_ack("MKDIR")[:2] == (5, OK), case + ": MKDIR done", "")
    a.send(op(6, RMDIR, "d"))
    result(a.op_ack("RMDIR")[:2] == (6, OK), case + ": RMDIR done", "")
    a.send(op(6, RMDIR, "d"))
    oid, st, msg = a.op_ack("RMDIR again")
    result((oid, st) == (6, OK),
           case + ": repeated RMDIR answered OK from memory (not NOT_FOUND)",
           "%s %s" % (st_name(st), msg))
    a.send(op(5, MKDIR, "d", mode=0o755))
    result(a.op_ack("MKDIR again")[:2] == (5, OK), case + ": repeated MKDIR answered OK", "")
    sdir = session_dir(sid)
    result(sdir is not None and not os.path.exists(os.path.join(sdir, "d")),
           case + ": the repeated MKDIR was not run again (no directory d)", "")
    result(sdir is not None and open(os.path.join(sdir, "rep.bin"), "rb").read() == data,
           case + ": rep.bin stored once, intact", "")
    c = Peer(case, hostile=False)
    c.attach(sid, token, index=1)
    closed, _ = b.closed_within(5.0)
    result(closed, case + ": an ATTACH with the index of a live path closes the old one", "")
    c.send(ping(77))
    t, _, body = c.frame()
    result(t == PONG, case + ": the new path works", fname(t))
    for p in (a, b, c):
        p.close()


def c_control(case):
    """A correct item (the encoder works), then one with a wrong digest."""
    p = Peer(case, hostile=False)
    sid, token = p.new_session("hostile-control")
    result(sid != bytes(16) and token != bytes(16),
           case + ": WELCOME OK with a session id and a token", "zero id or token")
    CONTROL.update(sid=sid, token=token, peer=p)
    data = os.urandom(10000)     # 3 chunks of 4096: 4096, 4096, 1808
    parts = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    p.send(item_open(1, "good.bin", chunk_size=4096, mode=0o600))
    iid, stage, st, msg = p.item_ack("ITEM_OPEN good.bin")
    result((iid, stage, st) == (1, OPENED, OK), case + ": ITEM_ACK OPENED OK",
           "item %d stage %d %s %s" % (iid, stage, st_name(st), msg))
    for cid, total in ((2, 3), (0, 0), (1, 3), (0, 3)):   # last one: identical resend
        p.send(chunk(1, cid, total, parts[cid]))
        ack = p.chunk_ack("CHUNK %d" % cid)
        result(ack == (1, cid, 0), case + ": CHUNK_ACK for chunk %d" % cid, repr(ack))
    p.send(item_close(1, 3, len(data), hashlib.sha256(data).digest(), mode=0o640,
                      mtime=(1700000000, 7)))
    iid, stage, st, msg = p.item_ack("ITEM_CLOSE good.bin")
    result((iid, stage, st) == (1, STORED, OK), case + ": ITEM_ACK STORED OK (status 0)",
           "item %d stage %d %s \"%s\"" % (iid, stage, st_name(st), msg))
    sd = session_dir(sid)
    result(sd is not None, case + ": session directory on the server mount",
           "no directory ending in %s" % sid.hex()[:8])
    if sd:
        path = os.path.join(sd, "good.bin")
        wait_path(path, True)
        try:
            with open(path, "rb") as f:
                got = f.read()
            stt = os.stat(path)
            result(got == data, case + ": good.bin on the server mount equals what was sent",
                   "%d bytes, differs" % len(got))
            result(stt.st_mode & 0o7777 == 0o640 and int(stt.st_mtime) == 1700000000,
                   case + ": good.bin has ITEM_CLOSE's mode and mtime",
                   "mode %o mtime %s" % (stt.st_mode & 0o7777, stt.st_mtime))
        except OSError as e:
            result(False, case + ": good.bin on the server mount", str(e))
    # the same with a wrong digest
    bad = os.urandom(5000)
    p.send(item_open(2, "bad.bin", chunk_size=4096))
    iid, stage, st, msg = p.item_ack("ITEM_OPEN bad.bin")
    result((iid, stage, st) == (2, OPENED, OK), case + ": bad.bin ITEM_ACK OPENED OK",
           "%s %s" % (st_name(st), msg))
    p.send(item_close(2, 2, len(bad), hashlib.sha256(bad + b"x").digest()))
    p.send(chunk(2, 0, 2, bad[:4096]))
    p.send(chunk(2, 1, 2, bad[4096:]))
    acks, stored = [], None
    for _ in range(3):
        m = p.msg()
        if m.type == CHUNK_ACK:
            acks.append(m.chunk_id)
        elif m.type == ITEM_ACK:
            stored = (m.item_id, m.stage, m.status, len(m.message), text(m.message))
        else:
            raise AssertionError("unexpected %s" % fname(m.type))
    result(sorted(acks) == [0, 1], case + ": bad.bin chunks acknowledged", repr(acks))
    result(stored is not None and stored[:3] == (2, STORED, CORRUPT),
           case + ": wrong digest -> ITEM_ACK STORED CORRUPT (5)", repr(stored))
    if stored:
        info("bad.bin: ITEM_ACK STORED %s \"%s\"" % (st_name(stored[2]), stored[4]))
    if sd:
        time.sleep(0.2)
        result(not os.path.exists(os.path.join(sd, "bad.bin")),
               case + ": bad.bin does not appear on the server mount", "it does")
    # a digest mismatch fails the item, not the path
    p.send(ping(42))
    result(p.expect_msg(PONG, "PING after CORRUPT").opaque == 42, case + ": path still open after the CORRUPT item",
           "bad PONG")


def c_garbage(case):
    for i, junk in enumerate((b"GARBAGE!", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")):
        p = Peer(case)
        p.send(junk)
        closed, got = p.closed_within(5.0)
        result(closed and got == b"", case + " #%d: closed without sending anything" % i,
               "still open after 5 s" if not closed else "server sent %r" % got[:32])
        p.close()


def c_version(case):
    # an older and a newer version than the server speaks
    for v in (PROTOCOL_VERSION_MIN - 1, PROTOCOL_VERSION + 1):
        what = "%s %d" % (case, v)
        p = Peer(case)
        p.send(MAGIC + bytes([v]))
        try:
            got = p.recv_exact(8, timeout=5.0)
        except (Closed, socket.timeout) as e:
            result(False, what + ": server answers with its own preface",
                   "closed/timed out without a preface [%s] (spec: preface, then "
                   "ERROR VERSION, then close)" % e)
            p.close()
            continue
        result(got == PREFACE, what + ": server answers with its own preface",
               repr(got))
        expect_error(p, VERSION, what)
    # an older version it still speaks: answered in that version
    what = "%s %d" % (case, PROTOCOL_VERSION_MIN)
    p = Peer(case)
    p.send(MAGIC + bytes([PROTOCOL_VERSION_MIN]))
    try:
        got = p.recv_exact(8, timeout=5.0)
    except (Closed, socket.timeout) as e:
        got = repr(e).encode()
    result(got == MAGIC + bytes([PROTOCOL_VERSION_MIN]),
           what + ": server answers with a preface of the client's version",
           repr(got))
    p.close()


def c_oversize(case):
    for n in (BODY_MAX + 1, 0xFFFFFFFF):
        p = Peer(case)
        p.new_session("hostile-big")
        p.send(HDR.pack(n, CHUNK, 0))     # the header only: no body follows
        expect_error(p, TOO_BIG, case + " (length %d)" % n)


def c_truncated(case):
    # after the handshake: a CHUNK header announcing 100 bytes, 10 sent
    p = Peer(case)
    p.new_session("hostile-trunc")
    p.send(HDR.pack(100, CHUNK, 0) + b"\0" * 10)
    p.s.shutdown(socket.SHUT_WR)
    closed, got = p.closed_within(5.0)
    result(closed, case + " (after handshake): server drops the connection",
           "still open after 5 s")
    if got:
        info("server sent %d bytes: %s" % (len(got), got[:64].hex()))
    p.close()
    # during the handshake: half a HELLO
    p = Peer(case)
    p.send(PREFACE)
    p.recv_exact(8)
    p.send(hello(NEW, label="x")[:20])
    p.s.shutdown(socket.SHUT_WR)
    closed, got = p.closed_within(5.0)
    result(closed, case + " (half a HELLO): server drops the connection",
           "still open after 5 s")
    p.close()


def open_item(p, item_id, name, what):
    p.send(item_open(item_id, name, chunk_size=4096))
    iid, stage, st, msg = p.item_ack(what)
    if (iid, stage, st) != (item_id, OPENED, OK):
        raise AssertionError("%s: ITEM_ACK %d/%d %s %s" % (what, iid, stage, st_name(st), msg))


def c_unknown_item(case):
    p = Peer(case)
    p.new_session("hostile-unknown")
    p.send(chunk(77, 0, 1, b"never opened"))
    expect_error(p, NOT_FOUND, case + " (CHUNK, fresh session)")
    p = Peer(case)
    p.new_session("hostile-unknown")
    p.send(item_close(88, 1, 5, bytes(32)))
    expect_error(p, NOT_FOUND, case + " (ITEM_CLOSE, fresh session)")
    # item ids increase within a session: 150 was never opened although 100
    # was, and an ITEM_OPEN with the reserved id 0 is a protocol error
    p = Peer(case)
    p.new_session("hostile-unknown")
    open_item(p, 100, "x100.bin", "ITEM_OPEN 100")
    p.send(chunk(150, 0, 1, b"never opened either"))
    expect_error(p, NOT_FOUND, case + " (CHUNK for id 150 after id 100 was opened)")
    # an ITEM_OPEN that goes back is a repeat (a client re-sends ITEM_OPEN
    # after losing a path): a repeat of an open item is answered OPENED
    # again; an id the session does not know refuses that item only
    p = Peer(case)
    p.new_session("hostile-unknown")
    open_item(p, 100, "y100.bin", "ITEM_OPEN 100")
    open_item(p, 100, "y100.bin", "ITEM_OPEN 100 again")
    p.send(item_open(50, "y50.bin"))
    iid, stage, st, msg = p.item_ack("ITEM_OPEN 50 after 100")
    result((iid, stage, st) == (50, OPENED, NOT_FOUND),
           case + ": ITEM_OPEN 50 after 100 refused as an item (ITEM_ACK NOT_FOUND)",
           "%d/%d %s %s" % (iid, stage, st_name(st), msg))
    p.send(chunk(100, 0, 1, b"the session goes on"))
    result(p.chunk_ack("CHUNK of item 100") == (100, 0, 0),
           case + ": the path goes on after the refused item", "")
    p = Peer(case)
    p.new_session("hostile-unknown")
    p.send(item_open(0, "zero.bin"))
    expect_error(p, PROTOCOL, case + " (ITEM_OPEN with the reserved id 0)")


def c_chunk_range(case):
    p = Peer(case)
    p.new_session("hostile-range")
    open_item(p, 1, "range.bin", "ITEM_OPEN")
    p.send(chunk(1, 3, 3, os.urandom(4096)))
    expect_error(p, PROTOCOL, case + " (chunk_id 3, total_chunks 3)")


def c_total_conflict(case):
    p = Peer(case)
    p.new_session("hostile-total")
    open_item(p, 1, "total.bin", "ITEM_OPEN")
    p.send(chunk(1, 0, 4, os.urandom(4096)))
    ack = p.chunk_ack("CHUNK 0 total 4")
    result(ack == (1, 0, 0), case + ": first chunk (total_chunks 4) acknowledged", repr(ack))
    p.send(chunk(1, 1, 5, os.urandom(4096)))
    expect_error(p, PROTOCOL, case + " (total_chunks 5 after 4)")


def c_dup_different(case):
    a = Peer(case, hostile=False)       # the well-behaved path
    sid, token = a.new_session("hostile-dup")
    open_item(a, 1, "dup.bin", "ITEM_OPEN")
    first = os.urandom(4096)
    a.send(chunk(1, 0, 2, first))
    result(a.chunk_ack("CHUNK 0") == (1, 0, 0), case + ": chunk 0 acknowledged", "")
    a.send(chunk(1, 0, 2, first))
    result(a.chunk_ack("CHUNK 0 again") == (1, 0, 0),
           case + ": identical resend acknowledged again", "")
    b = Peer(case)
    b.attach(sid, token, index=1)
    other = bytes(x ^ 0x5A for x in first)          # same length, other bytes
    b.send(chunk(1, 0, 2, other))                   # CRC correct for `other`
    expect_error(b, PROTOCOL, case + " (chunk 0 resent with other bytes, valid CRC)")
    # the session and its other path go on; the first bytes are kept
    last = os.urandom(100)
    a.send(chunk(1, 1, 2, last))
    result(a.chunk_ack("CHUNK 1") == (1, 1, 0), case + ": other path goes on", "")
    a.send(item_close(1, 2, 4196, hashlib.sha256(first + last).digest()))
    iid, stage, st, msg = a.item_ack("ITEM_CLOSE")
    result((stage, st) == (STORED, OK), case + ": item stored with the first chunk's bytes",
           "%s %s" % (st_name(st), msg))
    a.close()


def c_bad_crc(case):
    a = Peer(case, hostile=False)       # the well-behaved path
    sid, token = a.new_session("hostile-crc")
    open_item(a, 1, "crc.bin", "ITEM_OPEN")
    good = os.urandom(3000)
    b = Peer(case)
    b.attach(sid, token, index=1)
    b.send(chunk(1, 0, 1, bytes(x ^ 0xFF for x in good), crc=crc32c(good)))
    expect_error(b, CORRUPT, case + " (payload does not match crc32c)")
    b = Peer(case)
    b.attach(sid, token, index=2)
    b.send(chunk(1, 0, 1, good, crc=crc32c(good) ^ 1))
    expect_error(b, CORRUPT, case + " (crc32c off by one bit)")
    # the bad chunks were not written: the good one is new, not a resend
    a.send(chunk(1, 0, 1, good))
    result(a.chunk_ack("good CHUNK 0") == (1, 0, 0),
           case + ": the good chunk is accepted on the other path", "")
    a.send(item_close(1, 1, len(good), hashlib.sha256(good).digest()))
    iid, stage, st, msg = a.item_ack("ITEM_CLOSE")
    result((stage, st) == (STORED, OK), case + ": item stored from the good chunk",
           "%s %s" % (st_name(st), msg))
    sd = session_dir(sid)
    if sd:
        path = os.path.join(sd, "crc.bin")
        wait_path(path, True)
        try:
            with open(path, "rb") as f:
                result(f.read() == good, case + ": stored bytes are the good ones", "differ")
        except OSError as e:
            result(False, case + ": crc.bin on the server mount", str(e))
    a.close()


BAD_NAMES = ["../escape", "a/../../b", "/etc/passwd", "a//b"]


def c_names(case):
    for name in BAD_NAMES:
        tag = "%s %r" % (case, name)
        # ITEM_OPEN
        p = Peer(case)
        p.new_session("hostile-names")
        p.send(item_open(1, name, chunk_size=4096))
        t, _, body = p.frame()
        if t == ITEM_ACK and decode(t, body).status == OK:
            # accepted: finish the item, so that an escape would show on disk
            data = b"escaped\n"
            p.send(chunk(1, 0, 1, data))
            p.send(item_close(1, 1, len(data), hashlib.sha256(data).digest()))
            result(False, tag + " ITEM_OPEN: ERROR BAD_NAME", "server opened the item")
            p.close()
        else:
            p.buf = HDR.pack(len(body), t, 0) + body + p.buf
            expect_error(p, BAD_NAME, tag + " ITEM_OPEN")
        # OP MKDIR
        p = Peer(case)
        p.new_session("hostile-names")
        p.send(op(1, MKDIR, name, mode=0o755))
        expect_error(p, BAD_NAME, tag + " OP MKDIR")
        # OP RENAME of an existing directory to the bad name
        p = Peer(case)
        p.new_session("hostile-names")
        p.send(op(1, MKDIR, "ok", mode=0o755))
        oid, st, msg = p.op_ack("MKDIR ok")
        result(st == OK, tag + " MKDIR ok (setup)", "%s %s" % (st_name(st), msg))
        p.send(op(2, RENAME, "ok", name))
        expect_error(p, BAD_NAME, tag + " OP RENAME ok -> name")
        # OP RENAME from the bad name
        p = Peer(case)
        p.new_session("hostile-names")
        p.send(op(1, RENAME, name, "ok2"))
        expect_error(p, BAD_NAME, tag + " OP RENAME name -> ok2")


def legit_paths():
    try:
        with open(LEGIT_FILE) as f:
            kv = dict(l.split(": ", 1) for l in f.read().splitlines() if ": " in l)
        return kv
    except OSError as e:
        return {"error": str(e)}


def c_attach(case):
    p = Peer(case)
    p.preface()
    p.send(hello(ATTACH, os.urandom(16), os.urandom(16), path_index=1))
    expect_welcome_refused(p, AUTH, case + " (random session id)")
    before = legit_paths()
    sid_hex = before.get("id", "").strip()
    result(len(sid_hex) == 32, case + ": legitimate session id read from .session",
           repr(before))
    if len(sid_hex) != 32:
        return
    for what, tok in (("real id, random token", os.urandom(16)),
                      ("real id, zero token", bytes(16))):
        p = Peer(case)
        p.preface()
        p.send(hello(ATTACH, bytes.fromhex(sid_hex), tok, path_index=1))
        expect_welcome_refused(p, AUTH, case + " (%s)" % what)
    after = legit_paths()
    result(after.get("paths") == before.get("paths") and after.get("state") == "connected",
           case + ": legitimate session unaffected (paths %s, state %s)"
           % (before.get("paths"), before.get("state")),
           "after: paths %s state %s" % (after.get("paths"), after.get("state")))


def c_bad_hello(case):
    p = Peer(case)
    p.preface()
    p.send(hello(7, path_index=None))   # unknown kind
    expect_welcome_refused(p, PROTOCOL, case + " (HELLO kind 7)")
    p = Peer(case)
    p.preface()
    p.send(ping(1))
    expect_error(p, PROTOCOL, case + " (PING before HELLO)")


def c_sealed(case):
    p = Peer(case)
    p.new_session("hostile-sealed")
    p.send(ping(7, flags=FLAG_SEALED))
    expect_error(p, PROTOCOL, case + " (PING with flags 0x01)")
    p = Peer(case)
    p.new_session("hostile-sealed")
    p.send(ping(7, flags=0x80))
    expect_error(p, PROTOCOL, case + " (PING with flags 0x80)")
    p = Peer(case)
    p.new_session("hostile-sealed")
    p.send(frame(0x55, b"\0" * 8))
    expect_error(p, PROTOCOL, case + " (frame type 0x55)")


def server_end_closed(sock):
    """Whether the server has closed its end of our connection: in
    /proc/net/tcp it is gone (reset) or orphaned (inode 0: closed, with
    what it still has to send)."""
    def hexaddr(addr):
        a, port = addr[:2]
        return "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(a))[0], port)
    ours, theirs = hexaddr(sock.getsockname()), hexaddr(sock.getpeername())
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == theirs and fields[2] == ours:
                return fields[9] == "0"
    return True


def c_refused_close(case, ops=200):
    """A refused peer that is still sending gets its ERROR all the same. A
    socket closed with input unread is reset, and the reset destroys what
    the server has not sent yet: so the server reads (and drops) what
    follows the violation before it closes. The peer offers a small
    receive window and reads nothing until it has sent everything: OPs
    whose answers (about 1 KiB each: RMDIR of a missing directory with a
    long name) overflow its window many times, the violation (a CHUNK for
    an item never opened), and more bytes behind it; then it shuts its
    side, waits until the server has closed its end, and reads: every
    OP_ACK, the ERROR, then the end."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((src_for(case), 0))
    s.settimeout(10.0)
    s.connect((HOST, PORT))
    p = Peer.__new__(Peer)
    p.case, p.s, p.buf, p.port = case, s, b"", s.getsockname()[1]
    with LOCK:
        PORTS.setdefault(case, []).append(local_end(s))
    p.new_session("hostile-refused")
    long_name = lambda i: "/".join("r%03d" % i + "x" * 246 for _ in range(4))
    p.send(b"".join(op(i, RMDIR, long_name(i)) for i in range(1, ops + 1)) +
           chunk(77, 0, 1, b"never opened") + os.urandom(32 << 10))
    s.shutdown(socket.SHUT_WR)
    # the server is done with us (else a reset might come after we read)
    deadline = time.monotonic() + 30
    while not server_end_closed(s) and time.monotonic() < deadline:
        time.sleep(0.02)
    acks, err = 0, None
    what = case + ": every OP_ACK, then the ERROR, reach a peer that is still sending"
    try:
        while err is None:
            t, _, body = p.frame()
            if t == OP_ACK:
                acks += 1
            elif t == ERROR:
                err = struct.unpack(">B", body[:1])[0]
            else:
                raise AssertionError("got %s" % fname(t))
    except (Closed, AssertionError, socket.timeout) as e:
        result(False, what, "after %d of %d OP_ACKs: %s" % (acks, ops, e))
        p.close()
        return
    info("%s: %d OP_ACKs, then ERROR %s" % (case, acks, st_name(err)))
    result(acks == ops and err == NOT_FOUND, what,
           "%d of %d OP_ACKs, ERROR %s" % (acks, ops, st_name(err)))
    closed, extra = p.closed_within(5.0)
    result(closed and not extra, case + ": then the connection ends cleanly",
           "still open after 5 s" if not closed else "%d more bytes" % len(extra))
    p.close()


def c_late_chunk(case):
    """A CHUNK for an item that is no longer open is acknowledged and
    discarded."""
    for iid in (5, 1):
        p = Peer(case, hostile=False)   # no violation: no log line needed
        p.new_session("hostile-late")
        data = b"late chunk %d\n" % iid
        open_item(p, iid, "late%d.bin" % iid, "ITEM_OPEN %d" % iid)
        p.send(chunk(iid, 0, 1, data))
        p.chunk_ack("CHUNK")
        p.send(item_close(iid, 1, len(data), hashlib.sha256(data).digest()))
        _, stage, st, msg = p.item_ack("ITEM_CLOSE")
        result((stage, st) == (STORED, OK), "%s: item %d stored" % (case, iid),
               "%s %s" % (st_name(st), msg))
        p.send(chunk(iid, 0, 1, data))
        what = "%s: late CHUNK for stored item %d -> CHUNK_ACK" % (case, iid)
        try:
            m = p.msg()
        except Closed as e:
            result(False, what, "got close: %s" % e)
        else:
            if m.type == CHUNK_ACK:
                got = (m.item_id, m.chunk_id, m.share_index)
                result(got == (iid, 0, 0), what, repr(got))
            elif m.type == ERROR:
                result(False, what, "got ERROR %s \"%s\"" % (
                    st_name(m.status), text(m.message)))
            else:
                result(False, what, "got %s" % fname(m.type))
        p.close()


def server_rss_mib():
    with open("/proc/%d/status" % SERVER_PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def c_sparse_chunk_ids(case):
    """Memory stays bounded (DESIGN.md invariant 2): 16 items that each get
    one 4 KiB chunk with a chunk_id near the item size limit (64 KiB on
    the wire in all) must not cost the server hundreds of MiB."""
    p = Peer(case, hostile=False)       # valid frames: no log line needed
    p.new_session("hostile-sparse")
    before = server_rss_mib()
    high = (1 << 28) - 2      # below 1 TiB / 4096, the default item size limit
    answers = {}
    try:
        for iid in range(1, 17):
            p.send(item_open(iid, "sparse%d.bin" % iid, chunk_size=4096))
            p.send(chunk(iid, high, 0, b"s" * 4096))
            # OPENED, CHUNK_ACK, maybe STORED (a server may refuse the item
            # with TOO_BIG or LIMIT: fine, as long as memory stays bounded)
            while True:
                m = p.msg()
                if m.type == ITEM_ACK:
                    key = "%s %s" % ("OPENED" if m.stage == OPENED else "STORED",
                                     st_name(m.status))
                    answers[key] = answers.get(key, 0) + 1
                    if m.stage == OPENED and m.status != OK:
                        break
                elif m.type == CHUNK_ACK:
                    answers["CHUNK_ACK"] = answers.get("CHUNK_ACK", 0) + 1
                    break
                else:
                    raise AssertionError("got %s" % fname(m.type))
    except (Closed, AssertionError) as e:
        info("%s: the server ended the flood: %s" % (case, e))
    info("%s: answers %s" % (case, answers))
    after = server_rss_mib()
    info("%s: server RSS %d MiB -> %d MiB" % (case, before, after))
    result(after - before <= 128,
           case + ": server RSS grows by at most 128 MiB for 16 far-out chunks",
           "grew by %d MiB (%d -> %d)" % (after - before, before, after))
    p.close()


def fd_limit():
    with open("/proc/%d/limits" % SERVER_PID) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return 0


def c_open_items(case):
    """One session opening items without end must not starve the others:
    the spec's answer to too many open items is ITEM_ACK OPENED LIMIT."""
    limit = fd_limit()
    if not 0 < limit <= 65536:
        info("%s: skipped: the server's descriptor limit is %d" % (case, limit))
        return
    n = limit + 16
    victim = Peer(case, hostile=False)
    victim.new_session("hostile-victim")
    p = Peer(case, hostile=False)       # valid frames: no log line needed
    p.new_session("hostile-open-items")

    def flood():
        try:
            for iid in range(1, n + 1):
                p.send(item_open(iid, "open%d" % iid, chunk_size=4096))
        except OSError:
            pass
    th = threading.Thread(target=flood, daemon=True)
    th.start()
    refused = {}
    got = 0
    try:
        for _ in range(n):
            _, _, st, msg = p.item_ack("ITEM_OPEN")
            got += 1
            if st != OK:
                refused.setdefault(st, msg)
    except (Closed, socket.timeout, AssertionError) as e:
        info("%s: flood ended after %d answers: %s" % (case, got, e))
    th.join(10)
    info("%s: %d ITEM_OPENs answered (server descriptor limit %d), refusals: %s"
         % (case, got, limit, {st_name(k): v for k, v in refused.items()} or "none"))
    result(all(k == 8 for k in refused),     # LIMIT
           case + ": items over the server's limit are refused with LIMIT",
           "refused with %s" % ", ".join("%s \"%s\"" % (st_name(k), v)
                                        for k, v in refused.items()))
    # meanwhile, another session and a new path are served
    try:
        victim.send(item_open(1, "victim.bin", chunk_size=4096))
        _, _, st, msg = victim.item_ack("victim ITEM_OPEN")
        result(st == OK, case + ": another session can still open an item",
               "ITEM_ACK OPENED %s \"%s\"" % (st_name(st), msg))
    except Exception as e:  # noqa: BLE001
        result(False, case + ": another session can still open an item", str(e))
    try:
        q = Peer(case, hostile=False)
        q.new_session("hostile-victim2")
        result(True, case + ": a new session is accepted meanwhile", "")
        q.close()
    except Exception as e:  # noqa: BLE001
        result(False, case + ": a new session is accepted meanwhile", str(e))
    time.sleep(1.0)   # not a wait: the legitimate copies run into it too
    p.close()
    victim.close()
    wait_answering(30)   # the server frees the items of the closed session


# 500 idle connections (slowloris): runs in a thread while the other cases
# run, so the server has them all hanging while it answers everything else.
SLOW = {}
SLOW_READY = threading.Event()


def slowloris():
    try:
        _slowloris()
    except Exception as e:  # noqa: BLE001
        SLOW["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        SLOW_READY.set()


HANDSHAKE_TIMEOUT = 10.0    # braidfsd's, which hostile.sh keeps


def _slowloris(n=500, trickle=2, secs=30.0):
    """500 idle connections from one address: the server closes all but
    max_handshakes_per_addr at once and those at its handshake timeout.
    Watches them until all are closed (at most secs after the last opened);
    a connection closed before the handshake timeout could have fired was
    closed at once, however slow this machine."""
    case = "slowloris"
    socks, opened = [], []
    for i in range(n):
        try:
            s = connect(src_for(case))
        except OSError as e:
            SLOW["connect_error"] = "%d connected, then %s" % (i, e)
            break
        socks.append(s)
        opened.append(time.monotonic())
    with LOCK:
        PORTS[case] = [local_end(s) for s in socks]
    trick = []
    for i in range(trickle):
        s = connect(src_for("slowloris-trickle"))
        trick.append(s)
    with LOCK:
        PORTS["slowloris-trickle"] = [local_end(s) for s in trick]
    SLOW["opened"] = len(socks)
    SLOW_READY.set()
    SLOW["open_secs"] = opened[-1] - opened[0] if opened else 0
    closed_at = [None] * len(socks)
    talked = 0
    poller = select.poll()
    fdmap = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        poller.register(s.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        fdmap[s.fileno()] = i
    deadline = (opened[-1] if opened else time.monotonic()) + secs
    next_trickle, sent = time.monotonic(), 0
    while time.monotonic() < deadline and fdmap:
        if time.monotonic() >= next_trickle and sent < len(PREFACE):
            for s in trick:     # one preface byte every 3 s
                try:
                    s.send(PREFACE[sent:sent + 1])
                except OSError:
                    pass
            sent += 1
            next_trickle += 3.0
        for fd, _ in poller.poll(200):
            i = fdmap.get(fd)
            if i is None:
                continue
            try:
                d = socks[i].recv(64)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d:
                talked += 1
                continue
            closed_at[i] = time.monotonic()
            poller.unregister(fd)
            del fdmap[fd]
    delays = sorted(c - o for c, o in zip(closed_at, opened) if c is not None)
    SLOW["closed"] = len(delays)
    # The server's timer starts at its accept, after our connect returned:
    # no connection held until the timeout is seen closed before it.
    SLOW["at_once"] = sum(1 for d in delays if d < HANDSHAKE_TIMEOUT - 0.5)
    SLOW["held"] = len(socks) - SLOW["at_once"]
    SLOW["delays"] = delays
    SLOW["talked"] = talked
    tr = []
    for s in trick:
        s.setblocking(False)
        try:
            tr.append("closed" if s.recv(64) == b"" else "data")
        except BlockingIOError:
            tr.append("open")
        except OSError:
            tr.append("closed")
    SLOW["trickle"] = tr
    for s in socks + trick:
        s.close()


def slowloris_report():
    case = "slowloris"
    n = SLOW.get("opened", 0)
    if "error" in SLOW:
        result(False, case, "the slowloris thread failed: " + SLOW["error"])
    if "connect_error" in SLOW:
        info("slowloris: " + SLOW["connect_error"])
    result(n == 500, case + ": 500 idle connections accepted", "%d" % n)
    d = SLOW.get("delays", [])
    if d:
        info("slowloris: opened in %.1f s; %d closed by the server, after %.1f s (min) "
             "%.1f s (median) %.1f s (max)" % (SLOW["open_secs"], len(d), d[0],
                                               d[len(d) // 2], d[-1]))
    result(SLOW.get("closed", 0) == n,
           case + ": the server closed all of them (the held ones at its "
           "handshake timeout, 10 s)", "%d of %d" % (SLOW.get("closed", 0), n))
    held, at_once = SLOW.get("held", 0), SLOW.get("at_once", 0)
    info("slowloris: %d held until the handshake timeout, %d closed at once"
         % (held, at_once))
    result(0 < held <= PER_ADDR, case + ": from one address, at most "
           "max_handshakes_per_addr (%d) held in the handshake" % PER_ADDR,
           "%d held" % held)
    result(at_once >= n - PER_ADDR, case + ": the others closed at once",
           "%d of %d" % (at_once, n - PER_ADDR))
    result(SLOW.get("talked", 0) == 0, case + ": server sent nothing before a preface",
           "%d connections got bytes" % SLOW.get("talked", 0))
    info("slowloris: trickling connections (1 preface byte / 3 s), when the idle "
         "ones were closed: %s "
         "(informational: the spec sets no handshake deadline)"
         % ", ".join(SLOW.get("trickle", [])))


PER_ADDR = 8           # braidfsd's defaults, which hostile.sh keeps
MAX_HANDSHAKES = 64
MAX_NAME, MAX_DEPTH, MAX_CHUNK = 1024, 16, 4 << 20   # hostile.sh sets these


def c_handshake_cap(case, n=100):
    """Connections that say nothing, from n different addresses: at most
    max_handshakes are held in the handshake, the rest are closed at once,
    and the server still answers once they are gone."""
    socks = []
    first = time.monotonic()
    for i in range(n):
        socks.append(connect("127.0.3.%d" % (i + 1)))
    with LOCK:
        PORTS[case] = [local_end(s) for s in socks]
    for s in socks:
        s.setblocking(False)

    def count_held():
        held = 0
        for s in socks:
            try:
                closed = s.recv(64) == b""
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            held += not closed
        return held
    # Those over the cap are closed at once, the held ones only at the
    # handshake timeout (10 s after their accept): wait (at most 8 s) until
    # the server has closed as many as it must, then look at 5 s.
    while count_held() > MAX_HANDSHAKES and time.monotonic() < first + 8:
        time.sleep(0.05)
    if time.monotonic() < first + 5:
        time.sleep(first + 5 - time.monotonic())
    held = count_held()
    info("%s: %d of %d idle connections from %d addresses held %.1f s after "
         "the first" % (case, held, n, n, time.monotonic() - first))
    result(0 < held <= MAX_HANDSHAKES, case + ": at most max_handshakes (%d) "
           "connections held in the handshake" % MAX_HANDSHAKES, "%d held" % held)
    result(n - held >= n - MAX_HANDSHAKES, case + ": the others closed at once",
           "%d closed" % (n - held))
    for s in socks:
        s.close()
    wait_answering(30)   # the server sees them go and frees their slots


ATTACH_RATE, ATTACH_BURST, ATTACH_FAIL_COST = 20, 40, 5   # braidfsd's defaults


def c_attach_rate(case, n=60, most=300):
    """Guessing attach tokens from one address: each wrong guess costs
    ATTACH_FAIL_COST tokens of a bucket of ATTACH_BURST that refills
    ATTACH_RATE a second, so after a burst the server answers WELCOME LIMIT
    without looking at the token; every attempt is answered. The number of
    guesses that reach the token check is bounded by the time the guesses
    took, however long that was on this machine; n guesses at least, more
    (up to most) until some were refused, as the rate makes them."""
    sid_hex = legit_paths().get("id", "").strip()
    if len(sid_hex) != 32:
        result(False, case, "no legitimate session id")
        return
    before = legit_paths()
    answers = {}
    limit_msg = ""
    t0 = time.monotonic()
    i = 0
    while i < n or (i < most and not answers.get("LIMIT")):
        i += 1
        p = Peer(case, hostile=False)
        try:
            p.preface()
            status, _, _, msg = p.hello(ATTACH, bytes.fromhex(sid_hex),
                                        os.urandom(16), path_index=1)
            answers[st_name(status)] = answers.get(st_name(status), 0) + 1
            if status == 8:
                limit_msg = msg
        except Exception as e:  # noqa: BLE001
            answers["broken: %s" % e] = answers.get("broken: %s" % e, 0) + 1
        p.close()
    secs = time.monotonic() - t0
    n = i
    # tokens: the burst, what came in meanwhile, and the last guess may
    # overdraw by its extra cost
    bound = (ATTACH_BURST + ATTACH_RATE * secs + ATTACH_FAIL_COST - 1) / ATTACH_FAIL_COST
    info("%s: %d guessed tokens in %.2f s answered %s (at most %.1f AUTH by the "
         "rate); LIMIT says \"%s\"" % (case, n, secs, answers, bound, limit_msg))
    result(answers.get("AUTH", 0) + answers.get("LIMIT", 0) == n,
           case + ": every guess answered with WELCOME AUTH or LIMIT", str(answers))
    result(answers.get("LIMIT", 0) >= 1,
           case + ": guesses over the rate refused with LIMIT, the token unchecked",
           str(answers))
    result(0 < answers.get("AUTH", 0) <= bound,
           case + ": only as many guesses reach the token check as the rate "
           "allows in %.2f s (%d)" % (secs, int(bound)), str(answers))
    after = legit_paths()
    result(after.get("paths") == before.get("paths") and after.get("state") == "connected",
           case + ": legitimate session unaffected",
           "after: paths %s state %s" % (after.get("paths"), after.get("state")))


def c_limit_names(case):
    """Names and chunks within the protocol's limits but over the server's
    (max_name, max_depth, max_chunk): the item or OP is refused, the path
    stays; a frame over the server's max_chunk closes the path; before the
    handshake a frame over 64 KiB is refused."""
    p = Peer(case)
    p.new_session("hostile-limits")
    long_name = "/".join(c * 250 for c in "lmnop")     # 1254 bytes, 5 deep
    deep_name = "/".join("d%d" % i for i in range(MAX_DEPTH + 4))
    for iid, name, want, what in ((1, long_name, BAD_NAME, "name over max_name"),
                                  (2, deep_name, BAD_NAME, "name over max_depth")):
        p.send(item_open(iid, name, chunk_size=4096))
        _, stage, st, msg = p.item_ack(what)
        info("%s: %s: ITEM_ACK %s \"%s\"" % (case, what, st_name(st), msg))
        result(stage == OPENED and st == want,
               case + ": ITEM_OPEN with a %s: ITEM_ACK OPENED %s" % (what, st_name(want)),
               "stage %d %s \"%s\"" % (stage, st_name(st), msg))
    p.send(item_open(3, "big-chunks.bin", chunk_size=2 * MAX_CHUNK))
    _, stage, st, msg = p.item_ack("chunk_size over max_chunk")
    result(stage == OPENED and st == TOO_BIG,
           case + ": ITEM_OPEN with chunk_size over max_chunk: ITEM_ACK OPENED TOO_BIG",
           "stage %d %s \"%s\"" % (stage, st_name(st), msg))
    p.send(op(1, MKDIR, deep_name, mode=0o755))
    _, st, msg = p.op_ack("OP MKDIR over max_depth")
    result(st == BAD_NAME, case + ": OP MKDIR over max_depth: OP_ACK BAD_NAME",
           "%s \"%s\"" % (st_name(st), msg))
    p.send(ping(0x11))
    result(p.expect_msg(PONG, "PING after the refusals").opaque == 0x11,
           case + ": the path stays open after refusals by limit", "")
    p.send(HDR.pack(MAX_CHUNK + 4096, CHUNK, 0))
    expect_error(p, TOO_BIG, case + " (frame over max_chunk)")
    found = [d for d in os.listdir(SRV_MOUNT) if "hostile_limits" in d]
    left = [os.path.join(r, f) for d in found
            for r, ds, fs in os.walk(os.path.join(SRV_MOUNT, d))
            for f in ds + fs if f != ".session"]
    result(not left, case + ": nothing created by the refused items and OP",
           " ".join(left))
    p = Peer(case)
    p.send(PREFACE)
    p.recv_exact(8)
    p.send(HDR.pack(64 * 1024 + 1, HELLO, 0))
    expect_welcome_refused(p, PROTOCOL, case + " (HELLO over 64 KiB)")


def main():
    global HOST, PORT, SRV_MOUNT, LEGIT_FILE, SERVER_PID
    if len(sys.argv) != 8:
        print(__doc__, file=sys.stderr)
        return 2
    HOST, PORT = sys.argv[1], int(sys.argv[2])
    SRV_MOUNT, LEGIT_FILE, SERVER_PID = sys.argv[3], sys.argv[4], int(sys.argv[5])
    results_path, ports_path = sys.argv[6], sys.argv[7]
    self_test()
    t0 = time.monotonic()

    print("== case: control", flush=True)
    c_control("control")          # also sets up the probe session
    if not CONTROL:
        result(False, "control", "no control session: cannot go on")
    else:
        probe("control")
        th = threading.Thread(target=slowloris, daemon=True)
        th.start()
        # the other cases run while the 500 idle connections hang
        SLOW_READY.wait(60)
        info("slowloris: %s idle connections open after %.1f s"
             % (SLOW.get("opened"), time.monotonic() - t0))
        for name, fn in (("garbage-preface", c_garbage),
                         ("version-preface", c_version),
                         ("oversize-frame", c_oversize),
                         ("truncated-frame", c_truncated),
                         ("unknown-item", c_unknown_item),
                         ("chunk-id-range", c_chunk_range),
                         ("total-chunks-conflict", c_total_conflict),
                         ("duplicate-different", c_dup_different),
                         ("bad-crc", c_bad_crc),
                         ("bad-names", c_names),
                         ("attach", c_attach),
                         ("bad-hello", c_bad_hello),
                         ("sealed-frame", c_sealed),
                         ("late-chunk", c_late_chunk),
                         ("refused-close", c_refused_close),
                         ("repeats", c_repeats)):
            run_case(name, fn)
        info("other cases done after %.1f s; waiting for the slowloris thread"
             % (time.monotonic() - t0))
        th.join(60)
        if th.is_alive():
            result(False, "slowloris", "thread still running after 60 s")
        else:
            slowloris_report()
        probe("slowloris")
        # the admission limits, with nothing else in the handshake
        for name, fn in (("handshake-cap", c_handshake_cap),
                         ("attach-rate", c_attach_rate),
                         ("limit-names", c_limit_names)):
            run_case(name, fn)
        # resource exhaustion last: they may leave the server short of
        # memory or descriptors for a moment
        for name, fn in (("sparse-chunk-ids", c_sparse_chunk_ids),
                         ("open-items", c_open_items)):
            run_case(name, fn)
        CONTROL["peer"].close()

    with open(results_path, "w") as f:
        for ok, what, why in RESULTS:
            f.write("%s\t%s\t%s\n" % ("PASS" if ok else "FAIL",
                                      what.replace("\t", " ").replace("\n", " "),
                                      why.replace("\t", " ").replace("\n", " ")))
    with open(ports_path, "w") as f:
        for case, ports in PORTS.items():
            f.write("%s\t%s\n" % (case, " ".join(map(str, ports))))
    info("hostile_peer.py: %d checks, %d failed, %.1f s"
         % (len(RESULTS), sum(1 for r in RESULTS if not r[0]), time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
