#!/usr/bin/env bash
# netns-concurrent.sh: two runs of netns.sh at once (as two worktrees'
# tests, or a benchmark and a test, are on a shared machine) neither wait
# for each other nor share addresses. Run A sets up its links (emulated WAN
# links when ethtool is there: their wanem processes live as long as the
# run) and holds them until run B is up; B must set up its own while A
# holds, get another block of addresses, and each must reach its own
# server address over its own link. Then both tear down, and each block is
# free again.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$LIB_DIR/netns.sh"

SETUP="netns_setup none none"
if command -v ethtool >/dev/null && command -v ping >/dev/null && [[ -x $WANEM ]]; then
	SETUP="netns_setup_wan 100mbit:1ms 100mbit:1ms"
fi

cat >"$T/child.sh" <<'EOF'
source "$LIB_DIR_UNDER_TEST/lib.sh"
source "$LIB_DIR/netns.sh"
$SETUP
echo "${NS_BLOCK:-none} ${RT_ADDR[*]}" >"$OUT/block"
touch "$OUT/ready"
for ((i = 1; i <= NS_N; i++)); do
	check "link $i reaches ${RT_ADDR[i]}" run_t 10 "${NS_EXEC[@]}" ping -c 1 -W 5 "${RT_ADDR[i]}"
done
# hold the links until the other run is up (or has failed)
wait_until 90 "the other run is up" test -e "$OTHER/ready" -o -e "$OTHER/done" ||
	fail "the other run did not come up"
finish
EOF

# start_run NAME OTHER: a child run in the background; RUN_PID[NAME]
declare -A RUN_PID=()
start_run() {
	mkdir -p "$T/$1" "$T/tmp"
	LIB_DIR_UNDER_TEST=$LIB_DIR OUT=$T/$1 OTHER=$T/$2 SETUP=$SETUP \
		BRAIDFS_TEST_TMPDIR=$T/tmp TEST_NAME=run-$1 BRAIDFS_TEST_TIMEOUT= \
		bash -c 'bash "$1"; rc=$?; touch "$OUT/done"; exit $rc' _ "$T/child.sh" >"$T/$1/log" 2>&1 &
	RUN_PID[$1]=$!
	BG_PIDS+=("$!")
}

note "run A: $SETUP, held until run B is up"
start_run a b
wait_until 60 "run A up" test -e "$T/a/ready" -o -e "$T/a/done" || fail "run A did not come up"
check "run A set up its links" test -e "$T/a/ready"
t0=$(now)
note "run B: the same, while A holds its links"
start_run b a
check "run B set up its links while A held its own (no waiting for A)" \
	wait_until 60 "run B up" test -e "$T/b/ready"
echo "   run B was up $(elapsed "$t0") s after it started"
for r in a b; do
	rc=0
	wait "${RUN_PID[$r]}" || rc=$?
	sed 's/^/   '"$r"' | /' "$T/$r/log" | grep -E 'netns|PASS|FAIL' || true
	assert_eq 0 "$rc" "run ${r^^} passed"
done
read -r block_a addrs_a <"$T/a/block"
read -r block_b addrs_b <"$T/b/block"
echo "   run A: block $block_a ($addrs_a); run B: block $block_b ($addrs_b)"
check "the two runs had different blocks of addresses" test "$block_a" != "$block_b"
for b in "$block_a" "$block_b"; do
	check "block $b is free again after its run" flock -n "/run/lock/braidfs-netns/block-$b.lock" true
done

finish
