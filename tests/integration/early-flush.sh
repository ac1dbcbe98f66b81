#!/usr/bin/env bash
# early-flush.sh: early flushes of large files (braidfs/flusher.h), in
# braidfsd's store and in the client's spool.
# - small files are never flushed early (their commit syncs them);
# - a large file is, while it arrives (/.metrics counts it), and arrives
#   bit-exact;
# - under delivery=async, a large file is flushed in the spool while cp
#   writes it (.braidfs/spool counts it), and arrives bit-exact;
# - the server killed (-9) while a large file, already flushed early, is
#   half there, then started again: the file completes bit-exact;
# - the server stops cleanly with a large item half there.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" paths=2
flushes() { sed -n 's/^braidfsd_early_flushes_total \([0-9]*\)$/\1/p' "$T/srv/.metrics"; }
flushes_over() { (($(flushes) > $1)); }
assert_eq 0 "$(flushes)" "no early flush before any file"

note "small files: none"
mkdir -p "$T/src"
for i in 1 2 3 4 5; do head -c $((1 << 20)) /dev/urandom >"$T/src/s$i"; done
check "cp of 5 files of 1 MiB" run_t 60 cp "$T/src/s1" "$T/src/s2" "$T/src/s3" "$T/src/s4" "$T/src/s5" "$T/cli/"
SESS=$(session_for_label "$T/srv")
assert_eq 0 "$(flushes)" "no early flush of small files"

note "a large file: flushed while it arrives"
# 64 MiB per flush (BF_FLUSH_STEP): 160 MiB makes room for two.
head -c $((160 << 20)) /dev/urandom >"$T/src/big"
check "cp of 160 MiB" run_t 300 cp "$T/src/big" "$T/cli/"
check "arrived bit-exact" cmp "$T/src/big" "$SESS/big"
F=$(flushes)
check "flushed early at least once ($F)" flushes_over 0

note "delivery=async: the spool flushes a large file while cp writes it"
start_client async "$T/acli" paths=2 delivery=async "spool=$T/spool" label=async
spool_flushes() { spool_field "$T/acli" early_flushes; }
assert_eq 0 "$(spool_flushes)" "the spool: no early flush before any file"
check "cp of 5 files of 1 MiB (async)" run_t 60 cp "$T/src/s1" "$T/src/s2" "$T/src/s3" "$T/src/s4" "$T/src/s5" "$T/acli/"
assert_eq 0 "$(spool_flushes)" "the spool: no early flush of small files"
check "cp of 160 MiB (async)" run_t 300 cp "$T/src/big" "$T/acli/"
check "the spool flushed it early at least once ($(spool_flushes))" test "$(spool_flushes)" -gt 0
check "the spool drains" wait_spool_empty "$T/acli" 300
check "async: arrived bit-exact" cmp "$T/src/big" "$(session_for_label "$T/srv" async)/big"
stop_daemon async

# across_restart NAME STOP: a large file NAME held half written (80 MiB:
# the server flushes it once its prefix passes 64 MiB), the server ended
# by STOP (kill_daemon or stop_daemon) and started again, then the rest.
across_restart() {
	local name=$1 stop=$2 f writer
	f=$(flushes)
	rm -rf "$T/ctl" && mkdir -p "$T/ctl"
	bg bash -c "exec python3 '$LIB_DIR/writer.py' '$T/cli/$name' '$T/src/big' --parts 2 '$T/ctl' >'$T/$name.out'"
	writer=$BG_LAST
	wait_until 120 "half of $name written" test -e "$T/ctl/written.1" || fail "writer stuck"
	check "flushed early while $name is half there" wait_until 120 "an early flush of $name" flushes_over "$f"
	"$stop" server
	start_server server "$T/srv" "$T/store"
	touch "$T/ctl/go.1"
	check "$name: the writer ends" wait_exit "$writer" "$(tmo 300)"
	assert_eq "write:OK close:OK" "$(cat "$T/$name.out")" "$name: write and close(2) succeed"
	check "$name arrived bit-exact after the restart" cmp "$T/src/big" "$(session_for_label "$T/srv")/$name"
}

note "the server killed (-9) with a large file half there, flushed early"
across_restart held kill_daemon
note "the server stopped with a large item half there, flushed early"
across_restart stopped stop_daemon
finish
