#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/.

    python3 tests/fuzz/make_seeds.py [OUTDIR]

The corpora include the reproducers of fixed findings (regress-*).

Each seed is a small named file. Frame layouts follow
man/braidfs-protocol.7 (all integers big-endian); the assembler seeds follow
the input layout documented at the top of fuzz-assembler.c. The output is
deterministic, so running this again changes nothing unless the generator
changed. Files in the corpus directories that this script does not write
(inputs libFuzzer found and someone kept) are left alone.
"""

import hashlib
import os
import struct
import sys

# The frames are packed by the test peers' wire module (written once for
# all of them, and held against src/core/wire.c by test_bfwire.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import bfwire as W  # noqa: E402
from bfwire import (  # noqa: E402
    BLAKE2B, BLAKE3, CANCEL, CHUNK, ITEM_OPEN, LINK, MKDIR, MKNOD, PING, PONG, RENAME,
    SETATTR, SHA256, SYMLINK, digest, frame, tlv)

# ---- frames ---------------------------------------------------------------
# bfwire's encoders with the argument order and defaults the seeds below
# were written with (the output must stay byte for byte the same).

SID = bytes(range(0x00, 0x100, 0x11))
TOKEN = bytes(range(0xF0, 0x00, -0x0F))[:16]


def lv(b):
    return W.lv(b)


def hello(kind=0, sid=bytes(16), token=bytes(16), tlvs=b""):
    return W.hello(kind, sid, token, path_index=None, tlvs=tlvs)


def welcome(status=0, sid=SID, token=TOKEN, msg=b"", tlvs=b""):
    return W.welcome(status, sid, token, msg, tlvs=tlvs)


def item_open(item_id, name, chunk_size=4096, mode=0o644, mtime=1700000000,
              nsec=0, coding=0, k=1, n=1, alg=SHA256, base=None, keep=None):
    return W.item_open(item_id, name, chunk_size, mode, (mtime, nsec), alg,
                       coding, k, n, base=base, keep=keep)


def chunk(item_id, chunk_id, payload, total=0, share=0, crc=None):
    return W.chunk(item_id, chunk_id, total, payload, crc, share)


def chunk_ack(item_id, chunk_id, share=0):
    return W.chunk_ack(item_id, chunk_id, share)


def item_close(item_id, total, size, dig, alg=SHA256, mode=0o644,
               mtime=1700000000, nsec=0):
    return W.item_close(item_id, total, size, dig, mode, (mtime, nsec), alg)


def item_ack(item_id, stage=2, status=0, msg=b""):
    return W.item_ack(item_id, stage, status, msg)


def op(op_id, kind, name=b"", name2=b"", flags=0, mode=0, mtime=0, nsec=0,
       item_id=0):
    return W.op(op_id, kind, name, name2, mode, flags, (mtime, nsec), item_id)


def op_ack(op_id, status=0, msg=b""):
    return W.op_ack(op_id, status, msg)


def ping(opaque, ftype=PING):
    return W.ping(opaque) if ftype == PING else W.pong(opaque)


def error(status, msg):
    return W.error(status, msg)


# ---- fuzz-frame -------------------------------------------------------------


def frame_seeds():
    s = {}
    s["hello-new"] = hello(tlvs=tlv(1, b"laptop") + tlv(4, b"\0\0"))
    s["hello-attach"] = hello(1, SID, TOKEN, tlv(4, b"\0\3"))
    s["hello-all-tlvs"] = hello(1, SID, TOKEN, tlv(2, bytes(32)) +
                                tlv(3, bytes(range(32))) + tlv(4, b"\0\1") +
                                tlv(1, "caf\u00e9".encode()) + tlv(99, b"x"))
    s["hello-dup-tlv"] = hello(tlvs=tlv(4, b"\0\0") + tlv(4, b"\0\1"))
    s["hello-new-nonzero-sid"] = hello(0, SID, bytes(16))
    s["welcome"] = welcome(msg=b"welcome, path 3")
    s["welcome-auth"] = welcome(9, bytes(16), bytes(16), b"not allowed",
                                tlv(7, b"future"))
    s["welcome-instance"] = welcome(tlvs=tlv(5, bytes(range(1, 9))))
    s["welcome-instance-short"] = welcome(tlvs=tlv(5, b"1234567"))
    s["item-open"] = item_open(0x0102030405060708, b"dir/file.txt",
                               chunk_size=1 << 20, mtime=-1234567890123,
                               nsec=999999999)
    s["item-open-rs"] = item_open(2, b"a", coding=2, k=3, n=5, alg=BLAKE2B)
    s["item-open-base"] = item_open(3, b"log.txt",
                                    base=(5, digest(SHA256, b"hello")))
    s["item-open-cut"] = item_open(3, b"log.txt",
                                   base=(5, digest(SHA256, b"hello")), keep=2)
    s["item-open-cut-whole"] = item_open(3, b"log.txt",
                                         base=(5, digest(SHA256, b"hello")),
                                         keep=5)
    s["item-open-base-short"] = item_open(3, b"log.txt", base=(5, b""))
    s["item-open-blake3-base"] = item_open(3, b"log.txt", alg=BLAKE3,
                                           base=(5, digest(BLAKE3, b"hello")))
    s["chunk-hello"] = chunk(7, 0, b"hello", total=1)
    s["chunk-ack"] = chunk_ack(7, 0)
    s["item-close"] = item_close(7, 1, 5, digest(SHA256, b"hello"))
    s["item-close-blake3"] = item_close(7, 1, 5, digest(BLAKE3, b"hello"),
                                        BLAKE3)
    s["item-ack"] = item_ack(7, 2, 0)
    s["item-ack-message"] = item_ack(7, 1, 8, b"too many open items")
    s["item-ack-stored-proof"] = W.item_ack(
        7, 2, 0, proof=W.stored_proof(bytes(range(16)), 7, 5, SHA256,
                                      digest(SHA256, b"hello")))
    s["item-ack-no-proof"] = W.frame(W.ITEM_ACK, bytes.fromhex(
        "0000000000000007" "0200" "0000"))
    s["op-mkdir"] = op(1, MKDIR, b"photos/2024", mode=0o755)
    s["op-rename"] = op(2, RENAME, b"a/old name", b"b/new name")
    s["op-setattr"] = op(3, SETATTR, b"a/b.txt", flags=3, mode=0o600,
                         mtime=-1, nsec=5)
    s["op-cancel"] = op(4, CANCEL, item_id=77)
    s["op-symlink"] = op(5, SYMLINK, b"a/link", b"../target dir/x")
    s["op-symlink-absolute"] = op(6, SYMLINK, b"l", b"/etc/passwd")
    s["op-symlink-nul"] = op(7, SYMLINK, b"l", b"a\0b")
    s["op-symlink-4096"] = op(8, SYMLINK, b"l", b"/" * 4096)
    s["op-link"] = op(9, LINK, b"a/file", b"b/hard link")
    s["op-mknod-fifo"] = op(10, MKNOD, b"a/pipe", flags=1, mode=0o640)
    s["op-mknod-two-kinds"] = op(11, MKNOD, b"a/pipe", flags=3)
    s["op-ack"] = op_ack(2, 7, b"no such file")
    s["statfs"] = W.statfs(12)
    s["statfs-ack"] = W.statfs_ack(12, 0, 4096, 1000, 500, 400, 100, 90)
    s["statfs-ack-failed"] = W.statfs_ack(12, 6)
    s["statfs-ack-bfree-over"] = W.statfs_ack(12, 0, 4096, 10, 11, 1)
    s["read"] = W.read(13, 4096, 65536, b"dir/file.txt")
    s["read-dot-dot"] = W.read(13, 0, 1, b"../x")
    s["read-data"] = W.read_data(13, 0, 12, b"hello world!")
    s["read-data-failed"] = W.read_data(13, 7)
    s["ping"] = ping(0x1122334455667788)
    s["pong"] = ping(0x1122334455667788, PONG)
    s["error"] = error(1, b"CHUNK: chunk_id 7 >= total_chunks 7")
    s["huge-length"] = frame(CHUNK, b"", length=0xFFFFFFFF)
    s["body-max-plus-one"] = frame(CHUNK, b"", length=(16 << 20) + 257)
    s["zero-length"] = frame(PING, b"")
    s["truncated-header"] = frame(PING, struct.pack(">Q", 1))[:4]
    s["truncated-body"] = ping(1)[:-3]
    s["unknown-type"] = frame(0x42, b"abcd")
    s["unknown-flags"] = frame(PING, struct.pack(">Q", 1), flags=0x80)
    s["sealed-flag"] = frame(PING, struct.pack(">Q", 1), flags=0x01)
    s["index-beyond-total"] = chunk(7, 3, b"x", total=3)
    s["share-index-16"] = chunk(7, 0, b"x", share=16)
    s["trailing-bytes"] = frame(PING, struct.pack(">Q", 1) + b"!")
    s["close-size-without-chunks"] = item_close(7, 0, 5, bytes(32))
    s["dot-dot-name"] = item_open(3, b"a/../../etc/passwd")
    s["absolute-name"] = item_open(3, b"/etc/passwd")
    s["nul-in-name"] = item_open(3, b"a\0b")
    s["dot-name"] = item_open(3, b"a/./b")
    s["empty-component"] = item_open(3, b"a//b")
    s["long-component"] = item_open(3, b"x" * 256)
    s["deep-name"] = item_open(3, b"/".join([b"d"] * 65))
    s["bad-utf8-message"] = error(1, b"\xff\xfe")
    # answers a client cannot decode, whose id it still reads (bf_msg_answer_id)
    s["op-ack-bad-utf8"] = op_ack(9, 6, b"caf\xe9")
    s["item-ack-truncated-id"] = W.frame(W.ITEM_ACK, b"\x00\x00\x00\x01")
    s["status-13"] = error(13, b"")
    s["stream-of-frames"] = (hello(tlvs=tlv(4, b"\0\0")) +
                             item_open(1, b"f", alg=BLAKE2B) +
                             chunk(1, 0, b"data", total=1) +
                             item_close(1, 1, 4, digest(BLAKE2B, b"data"),
                                        BLAKE2B) + ping(9))
    s["message-1024"] = error(5, b"m" * 1024)
    s["message-1025"] = error(5, b"m" * 1025)
    s["label-64"] = hello(tlvs=tlv(1, b"L" * 64))
    s["label-65"] = hello(tlvs=tlv(1, b"L" * 65))
    s["tlvs-16"] = hello(tlvs=b"".join(tlv(10 + i, b"") for i in range(16)))
    s["tlvs-17"] = hello(tlvs=b"".join(tlv(10 + i, b"") for i in range(17)))
    dirs = b"".join([b"c" * 240 + b"/"] * 16)    # 3856 bytes
    s["name-4096"] = item_open(3, dirs + b"z" * 240)
    s["name-4097"] = item_open(3, dirs + b"z" * 241)
    s["component-256"] = item_open(3, b"a/" + b"z" * 256)
    s["name-depth-64"] = item_open(3, b"/".join([b"d"] * 64))
    s["raw-sealed-ping"] = b"\x30\x01" + struct.pack(">Q", 1)
    s["raw-unknown-flags"] = b"\x30\x04" + struct.pack(">Q", 1)
    s["preface"] = W.PREFACE
    s["preface-v2"] = W.MAGIC + bytes([W.PROTOCOL_VERSION_MIN])
    s["name-only"] = b"some/dir/name.txt"
    # SHAMIR: the name left to the secret, the secret chunk, a secret
    s["item-open-hidden-name"] = item_open(4, b"", coding=1, k=2, n=3)
    s["item-open-rs-no-name"] = item_open(4, b"", coding=2, k=2, n=3)
    s["chunk-secret"] = chunk(4, 0xFFFFFFFF, bytes(range(64)) + b"a/b", share=2)
    s["secret"] = bytes(range(64)) + b"photos/2024/img 0001.jpg"
    s["secret-bad-name"] = bytes(64) + b"../x"
    return s


# ---- fuzz-assembler ---------------------------------------------------------

OP_CHUNK, OP_CHECK, OP_CLOSE, OP_RESEND = 0, 1, 2, 3
GEOM, WIDE, EXPECT = 4, 8, 16


def asm_header(cs=4096, max_size=1 << 20):
    return struct.pack(">HI", cs - 4096, max_size)


def a_chunk(cid, total, length, op=OP_CHUNK):
    """A chunk with explicit u16 fields."""
    return struct.pack(">BHHH", op, cid, total, length)


def a_full(cid, total=0, op=OP_CHUNK):
    return struct.pack(">BHHH", op | GEOM, cid, total, 0)


def a_short(cid, length, total=0, op=OP_CHUNK):
    """A short chunk of length bytes (1 .. chunk_size)."""
    return struct.pack(">BHHH", op | GEOM, cid, total, 0x8000 | (length - 1))


def a_close(total, size):
    return struct.pack(">BHH", OP_CLOSE, total, size)


def a_close_geom(total, tail):
    """Close with size (total - 1) * chunk_size + tail (tail 1 .. cs)."""
    return struct.pack(">BHH", OP_CLOSE | GEOM, total, tail - 1)


def a_close_wide(total, size):
    return struct.pack(">BIQ", OP_CLOSE | WIDE, total, size)


def a_resend(pick, total=0):
    return struct.pack(">BHHH", OP_RESEND | GEOM, pick, total, 0)


def assembler_seeds():
    s = {}
    s["in-order"] = (asm_header() + a_full(0) + a_full(1) +
                     a_short(2, 100) + a_close_geom(3, 100))
    s["out-of-order-close-first"] = (asm_header() + a_close_geom(4, 4096) +
                                     a_full(3, 4) + a_full(1) + a_full(0, 4) +
                                     a_full(2))
    s["empty-item"] = asm_header() + a_close(0, 0) + a_close(0, 0)
    s["duplicates"] = (asm_header(5000) + a_full(1) + a_resend(0) +
                       a_short(2, 7) + a_resend(1) + a_close_geom(3, 7) +
                       a_full(0) + a_resend(2))
    s["check-without-mark"] = (asm_header() + a_full(0, 2, OP_CHECK) +
                               a_full(0, 2) + a_short(1, 1, 2) +
                               a_close_geom(2, 1))
    s["conflicting-total"] = asm_header() + a_full(0, 3) + a_full(1, 4)
    s["index-beyond-total"] = asm_header() + a_full(3, 3)
    s["short-not-last"] = asm_header() + a_short(1, 10, 4) + a_full(3)
    s["two-short"] = asm_header() + a_short(1, 10) + a_short(2, 10)
    s["close-twice-differently"] = (asm_header() + a_close_geom(2, 5) +
                                    a_close_geom(2, 6))
    s["close-over-limit"] = (asm_header(4096, 10 * 4096 + 1) +
                             a_close_wide(11, 11 * 4096))
    s["close-bad-geometry"] = asm_header() + a_close(2, 100)
    s["beyond-max-size"] = asm_header(4096, 4096) + a_full(1)
    s["max-size-zero"] = asm_header(4096, 0) + a_full(0) + a_close(0, 0)
    s["max-size-not-multiple"] = (asm_header(4096, 3 * 4096 + 10) +
                                  a_full(0) + a_short(3, 10) + a_full(2) +
                                  a_full(1) + a_close_geom(4, 10))
    s["wide-ids"] = (asm_header(65536, 0xFFFFFFFF) +
                     struct.pack(">BIII", OP_CHUNK | WIDE | GEOM, 65534,
                                 65535, 0x80000000 + 99) +
                     struct.pack(">BIII", OP_CHUNK | WIDE, 0xFFFFFFFF,
                                 0xFFFFFFFF, 65536) +
                     a_close_wide(65535, 65534 * 65536 + 100))
    s["len-zero-and-over"] = (asm_header() + a_chunk(0, 0, 0) +
                              a_chunk(0, 0, 4097))
    s["chunk-after-empty-close"] = asm_header() + a_close(0, 0) + a_full(0)
    s["close-empty-after-chunks"] = asm_header() + a_full(0) + a_close(0, 0)
    s["odd-chunk-size"] = (asm_header(4096 + 12345) + a_short(1, 5) +
                           a_full(0) + a_close_geom(2, 5))
    # shares announce chunks: one short chunk, written or expected
    s["expected-short"] = (asm_header() + a_short(5, 1, op=OP_CHECK | EXPECT) +
                           a_short(6, 1, op=OP_CHECK | EXPECT) +
                           a_short(4, 1) + a_full(6) + a_full(3) +
                           a_short(5, 1) + a_close_geom(6, 1))
    s["expected-full-then-short-close"] = (
        asm_header() + a_full(2, op=OP_CHECK | EXPECT) + a_close_geom(3, 9) +
        a_close_geom(4, 9) + a_full(0) + a_full(1) + a_full(2) +
        a_short(3, 9))
    return s


# ---- fuzz-session -----------------------------------------------------------


def item_bytes(n, seed=0):
    return bytes((i * 31 + seed) & 0xFF for i in range(n))


def session_seeds():
    s = {}
    cs = 4096
    data = item_bytes(2 * cs + 1000)
    parts = [data[i * cs:(i + 1) * cs] for i in range(3)]
    good = digest(SHA256, data)
    opn = item_open(1, b"docs/report.pdf", chunk_size=cs)
    close = item_close(1, 3, len(data), good)

    s["valid-out-of-order"] = (opn + chunk(1, 2, parts[2]) +
                               chunk(1, 0, parts[0], total=3) +
                               chunk(1, 1, parts[1]) + close + ping(1))
    s["valid-close-first"] = (opn + close + chunk(1, 1, parts[1], total=3) +
                              chunk(1, 2, parts[2], total=3) +
                              chunk(1, 0, parts[0], total=3))
    s["digest-mismatch"] = (opn + chunk(1, 0, parts[0]) +
                            chunk(1, 1, parts[1]) + chunk(1, 2, parts[2]) +
                            item_close(1, 3, len(data),
                                       digest(SHA256, data[:-1] + b"!")))
    s["missing-chunk"] = (opn + chunk(1, 0, parts[0]) + chunk(1, 2, parts[2])
                          + close + item_open(2, b"next"))
    s["duplicate-chunk"] = (opn + chunk(1, 1, parts[1]) +
                            chunk(1, 1, parts[1]) + chunk(1, 0, parts[0]) +
                            chunk(1, 2, parts[2]) + chunk(1, 2, parts[2]) +
                            close + chunk(1, 0, parts[0]))
    s["duplicate-chunk-different"] = (opn + chunk(1, 0, parts[0]) +
                                      chunk(1, 0, parts[1]))
    s["crc-mismatch"] = opn + chunk(1, 0, parts[0], crc=0)
    s["blake2b-item"] = (item_open(5, b"b2", chunk_size=cs, alg=BLAKE2B) +
                         chunk(5, 0, b"braided bytes", total=1) +
                         item_close(5, 1, 13, digest(BLAKE2B,
                                                     b"braided bytes"),
                                    BLAKE2B))
    s["blake3-item"] = (item_open(6, b"b3", chunk_size=cs, alg=BLAKE3) +
                        chunk(6, 0, parts[0], total=2) +
                        chunk(6, 1, parts[1]) +
                        item_close(6, 2, 2 * cs, digest(BLAKE3,
                                                        parts[0] + parts[1]),
                                   BLAKE3))
    s["empty-item"] = (item_open(9, b"empty") +
                       item_close(9, 0, 0, digest(SHA256, b"")))
    s["alg-mismatch"] = (item_open(9, b"x") +
                         item_close(9, 1, 1, digest(BLAKE2B, b"x"), BLAKE2B))
    s["two-items-interleaved"] = (item_open(1, b"a", chunk_size=cs) +
                                  item_open(2, b"b", chunk_size=cs) +
                                  chunk(2, 0, b"B" * 10) +
                                  chunk(1, 0, b"A" * cs) +
                                  item_close(2, 1, 10,
                                             digest(SHA256, b"B" * 10)) +
                                  chunk(1, 1, b"A") +
                                  item_close(1, 2, cs + 1,
                                             digest(SHA256, b"A" * (cs + 1))))
    s["reused-item-id"] = item_open(1, b"a") + item_open(1, b"b")
    s["decreasing-item-id"] = (item_open(5, b"a") + item_open(3, b"b") +
                               chunk(3, 0, b"x"))
    s["item-id-zero"] = item_open(0, b"a") + chunk(0, 0, b"x")
    s["chunk-of-finished-item"] = (item_open(8, b"e") +
                                   item_close(8, 0, 0, digest(SHA256, b"")) +
                                   chunk(8, 0, b"late") +
                                   item_close(8, 0, 0, bytes(32)) +
                                   chunk(7, 0, b"older id, never opened"))
    s["chunk-unknown-item"] = chunk(42, 0, b"x")
    s["close-unknown-item"] = item_close(42, 0, 0, bytes(32))
    s["cancel-then-chunk"] = (opn + chunk(1, 0, parts[0]) +
                              op(1, CANCEL, item_id=1) +
                              chunk(1, 1, parts[1]) + close)
    s["refused-coding"] = (item_open(3, b"rs", coding=2, k=2, n=3) +
                           chunk(3, 0, b"share") +
                           item_close(3, 1, 5, bytes(32)))
    s["too-big-item"] = (item_open(4, b"big", chunk_size=1 << 20) +
                         chunk(4, 1, b"over the limit") + chunk(4, 0, b"x"))
    s["close-over-limit"] = (item_open(4, b"big", chunk_size=1 << 20) +
                             item_close(4, 2, (1 << 20) + 1, bytes(32)))
    # 65 items opened: the last is refused (in-flight limit), its chunk is
    # dropped, then one finishes and another fits again.
    many = b"".join(item_open(100 + i, b"f%d" % i) for i in range(65))
    s["items-in-flight-limit"] = (many + chunk(164, 0, b"late") +
                                  item_close(100, 0, 0, digest(SHA256, b"")) +
                                  item_open(200, b"again"))
    s["decode-error-stops"] = (opn + frame(0x42, b"") +
                               chunk(1, 0, parts[0]))
    return s


# ---- coding -----------------------------------------------------------------
# Layout at the top of fuzz-coding.c: op, kind, n, k, then per op.

STRIPE_K, SHAMIR_K, RS_K = 0, 1, 2


def coding_head(op, kind, n, k):
    # the target maps n -> 2 + n % 15 and k -> 1 + k % n; invert that
    return bytes([op, kind, (n - 2) % 15, (k - 1) % n])


def c_round(kind, n, k, key, extra, data):
    return coding_head(0, kind, n, k) + bytes(key).ljust(16, b"\0") + \
        bytes([extra]) + data


def c_raw(kind, n, k, index, slen, chunk_len=None, pad=None, data=b""):
    tail = (bytes([1 | pad << 1]) if pad is not None else
            b"\0" + struct.pack(">H", chunk_len))
    return (coding_head(1, kind, n, k) + bytes([len(index)]) + bytes(index) +
            struct.pack(">H", slen) + tail + data)


def coding_seeds():
    text = b"The quick brown fox jumps over the lazy dog. " * 23
    s = {}
    s["stripe-round-trip"] = c_round(STRIPE_K, 2, 1, [], 0, text)
    s["shamir-2-3-round-trip"] = c_round(SHAMIR_K, 3, 2, [2, 0, 1], 0, text)
    s["shamir-3-5-last-shares"] = c_round(SHAMIR_K, 5, 3, [9, 9, 1, 2, 3], 0,
                                          text)
    s["shamir-1-2-plaintext"] = c_round(SHAMIR_K, 2, 1, [1, 0], 1, text)
    s["shamir-16-16"] = c_round(SHAMIR_K, 16, 16, range(16, 0, -1), 0, text)
    s["rs-4-6-parity-only-first"] = c_round(RS_K, 6, 4, [5, 5, 0, 1, 2, 3],
                                            0, text[:1001])
    s["rs-2-3-pad"] = c_round(RS_K, 3, 2, [0, 2, 1], 1, b"odd")
    s["rs-3-3-no-parity"] = c_round(RS_K, 3, 3, [2, 1, 0], 0, text[:100])
    s["rs-15-16-one-byte"] = c_round(RS_K, 16, 15, [0] * 16, 1, b"x")
    s["shamir-empty-chunk"] = c_round(SHAMIR_K, 3, 2, [], 0, b"")
    share = bytes(range(64))
    s["raw-shamir-ok"] = c_raw(SHAMIR_K, 3, 2, [0, 2], 64, chunk_len=64,
                               data=share * 2)
    s["raw-shamir-too-few"] = c_raw(SHAMIR_K, 3, 2, [1], 64, chunk_len=64,
                                    data=share)
    s["raw-shamir-duplicate"] = c_raw(SHAMIR_K, 3, 2, [1, 1], 64,
                                      chunk_len=64, data=share * 2)
    s["raw-shamir-out-of-range"] = c_raw(SHAMIR_K, 3, 2, [0, 3], 64,
                                         chunk_len=64, data=share * 2)
    s["raw-shamir-index-255"] = c_raw(SHAMIR_K, 3, 2, [255, 0], 64,
                                      chunk_len=64, data=share * 2)
    s["raw-shamir-wrong-length"] = c_raw(SHAMIR_K, 3, 2, [0, 1], 64,
                                         chunk_len=65, data=share * 2)
    s["raw-rs-pad"] = c_raw(RS_K, 6, 4, [5, 1, 4, 0], 16, pad=3,
                            data=share)
    s["raw-rs-bad-pad"] = c_raw(RS_K, 6, 4, [5, 1, 4, 0], 16, pad=4,
                                data=share)
    s["raw-rs-short-input"] = c_raw(RS_K, 6, 4, [5, 4, 3, 2], 4000,
                                    chunk_len=16000, data=share)
    s["raw-rs-too-many"] = c_raw(RS_K, 16, 2, list(range(16)) + [0, 1, 2],
                                 8, chunk_len=16, data=share)
    s["raw-stripe"] = c_raw(STRIPE_K, 2, 1, [0], 10, chunk_len=10, data=share)
    s["raw-empty"] = c_raw(SHAMIR_K, 3, 2, [0, 1], 0, chunk_len=0)
    return s


# ---- regressions --------------------------------------------------------
# Minimized reproducers of bugs the fuzzers found in src/ (fixed); they stay
# in the corpus so that meson replays them.


def assembler_regressions():
    s = {}
    # chunk_size 4096, max_size 1: chunk 0 with a full 4096 bytes would end
    # 4095 bytes past the item limit; it must be refused (TOO_BIG).
    s["regress-chunk-beyond-max-size"] = asm_header(4096, 1) + a_full(0)
    # Chunk 0 arrives whole (4096 bytes, total unknown), then again with
    # 10 bytes: a different chunk, to be refused, not taken as a duplicate.
    s["regress-dup-shorter-length"] = (asm_header() + a_full(0) +
                                       a_short(0, 10))
    # A chunk announced by a share (expected, not written), then a close
    # as an empty item: to be refused, the chunk exists.
    s["regress-close-empty-after-expected"] = (
        asm_header() + a_short(5, 1, op=OP_CHECK | EXPECT) + a_close(0, 0))
    return s


def session_regressions():
    s = {}
    # chunk_size 1 MiB - 1 against the 1 MiB item limit: chunk 1 starts 1
    # byte before the limit; its 2 bytes must be refused.
    s["regress-chunk-beyond-item-limit"] = (
        item_open(1, b"f", chunk_size=(1 << 20) - 1) +
        chunk(1, 1, b"ab"))
    return s


# ---- handshake --------------------------------------------------------------
# Layout at the top of fuzz-handshake.c: mode, what to alter (2 bytes),
# nonce_c, nonce_s, then frames. The honest proofs are computed as
# man/braidfs-protocol.7 says (tests/unit/handshake_vectors.py does the
# same, and checks the C code against it), with the fuzzer's key A.

AUTH = W.AUTH
HS_KEY_A = bytes(range(1, 11)) + bytes(22)
HS_NC = bytes(range(0x20, 0x40))
HS_NS = bytes(range(0x40, 0x60))


def hs_kdf(master, subkey_id, context):
    return hashlib.blake2b(b"", digest_size=32, key=master,
                           salt=struct.pack("<Q", subkey_id) + bytes(8),
                           person=context + bytes(8)).digest()


def hs_proof(label, nc, ns):
    k_proof = hs_kdf(HS_KEY_A, 1, b"braidfsK")
    return hashlib.blake2b(label + nc + ns, digest_size=32,
                           key=k_proof).digest()


def auth(step, value, res=0):
    return frame(AUTH, struct.pack(">BB", step, res) + value)


def hs_head(mode=0, pos=0, mask=0, nc=HS_NC, ns=HS_NS):
    return bytes([mode, pos, mask]) + nc + ns


def handshake_seeds():
    proof_c = hs_proof(b"braidfs v1 client proof", HS_NC, HS_NS)
    proof_s = hs_proof(b"braidfs v1 server proof", HS_NC, HS_NS)
    honest = (auth(1, HS_NC) + auth(2, HS_NS) + auth(3, proof_c) +
              auth(4, proof_s))
    # frames to seal in part 3: an even first body byte goes through, an
    # odd one is altered (and breaks the stream from there on)
    clean = ping(2) + frame(ITEM_OPEN, b"\x00" * 40) + frame(PONG, b"")
    dirty = ping(2) + frame(CHUNK, b"\x01\x05" + b"x" * 30) + ping(4)
    s = {
        "honest": hs_head() + honest,
        "honest-then-seal": hs_head() + clean,
        "seal-one-altered": hs_head() + dirty,
        "other-key": hs_head(mode=1) + honest,
        "reflected-nonce": hs_head(nc=HS_NS) + auth(1, HS_NS),
        "replayed-auth1": hs_head() + auth(1, HS_NC) + auth(1, HS_NC),
        "proof-before-nonce": hs_head() + auth(3, proof_c) + auth(1, HS_NC),
        "wrong-proof": hs_head() + auth(1, HS_NC) + auth(2, HS_NS) +
        auth(3, bytes(32)) + auth(4, bytes(32)),
        "reserved-set": hs_head() + auth(1, HS_NC, res=0xff) +
        auth(3, proof_c),
        "step-zero": hs_head() + auth(0, HS_NC),
        "step-five": hs_head() + auth(5, HS_NC),
        "truncated-auth": hs_head() + frame(AUTH, b"\x01\x00" + bytes(31)),
        "long-auth": hs_head() + frame(AUTH, b"\x01\x00" + bytes(33)),
        "sealed-flag": hs_head() + frame(AUTH, b"\x01\x00" + HS_NC, flags=1),
        "not-auth": hs_head() + hello() + auth(1, HS_NC),
        "empty": b"",
        "short-head": bytes([0, 1, 2]),
    }
    for step in range(1, 5):
        s[f"mitm-step{step}-value"] = hs_head(mode=step << 1, pos=7,
                                              mask=0x80) + clean
        s[f"mitm-step{step}-step"] = hs_head(mode=step << 1, pos=0,
                                             mask=3) + clean
    return s


# ---- main -------------------------------------------------------------------


def write(outdir, target, seeds):
    d = os.path.join(outdir, "fuzz-" + target)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(seeds)} seeds")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    write(outdir, "frame", frame_seeds())
    write(outdir, "assembler", {**assembler_seeds(), **assembler_regressions()})
    write(outdir, "session", {**session_seeds(), **session_regressions()})
    write(outdir, "coding", coding_seeds())
    write(outdir, "handshake", handshake_seeds())


if __name__ == "__main__":
    main()
