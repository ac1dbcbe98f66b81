#!/usr/bin/env python3
"""partial_peer.py: items left partial in a session's journal, then
finished after a restart, for tests/integration/journal-unreadable.sh.

  partial_peer.py open HOST PORT LABEL K OUT
      opens a session labelled LABEL and K items f1..fK of 4 chunks each
      (4 KiB chunks); sends chunks 0 and 1 of each and waits for their
      CHUNK_ACKs; then writes OUT/session ("SID TOKEN" in hex) and exits
      (the items stay open in the server's journal).

  partial_peer.py finish HOST PORT K OUT
      attaches to that session and sends only chunks 2 and 3 of each item
      and its ITEM_CLOSE: an item stores only if the server kept the
      chunks it acknowledged before. Prints one line per item, "fI
      STATUS", and exits 0 if every one was STORED OK.

The bytes of fI are derived from I, so both runs agree on them.
"""

import hashlib
import os
import sys

import hostile_peer as hp

CHUNK = 4096
CHUNKS = 4


def body(i):
    seed = hashlib.sha256(b"partial %d" % i).digest()
    return (seed * (CHUNK * CHUNKS // 32))[:CHUNK * CHUNKS]


def piece(i, c):
    return body(i)[c * CHUNK:(c + 1) * CHUNK]


def open_items(label, k, out):
    p = hp.Peer("partial", hostile=False, src="127.0.0.1", timeout=30.0)
    sid, token = p.new_session(label)
    for i in range(1, k + 1):
        hp.open_item(p, i, "f%d" % i, "ITEM_OPEN f%d" % i)
        p.send(hp.chunk(i, 0, CHUNKS, piece(i, 0)) +
               hp.chunk(i, 1, CHUNKS, piece(i, 1)))
        acked = {p.chunk_ack("f%d" % i)[1] for _ in range(2)}
        assert acked == {0, 1}, "f%d: acknowledged %r" % (i, acked)
    with open(os.path.join(out, "session.tmp"), "w") as f:
        f.write("%s %s\n" % (sid.hex(), token.hex()))
    os.rename(os.path.join(out, "session.tmp"), os.path.join(out, "session"))
    p.close()
    return 0


def finish(k, out):
    with open(os.path.join(out, "session")) as f:
        sid, token = (bytes.fromhex(x) for x in f.read().split())
    p = hp.Peer("partial", hostile=False, src="127.0.0.1", timeout=30.0)
    p.attach(sid, token, index=0)
    for i in range(1, k + 1):
        data = body(i)
        p.send(hp.chunk(i, 2, CHUNKS, piece(i, 2)) +
               hp.chunk(i, 3, CHUNKS, piece(i, 3)) +
               hp.item_close(i, CHUNKS, len(data),
                             hashlib.sha256(data).digest()))
    stored, bad = set(), 0
    while len(stored) + bad < k:
        m = p.msg(timeout=60.0)
        if m.type == hp.ERROR:
            raise AssertionError("ERROR %s %s" % (hp.st_name(m.status),
                                                  hp.text(m.message)))
        if m.type != hp.ITEM_ACK or (m.stage != hp.STORED and
                                     m.status == hp.OK):
            continue
        print("f%d %s %s" % (m.item_id, hp.st_name(m.status),
                             hp.text(m.message)), flush=True)
        if m.status == hp.OK:
            stored.add(m.item_id)
        else:
            bad += 1
    p.close()
    return 0 if bad == 0 else 1


def main():
    a = sys.argv[1:]
    if len(a) == 6 and a[0] == "open":
        hp.HOST, hp.PORT = a[1], int(a[2])
        return open_items(a[3], int(a[4]), a[5])
    if len(a) == 5 and a[0] == "finish":
        hp.HOST, hp.PORT = a[1], int(a[2])
        return finish(int(a[3]), a[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
