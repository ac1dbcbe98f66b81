#!/usr/bin/env python3
"""session_peer.py: one HELLO to a braidfsd without a key, from a chosen
loopback source address, for tests of the server's session caps.

    session_peer.py PORT SRC new LABEL
    session_peer.py PORT SRC attach SID_HEX TOKEN_HEX

Prints "WELCOME <status name> <session id hex> <token hex> <message>" and
exits 0 when the server answered with a WELCOME (whatever its status), 1
otherwise. The connection is closed after the answer: a session outlives
its paths.
"""

import socket
import sys

import bfwire as W


def main():
    port, src, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    s = socket.create_connection(("127.0.0.1", port), timeout=20,
                                 source_address=(src, 0))
    s.sendall(W.PREFACE)
    if kind == "new":
        s.sendall(W.hello(W.NEW, label=sys.argv[4]))
    else:
        s.sendall(W.hello(W.ATTACH, bytes.fromhex(sys.argv[4]),
                          bytes.fromhex(sys.argv[5]), path_index=1))
    buf = b""
    while True:
        try:
            m, _ = W.decode_frame(buf[8:]) if len(buf) > 8 else (None, 0)
        except W.WireError as e:
            if e.kind != "TRUNCATED":
                raise
            m = None
        if m is not None:
            break
        more = s.recv(65536)
        if not more:
            print("no WELCOME: the connection closed")
            return 1
        buf += more
    if buf[:8] != W.PREFACE or m.type != W.WELCOME:
        print("no WELCOME: got %r" % (buf[:8],))
        return 1
    print("WELCOME %s %s %s %s" % (W.st_name(m.status), m.session_id.hex(),
                                   m.token.hex(),
                                   m.message.decode("utf-8", "replace")))
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
