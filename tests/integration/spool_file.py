#!/usr/bin/env python3
"""The on-disk form of a spooled file (src/client/spool.c), for tests that
play a power cut on it. Knows the forms: versions 4 and 3 (two header
slots of 6 KiB, bytes at 12 KiB; 4 adds an append's base after the name) and
version 2 (one header, bytes at 8 KiB), so that
the same test runs against an older client.

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
"""
import os, struct, sys

SLOT = 6144


def slots(h):
    """(offset of the bytes, [(gen, slot offset)] of the headers)"""
    if h[:8] == b"BFSPOOL2":
        return 8192, [(0, 0)]
    found = [(struct.unpack_from("<I", h, off + 12)[0], off)
             for off in (0, SLOT)
             if h[off:off + 8] in (b"BFSPOOL3", b"BFSPOOL4")]
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


def main():
    cmd, path = sys.argv[1], sys.argv[2]
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
