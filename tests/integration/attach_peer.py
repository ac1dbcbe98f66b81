#!/usr/bin/env python3
"""attach_peer.py HOST PORT SESSION_FILE [PATH_INDEX]: one HELLO ATTACH to
the session whose id and attach token the store's SESSION_FILE holds (the
`session` file of its directory), as a client's path re-attaching would;
prints the WELCOME's status and message, e.g. "OK" or "LIMIT session ...
is owned by another braidfsd ...", then closes. For the tests of several
servers on one store (hosts.sh): which server takes the session.
Exit status 0 unless the exchange itself broke."""
import configparser
import sys

import hostile_peer as hp


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    index = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    kf = configparser.ConfigParser()
    kf.read(path)
    sid = bytes.fromhex(kf["session"]["id"])
    token = bytes.fromhex(kf["session"]["token"])
    hp.HOST, hp.PORT = host, port
    peer = hp.Peer("attach", hostile=False, src=host, timeout=30.0)
    peer.preface()
    status, _, _, msg = peer.hello(hp.ATTACH, sid, token, path_index=index)
    print(("%s %s" % (hp.st_name(status), msg)).strip(), flush=True)
    peer.s.close()
    return 0


sys.exit(main())
