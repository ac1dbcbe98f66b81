#!/usr/bin/env python3
"""commit_peer.py: many small items in flight at once on one path, for
tests/integration/commit-group.sh (group commit, issue 13).

Opens a session labelled LABEL, makes directories d0..d9 (OP MKDIR), then
sends N items back to back without waiting for any answer: for item i,
ITEM_OPEN "d<i%10>/f<i>", its one CHUNK (1..16 KiB, bytes derived from i)
and its ITEM_CLOSE; then a PING. Meanwhile a reader takes every answer.

Files it writes, each line flushed as it happens, so that a test reading
them after killing the server knows what the server acknowledged:
  OUT/expected/d<k>/f<i>   the bytes of each item (written before sending)
  OUT/stored               one line per ITEM_ACK STORED OK: the name
  OUT/pong                 "pong" once the PING is answered: the server's
                           path thread has handled every frame before it
  OUT/result               at the end: "stored S failed F closed C"
                           (C = 1 if the server closed or died first)

Exit status 0 unless the script itself broke (a server that dies is what
the test does to it).

usage: commit_peer.py HOST PORT LABEL N OUT
"""

import hashlib
import os
import sys
import threading

import hostile_peer as hp


def body(i):
    size = 1024 * (1 + i % 16) + i % 7
    seed = hashlib.sha256(b"item %d" % i).digest()
    return (seed * (size // 32 + 1))[:size]


def name(i):
    return "d%d/f%d" % (i % 10, i)


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    hp.HOST, hp.PORT = sys.argv[1], int(sys.argv[2])
    label, n, out = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    for k in range(10):
        os.makedirs(os.path.join(out, "expected", "d%d" % k), exist_ok=True)
    for i in range(1, n + 1):
        with open(os.path.join(out, "expected", name(i)), "wb") as f:
            f.write(body(i))

    p = hp.Peer("commit", hostile=False, src="127.0.0.1", timeout=60.0)
    p.new_session(label)
    for k in range(10):
        p.send(hp.op(k + 1, hp.MKDIR, "d%d" % k, mode=0o755))
        got, status, msg = p.op_ack("MKDIR d%d" % k)
        assert (got, status) == (k + 1, hp.OK), "MKDIR d%d: %s %s" % (
            k, hp.st_name(status), msg)

    counts = {"stored": 0, "failed": 0, "closed": 0}
    stored = open(os.path.join(out, "stored"), "w")

    def reader():
        try:
            while counts["stored"] + counts["failed"] < n:
                m = p.msg(timeout=120.0)
                if m.type == hp.PONG:
                    with open(os.path.join(out, "pong"), "w") as f:
                        f.write("pong\n")
                elif m.type == hp.ITEM_ACK and m.stage == hp.STORED:
                    if m.status == hp.OK:
                        counts["stored"] += 1
                        stored.write(name(m.item_id) + "\n")
                        stored.flush()
                    else:
                        counts["failed"] += 1
                        print("   item %d: %s %s" % (m.item_id,
                              hp.st_name(m.status), hp.text(m.message)),
                              flush=True)
                elif m.type == hp.ITEM_ACK and m.status != hp.OK:
                    counts["failed"] += 1
                    print("   item %d refused: %s %s" % (m.item_id,
                          hp.st_name(m.status), hp.text(m.message)),
                          flush=True)
                elif m.type == hp.ERROR:
                    raise AssertionError("ERROR %s %s" % (
                        hp.st_name(m.status), hp.text(m.message)))
        except (hp.Closed, OSError):
            counts["closed"] = 1

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(1, n + 1):
            data = body(i)
            p.send(hp.item_open(i, name(i), chunk_size=65536) +
                   hp.chunk(i, 0, 1, data) +
                   hp.item_close(i, 1, len(data), hashlib.sha256(data).digest()))
        p.send(hp.ping(1))
    except OSError:
        counts["closed"] = 1
    t.join()
    stored.close()
    with open(os.path.join(out, "result"), "w") as f:
        f.write("stored %d failed %d closed %d\n" % (
            counts["stored"], counts["failed"], counts["closed"]))
    print("   peer: stored %d failed %d closed %d" % (
        counts["stored"], counts["failed"], counts["closed"]), flush=True)
    p.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
