#!/usr/bin/env bash
# append-async.sh: appends (O_APPEND: >>) to a delivered file under
# delivery=async spool only the new bytes and send only them: the spooled
# file carries the base (spool format 4) and the server makes the new
# version from its stored file (braidfs-protocol(7), Appending to a stored
# file).
#  1. a 64 MiB file delivered; `echo >>` twice and a `cat small >>`: each
#     append's close(2) returns while the server's base copy is held (test
#     hook BRAIDFSD_HOLD_BASE_COPY), the server still shows the old version
#     meanwhile; once released, the server's copy equals a local model, bit
#     for bit, and the bytes the paths acknowledged grow by about the
#     appended size (below 1 MiB), not by 64 MiB; the spool held only the
#     appended bytes;
#  2. kill -9 of the client after an append's close(2) returned (the server
#     frozen meanwhile): the next mount on the spool reads the base back
#     from the server, checks it and delivers the append, bit for bit;
#  3. the stored file changed behind the mount's back: the append is
#     refused (STALE), the server's file stays as it was, the appended
#     bytes alone are in SPOOL/failed/ and the log says what to do;
#  4. a file open for appending cannot be renamed (EBUSY); one whose
#     append waits in the spool is renamed once stored (its base is the
#     stored file of the old name): the server ends with the new name
#     holding the whole file;
#  5. five appends in a row (each waits for the one before to be stored,
#     whose state it continues), then truncate -s (ftruncate) and
#     truncate(2) to a larger size send only the zeros: the server's file
#     is the model, bit for bit;
#  6. a spooled append found by a mount with coding=rs (which sends no
#     bases) stays in the spool with a log line saying to mount with
#     coding=stripe; such a mount delivers it.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=appends.sh
source "$LIB_DIR/appends.sh"

need_space 400
PORT=$(free_port)
SPOOL=$T/spool

mkfifo "$T/hold"
BRAIDFSD_HOLD_BASE_COPY=$T/hold start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)
SLOG=$(daemon_log server)
start_client client "$T/cli" label=app delivery=async "spool=$SPOOL"
CLI=$T/cli
deliver_f app spool

holds() { grep -c "test hook: holding the base copy" "$SLOG" || true; }
_held_more() { (($(holds) > $1)); }
# The server's copier reads the FIFO until its writer closes it.
release() { run_t 30 bash -c ': >"$1"' _ "$T/hold"; }
_queued() { (($(spool_field "$CLI" pending) >= 1)); }

# append_pre, append_wait WHAT GROWN BEFORE (appends.sh): the append is
# spooled (the appended bytes only), the server copies its base (the old f
# shown meanwhile), the spool drains
append_pre() { HELD=$(holds); }
append_wait() {
	local what=$1 grown=$2
	# (its release(2) follows the close asynchronously)
	wait_until "$(tmo 30)" "'$what' queued in the spool" _queued
	check "$what: the spool holds the appended bytes only" \
		test "$(spool_field "$CLI" pending_bytes)" -le "$grown"
	if ! wait_until "$(tmo 30)" "the server copies the base of '$what'" _held_more "$HELD"; then
		check "$what: the server makes it from its stored file" false
	else
		check "$what: while the base is copied the server shows the old f" \
			cmp "$T/f.before" "$SESS/f"
		check "$what: the base copy released" release
	fi
	check "$what: the spool drains" wait_spool_empty "$CLI" 60
}
cp "$T/model" "$T/f.before"
note "1. appends send only the new bytes"
append "echo line one >> f" line1
append "echo line two >> f" line2
append "cat small >> f" small
check "the outbox shows the appended size" \
	test "$(stat -c %s "$CLI/f")" -eq "$(stat -c %s "$T/model")"

# From here on every base copy goes on at once. A bg job: it does not
# inherit the test's traps, and cleanup kills it (-9) before anything
# else, even blocked in open(2) of the FIFO with no reader left.
releaser() { while :; do : >"$T/hold"; done; }
bg releaser

note "2. kill -9 of the client after an append's close(2) returned"
kill -STOP "$SPID"
# append_t TEXT [FILE]: appends a line to the outbox's FILE (f), with a timeout
append_t() { run_t 30 bash -c 'echo "$1" >>"$2"' _ "$1" "$CLI/${2:-f}"; }
check "echo after a crash >> f returns while the server is frozen" \
	append_t "after a crash"
echo "after a crash" >>"$T/model"
kill_daemon client KILL
kill -CONT "$SPID"
start_client client2 "$T/cli" label=app delivery=async "spool=$SPOOL"
check "the new mount shows the appended size" \
	test "$(stat -c %s "$CLI/f")" -eq "$(stat -c %s "$T/model")"
check "the spool drains" wait_spool_empty "$CLI" 120
check "the server's f is the model, bit for bit" cmp "$T/model" "$SESS/f"
check "the base was read back and checked, not sent again" \
	test "$(acked_total "$CLI")" -le $((1 << 20))

note "3. the stored f changes behind the mount's back: STALE"
DATA=$T/store/$(basename "$SESS")/data
check "the store holds f under data/" test -f "$DATA/f"
echo "changed on the server" >>"$DATA/f"
cp "$DATA/f" "$T/model"
check "echo stale >> f exits 0 (spooled)" append_t stale
check "the spool drains" wait_spool_empty "$CLI" 60
check "the server's f is the changed file" cmp "$T/model" "$SESS/f"
# The file is moved to failed/ before the line is logged.
_refused() { grep -q "refused the append to 'f': the stored file is no longer the version it appends to.*only the appended bytes are kept, in .*failed/.*append them to the file as it is now, or write the file whole again" "$(daemon_log client2)"; }
check "the client says what happened and what to do" \
	wait_until "$(tmo 30)" "the refusal logged" _refused
FAILED=$(find "$SPOOL/failed" -name '*.item')
check "one file in failed/" test "$(wc -l <<<"$FAILED")" -eq 1 -a -n "$FAILED"
check "... holding the appended bytes alone (after its 12 KiB header)" \
	cmp <(tail -c +12289 "$FAILED") <(echo "stale")

note "4. renaming a file being appended to"
head -c 3000000 /dev/urandom >"$T/model"
check "f written whole again (cp)" run_t 60 cp "$T/model" "$CLI/f"
check "the spool drains" wait_spool_empty "$CLI" 60
exec 3>>"$CLI/f"
echo "open" >&3
echo "open" >>"$T/model"
err=$(run_t 30 mv "$CLI/f" "$CLI/g" 2>&1) && rc=0 || rc=$?
check "mv of f while an append to it is open fails" test "$rc" -ne 0
check "... with EBUSY" grep -q "busy" <<<"$err"
check "... and f is still there" test -e "$CLI/f" -a ! -e "$CLI/g"
exec 3>&-
check "the spool drains" wait_spool_empty "$CLI" 60
check "the server's f has the append" cmp "$T/model" "$SESS/f"
# Frozen: the append waits in the spool, and the rename behind it.
kill -STOP "$SPID"
check "echo queued >> f returns while the server is frozen" append_t queued
echo "queued" >>"$T/model"
mv "$CLI/f" "$CLI/g" &
MV=$!
kill -CONT "$SPID"
wait_exit "$MV" "$(tmo 60)" || true
wait "$MV" && rc=0 || rc=$?
assert_eq 0 "$rc" "mv of f waiting in the spool as an append exits 0"
check "the spool drains" wait_spool_empty "$CLI" 60
check "the server's g is f with the append, bit for bit" cmp "$T/model" "$SESS/g"
check "... and f is gone there" test ! -e "$SESS/f"
check "nothing more in failed/" test "$(find "$SPOOL/failed" -name '*.item' | wc -l)" -eq 1

note "5. appends one after another, then truncate -s to a larger size"
check "the spool drains" wait_spool_empty "$CLI" 60
before=$(acked_total "$CLI")
burst() { for i in 1 2 3 4 5; do echo "burst $i" >>"$CLI/g" || return; done; }
check "five echo >> g in a row" run_t 60 bash -c "$(declare -f burst); CLI=$CLI burst"
for i in 1 2 3 4 5; do echo "burst $i" >>"$T/model"; done
check "the spool drains" wait_spool_empty "$CLI" 60
check "the server's g is the model, bit for bit" cmp "$T/model" "$SESS/g"
check "truncate -s +100000 g (ftruncate)" run_t 30 truncate -s +100000 "$CLI/g"
truncate -s +100000 "$T/model"
check "the spool drains" wait_spool_empty "$CLI" 60
check "the server's g is the model, zeros at its end" cmp "$T/model" "$SESS/g"
check "python's os.truncate(g, +5000) (truncate(2) of the path)" run_t 30 \
	python3 -c 'import os, sys; p = sys.argv[1]; os.truncate(p, os.path.getsize(p) + 5000)' "$CLI/g"
truncate -s +5000 "$T/model"
check "the spool drains" wait_spool_empty "$CLI" 60
check "the server's g is the model, bit for bit" cmp "$T/model" "$SESS/g"
sent=$(($(acked_total "$CLI") - before))
echo "   40 bytes and 105000 zero bytes appended to a 3 MB file, $sent bytes acknowledged on the paths"
assert_le "$sent" $((1 << 20)) "bytes sent for the five appends and two truncates (of a 3 MB file)"

note "6. a spooled append left to a mount with coding=rs stays in the spool"
kill -STOP "$SPID"
check "echo for stripe >> g returns while the server is frozen" \
	append_t "for stripe" g
echo "for stripe" >>"$T/model"
kill_daemon client2 KILL
kill -CONT "$SPID"
start_client client3 "$T/cli" label=app delivery=async "spool=$SPOOL" coding=rs:2/3
_told() { grep -q "'g' is an append, spooled by a mount with coding=stripe.*mount again with coding=stripe" "$(daemon_log client3)"; }
check "the client says the append needs coding=stripe" wait_until "$(tmo 30)" "the log line" _told
check "... it stays in the spool" test "$(spool_field "$CLI" pending)" -eq 1
stop_daemon client3
start_client client4 "$T/cli" label=app delivery=async "spool=$SPOOL"
check "mounted again with coding=stripe, the spool drains" wait_spool_empty "$CLI" 60
check "the server's g is the model, bit for bit" cmp "$T/model" "$SESS/g"
check "nothing more in failed/ (its announcement by the killed mount was \
replayed)" test "$(find "$SPOOL/failed" -name '*.item' | wc -l)" -eq 1
finish
