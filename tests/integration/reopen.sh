#!/usr/bin/env bash
# reopen.sh: a file closed and at once opened again, as scripts do. The
# kernel sends a descriptor's RELEASE after close(2) has returned, so the
# next command can reach the file while the outbox still counts it open;
# it used to refuse (EBUSY: "Device or resource busy") now and then. For
# delivery=close and delivery=async, N times in a row each:
#  1. `echo i >> f`  (an append to a delivered 3 MB file);
#  2. `echo i > g`   (a new version, O_TRUNC);
#  3. `echo i > t; mv t h` (the target just written by the last round);
#  4. `echo i >> a; mv a b; mv b a` (an append to another just closed,
#     renamed);
# every command exits 0 and the server's files are the local model's;
#  5. `echo x > d/f; touch -d @1000000000 d` (cp -a sets a directory's
#     mtime right after its last file): the server's d keeps that mtime
#     (under async it used to be set before f's delivery changed it).
# The client runs with the test hook BRAIDFS_TEST_RELEASE_DELAY_MS=100
# (braidfs(1)): each RELEASE is handled 100 ms late, so that every next
# command meets the file still open (without the hook the race is real
# but rare: append-async's "five echo >> g" met it under load). Then a
# descriptor really kept open (exec 3>>f) still makes `echo >> f` fail
# with EBUSY, once the wait for its release (2 s) is over.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
ROUNDS=${REOPEN_ROUNDS:-30}
start_server server "$T/srv" "$T/store"

# rounds CLI MODEL: each habit ROUNDS times in a row (so that each
# command meets the one before it still open); fails at the first error.
rounds() {
	local cli=$1 m=$2 i
	for ((i = 0; i < ROUNDS; i++)); do
		echo "line $i" >>"$cli/f" || { echo "round $i: echo >> f failed"; return 1; }
		echo "line $i" >>"$m/f"
	done
	for ((i = 0; i < ROUNDS; i++)); do
		echo "g $i" >"$cli/g" || { echo "round $i: echo > g failed"; return 1; }
	done
	for ((i = 0; i < ROUNDS; i++)); do
		echo "t $i" >"$cli/t" && mv "$cli/t" "$cli/h" ||
			{ echo "round $i: echo > t; mv t h failed"; return 1; }
	done
	for ((i = 0; i < ROUNDS; i++)); do
		echo "a $i" >>"$cli/a" && mv "$cli/a" "$cli/b" && mv "$cli/b" "$cli/a" ||
			{ echo "round $i: echo >> a; mv a b; mv b a failed"; return 1; }
		echo "a $i" >>"$m/a"
	done
	echo "g $((ROUNDS - 1))" >"$m/g"
	echo "t $((ROUNDS - 1))" >"$m/h"
}

for how in close async; do
	note "delivery=$how: $ROUNDS rounds"
	opts=(label="reopen-$how")
	[[ $how == async ]] && opts+=(delivery=async "spool=$T/spool")
	BRAIDFS_TEST_RELEASE_DELAY_MS=100 start_client "c-$how" "$T/cli-$how" "${opts[@]}"
	check "the test hook is armed" \
		grep -q "test hook armed: BRAIDFS_TEST_RELEASE_DELAY_MS=100" "$(daemon_log "c-$how")"
	mkdir -p "$T/model-$how"
	# f and a start as delivered 3 MB files: appends with a base.
	head -c 3000000 /dev/urandom >"$T/model-$how/f"
	cp "$T/model-$how/f" "$T/model-$how/a"
	check "two 3 MB files delivered" cp "$T/model-$how/f" "$T/model-$how/a" "$T/cli-$how/"
	[[ $how == async ]] && check "the spool drains" wait_spool_empty "$T/cli-$how" 120
	check "every command of $ROUNDS rounds exits 0" run_t 300 bash -c \
		"$(declare -f rounds); ROUNDS=$ROUNDS rounds '$T/cli-$how' '$T/model-$how'"
	[[ $how == async ]] && check "the spool drains" wait_spool_empty "$T/cli-$how" 120
	sess=$(session_for_label "$T/srv" "reopen-$how") || fail "no session for reopen-$how"
	for f in f g h a; do
		check "the server's $f is the model's" cmp "$T/model-$how/$f" "$sess/$f"
	done
	check "... and no t or b is left" test ! -e "$sess/t" -a ! -e "$sess/b"
	check "mkdir d; echo x > d/f; touch -d @1000000000 d" run_t 60 bash -c \
		"mkdir '$T/cli-$how/d' && echo x >'$T/cli-$how/d/f' && touch -d @1000000000 '$T/cli-$how/d'"
	[[ $how == async ]] && check "the spool drains" wait_spool_empty "$T/cli-$how" 120
	check "the server's d/f is there" test -e "$sess/d/f"
	assert_eq 1000000000 "$(stat -c %Y "$sess/d")" "the server's d mtime"
	exec 3>>"$T/cli-$how/f"
	echo "held" >&3
	err=$(run_t 30 bash -c "echo more >>'$T/cli-$how/f'" 2>&1) && rc=0 || rc=$?
	check "echo >> f while another descriptor writes f fails" test "$rc" -ne 0
	check "... with EBUSY" grep -q "busy" <<<"$err"
	exec 3>&-
	stop_daemon "c-$how"
done
finish
