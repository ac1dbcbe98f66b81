#!/usr/bin/env bash
# coding-multipath.sh CODING: coding=shamir:2/3 or rs:2/3 over three
# 32 Mbit/s links of the namespace harness. Every chunk travels as three
# shares on three distinct paths, any two of which rebuild it.
#  1. a copy arrives bit-exact (and small and empty files too)
#  2. one link is cut silently mid-copy: the copy completes bit-exact with
#     no share sent again (the two live paths carry two shares of every
#     chunk, which is enough), and the status file's resent column says so
#
# BRAIDFS_TEST_MP_MIB sets the file size (default 16).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

CODING=${1:?usage: coding-multipath.sh shamir:2/3|rs:2/3}
LABEL=$(tr ':/' '--' <<<"$CODING")
MIB=${BRAIDFS_TEST_MP_MIB:-16}
CUT=2
PORT=$(free_port)
need_space $((MIB * 4 + 100))

netns_setup 32mbit 32mbit 32mbit
head -c "${MIB}M" /dev/urandom >"$T/f.bin"
head -c 1000 /dev/urandom >"$T/small.bin"
: >"$T/empty.bin"
size=$(stat -c %s "$T/f.bin")

ns_start_server server "$T/srv" "$T/store"
mapfile -t PATHS < <(ns_path_opts "$PORT")
ns_start_client client "$T/cli" "label=$LABEL" "coding=$CODING" "${PATHS[@]}"

note "1. cp with coding=$CODING over 3 x 32 Mbit/s"
check "cp of a small and an empty file" run_t 60 cp "$T/small.bin" "$T/empty.bin" "$T/cli/"
SESS=$(session_for_label "$T/srv" "$LABEL") || fail "no session for label $LABEL"
check "small file bit-exact" cmp "$T/small.bin" "$SESS/small.bin"
check "empty file bit-exact" cmp "$T/empty.bin" "$SESS/empty.bin"
t0=$(now)
check "cp of $MIB MiB" run_t 120 cp "$T/f.bin" "$T/cli/whole.bin"
secs=$(elapsed "$t0")
echo "   $MIB MiB in $secs s: $(mb_per_s "$size" "$secs") MB/s of file data"
show_status "$T/cli"
check "arrived bit-exact" cmp "$T/f.bin" "$SESS/whole.bin"
# every path carried shares: the sum is about n/k (rs) or n (shamir) times the data
sent=$(acked_total "$T/cli")
echo "   bytes acknowledged on all paths: $sent ($(awk -v a="$sent" -v b="$size" 'BEGIN { printf "%.2f", a / b }') x the data)"
resent_before=$(status_cols "$T/cli" resent | awk '{ n += $1 } END { print n + 0 }')

note "2. link $CUT cut once a quarter of the next copy is acknowledged"
base=$(acked_total "$T/cli")
cp_bg 150 "$T/f.bin" "$T/cli/cut.bin"
wait_acked "$T/cli" $((base + size / 2)) 60 || fail "no progress before the cut"
ns_link_cut "$CUT"
cut_at=$(now)
cp_wait
printf '   cp ended %s s after the cut\n' "$(elapsed "$cut_at")"
show_status "$T/cli"
assert_eq 0 "$CP_RC" "cp completes although link $CUT was cut mid-transfer"
check "arrived bit-exact" cmp "$T/f.bin" "$SESS/cut.bin"
resent=$(status_cols "$T/cli" resent | awk '{ n += $1 } END { print n + 0 }')
echo "   shares sent again: $((resent - resent_before)) (resent column, all paths)"
assert_eq "$resent_before" "$resent" "no share was sent again after the cut"
# The copy needs no stall detection to finish; the path is noticed after.
cut_noticed() {
	local st re
	read -r st re <<<"$(status_cols "$T/cli" index state retries | awk -v i=$((CUT - 1)) '$1 == i { print $2, $3 }')"
	[[ $st != up ]] || ((re >= 1))
}
check "the cut path is then seen not up (or re-attached)" wait_until 10 "path $((CUT - 1)) not up" cut_noticed

ns_link_restore "$CUT"
finish
