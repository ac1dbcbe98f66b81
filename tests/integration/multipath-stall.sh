#!/usr/bin/env bash
# multipath-stall.sh: three 32 Mbit/s links; path 1 (the second) goes
# through relay.py, which stalls in the middle of a cp: it stops forwarding
# in both directions but closes nothing, so the client's TCP connection
# stays established with its window closed (no error, no RST, no FIN, zero
# window probes answered). The client must declare the path stalled (-o
# stall, default 2 s), re-send its chunks on the other paths, and the cp
# must complete, bit-exact; the client's log must say it dropped the path
# because it stalled. Meanwhile the status file must show the path not up
# (down/connecting: a re-attach through the stalled relay cannot complete
# its handshake) or re-attached.
#
# BRAIDFS_TEST_MP_MIB sets the file size (default 48).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

MIB=${BRAIDFS_TEST_MP_MIB:-48}
PORT=$(free_port)
RPORT=$(free_port)
need_space $((MIB * 3 + 100))

netns_setup 32mbit 32mbit 32mbit
head -c "${MIB}M" /dev/urandom >"$T/f.bin"
size=$(stat -c %s "$T/f.bin")

ns_start_server server "$T/srv" "$T/store"
start_relay r "${RT_ADDR[2]}:$RPORT" "${RT_ADDR[2]}:$PORT" --rcvbuf 65536
ns_start_client client "$T/cli" label=stall chunk_size=256K \
	"path=${RT_ADDR[1]}:$PORT@${NS_ADDR[1]}" \
	"path=${RT_ADDR[2]}:$RPORT@${NS_ADDR[2]}" \
	"path=${RT_ADDR[3]}:$PORT@${NS_ADDR[3]}"

note "cp of $MIB MiB over 3 x 32 Mbit/s; path 1's relay stalls once a quarter is acknowledged"
cp_bg 150 "$T/f.bin" "$T/cli/"
wait_acked "$T/cli" $((size / 4)) 60 || fail "no progress before the stall"
show_status "$T/cli"
relay_stall r
stall_at=$(now)
cp_wait
after=$(elapsed "$stall_at")
printf '   cp ended %s s after the stall\n' "$after"
show_status "$T/cli"

assert_eq 0 "$CP_RC" "cp completes although path 1 stalled mid-transfer"
SESS=$(session_for_label "$T/srv" stall) || fail "no session for label stall"
check "arrived bit-exact" cmp "$T/f.bin" "$SESS/f.bin"
# The client's stall detection drops the path (its chunks may have been
# finished sooner by tail copies on the others): nothing else gives up on
# a path whose TCP stays established with its window closed.
STALLED="path 1 \(${RT_ADDR[2]//./\\.}:$RPORT\) lost: stalled: no progress for"
check "the client drops path 1 because it stalled (its log says so)" \
	wait_until 30 "the client's stall detection" grep -qE "$STALLED" "$(daemon_log client)"
grep -m 1 -E "$STALLED" "$(daemon_log client)" | sed 's/^/   client: /' || true

check "the status file shows path 1 down (or retries >= 1) while its relay is stalled" \
	wait_until 10 "path 1 not up" path_down_or_retried "$T/cli" 1

relay_pass r
finish
