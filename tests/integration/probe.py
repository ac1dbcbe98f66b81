#!/usr/bin/env python3
"""probe.py MNT SECS|STOPFILE OUT [DIR...]: how long an outbox takes to
answer what needs no server. Repeatedly, for SECS seconds or until the file
STOPFILE (an absolute path) exists: ls of MNT with a stat of each entry
("ls"), stat of a name that does not exist ("stat"), and a read of every
status file under MNT/.braidfs ("status"). Then mkdir and touch of each DIR
(a new directory, which the server answers). Writes "kind count max_ms
p90_ms" lines to OUT (see probe.sh)."""
import math
import os
import sys
import time

mnt, until, out, dirs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lat = {}
status = os.path.join(mnt, ".braidfs")


def timed(kind, fn):
    t = time.monotonic()
    try:
        fn()
    except FileNotFoundError:
        pass
    lat.setdefault(kind, []).append((time.monotonic() - t) * 1000)


def read_status():
    for name in ("paths", "spool"):
        try:
            with open(os.path.join(status, name)) as f:
                f.read()
        except FileNotFoundError:
            pass


def going(end=time.monotonic() + (float(until) if until[0].isdigit() else 600)):
    return time.monotonic() < end and not (until[0] == "/" and os.path.exists(until))


i = 0
while going():
    i += 1
    timed("ls", lambda: [os.lstat(os.path.join(mnt, n)) for n in os.listdir(mnt)])
    timed("stat", lambda: os.stat(os.path.join(mnt, "missing-%d" % i)))
    timed("status", read_status)
    time.sleep(0.005)
for d in dirs:
    timed("mkdir", lambda: os.mkdir(os.path.join(mnt, d)))
    timed("touch-dir", lambda: os.utime(os.path.join(mnt, d)))
with open(out, "w") as f:
    for k, v in lat.items():
        v.sort()
        f.write("%s %d %.1f %.1f\n" % (k, len(v), v[-1], v[math.ceil(0.9 * len(v)) - 1]))
