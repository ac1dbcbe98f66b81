#!/usr/bin/env bash
# notify.sh: the service manager's notification protocol, as systemd runs
# a Type=notify unit (no systemd here: the test listens on the socket, as
# systemd-notify's peer would). braidfsd sends READY=1 only once its view
# is mounted and its listeners accept, with a STATUS= line naming the
# store and address, kept up to date (sessions, files), and STOPPING=1
# when it stops; the client sends
# READY=1 once its outbox is mounted. Abstract (@name) and path sockets.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# listen NAME SOCKET MOUNT PORT: a notify socket, its datagrams in $T/NAME.msgs
listen() {
	bg python3 "$LIB_DIR/notify_listener.py" "$2" "$T/$1.msgs" "$3" "$4"
	wait_until 30 "$1's notify socket" test -e "$T/$1.msgs.ready" || fail "no notify socket"
}
said() { grep -qxF "$2" "$T/$1.msgs" 2>/dev/null; }

PORT=$(free_port)
note "braidfsd, abstract socket"
listen server "@braidfs-notify-$$-$PORT" "$T/srv" "$PORT"
NOTIFY_SOCKET="@braidfs-notify-$$-$PORT" start_server server "$T/srv" "$T/store"
wait_until 30 "READY=1 from braidfsd" said server READY=1 || fail "braidfsd sent no READY=1"
sed 's/^/   | /' "$T/server.msgs"
check "READY=1 came once the view was mounted and the port accepted" \
	grep -qx -- "-- mounted=1 listening=1" "$T/server.msgs"
check "STATUS= names the store and the address" \
	grep -qE "^STATUS=store $T/store: 0 sessions \(0 connected\), 0 files stored, 0 in flight; listening on 127.0.0.1:$PORT\$" "$T/server.msgs"

note "braidfs, socket by path"
listen client "$T/notify.sock" "$T/cli" 0
NOTIFY_SOCKET="$T/notify.sock" start_client client "$T/cli"
wait_until 30 "READY=1 from braidfs" said client READY=1 || fail "braidfs sent no READY=1"
sed 's/^/   | /' "$T/client.msgs"
check "the client's READY=1 came once the outbox was mounted" \
	grep -qx -- "-- mounted=1 listening=1" "$T/client.msgs"

echo hello >"$T/cli/one" || fail "a file"
status_fresh() { grep -qF "STATUS=store $T/store: 1 sessions (1 connected), 1 files stored, 0 in flight" "$T/server.msgs"; }
wait_until 30 "a STATUS= line with the session and its file" status_fresh ||
	fail "braidfsd's STATUS= line does not follow what happens"
pass "braidfsd's STATUS= line follows the sessions"

note "stopping"
stop_daemon client
wait_until 30 "STOPPING=1 from braidfs" said client STOPPING=1 || fail "braidfs sent no STOPPING=1"
kill_daemon server TERM
assert_eq 0 "$LAST_RC" "braidfsd stopped by SIGTERM (systemctl stop) exits 0"
wait_until 30 "STOPPING=1 from braidfsd" said server STOPPING=1 || fail "braidfsd sent no STOPPING=1"
pass "both daemons said STOPPING=1"

finish
