#!/usr/bin/env python3
"""writer.py DEST SRC [STARTED GO]: copies SRC into DEST in 1 MiB writes,
as cp does, and prints how the writes and the close ended, e.g.
"write:OK close:EIO" (an errno name, never a traceback).

With STARTED and GO it writes the first half, creates the file STARTED,
waits (at most 60 s) for the file GO to appear, then writes the rest: the
test does something to the server while the file is held open."""
import errno
import os
import sys
import time


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def main():
    dest, src = sys.argv[1:3]
    started, go = (sys.argv[3:5] + [None, None])[:2]
    data = open(src, "rb").read()
    pause = len(data) // 2 if started else len(data)
    step = 1 << 20
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    res = []
    try:
        for off in range(0, pause, step):
            os.write(fd, data[off:min(off + step, pause)])
        if started:
            open(started, "w").close()
            deadline = time.time() + 60
            while not os.path.exists(go) and time.time() < deadline:
                time.sleep(0.05)
        for off in range(pause, len(data), step):
            os.write(fd, data[off:off + step])
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
