# shellcheck shell=bash
# tests/integration/append_peer.sh — the shell side of append_peer.py,
# shared by append-server.sh and cut-server.sh: source it after lib.sh,
# set PORT (braidfsd's) and PEER_TIMEOUT (seconds a step may take).
#
#   peer STEP               append_peer.py's STEP against braidfsd on $PORT,
#                           its state in $T/state, the view in $T/srv
#   no_parts                no item's part file is left in the store's tmp/
#   crash_round POINT:N STEP WHAT
#                           braidfsd started with the crash hook at POINT:N,
#                           the peer's STEP (WHAT) loses its connection
#                           there, braidfsd killed itself; then it starts
#                           again without the hook

[[ $(type -t on_cleanup) == function ]] || {
	echo "append_peer.sh: source lib.sh first" >&2
	exit 1
}
mkdir -p "$T/state"

peer() { run_t "$PEER_TIMEOUT" python3 "$LIB_DIR/append_peer.py" 127.0.0.1 "$PORT" "$T/srv" "$T/state" "$1"; }

no_parts() { ! compgen -G "$T/store/*/tmp/*.part" >/dev/null; }

crash_round() {
	BRAIDFSD_CRASH_AFTER=$1 start_server server "$T/srv" "$T/store"
	check "$3" peer "$2"
	check "braidfsd killed itself at ${1%%:*}" wait_exit "$(daemon_pid server)" "$(tmo 30)"
	kill_daemon server KILL >/dev/null
	check "the crash hook fired" grep -q "crashing at ${1%%:*}" "$(daemon_log server)"
	start_server server "$T/srv" "$T/store"
}
