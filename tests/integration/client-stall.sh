#!/usr/bin/env bash
# client-stall.sh: a slow or silent server freezes nothing but the requests
# that wait for it, and those only for a bounded time.
#
# Against fake_server.py:
#  1. STORED withheld (timeout=8): while a close(2) waits for a verdict that
#     never comes, stat of that file and of others, ls and
#     .braidfs/paths answer at once, mkdir and touch of a directory (the
#     server answers OPs) promptly; a new file's close(2), and the waiting
#     one's, fail with EIO once the timeout has passed, not later
#  2. a server that reads every path at 128 KiB/s, with a file being
#     written: the same requests answer at once (mkdir and touch go
#     through the backlog of the paths: measured and bounded), and the
#     file arrives whole
#  3. 70 mkdirs whose OPs are never answered (timeout=6): some FUSE threads
#     always stay free (the mkdirs over the limit fail at once with EAGAIN,
#     the others with EIO after the timeout), so ls, stat and
#     .braidfs/paths answer at once throughout
# The latency of each request is measured in-process over many requests.
# A request that waited for the server would take seconds (until the
# timeout, or the backlog drained), so the worst of each kind must stay
# under MAX_MS (2 s), and 9 in 10 under LIMIT_MS (0.5 s, a bound for a
# loaded 2-core machine: the target is 100 ms): a busy machine delays a
# few requests by a scheduling slice, a request that waits for the server
# is delayed by seconds.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIMIT_MS=${LIMIT_MS:-$((500 * TIMEOUT_MULT))}
MAX_MS=$((2000 * TIMEOUT_MULT))
head -c $((3 << 20)) /dev/urandom >"$T/big"

# probe.py MNT SECS OUT [DIR...]: stat, ls, .braidfs/paths, repeatedly for
# SECS; then mkdir and touch of each DIR (a new directory). Writes "kind
# count max_ms p90_ms" lines to OUT.
cat >"$T/probe.py" <<'PY'
import math, os, sys, time
mnt, secs, out, dirs = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
lat = {}

def timed(kind, fn):
    t = time.monotonic()
    try:
        fn()
    except FileNotFoundError:
        pass
    lat.setdefault(kind, []).append((time.monotonic() - t) * 1000)

def read_paths():
    with open(os.path.join(mnt, ".braidfs/paths")) as f:
        f.read()

end, i = time.monotonic() + secs, 0
while time.monotonic() < end:
    i += 1
    timed("ls", lambda: [os.lstat(os.path.join(mnt, n)) for n in os.listdir(mnt)])
    timed("stat", lambda: os.stat(os.path.join(mnt, "missing-%d" % i)))
    timed("status", read_paths)
    time.sleep(0.005)
for d in dirs:
    timed("mkdir", lambda: os.mkdir(os.path.join(mnt, d)))
    timed("touch-dir", lambda: os.utime(os.path.join(mnt, d)))
with open(out, "w") as f:
    for k, v in lat.items():
        v.sort()
        f.write("%s %d %.1f %.1f\n" % (k, len(v), v[-1], v[math.ceil(0.9 * len(v)) - 1]))
PY

# run_probe NAME SECS DIRS...: runs probe.py in the background and waits
# for its result; a probe stuck in the mount fails the test (after
# aborting the mount so that cleanup can proceed).
run_probe() {
	local name=$1 secs=$2 out=$T/$1.probe
	shift 2
	bg python3 "$T/probe.py" "$T/cli" "$secs" "$out" "$@"
	local pid=$BG_LAST deadline=$((SECONDS + secs + $(tmo 60)))
	while [[ ! -s $out ]]; do
		if ((SECONDS >= deadline)); then
			abort_mounts_under "$T"
			fail "$name: ls, stat or .braidfs/paths did not answer for $(tmo 60) s"
		fi
		pid_alive "$pid" || [[ -s $out ]] || fail "$name: the probe failed"
		sleep 0.1
	done
	echo "   $name, latency (kind, requests, worst ms, 90th percentile ms):"
	sed 's/^/     /' "$out"
}

# probe_max NAME KIND / probe_p90 NAME KIND: the worst latency and the
# 90th percentile in ms (integers) of that kind
probe_max() { awk -v k="$2" '$1 == k { printf "%d\n", $3 }' "$T/$1.probe"; }
probe_p90() { awk -v k="$2" '$1 == k { printf "%d\n", $4 }' "$T/$1.probe"; }

# check_fast NAME KIND...: no request of those kinds waited for the server
check_fast() {
	local name=$1 kind
	shift
	for kind in "$@"; do
		assert_le "$(probe_max "$name" "$kind")" "$MAX_MS" "$name: worst $kind latency in ms"
		assert_le "$(probe_p90 "$name" "$kind")" "$LIMIT_MS" "$name: 90th percentile of $kind latency in ms"
	done
}

note "1. STORED withheld"
PORT=$(free_port)
start_fake_server fake1 --withhold-stored
start_client c1 "$T/cli" paths=2 timeout=8
# cp.rc: its exit status and when it ended
bg bash -c 'cp "$1" "$2"; echo $? "$(date +%s.%N)" >"$3"' _ "$T/big" "$T/cli/big" "$T/cp1.rc"
check "the server has all of it and withholds STORED" \
	wait_event fake1 '^STORED-WITHHELD big$' 60
t0=$(now)
run_probe withheld 3 d1-{0..19}
check_fast withheld ls stat status mkdir touch-dir
check "touch of a new file fails (its close waits for STORED)" \
	run_t 30 bash -c '! touch "$1"' _ "$T/cli/new"
check "the waiting cp returns" run_t 30 bash -c 'until [[ -s $1 ]]; do sleep 0.1; done' _ "$T/cp1.rc"
read -r rc t1 <"$T/cp1.rc"
assert_eq 1 "$rc" "cp fails: close(2) gave up waiting for STORED"
waited=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a }')
assert_le "$waited" $((8 + $(tmo 5))) "cp gave up within the timeout (s since the server had all of it)"
check "the log says why" grep -q "has not stored the file for 8 s" "$(daemon_log c1)"
stop_daemon c1

note "2. a server that reads 128 KiB/s"
PORT=$(free_port)
start_fake_server fake2 --rate 131072 --expect "big=$T/big"
start_client c2 "$T/cli" paths=2
bg bash -c 'cp "$1" "$2"; echo $? "$(date +%s.%N)" >"$3"' _ "$T/big" "$T/cli/big" "$T/cp2.rc"
check "the copy is under way" wait_event fake2 '^OPEN big$' 30
run_probe slow 4 d2
check_fast slow ls stat status
# Their OPs queue behind what the control path's socket already holds: up
# to a window of chunks (4 x 256 KiB, 8 s at 128 KiB/s) and the kernel's
# buffers. Bounded by twice that.
echo "   mkdir and touch of a directory wait behind the paths' backlog:" \
	"$(probe_max slow mkdir) and $(probe_max slow touch-dir) ms"
assert_le "$(probe_max slow mkdir)" $((16000 * TIMEOUT_MULT)) "slow: mkdir latency in ms"
assert_le "$(probe_max slow touch-dir)" $((16000 * TIMEOUT_MULT)) "slow: touch of a directory, latency in ms"
check "the copy ends" run_t 120 bash -c 'until [[ -s $1 ]]; do sleep 0.1; done' _ "$T/cp2.rc"
read -r rc _ <"$T/cp2.rc"
assert_eq 0 "$rc" "cp to the slow server succeeds"
check "the server stored it whole" wait_event fake2 "^STORED big $((3 << 20))\$" 30
fake_results fake2
stop_daemon c2

note "3. 70 mkdirs never answered"
PORT=$(free_port)
start_fake_server fake3 --withhold-op /stuck
start_client c3 "$T/cli" timeout=6
for ((i = 0; i < 70; i++)); do
	mkdir "$T/cli/d$i"
done
# Each in its own directory: the kernel serializes mkdirs in one directory.
bg bash -c '
	for ((i = 0; i < 70; i++)); do
		mkdir "$1/d$i/stuck" 2>"$2.$i" &
	done
	wait
	touch "$2"' _ "$T/cli" "$T/mk3"
t0=$SECONDS
check "the server holds mkdirs" wait_event fake3 '^OP-WITHHELD ' 30
run_probe parked 3
check_fast parked ls stat status
check "every mkdir returns" run_t 60 bash -c 'until [[ -e $1 ]]; do sleep 0.1; done' _ "$T/mk3"
assert_le $((SECONDS - t0)) $((6 + $(tmo 15))) "the mkdirs returned within the timeout (s)"
busy=$(cat "$T"/mk3.* | grep -c "Resource temporarily unavailable" || true)
eio=$(cat "$T"/mk3.* | grep -c "Input/output error" || true)
echo "   mkdirs refused at once (EAGAIN): $busy; given up after the timeout (EIO): $eio"
assert_eq 70 $((busy + eio)) "every mkdir failed, with EAGAIN or EIO"
check "some were refused at once: threads stayed free" test "$busy" -gt 0
check "the log says why" grep -q "requests already wait for server" "$(daemon_log c3)"

finish
