#!/usr/bin/env python3
"""What one close(2) of a small file costs the spool, per way of making it
durable, on the disk of DIR (default /var/tmp). One run per way, N files of
SIZE bytes each, median of REPS runs; prints a Markdown table.

  bench/spool-sync-bench.py [DIR] [-n 300] [-s 4096] [-r 3]
"""
import argparse, ctypes, os, statistics, tempfile, time

_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(fd):
    if _libc.syncfs(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs")

HDR = 12288


def new_file_sync(d, n, size, dirsync):
    """A new file per close, fdatasync (+ its directory's fsync)."""
    buf = os.urandom(size)
    dfd = os.open(d, os.O_RDONLY)
    for i in range(n):
        fd = os.open(f"{d}/n{i}", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.pwrite(fd, buf, HDR)
        os.pwrite(fd, b"h" * 128, 0)
        os.fdatasync(fd)
        if dirsync:
            os.fsync(dfd)
        os.close(fd)
    os.close(dfd)


def premade_empty(d, n, size, prewrite):
    """Files made ahead in batches of 32 (one directory fsync; with prewrite,
    their blocks written and synced too), then one write + fdatasync per
    close: with prewrite, an overwrite of written blocks (no metadata)."""
    buf = os.urandom(size)
    zeros = bytes(HDR + max(size, 65536))
    for b in range(0, n, 32):
        fds = []
        for i in range(b, min(n, b + 32)):
            fd = os.open(f"{d}/p{i}", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            if prewrite:
                os.pwrite(fd, zeros, 0)
            fds.append(fd)
        if prewrite:
            syncfs(fds[0])
        dfd = os.open(d, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        for fd in fds:
            os.pwrite(fd, buf, HDR)
            os.pwrite(fd, b"h" * 128, 0)
            os.fdatasync(fd)
            os.close(fd)


def segment_append(d, n, size):
    """One preallocated, already written segment; each close appends a
    record (header + bytes) and fdatasyncs it."""
    rec = HDR // 3 + size
    fd = os.open(f"{d}/seg", os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, bytes(rec * n), 0)
    os.fsync(fd)
    buf = os.urandom(rec)
    for i in range(n):
        os.pwrite(fd, buf, i * rec)
        os.fdatasync(fd)
    os.close(fd)


def batch_syncfs(d, n, size):
    """N new files written, then one syncfs for all (a group commit of N)."""
    buf = os.urandom(size)
    fds = []
    for i in range(n):
        fd = os.open(f"{d}/b{i}", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.pwrite(fd, buf, HDR)
        fds.append(fd)
    syncfs(fds[0])
    for fd in fds:
        os.close(fd)


WAYS = [
    ("new file + fdatasync (no directory sync)", lambda d, n, s: new_file_sync(d, n, s, False)),
    ("new file + fdatasync + directory fsync", lambda d, n, s: new_file_sync(d, n, s, True)),
    ("premade empty file (batch of 32) + fdatasync: braidfs before", lambda d, n, s: premade_empty(d, n, s, False)),
    ("premade written file (batch of 32, syncfs) + fdatasync", lambda d, n, s: premade_empty(d, n, s, True)),
    ("append to a written segment + fdatasync", segment_append),
    ("N new files, one syncfs", batch_syncfs),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="/var/tmp")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("-s", type=int, default=4096)
    ap.add_argument("-r", type=int, default=3)
    a = ap.parse_args()
    print(f"| way ({a.n} x {a.s} B, median of {a.r}) | ms per close |")
    print("|---|---:|")
    for name, fn in WAYS:
        runs = []
        for _ in range(a.r):
            with tempfile.TemporaryDirectory(dir=a.dir) as d:
                t = time.monotonic()
                fn(d, a.n, a.s)
                runs.append((time.monotonic() - t) * 1000 / a.n)
        print(f"| {name} | {statistics.median(runs):.3f} ({min(runs):.3f}-{max(runs):.3f}) |",
              flush=True)


if __name__ == "__main__":
    main()
