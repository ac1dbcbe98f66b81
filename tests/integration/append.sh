#!/usr/bin/env bash
# append.sh: appends (O_APPEND: >>) to a delivered file send only the new
# bytes (delivery=close): the server makes the new version from its stored
# file (braidfs-protocol(7), Appending to a stored file).
#  1. a 64 MiB file delivered; `echo >>` twice and a `cat small >>`: each
#     time the server's copy equals a local model, bit for bit, and the
#     bytes the paths had acknowledged grow by about the appended size
#     (below 1 MiB), not by 64 MiB;
#  2. the stored file changed behind the mount's back (written in the
#     store): the next append is refused (close fails with ESTALE, the
#     server's file stays as it was; coreutils' echo reports a failed
#     close, bash's builtin does not); written whole again (cp), the file
#     takes appends again;
#  3. truncate -s (ftruncate) and truncate(2) to a larger size send only
#     the zeros.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 400
PORT=$(free_port)
SIZE=$((64 << 20))
head -c "$SIZE" /dev/urandom >"$T/f"
head -c 100000 /dev/urandom >"$T/small"
cp "$T/f" "$T/model"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=app
CLI=$T/cli
check "cp of a 64 MiB file into the outbox" run_t 120 cp "$T/f" "$CLI/f"
SESS=$(session_for_label "$T/srv" app) || fail "no session for label app"
check "the server has it" cmp "$T/model" "$SESS/f"

# append WHAT CMD...: runs CMD (which appends to the outbox's f and to the
# model), then checks the server's copy and what the paths carried.
append() {
	local what=$1 before grown
	shift
	before=$(acked_total "$CLI")
	check "$what exits 0" "$@"
	grown=$(($(stat -c %s "$T/model") - $(stat -c %s "$T/f.before")))
	wait_acked "$CLI" $((before + grown)) "$(tmo 30)"
	check "$what: the server's f is the model, bit for bit" cmp "$T/model" "$SESS/f"
	local sent=$(($(acked_total "$CLI") - before))
	echo "   $what: $grown bytes appended, $sent bytes acknowledged on the paths"
	assert_le "$sent" $((1 << 20)) "$what: bytes sent for the append (of a 64 MiB file)"
	cp "$T/model" "$T/f.before"
}
cp "$T/model" "$T/f.before"
line1() { echo "line one" >>"$CLI/f" && echo "line one" >>"$T/model"; }
line2() { echo "line two" >>"$CLI/f" && echo "line two" >>"$T/model"; }
small() { cat "$T/small" >>"$CLI/f" && cat "$T/small" >>"$T/model"; }
append "echo line one >> f" line1
append "echo line two >> f" line2
append "cat small >> f" small
check "the outbox shows the appended size" \
	test "$(stat -c %s "$CLI/f")" -eq "$(stat -c %s "$T/model")"

note "the stored f changes behind the mount's back"
DATA=$T/store/$(basename "$SESS")/data
check "the store holds f under data/" test -f "$DATA/f"
echo "changed on the server" >>"$DATA/f"
cp "$DATA/f" "$T/model"
err=$(run_t 60 /bin/echo "stale" 2>&1 >>"$CLI/f") && rc=0 || rc=$?
check "an append to a changed stored file fails" test "$rc" -ne 0
check "... with ESTALE (Stale file handle)" grep -q "Stale file handle" <<<"$err"
check "... and the server's f is the changed file" cmp "$T/model" "$SESS/f"
check "the client says what happened and what to do" \
	grep -q "did not store 'f'.*changed or is gone): send the whole file" \
	"$(daemon_log client)"
echo "after the refusal" >>"$T/model"
check "f written whole again (cp)" run_t 120 cp "$T/model" "$CLI/f"
cp "$T/model" "$T/f.before"
after() { /bin/echo "after" >>"$CLI/f" && echo "after" >>"$T/model"; }
append "then echo after >> f" after
grow() { truncate -s +100000 "$CLI/f" && truncate -s +100000 "$T/model"; }
append "truncate -s +100000 f (zeros appended)" grow
grow_path() {
	python3 -c 'import os, sys; p = sys.argv[1]; os.truncate(p, os.path.getsize(p) + 5000)' \
		"$CLI/f" && truncate -s +5000 "$T/model"
}
append "truncate(2) of f to 5000 bytes more" grow_path
finish
