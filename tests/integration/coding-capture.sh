#!/usr/bin/env bash
# coding-capture.sh: under coding=shamir:2/3 an observer of any one path
# sees nothing of a file's content, nor anything that confirms a guess of
# it or of its name (hide_names); under stripe (the control, which shows
# the capture would have seen them) the same observer reads them.
#
# Three 32 Mbit/s links of the namespace harness (netns.sh), one path per
# link, no key. tcpdump records each link separately (full packets, on the
# root-namespace end of its veth). The big file is 1 KiB blocks, each a
# known 64-byte ASCII marker followed by random bytes; a second file holds
# a 4-digit PIN (the review's case: its digest on one path gave it away to
# 10^4 guesses). Both have random names. After each copy, every capture is
# searched twice:
#  - its raw bytes (a needle whole inside one TCP segment);
#  - the TCP payload of each connection and direction laid out in sequence
#    order (retransmissions overlap, they do not repeat), so that a needle
#    cut in two by a segment boundary is found as well.
# The needles: the marker; of each file, its BLAKE3, SHA-256, BLAKE2b-256
# and BLAKE2b-512; its name; the same four digests of its name.
# Run 1, coding=shamir:2/3 with hide_names: no needle in any capture,
# either way; the files arrive bit-exact under their names; each capture
# holds every byte its path carried (no hole in any connection's stream),
# so "no needle" means something.
# Run 2, coding=stripe (the default): the marker appears in the capture of
# at least one link (every link, in practice), and the reassembled streams
# find markers that the raw search misses (split across segments); the
# BLAKE3 of each file (the client's digest) and each name are in some
# link's capture (ITEM_CLOSE, ITEM_OPEN).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

PORT=$(free_port)
MIB=${BRAIDFS_TEST_MP_MIB:-16}
MARKER='braidfs coding-capture known plaintext marker 0123456789abcdefgh'
((${#MARKER} == 64)) || fail "the marker must be 64 bytes, not ${#MARKER}"
need_space $((MIB * 12 + 100))
netns_setup 32mbit 32mbit 32mbit

python3 - "$T/f.bin" "$MIB" "$MARKER" <<'EOF'
import os, sys
path, mib, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
with open(path, "wb") as f:
    for _ in range((mib << 20) // 1024):
        f.write(marker + os.urandom(1024 - len(marker)))
EOF
IN_FILE=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(sys.argv[2].encode()))' "$T/f.bin" "$MARKER")
BIG=big-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n').bin
PIN=pin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n').txt
mv "$T/f.bin" "$T/$BIG"
printf '%04d\n' $((RANDOM % 10000)) >"$T/$PIN"
note "$MIB MiB file $BIG holding the ${#MARKER}-byte marker $IN_FILE times; $PIN"

# NEEDLES: label=hex,...: the marker, then the digests and names to find
NEEDLES=$(python3 - "$MARKER" "$T/$BIG" "$T/$PIN" <<'EOF'
import hashlib, os, subprocess, sys
def b3(data):
    return subprocess.run(["b3sum", "--no-names"], input=data, check=True,
                          capture_output=True).stdout.decode()[:64]
out = ["marker=" + sys.argv[1].encode().hex()]
for tag, path in (("big", sys.argv[2]), ("pin", sys.argv[3])):
    name = os.path.basename(path).encode()
    for what, data in (("", open(path, "rb").read()), ("name-", name)):
        out.append("%s-%sb3=%s" % (tag, what, b3(data)))
        out.append("%s-%ssha256=%s" % (tag, what, hashlib.sha256(data).hexdigest()))
        out.append("%s-%sb2-256=%s" % (tag, what,
                   hashlib.blake2b(data, digest_size=32).hexdigest()))
        out.append("%s-%sb2-512=%s" % (tag, what, hashlib.blake2b(data).hexdigest()))
    out.append("%s-name=%s" % (tag, name.hex()))
print(",".join(out))
EOF
)

# pcap_markers NEEDLES PORT PCAP...: for each capture (Ethernet, IPv4,
# TCP), one line "raw c2s s2c c2s_bytes holes conns LABEL=N ...": markers
# (the first needle) in the file's raw bytes; markers in the reassembled
# client->server (to PORT) and server->client payload streams, summed over
# connections; payload bytes of the client->server streams (from the first
# byte after the SYN to the highest byte seen); bytes the server's TCP
# acknowledged that no captured segment holds; number of TCP connections; then for each
# other needle, how often it is in the raw bytes and the streams together.
pcap_markers() {
	python3 - "$@" <<'EOF'
import struct, sys
needles = [(l, bytes.fromhex(h)) for l, h in
           (n.split("=", 1) for n in sys.argv[1].split(","))]
marker, port, files = needles[0][1], int(sys.argv[2]), sys.argv[3:]

def packets(path):
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit(f"{path}: not a pcap file")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit(f"{path}: link type {linktype}, expected Ethernet (1)")
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        yield data, data[off + 16:off + 16 + incl]
        off += 16 + incl

def tcp_segments(path):
    """(flow, seq, ack, flags, payload) of every IPv4 TCP packet"""
    for data, pkt in packets(path):
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6 or len(ip) < ihl + 20:
            continue
        total = struct.unpack(">H", ip[2:4])[0]
        ip = ip[:total] if total else ip       # 0: a TSO packet, use what was captured
        tcp = ip[ihl:]
        sport, dport, seq, ack = struct.unpack(">HHII", tcp[:12])
        doff, flags = (tcp[12] >> 4) * 4, tcp[13]
        flow = (ip[12:16], sport, ip[16:20], dport)
        yield flow, seq, ack, flags, bytes(tcp[doff:])

def analyse(path):
    data = open(path, "rb").read()
    raw = data.count(marker)
    found = {l: data.count(n) for l, n in needles[1:]}
    flows = {}
    for flow, seq, ack, flags, payload in tcp_segments(path):
        f = flows.setdefault(flow, {"isn": None, "segs": [], "acks": []})
        if flags & 0x02:                        # SYN: the stream starts at isn + 1
            f["isn"] = seq
        if payload:
            f["segs"].append((seq, payload))
        if flags & 0x10:                        # ACK: of the reverse flow
            f["acks"].append(ack)
    hits = {"c2s": 0, "s2c": 0}
    c2s_bytes = holes = 0
    for flow, f in flows.items():
        if not f["segs"]:
            continue
        base = (f["isn"] + 1) if f["isn"] is not None else min(s for s, _ in f["segs"])
        segs = sorted((((s - base) & 0xFFFFFFFF), p) for s, p in f["segs"])
        size = max(o + len(p) for o, p in segs)
        buf = bytearray(size)
        # Only what the receiver's TCP acknowledged must be in the capture:
        # a segment the sender's rate limiter dropped before the link, never
        # sent again because the connection was reset at unmount (a tail
        # copy still in flight), was never on the link.
        back = flows.get((flow[2], flow[3], flow[0], flow[1]), {"acks": []})
        acked = max((((a - base) & 0xFFFFFFFF) for a in back["acks"]
                     if ((a - base) & 0xFFFFFFFF) <= size), default=size)
        covered = reach = 0
        for o, p in segs:
            buf[o:o + len(p)] = p
            end = min(o + len(p), acked)
            if end > reach:
                covered += end - max(o, reach)
                reach = end
        d = "c2s" if flow[3] == port else "s2c"
        hits[d] += buf.count(marker)
        for l, n in needles[1:]:
            found[l] += buf.count(n)
        if d == "c2s":
            c2s_bytes += size
            holes += min(size, acked) - covered
    print(raw, hits["c2s"], hits["s2c"], c2s_bytes, holes, len(flows) // 2,
          " ".join("%s=%d" % (l, found[l]) for l, _ in needles[1:]))

for path in files:
    analyse(path)
EOF
}

# run NAME CODING [OPTION]: one copy of both files under CODING with every
# link captured; fills RAW[NAME-I] C2S[...] S2C[...] and FOUND[NAME-I-LABEL]
# and checks each capture is complete
declare -A RAW=() C2S=() S2C=() FOUND=()
run() {
	local name=$1 coding=$2 i sess raw c2s s2c bytes holes conns path_bytes hit
	shift 2
	netns_capture_start "$name"
	ns_start_server "srv-$name" "$T/srv-$name" "$T/store-$name"
	mapfile -t PATHS < <(ns_path_opts "$PORT")
	ns_start_client "cli-$name" "$T/cli-$name" "label=$name" "coding=$coding" "$@" "${PATHS[@]}"
	check "$name: cp of $MIB MiB and of a PIN with coding=$coding $* over 3 links" \
		run_t 120 cp "$T/$BIG" "$T/$PIN" "$T/cli-$name/"
	sess=$(session_for_label "$T/srv-$name" "$name") || fail "no session labelled $name"
	check "$name: the big file arrived bit-exact under its name" cmp "$T/$BIG" "$sess/$BIG"
	check "$name: the PIN arrived bit-exact under its name" cmp "$T/$PIN" "$sess/$PIN"
	show_status "$T/cli-$name"
	declare -A by_addr=()
	while read -r addr b; do by_addr[${addr%:*}]=$b; done < <(status_cols "$T/cli-$name" address bytes)
	stop_daemon "cli-$name"
	stop_daemon "srv-$name"
	netns_capture_stop "$name"
	i=0
	while read -r raw c2s s2c bytes holes conns found; do
		i=$((i + 1))
		RAW[$name-$i]=$raw C2S[$name-$i]=$c2s S2C[$name-$i]=$s2c
		for hit in $found; do FOUND[$name-$i-${hit%=*}]=${hit#*=}; done
		printf '   %s link %d: digests and names found: %s\n' "$name" "$i" "$found"
		path_bytes=${by_addr[${RT_ADDR[i]}]:-0}
		printf '   %s link %d: %d connection(s), %d payload bytes to the server (path: %d acknowledged), %d missing; marker: raw %d, stream to server %d, from server %d\n' \
			"$name" "$i" "$conns" "$bytes" "$path_bytes" "$holes" "$raw" "$c2s" "$s2c"
		check "$name link $i: the path carried chunks" test "$path_bytes" -ge $((1 << 20))
		check "$name link $i: the capture holds at least the bytes the path carried" test "$bytes" -ge "$path_bytes"
		assert_eq 0 "$holes" "$name link $i: no byte of any connection missing from the capture"
		check "$name link $i: the stream search finds every marker the raw search does" test "$c2s" -ge "$raw"
	done < <(pcap_markers "$NEEDLES" "$PORT" "$T/$name"-{1..3}.pcap)
	assert_eq "$NS_N" "$i" "$name: one analysis per capture"
}

LABELS=$(tr ',' '\n' <<<"$NEEDLES" | sed -n '2,$s/=.*//p')

note "run 1: coding=shamir:2/3, hide_names"
run shamir shamir:2/3 hide_names
for ((i = 1; i <= NS_N; i++)); do
	assert_eq 0 "${RAW[shamir-$i]}" "shamir: no marker in the raw capture of link $i"
	assert_eq 0 "$((C2S[shamir-$i] + S2C[shamir-$i]))" "shamir: no marker in the reassembled streams of link $i"
	for l in $LABELS; do
		assert_eq 0 "${FOUND[shamir-$i-$l]}" "shamir: no $l in the capture of link $i"
	done
done

note "run 2 (control): coding=stripe"
run stripe stripe
links=0 raw=0 stream=0
for ((i = 1; i <= NS_N; i++)); do
	((C2S[stripe-$i] > 0)) && links=$((links + 1))
	raw=$((raw + RAW[stripe-$i])) stream=$((stream + C2S[stripe-$i]))
done
echo "   stripe: marker in the captures of $links of $NS_N links; $raw whole in a segment, $stream in the streams ($IN_FILE in the file)"
check "stripe: the marker appears in the capture of at least one link" test "$links" -ge 1
check "stripe: every marker of the file is in some link's stream" test "$stream" -ge "$IN_FILE"
check "stripe: the streams find markers split across segments" test "$stream" -gt "$raw"
for l in big-b3 pin-b3 big-name pin-name; do
	n=0
	for ((i = 1; i <= NS_N; i++)); do n=$((n + FOUND[stripe-$i-$l])); done
	check "stripe: $l is in some link's capture ($n times)" test "$n" -ge 1
done

finish
