# probe.sh: measures how fast the outbox $T/cli answers what needs no
# server (ls, stat, the .braidfs status files) while a test makes the
# server or the disk misbehave, with probe.py. Sourced after lib.sh.
#
# The latency of each request is measured in-process over many requests.
# A request that waited for the server would take seconds (until the
# timeout, or the backlog drained), so the worst of each kind must stay
# under MAX_MS (2 s), and 9 in 10 under LIMIT_MS (0.5 s, a bound for a
# loaded 2-core machine: the target is 100 ms): a busy machine delays a
# few requests by a scheduling slice, a request that waits for the server
# is delayed by seconds.

LIMIT_MS=${LIMIT_MS:-$((500 * TIMEOUT_MULT))}
MAX_MS=$((2000 * TIMEOUT_MULT))

# run_probe NAME SECS DIRS...: runs probe.py for SECS and waits for its
# result.
run_probe() {
	start_probe "$@"
	wait_probe "$1" "$2"
}

# start_probe NAME SECS|STOPFILE DIRS...: probe.py in the background
start_probe() {
	local name=$1 until=$2
	shift 2
	bg python3 "$LIB_DIR/probe.py" "$T/cli" "$until" "$T/$name.probe" "$@"
	PROBE_PID=$BG_LAST
}

# wait_probe NAME SECS: its result (SECS: how long it was to run, 0 if
# until a stop file); a probe stuck in the mount fails the test (after
# aborting the mounts so that cleanup can proceed).
wait_probe() {
	local name=$1 secs=$2 out=$T/$1.probe
	[[ $secs =~ ^[0-9]+$ ]] || secs=0
	local pid=$PROBE_PID deadline=$((SECONDS + secs + $(tmo 60)))
	while [[ ! -s $out ]]; do
		if ((SECONDS >= deadline)); then
			abort_mounts_under "$T"
			fail "$name: ls, stat or .braidfs/ did not answer for $(tmo 60) s"
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

# check_fast NAME [KIND...]: no request of those kinds (ls, stat and the
# status files if none are named) waited for the server
check_fast() {
	local name=$1 kind
	shift
	(($# > 0)) || set -- ls stat status
	for kind in "$@"; do
		assert_le "$(probe_max "$name" "$kind")" "$MAX_MS" "$name: worst $kind latency in ms"
		assert_le "$(probe_p90 "$name" "$kind")" "$LIMIT_MS" "$name: 90th percentile of $kind latency in ms"
	done
}
