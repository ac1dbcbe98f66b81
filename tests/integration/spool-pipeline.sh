#!/usr/bin/env bash
# spool-pipeline.sh: delivery=async keeps many files in flight at once over
# two emulated WAN links (4 Mbit/s, 40 ms each way: 80 ms round trips), and
# a client killed with hundreds of them in flight loses none whose close(2)
# returned. Every wait is on an event (a count in .braidfs/spool, a file on
# the server), never on time.
#  1. With the server stopped (SIGSTOP), no file can be stored: the client
#     still sends files without waiting for each one's verdict, so the
#     spool's `sending` count climbs far beyond the eight files a
#     delivery took in turns before (it had eight workers, each waiting for
#     its file's STORED). Resumed, the server stores every file bit-exact.
#  2. 400 files of 16 KiB are copied in; once at least 50 are being sent
#     at once the client is killed with SIGKILL, remounted on the same
#     spool, and every one of the 400 ends up on the server bit-exact.
#
# BRAIDFS_TEST_PIPE_WAN sets the links (default 4mbit:40ms).

# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

WAN=${BRAIDFS_TEST_PIPE_WAN:-4mbit:40ms}
PORT=$(free_port)
SP=$T/spool
netns_setup_wan "$WAN" "$WAN"
ns_start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)
mapfile -t PATHS < <(ns_path_opts "$PORT")
ns_start_client c1 "$T/cli" label=pipe "spool=$SP" "${PATHS[@]}"

# spool_at_least KEY N: .braidfs/spool's KEY is at least N
spool_at_least() {
	awk -v k="$1" -v n="$2" '$1 == k && $2 >= n { f = 1 } END { exit !f }' \
		"$T/cli/.braidfs/spool" 2>/dev/null
}
# same_files DIR N PREFIX: files PREFIX1..PREFIXN of $T/src are in DIR, equal
same_files() {
	local i
	for ((i = 1; i <= $2; i++)); do
		cmp -s "$T/src/$3$i" "$1/$3$i" || return 1
	done
}

mkdir -p "$T/src"
for ((i = 1; i <= 200; i++)); do head -c 4096 /dev/urandom >"$T/src/a$i"; done
for ((i = 1; i <= 400; i++)); do head -c 16384 /dev/urandom >"$T/src/b$i"; done

note "1. 200 files of 4 KiB while the server is stopped"
kill -STOP "$SPID"
on_cleanup kill -CONT "$SPID"
for ((i = 1; i <= 200; i++)); do cp "$T/src/a$i" "$T/cli/"; done
check "more than 8 files are sent at once, none stored yet (pipelined)" \
	wait_until 60 "100 files being sent" spool_at_least sending 100
sed 's/^/   | /' "$T/cli/.braidfs/spool"
kill -CONT "$SPID"
check "all 200 delivered once the server runs again" wait_spool_empty "$T/cli" 120
SESS=$(session_for_label "$T/srv" pipe) || fail "no session for label pipe"
check "all 200 arrived bit-exact" same_files "$SESS" 200 a

note "2. 400 files of 16 KiB; the client is killed with many in flight"
for ((i = 1; i <= 400; i++)); do
	cp "$T/src/b$i" "$T/cli/" || fail "cp of b$i failed"
done
# every cp returned: each of these files must reach the server
check "at least 50 files in flight at once" \
	wait_until 60 "50 files being sent" spool_at_least sending 50
sed 's/^/   | /' "$T/cli/.braidfs/spool"
kill_daemon c1 KILL
ns_start_client c2 "$T/cli" label=pipe "spool=$SP" "${PATHS[@]}"
check "the remount delivers what was left" wait_spool_empty "$T/cli" 180
SESS=$(session_for_label "$T/srv" pipe) || fail "no session for label pipe"
check "all 400 arrived bit-exact" same_files "$SESS" 400 b
check "and the first 200 are still there" same_files "$SESS" 200 a
n=$(find "$SESS" -maxdepth 1 -type f -name 'b*' | wc -l)
assert_eq 400 "$n" "400 files b* on the server, no more"
finish
