#!/usr/bin/env bash
# spool-default.sh: delivery=async without spool= uses a spool of its own,
# one per server and mountpoint, under $XDG_STATE_HOME/braidfs/ (root's
# default without XDG_STATE_HOME is /var/lib/braidfs-client/: the test
# sets XDG_STATE_HOME to stay in its temp dir):
#  1. the mount works and delivers a file; .braidfs/spool names the spool
#     it made (mode 700, under $XDG_STATE_HOME/braidfs/);
#  2. with the server frozen a file is spooled, the client is killed (-9);
#     a new mount of the same mountpoint and server, again without spool=,
#     finds that spool and delivers the file into the same session;
#  3. a mount of another mountpoint gets another spool.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export XDG_STATE_HOME=$T/state
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

note "1. delivery=async, no spool="
start_client c1 "$T/cli" label=dflt delivery=async
echo one >"$T/cli/one.txt"
check "delivered" wait_spool_empty "$T/cli" 60
SESS=$(session_for_label "$T/srv" dflt) || fail "no session for label dflt"
check "one.txt arrived" cmp -s <(echo one) "$SESS/one.txt"
SP=$(spool_field "$T/cli" spool)
echo "   spool: $SP"
case $SP in
"$T/state/braidfs/"*) pass "the spool is under \$XDG_STATE_HOME/braidfs/" ;;
*) fail "spool $SP is not under $T/state/braidfs/" ;;
esac
assert_eq 700 "$(stat -c %a "$SP")" "the spool is mode 700"

note "2. killed with a file spooled; the remount finds the same spool"
kill -STOP "$SPID"
on_cleanup kill -CONT "$SPID"
echo two >"$T/cli/two.txt"
assert_eq 1 "$(spool_field "$T/cli" pending)" "two.txt waits in the spool"
kill_daemon c1 KILL
kill -CONT "$SPID"
start_client c2 "$T/cli" label=dflt delivery=async
assert_eq "$SP" "$(spool_field "$T/cli" spool)" "the same spool"
check "delivered after the remount" wait_spool_empty "$T/cli" 60
check "two.txt arrived in the same session" cmp -s <(echo two) "$SESS/two.txt"

note "3. another mountpoint, another spool"
start_client c3 "$T/cli2" label=dflt2 delivery=async
SP2=$(spool_field "$T/cli2" spool)
[[ -n $SP2 && $SP2 != "$SP" ]] || fail "mount 2's spool ($SP2) is not its own"
pass "another mountpoint has its own spool ($SP2)"
finish
