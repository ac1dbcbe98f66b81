#!/usr/bin/env bash
# multipath-harness.sh: checks the test harness of the multipath tests
# itself (netns.sh, relay.py), with plain TCP, no braidfs:
#  - each tbf link holds its rate: at no moment has the receiver got more
#    TCP payload than the link can have passed since the sender started
#    (rate x 1448/1514, the payload share of a full Ethernet frame, which is
#    what tbf meters, plus one bucket), and the link is usable: the best of
#    up to 3 tries of 4 s carries at least 75 % of that rate;
#  - a cut (ns_link_cut) is silent: a sending socket gets no error (send,
#    SO_ERROR) and stays ESTABLISHED while nothing arrives (the receiver's
#    TCP gets no more than what was in flight at the cut), a connect()
#    during the cut neither succeeds nor fails, and after ns_link_restore
#    the same connection carries data again;
#  - relay.py forwards, stalls silently on SIGUSR1 (the sender's writes
#    block, no error; the target gets exactly what the relay had passed on)
#    and resumes on SIGUSR2;
#  - netns_teardown leaves no namespace and no veth behind.
# Every step waits on what it needs (bytes received, the relay quiet, the
# sender blocked), never on a fixed time; the rates are judged on the
# timestamps of what was sent and received, so a busy machine can make a
# link look slower, never faster than its rate.

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

netns_setup 16mbit 32mbit 64mbit

# Times in the logs are time.monotonic(): one clock for every process.
# probe.py sink ADDR PORT LOG: accept one connection, log "t bytes"
# (cumulative) every 10 ms until EOF (at most 120 s).
# probe.py source ADDR PORT SRC LOG STOP SECS: log "start t", connect from
# SRC, send until the file STOP exists or for SECS, logging every 0.1 s
# "t sent so_error state full" (full: sends in a row that found the socket
# buffer full for 50 ms); exit 1 on any exception.
# probe.py connect ADDR PORT SRC SECS: connect() with a SECS timeout and
# print what happened: "connected", "timeout" or the error.
cat >"$T/probe.py" <<'PY'
import os, socket, sys, time
mode = sys.argv[1]
if mode == "sink":
    addr, port, log = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port)); ls.listen(1)
    print("listening", flush=True)
    c, _ = ls.accept(); c.settimeout(0.05)
    out = open(log, "w"); n = 0; end = time.monotonic() + 120; last = 0
    while time.monotonic() < end:
        try:
            d = c.recv(1 << 16)
            if not d:
                break
            n += len(d)
        except socket.timeout:
            pass
        now = time.monotonic()
        if now - last >= 0.01:
            out.write(f"{now:.4f} {n}\n"); out.flush(); last = now
    out.write(f"{time.monotonic():.4f} {n}\n"); out.close()
elif mode == "source":
    addr, port, src, log, stop = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
    secs = float(sys.argv[7])
    out = open(log, "w")
    t0 = time.monotonic()
    out.write(f"start {t0:.4f}\n"); out.flush()
    s = socket.create_connection((addr, port), timeout=5, source_address=(src, 0))
    s.settimeout(0.05); buf = b"\0" * (1 << 16); n = 0; last = 0; full = 0
    while time.monotonic() - t0 < secs and not os.path.exists(stop):
        try:
            n += s.send(buf); full = 0
        except socket.timeout:
            full += 1
        now = time.monotonic()
        if now - last >= 0.1:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            st = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]   # tcpi_state
            out.write(f"{now:.4f} {n} {err} {st} {full}\n"); out.flush(); last = now
    s.close()
elif mode == "connect":
    addr, port, src, secs = sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    s = socket.socket(); s.bind((src, 0)); s.settimeout(secs)
    try:
        s.connect((addr, port)); print("connected")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print(f"error {e.errno} {e.strerror}")
PY

# start_sink NAME ADDR PORT: background sink logging to $T/NAME.sink;
# returns once it listens; SINK_PID
start_sink() {
	python3 "$T/probe.py" sink "$2" "$3" "$T/$1.sink" >"$T/$1.sink.out" 2>&1 &
	SINK_PID=$!
	BG_PIDS+=("$SINK_PID")
	wait_until 30 "sink $1 listening" grep -q listening "$T/$1.sink.out" ||
		fail "sink $1: $(cat "$T/$1.sink.out")"
}

# start_source NAME ADDR PORT SRC SECS: background sender in the namespace,
# logging to $T/NAME.src, until $T/NAME.stop exists or SECS; SRC_PID
start_source() {
	rm -f "$T/$1.stop"
	in_ns python3 "$T/probe.py" source "$2" "$3" "$4" "$T/$1.src" "$T/$1.stop" "$5" \
		>"$T/$1.src.out" 2>&1 &
	SRC_PID=$!
	BG_PIDS+=("$SRC_PID")
}

# last_col FILE COL: column COL of FILE's last data line (0 if none)
last_col() { awk -v c="$2" '$1 != "start" { v = $c } END { print v + 0 }' "$1"; }

# rcvd ADDR PORT: payload bytes the kernel's TCP received on the connection
# whose local end is ADDR:PORT (ss bytes_received), however late the
# receiving process reads them
rcvd() {
	ss -Htin state established src "$1:$2" |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes_received:/) { sub(/.*:/, "", $i); n = $i } } END { print n + 0 }'
}

_rcvd_at_least() { (($(rcvd "$1" "$2") >= $3)); }

# _sender_blocked NAME: the sender found its socket buffer full ten sends
# in a row (0.5 s): its writes block
_sender_blocked() { (($(last_col "$T/$1.src" 5) >= 10)); }

# ----------------------------------------------------------------- rates
note "rates: 4 s of TCP over each link, up to 3 tries"
# measure_link I TRY: one 4 s transfer over link I; prints "OVER GOODPUT":
# OVER is 1 when a sample of the receiver exceeded what the link can have
# passed by then; GOODPUT (Mbit/s) is the payload rate from the first to
# the last byte received.
measure_link() {
	local i=$1 name=rate$1-$2 port bucket start
	port=$(free_port)
	start_sink "$name" "${RT_ADDR[i]}" "$port"
	start_source "$name" "${RT_ADDR[i]}" "$port" "${NS_ADDR[i]}" 4
	wait "$SRC_PID" || fail "source over link $i failed: $(cat "$T/$name.src.out")"
	wait "$SINK_PID" || true
	# one bucket of tbf (tbf_params' burst) and one full frame, in bytes
	bucket=$(($(tbf_params "${LINK_RATE[i]}" | awk '{ print $2 }') + 1514))
	start=$(awk '$1 == "start" { print $2 }' "$T/$name.src")
	awk -v r="${LINK_RATE[i]}" -v b="$bucket" -v s="$start" '
		{ if ($2 > b + r / 8 * 1448 / 1514 * ($1 - s)) over = 1 }
		$2 > 0 && t0 == "" { t0 = $1; n0 = $2 }
		{ t1 = $1; n1 = $2 }
		END { printf "%d %.2f\n", over, (t1 > t0 ? (n1 - n0) * 8 / (t1 - t0) / 1e6 : 0) }' "$T/$name.sink"
}
for ((i = 1; i <= NS_N; i++)); do
	want=$(awk -v r="${LINK_RATE[i]}" 'BEGIN { printf "%.2f", r * 1448 / 1514 / 1e6 }')
	over_any=0 best=0
	for try in 1 2 3; do
		read -r over got <<<"$(measure_link "$i" "$try")"
		printf '   link %d %-7s TCP goodput %6s Mbit/s of %6s (rate x 1448/1514), try %d%s\n' \
			"$i" "${LINK_SPEC[i]}" "$got" "$want" "$try" "$( ((over)) && echo ': ABOVE THE RATE')"
		((over)) && over_any=1
		best=$(awk -v a="$best" -v b="$got" 'BEGIN { print (b > a) ? b : a }')
		# a busy machine makes a try slower, never faster: stop at a good one
		awk -v g="$best" -v w="$want" 'BEGIN { exit !(g >= 0.9 * w) }' && break
	done
	assert_eq 0 "$over_any" "link $i (${LINK_SPEC[i]}): the receiver never got more than the rate allows since the start"
	check "link $i (${LINK_SPEC[i]}): usable, best goodput $best >= 75 % of $want Mbit/s" \
		awk -v g="$best" -v w="$want" 'BEGIN { exit !(g >= 0.75 * w) }'
done

# ------------------------------------------------------------- silent cut
note "silent cut of link 1 while data flows; a connect() during it; restore"
port=$(free_port)
start_sink cut "${RT_ADDR[1]}" "$port"
CUT_SINK=$SINK_PID
start_source cut "${RT_ADDR[1]}" "$port" "${NS_ADDR[1]}" 120
CUT_SRC=$SRC_PID
wait_until 30 "data flowing over link 1" _rcvd_at_least "${RT_ADDR[1]}" "$port" 65536 ||
	fail "no data over link 1"
ns_link_cut 1
b_cut=$(rcvd "${RT_ADDR[1]}" "$port")
# a connection attempt during the cut: must hang, not fail (3 s)
in_ns python3 "$T/probe.py" connect "${RT_ADDR[1]}" "$port" "${NS_ADDR[1]}" 3 >"$T/connect.out" 2>&1
b_stall=$(rcvd "${RT_ADDR[1]}" "$port")
ns_link_restore 1
check "data flowed again after the restore" \
	wait_until 30 "bytes received after the restore" _rcvd_at_least "${RT_ADDR[1]}" "$port" $((b_stall + 1))
touch "$T/cut.stop"
src_rc=0
wait "$CUT_SRC" || src_rc=$?
wait "$CUT_SINK" || true
printf '   receiver TCP: %s bytes at the cut, %s at the restore (3 s later), %s at the end\n' \
	"$b_cut" "$b_stall" "$(last_col "$T/cut.sink" 2)"
assert_eq 0 "$src_rc" "the sender saw no exception during the cut"
[[ -s $T/cut.src.out ]] && sed 's/^/   source: /' "$T/cut.src.out"
check "SO_ERROR stayed 0 and the socket ESTABLISHED (1) throughout" \
	awk '$1 != "start" && ($3 != 0 || $4 != 1) { print "   at " $1 ": so_error " $3 ", state " $4; f = 1 } END { exit f }' "$T/cut.src"
# what was on its way at the cut may still land: the tbf queue holds 64 KiB
assert_le $((b_stall - b_cut)) 65536 "nothing but what was in flight at the cut arrived during it (bytes)"
assert_eq timeout "$(cat "$T/connect.out")" "a connect() during the cut neither succeeds nor fails (3 s)"

# ------------------------------------------------------------------ relay
note "relay.py on link 2: pass, stall (SIGUSR1), pass (SIGUSR2)"
port=$(free_port)
rport=$(free_port)
start_sink relay "${RT_ADDR[2]}" "$port"
RELAY_SINK=$SINK_PID
start_relay r "${RT_ADDR[2]}:$rport" "${RT_ADDR[2]}:$port"
start_source relay "${RT_ADDR[2]}" "$rport" "${NS_ADDR[2]}" 120
RELAY_SRC=$SRC_PID
wait_until 30 "data flowing through the relay" _rcvd_at_least "${RT_ADDR[2]}" "$port" 65536 ||
	fail "no data through the relay"
relay_stall r
check "the sender's writes block once the relay stalls" \
	wait_until 30 "the sender blocked" _sender_blocked relay
check "the target gets what the relay had passed on ($RELAY_C2S bytes)" \
	wait_until 30 "the relay's last bytes at the target" _rcvd_at_least "${RT_ADDR[2]}" "$port" "$RELAY_C2S"
s_stall=$(last_col "$T/relay.src" 2)
r_stall=$(rcvd "${RT_ADDR[2]}" "$port")
# Not a wait for something to happen: the time during which nothing may.
sleep 2
s_held=$(last_col "$T/relay.src" 2)
r_held=$(rcvd "${RT_ADDR[2]}" "$port")
relay_pass r
check "data flowed again after SIGUSR2" \
	wait_until 30 "bytes through the relay after the pass" _rcvd_at_least "${RT_ADDR[2]}" "$port" $((r_held + 1))
touch "$T/relay.stop"
src_rc=0
wait "$RELAY_SRC" || src_rc=$?
wait "$RELAY_SINK" || true
printf '   sender: %s -> %s bytes while stalled; target: %s -> %s (the relay passed %s), %s at the end\n' \
	"$s_stall" "$s_held" "$r_stall" "$r_held" "$RELAY_C2S" "$(last_col "$T/relay.sink" 2)"
assert_eq 0 "$src_rc" "the sender saw no exception during the stall"
check "the sender's socket stayed ESTABLISHED with SO_ERROR 0" \
	awk '$1 != "start" && ($3 != 0 || $4 != 1) { f = 1 } END { exit f }' "$T/relay.src"
assert_eq "$s_stall" "$s_held" "the sender's writes stayed blocked for 2 s of the stall"
assert_eq "$RELAY_C2S" "$r_stall" "the target got exactly what the relay had passed on"
assert_eq "$r_stall" "$r_held" "nothing more reached the target during 2 s of the stall"
kill "${RELAY_PID[r]}" 2>/dev/null || true

# --------------------------------------------------------------- teardown
note "teardown"
ns_name=$NS
ifs="${RT_IF[*]}"
netns_teardown
check "the namespace is gone" bash -c "! ip netns list | grep -qw '$ns_name'"
for l in $ifs; do
	check "veth $l is gone" bash -c "! ip link show '$l' >/dev/null 2>&1"
done

finish
