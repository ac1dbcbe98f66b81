#!/usr/bin/env bash
# multipath-share.sh: three unequal links (16, 32 and 64 Mbit/s, tbf in a
# network namespace), one path per link, scheduler=dynamic. A ~40 MiB file
# copied with cp must arrive bit-exact, and each path must carry a share of
# the bytes close to its link's share of the total rate (1/7, 2/7, 4/7):
# |share / expected - 1| <= 0.25, on the client's status file and on the
# server's .session. Prints the shares and the goodput.
#
# chunk_size=256K, given explicitly: with 1 MiB chunks and window=4 the
# dynamic scheduler (as of f55ce33) started by giving every path, no rate
# known yet, 4 chunks, i.e. 2 s of backlog on the 16 Mbit/s link, and a
# 40 MiB file then ended with that path at +40 % of its share (measured);
# 256 KiB chunks keep the start-up and the tail small next to 40 MiB.
#
# BRAIDFS_TEST_MP_MIB sets the file size (default 40), BRAIDFS_TEST_MP_OPTS
# the client options besides the paths (default scheduler=dynamic,chunk_size=256K).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

MIB=${BRAIDFS_TEST_MP_MIB:-40}
TOL=0.25
IFS=, read -r -a OPTS <<<"${BRAIDFS_TEST_MP_OPTS:-scheduler=dynamic,chunk_size=256K}"
PORT=$(free_port)
need_space $((MIB * 3 + 100))

netns_setup 16mbit 32mbit 64mbit
head -c "${MIB}M" /dev/urandom >"$T/f.bin"

ns_start_server server "$T/srv" "$T/store"
mapfile -t PATHS < <(ns_path_opts "$PORT")
ns_start_client client "$T/cli" label=share "${OPTS[@]}" "${PATHS[@]}"

note "cp of $MIB MiB over 16+32+64 Mbit/s (${OPTS[*]})"
t0=$(now)
check "cp over three unequal links" run_t 120 cp "$T/f.bin" "$T/cli/"
dt=$(elapsed "$t0")
SESS=$(session_for_label "$T/srv" share) || fail "no session for label share"
check "arrived bit-exact" cmp "$T/f.bin" "$SESS/f.bin"

size=$(stat -c %s "$T/f.bin")
sum_rate=$((LINK_RATE[1] + LINK_RATE[2] + LINK_RATE[3]))
# TCP payload is 1448 of every 1514 bytes that tbf counts
printf '   goodput %s MB/s in %s s = %.2f of the links'"'"' 112 Mbit/s (TCP payload ceiling 0.96)\n' \
	"$(mb_per_s "$size" "$dt")" "$dt" "$(awk -v b="$size" -v t="$dt" -v r="$sum_rate" 'BEGIN { print b * 8 / t / r }')"

status=$(cat "$T/cli/.braidfs/paths") || fail "cannot read .braidfs/paths"
printf '%s\n' "$status" | sed 's/^/   /'
mapfile -t CB < <(status_cols "$T/cli" bytes)
read -r -a SB <<<"$(session_link_bytes "$SESS/.session")"
sed -n '/^path: /s/^/   /p' "$SESS/.session"

assert_eq 3 "${#CB[@]}" "the status file lists three paths"
ctot=$((CB[0] + CB[1] + CB[2]))
stot=$((SB[0] + SB[1] + SB[2]))
# At least the file; more only by the chunks sent twice (a slow path's last
# chunks may be duplicated on a faster one), which must stay a small part.
printf '   bytes acknowledged: client %s, server %s, file %s\n' "$ctot" "$stot" "$size"
check "the client's per-path bytes cover the file, at most 10 % more" \
	test "$ctot" -ge "$size" -a "$ctot" -le $((size + size / 10))
check "the server's per-link bytes cover the file, at most 10 % more" \
	test "$stot" -ge "$size" -a "$stot" -le $((size + size / 10))

# share_ok BYTES TOTAL RATE SUMRATE: BYTES/TOTAL (TOTAL: all paths' bytes)
# within TOL of the expected share RATE/SUMRATE
share_ok() {
	awk -v b="$1" -v t="$2" -v r="$3" -v s="$4" -v tol="$TOL" \
		'BEGIN { d = (b / t) / (r / s) - 1; if (d < 0) d = -d; exit !(d <= tol) }'
}
printf '   %-6s %-8s %-9s %-14s %-14s\n' link rate expected "client share" "server share"
for i in 1 2 3; do
	cb=${CB[i - 1]:-0} sb=${SB[i - 1]:-0}
	printf '   %-6s %-8s %-9s %-14s %-14s\n' "$i" "${LINK_SPEC[i]}" \
		"$(awk -v r="${LINK_RATE[i]}" -v s="$sum_rate" 'BEGIN { printf "%.3f", r / s }')" \
		"$(awk -v b="$cb" -v t="$ctot" -v r="${LINK_RATE[i]}" -v s="$sum_rate" 'BEGIN { printf "%.3f (%+.0f%%)", b / t, ((b / t) / (r / s) - 1) * 100 }')" \
		"$(awk -v b="$sb" -v t="$stot" -v r="${LINK_RATE[i]}" -v s="$sum_rate" 'BEGIN { printf "%.3f (%+.0f%%)", b / t, ((b / t) / (r / s) - 1) * 100 }')"
done
for i in 1 2 3; do
	check "path $i (${LINK_SPEC[i]}): client share within ±25% of its rate share" \
		share_ok "${CB[i - 1]:-0}" "$ctot" "${LINK_RATE[i]}" "$sum_rate"
	check "path $i (${LINK_SPEC[i]}): server share within ±25% of its rate share" \
		share_ok "${SB[i - 1]:-0}" "$stot" "${LINK_RATE[i]}" "$sum_rate"
done

finish
