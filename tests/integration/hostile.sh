#!/usr/bin/env bash
# hostile.sh: a hostile peer against a real braidfsd while a legitimate
# client copies 64 MiB files through a real mount in another session.
#
# hostile_peer.py (its own encoder of man/braidfs-protocol.7, checked
# against the man page's example) sends one violation per connection:
# garbage and wrong-version prefaces, a frame length over the cap, truncated
# frames, CHUNK/ITEM_CLOSE for items never opened, chunk_id >= total_chunks,
# conflicting total_chunks, a resent chunk with other bytes, bad CRC32Cs,
# names that escape ("../escape", "a/../../b", "/etc/passwd", "a//b") in
# ITEM_OPEN and OP MKDIR/RENAME, ATTACH with a guessed session id and with
# the legitimate session's id but a wrong token, a malformed HELLO, sealed
# frames, unknown flags and types, a late CHUNK for a stored item, repeats
# a client sends after losing a path (ITEM_OPEN, ITEM_CLOSE and OP again:
# answered, never run twice; ATTACH with a live path's index replaces it),
# and 500 idle connections (slowloris) from one address. Each gets the
# answer the man page gives and the server must answer a new path
# afterwards. Each case comes from its own loopback address, as peers on
# other hosts would, for the server's admission limits (defaults): from one
# address at most 8 connections are held in the handshake (the other idle
# ones are closed at once), from 100 addresses at most 64; guessed attach
# tokens are answered WELCOME LIMIT after a burst; names longer or deeper
# than max_name/max_depth and chunk sizes over max_chunk are refused per
# item or OP, a frame over max_chunk closes its path, a HELLO over 64 KiB
# is refused. The refusals at admission are logged, at most one line a
# second per kind plus a count of the others. A control session stores a
# correct item (the encoder is right) and one with a wrong digest (ITEM_ACK
# STORED CORRUPT, not visible). Last, resource exhaustion by valid frames:
# far-out chunk ids (server memory must stay bounded) and items opened
# without end (refused with LIMIT; other sessions keep working).
#
# Afterwards: every legitimate cp exited 0 and cmp equals the source, the
# server is alive, nothing named after the hostile names exists anywhere,
# every hostile connection has a log line, no sanitizer report.
#
# The cases of a server with key_file (wrong key, replayed and altered
# sealed frames) are in hostile-key.sh.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 600
PORT=$(free_port)
SIZE=$((64 << 20))
head -c "$SIZE" /dev/urandom >"$T/big.bin"
passwd_before=$(stat -c '%s %Y' /etc/passwd)-$(sha256sum </etc/passwd)

start_server server "$T/srv" "$T/store" max_name=1024 max_depth=16 max_chunk=4M
start_client client "$T/cli" label=legit
LEGIT=$(session_for_label "$T/srv" legit) || fail "no session for label legit"
SPID=$(daemon_pid server)
SLOG=$(daemon_log server)

# The legitimate transfer: 64 MiB copies, one after the other, for as long
# as the hostile peer runs (at least one; the attack begins once the first
# is under way). Each is compared on the server mount; the previous one is
# removed there (as a consumer would) to bound the disk used.
copy_loop_start "$T/big.bin" "$T/cli" "$LEGIT"

note "hostile peer on 127.0.0.1:$PORT (legitimate session $(basename "$LEGIT"))"
t0=$(now)
prc=0
run_t 120 python3 "$LIB_DIR/hostile_peer.py" 127.0.0.1 "$PORT" "$T/srv" \
	"$LEGIT/.session" "$SPID" "$T/results.tsv" "$T/ports.tsv" || prc=$?
attack=$(elapsed "$t0")
note "hostile peer done in $attack s (exit $prc)"
assert_eq 0 "$prc" "hostile_peer.py ran to the end"
copy_loop_stop

# its checks count as ours
if [[ -f $T/results.tsv ]]; then
	while IFS=$'\t' read -r verdict what why; do
		CHECKS=$((CHECKS + 1))
		if [[ $verdict != PASS ]]; then
			FAILS=$((FAILS + 1))
			printf 'FAIL (recap): %s: %s\n' "$what" "$why"
		fi
	done <"$T/results.tsv"
	echo "   hostile_peer.py: $(grep -c . "$T/results.tsv") checks, $(grep -c '^FAIL' "$T/results.tsv" || true) failed"
fi

note "legitimate transfer"
if ((COPY_RC != 0)); then
	echo "   client log:"
	grep -E 'did not store|cannot|error' "$(daemon_log client)" | sed 's/^/     /' | tail -n 5 || true
fi
assert_eq 0 "$COPY_RC" "every legitimate 64 MiB cp exited 0 and cmp equalled the source ($COPIES copies during the attack)"
check "at least one legitimate copy completed" test "$(grep -c '^cmp [0-9]* 0$' "$T/copies.log" || true)" -ge 1
((COPY_RC == 0)) && check "the last legitimate copy equals the source, read again at the end" \
	cmp "$T/big.bin" "$LEGIT/big-$COPIES.bin"
echo "   .session of the legitimate session:"
sed 's/^/     /' "$LEGIT/.session"
assert_eq connected "$(session_field "$LEGIT/.session" state)" "legitimate session still connected"
check "braidfsd (pid $SPID) is alive" pid_alive "$SPID"

note "the legitimate client meets the server's name limits"
deep=$(seq -s / 1 20 | sed 's/[0-9][0-9]*/d&/g')
check "mkdir -p 20 levels deep fails (max_depth=16)" bash -c '! mkdir -p "$1" 2>/dev/null' _ "$T/cli/$deep"
check "... after making the 16 levels the server allows" test -d "$LEGIT/$(cut -d/ -f1-16 <<<"$deep")"
long=$(printf 'a%.0s' {1..250})/$(printf 'b%.0s' {1..250})/$(printf 'c%.0s' {1..250})/$(printf 'd%.0s' {1..250})
mkdir -p "$T/cli/$long"
echo small >"$T/small.txt"
check "cp to a name of 1255 bytes fails (max_name=1024)" \
	bash -c '! cp "$1" "$2" 2>"$3"' _ "$T/small.txt" "$T/cli/$long/$(printf 'e%.0s' {1..250})" "$T/cp.err"
sed 's/^/     /' "$T/cp.err"
check "... with EINVAL" grep -q "Invalid argument" "$T/cp.err"
check "cp to a name of 1004 bytes works" cp "$T/small.txt" "$T/cli/$long/f"
check "... and arrives" cmp "$T/small.txt" "$LEGIT/$long/f"

note "nothing escaped the store"
stray=$(find "$T" \( -path "$T/store" -o -path "$T/srv" -o -path "$T/cli" \) -prune -o \
	\( -name escape -o -name passwd -o -name b -o -name ok2 \) -print)
assert_eq "" "$stray" "no file named escape/passwd/b/ok2 under $T outside the store"
stray=$(find "$T/store" \( -name escape -o -name passwd -o -name b -o -name ok2 \) -print)
assert_eq "" "$stray" "no file named escape/passwd/b/ok2 in the store either (all were refused)"
stray=$(find "$T/store" -mindepth 2 -maxdepth 2 ! -name session ! -name data ! -name tmp ! -name owner -print)
assert_eq "" "$stray" "session directories in the store hold only session, owner, data/, tmp/"
assert_eq "$passwd_before" "$(stat -c '%s %Y' /etc/passwd)-$(sha256sum </etc/passwd)" "/etc/passwd untouched"

note "a log line for every hostile connection"
if [[ -f $T/ports.tsv ]]; then
	while IFS=$'\t' read -r case ports; do
		case $case in slowloris* | handshake-cap) continue ;; esac
		# a truncated frame ends with the peer gone: the path's end is its line
		words='closing path|dropping connection|refusing handshake|refusing an ITEM_OPEN'
		[[ $case == truncated-frame ]] && words+='|last path'
		missing=()
		for p in $ports; do
			line=$(grep -m 1 -E "($words) from ${p//./\\.}([^0-9]|\$)" "$SLOG" || true)
			if [[ -n $line ]]; then
				echo "     $line"
			else
				missing+=("$p")
			fi
		done
		assert_eq "" "${missing[*]}" "server log line for each hostile connection of case $case (missing: local ports)"
	done <"$T/ports.tsv"
	# the idle connections held in the handshake are dropped at its timeout
	slow=$(awk -F'\t' '$1 == "slowloris" { print $2 }' "$T/ports.tsv")
	n=$(grep -E 'dropping connection from 127\.0\.1\.[0-9]+:[0-9]+: .*timed out' "$SLOG" |
		grep -cF -f <(tr ' ' '\n' <<<"$slow" | sed 's/$/:/') || true)
	grep -m 1 -E 'dropping connection .*timed out' "$SLOG" | sed 's/^/     /' || true
	check "server log: the idle connections held in the handshake were dropped at its timeout ($n)" \
		test "$n" -ge 1
	# those closed at once: logged at most once a second, with counts
	lines=$(grep -c 'closing connection from .* at once' "$SLOG" || true)
	more=$(sed -n 's/.*: \([0-9]*\) more connections closed at once.*/\1/p' "$SLOG" |
		awk '{ n += $1 } END { print n + 0 }')
	grep -m 2 -E 'closing connection from .* at once|more connections closed at once' "$SLOG" |
		sed 's/^/     /' || true
	echo "   connections closed at once: $lines log lines + $more counted in summaries"
	# over the caps, a few take a reserve seat instead (kept for ATTACHes
	# with a known token) and are dropped at its 3 s deadline, each logged
	reserve=$(grep -c 'dropping connection from .* (reserve seat): .*timed out' "$SLOG" || true)
	echo "   ... and $reserve dropped from a reserve seat"
	check "server log: every connection closed at once is logged or counted ($((lines + more)) + $reserve >= 492 + 36)" \
		test $((lines + more + reserve)) -ge 528
	check "server log: those refusals took at most one line a second ($lines lines in ${attack%.*} s)" \
		test "$lines" -le $((${attack%.*} + 2))
	rate=$(grep -c 'refusing handshake from .*attach_rate' "$SLOG" || true)
	check "server log: the handshakes over attach_rate are logged ($rate lines)" test "$rate" -ge 1
	grep -m 1 'refusing handshake from .*attach_rate' "$SLOG" | sed 's/^/     /' || true
else
	fail "hostile_peer.py wrote no ports file"
fi

finish
