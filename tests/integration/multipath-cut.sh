#!/usr/bin/env bash
# multipath-cut.sh: one of three links (32 Mbit/s each) is cut silently in
# the middle of a cp (no RST, no error: its packets just vanish, see
# ns_link_cut). The client must notice the stalled path (-o stall, default
# 2 s), re-send its unacknowledged chunks on the other two, and the cp must
# complete with the file bit-exact on the server. While the link stays cut
# the status file must show that path not up (down, or connecting while it
# retries), or re-attached after failing (retries >= 1).
#
# BRAIDFS_TEST_MP_MIB sets the file size (default 48).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

MIB=${BRAIDFS_TEST_MP_MIB:-48}
CUT=2 # the link cut; path index CUT-1 in the status file
PORT=$(free_port)
need_space $((MIB * 3 + 100))

netns_setup 32mbit 32mbit 32mbit
head -c "${MIB}M" /dev/urandom >"$T/f.bin"
size=$(stat -c %s "$T/f.bin")

ns_start_server server "$T/srv" "$T/store"
mapfile -t PATHS < <(ns_path_opts "$PORT")
ns_start_client client "$T/cli" label=cut chunk_size=256K "${PATHS[@]}"

note "cp of $MIB MiB over 3 x 32 Mbit/s; link $CUT is cut once a quarter is acknowledged"
cp_bg 150 "$T/f.bin" "$T/cli/"
wait_acked "$T/cli" $((size / 4)) 60 || fail "no progress before the cut"
show_status "$T/cli"
ns_link_cut "$CUT"
cut_at=$(now)
cp_wait
printf '   cp ended %s s after the cut\n' "$(elapsed "$cut_at")"
show_status "$T/cli"

assert_eq 0 "$CP_RC" "cp completes although link $CUT was cut mid-transfer"
SESS=$(session_for_label "$T/srv" cut) || fail "no session for label cut"
check "arrived bit-exact" cmp "$T/f.bin" "$SESS/f.bin"

# others_up: every other path is up
others_up() { ! status_cols "$T/cli" index state | awk -v c=$((CUT - 1)) '$1 != c && $2 != "up" { f = 1 } END { exit !f }'; }
check "the status file shows path $((CUT - 1)) down (or retries >= 1) while its link is cut" \
	wait_until 10 "path $((CUT - 1)) not up" path_down_or_retried "$T/cli" $((CUT - 1))
check "the other paths are up" others_up
sed -n '/^path: /s/^/   server /p' "$SESS/.session"

ns_link_restore "$CUT"
finish
