#!/usr/bin/env python3
"""writer.py DEST SRC [STARTED GO]: copies SRC into DEST in 1 MiB writes,
as cp does, and prints how the writes and the close ended, e.g.
"write:OK close:EIO" (an errno name, never a traceback).

With STARTED and GO it writes the first half, creates the file STARTED,
waits (at most 60 s) for the file GO to appear, then writes the rest: the
test does something to the server while the file is held open.

writer.py DEST SRC --parts N DIR: writes SRC in N equal parts; after part
k (1 <= k < N) it creates DIR/written.k and waits (at most 300 s) for
DIR/go.k, so a test can act between parts however fast the machine is."""
import errno
import os
import sys
import time


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def wait_for(path, seconds):
    deadline = time.time() + seconds
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)


def main():
    dest, src = sys.argv[1:3]
    data = open(src, "rb").read()
    if sys.argv[3:4] == ["--parts"]:
        n, ctl = int(sys.argv[4]), sys.argv[5]
        marks = [len(data) * k // n for k in range(1, n)]
        signals = [(os.path.join(ctl, "written.%d" % k),
                    os.path.join(ctl, "go.%d" % k), 300) for k in range(1, n)]
    else:
        started, go = (sys.argv[3:5] + [None, None])[:2]
        marks = [len(data) // 2] if started else []
        signals = [(started, go, 60)] if started else []
    step = 1 << 20
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    res = []
    try:
        off = 0
        for end, (written, go, seconds) in zip(marks + [len(data)],
                                               signals + [(None, None, 0)]):
            while off < end:
                os.write(fd, data[off:min(off + step, end)])
                off = min(off + step, end)
            if written is not None:
                open(written, "w").close()
                wait_for(go, seconds)
        res.append("write:OK")
    except OSError as e:
        res.append("write:" + name(e))
    try:
        os.close(fd)
        res.append("close:OK")
    except OSError as e:
        res.append("close:" + name(e))
    print(" ".join(res), flush=True)


if __name__ == "__main__":
    main()
