#!/usr/bin/env python3
"""stuck_reader.py: a client with a path that stops reading, for
tests/integration/stuck-reader.sh.

One session, two paths from their own loopback addresses: B reads its
answers, A (receive buffer 4 KiB) reads its WELCOME and then nothing. The
server sends an item's STORED on the path of its latest ITEM_CLOSE, so:

  1. B: ITEM_OPEN of ITEMS items (stripe, one 4 KiB chunk each); OPENED
     read on B.
  2. A: the ITEM_CLOSE of each (before its chunk: allowed), so that their
     STORED answers go to A.
  3. A: OPs that fail with an answer of about 1 KiB (RMDIR of a missing
     directory with a 1000-byte name), 20 MB of them, from a thread: the
     answers fill A's socket buffers, the server's path thread for A
     blocks writing them and stops reading A, and A's own send queue
     grows. Waits until A has 1 MiB queued unsent (TIOCOUTQ): the server
     reads nothing more from A.
  4. B: the chunks of the items, CHUNK_ACKs read on B. Each item is then
     complete and stored, and its STORED must go out on A, which does not
     read. A server whose shared workers (the finalizers) send on the
     connection themselves blocks there, and stores nothing more, for
     any session.
  5. Waits (up to 30 s) until the server mount shows every item.

Then writes STATE (JSON: items stored, A's queue, the session id) and
waits for the file QUIT (10 minutes at most); in phase "drop" it instead waits for the server
to close A (its send thread fails), and then asks on B for the verdict of
every item again (ITEM_CLOSE repeated on B: STORED OK), PINGs on B and
writes STATE.

usage: stuck_reader.py PHASE HOST PORT SERVER_MOUNT STATE QUIT
  PHASE  hold | drop
"""

import fcntl
import hashlib
import json
import os
import socket
import struct
import sys
import termios
import threading
import time

import hostile_peer as hp

ITEMS = 32
CS = 4096
OPS_BYTES = 20 << 20


def connect_small(src):
    """A socket whose receive buffer is 4 KiB (set before connect, so
    that the window it offers stays small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind((src, 0))
    s.settimeout(10.0)
    s.connect((hp.HOST, hp.PORT))
    p = hp.Peer.__new__(hp.Peer)
    p.case, p.s, p.buf = "stuck-a", s, b""
    p.port = s.getsockname()[1]
    return p


def unsent(sock):
    """Bytes in the socket's send queue (TIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                          b"\0\0\0\0"))[0]


def session_dir(mount, sid):
    suffix = "-" + sid.hex()[:8]
    for d in os.listdir(mount):
        if d.endswith(suffix):
            return os.path.join(mount, d)
    return None


def stored(mount, sid):
    d = session_dir(mount, sid)
    if d is None or not os.path.isdir(os.path.join(d, "stuck")):
        return 0
    return len(os.listdir(os.path.join(d, "stuck")))


def rmdir_op(op_id):
    name = "/".join(("m%03d" % (op_id % 1000)) + "x" * 246 for _ in range(4))
    return hp.op(op_id, hp.RMDIR, name)


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    phase, hp.HOST, hp.PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mount, state, quit_file = sys.argv[4:7]
    hp.self_test()
    out = {"phase": phase}

    b = hp.Peer("stuck-b", hostile=False, src="127.0.2.1")
    sid, token = b.new_session("stuck")
    a = connect_small("127.0.2.2")
    a.attach(sid, token, index=1)
    out["sid"] = sid.hex()
    out["a"] = hp.local_end(a.s)
    print("   session %s, A %s, B %s" % (sid.hex()[:8], out["a"],
                                        hp.local_end(b.s)), flush=True)

    data = [os.urandom(CS) for _ in range(ITEMS)]
    for i in range(ITEMS):
        b.send(hp.item_open(i + 1, "stuck/f%03d" % i, chunk_size=CS))
        iid, stage, st, msg = b.item_ack("ITEM_OPEN %d" % (i + 1))
        assert (stage, st) == (hp.OPENED, hp.OK), (stage, st, msg)
    a.send(b"".join(hp.item_close(i + 1, 1, CS, hashlib.sha256(data[i]).digest())
                    for i in range(ITEMS)))

    ops = b"".join(rmdir_op(n) for n in range(1, OPS_BYTES // 1050))
    flood = {"sent": 0, "error": None}

    def push():
        try:
            for off in range(0, len(ops), 1 << 16):
                a.s.sendall(ops[off:off + (1 << 16)])
                flood["sent"] = off + (1 << 16)
        except OSError as e:
            flood["error"] = str(e)

    a.s.settimeout(None)
    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    deadline = time.monotonic() + 60
    while unsent(a.s) < (1 << 20) and pusher.is_alive():
        if time.monotonic() > deadline:
            print("   A never backed up: %d bytes unsent" % unsent(a.s))
            return 1
        time.sleep(0.05)
    out["a_unsent"] = unsent(a.s)
    out["flood_sent"] = flood["sent"]
    print("   A: %d bytes of OPs sent, %d unsent: the server reads nothing "
          "more from A" % (flood["sent"], out["a_unsent"]), flush=True)

    for i in range(ITEMS):
        b.send(hp.chunk(i + 1, 0, 1, data[i]))
    for i in range(ITEMS):
        got = b.chunk_ack("CHUNK_ACK %d" % (i + 1))
        assert got == (i + 1, 0, 0), got
    t0 = time.monotonic()
    while stored(mount, sid) < ITEMS and time.monotonic() < t0 + 30:
        time.sleep(0.05)
    out["stored"] = stored(mount, sid)
    print("   %d of %d items stored in %.2f s" % (
        out["stored"], ITEMS, time.monotonic() - t0), flush=True)

    if phase == "hold":
        with open(state, "w") as f:
            json.dump(out, f)
        deadline = time.monotonic() + 600
        while not os.path.exists(quit_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        out["a_error"] = flood["error"]
    else:
        pusher.join(timeout=120)
        out["a_error"] = flood["error"]
        print("   A's sender: %s" % flood["error"], flush=True)
        verdicts = []
        for i in range(ITEMS):
            b.send(hp.item_close(i + 1, 1, CS, hashlib.sha256(data[i]).digest()))
            iid, stage, st, msg = b.item_ack("ITEM_CLOSE %d again" % (i + 1))
            verdicts.append((iid, stage, st) == (i + 1, hp.STORED, hp.OK))
        out["verdicts_ok"] = sum(verdicts)
        b.send(hp.ping(7))
        out["pong"] = b.expect_msg(hp.PONG, "PING on B").opaque == 7
        with open(state, "w") as f:
            json.dump(out, f)
    b.close()
    a.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
