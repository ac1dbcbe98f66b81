#!/usr/bin/env bash
# append-small.sh: under delivery=close the client keeps no digest state
# for a delivered file of up to 64 KiB (braidfs(1): memory); an append to
# it still sends only the new bytes: the client reads the stored file back
# once to hash it.
#  1. delivery=close: a 48 KiB file delivered; `echo >>` twice: each time
#     the server's copy equals a local model, bit for bit, and the paths
#     carry less than 16 KiB (a copy up would carry the 48 KiB);
#  2. the stored file changed behind the mount's back: the next append is
#     refused (ESTALE) and the server's file stays as it was, as for a
#     large file (append.sh; a copy up would have stored it);
#  3. delivery=async, which keeps the state (a spool takes appends while no
#     server answers): the same appends, each waited for until the spool
#     is empty.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SMALL=$((48 << 10))
start_server server "$T/srv" "$T/store"

append_to() { run_t 60 /bin/echo "$2" >>"$1"; }

# append_line MNT SESS LINE ASYNC: LINE appended to MNT/f and to the model;
# the server's f is the model and the paths carried less than 16 KiB.
append_line() {
	local before sent
	before=$(acked_total "$1")
	check "echo $3 >> f exits 0" append_to "$1/f" "$3"
	echo "$3" >>"$T/model"
	if [[ $4 == yes ]]; then check "the spool drains" wait_spool_empty "$1" 60; fi
	check "after '$3': the server's f is the model, bit for bit" \
		cmp "$T/model" "$2/f"
	sent=$(($(acked_total "$1") - before))
	assert_le "$sent" $((16 << 10)) "bytes sent for '$3' (of a 48 KiB file)"
}

# deliver MNT LABEL ASYNC: the model (48 KiB) delivered as MNT/f; SESS set
deliver() {
	head -c "$SMALL" /dev/urandom >"$T/model"
	check "cp of a 48 KiB file into the outbox" run_t 60 cp "$T/model" "$1/f"
	if [[ $3 == yes ]]; then check "the spool drains" wait_spool_empty "$1" 60; fi
	SESS=$(session_for_label "$T/srv" "$2") || fail "no session for label $2"
	check "the server has it" cmp "$T/model" "$SESS/f"
}

note "1. delivery=close"
start_client close "$T/cli" label=small
deliver "$T/cli" small no
append_line "$T/cli" "$SESS" "line one" no
append_line "$T/cli" "$SESS" "line two" no

note "2. the stored f changes behind the mount's back"
DATA=$T/store/$(basename "$SESS")/data
echo "changed on the server" >>"$DATA/f"
cp "$DATA/f" "$T/model"
err=$(run_t 60 /bin/echo "stale" 2>&1 >>"$T/cli/f") && rc=0 || rc=$?
check "an append to a changed stored file fails" test "$rc" -ne 0
check "... with ESTALE (Stale file handle)" grep -q "Stale file handle" <<<"$err"
check "... and the server's f is the changed file" cmp "$T/model" "$SESS/f"
stop_daemon close

note "3. delivery=async"
start_client async "$T/acli" label=asmall delivery=async "spool=$T/spool"
deliver "$T/acli" asmall yes
append_line "$T/acli" "$SESS" "line one" yes
append_line "$T/acli" "$SESS" "line two" yes

finish
