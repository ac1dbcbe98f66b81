#!/usr/bin/env bash
# two-clients.sh: two client mounts (different labels, different path counts
# and schedulers) on one server, copying different trees at the same time.
# Both trees hold files at the same relative paths with different contents,
# so any mixing between sessions shows up in diff -r.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 600
PORT=$(free_port)
LABEL_A="alpha one/1"  # -> alpha_one_1
LABEL_B="beta-2"       # -> beta_2

SA=$T/src-a
SB=$T/src-b
make_tree "$SA" 5 5 8 30000 101
make_tree "$SB" 4 6 10 30000 202
head -c $((48 << 20)) /dev/urandom >"$SA/big.bin"
head -c $((40 << 20)) /dev/urandom >"$SB/big.bin"
printf 'I am A\n' >"$SA/common.txt"
printf 'I am B, longer\n' >"$SB/common.txt"
mkdir -p "$SA/only-a" "$SB/only-b"
printf 'a\n' >"$SA/only-a/file"
printf 'b\n' >"$SB/only-b/file"

start_server server "$T/srv" "$T/store"
start_client client-a "$T/cli-a" paths=4 scheduler=dynamic "label=$LABEL_A"
start_client client-b "$T/cli-b" paths=2 scheduler=rr chunk_size=256K "label=$LABEL_B"

note "copying both trees concurrently"
t0=$(now)
bg run_t 240 cp -r "$SA/." "$T/cli-a/"
pid_a=$BG_LAST
bg run_t 240 cp -r "$SB/." "$T/cli-b/"
pid_b=$BG_LAST
rc_a=0
rc_b=0
wait "$pid_a" || rc_a=$?
wait "$pid_b" || rc_b=$?
note "both copies done in $(elapsed "$t0") s"
assert_eq 0 "$rc_a" "cp -r into client A exits 0"
assert_eq 0 "$rc_b" "cp -r into client B exits 0"

sessions=$(session_dirs "$T/srv")
printf '   sessions: %s\n' "$(tr '\n' ' ' <<<"$sessions")"
assert_eq 2 "$(grep -c . <<<"$sessions" || true)" "exactly two session directories"
DA=$(session_for_label "$T/srv" "$LABEL_A") || fail "no session for label '$LABEL_A'"
DB=$(session_for_label "$T/srv" "$LABEL_B") || fail "no session for label '$LABEL_B'"
check "client A's session is named ...-$(sanitize_label "$LABEL_A")-SHORTID" \
	grep -qE "$(session_re "$LABEL_A")" <<<"$(basename "$DA")"
check "client B's session is named ...-$(sanitize_label "$LABEL_B")-SHORTID" \
	grep -qE "$(session_re "$LABEL_B")" <<<"$(basename "$DB")"
check "session A equals tree A (diff -r)" diff_trees "$SA" "$DA"
check "session B equals tree B (diff -r)" diff_trees "$SB" "$DB"
check "cmp big.bin A" cmp "$SA/big.bin" "$DA/big.bin"
check "cmp big.bin B" cmp "$SB/big.bin" "$DB/big.bin"
assert_eq "I am A" "$(cat "$DA/common.txt" 2>&1)" "A's common.txt is A's"
assert_eq "I am B, longer" "$(cat "$DB/common.txt" 2>&1)" "B's common.txt is B's"
check "client A mount lists tree A" compare_listings "$SA" "$T/cli-a"
check "client B mount lists tree B" compare_listings "$SB" "$T/cli-b"
check_session_file "$DA" "$LABEL_A" 4 "$(count_files "$SA")" "$(sum_bytes "$SA")"
check_session_file "$DB" "$LABEL_B" 2 "$(count_files "$SB")" "$(sum_bytes "$SB")"
idA=$(session_field "$DA/.session" id || true)
idB=$(session_field "$DB/.session" id || true)
check "the two sessions have different ids" test "$idA" != "$idB"

finish
