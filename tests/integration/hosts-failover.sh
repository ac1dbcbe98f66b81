#!/usr/bin/env bash
# hosts-failover.sh [paths|server]: a session survives the death of its
# host (issue 17). Two braidfsd "hosts", each in its own network namespace
# (hostns.sh), keep their store on one GlusterFS replica-2 volume, each
# through its own mount of it (gluster.sh). The client, in the root
# namespace, creates its session at host A and either (paths) lists two
# paths to A and two to B: B refuses its two (A owns the session) and they
# wait; or (server) has two paths to A and names B with server=: its paths
# try B when A fails them. A 200 MiB cp (64 MiB with server) is under way when
# A's braidfsd is killed -9 (a quarter acknowledged; the links are rate
# limited so that the copy lasts seconds on any machine); A is not
# started again. B's paths attach, B takes the session over from the
# store, the client resumes it as after a server restart, cp exits 0, and
# the file is bit-exact in the same session directory, shown by B
# (read-only before, as its own after). The bytes sent twice are printed
# (and bounded: under 10 % of the file). With server=, the client's status
# (.braidfs/paths, status.json) shows the paths at B.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$LIB_DIR/gluster.sh"
source "$LIB_DIR/hostns.sh"

MODE=${1:-paths}

need_space 1000
# The acceptance copy is 200 MiB; the server= variant moves the same way,
# and 64 MiB keeps the CI's time down.
MIB=200
[[ $MODE == server ]] && MIB=64
head -c "${MIB}M" /dev/urandom >"$T/src.bin"
SIZE=$(stat -c %s "$T/src.bin")

gluster_setup 2
hosts_setup 400mbit 400mbit
PORT=$(free_port)
host_start_server 1 a "$T/va" "${GL_MNT[1]}/store"
host_start_server 2 b "$T/vb" "${GL_MNT[2]}/store"
A=${HOST_ADDR[1]}:$PORT B=${HOST_ADDR[2]}:$PORT
case $MODE in
paths)
	SERVER_ADDR=$A start_client c "$T/cli" insecure label=moving timeout=60 \
		"path=$A" "path=$A" "path=$B" "path=$B"
	_b_refused() { grep -q "owned by another braidfsd" "$(daemon_log b)"; }
	check "B refuses the paths to it: A owns the session" \
		wait_until 30 "B to refuse a path" _b_refused
	;;
server)
	SERVER_ADDR=$A start_client c "$T/cli" insecure label=moving timeout=60 \
		paths=2 "server=$B"
	;;
*) fail "usage: hosts-failover.sh [paths|server]" ;;
esac
printf 'before\n' >"$T/pre.txt"
check "cp of a small file through A" run_t 60 cp "$T/pre.txt" "$T/cli/pre.txt"
SESS=$(session_for_label "$T/va" moving) || fail "no session for label moving at A"
NAME=$(basename "$SESS")
check "B shows the session A owns read-only, from the store" \
	grep -qx "state: elsewhere" "$T/vb/$NAME/.session"

note "a $MIB MiB cp; A is killed -9 once a quarter is acknowledged"
cp_bg 180 "$T/src.bin" "$T/cli/big.bin"
check "a quarter of big.bin acknowledged (by A)" \
	wait_acked "$T/cli" $((SIZE / 4)) 120
check "... while cp is still running" cp_running
echo "   acknowledged when the kill comes: $(acked_total "$T/cli") bytes"
kill_daemon a KILL

cp_wait
check "cp exits 0 without A coming back" test "$CP_RC" -eq 0
LOG_B=$(daemon_log b)
check "B took the session over" \
	grep -q "session $NAME: its owner is gone; taken over from the store" "$LOG_B"
check "the client saw a new server and resumed" \
	grep -q "restarted: resuming" "$(daemon_log c)"
if [[ $MODE == server ]]; then
	check "its log says the paths went to another server (server=)" \
		grep -q "re-attached at another server of the store, $B" "$(daemon_log c)"
fi
check "B shows the same session directory" test -d "$T/vb/$NAME"
check "... as its own now" bash -c '! grep -qx "state: elsewhere" "$1"' _ "$T/vb/$NAME/.session"
check "big.bin is bit-exact in it" cmp "$T/src.bin" "$T/vb/$NAME/big.bin"
check "so is the file from before" cmp "$T/pre.txt" "$T/vb/$NAME/pre.txt"

if [[ $MODE == server ]]; then
	_all_up() { test "$(status_cols "$T/cli" state | sort -u)" = up; }
	check "both paths re-attach (A is gone: at B)" wait_until 60 "both paths up" _all_up
	check "the status file shows both paths at B, where they are now" \
		test "$(status_cols "$T/cli" address | sort -u)" = "$B"
	check "... and so does status.json" python3 -c '
import json, sys
paths = json.load(open(sys.argv[1]))["paths"]
sys.exit(not paths or any(p["address"] != sys.argv[2] for p in paths))' "$T/cli/.braidfs/status.json" "$B"
fi
sed 's/^/   /' "$T/cli/.braidfs/paths"
# chunks sent again: the resend queue (written to A, never acknowledged)
# and tail copies, 256 KiB each (chunk_size)
again=$(awk '!/^#/ { n += $11 + $12 } END { print n + 0 }' "$T/cli/.braidfs/paths")
resent=$((again * 262144))
pct=$(awk -v r="$resent" -v s="$SIZE" 'BEGIN { printf "%.2f", 100 * r / s }')
echo "   bytes sent twice: $again chunks, $resent bytes, $pct % of the file"
check "bytes sent twice are under 10 % of the file ($pct %)" \
	awk -v r="$resent" -v s="$SIZE" 'BEGIN { exit !(r < s / 10) }'

note "the session goes on at B"
printf 'after\n' >"$T/post.txt"
check "cp of a new file after the failover" run_t 60 cp "$T/post.txt" "$T/cli/post.txt"
check "it arrives in the same session at B" cmp "$T/post.txt" "$T/vb/$NAME/post.txt"

finish
