#!/usr/bin/env bash
# full-disk.sh: the server's store fills up. The client gets a clear error
# (close fails with ENOSPC, a log line names the server and the file), the
# server stays up, files delivered before are intact, the partial item's
# space is given back, and files that fit still go through afterwards.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
STORE=$T/store
mkdir -p "$STORE"
mount -t tmpfs -o size=24m,mode=0700 tmpfs "$STORE" || fail "cannot mount a tmpfs for the store (needs root)"
EXTRA_MOUNTS+=("$STORE")

head -c 6M /dev/urandom >"$T/first.bin"
head -c 40M /dev/urandom >"$T/huge.bin"
head -c 3M /dev/urandom >"$T/after.bin"

start_server server "$T/srv" "$STORE"
start_client client "$T/cli" label=full
CLI=$T/cli

check "cp of a 6 MiB file into a 24 MiB store" run_t 60 cp "$T/first.bin" "$CLI/"
out=$(run_t 60 cp "$T/huge.bin" "$CLI/" 2>&1) && rc=0 || rc=$?
echo "   cp 40 MiB: exit $rc: $out"
check "cp of a 40 MiB file fails" test "$rc" -ne 0
check "cp reports 'No space left on device'" grep -q 'No space left on device' <<<"$out"
check "the client log names the server and the file" \
	grep -q "127.0.0.1:$PORT.*huge.bin" "$(daemon_log client)"
check "the server log names the file" grep -q "huge.bin" "$(daemon_log server)"
check "server still running" pid_alive "$(daemon_pid server)"

SESS=$(session_for_label "$T/srv" full) || fail "no session for label full"
check "the earlier file is intact" cmp "$T/first.bin" "$SESS/first.bin"
check "no partial file is visible" test ! -e "$SESS/huge.bin"
used_kb=$(df -k --output=used "$STORE" | tail -n 1 | tr -d ' ')
echo "   store used after the failure: $used_kb KiB"
assert_le "$used_kb" 8192 "the partial item's space was reclaimed (KiB used)"

check "a file that fits still goes through" run_t 60 cp "$T/after.bin" "$CLI/"
check "and arrives intact" cmp "$T/after.bin" "$SESS/after.bin"

finish
