#!/usr/bin/env bash
# basic.sh [paths=N] [scheduler=dynamic|rr] [chunk_size=SIZE]
#
# One client, one server. Into the client mount: 0 B, 1 B, chunk_size,
# chunk_size+1 and a big random file (256 MiB, BRAIDFS_TEST_BIG_MIB), a tree of
# 1,000 small files, UTF-8 names and names with spaces, an empty directory
# made with mkdir -p, a file made by shell redirection and a tar -x. Then the
# server's one session directory must equal the source byte for byte.
# Parameters come from the arguments or from PATHS, SCHEDULER, CHUNK_SIZE.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NPATHS=${PATHS:-4}
SCHED=${SCHEDULER:-dynamic}
CHUNK=${CHUNK_SIZE:-1M}
for a in "$@"; do
	case $a in
	paths=*) NPATHS=${a#*=} ;;
	scheduler=*) SCHED=${a#*=} ;;
	chunk_size=*) CHUNK=${a#*=} ;;
	*) fail "unknown argument '$a' (want paths=N scheduler=S chunk_size=C)" ;;
	esac
done
CHUNK_BYTES=$(to_bytes "$CHUNK")
BIG_MIB=${BRAIDFS_TEST_BIG_MIB:-256}
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
LABEL="basic.p${NPATHS}.${SCHED}.${CHUNK}"
note "paths=$NPATHS scheduler=$SCHED chunk_size=$CHUNK ($CHUNK_BYTES B) big=$BIG_MIB MiB label=$LABEL"

need_space $((BIG_MIB * 3 + 300))
PORT=$(free_port)

# ---- source tree: exactly what the session directory must contain
SRC=$T/src
mkdir -p "$SRC"
: >"$SRC/empty"
printf 'x' >"$SRC/one"
head -c "$CHUNK_BYTES" /dev/urandom >"$SRC/chunk"
head -c $((CHUNK_BYTES + 1)) /dev/urandom >"$SRC/chunk+1"
t0=$(now)
head -c "$BIG_BYTES" /dev/urandom >"$SRC/big.bin"
note "generated $BIG_MIB MiB in $(elapsed "$t0") s"
make_tree "$SRC/tree" 10 10 10 20000 "$NPATHS$CHUNK_BYTES"
printf 'résumé final\n' >"$SRC/résumé final.txt"
mkdir -p "$SRC/日本語" "$SRC/a b"
head -c 3001 /dev/urandom >"$SRC/日本語/ファイル 1.bin"
printf 'c d\n' >"$SRC/a b/c d"
mkdir -p "$SRC/empty dir/sub dir"
printf 'hi\n' >"$SRC/x"
make_tree "$SRC/untarred" 2 2 3 5000 7

# ---- daemons
start_server server "$T/srv" "$T/store"
start_client client "$T/cli" "paths=$NPATHS" "scheduler=$SCHED" "chunk_size=$CHUNK" "label=$LABEL"
CLI=$T/cli
SRV=$T/srv

# ---- copy
check "cp of 0 B, 1 B, chunk_size, chunk_size+1 files" \
	run_t 60 cp "$SRC/empty" "$SRC/one" "$SRC/chunk" "$SRC/chunk+1" "$CLI/"
t0=$(now)
check "cp of the $BIG_MIB MiB file" run_t 240 cp "$SRC/big.bin" "$CLI/big.bin"
dt=$(elapsed "$t0")
note "cp $BIG_MIB MiB: $dt s, $(mb_per_s "$BIG_BYTES" "$dt") MB/s"
t0=$(now)
check "cp -r of 1,000 small files in 100 directories" run_t 120 cp -r "$SRC/tree" "$CLI/"
note "cp -r tree: $(elapsed "$t0") s"
check "cp of 'résumé final.txt'" run_t 30 cp "$SRC/résumé final.txt" "$CLI/"
check "cp -r of '日本語' and 'a b'" run_t 30 cp -r "$SRC/日本語" "$SRC/a b" "$CLI/"
check "mkdir -p of an empty directory" mkdir -p "$CLI/empty dir/sub dir"
check "shell redirection (echo hi > x)" eval 'echo hi >"$CLI/x"'
check "tar -x into the client mount" \
	run_t 60 bash -c 'set -o pipefail; tar -C "$1" -cf - untarred | tar -C "$2" -xf - --no-same-owner --no-same-permissions' \
	_ "$SRC" "$CLI"

# ---- client side view
check "client mount lists every file and directory with its size" compare_listings "$SRC" "$CLI"
big_ls=$(ls -ln "$CLI/big.bin" | awk '{ print $5 }') || big_ls='?'
assert_eq "$BIG_BYTES" "$big_ls" "ls -l shows the size of big.bin on the client mount"

# ---- server side
sessions=$(session_dirs "$SRV")
printf '   sessions: %s\n' "$(tr '\n' ' ' <<<"$sessions")"
assert_eq 1 "$(grep -c . <<<"$sessions" || true)" "exactly one session directory"
SESS=$(session_for_label "$SRV" "$LABEL") || fail "no session directory for label $LABEL"
check "session directory name is YYYYMMDD-HHMMSS-$(sanitize_label "$LABEL")-SHORTID" \
	grep -qE "$(session_re "$LABEL")" <<<"$(basename "$SESS")"
check "diff -r source vs server session directory" diff_trees "$SRC" "$SESS"
for f in empty one chunk chunk+1 big.bin; do
	check "cmp $f" cmp -- "$SRC/$f" "$SESS/$f"
done
assert_eq "hi" "$(cat "$SESS/x" 2>&1)" "cat on the server mount"
check "server lists the same names, types and sizes" compare_listings "$SRC" "$SESS"
check_session_file "$SESS" "$LABEL" "$NPATHS" "$(count_files "$SRC")" "$(sum_bytes "$SRC")"

finish
