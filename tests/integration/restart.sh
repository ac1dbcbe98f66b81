#!/usr/bin/env bash
# restart.sh: the store is the truth.
#  1. deliver tree 1 (client without a label), stop the client, stop the
#     server cleanly (fusermount3 -u, wait), start it again on the same store
#     and port: the session is there again, same name, byte for byte.
#  2. deliver tree 2 (new client, labelled), kill -9 the server while that
#     client is still connected, unmount the stale mount, start again: both
#     sessions are there, byte for byte.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 500
PORT=$(free_port)
SRV=$T/srv
STORE=$T/store

S1=$T/src1
S2=$T/src2
make_tree "$S1" 4 4 10 20000 11
head -c $((24 << 20)) /dev/urandom >"$S1/big.bin"
mkdir -p "$S1/ünï cödé/x y" "$S1/empty"
printf 'ü\n' >"$S1/ünï cödé/x y/z"
make_tree "$S2" 3 5 6 20000 22
head -c $((16 << 20)) /dev/urandom >"$S2/big2.bin"

# ---- phase 1: clean stop
note "phase 1: deliver, clean stop, restart"
start_server server "$SRV" "$STORE"
start_client client1 "$T/cli1" paths=4
check "cp -r tree 1" run_t 120 cp -r "$S1/." "$T/cli1/"
stop_daemon client1
before=$(session_dirs "$SRV")
printf '   sessions: %s\n' "$(tr '\n' ' ' <<<"$before")"
D1=$(session_for_label "$SRV" "") || fail "no unlabelled session directory (YYYYMMDD-HHMMSS-SHORTID)"
check "unlabelled session is named YYYYMMDD-HHMMSS-SHORTID" \
	grep -qE "$(session_re "")" <<<"$(basename "$D1")"
check "tree 1 delivered (diff -r before restart)" diff_trees "$S1" "$D1"
stop_daemon server
check "store is not empty" test -n "$(find "$STORE" -mindepth 1 -print -quit)"

start_server server "$SRV" "$STORE"
after=$(session_dirs "$SRV")
assert_eq "$before" "$after" "same session directories after a clean restart"
check "tree 1 identical after a clean restart (diff -r)" diff_trees "$S1" "$D1"
check "big.bin identical after a clean restart (cmp)" cmp "$S1/big.bin" "$D1/big.bin"
check ".session readable after restart" grep -q '^id: ' "$D1/.session"

# ---- phase 2: kill -9
note "phase 2: deliver, kill -9 the server, restart"
start_client client2 "$T/cli2" paths=2 label=after.kill
check "cp -r tree 2" run_t 120 cp -r "$S2/." "$T/cli2/"
D2=$(session_for_label "$SRV" after.kill) || fail "no session for label after.kill"
check "tree 2 delivered (diff -r before kill)" diff_trees "$S2" "$D2"
before=$(session_dirs "$SRV")
kill_daemon server KILL
check "stale server mount is gone" bash -c "! grep -q ' $SRV ' /proc/mounts"
stop_daemon client2 any

start_server server "$SRV" "$STORE"
after=$(session_dirs "$SRV")
printf '   sessions: %s\n' "$(tr '\n' ' ' <<<"$after")"
assert_eq "$before" "$after" "same session directories after kill -9 and restart"
check "tree 1 identical after kill -9 and restart" diff_trees "$S1" "$D1"
check "tree 2 identical after kill -9 and restart" diff_trees "$S2" "$D2"
check "big2.bin identical after kill -9 and restart (cmp)" cmp "$S2/big2.bin" "$D2/big2.bin"

finish
