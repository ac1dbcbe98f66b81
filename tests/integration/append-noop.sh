#!/usr/bin/env bash
# append-noop.sh: a delivered file opened for writing and closed without a
# write is not stored again (braidfs(1), Appending; delivery=close):
#  1. a 64 MiB file delivered; `: >> f`, `exec 3>>f; exec 3>&-`,
#     `true >> f` and `touch f` (O_WRONLY without O_TRUNC, then futimens)
#     each exit 0 and leave the server's .session counters (items,
#     versions, bytes, received) and the bytes the paths acknowledged as
#     they were;
#  2. then `echo x >> f` still appends exactly one line: the server's f is
#     the local model, bit for bit, stored as one more version (before,
#     bash's close of its first descriptor stored an empty append too);
#  3. delivery=async: the same opens spool nothing (no copy up of the
#     64 MiB): once the spool is empty the counters are as they were.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=appends.sh
source "$LIB_DIR/appends.sh"

need_space 300
PORT=$(free_port)

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=noop
CLI=$T/cli
deliver_f noop
ASYNC=no

# counters: the server's .session counters and the bytes acknowledged.
counters() {
	local k
	for k in items versions bytes received; do
		printf '%s=%s ' "$k" "$(session_field "$SESS/.session" "$k")"
	done
	printf 'acked=%s\n' "$(acked_total "$CLI")"
}
C0=$(counters)
echo "   before: $C0"

# noop WHAT CMD...: CMD opens f for writing and writes nothing.
noop() {
	local what=$1
	shift
	check "$what exits 0" run_t 60 bash -c "$*"
	[[ $ASYNC == yes ]] && check "$what: the spool is empty" wait_spool_empty "$CLI" 120
	assert_eq "$C0" "$(counters)" "$what: the server's counters"
	check "$what: the server's f is unchanged" cmp "$T/model" "$SESS/f"
}
noop ": >> f" ": >>'$CLI/f'"
noop "exec 3>>f; exec 3>&-" "exec 3>>'$CLI/f'; exec 3>&-"
noop "true >> f" "true >>'$CLI/f'"
noop "touch f" "touch '$CLI/f'"
check "the outbox shows the stored size" \
	test "$(stat -c %s "$CLI/f")" -eq "$SIZE"

versions=$(session_field "$SESS/.session" versions)
check "echo x >> f exits 0" run_t 60 bash -c "echo x >>'$CLI/f'"
echo x >>"$T/model"
check "echo x >> f: the server's f is the model, bit for bit" \
	cmp "$T/model" "$SESS/f"
assert_eq $((versions + 1)) "$(session_field "$SESS/.session" versions)" \
	"echo x >> f: stored as one more version"

note "delivery=async"
stop_daemon client
start_client async "$T/cli2" label=noopa delivery=async "spool=$T/spool"
CLI=$T/cli2
check "cp of the file into the async outbox" run_t 120 cp "$T/model" "$CLI/f"
check "the spool drains" wait_spool_empty "$CLI" 120
SESS=$(session_for_label "$T/srv" noopa) || fail "no session for label noopa"
check "the server has it" cmp "$T/model" "$SESS/f"
C0=$(counters)
echo "   before: $C0"
ASYNC=yes
noop ": >> f (async)" ": >>'$CLI/f'"
noop "exec 3>>f; exec 3>&- (async)" "exec 3>>'$CLI/f'; exec 3>&-"
finish
