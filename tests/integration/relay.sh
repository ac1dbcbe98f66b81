# shellcheck shell=bash
# tests/integration/relay.sh — relay.py, the userspace TCP relay that
# stalls, delays or flips a bit of a path, for any test. Needs only
# python3: source it after lib.sh (netns.sh sources it too).
#
#   start_relay NAME LISTEN_ADDR:PORT TARGET_ADDR:PORT [relay.py options...]
#   relay_stall NAME    stop forwarding; returns once the relay says it is
#                       quiet (no write begun before the stall still going),
#                       and sets RELAY_C2S/RELAY_S2C to the bytes it has
#                       relayed, which cannot change until relay_pass
#   relay_pass NAME     forward again
#
# The relay is killed on cleanup; its log ($T/logs/relay-NAME.log) is
# dumped when the test fails.

[[ $(type -t on_cleanup) == function ]] || {
	echo "relay.sh: source lib.sh first" >&2
	exit 1
}

declare -A RELAY_PID=() RELAY_LOG=()
RELAY_C2S=
RELAY_S2C=

start_relay() {
	local name=$1 log=$T/logs/relay-$1.log
	shift
	ALL_LOGS+=("$log")
	RELAY_LOG[$name]=$log
	python3 "$LIB_DIR/relay.py" "$@" >"$log" 2>&1 &
	RELAY_PID[$name]=$!
	BG_PIDS+=("${RELAY_PID[$name]}")
	wait_until 30 "relay $name listening" _relay_ready "$name" ||
		fail "relay $name does not listen: $(cat "$log")"
}

_relay_ready() {
	grep -q 'relay: listening' "${RELAY_LOG[$1]}" && return 0
	pid_alive "${RELAY_PID[$1]}" || fail "relay $1 exited: $(cat "${RELAY_LOG[$1]}")"
	return 1
}

_relay_quiet_lines() { grep -c 'stalled and quiet' "${RELAY_LOG[$1]}" || true; }

relay_stall() {
	local name=$1 n line
	n=$(_relay_quiet_lines "$name")
	kill -USR1 "${RELAY_PID[$name]}"
	wait_until 30 "relay $name stalled and quiet" _relay_quiet_after "$name" "$n" ||
		fail "relay $name did not report a quiet stall: $(tail -n 5 "${RELAY_LOG[$name]}")"
	line=$(grep 'stalled and quiet' "${RELAY_LOG[$name]}" | tail -n 1)
	RELAY_C2S=$(sed -n 's/.*client->server \([0-9]*\) bytes.*/\1/p' <<<"$line")
	RELAY_S2C=$(sed -n 's/.*server->client \([0-9]*\) bytes.*/\1/p' <<<"$line")
	printf '   relay %s stalled at %s (relayed %s bytes client->server, %s back)\n' \
		"$name" "$(date +%T.%N | cut -c1-12)" "$RELAY_C2S" "$RELAY_S2C"
}

_relay_quiet_after() { (($(_relay_quiet_lines "$1") > $2)); }

relay_pass() {
	kill -USR2 "${RELAY_PID[$1]}"
	printf '   relay %s passing at %s\n' "$1" "$(date +%T.%N | cut -c1-12)"
}
