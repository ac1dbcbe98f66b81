#!/usr/bin/env python3
"""test_bfwire.py: the test peers' wire module (bfwire.py) against the
reference codec (src/core/wire.c, run as tests/integration/wire-dump), so
that the two cannot drift apart.

usage: test_bfwire.py WIRE_DUMP [FUZZ_FRAME_CORPUS_DIR]

Every record (frames of every type with edge values, frames breaking each
rule of man/braidfs-protocol.7, a few thousand random mutants of both
with a fixed seed, the frames of the fuzz-frame seed corpus, secrets,
names and prefaces) goes through both. For each, the two must give the
same line: the same error category, or the same fields and the same
canonical encoding (bf_msg_encode against bfwire.encode of what was
decoded). Also: bfwire.self_test() (the man page's EXAMPLE), and every
frame type decoded and every error category met at least once, so that
the comparison cannot pass on an empty or one-sided corpus.
"""

import os
import random
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bfwire as W  # noqa: E402

SID = bytes(range(0x10, 0x20))
TOKEN = bytes(range(0xA0, 0xB0))
DIG = W.digest(W.SHA256, b"hello")


def valid_frames():
    f = []
    # HELLO
    f += [W.hello(W.NEW), W.hello(W.NEW, label="laptop"),
          W.hello(W.NEW, label="L" * 64), W.hello(W.NEW, label="caf\u00e9 \u2603"),
          W.hello(W.ATTACH, SID, TOKEN, path_index=65535),
          W.hello(W.ATTACH, SID, TOKEN, path_index=None),
          W.hello(W.NEW, path_index=None, tlvs=W.tlv(W.TLV_NONCE, bytes(32)) +
                  W.tlv(W.TLV_PROOF, bytes(range(32))) + W.tlv(99, b"future")),
          W.hello(W.ATTACH, SID, TOKEN, label="ignored", path_index=3,
                  tlvs=b"".join(W.tlv(10 + i, b"x" * i) for i in range(14)))]
    # WELCOME
    f += [W.welcome(W.OK, SID, TOKEN), W.welcome(W.OK, SID, instance=0x0123456789ABCDEF),
          W.welcome(W.AUTH_FAILED, msg="unknown session"),
          W.welcome(W.LIMIT, msg="m" * 1024, tlvs=W.tlv(7, b"x")),
          W.welcome(W.OK, SID, TOKEN, instance=1, tlvs=W.tlv(4, b"anything"))]
    # AUTH
    f += [W.auth(s, bytes([s]) * 32) for s in (1, 2, 3, 4)]
    # ITEM_OPEN
    f += [W.item_open(1, "a/b.txt", 1 << 20, alg=W.BLAKE2B),
          W.item_open(2 ** 64 - 1, "x", W.CHUNK_MIN, 0o7777, (-1234567890123, 999999999)),
          W.item_open(3, "d", W.CHUNK_MAX, 0, (2 ** 63 - 1, 0)),
          W.item_open(4, "", coding=W.SHAMIR, k=2, n=3),
          W.item_open(5, "rs.bin", coding=W.RS, k=16, n=16),
          W.item_open(6, "s.bin", coding=W.SHAMIR, k=1, n=2),
          W.item_open(7, b"\xff\xfe/not utf-8 \x01"),
          W.item_open(8, "/".join(["c" * 255] * 16)),
          W.item_open(9, "/".join(["d"] * 64)),
          W.item_open(10, ("c" * 240 + "/") * 16 + "z" * 240),
          W.item_open(11, "log.txt", base=(1, DIG)),
          W.item_open(12, "big", base=(2 ** 64 - 1, bytes(32)), alg=W.BLAKE2B),
          W.item_open(13, "log.txt", base=(5, DIG), keep=0),
          W.item_open(14, "big", base=(2 ** 64 - 1, DIG), keep=2 ** 64 - 2)]
    # CHUNK
    f += [W.chunk(1, 0, 1, b"hello"), W.chunk(1, 5, 0, b"x"),
          W.chunk(2, 0xFFFFFFFE, 0xFFFFFFFF, bytes(range(256)), share=15, pad=15),
          W.chunk(3, W.SECRET_CHUNK, 0, bytes(70), share=2),
          W.chunk(4, 0, 1, b"wrong crc", crc=0)]
    # CHUNK_ACK
    f += [W.chunk_ack(1, 0), W.chunk_ack(2 ** 64 - 1, W.SECRET_CHUNK, 15)]
    # ITEM_CLOSE
    f += [W.item_close(1, 1, 5, DIG), W.item_close(2, 0, 0, bytes(32), alg=W.BLAKE2B),
          W.item_close(3, 0xFFFFFFFF, 2 ** 64 - 1, DIG, 0o7777, (-1, 999999999)),
          W.item_close(4, 2, 9, bytes(32), 0, (0, 0))]
    # ITEM_ACK
    f += [W.item_ack(1, W.OPENED), W.item_ack(2, W.STORED, W.CORRUPT, "digest mismatch"),
          W.item_ack(3, W.OPENED, W.VERSION, "\u00e9" * 512),
          W.item_ack(4, W.STORED, proof=bytes(range(32)))]
    # OP
    f += [W.op(1, W.MKDIR, "photos/2024", mode=0o755),
          W.op(2, W.RMDIR, "d"), W.op(3, W.UNLINK, "a/b"),
          W.op(4, W.RENAME, "a/old name", "b/new name"),
          W.op(5, W.CANCEL, item_id=77),
          W.op(6, W.SETATTR, "f", mode=0o600, flags=3, mtime=(-5, 5)),
          W.op(9, W.SYMLINK, "a/l", "../x y"), W.op(10, W.SYMLINK, "l", "/" * 4095),
          W.op(11, W.LINK, "a", "b/c"), W.op(12, W.MKNOD, "p", mode=0o600, flags=1),
          W.op(13, W.MKNOD, "s", flags=2),
          W.op(7, W.SETATTR, "f", flags=0), W.op(8, W.MKDIR, "x", mode=0o7777,
                                                  mtime=(9, 9), item_id=3)]
    # OP_ACK, PING, PONG, ERROR
    f += [W.op_ack(1), W.op_ack(2, W.NOT_EMPTY, "not empty"), W.op_ack(3, W.ST_MAX)]
    f += [W.statfs(0), W.statfs(2 ** 64 - 1), W.statfs_ack(1, W.IO),
          W.statfs_ack(2, W.OK, 4096, 100, 50, 40, 10, 10),
          W.statfs_ack(3, W.OK, 1 << 30, 2 ** 64 - 1, 0, 0, 0, 0)]
    f += [W.read(1, 0, 1, "a/b"), W.read(2, 2 ** 63 - 1 - W.CHUNK_MAX, W.CHUNK_MAX, "x"),
          W.read_data(1, W.OK, 5, b"hello"), W.read_data(2, W.OK, 0),
          W.read_data(3, W.NOT_FOUND), W.read_data(4, W.OK, 9, b"x", crc=7)]
    f += [W.ping(0), W.ping(2 ** 64 - 1), W.pong(0x1122334455667788)]
    f += [W.error(W.PROTOCOL, "CHUNK: chunk_id 7 >= total_chunks 7"), W.error(W.OK),
          W.error(W.CORRUPT, "m" * 1024)]
    return f


def broken_frames():
    """One rule broken per frame."""
    f = []
    f += [W.hello(2), W.hello(W.NEW, SID), W.hello(W.NEW, token=TOKEN),
          W.hello(W.NEW, label="L" * 65), W.hello(W.NEW, label="tab\there"),
          W.hello(W.NEW, label="del\x7f"), W.hello(W.NEW, label=b"\xc3"),
          W.hello(W.NEW, label=b"\xed\xa0\x80"),
          W.hello(W.NEW, path_index=None, tlvs=W.tlv(4, b"\0")),
          W.hello(W.NEW, path_index=None, tlvs=W.tlv(4, b"\0\0\0")),
          W.hello(W.NEW, path_index=None, tlvs=W.tlv(2, bytes(31))),
          W.hello(W.NEW, path_index=None, tlvs=W.tlv(3, bytes(33))),
          W.hello(W.NEW, tlvs=W.tlv(4, b"\0\1")),
          W.hello(W.NEW, path_index=None, tlvs=W.tlv(50, b"") + W.tlv(50, b"")),
          W.hello(W.NEW, path_index=None, tlvs=b"".join(W.tlv(10 + i, b"") for i in range(17))),
          W.hello(W.NEW, path_index=None, tlvs=b"\x04\x00"),
          W.hello(W.NEW, path_index=None, tlvs=b"\x04\x00\x05\x00")]
    f += [W.welcome(13), W.welcome(W.OK, msg="m" * 1025), W.welcome(W.OK, msg=b"a\0b"),
          W.welcome(W.OK, msg=b"\xff"), W.welcome(W.OK, tlvs=W.tlv(5, bytes(7))),
          W.welcome(W.OK, instance=1, tlvs=W.tlv(5, bytes(8))),
          W.frame(W.WELCOME, bytes(35))]
    f += [W.auth(0, bytes(32)), W.auth(5, bytes(32)), W.frame(W.AUTH, bytes(33)),
          W.frame(W.AUTH, bytes(35))]
    f += [W.item_open(1, "x", 4095), W.item_open(1, "x", W.CHUNK_MAX + 1),
          W.item_open(1, "x", mode=0o10000), W.item_open(1, "x", mtime=(0, 10 ** 9)),
          W.item_open(1, "x", coding=W.STRIPE, k=1, n=2),
          W.item_open(1, "x", coding=W.SHAMIR, k=0, n=2),
          W.item_open(1, "x", coding=W.RS, k=3, n=2),
          W.item_open(1, "x", coding=W.RS, k=1, n=17),
          W.item_open(1, "x", coding=W.SHAMIR, k=1, n=1),
          W.item_open(1, "x", coding=3), W.item_open(1, "x", alg=0), W.item_open(1, "x", alg=3),
          W.item_open(1, "", coding=W.RS, k=2, n=3), W.item_open(1, ""),
          W.item_open(1, "../x"), W.item_open(1, "a/../b"), W.item_open(1, "/etc/passwd"),
          W.item_open(1, "a//b"), W.item_open(1, "a/"), W.item_open(1, "a/./b"),
          W.item_open(1, "."), W.item_open(1, b"a\0b"), W.item_open(1, "x" * 256),
          W.item_open(1, "/".join(["d"] * 65)),
          W.item_open(1, ("c" * 240 + "/") * 16 + "z" * 241),
          W.item_open(1, "x") + b"!", W.item_open(1, "x")[:-1],
          W.item_open(1, "x", base=(0, DIG)),
          W.item_open(1, "x", coding=W.RS, k=2, n=3, base=(5, DIG)),
          W.item_open(1, "", coding=W.SHAMIR, k=2, n=3, base=(5, DIG)),
          W.item_open(1, "x", base=(5, DIG))[:-1],
          W.item_open(1, "x", base=(5, DIG)) + b"!",
          W.item_open(1, "x", base=(5, DIG), keep=5),
          W.item_open(1, "x", base=(5, DIG), keep=2 ** 64 - 1),
          W.item_open(1, "x", base=(5, DIG), keep=4)[:-1],
          W.item_open(1, "x", base=(5, DIG), keep=4) + b"!"]
    f += [W.chunk(1, 0, 0, b""), W.chunk(1, 3, 3, b"x"), W.chunk(1, 0, 1, b"x", pad=16),
          W.chunk(1, 0, 1, b"x", share=16), W.frame(W.CHUNK, bytes(23))]
    f += [W.chunk_ack(1, 0, 16), W.frame(W.CHUNK_ACK, bytes(15)), W.frame(W.CHUNK_ACK, bytes(17))]
    f += [W.item_close(1, 0, 5, DIG), W.item_close(1, 1, 0, DIG), W.item_close(1, 1, 5, DIG, alg=0),
          W.item_close(1, 1, 5, DIG, mode=0o20000), W.item_close(1, 1, 5, DIG, mtime=(0, 10 ** 9)),
          W.frame(W.ITEM_CLOSE, bytes(71)), W.frame(W.ITEM_CLOSE, bytes(73))]
    f += [W.item_ack(1, 0), W.item_ack(1, 3), W.item_ack(1, W.STORED, 13),
          W.item_ack(1, W.STORED, W.OK, "m" * 1025), W.item_ack(1, W.STORED, W.OK, b"\xc0\x80"),
          W.item_ack(1, W.STORED) + b"x",
          W.frame(W.ITEM_ACK, bytes(8) + b"\x02\x00\x00\x00"),
          W.frame(W.ITEM_ACK, bytes(8) + b"\x02\x00\x00\x00" + bytes(31))]
    f += [W.frame(W.STATFS, bytes(7)), W.frame(W.STATFS, bytes(9)),
          W.frame(W.STATFS_ACK, bytes(55)), W.frame(W.STATFS_ACK, bytes(57)),
          W.statfs_ack(1, W.OK), W.statfs_ack(1, W.OK, (1 << 30) + 1),
          W.statfs_ack(1, W.OK, 512, 10, 11, 0), W.statfs_ack(1, W.OK, 512, 10, 5, 6),
          W.statfs_ack(1, W.OK, 512, files=1, ffree=2), W.statfs_ack(1, W.IO, 512),
          W.statfs_ack(1, 13)]
    f += [W.read(1, 0, 0, "x"), W.read(1, 0, W.CHUNK_MAX + 1, "x"),
          W.read(1, 2 ** 63 - 1, 1, "x"), W.read(1, 0, 1, "../x"), W.read(1, 0, 1, ""),
          W.read(1, 0, 1, "x") + b"!", W.frame(W.READ, bytes(21)),
          W.read_data(1, W.IO, 1), W.read_data(1, W.IO, payload=b"x", crc=0),
          W.read_data(1, 13), W.frame(W.READ_DATA, bytes(23))]
    f += [W.op(1, 0, "x"), W.op(1, 10, "x"), W.op(1, W.SYMLINK, "x"),
          W.op(1, W.SYMLINK, "x", "/" * 4096), W.op(1, W.SYMLINK, "x", b"a\0b"),
          W.op(1, W.SYMLINK, "../x", "y"), W.op(1, W.LINK, "x", ""),
          W.op(1, W.MKNOD, "x"), W.op(1, W.MKNOD, "x", flags=3),
          W.op(1, W.MKNOD, "x", flags=4), W.op(1, W.MKNOD, "x", "y", flags=1), W.op(1, W.CANCEL, "x"), W.op(1, W.MKDIR, "x", "y"),
          W.op(1, W.MKDIR, ""), W.op(1, W.RENAME, "x", ""), W.op(1, W.RENAME, "x", "../y"),
          W.op(1, W.MKDIR, "x", flags=1), W.op(1, W.SETATTR, "x", flags=4),
          W.op(1, W.MKDIR, "x", mode=0o10000), W.op(1, W.SETATTR, "x", mtime=(0, 10 ** 9)),
          W.op(1, W.CANCEL, name2="y"), W.op(1, W.UNLINK, "a//b"), W.op(1, W.MKDIR, "x") + b"!"]
    f += [W.op_ack(1, 13), W.op_ack(1, W.OK, "m" * 1025), W.op_ack(1, W.OK, b"\0")]
    f += [W.frame(W.PING, bytes(7)), W.frame(W.PONG, bytes(9)), W.frame(W.PING, b"")]
    f += [W.error(13), W.error(W.IO, b"\xfe"), W.error(W.IO, "m" * 1025), W.frame(W.ERROR, bytes(3))]
    # headers: length over the cap, unknown and sealed flags, unknown types
    f += [W.frame(W.CHUNK, b"", length=W.BODY_MAX + 1), W.frame(W.PING, b"", length=0xFFFFFFFF),
          W.ping(1, flags=0x80), W.ping(1, flags=0x02), W.ping(1, flags=W.FLAG_SEALED),
          W.frame(0x42, b"abcd"), W.frame(0x00, b""), W.frame(0x04, bytes(8)),
          W.ping(1)[:4], W.ping(1)[:-3], b""]
    return f


def mutants(frames, rng, per_frame):
    out = []
    for fr in frames:
        for _ in range(per_frame):
            b = bytearray(fr)
            how = rng.randrange(6)
            if how == 0 and b:                      # one byte flipped
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
            elif how == 1 and len(b) > 6:           # a body byte set to an edge
                b[rng.randrange(6, len(b))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
            elif how == 2:                          # cut short
                b = b[:rng.randrange(len(b) + 1)]
            elif how == 3 and len(b) >= 6:          # bytes added, length kept
                b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
                struct.pack_into(">I", b, 0, len(b) - 6)
            elif how == 4 and len(b) >= 6:          # bytes removed, length kept
                k = rng.randrange(1, 4)
                b = b[:-k] if len(b) - k >= 6 else b
                struct.pack_into(">I", b, 0, max(0, len(b) - 6))
            elif len(b) >= 6:                       # another type, same body
                b[4] = rng.choice(list(W.FRAME_NAMES) + [0x42])
            out.append(bytes(b))
    return out


def corpus_frames(directory):
    """The frames of the fuzz-frame seeds, read as a stream."""
    out = []
    if not directory or not os.path.isdir(directory):
        return out
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as fh:
            data = fh.read()
        pos = 0
        while pos < len(data):
            rest = data[pos:]
            out.append(rest)
            try:
                _, used = W.decode_frame(rest)
            except W.WireError:
                break
            pos += used
    return out


def secrets_and_names(rng):
    key = bytes(range(32))
    sec = [W.secret(DIG, key), W.secret(DIG, key, "photos/img 1.jpg"),
           W.secret(DIG, key, "x" * 255 + "/y"), W.secret(DIG, key, "../x"),
           W.secret(DIG, key, "a//b"), W.secret(DIG, key, "/".join(["d"] * 65)),
           bytes(63), W.secret(DIG, key, ("c" * 240 + "/") * 16 + "z" * 240),
           W.secret(DIG, key, ("c" * 240 + "/") * 16 + "z" * 241)]
    names = [b"a", b"a/b/c", b"\xff\xfe", b"", b"/a", b"a/", b"a//b", b".", b"..",
             b"a/./b", b"a/../b", b"...", b".hidden", b"a\0b", b"x" * 255, b"x" * 256,
             b"/".join([b"d"] * 64), b"/".join([b"d"] * 65)]
    alphabet = b"ab./\0\xff"
    names += [bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 9)))
              for _ in range(400)]
    prefaces = [W.PREFACE, b"BRAIDFS\x01", b"BRAIDFS\x02", b"BRAIDFS\x04",
                b"BRAIDFS\x00",
                b"braidfs\x02", b"BRAIDF", b"GET / HTTP/1.1", b""]
    return ([(b"S", s) for s in sec] + [(b"N", n) for n in names] +
            [(b"P", p) for p in prefaces])


def py_dump(kind, data):
    try:
        if kind == b"F":
            m, _ = W.decode_frame(data)
            return "%s | %s" % (W.format_msg(m), W.encode(m).hex())
        if kind == b"S":
            m = W.decode_secret(data)
            return "SECRET digest=%s key=%s name=%s | %s" % (
                m.digest.hex(), m.key.hex(), m.name.hex(),
                W.secret(m.digest, m.key, m.name).hex())
        if kind == b"N":
            W.name_check(data)
        else:
            W.preface_check(data)
        return "ok"
    except W.WireError as e:
        return "error=" + e.kind


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    W.self_test()
    rng = random.Random(20260522)
    good, bad = valid_frames(), broken_frames()
    frames = good + bad + mutants(good, rng, 40) + mutants(bad, rng, 10)
    frames += corpus_frames(sys.argv[2] if len(sys.argv) == 3 else None)
    records = [(b"F", fr) for fr in frames] + secrets_and_names(rng)
    stream = b"".join(struct.pack(">I", 1 + len(d)) + k + d for k, d in records)
    res = subprocess.run([sys.argv[1]], input=stream, stdout=subprocess.PIPE,
                         check=False)
    if res.returncode != 0:
        print("FAIL: wire-dump exited with status %d" % res.returncode)
        return 1
    c_lines = res.stdout.decode().splitlines()
    if len(c_lines) != len(records):
        print("FAIL: wire-dump printed %d lines for %d records" % (len(c_lines), len(records)))
        return 1
    bad_n, kinds, types = 0, set(), set()
    for (k, d), c_line in zip(records, c_lines):
        p_line = py_dump(k, d)
        if k == b"F":
            if c_line.startswith("error="):
                kinds.add(c_line[6:])
            else:
                types.add(c_line.split()[0])
        if p_line != c_line:
            bad_n += 1
            if bad_n <= 20:
                print("FAIL: %s record %s\n  C:      %s\n  Python: %s" % (
                    k.decode(), d[:80].hex(), c_line[:300], p_line[:300]))
    print("%d records (%d frames: %d valid, %d broken by hand, the rest mutants "
          "and fuzz seeds): %d differ" % (len(records), len(frames), len(good),
                                          len(bad), bad_n))
    print("frame types decoded: %s" % " ".join(sorted(types)))
    print("error categories met: %s" % " ".join(sorted(kinds)))
    want_types = set(W.FRAME_NAMES.values())
    want_kinds = {"TRUNCATED", "TOO_LONG", "UNKNOWN", "RANGE", "NAME"}
    ok = bad_n == 0
    if types != want_types:
        print("FAIL: frame types never decoded: %s" % " ".join(sorted(want_types - types)))
        ok = False
    if not want_kinds <= kinds:
        print("FAIL: error categories never met: %s" % " ".join(sorted(want_kinds - kinds)))
        ok = False
    print("PASS: bfwire.py and src/core/wire.c agree" if ok else
          "FAIL: bfwire.py and src/core/wire.c disagree")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
