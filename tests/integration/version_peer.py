#!/usr/bin/env python3
"""version_peer.py HOST PORT VERSION: a client speaking protocol VERSION
(not this build's) to braidfsd. Prints the server's answer: its preface's
version, then ERROR's status and text, one per line; exits 1 when the
answer is not a preface followed by one ERROR and the close."""
import socket
import sys

import bfwire as W

host, port, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
s.sendall(W.MAGIC + bytes([version]) + W.hello(W.NEW, label="v%d" % version))
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
if len(got) < 8 + W.HDR_LEN or got[:7] != W.MAGIC:
    print("no preface: %r" % got[:32])
    sys.exit(1)
print("preface %d" % got[7])
n, t, f = W.HDR.unpack(got[8:8 + W.HDR_LEN])
body = got[8 + W.HDR_LEN:]
if t != W.ERROR or len(body) != n:
    print("not one ERROR frame: type %d, %d bytes of %d" % (t, len(body), n))
    sys.exit(1)
m = W.decode(t, body, f)
print("ERROR %s" % W.st_name(m.status))
print(bytes(m.message).decode(errors="replace"))
