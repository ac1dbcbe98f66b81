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
# shellcheck source=appends.sh
source "$LIB_DIR/appends.sh"

need_space 400
PORT=$(free_port)

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=app
CLI=$T/cli
deliver_f app

# append_wait WHAT GROWN BEFORE (appends.sh): every byte acknowledged
append_wait() { wait_acked "$CLI" $(($3 + $2)) "$(tmo 30)"; }
cp "$T/model" "$T/f.before"
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
