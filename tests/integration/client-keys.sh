#!/usr/bin/env bash
# client-keys.sh: braidfsd client_keys=DIR, one key per client (issue 12.5).
#  1. alice and bob, each with a key of their own, copy files: each gets a
#     session of its own, named after it (directory name, .session's
#     client:), and both arrive bit-exact
#  2. keyed-peer: a session made with alice's key does not take an ATTACH
#     with its id and token keyed with bob's key (WELCOME AUTH), and takes
#     it keyed with alice's (the control); the server log says why
#  3. a key that is not in the directory is refused (ERROR AUTH)
#  4. bob's key file replaced in place (the directory unchanged): bob's next
#     handshake is refused with a message saying so; bob's key file
#     removed: refused; alice is still let in, and her live mount delivers
#  5. an unsafe directory (group-writable) stops braidfsd at start-up with
#     a message naming it

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x ${KEYED_PEER:-} ]] || fail "KEYED_PEER is not set to the keyed-peer helper (meson sets it)"
PORT=$(free_port)
KEYS=$T/keys
mkdir -m 700 "$KEYS"
"$BRAIDFS" keygen "$KEYS/alice" >/dev/null
"$BRAIDFS" keygen "$KEYS/bob" >/dev/null
"$BRAIDFS" keygen "$T/stranger" >/dev/null
cp -p "$KEYS/alice" "$T/alice.key"
cp -p "$KEYS/bob" "$T/bob.key"

note "1. two clients, two keys"
start_server server "$T/srv" "$T/store" "client_keys=$KEYS"
SLOG=$(daemon_log server)
start_client alice "$T/cli-a" label=a "key_file=$T/alice.key"
start_client bob "$T/cli-b" label=b "key_file=$T/bob.key"
head -c 300000 /dev/urandom >"$T/fa"
head -c 200000 /dev/urandom >"$T/fb"
check "alice copies a file" cp "$T/fa" "$T/cli-a/fa"
check "bob copies a file" cp "$T/fb" "$T/cli-b/fb"
echo "   sessions: $(session_dirs "$T/srv" | tr '\n' ' ')"
# DATE-TIME-CLIENT-LABEL-ID
SA=$T/srv/$(session_dirs "$T/srv" | grep -E '^[0-9]{8}-[0-9]{6}-alice-a-[0-9a-f]{8}$' || true)
SB=$T/srv/$(session_dirs "$T/srv" | grep -E '^[0-9]{8}-[0-9]{6}-bob-b-[0-9a-f]{8}$' || true)
check "alice's session directory is named after her" test -d "$SA" -a "$SA" != "$T/srv/"
check "bob's session directory is named after him" test -d "$SB" -a "$SB" != "$T/srv/"
check "alice's .session says client: alice" grep -qx "client: alice" "$SA/.session"
check "bob's .session says client: bob" grep -qx "client: bob" "$SB/.session"
check "fa arrived bit-exact" cmp "$T/fa" "$SA/fa"
check "fb arrived bit-exact" cmp "$T/fb" "$SB/fb"

note "2. bob's key does not attach to alice's session, even with its token"
run_t 30 "$KEYED_PEER" 127.0.0.1 "$PORT" "$T/alice.key" steal-session "$T/bob.key" \
	>"$T/steal.out" 2>&1 && rc=0 || rc=$?
sed 's/^/   | /' "$T/steal.out"
assert_eq 0 "$rc" "keyed-peer steal-session: answered as the spec says"
check "the ATTACH with bob's key was refused (WELCOME AUTH)" \
	grep -qP '^PASS\tsteal-session\tATTACH with another client.s key.*WELCOME authentication failed' "$T/steal.out"
check "the same ATTACH with alice's key was taken" \
	grep -qP '^PASS\tsteal-session\tthe same ATTACH with the owner.s key: WELCOME ok' "$T/steal.out"
check "the server log says whose session it was" \
	grep -q "key of client 'bob' presented the token of session .* which belongs to client 'alice'" "$SLOG"

note "3. a key the server does not hold"
run_t 30 "$KEYED_PEER" 127.0.0.1 "$PORT" "$T/stranger" wrong-key >"$T/stranger.out" 2>&1 && rc=0 || rc=$?
sed 's/^/   | /' "$T/stranger.out"
assert_eq 0 "$rc" "a stranger's key is refused with ERROR AUTH"
check "... saying it matches no client key" grep -q "any client key" "$T/stranger.out"

note "4. bob's key replaced, then removed"
stop_daemon bob
"$BRAIDFS" keygen "$T/newbob" >/dev/null
# in place: the directory's mtime does not change, the file's content does
cat "$T/newbob" >"$KEYS/bob"
run_t 30 "$KEYED_PEER" 127.0.0.1 "$PORT" "$T/bob.key" good >"$T/bob1.out" 2>&1 && rc=0 || rc=$?
sed 's/^/   | /' "$T/bob1.out"
check "bob's old key is refused once its file was replaced" test "$rc" -ne 0
check "... with a message saying the key is no longer accepted" \
	grep -q "no longer accepts the key of client 'bob' (its key file was replaced)" "$T/bob1.out"
rm "$KEYS/bob"
run_t 30 "$KEYED_PEER" 127.0.0.1 "$PORT" "$T/bob.key" good >"$T/bob2.out" 2>&1 && rc=0 || rc=$?
sed 's/^/   | /' "$T/bob2.out"
check "bob's key is refused once its file was removed" test "$rc" -ne 0
check "... as a key the server does not hold" grep -q "any client key" "$T/bob2.out"
run_t 30 "$KEYED_PEER" 127.0.0.1 "$PORT" "$T/alice.key" good >"$T/alice.out" 2>&1 && rc=0 || rc=$?
assert_eq 0 "$rc" "alice is still let in"
echo more >"$T/fa2"
check "alice's mount still delivers" cp "$T/fa2" "$T/cli-a/fa2"
stop_daemon alice
stop_daemon server

note "5. an unsafe client_keys directory"
chmod 770 "$KEYS"
PORT=$(free_port)
out=$(run_t 60 "$BRAIDFSD" "$T/srv" -o "store=$T/store,listen=127.0.0.1:$PORT,client_keys=$KEYS" -f 2>&1) && rc=0 || rc=$?
echo "   braidfsd: exit $rc: $out"
check "braidfsd refuses a group-writable client_keys" test "$rc" -ne 0
check "... naming it and the fix" grep -q "client_keys $KEYS is writable by group or others.*chmod 700" <<<"$out"
chmod 700 "$KEYS"

finish
