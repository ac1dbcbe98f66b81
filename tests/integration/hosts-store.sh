#!/usr/bin/env bash
# hosts-store.sh [plain|gluster]: two braidfsd on one store never both
# hold a session (issue 17). Server A owns a session with a file open in
# it (a partial item in its tmp/); server B starts on the same store (on
# a plain directory, or through its own mount of a GlusterFS replica-2
# volume, as a second host would) with linger=0, so that its janitor
# would delete at once the partial items of any session it loaded without
# paths. B says the session is owned by another server, refuses an ATTACH
# to it (LIMIT, with why), while A still takes one; B's view shows it
# read-only from the store (its complete files, never the partial one; a
# .session naming A; rm refused); A's file completes bit-exact (B's
# janitor left its partial data alone) and reads the same through B.
# A session made at B shows in A's view the same way. Then A is killed
# -9: B's view says the session has no owner, B takes it over from the
# store at the next ATTACH, and shows it with A's file in it.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KIND=${1:-plain}
need_space 200
two_hosts_store "$KIND"

PORT_A=$(free_port)
SERVER_LISTEN=127.0.0.1:$PORT_A start_server a "$T/va" "$STORE_A"
SERVER_ADDR=127.0.0.1:$PORT_A start_client c "$T/cli" label=owned paths=2 timeout=60
printf 'first\n' >"$T/first.txt"
check "cp of a file to server A" run_t 60 cp "$T/first.txt" "$T/cli/first.txt"
SESS=$(session_for_label "$T/va" owned) || fail "no session for label owned at A"
NAME=$(basename "$SESS")

note "a file held open at A: a partial item in the shared store"
head -c 32M /dev/urandom >"$T/src.bin"
quarter=$((32 * 1024 * 1024 / 4))
mkdir "$T/ctl"
bg run_t 150 python3 "$LIB_DIR/writer.py" "$T/cli/big.bin" "$T/src.bin" \
	--parts 2 "$T/ctl" >"$T/writer.out" 2>&1
wpid=$BG_LAST
check "a quarter of big.bin acknowledged while it is open" \
	wait_until 60 "a quarter of big.bin acknowledged" _acked_at_least "$T/cli" "$quarter"

note "server B on the same store ($KIND), linger=0"
PORT_B=$(free_port)
SERVER_LISTEN=127.0.0.1:$PORT_B start_server b "$T/vb" "$STORE_B" linger=0
LOG_B=$(daemon_log b)
check "B logs that the session is owned by another server" \
	grep -q "not loading session $NAME is owned by another braidfsd" "$LOG_B"
check "B's view shows it (read from the store)" test -d "$T/vb/$NAME"
check "... with A's stored file, bit-exact" cmp "$T/first.txt" "$T/vb/$NAME/first.txt"
check "... never the partial one" test ! -e "$T/vb/$NAME/big.bin"
check "... and a .session naming A as its owner" \
	grep -qx "owner: braidfsd on .* listening on 127.0.0.1:$PORT_A" "$T/vb/$NAME/.session"
check "... whose state is elsewhere, with the one stored file" \
	bash -c 'grep -qx "state: elsewhere" "$1" && grep -qx "items: 1" "$1"' _ "$T/vb/$NAME/.session"
check "... read-only: rm of its file is refused at B" \
	bash -c '! rm -f "$1" 2>"$2" && grep -q "Read-only file system" "$2"' _ \
	"$T/vb/$NAME/first.txt" "$T/rm.err"
check "... and the file is still in the store" cmp "$T/first.txt" "$STORE_A/$NAME/data/first.txt"
check "... rmdir of the session is refused at B" bash -c '! rmdir "$1"' _ "$T/vb/$NAME"

SFILE=$STORE_B/$NAME/session
check "B refuses an ATTACH to it, saying why" \
	grep -q "^LIMIT session $NAME is owned by another braidfsd" \
	<(python3 "$LIB_DIR/attach_peer.py" 127.0.0.1 "$PORT_B" "$SFILE")
check "... while A, its owner, takes one" \
	grep -qx OK <(python3 "$LIB_DIR/attach_peer.py" 127.0.0.1 "$PORT_A" "$SFILE")

note "the rest of big.bin, to A"
touch "$T/ctl/go.1"
wrc=0
wait "$wpid" || wrc=$?
check "the writer's writes and close succeeded ($(cat "$T/writer.out"))" \
	grep -q "write:OK close:OK" "$T/writer.out"
check "big.bin arrived at A bit-exact (B left its partial data alone)" \
	cmp "$T/src.bin" "$SESS/big.bin"
check "... and reads the same through B's view" cmp "$T/src.bin" "$T/vb/$NAME/big.bin"

note "vice versa: a session made at B shows in A's view"
SERVER_ADDR=127.0.0.1:$PORT_B start_client d "$T/cli2" label=atb paths=2 timeout=60
head -c 3M /dev/urandom >"$T/second.bin"
check "cp of a file to server B" run_t 60 cp "$T/second.bin" "$T/cli2/second.bin"
SESS_B=$(session_for_label "$T/va" atb) || fail "A's view does not list B's session atb"
check "A's view reads B's file bit-exact" cmp "$T/second.bin" "$SESS_B/second.bin"
check "... and names B as its owner" \
	grep -qx "owner: braidfsd on .* listening on 127.0.0.1:$PORT_B" "$SESS_B/.session"
check "B's session is not A's: A never loaded it" \
	bash -c '! grep -q "$1" "$2"' _ "$(basename "$SESS_B")" "$(daemon_log a)"
stop_daemon d

note "A dies: B takes the session over at the next ATTACH"
stop_daemon c
kill_daemon a KILL
_ownerless() { grep -q "^owner: none" "$T/vb/$NAME/.session"; }
check "B's view says the session has no owner now" \
	wait_until 30 "the session's owner lock to go" _ownerless
_attached_b() {
	python3 "$LIB_DIR/attach_peer.py" 127.0.0.1 "$PORT_B" "$SFILE" >"$T/attach.out"
	grep -qx OK "$T/attach.out"
}
check "B accepts the ATTACH once A is gone" \
	wait_until 30 "B to accept the ATTACH" _attached_b
check "B logs the takeover" grep -q "session $NAME: its owner is gone; taken over from the store" "$LOG_B"
check "B shows the session with A's files in it" cmp "$T/src.bin" "$T/vb/$NAME/big.bin"
check "... all of them" cmp "$T/first.txt" "$T/vb/$NAME/first.txt"

finish
