#!/usr/bin/env bash
# multipath-alldown.sh: three 32 Mbit/s links, client -o timeout=5. All
# links are cut silently in the middle of a cp. With every path down, the
# close(2) must wait the timeout and then fail with EIO: cp must exit
# non-zero (not killed by our own time limit) roughly timeout + stall
# detection after the cut, the client must log why, and the server must
# show no partial file: no f.bin in the session directory, no *.part (or
# any other file) anywhere in its mount.
#
# BRAIDFS_TEST_MP_MIB sets the file size (default 48).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

MIB=${BRAIDFS_TEST_MP_MIB:-48}
TIMEOUT=5
STALL=2
PORT=$(free_port)
need_space $((MIB * 3 + 100))

netns_setup 32mbit 32mbit 32mbit
head -c "${MIB}M" /dev/urandom >"$T/f.bin"
size=$(stat -c %s "$T/f.bin")

ns_start_server server "$T/srv" "$T/store"
mapfile -t PATHS < <(ns_path_opts "$PORT")
ns_start_client client "$T/cli" label=alldown chunk_size=256K "timeout=$TIMEOUT" "${PATHS[@]}"

note "cp of $MIB MiB; all links are cut once a quarter is acknowledged"
cp_bg 60 "$T/f.bin" "$T/cli/"
wait_acked "$T/cli" $((size / 4)) 60 || fail "no progress before the cut"
cut_at=$(date +%s.%N)
for i in 1 2 3; do ns_link_cut "$i"; done
cp_wait
after=$(awk -v a="$cut_at" -v b="$CP_END" 'BEGIN { printf "%.1f", b - a }')
printf '   cp ended %s s after the cut (timeout=%s, stall=%s)\n' "$after" "$TIMEOUT" "$STALL"
show_status "$T/cli"

check "cp fails (non-zero exit)" test "$CP_RC" -ne 0
check "cp was not killed by the test's own time limit" test "$CP_RC" -ne 124 -a "$CP_RC" -ne 137
check "cp reports an I/O error" grep -q 'Input/output error' "$T/cp.err"
# The timeout starts at the latest when the last path is declared stalled,
# STALL s after the cut; 8 s of slack for a loaded 2-core machine.
assert_le "${after%.*}" "$(tmo $((TIMEOUT + STALL + 8)))" "cp ended within timeout + stall + 8 s of the cut"
# ... and not before the timeout: the close waits for a path to come back
check "cp waited about the timeout before failing (>= $((TIMEOUT - 1)) s)" \
	awk -v a="$after" -v t="$TIMEOUT" 'BEGIN { exit !(a >= t - 1) }'

check "the client logs that no path is left, naming the server and the file" \
	grep -qE "did not store 'f.bin': no path to server .* has worked for $TIMEOUT s \(all 3 paths down" "$(daemon_log client)"
grep -m 1 "no path to server" "$(daemon_log client)" | sed 's/^/     /' || true

SESS=$(session_for_label "$T/srv" alldown) || fail "no session for label alldown"
check "no f.bin on the server" test ! -e "$SESS/f.bin"
check "no *.part anywhere in the server's mount" \
	test -z "$(find "$T/srv" -name '*.part' -print -quit)"
assert_eq 0 "$(count_files "$SESS")" "no file at all in the session directory"

for i in 1 2 3; do ns_link_restore "$i"; done
# The client's exit status after this is not what this test is about.
stop_daemon client any
finish
