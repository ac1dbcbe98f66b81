#!/usr/bin/env python3
"""notify_listener.py SOCKET OUT MOUNT PORT: listens on the unix datagram
socket SOCKET (a path, or @name for the abstract namespace) as systemd does
for Type=notify services, and appends each datagram to OUT, one
"KEY=value" per line, then a line "-- mounted=M listening=L" telling
whether MOUNT was a mount point and something accepted TCP on
127.0.0.1:PORT when the datagram came (PORT 0: not checked). Creates
OUT.ready once it listens; exits after STOPPING=1 or 120 s."""
import os
import socket
import sys
import time


def mounted(path):
    enc = path.replace("\\", "\\134").replace(" ", "\\040")
    with open("/proc/mounts") as f:
        return any(line.split(" ")[1] == enc for line in f)


def listening(port):
    if port == 0:
        return True
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


def main():
    name, out, mount, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name[1:] if name.startswith("@") else name)
    open(out + ".ready", "w").close()
    s.settimeout(1)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            data = s.recv(4096).decode()
        except socket.timeout:
            continue
        with open(out, "a") as f:
            f.write(data.rstrip("\n") + "\n")
            f.write("-- mounted=%d listening=%d\n" % (mounted(mount), listening(port)))
        if "STOPPING=1" in data.split("\n"):
            return


main()
