#!/usr/bin/env python3
"""fake_server.py: a fake braidfsd that misbehaves, for tests of the client.

Speaks the server side of man/braidfs-protocol.7 (without a key) to a real
braidfs mount: sessions and attaches, ITEM_OPEN, CHUNK, ITEM_CLOSE, OP and
PING are answered as braidfsd answers them, and every chunk is checked (its
CRC-32C, and its bytes against the file the test wrote, --expect), every
item's digest too. Frames are packed and parsed by bfwire.py (the test
peers' wire module, held against the project's codec by test_bfwire.py):
every frame the client sends is decoded as strictly as braidfsd decodes it,
and one that is malformed is a failed check.

What it does wrong, one option each:

  --rcvbuf BYTES        small receive buffers, so that a chunk the server
                        does not read stays mostly in the client's memory
  --rate BYTES_PER_S    reads every connection at most this fast
  --withhold-stored     never answers ITEM_ACK STORED
  --withhold-op NAME    never answers OPs whose name ends with NAME
  --early-ack FLAG      acknowledges the first chunk of 1 MiB or more as
                        soon as its fixed fields arrive, then reads its
                        payload only once the file FLAG exists (the test
                        makes it when the client has written on)
  --failover-ops N,LOG,FLAG
                        does not read path 1 after its handshake; withholds
                        the OP_ACKs of the first N OPs whose name ends with
                        "/held" (on path 0), then closes path 0; once the
                        client's log LOG says path 0 was lost, answers
                        those OPs on path 1, then waits for FLAG (the test
                        makes it when every waiter has returned) and
                        starts reading path 1 again
  --stall-control FLAG  once FLAG exists, never reads again the connection
                        of path 0 (the client's first control path); a
                        path 0 that attaches anew is read as usual
  --evil-text           puts terminal escapes, a newline and a forged log
                        line in the message of WELCOME, and refuses OPs and
                        items whose name ends with "evil" (OP_ACK IO,
                        ITEM_ACK STORED IO) with such a message
  --bad-utf8-op NAME    answers OPs whose name ends with NAME with an OP_ACK
                        whose message is not UTF-8 (event "OP-BADUTF8 n")
  --trickle SECS        sends its preface and WELCOME one byte every SECS
                        seconds (each read of the client gets a byte in
                        time; the whole handshake takes minutes)
  --big-welcome         answers the HELLO with the header of an 8 MiB
                        WELCOME, then nothing
  --forge-stored NAME   answers items whose name ends with NAME with
                        ITEM_ACK STORED OK carrying a wrong proof (made
                        over an all-zero digest: what a forger who did not
                        see the ITEM_CLOSE would send); event
                        "STORED-FORGED name"

It writes "PASS<TAB>what" / "FAIL<TAB>what<TAB>why" lines to RESULTS and one
line per event to EVENTS ("OPEN name", "CLOSE name", "STORED name size",
"OP kind name", "EARLY-ACK ...", ...), which tests wait on.

usage: fake_server.py PORT RESULTS EVENTS [options]
"""

import argparse
import os
import secrets
import socket
import sys
import threading
import time

import bfwire as W
from bfwire import (CORRUPT as ST_CORRUPT, NOT_FOUND as ST_NOT_FOUND,
                    OK as ST_OK, OPENED as STAGE_OPENED, PROTOCOL as ST_PROTOCOL,
                    STORED as STAGE_STORED, chunk_ack, error, item_ack, op_ack)

OP_NAMES = {k: v.lower() for k, v in W.OP_NAMES.items()}
# What --evil-text puts in messages: a terminal title, a screen clear, a
# colour, and a newline followed by what looks like a log line of the client.
EVIL = (b"\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\r\n"
        b"braidfs: notice: FORGED LINE")
BAD_UTF8_OPS = [0]
INSTANCE = secrets.randbits(63) | 1

# ---------------------------------------------------------------- state

ARGS = None
LOCK = threading.Lock()
COND = threading.Condition(LOCK)
SESSIONS = {}          # sid -> token
ITEMS = {}             # item_id -> Item
HELD_OPS = []          # (op_id, name) withheld for --failover-ops
CONNS = {}             # path index -> the latest Conn with that index
EXPECT = {}            # item name -> bytes it must carry
OUT = {}
RELEASED = threading.Event()   # --failover-ops: path 1 is read again


class Item:
    def __init__(self, name, chunk_size):
        self.name = name
        self.chunk_size = chunk_size
        self.chunks = {}
        self.close = None          # (total, size, digest, digest_alg)
        self.verdict = None        # status of STORED once decided
        self.corrupt = False       # a chunk did not check
        self.sid = bytes(16)       # the session that opened it


def proof_for(item_id, it):
    """The honest proof of a stored item (no key: the plain hash), or
    with --forge-stored a wrong one for the items it names."""
    total, size, digest, alg = it.close
    if ARGS.forge_stored and it.name.endswith(ARGS.forge_stored):
        digest = bytes(32)
    return W.stored_proof(it.sid, item_id, size, alg, digest)


def report(ok, what, why=""):
    line = ("PASS\t%s\n" % what) if ok else ("FAIL\t%s\t%s\n" % (what, why))
    with LOCK:
        OUT["results"].write(line)
        OUT["results"].flush()
    print(line.rstrip("\n"), flush=True)


def event(text):
    with LOCK:
        OUT["events"].write(text + "\n")
        OUT["events"].flush()
    print("event: " + text, flush=True)


def wait_file(path, secs, what):
    deadline = time.monotonic() + secs
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            report(False, what, "%s did not appear within %d s" % (path, secs))
            return False
        time.sleep(0.02)
    return True


def wait_log(path, needle, secs, what):
    deadline = time.monotonic() + secs
    while True:
        try:
            with open(path, "rb") as f:
                if needle in f.read():
                    return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            report(False, what, "no %r in %s within %d s" % (needle, path, secs))
            return False
        time.sleep(0.02)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock):
        self.s = sock
        self.index = None
        self.sid = bytes(16)
        self.send_lock = threading.Lock()
        self.gate = threading.Event()   # cleared: nothing is read
        self.gate.set()
        self.budget = 0.0
        self.last = time.monotonic()

    def send(self, data):
        with self.send_lock:
            try:
                self.s.sendall(data)
            except OSError:
                pass

    def _recv_some(self, n):
        self.gate.wait()
        if ARGS.rate:
            # a token bucket of at most 16 KiB: never faster than --rate
            now = time.monotonic()
            self.budget = min(16384.0, self.budget + (now - self.last) * ARGS.rate)
            self.last = now
            if self.budget < 1024:
                time.sleep((1024 - self.budget) / ARGS.rate)
                return b""
            n = min(n, int(self.budget))
        d = self.s.recv(min(n, 1 << 20))
        if not d:
            raise Closed()
        self.budget -= len(d)
        return d

    def recv_exact(self, n):
        parts, got = [], 0
        while got < n:
            d = self._recv_some(n - got)
            parts.append(d)
            got += len(d)
        return b"".join(parts)

    def frame(self):
        """(type, body length) of the next frame's header."""
        try:
            n, t, f = W.parse_header(self.recv_exact(W.HDR_LEN))
        except W.WireError as e:
            malformed(self, "frame header", e)
        if f:
            malformed(self, W.fname(t), W.WireError("UNKNOWN", "flags 0x%02x" % f))
        return t, n

    def msg(self, t, body):
        """The frame, decoded; a malformed one fails the test's check."""
        try:
            return W.decode(t, body)
        except W.WireError as e:
            malformed(self, W.fname(t), e)


def malformed(c, what, e):
    """The client sent a frame braidfsd would refuse: answered as braidfsd
    answers it (ERROR, close), and a failed check."""
    report(False, "the client's %s is well-formed" % what, str(e))
    c.send(error(ST_PROTOCOL, "malformed %s" % what))
    raise Closed()


# ---------------------------------------------------------------- handling


def trickle(c, data):
    event("TRICKLE %d bytes" % len(data))
    for i in range(len(data)):
        c.send(data[i:i + 1])
        time.sleep(ARGS.trickle)


def handshake(c):
    got = c.recv_exact(8)
    preface = W.PREFACE
    if ARGS.version:
        # a server of another protocol version (the spec's Preface); a
        # client that speaks it too may come again in it
        if got[:7] != W.MAGIC:
            raise Closed()
        if got[7] != ARGS.version:
            c.send(W.MAGIC + bytes([ARGS.version]))
            c.send(W.error(W.VERSION, b"the client speaks another protocol"))
            event("VERSION %d" % ARGS.version)
            raise Closed()
        preface = got
        event("SPOKE %d" % got[7])
    elif got != W.PREFACE:
        raise Closed()
    if ARGS.trickle:
        trickle(c, preface)
    else:
        c.send(preface)
    t, n = c.frame()
    if t != W.HELLO:
        raise Closed()
    m = c.msg(t, c.recv_exact(n))
    ok = True
    with LOCK:
        if m.kind == W.NEW:
            sid, token = secrets.token_bytes(16), secrets.token_bytes(16)
            SESSIONS[sid] = token
            answer = W.welcome(ST_OK, sid, token, instance=INSTANCE,
                               msg=EVIL if ARGS.evil_text else b"")
        elif SESSIONS.get(m.session_id) == m.token:
            answer = W.welcome(ST_OK, m.session_id, instance=INSTANCE)
        else:
            ok = False
            answer = W.welcome(W.AUTH_FAILED, msg=b"unknown session")
        c.index = m.path_index
        c.sid = sid if m.kind == W.NEW else m.session_id
        CONNS[m.path_index] = c
    if ARGS.big_welcome:
        c.send(W.HDR.pack(8 << 20, W.WELCOME, 0))
        event("BIG-WELCOME")
        time.sleep(600)
        raise Closed()
    if ARGS.trickle:
        trickle(c, answer)
    else:
        c.send(answer)
    if not ok:
        raise Closed()
    event("PATH %d" % m.path_index)


def finish_item(c, item_id):
    """STORED (or its refusal) once the item is closed and whole."""
    with LOCK:
        it = ITEMS.get(item_id)
        if it is None or it.close is None:
            return
        total, size, digest, alg = it.close
        decided = it.verdict is None
        if decided and it.corrupt:
            it.verdict = ST_CORRUPT
        elif decided:
            if any(i not in it.chunks for i in range(total)):
                return
            data = b"".join(it.chunks[i] for i in range(total))[:size]
            it.verdict = ST_OK if W.digest(alg, data) == digest else ST_CORRUPT
            # a version of the file as far as it was written (a close(2)
            # delivers what is there)
            exp = EXPECT.get(it.name)
            if exp is not None and data != exp[:len(data)]:
                it.verdict = ST_CORRUPT
        verdict = it.verdict
    if decided:
        report(verdict == ST_OK, "item '%s' arrived whole and its digest "
               "matches" % it.name, "stored bytes differ from what was written")
    if ARGS.withhold_stored:
        event("STORED-WITHHELD %s" % it.name)
        return
    if ARGS.evil_text and it.name.endswith("evil"):
        c.send(item_ack(item_id, STAGE_STORED, W.IO, EVIL))
        event("REFUSED-EVIL %s" % it.name)
        return
    forged = ARGS.forge_stored and it.name.endswith(ARGS.forge_stored)
    c.send(item_ack(item_id, STAGE_STORED, verdict,
                    proof=proof_for(item_id, it) if verdict == ST_OK
                    else bytes(32)))
    event("%s %s %d" % ("REFUSED" if verdict != ST_OK else
                        "STORED-FORGED" if forged else "STORED", it.name,
                        size))


def on_item_open(c, m):
    item_id, cs, name = m.item_id, m.chunk_size, m.name.decode("utf-8", "replace")
    with LOCK:
        it = ITEMS.get(item_id)
        if it is None:
            ITEMS[item_id] = it = Item(name, cs)
            it.sid = c.sid
        stored = it.verdict is not None and not ARGS.withhold_stored
        proof = (proof_for(item_id, it) if stored and it.verdict == ST_OK
                 else bytes(32))
    event("OPEN %s" % name)
    c.send(item_ack(item_id, STAGE_STORED if stored else STAGE_OPENED,
                    it.verdict if stored else ST_OK, proof=proof))


def check_chunk(it, chunk_id, payload, crc):
    what = "chunk %d of '%s'" % (chunk_id, it.name)
    ok = W.crc32c(payload) == crc
    exp = EXPECT.get(it.name)
    if exp is not None:
        off = chunk_id * it.chunk_size
        ok2 = payload == exp[off:off + len(payload)]
        if not ok2:
            bad = next(i for i in range(len(payload))
                       if off + i >= len(exp) or payload[i] != exp[off + i])
            report(False, what + " carries the bytes written",
                   "differs from byte %d of %d on" % (bad, len(payload)))
            return False
    report(ok, what + " matches its CRC-32C", "CRC mismatch")
    return ok


EARLY = {"done": False}


def on_chunk(c, n):
    if n < W.CHUNK_FIXED.size:
        malformed(c, "CHUNK", W.WireError("TRUNCATED", "%d-byte body" % n))
    fixed = c.recv_exact(W.CHUNK_FIXED.size)
    item_id, chunk_id, _total, share, _pad, _crc = W.CHUNK_FIXED.unpack(fixed)
    plen = n - W.CHUNK_FIXED.size
    early = False
    if ARGS.early_ack and plen >= (1 << 20):
        with LOCK:
            early = not EARLY["done"]
            EARLY["done"] = True
    if early:
        # Acknowledged before its payload is read: the client must not
        # reuse the buffer its sender still writes from.
        c.send(chunk_ack(item_id, chunk_id, share))
        event("EARLY-ACK %d %d" % (item_id, chunk_id))
        wait_file(ARGS.early_ack, 120, "the test's writer went on")
        event("EARLY-READ %d %d" % (item_id, chunk_id))
    m = c.msg(W.CHUNK, fixed + c.recv_exact(plen))
    payload, crc = m.payload, m.crc32c
    with LOCK:
        it = ITEMS.get(item_id)
    if it is None:
        c.send(error(ST_NOT_FOUND, b"CHUNK of an unknown item"))
        raise Closed()
    if not check_chunk(it, chunk_id, payload, crc):
        with LOCK:
            it.corrupt = True
        c.send(error(ST_CORRUPT, b"CHUNK payload does not match"))
        raise Closed()
    with LOCK:
        it.chunks[chunk_id] = payload
    if not early:
        c.send(chunk_ack(item_id, chunk_id, share))
    finish_item(c, item_id)


def on_item_close(c, m):
    item_id, total, size, digest = m.item_id, m.total_chunks, m.size, m.digest
    with LOCK:
        it = ITEMS.get(item_id)
        if it is not None:
            it.close = (total, size, digest, m.digest_alg)
    if it is None:
        c.send(item_ack(item_id, STAGE_STORED, ST_NOT_FOUND))
        return
    event("CLOSE %s" % it.name)
    finish_item(c, item_id)


def on_op(c, m):
    op_id, kind, name = m.op_id, m.op, m.name.decode("utf-8", "replace")
    kname = OP_NAMES.get(kind, str(kind))
    if kind == 5:            # CANCEL: nothing to answer
        event("OP cancel")
        return
    if ARGS.withhold_op and name.endswith(ARGS.withhold_op):
        event("OP-WITHHELD %s %s" % (kname, name))
        return
    if ARGS.failover_ops and name.endswith("/held") and c.index == 0:
        with LOCK:
            known = any(o == op_id for o, _ in HELD_OPS)
            if not known:
                HELD_OPS.append((op_id, name))
            n = len(HELD_OPS)
        event("OP-HELD %s %s" % (kname, name))
        if n == ARGS.failover_ops[0] and not known:
            threading.Thread(target=failover, daemon=True).start()
        return
    if ARGS.evil_text and name.endswith("evil"):
        event("OP-EVIL %s %s" % (kname, name))
        c.send(op_ack(op_id, W.IO, EVIL))
        return
    if ARGS.bad_utf8_op and name.endswith(ARGS.bad_utf8_op):
        with LOCK:
            BAD_UTF8_OPS[0] += 1
            n = BAD_UTF8_OPS[0]
        event("OP-BADUTF8 %d" % n)
        c.send(op_ack(op_id, W.IO, b"caf\xe9 \xff\xfe not UTF-8"))
        return
    event("OP %s %s" % (kname, name))
    c.send(op_ack(op_id))


def failover():
    """Path 0 goes; the held OPs are answered on path 1 while the client's
    resync is still sending them there (path 1 is not read)."""
    n, log, flag = ARGS.failover_ops
    with LOCK:
        c0 = CONNS.get(0)
        ops = list(HELD_OPS)
    event("CLOSING path 0")
    c0.s.shutdown(socket.SHUT_RDWR)
    if not wait_log(log, b"path 0 (", 60, "the client saw path 0 go"):
        return
    wait_log(log, b" lost: ", 60, "the client saw path 0 go")
    with LOCK:
        c1 = CONNS.get(1)
    for op_id, _ in ops:
        c1.send(op_ack(op_id))
    event("ANSWERED %d held ops on path 1" % len(ops))
    if wait_file(flag, 60, "the waiters returned"):
        event("RELEASE path 1")
    RELEASED.set()
    c1.gate.set()


def stall_control():
    """Path 0's connection stops being read, for good."""
    if not wait_file(ARGS.stall_control, 600, "the test asked for a stall"):
        return
    with LOCK:
        c0 = CONNS.get(0)
    c0.gate.clear()
    event("STALLED path 0")


def serve(c):
    try:
        handshake(c)
        if ARGS.failover_ops and c.index == 1 and not RELEASED.is_set():
            c.gate.clear()
            event("CLOGGED path 1")
        while True:
            t, n = c.frame()
            if t == W.CHUNK:
                on_chunk(c, n)
                continue
            m = c.msg(t, c.recv_exact(n))
            if t == W.ITEM_OPEN:
                on_item_open(c, m)
            elif t == W.ITEM_CLOSE:
                on_item_close(c, m)
            elif t == W.OP:
                on_op(c, m)
            elif t == W.PING:
                c.send(W.pong(m.opaque))
            elif t == W.PONG:
                pass
            else:
                report(False, "the client sends only client frames after "
                       "its HELLO", "it sent %s" % W.fname(t))
                c.send(error(ST_PROTOCOL, b"unexpected frame"))
                raise Closed()
    except (Closed, OSError):
        pass
    finally:
        try:
            c.s.close()
        except OSError:
            pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("results")
    ap.add_argument("events")
    ap.add_argument("--rcvbuf", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--withhold-stored", action="store_true")
    ap.add_argument("--withhold-op", default="")
    ap.add_argument("--early-ack", default="")
    ap.add_argument("--failover-ops", default="")
    ap.add_argument("--stall-control", default="")
    ap.add_argument("--evil-text", action="store_true")
    ap.add_argument("--bad-utf8-op", default="")
    ap.add_argument("--trickle", type=float, default=0)
    ap.add_argument("--big-welcome", action="store_true")
    ap.add_argument("--forge-stored", default="")
    ap.add_argument("--version", type=int, default=0,
                    help="speak this protocol version in the preface")
    ap.add_argument("--expect", action="append", default=[],
                    help="NAME=FILE: item NAME must carry FILE's bytes")
    ARGS = ap.parse_args()
    if ARGS.failover_ops:
        n, log, flag = ARGS.failover_ops.split(",", 2)
        ARGS.failover_ops = (int(n), log, flag)
    for e in ARGS.expect:
        name, path = e.split("=", 1)
        with open(path, "rb") as f:
            EXPECT[name] = f.read()
    OUT["results"] = open(ARGS.results, "a")
    OUT["events"] = open(ARGS.events, "a")
    W.self_test()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ARGS.rcvbuf:
        # inherited by accepted sockets; must precede listen()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ARGS.rcvbuf)
    ls.bind(("127.0.0.1", ARGS.port))
    ls.listen(64)
    print("fake server on port %d" % ARGS.port, flush=True)
    if ARGS.stall_control:
        threading.Thread(target=stall_control, daemon=True).start()
    while True:
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(Conn(s),), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
