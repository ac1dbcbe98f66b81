#!/usr/bin/env bash
# failover-mkdir-order.sh: under delivery=async a mkdir is posted at once
# (async-dirs.h) and the files written into the directory follow as items.
# If the control path is lost with all of them unanswered, the resync
# must send them again in the order they first went: the MKDIR before the
# files under it. A file stored first makes its directory itself (mode
# 0755): the MKDIR then finds it there (EEXIST, a success) and its mode
# (mkdir -m 700) is never applied.
#
# Three links; link 1 (the control path) is cut silently, then mkdir -m 700
# d and cp of 24 files into d return (the spool has them); their frames
# vanish on link 1 until the client finds the path stalled and resyncs on
# path 1. The server holds its first directory operation (test hook
# BRAIDFSD_HOLD_OP), saying how many files of the session it had open
# then: a client that resent the files first has them all open there, and
# they are stored while the MKDIR waits. The MKDIR must come first (no
# file open), d must end 0700, every file stored once, bit-exact.

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

N=24
PORT=$(free_port)
netns_setup 1gbit 1gbit 1gbit
mkdir "$T/src"
for ((i = 1; i <= N; i++)); do head -c $((i * 3000)) /dev/urandom >"$T/src/f$i"; done
mkfifo "$T/hold"
# release_hold: a writer opens the FIFO and closes it, if the server waits
# on it (nonblocking: ENXIO when nobody does); on every way out too
release_hold() {
	python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK))' \
		"$T/hold" 2>/dev/null || return 0
}
on_cleanup release_hold

BRAIDFSD_HOLD_OP=$T/hold ns_start_server server "$T/srv" "$T/store"
SLOG=$(daemon_log server)
mapfile -t PATHS < <(ns_path_opts "$PORT")
# stall=10: the mkdir and the cp are done well before path 0 is found dead
ns_start_client client "$T/cli" label=order delivery=async \
	"spool=$T/spool" stall=10 "${PATHS[@]}"
SESS=$(session_for_label "$T/srv" order) || fail "no session for label order"
all_up() { [[ $(status_cols "$T/cli" state | grep -c '^up$') -eq 3 ]]; }
check "the three paths are up" wait_until 30 "three paths up" all_up

ns_link_cut 1
check "mkdir -m 700 d returns" run_t 30 mkdir -m 700 "$T/cli/d"
check "cp of $N files into d returns" run_t 60 cp "$T/src/"f* "$T/cli/d/"

note "path 0 is found stalled; the server holds the first operation that reaches it"
held() { grep -q "test hook: holding the operation on 'd'" "$SLOG"; }
check "the MKDIR of d reaches the server (held)" wait_until 90 "the held MKDIR" held
open=$(sed -n "s/.*holding the operation on 'd' (\([0-9]*\) items open).*/\1/p" "$SLOG" | head -n 1)
if [[ $open != 0 ]]; then
	# What the old order does: those files are stored while it waits.
	stored_one() { compgen -G "$SESS/d/f*" >/dev/null; }
	wait_until 60 "a file of d stored before its MKDIR" stored_one || true
	printf '   stored while the MKDIR waited: %s\n' "$(find "$SESS/d" -type f 2>/dev/null | wc -l)"
fi
check "the hold is released" release_hold
assert_eq 0 "$open" "files of the session open on the server when the MKDIR came"

check "the spool drains" wait_spool_empty "$T/cli" 120
assert_eq 700 "$(stat -c %a "$SESS/d")" "d's mode on the server (mkdir -m 700)"
check "every file arrived bit-exact" diff -r "$T/src" "$SESS/d"
# STORE/.events: TIME SESSION PATH SIZE DIGEST, one line per stored file
d_events() { awk '$3 ~ /^d\/f[0-9]+$/ { print $3 }' "$T/store/.events"; }
assert_eq "$N" "$(d_events | wc -l)" "files of d stored (.events)"
assert_eq "$N" "$(d_events | sort -u | wc -l)" "... each once"
finish
