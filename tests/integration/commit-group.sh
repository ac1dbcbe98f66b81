#!/usr/bin/env bash
# commit-group.sh: braidfsd commits complete items in groups (shared
# fsyncs), answers each STORED only after the commit that covers it, and a
# kill -9 with hundreds of small items in flight loses none it answered.
# commit_peer.py sends N small items on one path back to back (ITEM_OPEN,
# CHUNK, ITEM_CLOSE each, no waiting) and notes every STORED OK it gets.
#  1. Grouping, on slowfs (a FUSE passthrough that counts every fsync and
#     can hold the fsyncs of data/'s directories): the first commit is held
#     at its directory fsync until the server has taken every frame (the
#     peer's PING answered), so all other items are complete and waiting;
#     released, they must share their directory fsyncs: far fewer than one
#     per item (storing item by item made one per item). Every item is
#     stored, bit-exact.
#  2. 1000 items in flight at once with the server's default limits: all
#     stored (max_open_items was 256).
#  3. kill -9 from outside once a first part of the items was answered, and
#     crashes at the hook points inside a commit batch (fsynced, renamed,
#     none of the directories fsynced yet): every item the peer saw STORED
#     is in data/ bit-exact (on disk, and in the view of the restarted
#     server), and data/ holds nothing but complete items.
#  4. The same with the real client: 300 cp, 40 at once, into a braidfs mount
#     (delivery=close: cp returns 0 only once its file is stored), the
#     server killed once a fifth returned: every cp that had returned 0
#     has its file in data/; after a restart every cp returns 0 and the
#     tree is on the server, bit-exact.
#  5. Overwrites (a rename onto an existing name, told apart at the rename
#     itself) keep .session's items and bytes those of data/.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x ${SLOWFS:-} ]] || skip "no slowfs helper (SLOWFS)"
need_space 300
PORT=$(free_port)
N=400

# run_peer LABEL N OUT: commit_peer.py in the background
run_peer() {
	mkdir -p "$3"
	bg python3 "$LIB_DIR/commit_peer.py" 127.0.0.1 "$PORT" "$1" "$2" "$3"
	PEER=$BG_LAST
}

# stored_count OUT: items the peer saw STORED OK so far
stored_count() { [[ -f $1/stored ]] && wc -l <"$1/stored" || echo 0; }
stored_at_least() { (($(stored_count "$1") >= $2)); }

# acked_intact OUT DIR: every name in OUT/stored is in DIR, equal to the
# bytes sent; prints the offenders
acked_intact() {
	local f bad=0
	while IFS= read -r f; do
		cmp -s "$1/expected/$f" "$2/$f" || {
			echo "   acknowledged but not intact: $f"
			bad=1
		}
	done <"$1/stored"
	return "$bad"
}

# only_complete OUT DIR: every file below DIR equals what was sent under
# its name
only_complete() {
	local f rel bad=0
	while IFS= read -r -d '' f; do
		rel=${f#"$2"/}
		cmp -s "$1/expected/$rel" "$f" || {
			echo "   not a complete item: $rel ($(stat -c %s "$f") bytes)"
			bad=1
		}
	done < <(find "$2" -type f ! -name .session -print0)
	return "$bad"
}

# ---- 1. grouping
note "1. $N items complete while a commit is held: they share their fsyncs"
mkdir -p "$T/slow-src" "$T/slow"
SLOWFS_MATCH=/data/d SLOWFS_LOG_SYNCS=1 \
	bg "$SLOWFS" "$T/slow-src" "$T/slow" "$T/gate" "$T/slowfs.log"
ALL_LOGS+=("$T/slowfs.log")
ALL_MOUNTS+=("$T/slow")
check "slowfs is mounted" wait_until 30 "slowfs" is_mounted "$T/slow"
start_server srv "$T/srv" "$T/slow/store" max_open_items=4096
touch "$T/gate"
run_peer group "$N" "$T/g"
check "a commit is held at its directory fsync" \
	wait_until 60 "a held fsyncdir" grep -q "^held fsyncdir /store/.*/data/d" "$T/slowfs.log"
check "the server took every frame meanwhile" wait_until 120 "the PONG" test -s "$T/g/pong"
held=$(stored_count "$T/g")
rm -f "$T/gate"
check "the peer ran to the end" wait_until 120 "commit_peer.py" test -s "$T/g/result"
wait "$PEER" || true
echo "   $(cat "$T/g/result"); STORED before the release: $held"
assert_eq "stored $N failed 0 closed 0" "$(cat "$T/g/result")" "every item stored"
SESS=$(session_for_label "$T/srv" group) || fail "no session for label group"
S=$(basename "$SESS")
check "every item is in data/, bit-exact" acked_intact "$T/g" "$T/slow/store/$S/data"
check "and in the view" acked_intact "$T/g" "$SESS"
files=$(grep -c "^sync fsync /store/$S/tmp/" "$T/slowfs.log" || true)
dirs=$(grep -c "^sync fsyncdir /store/$S/data/d" "$T/slowfs.log" || true)
echo "   fsyncs: $files of item files, $dirs of data/'s directories for $N items"
assert_le "$dirs" 40 "directory fsyncs shared (item by item: one per item, $N)"
stop_daemon srv

# ---- 2. a thousand in flight with the default limits
note "2. 1000 items in flight at once, default limits: every one stored"
start_server srv "$T/srv" "$T/store"
run_peer many 1000 "$T/m"
check "the peer ran to the end" wait_until 240 "commit_peer.py" test -s "$T/m/result"
wait "$PEER" || true
assert_eq "stored 1000 failed 0 closed 0" "$(cat "$T/m/result")" "every item stored"
SESS=$(session_for_label "$T/srv" many) || fail "no session for label many"
check "every item is in the view, bit-exact" acked_intact "$T/m" "$SESS"
stop_daemon srv

# ---- 3. crashes
# crash_round SPEC: the peer's items in flight; the server killed at SPEC
# (a hook point, or "kill" from outside once a quarter were answered)
ROUND=0
crash_round() {
	local spec=$1 out store=$T/store sess
	ROUND=$((ROUND + 1))
	out=$T/c$ROUND
	note "3.$ROUND. $N items in flight, server killed at $spec"
	if [[ $spec == kill ]]; then
		start_server srv "$T/srv" "$store" max_open_items=4096
	else
		BRAIDFSD_CRASH_AFTER=$spec start_server srv "$T/srv" "$store" max_open_items=4096
	fi
	run_peer "crash$ROUND" "$N" "$out"
	if [[ $spec == kill ]]; then
		check "a quarter of the items answered" \
			wait_until 120 "STORED answers" stored_at_least "$out" $((N / 4))
		kill_daemon srv KILL >/dev/null
	else
		check "the server crashed at the hook" \
			wait_until 120 "the hook" grep -q "test hook: crashing at ${spec%:*}" "$(daemon_log srv)"
		kill_daemon srv KILL >/dev/null
	fi
	check "the peer saw the server go" wait_until 60 "commit_peer.py" test -s "$out/result"
	wait "$PEER" || true
	sess=$(basename "$(find "$store" -maxdepth 1 -name "*-crash$ROUND-*")")
	echo "   $(cat "$out/result"); in data/: $(find "$store/$sess/data" -type f | wc -l)"
	# (from outside, the kill may come after the last answer: it is
	# the hooks that crash with items in flight for sure)
	[[ $spec == kill ]] ||
		check "some were not: the crash came with items in flight" \
			bash -c '(($(wc -l <"$1") < $2))' _ "$out/stored" "$N"
	check "every item answered STORED is in data/, bit-exact" \
		acked_intact "$out" "$store/$sess/data"
	check "data/ holds only complete items" only_complete "$out" "$store/$sess/data"
	start_server srv "$T/srv" "$store"
	check "the restarted server shows every answered item, bit-exact" \
		acked_intact "$out" "$T/srv/$sess"
	check "and only complete items" only_complete "$out" "$T/srv/$sess"
	stop_daemon srv
}

for spec in kill batch-synced:2 batch-renamed:2 renamed:150 dir-synced:120; do
	crash_round "$spec"
done

# ---- 4. the real client
note "4. braidfs, 300 cp 40 at a time (delivery=close), server killed: every cp that returned 0 is stored"
M=300
SRC=$T/src4
mkdir -p "$SRC" "$T/st4"
for ((i = 0; i < M; i++)); do
	head -c $((1024 * (1 + i % 16) + i % 7)) /dev/urandom >"$SRC/f$i"
done
start_server srv "$T/srv" "$T/store4"
start_client cli "$T/cli" label=cps timeout=120
mkdir "$T/cli/cps"
SESS=$(session_for_label "$T/srv" cps) || fail "no session for label cps"
S=$(basename "$SESS")
# 40 at a time: the client refuses a close beyond 56 waiting for a
# server that is down (EAGAIN, its seats), as braidfs(1) says
seq 0 $((M - 1)) >"$T/list4"
bg xargs -P 40 -I{} -a "$T/list4" bash -c \
	'cp "$1/f$4" "$2/f$4"; echo $? >"$3/f$4.tmp" && mv "$3/f$4.tmp" "$3/f$4"' \
	_ "$SRC" "$T/cli/cps" "$T/st4" {}
returned_at_least() { (($(find "$T/st4" -name 'f*' ! -name '*.tmp' | wc -l) >= $1)); }
check "a fifth of the copies returned" wait_until 120 "cp exits" returned_at_least $((M / 5))
kill_daemon srv KILL >/dev/null
# Whatever returns from now on had its STORED before the kill, or
# waits for the restart: the client is held while data/ is read.
kill -STOP "$(daemon_pid cli)"
(grep -lx 0 "$T"/st4/f* 2>/dev/null || true) | grep -v '\.tmp$' |
	xargs -rn1 basename >"$T/acked4" || true
echo "   cp returned 0 before the kill: $(wc -l <"$T/acked4") of $M"
check "every copy that returned 0 is in data/, bit-exact" bash -c '
	while read -r f; do cmp -s "$1/$f" "$2/$f" || { echo "   missing or different: $f"; exit 1; }; done <"$3"' \
	_ "$SRC" "$T/store4/$S/data/cps" "$T/acked4"
check "data/ holds only complete files" bash -c '
	for f in "$2"/*; do [[ -e $f ]] || continue; cmp -s "$1/$(basename "$f")" "$f" || { echo "   partial: $f"; exit 1; }; done' \
	_ "$SRC" "$T/store4/$S/data/cps"
start_server srv "$T/srv" "$T/store4"
kill -CONT "$(daemon_pid cli)"
all_returned() { returned_at_least "$M"; }
check "every copy returned after the restart" wait_until 180 "cp exits" all_returned
check "every one returned 0" bash -c '! grep -Lx 0 "$1"/f* | grep .' _ "$T/st4"
check "every file is on the server, bit-exact" diff_trees "$SRC" "$T/srv/$S/cps"
stop_daemon cli
stop_daemon srv

# 5. What a commit replaces leaves the session's totals: new names and
# overwrites (a rename onto an existing file is told apart from a new
# name at the rename itself) keep .session's items and bytes those of
# the files in data/.
note "5. overwrites: the session's totals"
start_server srv "$T/srv" "$T/store5"
start_client cli "$T/cli" label=totals
for f in a b c; do head -c 3000 /dev/urandom >"$T/t5-$f"; done
head -c 1000 /dev/urandom >"$T/t5-a2"
check "cp of three new files" cp "$T/t5-a" "$T/t5-b" "$T/t5-c" "$T/cli/"
check "cp over one of them (shorter)" cp "$T/t5-a2" "$T/cli/t5-a"
check "cp over another (the same size)" cp "$T/t5-c" "$T/cli/t5-b"
S5=$(session_for_label "$T/srv" totals) || fail "no session for label totals"
check "the overwrites arrived" bash -c 'cmp "$1" "$2/t5-a" && cmp "$3" "$2/t5-b"' \
	_ "$T/t5-a2" "$S5" "$T/t5-c"
assert_eq 3 "$(session_field "$S5/.session" items)" ".session items after two overwrites"
assert_eq 7000 "$(session_field "$S5/.session" bytes)" ".session bytes after two overwrites"
stop_daemon cli
stop_daemon srv

finish
