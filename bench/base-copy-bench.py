#!/usr/bin/env python3
"""base-copy-bench.py BRAIDFSD: how long a small file sent right after an
append to a 64 MiB stored file, on the same connection, waits for its
OPENED and STORED, against the server binary BRAIDFSD (a store and a view
of its own under /var/tmp, removed at the end). 8 rounds."""
import hashlib, os, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
import bfwire as W

BIN = sys.argv[1]
CS = 1 << 20
tmp = tempfile.mkdtemp(prefix="cow3-bench.", dir="/var/tmp")
mnt, store = os.path.join(tmp, "mnt"), os.path.join(tmp, "store")
os.mkdir(mnt); os.mkdir(store)
s0 = socket.socket(); s0.bind(("127.0.0.1", 0)); port = s0.getsockname()[1]; s0.close()
log = open(os.path.join(tmp, "log"), "w")
srv = subprocess.Popen([BIN, mnt, "-o", "listen=127.0.0.1:%d,store=%s" % (port, store), "-f"],
                       stdout=log, stderr=log)
sha = lambda b: hashlib.sha256(b).digest()

class C:
    def __init__(s):
        for _ in range(200):
            try:
                s.s = socket.create_connection(("127.0.0.1", port), timeout=120); break
            except OSError:
                time.sleep(0.05)
        s.buf = b""; s.s.sendall(W.PREFACE); assert s.recv(8) == W.PREFACE
    def recv(s, n):
        while len(s.buf) < n:
            d = s.s.recv(1 << 20)
            if not d: raise EOFError
            s.buf += d
        o, s.buf = s.buf[:n], s.buf[n:]; return o
    def msg(s):
        n, t, f = W.HDR.unpack(s.recv(W.HDR_LEN)); return W.decode(t, s.recv(n), f)
    def until(s, item, stage):
        while True:
            m = s.msg()
            if m.type == W.ITEM_ACK and m.item_id == item and m.stage == stage:
                assert m.status == W.OK, (item, m.status); return

try:
    c = C()
    c.s.sendall(W.hello(W.NEW, bytes(16), bytes(16), label="bench", path_index=0))
    while c.msg().type != W.WELCOME: pass
    f = os.urandom(64 << 20)
    c.s.sendall(W.item_open(1, "f", CS))
    parts = [f[i:i + CS] for i in range(0, len(f), CS)]
    for i, p in enumerate(parts): c.s.sendall(W.chunk(1, i, len(parts), p))
    c.s.sendall(W.item_close(1, len(parts), len(f), sha(f)))
    c.until(1, W.STORED)
    g = os.urandom(1000)
    item = 2
    for rnd in range(8):
        more = os.urandom(100)
        t0 = time.monotonic()
        c.s.sendall(W.item_open(item, "f", CS, base=(len(f), sha(f))) +
                    W.chunk(item, 0, 1, more) +
                    W.item_close(item, 1, len(f) + 100, sha(f + more)) +
                    W.item_open(item + 1, "g%d" % rnd, CS) + W.chunk(item + 1, 0, 1, g) +
                    W.item_close(item + 1, 1, len(g), sha(g)))
        at = {}
        while len(at) < 3:
            m = c.msg()
            if m.type == W.ITEM_ACK and (m.stage == W.STORED or m.item_id == item + 1):
                assert m.status == W.OK
                at[(m.item_id, m.stage)] = time.monotonic()
        t1, t2 = at[(item + 1, W.STORED)], at[(item, W.STORED)]
        print("round %d: small file OPENED after %.3f s" % (rnd, at[(item + 1, W.OPENED)] - t0))
        print("round %d: small file STORED after %.3f s, the append after %.3f s" % (rnd, t1 - t0, t2 - t0))
        f += more; item += 2
finally:
    subprocess.call(["fusermount3", "-u", mnt])
    try: srv.wait(30)
    except subprocess.TimeoutExpired: srv.kill(); srv.wait()
    subprocess.call(["rm", "-rf", "--", tmp])
