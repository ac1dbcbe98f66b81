#!/usr/bin/env bash
# version.sh: ends of different protocol versions refuse each other with a
# message that names both versions and the end to upgrade
# (braidfs-protocol(7), Preface; this build speaks 2):
#  1. a client speaking version 1 (ITEM_ACK without the proof, ITEM_OPEN
#     without a base) or 3 to braidfsd gets braidfsd's preface, one ERROR
#     VERSION saying which end to upgrade, and the close; braidfsd logs it;
#  2. braidfs against a server speaking version 1 or 3 (fake_server.py
#     --version) does not mount, and says which end to upgrade.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# peer_says V: version_peer.py's answer from braidfsd in $T/peerV.out
peer_says() { run_t 60 python3 "$LIB_DIR/version_peer.py" 127.0.0.1 "$PORT" "$1" >"$T/peer$1.out"; }

note "1. braidfsd and clients of other versions"
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
for v in 1 3; do
	want="the client speaks protocol $v, this braidfsd speaks 2"
	[[ $v == 1 ]] && want+=" (upgrade braidfs on the client)" ||
		want+=" (upgrade braidfsd on the server)"
	check "a version-$v peer gets a preface, ERROR and the close" peer_says "$v"
	sed 's/^/   | /' "$T/peer$v.out"
	assert_eq "preface 2" "$(sed -n 1p "$T/peer$v.out")" "... braidfsd's preface says version 2"
	assert_eq "ERROR VERSION" "$(sed -n 2p "$T/peer$v.out")" "... the ERROR's status is VERSION"
	assert_eq "$want" "$(sed -n 3p "$T/peer$v.out")" "... its text says which end to upgrade"
	check "... braidfsd logs it" grep -qF "dropping connection from 127.0.0.1:" "$(daemon_log server)"
	check "... with the same text" grep -qF ": $want" "$(daemon_log server)"
done
check "no session was made" test -z "$(ls "$T/store")"
stop_daemon server

note "2. braidfs and servers of other versions"
for v in 1 3; do
	want="server 127.0.0.1:PORT speaks protocol $v, this braidfs speaks 2"
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

finish
