#!/usr/bin/env bash
# rss.sh: bounded memory. cp of a 2 GiB random file (BRAIDFS_TEST_RSS_MIB)
# through the client mount; the peak RSS (VmHWM) of both daemons stays
# under 64 MiB (BRAIDFS_TEST_RSS_LIMIT_MIB; 256 MiB for sanitizer builds,
# whose shadow memory alone is larger); the server's copy equals the source
# (cmp through the server mount, whose reads must stay bounded too).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MIB=${BRAIDFS_TEST_RSS_MIB:-2048}
LIMIT=${BRAIDFS_TEST_RSS_LIMIT_MIB:-64}
if grep -qa -e __asan_init -e __ubsan_handle "$BRAIDFS" "$BRAIDFSD"; then
	LIMIT=${BRAIDFS_TEST_RSS_LIMIT_MIB:-256}
	note "sanitizer build detected: RSS limit raised to $LIMIT MiB"
fi
need_space $((MIB * 3 + 200))
PORT=$(free_port)

t0=$(now)
dd if=/dev/urandom of="$T/big.bin" bs=1M count="$MIB" status=none
note "generated $MIB MiB in $(elapsed "$t0") s"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=rss
CPID=$(daemon_pid client)
SPID=$(daemon_pid server)

hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
echo "   before: client VmHWM $(hwm_kib "$CPID") KiB, server VmHWM $(hwm_kib "$SPID") KiB"

t0=$(now)
check "cp of the $MIB MiB file" run_t 600 cp "$T/big.bin" "$T/cli/big.bin"
dt=$(elapsed "$t0")
note "cp $MIB MiB: $dt s, $(mb_per_s $((MIB << 20)) "$dt") MB/s"

ckib=$(hwm_kib "$CPID") || ckib=0
skib=$(hwm_kib "$SPID") || skib=0
printf 'client peak RSS: %d MiB, server peak RSS: %d MiB\n' $((ckib / 1024)) $((skib / 1024))
assert_le $((ckib / 1024)) "$LIMIT" "client peak RSS (MiB) within limit"
assert_le $((skib / 1024)) "$LIMIT" "server peak RSS (MiB) within limit"

SESS=$(session_for_label "$T/srv" rss) || fail "no session for label rss"
t0=$(now)
check "cmp of the $MIB MiB file on the server mount" run_t 300 cmp "$T/big.bin" "$SESS/big.bin"
note "cmp: $(elapsed "$t0") s"
skib=$(hwm_kib "$SPID") || skib=0
printf 'server peak RSS after reading the file back: %d MiB\n' $((skib / 1024))
assert_le $((skib / 1024)) "$LIMIT" "server peak RSS (MiB) within limit after the read-back"

finish
