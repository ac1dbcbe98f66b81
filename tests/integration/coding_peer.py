#!/usr/bin/env python3
"""coding_peer.py: a test client sending shamir and rs shares straight to
braidfsd, for tests/integration/coding-server.sh.

The shares come from coding-shares (the product's encoder as a command);
the frames from bfwire.py (the test peers' wire module, held against the
project's codec by test_bfwire.py), the connections from hostile_peer.py. What man/braidfs-protocol.7 (CODED CHUNKS) says the server does:

  deliver   shamir:2/3, shamir:3/5, rs:2/3 and rs:4/6 items, each share of
            a chunk on its own path, in mixed orders: k shares rebuild a
            chunk, a repeated buffered share is acknowledged, shares after
            the k-th are acknowledged and ignored, some chunks get only k
            shares; every share gets its CHUNK_ACK on its path, the item
            ITEM_ACK STORED OK, and the server mount shows the exact bytes.
            A shamir item's digest travels only in its secret (shares of
            chunk 0xffffffff; ITEM_CLOSE's digest is zero), with its name
            too for one whose ITEM_OPEN has none (stored under that name);
            a wrong digest in the secret is STORED CORRUPT, and the answer
            does not carry a hidden name
  refusals  share_index >= coding_n, a buffered share resent with other
            bytes, pad >= k (rs), pad != 0 (shamir), shares of one chunk
            with two lengths, a stripe chunk with share_index 1: ERROR
            PROTOCOL and the path closed; 257 partial chunks in an item and
            more than 64 MiB of buffered shares in a session: ERROR LIMIT;
            shamir:16/16 with 16 MiB chunks: ITEM_ACK OPENED LIMIT; a share
            of the secret under rs or stripe, one of a secret with a name when
            ITEM_OPEN had one, a shamir ITEM_CLOSE with a digest: ERROR
            PROTOCOL; a hidden name over max_depth: STORED BAD_NAME
  resume-1  (then the server is killed -9 and restarted)
  resume-2  an item with two chunks and its secret rebuilt and one chunk
            with a single share before the crash: after it, ITEM_OPEN is
            answered OPENED OK, the shares of the chunks that had fewer
            than k acknowledged are sent again (all of them; not the
            secret's) and the item is stored exact; an item with a hidden
            name whose chunks and secret were all rebuilt is stored under
            its name on ITEM_CLOSE alone
  flood     (coding-flood.sh) 64 items under shamir:16/16 with 4 MiB
            chunks, then 16384 one-byte shares: share 0 of chunks 0 to 255
            of each, chunk by chunk (about 500 KB). Only an item's last
            chunk may be short, so the server acknowledges the first short
            share of each item at most and refuses the next one with ERROR
            PROTOCOL. STATE gets the acknowledgements counted and the ERROR.

usage: coding_peer.py PHASE HOST PORT SERVER_MOUNT CODING_SHARES STATE RESULTS
  PHASE     main | resume-1 | resume-2 | flood
  STATE     a JSON file resume-1 writes and resume-2 reads
  RESULTS   gets "PASS<TAB>what" / "FAIL<TAB>what<TAB>why" lines (appended)
"""

import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import threading
import time

import bfwire as W
import hostile_peer as hp
from bfwire import CORRUPT, LIMIT, RS, SECRET_CHUNK as SECRET, SHAMIR, chunk

CS = 4096                 # chunk_size of the small items
RESULTS = None
RNG = random.Random(20240611)


def result(ok, what, why=""):
    with open(RESULTS, "a") as f:
        if ok:
            f.write("PASS\t%s\n" % what)
        else:
            f.write("FAIL\t%s\t%s\n" % (what, why))
    print(("PASS: %s" if ok else "FAIL: %s: " + why) % what, flush=True)
    return ok


def parse_coding(text):
    kind, kn = text.split(":")
    k, n = (int(x) for x in kn.split("/"))
    return (SHAMIR if kind == "shamir" else RS), k, n


def secret_shares(tool, coding, digest, name=b""):
    """{share_index: (pad, bytes)} of the secret: digest, a random key,
    the name (when ITEM_OPEN leaves it out)."""
    return shares_of(tool, coding, W.secret(digest, os.urandom(32), name),
                     chunk_size=8192)[0]


def shares_of(tool, coding, data, chunk_size=CS):
    """{chunk_id: {share_index: (pad, bytes)}} from coding-shares."""
    out = subprocess.run([tool, coding, str(chunk_size)], input=data,
                         stdout=subprocess.PIPE, check=True).stdout
    res, pos = {}, 0
    while pos < len(out):
        cid, idx, pad, ln = struct.unpack(">IBBI", out[pos:pos + 10])
        res.setdefault(cid, {})[idx] = (pad, out[pos + 10:pos + 10 + ln])
        pos += 10 + ln
    return res


class Session:
    """One session with npaths paths; path i has path_index i."""

    def __init__(self, label, npaths, sid=None, token=None):
        self.paths = []
        first = hp.Peer(label, hostile=False)
        if sid is None:
            sid, token = first.new_session(label)
        else:
            first.attach(sid, token, index=0)
        self.sid, self.token = sid, token
        self.paths.append(first)
        for i in range(1, npaths):
            p = hp.Peer(label, hostile=False)
            p.attach(sid, token, index=i)
            self.paths.append(p)

    def open(self, item_id, name, coding, k, n, chunk_size=CS):
        p = self.paths[0]
        p.send(W.item_open(item_id, name, chunk_size, coding=coding, k=k, n=n))
        return p.item_ack("ITEM_OPEN %s" % name)

    def close(self):
        for p in self.paths:
            p.close()


def session_dir(mount, sid):
    suffix = "-" + sid.hex()[:8]
    for d in os.listdir(mount):
        if d.endswith(suffix):
            return os.path.join(mount, d)
    return None


def read_stored(mount, sid, name, secs=5.0):
    deadline = time.monotonic() + secs
    while True:
        d = session_dir(mount, sid)
        if d and os.path.exists(os.path.join(d, name)):
            with open(os.path.join(d, name), "rb") as f:
                return f.read()
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def send_plan(sess, item_id, shares, plan):
    """Sends (chunk_id, share_index) in plan order, share i of every chunk
    on path i % npaths (distinct paths for the shares of one chunk when
    npaths >= n), then reads each path's CHUNK_ACKs. Returns the acks that
    were missing or wrong."""
    total = len([c for c in shares if c != SECRET])
    want = {i: [] for i in range(len(sess.paths))}
    for cid, idx in plan:
        pad, data = shares[cid][idx]
        path = idx % len(sess.paths)
        sess.paths[path].send(chunk(item_id, cid, 0 if cid == SECRET else total,
                                    data, share=idx, pad=pad))
        want[path].append((item_id, cid, idx))
    bad = []
    for path, acks in want.items():
        for w in acks:
            got = sess.paths[path].chunk_ack("CHUNK_ACK %r" % (w,))
            if got != w:
                bad.append((path, w, got))
    return bad


def deliver_one(mount, tool, sess, item_id, coding_text, size, hide=False,
                digest=None):
    coding, k, n = parse_coding(coding_text)
    data = os.urandom(size)
    name = "%s%s.bin" % (coding_text.replace(":", "-").replace("/", "of"),
                         "-hidden" if hide else "")
    what = "deliver %s (%d bytes, %d chunks%s)" % (
        coding_text, size, (size + CS - 1) // CS, ", name hidden" if hide else "")
    shares = shares_of(tool, coding_text, data)
    iid, stage, st, msg = sess.open(item_id, "" if hide else name, coding, k, n)
    if not result((stage, st) == (hp.OPENED, hp.OK), what + ": OPENED OK",
                  "%s %s" % (hp.st_name(st), msg)):
        return
    # Per chunk: a random order of its n shares. Chunk 0 gets all n, the
    # others k only, or k plus a repeat of a buffered share before the
    # k-th; the shares past the k-th of every chunk go at the very end.
    first, late = [], []
    for cid in sorted(shares):
        order = list(range(n))
        RNG.shuffle(order)
        head = order[:k]
        if cid % 3 == 1 and k >= 2:
            head = head[:k - 1] + [head[0]] + head[k - 1:]  # a repeat
        first += [(cid, i) for i in head]
        if cid == 0 or cid % 3 == 2:
            late += [(cid, i) for i in order[k:]]
    # interleave the chunks' shares so that several chunks are partial
    RNG.shuffle(first)
    first.sort(key=lambda ci: ci[0] // 2)      # mild: stays windowed
    bad = send_plan(sess, item_id, shares, first + late)
    result(not bad, what + ": a CHUNK_ACK for every share on its path "
           "(%d shares, %d after rebuild)" % (len(first) + len(late), len(late)),
           repr(bad[:3]))
    good = hashlib.sha256(data).digest()
    close_digest = good
    if coding == SHAMIR:
        # the digest (and a hidden name) only as shares of the secret
        sec = {SECRET: secret_shares(tool, coding_text, digest or good,
                                     name.encode() if hide else b"")}
        order = list(range(n))
        RNG.shuffle(order)
        bad = send_plan(sess, item_id, sec, [(SECRET, i) for i in order])
        result(not bad, what + ": a CHUNK_ACK for every share of the secret",
               repr(bad[:3]))
        close_digest = bytes(32)
    sess.paths[1].send(hp.item_close(item_id, len(shares), size, close_digest))
    iid, stage, st, msg = sess.paths[1].item_ack("ITEM_CLOSE " + name)
    if digest is not None:
        result((iid, stage, st) == (item_id, hp.STORED, CORRUPT),
               what + ": a wrong digest in the secret: ITEM_ACK STORED CORRUPT",
               "%d %s %s" % (stage, hp.st_name(st), msg))
        result(name not in msg and "item %d" % item_id in msg,
               what + ": the answer names the item by its id, not its name",
               msg)
        return
    result((iid, stage, st) == (item_id, hp.STORED, hp.OK),
           what + ": ITEM_ACK STORED OK", "%d %s %s" % (stage, hp.st_name(st), msg))
    got = read_stored(mount, sess.sid, name)
    result(got == data, what + ": the server mount shows the exact bytes",
           "missing" if got is None else "%d bytes, differ" % len(got))


def c_deliver(mount, tool):
    sess = Session("coding-deliver", 6)
    for item_id, (coding, size) in enumerate((
            ("shamir:2/3", 5 * CS + 1234), ("shamir:3/5", 4 * CS),
            ("rs:2/3", 6 * CS + 1), ("rs:4/6", 5 * CS + 4093),
            ("shamir:1/2", 2 * CS + 7), ("rs:3/5", 3)), start=1):
        deliver_one(mount, tool, sess, item_id, coding, size)
    deliver_one(mount, tool, sess, 7, "shamir:3/5", 3 * CS + 5, hide=True)
    deliver_one(mount, tool, sess, 8, "shamir:2/3", 0, hide=True)
    deliver_one(mount, tool, sess, 9, "shamir:2/3", CS, hide=True,
                digest=bytes(range(32)))
    sess.close()


def expect_error(p, want, what):
    try:
        m = p.msg(timeout=10.0)
    except (hp.Closed, OSError, W.WireError) as e:
        return result(False, what, "no ERROR frame: %s" % e)
    if m.type != W.ERROR:
        return result(False, what, "got %s, want ERROR %s" % (W.fname(m.type),
                                                              W.st_name(want)))
    st, msg = m.status, hp.text(m.message)
    closed, _ = p.closed_within(5.0)
    return result(st == want and closed, "%s: ERROR %s, path closed" % (
        what, hp.st_name(want)), "ERROR %s \"%s\", closed %s" % (
        hp.st_name(st), msg, closed))


def refusal(label, coding_text, frames, want, what, acks=0, chunk_size=CS):
    """A fresh session: opens item 1 with coding, sends frames on path 0,
    expects `acks` CHUNK_ACKs then ERROR want."""
    coding, k, n = parse_coding(coding_text) if coding_text != "stripe" \
        else (hp.STRIPE, 1, 1)
    sess = Session(label, 1)
    p = sess.paths[0]
    iid, stage, st, msg = sess.open(1, "x.bin", coding, k, n, chunk_size)
    if (stage, st) != (hp.OPENED, hp.OK):
        result(False, what, "ITEM_OPEN refused: %s %s" % (hp.st_name(st), msg))
        return sess
    for f in frames:
        p.send(f)
    for i in range(acks):
        p.chunk_ack("%s: ack %d" % (what, i))
    expect_error(p, want, what)
    sess.close()
    return sess


def c_refusals(mount, tool):
    a, b = os.urandom(CS), os.urandom(CS)
    refusal("coding-r1", "shamir:2/3", [chunk(1, 0, 0, a, share=3)],
            hp.PROTOCOL, "share_index 3 under shamir:2/3")
    refusal("coding-r2", "shamir:3/4",
            [chunk(1, 0, 0, a, share=1), chunk(1, 0, 0, b, share=1)],
            hp.PROTOCOL, "a buffered share resent with other bytes", acks=1)
    refusal("coding-r3", "rs:4/6", [chunk(1, 0, 0, a, share=5, pad=4)],
            hp.PROTOCOL, "pad 4 under rs:4/6")
    refusal("coding-r4", "shamir:2/3", [chunk(1, 0, 0, a, share=0, pad=1)],
            hp.PROTOCOL, "pad 1 under shamir")
    refusal("coding-r5", "shamir:3/5",
            [chunk(1, 0, 0, a[:100], share=0), chunk(1, 0, 0, b[:101], share=1)],
            hp.PROTOCOL, "two share lengths in one chunk", acks=1)
    refusal("coding-r6", "stripe", [chunk(1, 0, 0, a, share=1)],
            hp.PROTOCOL, "stripe chunk with share_index 1")
    # 256 partial chunks are allowed, the 257th is not
    frames = [chunk(1, cid, 0, a, share=0) for cid in range(257)]
    refusal("coding-r7", "shamir:2/3", frames, LIMIT,
            "a 257th partial chunk in one item", acks=256)
    # one chunk's k-1 shares over 64 MiB: refused at ITEM_OPEN
    sess = Session("coding-r8", 1)
    iid, stage, st, msg = sess.open(1, "big.bin", SHAMIR, 16, 16, 16 << 20)
    result((stage, st) == (hp.OPENED, LIMIT),
           "shamir:16/16 with 16 MiB chunks: ITEM_ACK OPENED LIMIT",
           "%d %s %s" % (stage, hp.st_name(st), msg))
    sess.close()
    # 64 MiB of buffered shares per session, over two items: shamir:3/4
    # with 16 MiB chunks buffers 2 x 16 MiB per chunk
    sess = Session("coding-r9", 1)
    p = sess.paths[0]
    big = os.urandom(16 << 20)
    for item in (1, 2):
        iid, stage, st, msg = sess.open(item, "b%d.bin" % item, SHAMIR, 3, 4,
                                        16 << 20)
        result((stage, st) == (hp.OPENED, hp.OK),
               "shamir:3/4 with 16 MiB chunks: OPENED OK (item %d)" % item,
               "%s %s" % (hp.st_name(st), msg))
    crc = hp.crc32c(big)
    n = 0
    for item in (1, 2):
        for share in (0, 1):
            p.send(chunk(item, 0, 0, big, share=share, crc=crc))
            p.chunk_ack("64 MiB: share %d of item %d" % (share, item))
            n += 1
    result(n == 4, "4 shares of 16 MiB buffered (64 MiB) and acknowledged", "")
    p.send(chunk(2, 1, 0, big, share=0, crc=crc))
    expect_error(p, LIMIT, "a share beyond 64 MiB buffered in the session")
    sess.close()
    # the secret: shamir only, its length says whether the name is in it,
    # and ITEM_CLOSE of a shamir item carries no digest
    refusal("coding-r10", "rs:2/3", [chunk(1, SECRET, 0, bytes(64))],
            hp.PROTOCOL, "a share of the secret under rs")
    refusal("coding-r14", "stripe", [chunk(1, SECRET, 0, bytes(64))],
            hp.PROTOCOL, "a secret under stripe")
    refusal("coding-r11", "shamir:2/3", [chunk(1, SECRET, 0, bytes(70))],
            hp.PROTOCOL, "a secret with a name when ITEM_OPEN had one")
    refusal("coding-r12", "shamir:2/3",
            [hp.item_close(1, 1, 10, hashlib.sha256(b"0123456789").digest())],
            hp.PROTOCOL, "a shamir ITEM_CLOSE with a digest")
    # hidden names the server refuses: over its max_depth (coding-server.sh:
    # 16) or against the rules of NAMES; the item fails, not the path
    sess = Session("coding-r13", 2)
    for item, (what, name) in enumerate((
            ("over max_depth", "/".join("d%d" % i for i in range(20))),
            ("with '..'", "up/../../d19")), start=1):
        iid, stage, st, msg = sess.open(item, "", SHAMIR, 2, 2)
        result((stage, st) == (hp.OPENED, hp.OK), "hidden name: OPENED OK",
               "%s %s" % (hp.st_name(st), msg))
        sec = secret_shares(tool, "shamir:2/2", bytes(32), name.encode())
        for i in (0, 1):
            sess.paths[i].send(chunk(item, SECRET, 0, sec[i][1], share=i))
        acks = [sess.paths[i].chunk_ack("secret share %d" % i) for i in (0, 1)]
        iid, stage, st, msg = sess.paths[0].item_ack("the refused hidden name")
        result(acks == [(item, SECRET, 0), (item, SECRET, 1)] and
               (iid, stage, st) == (item, hp.STORED, hp.BAD_NAME),
               "a hidden name %s: ITEM_ACK STORED BAD_NAME" % what,
               "%r, %d %s %s" % (acks, stage, hp.st_name(st), msg))
        result("d19" not in msg and "item %d" % item in msg,
               "... whose message does not carry the name", msg)
    sess.close()


def resume_1(mount, tool, state):
    coding_text = "shamir:2/3"
    data = os.urandom(4 * CS + 100)
    hidden = os.urandom(2 * CS)
    shares = shares_of(tool, coding_text, data)
    sess = Session("coding-resume", 3)
    iid, stage, st, msg = sess.open(1, "resumed.bin", SHAMIR, 2, 3)
    result((stage, st) == (hp.OPENED, hp.OK), "resume: OPENED OK",
           "%s %s" % (hp.st_name(st), msg))
    # chunks 0 and 1 and the secret rebuilt (2 shares each), chunk 2
    # partial (1 share)
    shares[SECRET] = secret_shares(tool, coding_text,
                                   hashlib.sha256(data).digest())
    plan = [(0, 0), (0, 2), (1, 1), (1, 2), (2, 1), (SECRET, 2), (SECRET, 0)]
    bad = send_plan(sess, 1, shares, plan)
    result(not bad, "resume: 7 shares acknowledged before the crash", repr(bad))
    # a hidden name: every chunk and the secret rebuilt, no ITEM_CLOSE yet
    iid, stage, st, msg = sess.open(2, "", SHAMIR, 2, 3)
    result((stage, st) == (hp.OPENED, hp.OK), "resume: OPENED OK, name hidden",
           "%s %s" % (hp.st_name(st), msg))
    hshares = shares_of(tool, coding_text, hidden)
    hshares[SECRET] = secret_shares(tool, coding_text,
                                    hashlib.sha256(hidden).digest(),
                                    b"hidden/resumed.bin")
    bad = send_plan(sess, 2, hshares, [(c, i) for c in hshares for i in (0, 1)])
    result(not bad, "resume: the hidden name's item rebuilt before the crash",
           repr(bad))
    with open(state, "w") as f:
        json.dump({"sid": sess.sid.hex(), "token": sess.token.hex(),
                   "data": data.hex(), "hidden": hidden.hex()}, f)
    sess.close()


def resume_2(mount, tool, state):
    with open(state) as f:
        st_ = json.load(f)
    data = bytes.fromhex(st_["data"])
    hidden = bytes.fromhex(st_["hidden"])
    shares = shares_of(tool, "shamir:2/3", data)   # a new encoding: fine, the
    sess = Session("coding-resume", 3,              # old partial chunk is gone
                   bytes.fromhex(st_["sid"]), bytes.fromhex(st_["token"]))
    iid, stage, st, msg = sess.open(1, "resumed.bin", SHAMIR, 2, 3)
    result((iid, stage, st) == (1, hp.OPENED, hp.OK),
           "resume: the kept item answers ITEM_OPEN with OPENED OK",
           "%d %s %s" % (stage, hp.st_name(st), msg))
    # chunks with fewer than k acknowledged shares: 2 (one) and 3, 4 (none)
    plan = [(2, 0), (2, 1), (3, 2), (3, 0), (4, 1), (4, 0)]
    bad = send_plan(sess, 1, shares, plan)
    result(not bad, "resume: the shares of the chunks not rebuilt acknowledged",
           repr(bad))
    sess.paths[0].send(hp.item_close(1, len(shares), len(data), bytes(32)))
    iid, stage, st, msg = sess.paths[0].item_ack("ITEM_CLOSE resumed.bin")
    result((iid, stage, st) == (1, hp.STORED, hp.OK),
           "resume: ITEM_ACK STORED OK without re-sending chunks 0 and 1 and "
           "the secret", "%d %s %s" % (stage, hp.st_name(st), msg))
    got = read_stored(mount, sess.sid, "resumed.bin")
    result(got == data, "resume: the server mount shows the exact bytes",
           "missing" if got is None else "%d bytes, differ" % len(got))
    iid, stage, st, msg = sess.open(2, "", SHAMIR, 2, 3)
    result((iid, stage, st) == (2, hp.OPENED, hp.OK),
           "resume: the kept item with a hidden name answers OPENED OK",
           "%d %s %s" % (stage, hp.st_name(st), msg))
    sess.paths[0].send(hp.item_close(2, 2, len(hidden), bytes(32)))
    iid, stage, st, msg = sess.paths[0].item_ack("ITEM_CLOSE of the hidden name")
    result((iid, stage, st) == (2, hp.STORED, hp.OK),
           "resume: ... and STORED OK on its ITEM_CLOSE alone",
           "%d %s %s" % (stage, hp.st_name(st), msg))
    got = read_stored(mount, sess.sid, "hidden/resumed.bin")
    result(got == hidden, "resume: ... under the name from its secret",
           "missing" if got is None else "%d bytes, differ" % len(got))
    sess.close()


def flood(state):
    items, chunks, cs = 64, 256, 4 << 20
    sess = Session("coding-flood", 1)
    p = sess.paths[0]
    for item in range(1, items + 1):
        iid, stage, st, msg = sess.open(item, "flood-%d.bin" % item, SHAMIR,
                                        16, 16, cs)
        if (stage, st) != (hp.OPENED, hp.OK):
            result(False, "flood: OPENED OK for item %d" % item,
                   "%s %s" % (hp.st_name(st), msg))
            return
    result(True, "flood: %d items of shamir:16/16 with 4 MiB chunks opened"
           % items)
    frames = b"".join(chunk(item, cid, 0, b"x")
                      for cid in range(chunks) for item in range(1, items + 1))
    sent = {"bytes": 0, "error": None}

    def push():
        try:
            for off in range(0, len(frames), 1 << 16):
                p.send(frames[off:off + (1 << 16)])
                sent["bytes"] = off + len(frames[off:off + (1 << 16)])
        except OSError as e:
            sent["error"] = str(e)

    pusher = threading.Thread(target=push)
    pusher.start()
    acks, error = 0, None
    while acks < items * chunks:
        try:
            m = p.msg(timeout=60.0)
        except (hp.Closed, OSError, W.WireError) as e:
            error = "closed without ERROR: %s" % e
            break
        if m.type == W.CHUNK_ACK:
            acks += 1
        elif m.type == W.ERROR:
            error = "%s %s" % (W.st_name(m.status), hp.text(m.message))
            break
    pusher.join()
    print("   flood: %d bytes sent (%s), %d CHUNK_ACKs, then %s" % (
        sent["bytes"], sent["error"] or "no send error", acks, error),
          flush=True)
    with open(state, "w") as f:
        json.dump({"frames": items * chunks, "bytes": len(frames),
                   "acks": acks, "error": error}, f)
    sess.close()


def main():
    global RESULTS
    if len(sys.argv) != 8:
        print(__doc__, file=sys.stderr)
        return 2
    phase, hp.HOST, hp.PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mount, tool, state, RESULTS = sys.argv[4:8]
    W.self_test()
    if phase == "main":
        c_deliver(mount, tool)
        c_refusals(mount, tool)
    elif phase == "resume-1":
        resume_1(mount, tool, state)
    elif phase == "resume-2":
        resume_2(mount, tool, state)
    elif phase == "flood":
        flood(state)
    else:
        print("unknown phase " + phase, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
