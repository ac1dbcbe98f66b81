#!/usr/bin/env bash
# wan-emulator.sh: checks the WAN links of netns_setup_wan (wanem.c)
# themselves. The emulator can only add delay, so every lower bound below
# is strict and every upper bound loose (a loaded machine adds more):
#  - ping's round trip on an 80 ms link and on an asymmetric 15+35 ms
#    lossy link is at least the configured one, and not far above it;
#  - a UDP burst of 1.2 MB into a 40 Mbit/s link with 300 ms of one-way
#    delay and a 4 MiB queue arrives whole, no packet before 300 ms, the
#    last no earlier than the burst's serialization at 40 Mbit/s + 300 ms:
#    the delay line held the whole burst at once (rate x delay and more);
#  - the same burst into a 16 KiB queue loses most of it, and every lost
#    datagram is a queue drop in the emulator's counters;
#  - braidfs over the 2 %-lossy link alone (one path) delivers a tree
#    bit-exact, and the emulator did drop frames in both directions at
#    about the configured rate;
#  - no frame reached the emulator as a GSO/GRO super-frame (offloads off).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

command -v ping >/dev/null || fail "ping not found (apt-get install iputils-ping)"

netns_setup_wan 20mbit:40ms 20mbit:15ms/35ms:loss=2% 40mbit:300ms:queue=4m

# ge A B / le A B: floating-point comparisons
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# ------------------------------------------------------------------ ping
# ping_rtts I COUNT -> "received min avg" (ms) of COUNT pings over link I
ping_rtts() {
	local out
	out=$(run_t 60 "${NS_EXEC[@]}" ping -n -q -c "$2" -i 0.2 -W 3 "${RT_ADDR[$1]}" 2>&1) || true
	awk '/received/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^received/) r = $i }
		/^rtt|^round-trip/ { split($4, v, "/"); mn = v[1]; av = v[2] }
		END { printf "%d %s %s\n", r, (mn == "" ? "-" : mn), (av == "" ? "-" : av) }' <<<"$out"
}

note "ping: link 1 (40 ms each way) and link 2 (15 ms up, 35 ms down, 2 % loss)"
for spec in "1 80 10" "2 50 20"; do
	read -r i want n <<<"$spec"
	read -r got mn av < <(ping_rtts "$i" "$n")
	printf '   link %d: %d of %d replies, rtt min %s avg %s ms (configured %s ms)\n' "$i" "$got" "$n" "$mn" "$av" "$want"
	check "link $i: at least half the pings answered" test "$got" -ge $((n / 2))
	check "link $i: no round trip under the configured $want ms" ge "$mn" "$want"
	check "link $i: average round trip under $want + 40 ms" le "$av" $((want + 40))
done

# ------------------------------------------------------- the delay line
# udp.py recv ADDR PORT N SECS OUT: receive until N datagrams or SECS of
# silence; OUT gets "count first last" (time.monotonic, one clock for all
# namespaces). udp.py send ADDR PORT SRC N SIZE: send N datagrams of SIZE
# bytes back to back; prints the time of the first.
cat >"$T/udp.py" <<'EOF'
import socket, sys, time
mode = sys.argv[1]
if mode == "recv":
    addr, port, n, secs, out = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, port)); s.settimeout(secs)
    print("listening", flush=True)
    got, first, last = 0, None, None
    try:
        while got < n:
            s.recv(65536)
            last = time.monotonic()
            first = first or last
            got += 1
    except socket.timeout:
        pass
    open(out, "w").write(f"{got} {first or 0} {last or 0}\n")
else:
    addr, port, src, n, size = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.bind((src, 0))
    buf = b"\x5a" * size
    t0 = time.monotonic()
    for _ in range(n):
        s.sendto(buf, (addr, port))
    print(f"{t0}")
EOF

# burst I N -> "received first_delay_s last_delay_s" for N datagrams of
# 1472 bytes (1514-byte frames) sent at once over link I
burst() {
	local i=$1 n=$2 port t0
	port=$(free_port)
	rm -f "$T/burst.out" "$T/recv.out"
	python3 "$T/udp.py" recv "${RT_ADDR[i]}" "$port" "$n" 3 "$T/burst.out" >"$T/recv.out" 2>&1 &
	BG_PIDS+=("$!")
	local rpid=$!
	wait_until 10 "the UDP receiver listening" grep -q listening "$T/recv.out" || fail "udp receiver: $(cat "$T/recv.out")"
	t0=$(run_t 30 "${NS_EXEC[@]}" python3 "$T/udp.py" send "${RT_ADDR[i]}" "$port" "${NS_ADDR[i]}" "$n" 1472) ||
		fail "the UDP sender failed"
	wait "$rpid" || true
	awk -v t0="$t0" '{ printf "%d %.4f %.4f\n", $1, ($1 ? $2 - t0 : -1), ($1 ? $3 - t0 : -1) }' "$T/burst.out"
}

N=800
# frame time of a 1514-byte frame at 40 Mbit/s; the burst's serialization
SER=$(awk -v n=$N 'BEGIN { printf "%.4f", n * 1514 * 8 / 40e6 }')
note "a burst of $N x 1514-byte frames ($((N * 1514)) bytes) into link 3: 40 Mbit/s, 300 ms, queue 4 MiB"
read -r got first last < <(burst 3 $N)
printf '   received %d of %d; first after %s s, last after %s s (serialization %s s + 300 ms)\n' "$got" "$N" "$first" "$last" "$SER"
assert_eq "$N" "$got" "every datagram of the burst arrived (the line held $((N * 1514)) bytes)"
check "nothing arrived before the 300 ms delay" ge "$first" 0.300
check "the last arrived no earlier than serialization at 40 Mbit/s + 300 ms" ge "$last" "$(awk -v s="$SER" 'BEGIN { print s + 0.300 }')"
check "the last arrived within 2 s of that" le "$last" "$(awk -v s="$SER" 'BEGIN { print s + 2.300 }')"
s=$(wan_stats 3)
echo "$s" | sed 's/^/   /'
check "the emulator held all $N frames at once" ge "$(wan_stat "$s" up max_slots)" "$N"

note "the same burst into a 16 KiB queue"
ns_set_wan 3 40mbit:300ms:queue=16k
read -r got first last < <(burst 3 $N)
s=$(wan_stats 3)
echo "$s" | sed 's/^/   /'
dq=$(wan_stat "$s" up drop_queue)
drx=$(wan_stat "$s" up drop_rx)
printf '   received %d of %d, %d queue drops, %d receive drops\n' "$got" "$N" "$dq" "$drx"
check "most of the burst was dropped" test "$got" -lt $((N / 2))
assert_eq "$N" "$((got + dq + drx))" "every datagram lost is counted by the emulator"
assert_eq 0 "$drx" "the emulator read every frame in time"

# ------------------------------------------------- braidfs on the lossy link
note "braidfs with one path, over link 2 (2 % loss each way)"
PORT=$(free_port)
ns_start_server server "$T/srv" "$T/store"
before=$(wan_stats 2)
make_tree "$T/src" 2 2 6 400000 7
head -c $((8 << 20)) /dev/urandom >"$T/src/big.bin"
NS_SERVER_ADDR=${RT_ADDR[2]}:$PORT ns_start_client client "$T/cli" label=lossy \
	"path=${RT_ADDR[2]}:$PORT@${NS_ADDR[2]}"
run_t 240 cp -r "$T/src" "$T/cli/" || fail "cp -r over the lossy link failed"
sess=$(session_for_label "$T/srv" lossy) || fail "no session directory"
check "the server's copy equals the source" diff_trees "$T/src" "$sess/src"
after=$(wan_stats 2)
echo "$after" | sed 's/^/   /'
for dir in up down; do
	fr=$(($(wan_stat "$after" "$dir" frames) - $(wan_stat "$before" "$dir" frames)))
	lo=$(($(wan_stat "$after" "$dir" drop_loss) - $(wan_stat "$before" "$dir" drop_loss)))
	pct=$(awk -v l="$lo" -v f="$fr" 'BEGIN { printf "%.2f", f ? 100 * l / f : 0 }')
	printf '   link 2 %s: %d frames, %d lost (%s %%)\n' "$dir" "$fr" "$lo" "$pct"
	check "link 2 $dir: the copy crossed it ($fr frames)" test "$fr" -ge 1000
	check "link 2 $dir: 0.5-5 % of its frames lost (2 % configured)" \
		awk -v p="$pct" 'BEGIN { exit !(p >= 0.5 && p <= 5) }'
done
for ((i = 1; i <= NS_N; i++)); do
	s=$(wan_stats "$i")
	assert_eq "0 0" "$(wan_stat "$s" up drop_big) $(wan_stat "$s" down drop_big)" \
		"link $i: no super-frame reached the emulator (offloads off)"
done

finish
