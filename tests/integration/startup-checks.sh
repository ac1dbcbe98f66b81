#!/usr/bin/env bash
# startup-checks.sh: both daemons check everything before they touch the
# network or the store (issue 15 item 1). Each bad option, bad mountpoint,
# unusable key file and unresolvable host exits with status 1 (braidfs(1),
# braidfsd(8): EXIT STATUS), says what is wrong, mounts nothing, and
# leaves nothing on the server: no session (the client) and no store nor
# bound port (the server). A good start prints no libfuse noise.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# refused NAME MNT WORD: the last run exited 1, named WORD, mounted nothing
refused() {
	assert_eq 1 "$RC" "$1 exits 1"
	check "$1 says '$3'" grep -qF -- "$3" <<<"$OUT"
	check "$1 mounts nothing" bash -c "! grep -qF ' $(mnt_enc "$2") ' /proc/mounts"
	check "$1 prints no libfuse noise" bash -c "! grep -qiE 'invalid max threads|^fuse:' '$T/$1.out'"
	if is_mounted "$2"; then unmount "$2"; fi
}

port_free() { ! port_listening "$1"; }

note "braidfsd: refused before making its store or binding its port"
SPORT=$(free_port)
touch "$T/a-file"
mkdir -p "$T/srv-ok"
ALL_MOUNTS+=("$T/srv-ok")
declare -a SCASES=(
	"no-mountpoint||MOUNTPOINT"
	"missing-mountpoint|$T/nowhere|does not exist"
	"file-mountpoint|$T/a-file|not a directory"
	"fuse-option|$T/srv-ok|bogus"
	"key-file|$T/srv-ok|$T/no-key"
)
for c in "${SCASES[@]}"; do
	IFS='|' read -r name mnt word <<<"$c"
	extra=listen=127.0.0.1:$SPORT,store=$T/store-$name
	[[ $name == fuse-option ]] && extra+=,bogus=1
	[[ $name == key-file ]] && extra+=,key_file=$T/no-key
	args=()
	[[ -n $mnt ]] && args=("$mnt")
	run_cli "server-$name" "$BRAIDFSD" "${args[@]}" -f -o "$extra"
	refused "server-$name" "$T/srv-ok" "$word"
	check "server-$name made no store" test ! -e "$T/store-$name"
	check "server-$name left port $SPORT free" port_free "$SPORT"
done

note "braidfs: refused before the server makes a session"
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
mkdir -p "$T/cli"
ALL_MOUNTS+=("$T/cli")
declare -a CCASES=(
	"missing-mountpoint|$T/nowhere||does not exist"
	"file-mountpoint|$T/a-file||not a directory"
	"fuse-option|$T/cli|bogus=1|bogus"
	"bad-value|$T/cli|paths=0|paths=0"
	"key-file|$T/cli|key_file=$T/no-key|$T/no-key"
	"spool-file|$T/cli|spool=$T/a-file|$T/a-file"
)
for c in "${CCASES[@]}"; do
	IFS='|' read -r name mnt opts word <<<"$c"
	o=()
	[[ -n $opts ]] && o=(-o "$opts")
	run_cli "client-$name" "$BRAIDFS" "127.0.0.1:$PORT" "$mnt" "${o[@]}" -f
	refused "client-$name" "$T/cli" "$word"
done
run_cli client-no-mountpoint "$BRAIDFS" "127.0.0.1:$PORT" -f
refused client-no-mountpoint "$T/cli" MOUNTPOINT
run_cli client-dns "$BRAIDFS" "no-such-host.invalid:$PORT" "$T/cli" -f
refused client-dns "$T/cli" "cannot resolve no-such-host.invalid"
check "client-dns does not ask whether braidfsd runs there" \
	bash -c "! grep -qF 'is braidfsd running there' '$T/client-dns.out'"
run_cli client-refused "$BRAIDFS" "127.0.0.1:$(free_port)" "$T/cli" -f
refused client-refused "$T/cli" "is braidfsd running there"
assert_eq "" "$(session_dirs "$T/srv" | tr '\n' ' ')" \
	"no session on the server after the refused mounts"

note "a good start: no libfuse noise on either daemon"
start_client client "$T/cli"
check "the client's log has no libfuse noise" \
	bash -c "! grep -qiE 'invalid max threads|^fuse:' '$(daemon_log client)'"
check "the server's log has no libfuse noise" \
	bash -c "! grep -qiE 'invalid max threads|^fuse:' '$(daemon_log server)'"

finish
