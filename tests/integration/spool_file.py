#!/usr/bin/env python3
"""The on-disk form of a spooled file (src/client/spool.c), for tests that
play a power cut on it. Knows the forms: versions 5, 4 and 3 (two header
slots of 6 KiB, bytes at 12 KiB; 4 adds an append's base after the name, 5
the algorithm of the digest after it) and version 2 (one header, bytes at 8
KiB), so that the same test runs against an older client.

  spool_file.py names DIR            the name of each committed file
  spool_file.py name FILE            the name in FILE's newest header
  spool_file.py committed DIR        how many files in DIR (items/) have a
                                     committed version: a header of their
                                     own, or a record in a log segment
                                     (with or without a file of its own)
  spool_file.py find DIR NAME        the file of committed NAME, and "log"
                                     when the log has a record of it,
                                     "logonly" when the record is all
                                     there is (no file of its own)
  spool_file.py cut FILE SIZE        the bytes past SIZE never reached the disk
  spool_file.py tear FILE            the newest header was torn by the cut
  spool_file.py downgrade SPOOL      every version 5 header in SPOOL (its
                                     files and log records) becomes the
                                     version 4 one a client before version
                                     5 would have written (SHA-256, MAC'd
                                     with SPOOL.key): as if that client had
                                     spooled them
"""
import hashlib, os, struct, sys

SLOT = 6144


def slots(h):
    """(offset of the bytes, [(gen, slot offset)] of the headers)"""
    if h[:8] == b"BFSPOOL2":
        return 8192, [(0, 0)]
    found = [(struct.unpack_from("<I", h, off + 12)[0], off)
             for off in (0, SLOT)
             if h[off:off + 8] in (b"BFSPOOL3", b"BFSPOOL4", b"BFSPOOL5")]
    return 2 * SLOT, sorted(found)


def name(path):
    with open(path, "rb") as fh:
        h = fh.read(2 * SLOT)
    _, hs = slots(h)
    if not hs:
        return None
    off = hs[-1][1]
    (n,) = struct.unpack_from("<H", h, off + 80)
    return h[off + 114:off + 114 + n].decode(errors="replace")


def log_records(d):
    """{seq: name} of the records in DIR's log segments (spoollog.h) still
    needed (not marked dead), and the set of seqs of version 2 records"""
    recs, v2 = {}, set()
    for f in sorted(os.listdir(d)):
        if not f.endswith(".log"):
            continue
        data = open(os.path.join(d, f), "rb").read()
        off = 0
        while data[off:off + 8] in (b"BFSLOGR1", b"BFSLOGR2", b"BFSLOGD2"):
            magic = data[off:off + 8]
            head = 32 if magic == b"BFSLOGR1" else 64
            hlen, n, seq = struct.unpack_from("<IIQ", data, off + 8)
            (nlen,) = struct.unpack_from("<H", data, off + head + 80)
            if magic != b"BFSLOGD2":
                recs[seq] = data[off + head + 114:off + head + 114 + nlen].decode()
            if magic == b"BFSLOGR2":
                v2.add(seq)
            off += (head + hlen + n + 7) & ~7
    return recs, v2


def committed(d):
    """{seq: name} of the files in DIR with a committed version: a file
    with a header, or a record in the log (a version 2 record needs no
    file of its own)"""
    out = {}
    recs, v2 = log_records(d)
    for f in sorted(os.listdir(d)):
        if f.endswith(".item"):
            seq = int(f[:-5], 16)
            n = name(os.path.join(d, f)) or recs.get(seq)
            if n:
                out[seq] = n
    for seq in v2:
        if seq in recs and seq not in out and \
                not os.path.exists(os.path.join(d, f"{seq:016x}.item")):
            out[seq] = recs[seq]
    return dict(sorted(out.items()))


HDR_MAC, MAC_LEN, BASE = 82, 32, 8 + 32 + 1


def v4_header(key, seq, h, data):
    """The version 4 form of version 5 header h (of file seq, whose bytes
    are data): SHA-256 of the bytes, no alg, MAC'd again (spoolfmt.c)"""
    (nlen,) = struct.unpack_from("<H", h, 80)
    end = HDR_MAC + MAC_LEN + nlen + BASE
    assert h[:8] == b"BFSPOOL5" and len(h) >= end + 1, h[:8]
    out = bytearray(h[:end])
    out[:12] = b"BFSPOOL4" + struct.pack("<I", 4)
    (size,) = struct.unpack_from("<Q", h, 24)
    assert len(data) == size, (len(data), size)
    out[48:80] = hashlib.sha256(data).digest()
    mac = hashlib.blake2b(b"braidfs spool item v2\0", key=key, digest_size=32)
    mac.update(struct.pack("<Q", seq) + out[:HDR_MAC] + out[HDR_MAC + MAC_LEN:])
    out[HDR_MAC:HDR_MAC + MAC_LEN] = mac.digest()
    return bytes(out)


def downgrade(spool):
    key = open(spool + ".key", "rb").read()
    d = os.path.join(spool, "items")
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        data = bytearray(open(p, "rb").read())
        was = bytes(data)
        if f.endswith(".item"):
            seq = int(f[:-5], 16)
            for off in (0, SLOT):
                if data[off:off + 8] == b"BFSPOOL5":
                    (size,) = struct.unpack_from("<Q", data, off + 24)
                    h = v4_header(key, seq, data[off:off + SLOT],
                                  data[2 * SLOT:2 * SLOT + size])
                    data[off:off + SLOT] = h + bytes(SLOT - len(h))
        elif f.endswith(".log"):
            # each record's header gets shorter: the records move up
            out, off = bytearray(), 0
            while data[off:off + 8] in (b"BFSLOGR2", b"BFSLOGD2"):
                hlen, n, seq = struct.unpack_from("<IIQ", data, off + 8)
                hdr = data[off + 64:off + 64 + hlen]
                body = data[off + 64 + hlen:off + 64 + hlen + n]
                if hdr[:8] == b"BFSPOOL5":
                    hdr = v4_header(key, seq, hdr, body)
                rec = bytearray(data[off:off + 64]) + hdr + body
                struct.pack_into("<I", rec, 8, len(hdr))
                out += rec + bytes(-len(rec) % 8)
                off += (64 + hlen + n + 7) & ~7
            assert not any(data[off:]), f"{f}: a record this script cannot read"
            data = out + bytes(len(data) - len(out))
        if data == was:
            continue
        with open(p, "r+b") as fh:
            fh.write(data)
            os.fsync(fh.fileno())
        print("   %s: version 4" % f)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "downgrade":
        downgrade(path)
        return
    if cmd == "committed":
        print(len(committed(path)))
        return
    if cmd == "names":
        for n in committed(path).values():
            print(n)
        return
    if cmd == "find":
        recs, _ = log_records(path)
        for seq, n in committed(path).items():
            if n == sys.argv[3]:
                f = os.path.join(path, f"{seq:016x}.item")
                if not os.path.exists(f):
                    print(f, "logonly")
                else:
                    print(f, "log" if seq in recs else "own")
        return
    if cmd == "name":
        print(name(path) or "")
        return
    with open(path, "r+b") as fh:
        data_off, hs = slots(fh.read(2 * SLOT))
        if not hs:
            sys.exit(f"{path}: no header")
        if cmd == "cut":
            fh.truncate(data_off + int(sys.argv[3]))
        elif cmd == "tear":
            # the first half of a slot on disk, the rest of its sector not
            fh.seek(hs[-1][1] + 64)
            fh.write(os.urandom(64))
        else:
            sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
