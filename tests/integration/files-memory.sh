#!/usr/bin/env bash
# files-memory.sh: what the client keeps per delivered file (braidfs(1),
# memory): a delivered file costs its node in the outbox's tree (about
# 250 bytes and its name; under delivery=async its digest state too, some
# 250 bytes, so that an append is taken while no server answers) and
# libfuse's node while the kernel caches it (about 160 bytes); not its
# version, item, chunks or spool record.
#  1. delivery=close: BRAIDFS_TEST_FILES (10000) files of 4 KiB in 10
#     directories, copied in once (the allocator's and libfuse's tables
#     warm up), then the same again into a second directory: the client's
#     VmRSS grows by at most 600 bytes per file over the second copy
#     (measured 416-441, 537 at a load average near 20). Before, each
#     file kept its delivered version (item and digest states) until its
#     name was looked up again: 679-684 bytes per file. status.json's
#     tree.unsettled (files that may still hold a version) is at most one
#     directory's files.
#  2. delivery=async, the same, each directory waited for until the spool
#     is empty: tree.unsettled is at most one directory's files (before,
#     every file kept its version: 20000). Its VmRSS growth is printed,
#     not checked: with the spool's queue it varies with the machine's
#     load (390-1060 bytes per file measured; before 860-1030).
# The daemon runs with MALLOC_ARENA_MAX=1: with one arena its RSS follows
# what it holds, not which of its threads happened to free what. Nothing
# waits on time: each step waits for its copy, or the spool's counts.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FILES=${BRAIDFS_TEST_FILES:-10000}
CLOSE_MAX=600
DIRS=10
if grep -qa -e __asan_init -e __ubsan_handle "$BRAIDFS"; then
	# The sanitizer's allocator keeps freed memory in quarantine and
	# pads every block: only that nothing breaks is checked there.
	CLOSE_MAX=100000
	FILES=${BRAIDFS_TEST_FILES:-2000}
	note "sanitizer build: $FILES files, no bound on the bytes per file"
fi
need_space $((FILES * 12 / 1024 + 100))
PORT=$(free_port)

mkdir -p "$T/src"
python3 - "$T/src" "$FILES" "$DIRS" <<'EOF'
import os, sys
root, n, nd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    os.makedirs(os.path.join(root, f"d{d}"), exist_ok=True)
for i in range(n):
    with open(os.path.join(root, f"d{i % nd}", f"f{i}"), "wb") as f:
        f.write(os.urandom(4096))
EOF

start_server server "$T/srv" "$T/store"
export MALLOC_ARENA_MAX=1

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# unsettled MNT: status.json's tree.unsettled
unsettled() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tree"]["unsettled"])' \
		"$1/.braidfs/status.json"
}

# copy_in MNT DEST ASYNC: the source tree into MNT/DEST, one directory at a
# time; under delivery=async each is waited for until delivered.
copy_in() {
	local d
	mkdir "$1/$2"
	for ((d = 0; d < DIRS; d++)); do
		run_t 600 cp -r "$T/src/d$d" "$1/$2/" || return 1
		if [[ $3 == yes ]]; then wait_spool_empty "$1" 600 || return 1; fi
	done
}

# round NAME ASYNC MAX [options...]: at most MAX bytes per file (0: not
# checked)
round() {
	local name=$1 async=$2 max=$3 pid before after grown held
	shift 3
	start_client "$name" "$T/$name" label="$name" "$@"
	pid=$(daemon_pid "$name")
	check "$name: $FILES files copied in (warm-up)" copy_in "$T/$name" a "$async"
	before=$(rss_kib "$pid")
	check "$name: $FILES more files copied in" copy_in "$T/$name" b "$async"
	after=$(rss_kib "$pid")
	grown=$(((after - before) * 1024 / FILES))
	note "$name: VmRSS $before KiB, then $after KiB: $grown bytes per file"
	if ((max > 0)); then
		assert_le "$grown" "$max" "$name: the client's memory per delivered file (bytes)"
	fi
	held=$(unsettled "$T/$name" 2>/dev/null) || held=none
	check "$name: status.json has tree.unsettled" test "$held" != none
	[[ $held == none ]] || assert_le "$held" $((FILES / DIRS + 16)) \
		"$name: files that may still hold a version (status.json tree.unsettled)"
	SESS=$(session_for_label "$T/srv" "$name") || fail "no session for label $name"
	check "$name: the server holds all $((2 * FILES)) files" \
		test "$(count_files "$SESS")" -eq $((2 * FILES))
	check "$name: a sample of them bit-exact" \
		cmp "$T/src/d3/f3" "$SESS/b/d3/f3"
	stop_daemon "$name"
}

note "1. delivery=close"
round close no "$CLOSE_MAX"
note "2. delivery=async"
round async yes 0 delivery=async "spool=$T/spool"

finish
