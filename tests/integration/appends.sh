# shellcheck shell=bash
# tests/integration/appends.sh — what the tests of changes to a delivered
# 64 MiB file share (append.sh, append-async.sh, inplace.sh,
# append-noop.sh): source it after lib.sh, start the server, set CLI to
# the mounted outbox.
#
#   deliver_f LABEL [spool]   $SIZE (64 MiB) random bytes as $T/model,
#                             copied into the outbox as f (and the spool
#                             drained); SESS is then the session in the
#                             server's view
#   append WHAT CMD...        an append step (below)
#   line1, line2, small       CMDs for it: append "line one\n", "line two\n"
#                             or $T/small (100000 random bytes) to the
#                             outbox's f (in a process of its own, with a
#                             time limit: a close(2) that hangs fails the
#                             step and leaves the test's signals and
#                             cleanup free) and to the model

[[ $(type -t on_cleanup) == function ]] || {
	echo "appends.sh: source lib.sh first" >&2
	exit 1
}
SIZE=$((64 << 20))

deliver_f() {
	head -c "$SIZE" /dev/urandom >"$T/model"
	check "cp of a 64 MiB file into the outbox" run_t 120 cp "$T/model" "$CLI/f"
	if [[ ${2-} == spool ]]; then
		check "the spool drains" wait_spool_empty "$CLI" 120
	fi
	SESS=$(session_for_label "$T/srv" "$1") || fail "no session for label $1"
	check "the server has it" cmp "$T/model" "$SESS/f"
}

# append WHAT CMD...: runs CMD (which appends to the outbox's f and to the
# model), waits as the test's append_wait WHAT GROWN BEFORE says (GROWN:
# the bytes appended, BEFORE: the bytes the paths had acknowledged), then
# checks the server's copy and what the paths carried. append_pre, if the
# test defines it, runs first. The model before the step is $T/f.before.
append() {
	local what=$1 before grown
	shift
	before=$(acked_total "$CLI")
	if [[ $(type -t append_pre) == function ]]; then append_pre; fi
	check "$what exits 0" "$@"
	grown=$(($(stat -c %s "$T/model") - $(stat -c %s "$T/f.before")))
	append_wait "$what" "$grown" "$before"
	check "$what: the server's f is the model, bit for bit" cmp "$T/model" "$SESS/f"
	local sent=$(($(acked_total "$CLI") - before))
	echo "   $what: $grown bytes appended, $sent bytes acknowledged on the paths"
	assert_le "$sent" $((1 << 20)) "$what: bytes sent for the append (of a 64 MiB file)"
	cp "$T/model" "$T/f.before"
}

head -c 100000 /dev/urandom >"$T/small"
# append_file SRC: cat SRC >> the outbox's f, bounded
append_file() { run_t 60 bash -c 'cat "$1" >>"$2"' _ "$1" "$CLI/f" && cat "$1" >>"$T/model"; }
printf 'line one\n' >"$T/line1"
printf 'line two\n' >"$T/line2"
line1() { append_file "$T/line1"; }
line2() { append_file "$T/line2"; }
small() { append_file "$T/small"; }
