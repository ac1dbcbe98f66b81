#!/usr/bin/env bash
# journal-unreadable.sh: a braidfsd that cannot read a session's journal
# at start-up refuses to start and removes nothing; what it acknowledged
# is still there for the next start.
#
# A peer (partial_peer.py) leaves 6 items partial in a session, chunks 0
# and 1 of 4 of each acknowledged; the server is killed (-9). Then
# braidfsd is started again and again under a real limit of open files
# (prlimit --nofile=N:N), N = 8, 9, ... : each N makes a different open
# at start-up fail with EMFILE (a session directory, its session file,
# tmp/'s rings, a record file, an item's data file ...), for real and in
# the same order on any machine. Each N must either refuse to start
# (exit non-zero, naming the file it could not read and saying it does
# not start) or start with all 6 items; tmp/ must stay exactly as it was
# (its files' bytes compared). The sweep ends at the first N that keeps
# them. (Before this check, nofile 8 and 9 started without the session,
# and nofile 16 deleted all 6 items: "item 1 is not kept:
# tmp/0000000000000001.part: Too many open files".)
# Then permissions as a service user meets them (braidfsd without
# CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH, setpriv): the session's tmp/ at
# mode 000 makes braidfsd refuse to start, naming it; an unreadable
# lost+found beside the sessions (not named as one) is skipped and the
# server starts with the 6 items. Last, a takeover: server A owns the
# session, B on the same store leaves it to A; A is killed, tmp/ made
# unreadable: the peer's ATTACH to B is refused with LIMIT (try again),
# nothing changed; readable again, B takes the session over and the peer
# sends only chunks 2 and 3 and the ITEM_CLOSEs: every item is STORED OK
# and bit-exact in B's view, which it can only be if the acknowledged
# chunks survived everything before.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v prlimit >/dev/null || skip "prlimit (util-linux) is missing"
PORT=$(free_port)
SRV=$T/srv
STORE=$T/store
K=6

start_server server "$SRV" "$STORE"
run_t 60 python3 "$LIB_DIR/partial_peer.py" open 127.0.0.1 "$PORT" partial "$K" "$T" ||
	fail "the peer could not leave $K partial items"
SESS=$(session_for_label "$SRV" partial) || fail "no session for label partial"
TMP=$STORE/$(basename "$SESS")/tmp
kill_daemon server

# tmp/'s files with bytes, and their digests
snapshot() { (cd "$TMP" && find . -type f -size +0 -printf '%P\n' | LC_ALL=C sort | xargs -r sha256sum); }
snapshot >"$T/before"
tmp_unchanged() { snapshot | cmp -s "$T/before" -; }
check "tmp/ holds the $K items' data files" \
	test "$(find "$TMP" -name '*.part' | wc -l)" -eq "$K"

# exited_or_listening PID: the attempt is over one way or the other
exited_or_listening() { ! pid_alive "$1" || port_listening "$PORT"; }

# try_start TAG WRAPPER...: braidfsd run through WRAPPER, until it exits
# (rc: its status) or listens (then it is the daemon "server"); log: its
# log
try_start() {
	local tag=$1
	shift
	log=$T/logs/$tag.log
	ALL_LOGS+=("$log")
	"$@" "$BRAIDFSD" "$SRV" -o "listen=127.0.0.1:$PORT,store=$STORE" -f \
		</dev/null >"$log" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	wait_until 60 "braidfsd ($tag) exits or listens" exited_or_listening "$pid" ||
		fail "braidfsd ($tag) neither exited nor listened"
	if port_listening "$PORT"; then
		D_PID[server]=$pid D_MNT[server]=$SRV D_LOG[server]=$log
		D_KIND[server]=server D_CHILD[server]=1
		ALL_MOUNTS+=("$SRV")
		wait_mounted server
		return 0
	fi
	rc=0
	wait "$pid" || rc=$?
	is_mounted "$SRV" && unmount "$SRV"
	return 1
}

# Every N either refuses to start or starts with all K items; the sweep
# ends at the first that keeps them (with so few descriptors it can serve
# nothing more: it is stopped, and the server started without a limit).
started= refused=0 said=0 bad=0 changed=0
for ((n = 8; n <= 256; n++)); do
	if try_start "nofile.$n" prlimit --nofile="$n:$n" --; then
		if grep -q "$K partial items kept for their client" "$log"; then
			started=$n
			stop_daemon server any
			break
		fi
		bad=$((bad + 1))
		echo "   nofile $n: started without its $K items: $(grep -m1 -E 'skipping|not kept|cannot' "$log")"
		stop_daemon server any
	else
		((rc != 0)) || fail "nofile $n: braidfsd exited 0 without serving"
		refused=$((refused + 1))
		echo "   nofile $n: exit $rc: $(grep -m1 '^braidfsd: [^wn]' "$log" || tail -n 1 "$log")"
		if grep -q "^braidfsd: store .*, session .*: cannot \(read\|list\|open\) tmp/.*: Too many open files" "$log"; then
			said=$((said + 1))
			grep -q "not starting: .*Nothing was removed" "$log" ||
				fail "nofile $n: no word that it does not start (log: $(tail -n 3 "$log"))"
		fi
	fi
	if ! tmp_unchanged; then
		changed=$((changed + 1))
		echo "   nofile $n: tmp/ changed: $(snapshot | diff "$T/before" - | grep -c '^<') files gone or changed"
		break	# lost already: the rest would prove nothing more
	fi
done
note "braidfsd kept the items with nofile ${started:-(never)}, after $refused refused starts"
check "a start under a limit kept the $K items" test -n "$started"
check "no start under a limit changed tmp/ ($changed did)" test "$changed" -eq 0
check "no start under a limit went on without the items ($bad did)" test "$bad" -eq 0
check "starts under a limit were refused ($refused)" test "$refused" -gt 0
check "refused starts named the file of tmp/ they could not read ($said)" \
	test "$said" -gt 0

# Permissions as a service user meets them: braidfsd as root without the
# capabilities that let root pass them (setpriv).
nodac=(setpriv --bounding-set=-dac_override,-dac_read_search --)
note "tmp/ of the session not readable (chmod 000)"
chmod 000 "$TMP"
if try_start tmp000 "${nodac[@]}"; then
	check "braidfsd does not start when a session's tmp/ is unreadable" false
	stop_daemon server any
else
	check "braidfsd does not start when a session's tmp/ is unreadable (exit $rc)" \
		test "$rc" -ne 0
	check "... it names the directory and the cause" \
		grep -q "^braidfsd: store .*: cannot read session directory .*$(basename "$SESS"): Permission denied" "$log"
	check "... and says it does not start and removed nothing" \
		grep -q "not starting: .*Nothing was removed" "$log"
fi
chmod 700 "$TMP"
check "... tmp/ is as it was" tmp_unchanged

note "an unreadable directory not named as a session (lost+found) is skipped"
mkdir -m 000 "$STORE/lost+found"
if try_start lostfound "${nodac[@]}"; then
	check "braidfsd starts beside an unreadable lost+found" true
	check "... skipping it with a warning" grep -q "skipping lost+found in the store" "$log"
	check "... and keeping the $K items" grep -q "$K partial items kept" "$log"
	stop_daemon server any
else
	check "braidfsd starts beside an unreadable lost+found (exit $rc: $(grep -m1 '^braidfsd: [^wn]' "$log"))" false
fi
rmdir "$STORE/lost+found"

note "a takeover at ATTACH (its owner gone) that cannot read tmp/"
# A owns the session; B, on the same store, leaves it to A; A dies; the
# peer attaches to B, which must take the session over from the store.
start_server server "$SRV" "$STORE"
PORT_B=$(free_port)
start_daemon b server "$T/vb" "${nodac[@]}" "$BRAIDFSD" "$T/vb" \
	-o "listen=127.0.0.1:$PORT_B,store=$STORE" -f
wait_listening b "127.0.0.1:$PORT_B"
check "B leaves the session to its owner A" \
	grep -q "not loading .*owned by another" "$(daemon_log b)"
kill_daemon server
chmod 000 "$TMP"
check "the peer's ATTACH to B is refused while tmp/ cannot be read" \
	bash -c '! timeout 60 python3 "$1/partial_peer.py" finish 127.0.0.1 "$2" "$3" "$4" >"$4/refused.out" 2>&1' \
	_ "$LIB_DIR" "$PORT_B" "$K" "$T"
check "... with LIMIT (try again)" grep -q "HELLO ATTACH refused: LIMIT" "$T/refused.out"
_not_taken() { grep -q "not taking over: .*Permission denied; nothing of it was removed" "$(daemon_log b)"; }
check "B logs why and that it removed nothing" _not_taken
chmod 700 "$TMP"
check "... tmp/ is as it was" tmp_unchanged
check "readable again, the peer attaches to B and stores every item with only its last two chunks" \
	run_t 120 python3 "$LIB_DIR/partial_peer.py" finish 127.0.0.1 "$PORT_B" "$K" "$T"
for ((i = 1; i <= K; i++)); do
	check "f$i is bit-exact in B's view" bash -c \
		'cmp <(python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import partial_peer as p; sys.stdout.buffer.write(p.body(int(sys.argv[2])))" "$1" "$2") "$3"' \
		_ "$LIB_DIR" "$i" "$T/vb/$(basename "$SESS")/f$i"
done

finish
