#!/usr/bin/env python3
"""OFD locks (fcntl F_OFD_SETLK) as braidfsd takes them, for the tests of
a store shared by several hosts (gluster-volume.sh).

  ofd_lock.py try PATH    exit 0 if a write lock on PATH is free (taken
                          and let go), 1 if someone else holds it
  ofd_lock.py hold PATH   take it (exit 1 if held elsewhere), print "held"
                          and keep it until killed
"""
import errno
import fcntl
import os
import signal
import struct
import sys

F_OFD_SETLK = 37  # linux/fcntl.h; Python's fcntl module lacks it


def lock(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    # struct flock: l_type, l_whence, l_start, l_len, l_pid (must be 0)
    fl = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    try:
        fcntl.fcntl(fd, F_OFD_SETLK, fl)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def main():
    what, path = sys.argv[1], sys.argv[2]
    fd = lock(path)
    if fd is None:
        print("busy", flush=True)
        return 1
    if what == "hold":
        print("held", flush=True)
        while True:
            signal.pause()
    return 0


sys.exit(main())
