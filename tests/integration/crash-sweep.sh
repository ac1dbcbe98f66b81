#!/usr/bin/env bash
# crash-sweep.sh: crash consistency in the spirit of SQLite's crash tests.
# braidfsd kills itself (BRAIDFSD_CRASH_AFTER=POINT:N, a test hook, see
# braidfsd(8)) at many different points of one transfer: after N frames for
# a spread of N, and at each step of storing an item (record written half,
# chunk written but not mapped, fsynced but not renamed, a commit batch
# fsynced but none of it renamed, renamed but the directory not fsynced, a
# batch renamed but no directory fsynced, STORED sent but the record not
# removed, an OP done but not answered). The transfer, into a fresh directory each round, is a
# mkdir and files of mixed sizes (empty, under a chunk, one chunk, several
# chunks), an overwrite of an existing name and a temp-file-then-rename.
# After each crash, with the client held (SIGSTOP) so nothing changes:
#  - the store's data/ (on disk) and the view hold only complete files,
#    each equal to a version the client wrote under that name;
#  - the restarted server (no hook, same store and port) kept exactly the
#    partial items that tmp/ holds (a record and data for each, nothing
#    else);
# then the client goes on: every cp and the mv exit 0, the tree arrives
# bit-exact (on disk and in the view) and tmp/ is empty again.
# Last, rounds where the client does not come back (killed with the
# server): data/ holds only complete files and the partial items are
# reclaimed after linger.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 300
PORT=$(free_port)
SRC=$T/src
STORE=$T/store
SRV=$T/srv
CLI=$T/cli
mkdir -p "$SRC"
head -c 1000 /dev/urandom >"$SRC/tiny.txt"
: >"$SRC/empty.bin"
head -c $((100 << 10)) /dev/urandom >"$SRC/small.bin"
head -c $((256 << 10)) /dev/urandom >"$SRC/one.bin"
head -c $((700 << 10 | 13)) /dev/urandom >"$SRC/multi.bin"
head -c $((2 << 20 | 5)) /dev/urandom >"$SRC/big.bin"
head -c $((300 << 10)) /dev/urandom >"$SRC/over.v1"
head -c $((600 << 10 | 7)) /dev/urandom >"$SRC/over.v2"
head -c $((400 << 10 | 1)) /dev/urandom >"$SRC/renamed.bin"
# what the finished round looks like
EXP=$T/expected
mkdir -p "$EXP/sub"
cp "$SRC"/{tiny.txt,empty.bin,small.bin,one.bin,multi.bin,big.bin,renamed.bin} "$EXP/sub/"
cp "$SRC/over.v2" "$EXP/sub/over.bin"

# transfer DIR: the round's copy into the client's mount, one line per
# command with its exit status
transfer() {
	local d=$1 f
	mkdir "$d" && mkdir "$d/sub"
	echo "mkdir $?"
	for f in tiny.txt empty.bin small.bin one.bin multi.bin big.bin; do
		cp "$SRC/$f" "$d/sub/$f"
		echo "cp-$f $?"
	done
	cp "$SRC/over.v1" "$d/sub/over.bin"
	echo "cp-over.v1 $?"
	cp "$SRC/over.v2" "$d/sub/over.bin"
	echo "cp-over.v2 $?"
	cp "$SRC/renamed.bin" "$d/sub/.renamed.bin.tmp"
	echo "cp-renamed.tmp $?"
	mv "$d/sub/.renamed.bin.tmp" "$d/sub/renamed.bin"
	echo "mv-renamed $?"
}

# versions NAME: the source files a stored NAME may equal
versions() {
	case $1 in
	over.bin) echo "$SRC/over.v1 $SRC/over.v2" ;;
	.renamed.bin.tmp) echo "$SRC/renamed.bin" ;;
	*) echo "$SRC/$1" ;;
	esac
}

# only_complete DIR: every regular file below DIR equals a version the
# client wrote under its name; prints the offenders
only_complete() {
	local f v ok bad=0
	while IFS= read -r -d '' f; do
		ok=0
		for v in $(versions "$(basename "$f")"); do
			cmp -s "$v" "$f" && ok=1
		done
		((ok)) || {
			echo "   not a complete version: $f ($(stat -c %s "$f") bytes)"
			bad=1
		}
	done < <(find "$1" -type f ! -path "*/.session" -print0 2>/dev/null)
	return "$bad"
}

# records DIR: the item records in a session's tmp/ DIR: the record files
# rec.N that hold one (an empty one is free for the next item), and
# <id>.rec as servers before record files wrote them
records() { find "$1" \( -name 'rec.*' -o -name '*.rec' \) -size +0; }

# partial_items DIR: the records and data files of partial items in DIR
partial_items() { records "$1"; find "$1" -name '*.part'; }

# record_id FILE: the item id a record names, 16 hex digits: a record
# file's bytes 8..15, an <id>.rec's name
record_id() {
	case $(basename "$1") in
	rec.*) od -An -tx1 -j8 -N8 "$1" | tr -d ' \n' ;;
	*) basename "$1" .rec ;;
	esac
}

# tmp_matches_kept SESSION LOG: the session's tmp/ holds a record and data
# for each partial item the server says it kept, and nothing else
tmp_matches_kept() {
	local tmp=$STORE/$1/tmp log=$2 kept recs parts others f
	kept=$(sed -n "s/.*session $1: \([0-9]*\) partial items kept for their client/\1/p" "$log" | tail -n 1)
	kept=${kept:-0}
	recs=$(records "$tmp" | wc -l)
	parts=$(find "$tmp" -name '*.part' | wc -l)
	others=$(find "$tmp" -type f ! -name '*.rec' ! -name 'rec.*' ! -name '*.part' ! -name max_id \
		! -name verdicts ! -name proofs ! -name ops | wc -l)
	for f in $(records "$tmp"); do
		[[ -f $tmp/$(record_id "$f").part ]] || { echo "   $f without its .part"; return 1; }
	done
	echo "   kept $kept; tmp/ has $recs records, $parts data files, $others others"
	((recs == kept && parts == kept && others == 0))
}

# connected N: the client's session shows N paths on the server
connected() {
	local f=$SRV/$SESS_NAME/.session
	[[ -f $f ]] && [[ $(session_field "$f" paths) == "$1" ]]
}

# connected_or_crashed: both paths re-attached, or the server already
# crashed (a hook after a few frames can fire on the first PINGs)
connected_or_crashed() { connected 2 || ! pid_alive "$(daemon_pid server)"; }

CLOG=
ROUNDS=0
CRASHED=0
ROUND_FAILS=0

# round POINT:N: one crash of the transfer into round dir r<k>
round() {
	local spec=$1 dir out rc=0 fails_before=$FAILS
	ROUNDS=$((ROUNDS + 1))
	dir=r$ROUNDS
	out=$T/round$ROUNDS.out
	note "round $ROUNDS: BRAIDFSD_CRASH_AFTER=$spec"
	stop_daemon server >/dev/null
	BRAIDFSD_CRASH_AFTER=$spec start_server server "$SRV" "$STORE" >/dev/null
	wait_until 30 "the client re-attached" connected_or_crashed ||
		fail "the client did not re-attach to the server"
	bg transfer "$CLI/$dir" >"$out" 2>&1
	local tpid=$BG_LAST
	local deadline=$((SECONDS + $(tmo 30)))
	while pid_alive "$tpid" && pid_alive "$(daemon_pid server)"; do
		((SECONDS < deadline)) || fail "round $ROUNDS: the transfer hangs"
		sleep 0.02
	done
	if pid_alive "$(daemon_pid server)"; then
		# Not reached: the transfer was shorter than N frames.
		wait "$tpid" || true
		echo "   the hook was not reached"
	else
		CRASHED=$((CRASHED + 1))
		kill -STOP "$(daemon_pid client)"
		local slog
		slog=$(daemon_log server)
		check "round $ROUNDS: the server crashed at the hook" \
			grep -q "test hook: crashing at ${spec%:*}" "$slog"
		kill_daemon server KILL >/dev/null
		check "round $ROUNDS: after the crash, data/ holds only complete files" \
			only_complete "$STORE/$SESS_NAME/data/$dir"
		start_server server "$SRV" "$STORE" >/dev/null
		check "round $ROUNDS: tmp/ holds exactly the partial items the restarted server kept" \
			tmp_matches_kept "$SESS_NAME" "$(daemon_log server)"
		check "round $ROUNDS: the view shows only complete files" \
			only_complete "$SRV/$SESS_NAME/$dir"
		kill -CONT "$(daemon_pid client)"
		deadline=$((SECONDS + $(tmo 60)))
		while pid_alive "$tpid"; do
			((SECONDS < deadline)) || fail "round $ROUNDS: the transfer hangs after the restart"
			sleep 0.05
		done
		wait "$tpid" || true
		case $spec in
		max-id:* | part-created:* | rec-torn:*)
			# the item's record never got complete, so no chunk of it was
			# acknowledged: the client's repeated ITEM_OPEN opens it anew
			check "round $ROUNDS: the item the store did not keep is opened again" \
				wait_until 10 "the server log says so" grep -q "opening it again" "$(daemon_log server)"
			;;
		esac
	fi
	sed 's/^/     /' "$out" | paste -sd ' ' | sed 's/^/   /'
	grep -h "opening it again\|done before the restart" "$(daemon_log server)" |
		sed 's/^/   /' || true
	check "round $ROUNDS: every command exited 0" \
		bash -c '! grep -qv " 0$" "$1" && (($(wc -l <"$1") == 11))' _ "$out"
	check "round $ROUNDS: the tree arrived bit-exact (view)" diff_trees "$EXP" "$SRV/$SESS_NAME/$dir"
	check "round $ROUNDS: the tree arrived bit-exact (store)" \
		diff_trees "$EXP" "$STORE/$SESS_NAME/data/$dir"
	check "round $ROUNDS: tmp/ holds no partial item" \
		test -z "$(partial_items "$STORE/$SESS_NAME/tmp")"
	((FAILS == fails_before)) || ROUND_FAILS=$((ROUND_FAILS + 1))
}

start_server server "$SRV" "$STORE"
start_client client "$CLI" label=sweep paths=2 timeout=60
CLOG=$(daemon_log client)
mkdir "$CLI/warmup"
cp "$SRC/tiny.txt" "$CLI/warmup/"
SESS=$(session_for_label "$SRV" sweep) || fail "no session for label sweep"
SESS_NAME=$(basename "$SESS")

POINTS=${CRASH_SWEEP_POINTS:-"frames:1 frames:3 frames:5 frames:7 frames:9 frames:11
	frames:13 frames:15 frames:17 frames:20 frames:23 frames:26 frames:29 frames:32
	frames:35 frames:38 max-id:3 part-created:2 rec-torn:4 chunk-data:5 chunk-map:9
	close-torn:6 fsynced:1 fsynced:7 batch-synced:3 renamed:5 renamed:8
	batch-renamed:6 dir-synced:6 rec-removed:3
	rec-removed:9 stored-sent:2 op-applied:2 op-applied:3"}
for spec in $POINTS; do
	round "$spec"
done
echo "   $ROUNDS rounds, $CRASHED crashed the server, $ROUND_FAILS with a failed check"
check "most rounds crashed the server ($CRASHED of $ROUNDS)" test "$CRASHED" -ge $((ROUNDS * 3 / 4))
stop_daemon client

# ---- the client does not come back
note "crashes with the client gone: only complete files, partial items reclaimed"
for spec in frames:9 fsynced:4 chunk-map:12; do
	ROUNDS=$((ROUNDS + 1))
	stop_daemon server >/dev/null
	BRAIDFSD_CRASH_AFTER=$spec start_server server "$SRV" "$STORE" >/dev/null
	start_client gone "$T/gone$ROUNDS" label=gone$ROUNDS paths=2 timeout=60 >/dev/null
	bg transfer "$T/gone$ROUNDS/r" >"$T/round$ROUNDS.out" 2>&1
	tpid=$BG_LAST
	wait_dead server "$(tmo 30)" || fail "$spec: the server did not crash"
	# the client dies too; the copies into its mount then fail at once
	kill -9 "$(daemon_pid gone)"
	wait "$tpid" || true
	kill_daemon gone KILL >/dev/null
	G=$(basename "$(find "$STORE" -maxdepth 1 -name "*-gone$ROUNDS-*")")
	check "$spec, client gone: data/ holds only complete files" \
		only_complete "$STORE/$G/data"
	start_server server "$SRV" "$STORE" linger=3 >/dev/null
	check "$spec, client gone: tmp/ holds exactly the partial items kept" \
		tmp_matches_kept "$G" "$(daemon_log server)"
	check "$spec, client gone: the view shows only complete files" \
		only_complete "$SRV/$G"
	deadline=$((SECONDS + $(tmo 20)))
	while [[ -n $(partial_items "$STORE/$G/tmp") ]] &&
		((SECONDS < deadline)); do
		sleep 0.1
	done
	check "$spec, client gone: the partial items are reclaimed after linger" \
		test -z "$(partial_items "$STORE/$G/tmp")"
	check "$spec, client gone: still only complete files" only_complete "$STORE/$G/data"
done

finish
