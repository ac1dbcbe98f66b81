#!/usr/bin/env bash
# lib-cleanup.sh: the test library's own contract, checked on child tests
# that end every way a test ends: it passes (finish), fails (fail), a
# command fails under set -e, or it is sent SIGTERM (as meson's timeout and
# the watchdog do) while it waits. In each case:
#  - the child exits with the status of that ending (0, 1, 1, 143);
#  - its on_cleanup hooks all ran, once each, last registered first;
#  - they ran after its braidfsd was stopped and its mount undone;
#  - its temp dir is gone and nothing is mounted under it;
#  - with netns.sh (when ip, tc and nsenter are there): its namespace and
#    veths are gone and its block of addresses is given back (no process
#    of the child's holds the block's lock file open), and netns.sh did not
#    replace lib.sh's cleanup.
# "Given back", not "free": another test running beside this one may take
# the block the moment the child gives it back (netns.sh claims the lowest
# free block), so whether the lock can be taken now says nothing about the
# child.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HAVE_NETNS=1
for c in ip tc nsenter; do command -v "$c" >/dev/null || HAVE_NETNS=0; done

cat >"$T/child.sh" <<'EOF'
source "$LIB_DIR_UNDER_TEST/lib.sh"
[[ $WITH_NETNS == 1 ]] && source "$LIB_DIR/netns.sh"
echo "$T" >"$OUT/tdir"
hook() { echo "$1 $(is_mounted "$2" && echo mounted || echo unmounted)" >>"$OUT/hooks"; }
PORT=$(free_port)
start_server s "$T/srv" "$T/store"
on_cleanup hook first "$T/srv"
on_cleanup hook second "$T/srv"
on_cleanup hook 'third, with spaces' "$T/srv"
if [[ $WITH_NETNS == 1 ]]; then
	netns_setup none
	echo "$NS ${RT_IF[1]} $NS_BLOCK" >"$OUT/netns"
	check "cleanup is still lib.sh's own" bash -c '[[ $1 == *run_cleanup_hooks* ]]' _ "$(declare -f cleanup)"
fi
case $MODE in
pass) finish ;;
fail) fail "failing on purpose" ;;
error) false ;;
term)
	# a child whose pid nobody kept, as when the signal lands in fg_wait
	# between its fork and FG_PID=$!: it holds netns.sh's block lock too
	sleep 600 &
	touch "$OUT/ready"
	fg_wait sleep 600
	;;
esac
EOF

# run_child MODE NETNS: run child.sh ending with MODE; sets CHILD_RC
run_child() {
	local mode=$1 netns=$2 out=$T/$1-$2
	mkdir -p "$out" "$T/tmp"
	: >"$out/hooks"
	note "a child test that ends by: $mode (netns.sh: $netns)"
	LIB_DIR_UNDER_TEST=$LIB_DIR OUT=$out MODE=$mode WITH_NETNS=$netns \
		BRAIDFS_TEST_TMPDIR=$T/tmp TEST_NAME=child-$mode BRAIDFS_TEST_TIMEOUT= \
		bash "$T/child.sh" >"$out/log" 2>&1 &
	local pid=$!
	BG_PIDS+=("$pid")
	if [[ $mode == term ]]; then
		wait_until 60 "the child is ready" test -e "$out/ready" || fail "child not ready: $(tail "$out/log")"
		kill -TERM "$pid"
	fi
	CHILD_RC=0
	wait "$pid" || CHILD_RC=$?
	sed 's/^/   | /' "$out/log" | tail -n 8
}

# child_holds FILE OUT: a process of the child (its environment has
# OUT=OUT, which everything it starts inherits) has FILE open, so that an
# flock taken on it by the child would still be held
child_holds() {
	local fd pid
	while read -r fd; do
		pid=${fd#/proc/}
		pid=${pid%%/*}
		tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "OUT=$2" && return 0
	done < <(find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null)
	return 1
}
child_let_go() { ! child_holds "$@"; }

declare -A WANT_RC=([pass]=0 [fail]=1 [error]=1 [term]=143)
NETNS_CASES=(0)
((HAVE_NETNS)) && NETNS_CASES+=(1)
((HAVE_NETNS)) || echo "   no ip/tc/nsenter: the netns.sh cases are not run"

for netns in "${NETNS_CASES[@]}"; do
	for mode in pass fail error term; do
		run_child "$mode" "$netns"
		out=$T/$mode-$netns
		what=$mode
		((netns)) && what+=" (with netns.sh)"
		assert_eq "${WANT_RC[$mode]}" "$CHILD_RC" "$what: the child's exit status"
		assert_eq "third, with spaces unmounted
second unmounted
first unmounted" "$(cat "$out/hooks")" "$what: every hook ran once, last first, after the unmount"
		tdir=$(cat "$out/tdir")
		check "$what: the child's temp dir is gone" test ! -e "$tdir"
		check "$what: nothing mounted under it" test -z "$(fuse_mounts_under "$tdir")"
		if ((netns)); then
			read -r ns rt block <"$out/netns"
			check "$what: its namespace is gone" bash -c "! ip netns list | grep -qw '$ns'"
			check "$what: its veth is gone" bash -c "! ip link show '$rt' >/dev/null 2>&1"
			check "$what: its block of addresses is given back" \
				child_let_go "/run/lock/braidfs-netns/block-$block.lock" "$out"
		fi
	done
done

finish
