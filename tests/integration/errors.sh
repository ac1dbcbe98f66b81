#!/usr/bin/env bash
# errors.sh: close(2) returns only once the server stored the item durably,
# and fails with EIO otherwise, so that cp exits non-zero.
#  1. refused item: server with max_item_size=1 MiB; cp of a 2 MiB file
#     exits non-zero and nothing appears on the server; a file of exactly
#     1 MiB and a small file go through on the same session afterwards;
#     a 2 MiB rewrite of the small file fails, and the small file stays,
#     on the server and in the outbox's listing.
#  2. server gone: a writer holds a file open in the client mount, the server
#     is killed (-9); with every path down, finishing the file fails with EIO
#     (write or close) once the client's timeout (5 s here) has passed, and
#     the client log says that all paths are down.
#     After a restart on the same store the partial file is not visible,
#     while an item delivered before the kill is.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 200

# ---- 1. refused by max_item_size
note "1. item larger than the server's max_item_size"
PORT=$(free_port)
head -c $((2 << 20)) /dev/urandom >"$T/two-mib.bin"
head -c $((1 << 20)) /dev/urandom >"$T/one-mib.bin"
printf 'small\n' >"$T/small.txt"
start_server server1 "$T/srv1" "$T/store1" max_item_size=1048576
start_client client1 "$T/cli1" label=refused

out=$(run_t 90 cp "$T/two-mib.bin" "$T/cli1/two-mib.bin" 2>&1) && rc=0 || rc=$?
echo "   cp 2 MiB: exit $rc: $out"
check "cp of an item over max_item_size exits non-zero" test "$rc" -ne 0
check "cp was not stopped by the 90 s timeout" test "$rc" -ne 124 -a "$rc" -ne 137
SESS=$(session_for_label "$T/srv1" refused) || fail "no session for label refused"
check "the refused item is not on the server" test ! -e "$SESS/two-mib.bin"
check "cp of an item of exactly max_item_size succeeds" run_t 60 cp "$T/one-mib.bin" "$T/cli1/"
check "cp of a small item afterwards succeeds" run_t 60 cp "$T/small.txt" "$T/cli1/"
check "the 1 MiB item arrived intact" cmp "$T/one-mib.bin" "$SESS/one-mib.bin"
check "the small item arrived intact" cmp "$T/small.txt" "$SESS/small.txt"
out=$(run_t 90 cp "$T/two-mib.bin" "$T/cli1/small.txt" 2>&1) && rc=0 || rc=$?
echo "   cp 2 MiB over small.txt: exit $rc: $out"
check "a rewrite over max_item_size exits non-zero" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$rc" -ne 137
check "the server keeps the version it stored" cmp "$T/small.txt" "$SESS/small.txt"
check "the outbox still lists it" bash -c 'ls "$1" | grep -qx small.txt' _ "$T/cli1"
stop_daemon client1
stop_daemon server1

# ---- 2. server killed while a file is open for writing
note "2. server killed (-9) while an item is being written"
PORT=$(free_port)
start_server server2 "$T/srv2" "$T/store2"
start_client client2 "$T/cli2" label=killed paths=2 timeout=5
printf 'before\n' >"$T/pre.txt"
check "cp of an item before the kill" run_t 60 cp "$T/pre.txt" "$T/cli2/pre.txt"

head -c 16M /dev/urandom >"$T/partial.src"
bg run_t 150 python3 "$LIB_DIR/writer.py" "$T/cli2/partial.bin" "$T/partial.src" \
	"$T/started" "$T/go" >"$T/writer.out" 2>&1
wpid=$BG_LAST
deadline=$((SECONDS + $(tmo 60)))
until [[ -e $T/started ]]; do
	pid_alive "$wpid" || break
	((SECONDS < deadline)) || break
	sleep 0.05
done
check "writer wrote 8 MiB into the client mount" test -e "$T/started"
kill_daemon server2 KILL
touch "$T/go"
t0=$(now)
wrc=0
wait "$wpid" || wrc=$?
res=$(cat "$T/writer.out")
echo "   writer: exit $wrc after $(elapsed "$t0") s: $res"
check "writer finished (not stopped by its timeout)" test "$wrc" -eq 0
check "finishing the item fails with EIO (write or close)" grep -q ':EIO' <<<"$res"
check "close does not report success" bash -c '! grep -q "close:OK" <<<"$1" || grep -q "write:EIO" <<<"$1"' _ "$res"
check "the client log says every path is down" grep -q "all 2 paths down" "$(daemon_log client2)"
grep -m 1 "all 2 paths down" "$(daemon_log client2)" | sed 's/^/     /' || true
stop_daemon client2 any

start_server server2 "$T/srv2" "$T/store2"
SESS=$(session_for_label "$T/srv2" killed) || fail "no session for label killed after restart"
check "item delivered before the kill is there after restart" cmp "$T/pre.txt" "$SESS/pre.txt"
check "the partial item is not visible after restart" test ! -e "$SESS/partial.bin"
echo "   session after restart: $(ls -A "$SESS" | tr '\n' ' ')"

finish
