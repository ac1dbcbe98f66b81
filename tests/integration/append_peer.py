#!/usr/bin/env python3
"""append_peer.py: a client of its own (bfwire.py) that appends to a stored
file the way braidfs-protocol(7) says (ITEM_OPEN with a base), against a
real braidfsd. One step per run, so that append-server.sh can kill and
restart the server in between; the session's id and token, and the file's
bytes as the server must hold them (the model), stay in STATE_DIR.

  append_peer.py HOST PORT SERVER_MOUNT STATE_DIR STEP

Steps:
  store     new session; stores f (3 MiB + 5 bytes) as a plain item
  append    appends 5000 bytes to f with a base: the old f stays visible
            until ITEM_CLOSE, then f is the model, bit for bit
  stale     bases that are not the stored f (old size, wrong digest, a
            name never stored) are refused with ITEM_ACK OPENED STALE
  crash     an append (item 9: ITEM_OPEN, its chunk, ITEM_CLOSE) whose
            base copy kills the server (BRAIDFSD_CRASH_AFTER=base-copy:2):
            the connection drops with nothing of item 9 answered
  resume    after the restart: the same ITEM_OPEN again, then its chunks
            and ITEM_CLOSE: STORED, and f is the model
  torn      an append (item 10) of 3 chunks; the server dies with two in
            its chunk map (BRAIDFSD_CRASH_AFTER=chunk-map:2)
  restored  after the restart the item is rebuilt from its record (base
            and chunks): ITEM_OPEN and all chunks again, ITEM_CLOSE:
            STORED, and f is the model
  held      with the base copy held (BRAIDFSD_HOLD_BASE_COPY=$HOLD_FIFO):
            an append (item 11: ITEM_OPEN, 3 chunks, ITEM_CLOSE at once)
            and then a new file g (item 12) on the same connection: g is
            STORED while the copy waits, and nothing of item 11 is
            answered meanwhile; once the copy goes on, item 11 is OPENED,
            its chunks acknowledged, STORED, and f is the model
  repeat    the base copy held: an append (item 13) on one connection,
            which a second one of the same path index replaces (a lost
            path); ITEM_OPEN, chunk and ITEM_CLOSE again on the new one:
            OPENED, CHUNK_ACK and STORED come there once the copy goes on
  stalecopy the base copy held: an append (item 14) with the right size
            and another digest, its chunk and ITEM_CLOSE sent at once:
            once the copy goes on, the chunk is acknowledged (dropped) and
            the item refused with OPENED STALE; f is unchanged
  dupflood  the base copy held: one chunk of an append (item 15) resent
            over and over; past 4096 copies the server closes the path
            with ERROR LIMIT instead of keeping them all
  after     an append (item 16) of 5000 bytes, its copy held and let go,
            stored as in append
Steps of cut-server.sh (base_keep: the base cut before the chunks):
  cutstore  new session; stores f (64 MiB + 3 bytes) as a plain item
  shrink    f cut to 10 MiB (item 2: base_keep 10 MiB, no chunks): f
            shows the old version until STORED, then 10 MiB, bit for bit
  rewrite   4 KiB rewritten at 1 MiB + 100 (item 3: base_keep 1 MiB +
            100, the 4 KiB and the rest of f as chunks): f is the model
  keepnone  base_keep 0 (item 4): f is the chunks alone (8 MiB + 9)
  cutstale  a cut of a base that is not the stored f: OPENED STALE
  cutbelow  an ITEM_CLOSE whose size is below base_keep loses the path
            (ERROR PROTOCOL)
  cutcrash  a cut (item 7, base_keep 5 MiB, one chunk) whose base copy
            kills the server (base-copy:3): nothing of it is answered
  cutresume after the restart the same item again: STORED, f the model
  cuttorn   a cut (item 8, base_keep 3 MiB + 1, 3 chunks); the server
            dies with two in its chunk map (chunk-map:2)
  cutrestored after the restart the item is rebuilt from its record
            (the kept bytes and the chunks): the chunks and ITEM_CLOSE
            again: STORED, f the model
Exit 0 when every check passed; each failure is printed."""

import hashlib
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bfwire as W  # noqa: E402

HOST, PORT, MOUNT, STATE, STEP = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                  sys.argv[4], sys.argv[5])
CS = 256 * 1024
FAILS = []


def check(ok, what, why=""):
    print("%s: %s%s" % ("PASS" if ok else "FAIL", what,
                        "" if ok else " (%s)" % why))
    if not ok:
        FAILS.append(what)


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=60)
        self.buf = b""
        self.s.sendall(W.PREFACE)
        assert self.recv(8) == W.PREFACE

    def recv(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("server closed the connection")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def msg(self):
        n, t, f = W.HDR.unpack(self.recv(W.HDR_LEN))
        return W.decode(t, self.recv(n), f)

    def want(self, ftype):
        """The next frame of type ftype; PONGs and the like are skipped."""
        while True:
            m = self.msg()
            if m.type == ftype:
                return m
            if m.type == W.ERROR:
                raise AssertionError("ERROR %s: %s" % (W.st_name(m.status),
                                                       bytes(m.message)))

    def hello(self, kind, sid=bytes(16), token=bytes(16)):
        self.s.sendall(W.hello(kind, sid, token, label="append"
                               if kind == W.NEW else None, path_index=0))
        m = self.want(W.WELCOME)
        assert m.status == W.OK, "WELCOME %s" % W.st_name(m.status)
        return m.session_id, m.token

    def item_ack(self, item_id):
        m = self.want(W.ITEM_ACK)
        assert m.item_id == item_id, "ITEM_ACK for %d" % m.item_id
        self.proof = bytes(m.proof)
        return m.stage, m.status, bytes(m.message).decode(errors="replace")

    def chunks(self, item_id, data):
        """data as chunks (after the base), each acknowledged."""
        parts = [data[i:i + CS] for i in range(0, len(data), CS)]
        for i, p in enumerate(parts):
            self.s.sendall(W.chunk(item_id, i, len(parts), p))
        for _ in parts:
            self.want(W.CHUNK_ACK)
        return len(parts)


def state(**kw):
    path = os.path.join(STATE, "state.json")
    st = json.load(open(path)) if os.path.exists(path) else {}
    if kw:
        st.update(kw)
        json.dump(st, open(path, "w"))
    return st


def model(data=None):
    path = os.path.join(STATE, "model")
    if data is not None:
        open(path, "wb").write(data)
    return open(path, "rb").read()


def attach():
    st = state()
    c = Conn()
    c.hello(W.ATTACH, bytes.fromhex(st["sid"]), bytes.fromhex(st["token"]))
    return c


def served(name):
    """The file as the server's view shows it."""
    sid = state()["sid"]
    for d in os.listdir(MOUNT):
        if d.endswith("-" + sid[:8]):
            with open(os.path.join(MOUNT, d, name), "rb") as f:
                return f.read()
    raise FileNotFoundError("no session directory for %s" % sid[:8])


def sha(b):
    return hashlib.sha256(b).digest()


def proof_of(item_id, data):
    """STORED OK's proof of item_id stored as data (no key: a plain hash)."""
    return W.stored_proof(bytes.fromhex(state()["sid"]), item_id, len(data),
                          W.SHA256, sha(data))


def open_append(c, item_id, name, base):
    c.s.sendall(W.item_open(item_id, name, CS, base=(len(base), sha(base))))
    return c.item_ack(item_id)


def check_opened(ack, what):
    """ack (item_ack's answer) is OPENED OK."""
    stage, status, msg = ack
    check((stage, status) == (W.OPENED, W.OK), what,
          "%d %s %s" % (stage, W.st_name(status), msg))


def close_stored(c, item_id, old, new, total, proof_over, is_what):
    """item_id's chunks sent (total of them): f still shows old; then
    ITEM_CLOSE, STORED OK with the proof over new, f is new: the model."""
    check(served("f") == old, "item %d: before ITEM_CLOSE the server still "
          "shows the old f" % item_id)
    c.s.sendall(W.item_close(item_id, total, len(new), sha(new)))
    stage, status, msg = c.item_ack(item_id)
    check((stage, status) == (W.STORED, W.OK), "item %d: STORED OK" % item_id,
          "%d %s %s" % (stage, W.st_name(status), msg))
    check(c.proof == proof_of(item_id, new), "item %d: its proof is over "
          "%s" % (item_id, proof_over))
    got = served("f")
    check(got == new, "item %d: f on the server is %s, bit for bit"
          % (item_id, is_what),
          "%d bytes, sha256 %s" % (len(got), sha(got).hex()[:16]))
    model(new)


def append(c, item_id, old, more):
    """Sends more after old (the base) and waits for STORED."""
    close_stored(c, item_id, old, old + more, c.chunks(item_id, more),
                 "the whole file (base and appended bytes)",
                 "the old %d bytes and the %d appended" % (len(old),
                                                           len(more)))


def server_dies(what, action, why):
    """action() loses the connection (the server's crash hook fired);
    why(its result) says what came instead."""
    try:
        got = action()
        check(False, what, why(got))
    except (EOFError, ConnectionResetError):
        check(True, what)


def store_plain(size):
    """A new session whose item 1 stores f, size random bytes: the model."""
    c = Conn()
    sid, token = c.hello(W.NEW)
    state(sid=sid.hex(), token=token.hex())
    data = os.urandom(size)
    c.s.sendall(W.item_open(1, "f", CS))
    check_opened(c.item_ack(1), "item 1 opened")
    total = c.chunks(1, data)
    c.s.sendall(W.item_close(1, total, len(data), sha(data)))
    check(c.item_ack(1)[:2] == (W.STORED, W.OK), "item 1 (f, plain) stored")
    model(data)


def step_store():
    store_plain(3 * 1024 * 1024 + 5)


def step_append():
    c = attach()
    old = model()
    check_opened(open_append(c, 2, "f", old), "item 2: an append opened")
    append(c, 2, old, os.urandom(5000))


def step_stale():
    c = attach()
    cur = model()
    cases = [(3, "f", cur[:-5000], "the size of an older version"),
             (4, "f", cur[:-1] + bytes([cur[-1] ^ 1]), "the right size, "
              "another digest"),
             (5, "never-stored", cur, "a name never stored")]
    for item_id, name, base, what in cases:
        stage, status, msg = open_append(c, item_id, name, base)
        check((stage, status) == (W.OPENED, W.STALE), "item %d: a base with "
              "%s is refused with STALE" % (item_id, what),
              "%s %s" % (W.st_name(status), msg))
        check("send the whole file" in msg, "item %d: the refusal says what "
              "to do" % item_id, msg)
    check(served("f") == cur, "f is unchanged after the refusals")


def step_again():
    """Item 2's ITEM_CLOSE again after a restart: the STORED answered from
    the journal carries the proof sent the first time."""
    c = attach()
    new = model()
    c.s.sendall(W.item_close(2, 1, len(new), sha(new)))
    stage, status, msg = c.item_ack(2)
    check((stage, status) == (W.STORED, W.OK), "item 2 repeated: STORED OK",
          "%d %s %s" % (stage, W.st_name(status), msg))
    check(c.proof == proof_of(2, new), "item 2 repeated after a restart: "
          "the journalled proof is over the whole file")


def step_crash():
    c = attach()
    more = b"line after the restart\n"
    new = model() + more
    c.s.sendall(W.item_open(9, "f", CS, base=(len(model()), sha(model()))) +
                W.chunk(9, 0, 1, more) +
                W.item_close(9, 1, len(new), sha(new)))
    server_dies("the server dies during the base copy, having answered "
                "nothing of item 9 (its chunk is not acknowledged)",
                c.msg, lambda m: "got %s" % W.fname(m.type))


def step_resume():
    c = attach()
    old = model()
    check_opened(open_append(c, 9, "f", old), "item 9 opened again after "
                 "the restart (its base copied anew)")
    append(c, 9, old, b"line after the restart\n")


def step_torn():
    c = attach()
    more = os.urandom(2 * CS + 777)
    open(os.path.join(STATE, "more"), "wb").write(more)
    check_opened(open_append(c, 10, "f", model()),
                 "item 10: an append opened")
    server_dies("the server dies with chunks of item 10 in its map",
                lambda: c.chunks(10, more), lambda n: "all 3 acknowledged")


def step_restored():
    c = attach()
    old = model()
    check_opened(open_append(c, 10, "f", old), "item 10 open again after "
                 "the restart")
    append(c, 10, old, open(os.path.join(STATE, "more"), "rb").read())


def collect(c, until, timeout):
    """Frames until until(m) holds; None if timeout seconds pass first."""
    c.s.settimeout(timeout)
    seen = []
    try:
        while True:
            m = c.msg()
            seen.append(m)
            if until(m):
                return seen
    except socket.timeout:
        return None
    finally:
        c.s.settimeout(60)


def holds():
    """How many base copies the server has held so far (its log)."""
    with open(os.environ["HOLD_LOG"], errors="replace") as f:
        return f.read().count("test hook: holding the base copy")


def wait_held(before):
    deadline = time.monotonic() + 30 * float(os.environ.get("TIMEOUT_MULT",
                                                            "1"))
    while holds() <= before:
        if time.monotonic() > deadline:
            raise AssertionError("the server never held the base copy")
        time.sleep(0.05)


def release():
    with open(os.environ["HOLD_FIFO"], "wb"):
        pass


def append_frames(item_id, old, more):
    new = old + more
    return (W.item_open(item_id, "f", CS, base=(len(old), sha(old))) +
            W.chunk(item_id, 0, 1, more) +
            W.item_close(item_id, 1, len(new), sha(new)))


def step_repeat():
    old, more = model(), b"appended over a lost path\n"
    before = holds()
    a = attach()
    a.s.sendall(append_frames(13, old, more))
    wait_held(before)
    b = attach()    # same path index: replaces a, as a lost path would be
    b.s.sendall(append_frames(13, old, more))
    release()
    seen = collect(b, lambda m: m.type == W.ITEM_ACK and m.item_id == 13 and
                   m.stage == W.STORED, 60) or []
    kinds = [(m.type, getattr(m, "stage", None), getattr(m, "status", None))
             for m in seen if m.item_id == 13]
    check((W.ITEM_ACK, W.OPENED, W.OK) in kinds, "item 13: OPENED OK on the "
          "connection that repeated its ITEM_OPEN", repr(kinds))
    check(any(k[0] == W.CHUNK_ACK for k in kinds), "item 13: its chunk is "
          "acknowledged there", repr(kinds))
    check(bool(kinds) and kinds[-1] == (W.ITEM_ACK, W.STORED, W.OK),
          "item 13: STORED OK", repr(kinds))
    got = served("f")
    check(got == old + more, "f is the old f and the appended line, bit for "
          "bit", "%d bytes" % len(got))
    model(old + more)


def step_stalecopy():
    old = model()
    before = holds()
    c = attach()
    wrong = old[:-1] + bytes([old[-1] ^ 1])
    c.s.sendall(append_frames(14, wrong, b"never stored\n"))
    wait_held(before)
    release()
    seen = collect(c, lambda m: m.type == W.ITEM_ACK and m.item_id == 14,
                   60) or []
    check(any(m.type == W.CHUNK_ACK and m.item_id == 14 for m in seen),
          "item 14: its chunk held during the copy is acknowledged (dropped)")
    last = seen[-1] if seen else None
    check(last is not None and (last.stage, last.status) ==
          (W.OPENED, W.STALE), "item 14: refused with OPENED STALE",
          repr(last and (last.stage, W.st_name(last.status))))
    check(last is not None and b"send the whole file" in bytes(last.message),
          "item 14: the refusal says what to do")
    check(served("f") == old, "f is unchanged")


def step_dupflood():
    old, more = model(), b"x" * 10
    before = holds()
    c = attach()
    c.s.sendall(W.item_open(15, "f", CS, base=(len(old), sha(old))))
    c.s.sendall(W.chunk(15, 0, 1, more) * 4200)
    wait_held(before)
    try:
        m = c.msg()
        while m.type != W.ERROR:
            m = c.msg()
        check(m.status == W.LIMIT and b"resent during its base copy" in
              bytes(m.message), "the flood of resent chunks ends the path "
              "with ERROR LIMIT", "%s %s" % (W.st_name(m.status),
                                            bytes(m.message)))
    except (EOFError, ConnectionResetError):
        check(False, "the flood of resent chunks ends the path with ERROR "
              "LIMIT", "closed without an ERROR")
    finally:
        release()


def step_after():
    c = attach()
    old = model()
    before = holds()
    c.s.sendall(W.item_open(16, "f", CS, base=(len(old), sha(old))))
    wait_held(before)
    release()
    check_opened(c.item_ack(16), "item 16: an append opened")
    append(c, 16, old, os.urandom(5000))


def step_held():
    c = attach()
    old, more, g = model(), os.urandom(2 * CS + 123), os.urandom(1000)
    new = old + more
    c.s.sendall(W.item_open(11, "f", CS, base=(len(old), sha(old))))
    parts = [more[i:i + CS] for i in range(0, len(more), CS)]
    for i, p in enumerate(parts):
        c.s.sendall(W.chunk(11, i, len(parts), p))
    c.s.sendall(W.item_close(11, len(parts), len(new), sha(new)))
    c.s.sendall(W.item_open(12, "g", CS) + W.chunk(12, 0, 1, g) +
                W.item_close(12, 1, len(g), sha(g)))
    wait = 30 * float(os.environ.get("TIMEOUT_MULT", "1"))
    seen = collect(c, lambda m: m.type == W.ITEM_ACK and m.item_id == 12 and
                   m.stage == W.STORED, wait)
    check(seen is not None, "item 12 (g) is STORED while the base copy of "
          "item 11 is held", "nothing in %.0f s: the path waits for the copy"
          % wait)
    early = [m for m in seen or [] if m.type in (W.ITEM_ACK, W.CHUNK_ACK) and
             m.item_id == 11]
    check(not early, "nothing of item 11 is answered before its base is "
          "copied", "%d answers" % len(early))
    if seen is not None:
        check(seen[-1].status == W.OK, "item 12 stored OK")
        check(served("g") == g, "g on the server is what was sent")
    check(served("f") == old, "the old f is shown while the base is copied")
    with open(os.environ["HOLD_FIFO"], "wb"):
        pass
    seen = collect(c, lambda m: m.type == W.ITEM_ACK and m.item_id == 11 and
                   m.stage == W.STORED, wait) or []
    acks = [m for m in seen if m.item_id == 11]
    opened = [m for m in acks if m.type == W.ITEM_ACK and m.stage == W.OPENED]
    check(len(opened) == 1 and opened[0].status == W.OK, "item 11 is OPENED "
          "once its base is copied")
    check(sum(m.type == W.CHUNK_ACK for m in acks) == len(parts),
          "its %d chunks are acknowledged then" % len(parts))
    check(bool(acks) and acks[-1].type == W.ITEM_ACK and
          acks[-1].stage == W.STORED and acks[-1].status == W.OK,
          "item 11 STORED OK")
    got = served("f")
    check(got == new, "f on the server is the old f and the 3 chunks, bit "
          "for bit", "%d bytes" % len(got))
    model(new)


def cut(c, item_id, old, keep, more):
    """f cut to its first keep bytes, more after them; waits for STORED
    and checks f against the model at each stage."""
    new = old[:keep] + more
    c.s.sendall(W.item_open(item_id, "f", CS, base=(len(old), sha(old)),
                            keep=keep))
    check_opened(c.item_ack(item_id), "item %d: a cut to %d bytes opened"
                 % (item_id, keep))
    n = c.chunks(item_id, more) if more else 0
    close_stored(c, item_id, old, new, n,
                 "the whole new file",
                 "the first %d bytes of the old f and the %d sent"
                 % (keep, len(more)))


def step_cutstore():
    store_plain(64 * 1024 * 1024 + 3)


def step_shrink():
    cut(attach(), 2, model(), 10 * 1024 * 1024, b"")


def step_rewrite():
    old = model()
    at = 1024 * 1024 + 100
    more = os.urandom(4096) + old[at + 4096:]
    cut(attach(), 3, old, at, more)


def step_keepnone():
    cut(attach(), 4, model(), 0, os.urandom(8 * 1024 * 1024 + 9))


def step_cutstale():
    c = attach()
    old = model()
    c.s.sendall(W.item_open(5, "f", CS, base=(len(old) + 1, sha(old)),
                            keep=10))
    stage, status, msg = c.item_ack(5)
    check((stage, status) == (W.OPENED, W.STALE), "item 5: a cut of a base "
          "that is not the stored f is refused with STALE",
          "%s %s" % (W.st_name(status), msg))
    check(served("f") == old, "f is unchanged after the refusal")


def step_cutbelow():
    c = attach()
    old = model()
    c.s.sendall(W.item_open(6, "f", CS, base=(len(old), sha(old)), keep=100))
    check_opened(c.item_ack(6), "item 6 opened")
    c.s.sendall(W.item_close(6, 0, 99, sha(old[:99])))
    m = c.msg()
    check(m.type == W.ERROR and m.status == W.PROTOCOL and
          b"below the 100 bytes of its base" in bytes(m.message),
          "an ITEM_CLOSE below base_keep loses the path with ERROR PROTOCOL",
          "%s %r" % (W.fname(m.type), m.get("message")))
    check(served("f") == old, "f is unchanged after the refusal")


def step_cutcrash():
    c = attach()
    old = model()
    more = b"after the crash\n"
    new = old[:5 * 1024 * 1024] + more
    c.s.sendall(W.item_open(7, "f", CS, base=(len(old), sha(old)),
                            keep=5 * 1024 * 1024) +
                W.chunk(7, 0, 1, more) +
                W.item_close(7, 1, len(new), sha(new)))
    server_dies("the server dies during the base copy of a cut, having "
                "answered nothing of item 7",
                c.msg, lambda m: "got %s" % W.fname(m.type))


def step_cutresume():
    cut(attach(), 7, model(), 5 * 1024 * 1024, b"after the crash\n")


def step_cuttorn():
    c = attach()
    old = model()
    more = os.urandom(2 * CS + 777)
    open(os.path.join(STATE, "more"), "wb").write(more)
    c.s.sendall(W.item_open(8, "f", CS, base=(len(old), sha(old)),
                            keep=3 * 1024 * 1024 + 1))
    check_opened(c.item_ack(8), "item 8: a cut opened")
    server_dies("the server dies with chunks of item 8 in its map",
                lambda: c.chunks(8, more), lambda n: "all 3 acknowledged")


def step_cutrestored():
    cut(attach(), 8, model(), 3 * 1024 * 1024 + 1,
        open(os.path.join(STATE, "more"), "rb").read())


if __name__ == "__main__":
    t0 = time.monotonic()
    {"store": step_store, "append": step_append, "stale": step_stale,
     "again": step_again, "crash": step_crash, "resume": step_resume,
     "torn": step_torn, "restored": step_restored, "held": step_held,
     "repeat": step_repeat, "stalecopy": step_stalecopy,
     "dupflood": step_dupflood, "after": step_after,
     "cutstore": step_cutstore, "shrink": step_shrink,
     "rewrite": step_rewrite, "keepnone": step_keepnone,
     "cutstale": step_cutstale, "cutbelow": step_cutbelow, "cutcrash": step_cutcrash,
     "cutresume": step_cutresume, "cuttorn": step_cuttorn,
     "cutrestored": step_cutrestored}[STEP]()
    print("step %s: %.1f s, %d failed" % (STEP, time.monotonic() - t0,
                                         len(FAILS)))
    sys.exit(1 if FAILS else 0)
