#!/usr/bin/env bash
# paths.sh: explicit paths (path=ADDR:PORT[@SRCADDR|%IFACE]) to two server
# addresses, the per-path status file in the outbox (.braidfs/paths, never
# listed) and the server's per-path lines in .session.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
head -c 48M /dev/urandom >"$T/f.bin"
size=$(stat -c %s "$T/f.bin")

SERVER_LISTEN="127.0.0.1:$PORT" start_server server "$T/srv" "$T/store" \
	"listen=127.0.0.2:$PORT"
start_client client "$T/cli" label=multi "path=127.0.0.1:$PORT" \
	"path=127.0.0.2:$PORT@127.0.0.1" "path=127.0.0.2:$PORT%lo" chunk_size=256K
CLI=$T/cli

check "cp over three explicit paths" run_t 120 cp "$T/f.bin" "$CLI/"
SESS=$(session_for_label "$T/srv" multi) || fail "no session for label multi"
check "arrived intact" cmp "$T/f.bin" "$SESS/f.bin"

# A CHUNK_ACK may be read after the STORED of another path that ended cp.
check "every chunk acknowledgement is read" wait_acked "$CLI" "$size" 30
status=$(cat "$CLI/.braidfs/paths" 2>&1) || fail "cannot read .braidfs/paths: $status"
printf '%s\n' "$status" | sed 's/^/   /'
# Chunks carried twice: tail copies (the file's last chunks, taken by an
# idle path when another would deliver them later: scheduler=dynamic)
# and resends; both copies may be acknowledged, and the server counts
# both. Each is one 256K chunk (the file is a multiple of it).
twice=$(status_cols "$CLI" duplicates resent | awk '{ n += $1 + $2 } END { print n + 0 }')
echo "   chunks carried twice: $twice"
assert_eq 3 "$(grep -c '^[0-9]' <<<"$status")" "one status line per path"
assert_eq "127.0.0.1:$PORT 127.0.0.2:$PORT 127.0.0.2:$PORT" \
	"$(awk '/^[0-9]/ { printf "%s%s", s, $2; s = " " }' <<<"$status")" "addresses in order"
assert_eq "- 127.0.0.1 %lo" \
	"$(awk '/^[0-9]/ { printf "%s%s", s, $3; s = " " }' <<<"$status")" "sources in order"
assert_eq "up up up" "$(awk '/^[0-9]/ { printf "%s%s", s, $4; s = " " }' <<<"$status")" \
	"every path is up"
# in_range N LOW HIGH
in_range() { (($1 >= $2 && $1 <= $3)); }
acked=$(awk '/^[0-9]/ { n += $5 } END { print n }' <<<"$status")
check "the paths' acknowledged bytes add up to the file and the $twice chunks carried twice ($acked)" \
	in_range "$acked" "$size" "$((size + twice * 262144))"
check "every path carried data" awk '/^[0-9]/ && $5 == 0 { exit 1 }' <<<"$status"

check "the status directory is not listed" bash -c "! ls -a '$CLI' | grep -q braidfs"
check "the status file cannot be written" bash -c "! echo x >'$CLI/.braidfs/paths'"
check "cp -r of the outbox's content does not copy it" bash -c \
	"mkdir '$T/copy' && ! cp -r '$CLI/.' '$T/copy/' 2>/dev/null; [[ ! -e '$T/copy/.braidfs' ]]"

sess=$(cat "$SESS/.session")
assert_eq 3 "$(grep -c '^path: ' <<<"$sess")" "the server's .session has a line per path"
assert_eq "127.0.0.1:$PORT 127.0.0.2:$PORT 127.0.0.2:$PORT" \
	"$(sed -n 's/^path: [0-9]* [^ ]* -> \([^ ]*\) .*/\1/p' <<<"$sess" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" \
	"the server saw the paths arrive at both of its addresses"
received=$(sed -n 's/^path: .* bytes=\([0-9]*\) .*/\1/p' <<<"$sess" | awk '{ n += $1 } END { print n }')
check "the server's per-path bytes add up to the file and the chunks carried twice ($received)" \
	in_range "$received" "$size" "$((size + twice * 262144))"

out=$(run_t 20 "$BRAIDFS" "127.0.0.1:$PORT" "$T/bad" -f -o "path=127.0.0.1:1@" 2>&1) && rc=0 || rc=$?
check "a malformed path= is refused" test "$rc" -ne 0
check "with a message naming it" grep -q 'path=127.0.0.1:1@' <<<"$out"

finish
