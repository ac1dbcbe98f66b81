#!/usr/bin/env bash
# multipath-reattach.sh: three 32 Mbit/s links; link 2 (path 1) is cut
# silently in the middle of a first cp, which must still complete on the
# other two; then the link comes back. The client must re-attach the path
# by itself (backoff 0.25 s doubling up to 4 s): its state must be "up"
# again with retries >= 1, and it must carry data again, i.e. its bytes
# counter (client status file) and the server's bytes from that link's
# address (.session) must grow during a second cp, which must arrive
# bit-exact too, and on the server some of them must have come over a new
# TCP connection (a client port not seen before the cut): the old
# connection's TCP would resume by itself once the link is back, which is
# not a re-attach.
#
# BRAIDFS_TEST_MP_MIB sets the size of the first file (default 48; the
# second is half of it).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

MIB=${BRAIDFS_TEST_MP_MIB:-48}
CUT=2
P=$((CUT - 1)) # its path index in the status file
PORT=$(free_port)
need_space $((MIB * 5 + 100))

netns_setup 32mbit 32mbit 32mbit
head -c "${MIB}M" /dev/urandom >"$T/f1.bin"
head -c "$((MIB / 2))M" /dev/urandom >"$T/f2.bin"
size=$(stat -c %s "$T/f1.bin")

ns_start_server server "$T/srv" "$T/store"
mapfile -t PATHS < <(ns_path_opts "$PORT")
ns_start_client client "$T/cli" label=reattach chunk_size=256K "${PATHS[@]}"

note "cp of $MIB MiB; link $CUT is cut once a quarter is acknowledged"
cp_bg 150 "$T/f1.bin" "$T/cli/"
wait_acked "$T/cli" $((size / 4)) 60 || fail "no progress before the cut"
old_ports=$(session_link_conns "$(session_for_label "$T/srv" reattach)/.session" "$CUT" | awk '{ print $1 }')
ns_link_cut "$CUT"
cp_wait
show_status "$T/cli"
assert_eq 0 "$CP_RC" "the first cp completes although link $CUT was cut"
SESS=$(session_for_label "$T/srv" reattach) || fail "no session for label reattach"
check "the first file arrived bit-exact" cmp "$T/f1.bin" "$SESS/f1.bin"

note "link $CUT comes back"
ns_link_restore "$CUT"
restored=$(now)
# reattached: path P is up and was re-attached at least once
reattached() {
	local st re
	read -r st re <<<"$(status_cols "$T/cli" index state retries | awk -v i="$P" '$1 == i { print $2, $3 }')"
	[[ $st == up && $re =~ ^[0-9]+$ ]] && ((re >= 1))
}
# Backoff is at most 4 s between attempts; 30 s leaves room for a connect
# attempt that started while the link was cut to time out first.
check "path $P is up again with retries >= 1 (within 30 s of the restore)" \
	wait_until 30 "path $P up with retries >= 1" reattached
printf '   %s s after the restore:\n' "$(elapsed "$restored")"
show_status "$T/cli"

cb0=$(path_col "$T/cli" "$P" bytes)
read -r -a sb0 <<<"$(session_link_bytes "$SESS/.session")"
note "second cp ($((MIB / 2)) MiB) over the three links"
check "the second cp completes" run_t 120 cp "$T/f2.bin" "$T/cli/"
check "the second file arrived bit-exact" cmp "$T/f2.bin" "$SESS/f2.bin"
show_status "$T/cli"
sed -n '/^path: /s/^/   server /p' "$SESS/.session"
cb1=$(path_col "$T/cli" "$P" bytes)
read -r -a sb1 <<<"$(session_link_bytes "$SESS/.session")"
printf '   path %s bytes: client %s -> %s, server (link %s) %s -> %s\n' \
	"$P" "$cb0" "$cb1" "$CUT" "${sb0[P]}" "${sb1[P]}"
check "path $P's bytes (client status) grew during the second cp" \
	test "${cb1:-0}" -gt "${cb0:-0}"
check "the server's bytes from link $CUT grew during the second cp" \
	test "${sb1[P]:-0}" -gt "${sb0[P]:-0}"
new_bytes=$(session_link_conns "$SESS/.session" "$CUT" |
	awk -v old=" $(echo "$old_ports" | tr '\n' ' ')" 'index(old, " " $1 " ") == 0 { n += $2 } END { printf "%d", n }')
printf '   link %s: connections before the cut on port(s) %s; bytes on new connections since: %s\n' \
	"$CUT" "$(echo "$old_ports" | tr '\n' ' ')" "$new_bytes"
check "link $CUT carried data over a new (re-attached) connection" test "$new_bytes" -gt 0

finish
