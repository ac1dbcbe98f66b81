#!/usr/bin/env bash
# key-capture.sh: with key_file, nothing of a file's content crosses the
# network in the clear; without, it does (the control that shows the
# capture would have seen it).
#
# A client network namespace with two veth links (netns.sh), one path per
# link; tcpdump records every packet of both links (full packets) in the
# root namespace. The file repeats a known 40-byte ASCII pattern between
# random blocks, so that thousands of copies cross the wire whole in TCP
# segments. Run 1, key_file on both sides: the pattern must occur in
# neither capture, although each capture holds at least as many TCP bytes
# as its path carried (so the capture saw the transfer); the file arrives
# bit-exact. Run 2, the control, no key: the pattern occurs in the capture
# of every link. Also: braidfsd, listening on non-loopback addresses, warns
# at start-up without a key and does not with one.

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

PORT=$(free_port)
MIB=16
PATTERN='BRAIDFS-KNOWN-PLAINTEXT-0123456789abcdef'
need_space $((MIB * 8 + 100))
netns_setup 400mbit 400mbit

(umask 077 && head -c 32 /dev/urandom >"$T/key")
python3 - "$T/f.bin" "$MIB" "$PATTERN" <<'EOF2'
import os, sys
path, mib, pat = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
with open(path, "wb") as f:
    left = mib << 20
    while left > 0:
        block = (pat + os.urandom(984))[:left]
        f.write(block)
        left -= len(block)
EOF2
note "$MIB MiB file with the ${#PATTERN}-byte pattern $(grep -a -o -F "$PATTERN" "$T/f.bin" | wc -l) times"

# pattern_count FILE: copies of the pattern in FILE's bytes
pattern_count() { { grep -a -o -F "$PATTERN" "$1" || true; } | wc -l; }

# run NAME [key_file=...]: one transfer with captures; sets SESS
run() {
	local name=$1 i n cap path_bytes
	shift
	netns_capture_start "$name"
	ns_start_server "srv-$name" "$T/srv-$name" "$T/store-$name" "$@"
	mapfile -t PATHS < <(ns_path_opts "$PORT")
	ns_start_client "cli-$name" "$T/cli-$name" label="$name" chunk_size=256K "${PATHS[@]}" "$@"
	check "$name: cp of $MIB MiB over 2 links" run_t 120 cp "$T/f.bin" "$T/cli-$name/"
	SESS=$(session_for_label "$T/srv-$name" "$name") || fail "no session labelled $name"
	check "$name: arrived bit-exact" cmp "$T/f.bin" "$SESS/f.bin"
	mapfile -t PATH_BYTES < <(status_cols "$T/cli-$name" bytes)
	stop_daemon "cli-$name"
	stop_daemon "srv-$name"
	netns_capture_stop "$name"
	for ((i = 1; i <= NS_N; i++)); do
		cap=$T/$name-$i.pcap
		n=$(pattern_count "$cap")
		path_bytes=${PATH_BYTES[i - 1]:-0}
		printf '   %s link %d: capture %d bytes, path carried %d bytes of chunks, pattern %d times\n' \
			"$name" "$i" "$(stat -c %s "$cap")" "$path_bytes" "$n"
		COUNT[$name-$i]=$n
		CAPSIZE[$name-$i]=$(stat -c %s "$cap")
		check "$name link $i: the path carried chunks (the capture means something)" test "$path_bytes" -ge $((1 << 20))
		check "$name link $i: the capture holds at least the bytes the path carried" \
			test "${CAPSIZE[$name-$i]}" -ge "$path_bytes"
	done
}
declare -A COUNT=() CAPSIZE=()

note "run 1: key_file on both sides"
run keyed "key_file=$T/key"
for ((i = 1; i <= NS_N; i++)); do
	assert_eq 0 "${COUNT[keyed-$i]}" "keyed: the pattern never appears in the capture of link $i"
done
check "keyed: braidfsd does not warn about a missing key" \
	bash -c "! grep -q 'without a key' '$(daemon_log srv-keyed)'"

note "run 2 (control): no key"
run clear
for ((i = 1; i <= NS_N; i++)); do
	check "clear: the pattern appears in the capture of link $i (${COUNT[clear-$i]} times)" \
		test "${COUNT[clear-$i]}" -ge 100
done
check "clear: braidfsd warns that it listens on a non-loopback address without a key" \
	grep -q "listening on ${RT_ADDR[1]}:$PORT without a key" "$(daemon_log srv-clear)"

finish
