#!/usr/bin/env python3
"""repeat_race.py: one frame on two paths of a session at once, for
tests/integration/repeat-race.sh.

A client whose path dies, or whose answer is late, sends an OP or an
ITEM_OPEN again on another path, while the server may still be running the
first copy (braidfs-protocol(7): a repeat is answered, never run twice).
Here both copies are sent back to back on paths A and B of one session,
so that the second arrives while the server is still busy with the first
(a rename is followed by two fsyncs; an item's files are being created).

ROUNDS rounds of:
  1. A: OP MKDIR d<i>; its OP_ACK is OK.
  2. A, then at once B: the same OP RENAME d<i> -> e<i> (one op id). Both
     OP_ACKs must be OK: a second run of the rename finds d<i> gone and
     answers NOT_FOUND.
  3. A, then at once B: the same ITEM_OPEN of item i ("f<i>"). Both
     ITEM_ACKs must be OPENED OK: a copy read while the first is being
     created finds an id it has not seen opened (NOT_FOUND).
  4. A: the item's one CHUNK (CHUNK_ACK) and its ITEM_CLOSE (STORED OK).

Writes RESULTS, JSON: for each kind ("rename", "open", "stored") a map
from the answer's status name to how many answers had it, and "bad", the
first few wrong answers. Exit status 0 unless the script itself broke.

usage: repeat_race.py HOST PORT ROUNDS RESULTS
"""

import hashlib
import json
import sys

import hostile_peer as hp

TIMEOUT = 60.0   # for one answer; a bound, not an expectation


def count(out, kind, status, what, msg):
    name = hp.st_name(status)
    out[kind][name] = out[kind].get(name, 0) + 1
    if status != hp.OK and len(out["bad"]) < 10:
        out["bad"].append("%s: %s \"%s\"" % (what, name, msg))


def op_ack(peer, op_id, what):
    got, status, msg = peer.op_ack(what)
    assert got == op_id, "%s: OP_ACK for op %d" % (what, got)
    return status, msg


def item_ack(peer, item_id, stage, what):
    got, st, status, msg = peer.item_ack(what)
    assert (got, st) == (item_id, stage), "%s: ITEM_ACK %d stage %d" % (what, got, st)
    return status, msg


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    hp.HOST, hp.PORT = sys.argv[1], int(sys.argv[2])
    rounds, results = int(sys.argv[3]), sys.argv[4]
    hp.self_test()

    a = hp.Peer("race-a", hostile=False, src="127.0.4.1", timeout=TIMEOUT)
    sid, token = a.new_session("race")
    b = hp.Peer("race-b", hostile=False, src="127.0.4.2", timeout=TIMEOUT)
    b.attach(sid, token, index=1)
    print("   session %s: paths A %s, B %s" % (sid.hex()[:8], hp.local_end(a.s),
                                              hp.local_end(b.s)), flush=True)
    out = {"rounds": rounds, "rename": {}, "open": {}, "stored": {}, "bad": []}
    for i in range(1, rounds + 1):
        a.send(hp.op(2 * i - 1, hp.MKDIR, "d%d" % i, mode=0o755))
        status, msg = op_ack(a, 2 * i - 1, "MKDIR d%d" % i)
        assert status == hp.OK, "MKDIR d%d: %s %s" % (i, hp.st_name(status), msg)

        rename = hp.op(2 * i, hp.RENAME, "d%d" % i, "e%d" % i)
        a.send(rename)
        b.send(rename)
        for peer, name in ((a, "A"), (b, "B")):
            what = "RENAME d%d on %s" % (i, name)
            status, msg = op_ack(peer, 2 * i, what)
            count(out, "rename", status, what, msg)

        data = hashlib.sha256(b"%d" % i).digest() * 4
        item_open = hp.item_open(i, "f%d" % i, chunk_size=4096)
        a.send(item_open)
        b.send(item_open)
        for peer, name in ((a, "A"), (b, "B")):
            what = "ITEM_OPEN %d on %s" % (i, name)
            status, msg = item_ack(peer, i, hp.OPENED, what)
            count(out, "open", status, what, msg)
        a.send(hp.chunk(i, 0, 1, data))
        assert a.chunk_ack("CHUNK %d" % i) == (i, 0, 0)
        a.send(hp.item_close(i, 1, len(data), hashlib.sha256(data).digest()))
        what = "item %d" % i
        status, msg = item_ack(a, i, hp.STORED, what)
        count(out, "stored", status, what, msg)
    with open(results, "w") as f:
        json.dump(out, f)
    print("   answers: %s" % json.dumps(out), flush=True)
    a.close()
    b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
