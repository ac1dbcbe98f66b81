#!/usr/bin/env bash
# session-caps.sh: sessions are capped in total and per source address, and
# an idle session holds three descriptors until a path attaches (issue
# 12.6).
#  1. max_sessions_per_source=3: three HELLO NEW from 127.0.2.1 make
#     sessions, the fourth is refused WELCOME LIMIT with a text naming the
#     option; 127.0.2.2 still makes one (the cap is per source)
#  2. max_sessions_total=5 (the store holds 4): one more from 127.0.2.3 is
#     taken, the next refused LIMIT naming max_sessions_total; an ATTACH to
#     an existing session is still taken
#  3. the idle sessions rest: the server's descriptors (/proc/PID/fd) drop
#     to at most 3 per session beyond the server's own (its directory,
#     data/ and its owner lock); a real client that
#     re-attaches (the same spool=) copies a file into its resting session,
#     and the descriptors of that session come back while it is attached

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PEER=$LIB_DIR/session_peer.py
PORT=$(free_port)
start_server server "$T/srv" "$T/store" max_sessions_per_source=3 \
	max_sessions_total=5 linger=1
SPID=$(daemon_pid server)
SLOG=$(daemon_log server)
fds() { find "/proc/$SPID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
BASE=$(fds)
echo "   the server alone holds $BASE descriptors"

hello() { run_t 30 python3 "$PEER" "$PORT" "$@"; }

note "1. per source"
for i in 1 2 3; do
	out=$(hello 127.0.2.1 new "a$i") || fail "HELLO NEW a$i: $out"
	echo "   a$i: $out"
	check "session a$i from 127.0.2.1 is made" grep -q "^WELCOME OK " <<<"$out"
done
out=$(hello 127.0.2.1 new a4) || fail "HELLO NEW a4: $out"
echo "   a4: $out"
check "a fourth from 127.0.2.1 is refused LIMIT" grep -q "^WELCOME LIMIT " <<<"$out"
check "... saying which cap" grep -q "3 sessions from this address already (max_sessions_per_source)" <<<"$out"
check "the server logs the refusal" grep -q "refusing handshake from 127.0.2.1:.*max_sessions_per_source" "$SLOG"
out=$(hello 127.0.2.2 new b1) || fail "HELLO NEW b1: $out"
echo "   b1: $out"
check "127.0.2.2 still makes a session" grep -q "^WELCOME OK " <<<"$out"
read -r _ _ B1_ID B1_TOKEN _ <<<"$out"

note "2. in total"
out=$(hello 127.0.2.3 new c1) || fail "HELLO NEW c1: $out"
echo "   c1: $out"
check "a fifth session is made" grep -q "^WELCOME OK " <<<"$out"
out=$(hello 127.0.2.4 new c2) || fail "HELLO NEW c2: $out"
echo "   c2: $out"
check "a sixth is refused LIMIT" grep -q "^WELCOME LIMIT " <<<"$out"
check "... naming max_sessions_total" grep -q "the store holds 5 sessions (max_sessions_total)" <<<"$out"
out=$(hello 127.0.2.2 attach "$B1_ID" "$B1_TOKEN") || fail "ATTACH b1: $out"
echo "   attach b1: $out"
check "an ATTACH to b1 is still taken" grep -q "^WELCOME OK " <<<"$out"
stop_daemon server

note "3. idle sessions rest"
PORT=$(free_port)
start_server server "$T/srv" "$T/store2" linger=1
SPID=$(daemon_pid server)
BASE=$(fds)
N=6
for i in $(seq 1 "$N"); do
	out=$(hello 127.0.3.1 new "idle$i") || fail "HELLO NEW idle$i: $out"
done
mkdir -p "$T/src"
echo "before the rest" >"$T/src/one"
start_client c1 "$T/cli" label=spooled delivery=async "spool=$T/spool"
check "the client delivers a file" cp "$T/src/one" "$T/cli/one"
check "... and its spool empties" wait_spool_empty "$T/cli" 30
stop_daemon c1
SESS=$((N + 1))
echo "   $SESS sessions, just made: $(($(fds) - BASE)) descriptors beyond the server's"
REST_FDS=3
rested() { (($(fds) <= BASE + REST_FDS * SESS)); }
wait_until 30 "the $SESS idle sessions rest (at most $REST_FDS descriptors each)" rested ||
	fail "idle sessions still hold $(($(fds) - BASE)) descriptors"
pass "the $SESS idle sessions rest: $(($(fds) - BASE)) descriptors beyond the server's $BASE"
check "the server logs nothing alarming about it" bash -c '! grep -qi "cannot\|error" "$1"' _ "$(daemon_log server)"
echo "after the rest" >"$T/src/two"
start_client c2 "$T/cli" label=spooled delivery=async "spool=$T/spool"
check "the re-attached client delivers into its session" cp "$T/src/two" "$T/cli/two"
check "... its spool empties" wait_spool_empty "$T/cli" 30
SD=$(session_for_label "$T/srv" spooled) || fail "not one session with label spooled"
check "one is there, bit-exact" cmp "$T/src/one" "$SD/one"
check "two is there, bit-exact" cmp "$T/src/two" "$SD/two"
awake=$(($(fds) - BASE))
echo "   with one session attached: $awake descriptors beyond the server's"
check "the attached session opened its descriptors again" test "$awake" -gt $((REST_FDS * SESS))
stop_daemon c2

finish
