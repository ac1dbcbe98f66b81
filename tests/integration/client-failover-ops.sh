#!/usr/bin/env bash
# client-failover-ops.sh: directory operations pending while the control
# path fails over, answered while the client is still resending them.
#
# The fake server (fake_server.py --failover-ops) never reads path 1 after
# its handshake, so that path's socket fills with chunks of a big file.
# Eight mkdirs wait on path 0 (the control path) for answers that do not
# come; then the server closes path 0, and the client resends the eight
# OPs on path 1, its new control path, where they cannot leave yet. The
# server answers them there (on the direction that still works): the
# mkdirs return, and their threads go on to other work. Only then does the
# server read path 1 again, and the client's resend goes out. A client that
# resent from the waiters' own records reads them after they are gone:
# AddressSanitizer (detect_stack_use_after_return, set here) reports it.
# Every mkdir must succeed, the file arrive whole, the logs stay clean.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
N=8
head -c $((24 << 20)) /dev/urandom >"$T/big"
# the client's log, as start_client names it
CLOG=$T/logs/c.1.log
start_fake_server fake --rcvbuf 16384 --failover-ops "$N,$CLOG,$T/returned" \
	--expect "big=$T/big"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_stack_use_after_return=1"
start_client c "$T/cli" paths=2 chunk_size=1M stall=600 label=failover
[[ $(daemon_log c) == "$CLOG" ]] || fail "the client logs to $(daemon_log c), not $CLOG"

for ((i = 1; i <= N; i++)); do
	mkdir "$T/cli/p$i"
done
bg dd if="$T/big" of="$T/cli/big" bs=1M status=none
dd_pid=$BG_LAST

note "path 1 takes its window of chunks and its socket fills"
check "path 1 holds a full window" run_t 60 bash -c '
	until awk '\''$1 == 1 && $7 >= 4 { f = 1 } END { exit !f }'\'' "$1"; do sleep 0.05; done' \
	_ "$T/cli/.braidfs/paths"

note "$N mkdirs wait on path 0; it fails; they are answered on path 1 during the resync"
# Each in its own directory: the kernel serializes mkdirs in one directory.
bg bash -c '
	for ((i = 1; i <= $1; i++)); do
		mkdir "$2/p$i/held" && echo ok >"$3.$i" &
	done
	wait
	touch "$3"' _ "$N" "$T/cli" "$T/returned"
check "the server closed path 0 with $N mkdirs held" wait_event fake '^CLOSING path 0' 60
check "the held mkdirs were answered on path 1" wait_event fake '^ANSWERED ' 60
check "every mkdir returned before path 1 was read again" wait_event fake '^RELEASE path 1' 60
for ((i = 1; i <= N; i++)); do
	check "mkdir p$i/held succeeded" test -e "$T/returned.$i"
done
check "the big file's copy ends" run_t 120 bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.1; done' _ "$dd_pid"
wait "$dd_pid" && rc=0 || rc=$?
assert_eq 0 "$rc" "dd of the big file succeeded (close(2) included)"
check "the server stored it" wait_event fake "^STORED big $((24 << 20))\$" 30
for ((i = 1; i <= N; i++)); do
	check "the outbox lists p$i/held" test -d "$T/cli/p$i/held"
done
fake_results fake

finish
