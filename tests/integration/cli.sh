#!/usr/bin/env bash
# cli.sh: -h and -V of both binaries exit 0 (help names the contract's
# options, -V the version); missing arguments and invalid or out-of-range
# option values exit non-zero, quickly, naming the option, without
# mounting anything (the server without making its store).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for prog in braidfs braidfsd; do
	bin=$BRAIDFS
	words=(paths chunk_size scheduler label)
	if [[ $prog == braidfsd ]]; then
		bin=$BRAIDFSD
		words=(listen store)
	fi
	run_cli "$prog-h" "$bin" -h
	assert_eq 0 "$RC" "$prog -h exits 0"
	for w in "${words[@]}"; do
		check "$prog -h mentions '$w'" grep -qF -- "$w" <<<"$OUT"
	done
	run_cli "$prog-V" "$bin" -V
	assert_eq 0 "$RC" "$prog -V exits 0"
	if [[ -n ${BRAIDFS_VERSION:-} ]]; then
		check "$prog -V prints version $BRAIDFS_VERSION" grep -qF -- "$BRAIDFS_VERSION" <<<"$OUT"
	else
		check "$prog -V prints something" test -n "$OUT"
	fi
	run_cli "$prog-noargs" "$bin"
	check "$prog without arguments exits non-zero" test "$RC" -ne 0
	check "$prog without arguments says something" test -n "$OUT"
done

# refused NAME PROG MNT: the last run_cli exited non-zero on its own (not
# killed by the timeout), said which option is wrong, and mounted nothing.
refused() {
	local name=$1 prog=$2 mnt=$3
	check "$prog -o $bad exits non-zero" test "$RC" -ne 0 -a "$RC" -ne 124
	echo "     ${OUT//$'\n'/ | }"
	check "$prog -o $bad names the option $name" grep -qF -- "$name" <<<"$OUT"
	check "$prog -o $bad mounts nothing" bash -c "! grep -q ' $mnt ' /proc/mounts"
	if is_mounted "$mnt"; then unmount "$mnt"; fi
}

# Values out of range or malformed: every one refused before the server
# opens its store or listens (it would mount and run otherwise).
mkdir -p "$T/srv-bad"
ALL_MOUNTS+=("$T/srv-bad")
SPORT=$(free_port)
for bad in max_sessions=0 max_paths=0 max_open_items=0 idle_timeout=1 \
	handshake_timeout=0 handshake_timeout=3601 max_chunk=2 max_name=0 \
	attach_rate=0 linger=x max_item_size=1Q; do
	run_cli "server-bad-$bad" "$BRAIDFSD" "$T/srv-bad" -f \
		-o "listen=127.0.0.1:$SPORT,store=$T/store-bad,$bad"
	refused "${bad%%=*}" braidfsd "$T/srv-bad"
done
check "no store was made by the refused servers" test ! -e "$T/store-bad"

PORT=$(free_port)
start_server server "$T/srv" "$T/store"
mkdir -p "$T/cli"
ALL_MOUNTS+=("$T/cli")
for bad in scheduler=bogus paths=0 paths=4x paths=-1 chunk_size=banana \
	chunk_size=2 window=0 timeout=0 stall=0.1 delivery=later \
	label=$(printf 'x%.0s' {1..65}); do
	run_cli "bad-${bad:0:20}" "$BRAIDFS" "127.0.0.1:$PORT" "$T/cli" -o "$bad" -f
	refused "${bad%%=*}" braidfs "$T/cli"
done

finish
