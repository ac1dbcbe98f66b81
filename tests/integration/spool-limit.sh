#!/usr/bin/env bash
# spool-limit.sh: delivery=async sends many files at once, but no more
# than the server takes: a server that refuses one for being one too many
# (max_open_items) lowers the client's bound to what it took, and every
# file still arrives, once (async-send.h).
#  1. the server frozen, 300 files of 1 KiB spooled; thawed with
#     max_open_items=8, it refuses most of the first burst; the client
#     says once that it sends fewer at once (not once per refused file),
#     and delivers all 300, bit-exact, each stored once

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SPOOL=$T/spool
start_server server "$T/srv" "$T/store" max_open_items=8
SPID=$(daemon_pid server)
mkdir -p "$T/src/a" "$T/src/b" "$T/src/c"
for i in $(seq 300); do
	head -c 1024 /dev/urandom >"$T/src/$(printf '%s' abc | cut -c$((i % 3 + 1)))/f$i"
done

note "1. 300 files against max_open_items=8"
start_client c "$T/cli" label=limit "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" limit) || fail "no session for label limit"
kill -STOP "$SPID"
check "cp -r returns while the server is frozen" run_t 60 cp -r "$T/src" "$T/cli/in"
assert_eq 300 "$(spool_field "$T/cli" pending)" "all 300 wait in the spool"
kill -CONT "$SPID"
check "the spool drains" wait_spool_empty "$T/cli" 180
check "the server refused some for being too many" \
	grep -q "max_open_items" "$(daemon_log server)"
check "the client lowered its bound" \
	grep -q "takes no more files at once (its max_open_items)" "$(daemon_log c)"
bound=$(grep -o 'sending at most [0-9]*' "$(daemon_log c)" | head -n 1 | cut -d' ' -f4 || true)
check "... below its first (1024): $bound" test "${bound:-1024}" -lt 1024
check "refused files were not logged one by one" \
	test "$(grep -c 'not delivered yet' "$(daemon_log c)")" -eq 0
check "all 300 arrived bit-exact" diff -r "$T/src" "$SESS/in"
assert_eq 300 "$(session_field "$SESS/.session" versions)" "each was stored exactly once"
stop_daemon c
stop_daemon server
finish
