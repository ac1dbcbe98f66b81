#!/usr/bin/env bash
# log-journal.sh: braidfsd's log under systemd. The script runs in a
# private mount namespace with a tmpfs on /run, where journal_sink.py
# stands in for journald (its entry socket and its stream socket):
#  - detached (no -f), braidfsd sends a warning (a peer that is not
#    braidfs) to the journal as one entry: the text as MESSAGE, PRIORITY=4,
#    SYSLOG_IDENTIFIER, GLIB_DOMAIN, BRAIDFS_MODULE and CODE_FILE; its
#    start-up line went to stderr before it detached, nothing after;
#  - with -f and stderr connected to the journal's stream (how a unit's
#    stderr is), it sends entries, not text lines, from the start;
#  - braidfs (the client) under the journal's stream too: its lines about
#    the session, a path or a file carry SESSION= (the session id's first 8
#    hex digits), PEER= (the server or the path's address) and PATH= (the
#    file) as fields of their own.

if [[ -z ${BF_LOG_JOURNAL_NS:-} ]]; then
	if ! unshare --mount --propagation private true 2>/dev/null; then
		echo "SKIP: log-journal: cannot make a mount namespace (unshare)"
		exit 77
	fi
	exec unshare --mount --propagation private env BF_LOG_JOURNAL_NS=1 bash "$0" "$@"
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mount -t tmpfs -o mode=755 tmpfs /run || skip "cannot mount a tmpfs on /run"
J=/run/systemd/journal
bg python3 "$LIB_DIR/journal_sink.py" listen "$J" "$T/entries.jsonl" "$T/stream.log"
wait_until 10 "the journal stand-in" test -e "$J/ready" || fail "journal_sink.py did not start"

# entry_with TEXT: the first journal entry whose MESSAGE contains TEXT, as
# KEY=VALUE lines (nothing if there is none yet)
entry_with() {
	python3 - "$T/entries.jsonl" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if sys.argv[2] in e.get("MESSAGE", ""):
        for k, v in sorted(e.items()):
            print(f"{k}={v}")
        break
PY
}
has_entry() { [[ -n $(entry_with "$1") ]]; }
lacks() { ! grep -qF -- "$1" "$2"; }

# poke PORT WORD: a connection that is not braidfs, whose first bytes the
# server's warning quotes (seven of them)
poke() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$1"
	printf '%s' "$2" >&"$fd"
	exec {fd}>&-
}

# entry_has ENTRY DESC KEY=VALUE...: each line is in the entry
entry_has() {
	local entry=$1 desc=$2 kv
	shift 2
	for kv in "$@"; do
		check "$desc: $kv" grep -qxF -- "$kv" <<<"$entry"
	done
}

PORT=$(free_port)
mkdir -p "$T/srv" "$T/store"

note "braidfsd detached: the journal gets its warnings as entries"
run_t 30 "$BRAIDFSD" "$T/srv" -o "listen=127.0.0.1:$PORT,store=$T/store" \
	</dev/null >"$T/logs/detached.log" 2>&1
adopt_daemon detached server "$T/srv" "$T/logs/detached.log" || fail "no detached braidfsd"
poke "$PORT" "phase1-GET / HTTP/1.0"
check "the warning reaches the journal" \
	wait_until 20 "an entry for phase1" has_entry 'preface "phase1-'
E=$(entry_with 'preface "phase1-')
echo "${E//$'\n'/ | }"
entry_has "$E" "the entry" PRIORITY=4 SYSLOG_IDENTIFIER=braidfsd \
	GLIB_DOMAIN=braidfsd BRAIDFS_MODULE=handshake
check "the entry's CODE_FILE is handshake.c" grep -qE '^CODE_FILE=.*/handshake\.c$' <<<"$E"
check "the entry names the peer in PEER" grep -qE '^PEER=127\.0\.0\.1:[0-9]+$' <<<"$E"
check "the entry's MESSAGE is the warning's text" \
	grep -qE '^MESSAGE=dropping connection from 127\.0\.0\.1:[0-9]+: not a braidfs peer' <<<"$E"
check "before detaching, the start-up line went to stderr with its level" \
	grep -qE '^braidfsd: notice: store .* listening on 127\.0\.0\.1' "$T/logs/detached.log"
check "after detaching, nothing went to stderr" lacks phase1 "$T/logs/detached.log"
stop_daemon detached

note "braidfsd -f with stderr on the journal's stream: entries, not lines"
start_daemon unit server "$T/srv" python3 "$LIB_DIR/journal_sink.py" stderr-to \
	"$J/stdout" -- "$BRAIDFSD" "$T/srv" -o "listen=127.0.0.1:$PORT,store=$T/store" -f
wait_listening unit "127.0.0.1:$PORT"
poke "$PORT" "phase2-GET / HTTP/1.0"
check "the warning reaches the journal" \
	wait_until 20 "an entry for phase2" has_entry 'preface "phase2-'
E=$(entry_with 'preface "phase2-')
entry_has "$E" "the entry" PRIORITY=4 SYSLOG_IDENTIFIER=braidfsd BRAIDFS_MODULE=handshake
S=$(entry_with 'sessions; listening on')
check "the start-up line is an entry too" test -n "$S"
entry_has "$S" "the start-up entry" PRIORITY=5 BRAIDFS_MODULE=main
check "no text line of the warning on the stream" lacks phase2 "$T/stream.log"
check "no text line of the warning in the log" lacks phase2 "$(daemon_log unit)"
stop_daemon unit

note "braidfs -f with stderr on the journal's stream: fields of its lines"
PORT=$(free_port)
start_server server "$T/srv2" "$T/store2" max_item_size=1M
mkdir -p "$T/cli"
start_daemon client client "$T/cli" python3 "$LIB_DIR/journal_sink.py" stderr-to \
	"$J/stdout" -- "$BRAIDFS" "127.0.0.1:$PORT" "$T/cli" -o paths=2 -f
check "the session's first line is an entry" \
	wait_until 20 "the session entry" has_entry "with 127.0.0.1:$PORT: 2 paths"
E=$(entry_with "with 127.0.0.1:$PORT: 2 paths")
SID=$(sed -n 's/^MESSAGE=session \([0-9a-f]\{8\}\) with .*/\1/p' <<<"$E")
check "it names the session" test -n "$SID"
entry_has "$E" "the session entry" PRIORITY=5 SYSLOG_IDENTIFIER=braidfs \
	GLIB_DOMAIN=braidfs BRAIDFS_MODULE=session "SESSION=$SID" "PEER=127.0.0.1:$PORT"
head -c $((2 << 20)) /dev/zero >"$T/big.bin"
check "a file over the server's max_item_size fails" bash -c '! cp "$1" "$2"' _ "$T/big.bin" "$T/cli/big.bin"
check "its failure reaches the journal" \
	wait_until 20 "the refusal" has_entry "did not store 'big.bin'"
E=$(entry_with "did not store 'big.bin'")
entry_has "$E" "the file's entry" PRIORITY=4 BRAIDFS_MODULE=writer "SESSION=$SID" \
	"PEER=127.0.0.1:$PORT" PATH=big.bin
stop_daemon server
check "a path lost reaches the journal" wait_until 20 "a lost path" has_entry ") lost: "
E=$(entry_with ") lost: ")
entry_has "$E" "the path's entry" PRIORITY=4 BRAIDFS_MODULE=paths "SESSION=$SID" \
	"PEER=127.0.0.1:$PORT"
stop_daemon client

finish
