#!/usr/bin/env bash
# version.sh: ends of protocol versions they do not share refuse each
# other with a message that names both versions and the end to upgrade;
# ends that share an older one speak it (braidfs-protocol(7), Preface; this
# build speaks 3, and 2, whose keyed frames are sealed with AES-256-GCM):
#  1. a client speaking version 1 (ITEM_ACK without the proof, ITEM_OPEN
#     without a base) or 4 to braidfsd gets braidfsd's preface, one ERROR
#     VERSION saying which end to upgrade, and the close; braidfsd logs it;
#  2. braidfs against a server speaking version 1 or 4 (fake_server.py
#     --version) does not mount, and says which end to upgrade;
#  3. braidfs against a server that speaks only version 2 dials again in 2,
#     says so once, and copies;
#  4. a keyed braidfsd and a keyed client of version 2 (the test hook
#     BRAIDFS_TEST_PROTOCOL=2, an older braidfs): files over 2 sealed paths
#     arrive bit-exact, braidfsd logs each such path; a version 3 client on
#     the same server is not logged so.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# peer_says V: version_peer.py's answer from braidfsd in $T/peerV.out
peer_says() { run_t 60 python3 "$LIB_DIR/version_peer.py" 127.0.0.1 "$PORT" "$1" >"$T/peer$1.out"; }

note "1. braidfsd and clients of other versions"
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
for v in 1 4; do
	want="the client speaks protocol $v, this braidfsd speaks 2 to 3"
	[[ $v == 1 ]] && want+=" (upgrade braidfs on the client)" ||
		want+=" (upgrade braidfsd on the server)"
	check "a version-$v peer gets a preface, ERROR and the close" peer_says "$v"
	sed 's/^/   | /' "$T/peer$v.out"
	assert_eq "preface 3" "$(sed -n 1p "$T/peer$v.out")" "... braidfsd's preface says version 3"
	assert_eq "ERROR VERSION" "$(sed -n 2p "$T/peer$v.out")" "... the ERROR's status is VERSION"
	assert_eq "$want" "$(sed -n 3p "$T/peer$v.out")" "... its text says which end to upgrade"
	check "... braidfsd logs it" grep -qF "dropping connection from 127.0.0.1:" "$(daemon_log server)"
	check "... with the same text" grep -qF ": $want" "$(daemon_log server)"
done
check "no session was made" test -z "$(ls "$T/store")"
stop_daemon server

note "2. braidfs and servers of other versions"
for v in 1 4; do
	want="server 127.0.0.1:PORT speaks protocol $v, this braidfs speaks 2 to 3"
	[[ $v == 1 ]] && want+=" (upgrade braidfsd on the server)" || want+=" (upgrade this braidfs)"
	PORT=$(free_port)
	want=${want/PORT/$PORT}
	start_fake_server fake$v --version "$v"
	mkdir -p "$T/mnt$v"
	ALL_MOUNTS+=("$T/mnt$v")
	rc=0
	timeout -k 5 "$(tmo 60)" "$BRAIDFS" "127.0.0.1:$PORT" "$T/mnt$v" -f >"$T/cli$v.out" 2>&1 || rc=$?
	sed 's/^/   | /' "$T/cli$v.out"
	check "braidfs does not mount against a version-$v server (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
	check "... and says which end to upgrade" grep -qF "$want" "$T/cli$v.out"
	check "... the server did send its version-$v preface" grep -qx "VERSION $v" "$T/fake$v.events"
done

note "3. braidfs and a server that speaks only version 2"
PORT=$(free_port)
start_fake_server fake2 --version 2
start_client old-server "$T/mnt2"
FLOG=$(daemon_log old-server)
check "the client says the server speaks 2 and it speaks it" \
	grep -qF "server 127.0.0.1:$PORT speaks protocol 2, an older one: speaking it" "$FLOG"
assert_eq 1 "$(grep -c "speaks protocol 2, an older one" "$FLOG")" "... once"
check "the server refused version 3 first" grep -qx "VERSION 2" "$T/fake2.events"
check "... then the client spoke 2" grep -qx "SPOKE 2" "$T/fake2.events"
head -c 70000 /dev/urandom >"$T/v2.bin"
check "cp into the mount of a version 2 server" run_t 60 cp "$T/v2.bin" "$T/mnt2/"
stop_daemon old-server

note "4. keyed braidfsd and a keyed client of version 2 (AES-256-GCM)"
PORT=$(free_port)
"$BRAIDFS" keygen "$T/key" >/dev/null
start_server server "$T/srv" "$T/store" "key_file=$T/key"
SLOG=$(daemon_log server)
BRAIDFS_TEST_PROTOCOL=2 start_client v2 "$T/mnt-v2" paths=2 label=v2 "key_file=$T/key"
start_client v3 "$T/mnt-v3" paths=2 label=v3 "key_file=$T/key"
mkdir -p "$T/src"
head -c 5 /dev/urandom >"$T/src/tiny"
head -c $((256 * 1024 + 17)) /dev/urandom >"$T/src/chunk-plus"
head -c $((9 << 20)) /dev/urandom >"$T/src/big"
check "cp -r into the version 2 mount" run_t 120 cp -r "$T/src" "$T/mnt-v2/"
check "cp -r into the version 3 mount" run_t 120 cp -r "$T/src" "$T/mnt-v3/"
S2=$(session_for_label "$T/srv" v2) || fail "no session labelled v2"
S3=$(session_for_label "$T/srv" v3) || fail "no session labelled v3"
check "version 2's files arrived bit-exact" diff_trees "$T/src" "$S2/src"
check "version 3's files arrived bit-exact" diff_trees "$T/src" "$S3/src"
n2=$(grep -c "session ${S2##*/}: path [0-9]* from .* speaks protocol 2, an older one (its frames are sealed with AES-256-GCM" "$SLOG")
assert_eq 2 "$n2" "braidfsd logs each of version 2's paths, sealed with AES-256-GCM"
check "... and none of version 3's" bash -c "! grep -q 'session ${S3##*/}: path .* speaks protocol' '$SLOG'"
check "the client warns of its test hook" grep -qF "test hook armed: BRAIDFS_TEST_PROTOCOL=2" "$(daemon_log v2)"
stop_daemon v2
stop_daemon v3
stop_daemon server

finish
