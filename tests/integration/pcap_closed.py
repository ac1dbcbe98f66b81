#!/usr/bin/env python3
"""pcap_closed.py PCAP...: exit 0 when every TCP connection in every
capture has ended in it (an RST from either side, or a FIN from each), else
1 and, on stdout, how many have not.

netns_capture_stop (netns.sh) waits on it before it stops tcpdump: once the
daemons are stopped their connections end, and tcpdump writes packets in
the order the kernel handed them over, so when a connection's last packets
are in the file, all of its earlier ones are too. (Waiting until the file
stops growing instead guesses how long a busy tcpdump needs.)

Captures are libpcap files of Ethernet frames (tcpdump -w); IPv4 only, as
on the namespace harness's links. Standard library only.
"""

import struct
import sys

SYN, FIN, RST = 0x02, 0x01, 0x04


def records(data):
    """The frames of a pcap file; a record tcpdump is still writing ends
    the list (its connection then does not look ended yet)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return                      # not even the file header yet
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        if off + 16 + incl > len(data):
            return
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def open_connections(path):
    """Connections of the capture that have not ended in it."""
    with open(path, "rb") as f:
        data = f.read()
    conns = {}                      # (lower end, higher end) -> flags seen
    for pkt in records(data):
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6 or len(ip) < ihl + 14:
            continue
        sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
        src, dst = (ip[12:16], sport), (ip[16:20], dport)
        key = (min(src, dst), max(src, dst))
        c = conns.setdefault(key, {"fin": set(), "rst": False})
        flags = ip[ihl + 13]
        if flags & RST:
            c["rst"] = True
        if flags & FIN:
            c["fin"].add(src)
    return sum(1 for c in conns.values() if not c["rst"] and len(c["fin"]) < 2)


def main():
    left = {p: open_connections(p) for p in sys.argv[1:]}
    if any(left.values()):
        print(" ".join("%s: %d open" % (p, n) for p, n in left.items() if n))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
