#!/usr/bin/env bash
# insecure.sh: without a key, both programs stay on loopback unless told
# -o insecure. In a network namespace of its own with the address
# 10.231.7.1 (not loopback) on its lo:
#  - braidfsd listen=10.231.7.1:PORT without key_file exits 1 at once,
#    saying why and what to do; with insecure it runs, and warns;
#  - braidfs to 10.231.7.1:PORT without key_file exits 1 before sending
#    anything, saying why and what to do; with insecure it mounts and a
#    file arrives;
#  - with a key on both sides, neither needs insecure.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=bfs-insec-$$
ADDR=10.231.7.1
ip netns add "$NS" || skip "cannot make a network namespace"
on_cleanup ip netns del "$NS"
IN=(nsenter --net="/run/netns/$NS" --)
"${IN[@]}" ip link set lo up
"${IN[@]}" ip addr add "$ADDR/32" dev lo
PORT=$(free_port)

# refused NAME WANT command...: exits 1 within 20 s (not killed), WANT in
# its output
refused() {
	local name=$1 want=$2 rc=0
	shift 2
	timeout -k 5 "$(tmo 20)" "$@" </dev/null >"$T/$name.out" 2>&1 || rc=$?
	sed 's/^/   | /' "$T/$name.out"
	assert_eq 1 "$rc" "$name: exits 1 (not left running)"
	check "$name: says why and what to do" grep -qE "$want" "$T/$name.out"
}
not_mounted() { ! is_mounted "$1"; }

note "braidfsd"
mkdir -p "$T/srv0" "$T/store0"
ALL_MOUNTS+=("$T/srv0")
refused "braidfsd without key on $ADDR" "listen=$ADDR:$PORT is not a loopback address.*key_file=FILE.*-o insecure" \
	"${IN[@]}" "$BRAIDFSD" "$T/srv0" -f -o "listen=$ADDR:$PORT,store=$T/store0"
check "... nothing mounted" not_mounted "$T/srv0"
mkdir -p "$T/store"
start_daemon server server "$T/srv" "${IN[@]}" "$BRAIDFSD" "$T/srv" -f \
	-o "listen=$ADDR:$PORT,store=$T/store,insecure"
check "with insecure it runs, and warns" grep -q "listening on $ADDR:$PORT without a key (insecure)" "$(daemon_log server)"

note "braidfs"
mkdir -p "$T/cli0"
ALL_MOUNTS+=("$T/cli0")
refused "braidfs without key to $ADDR" "server $ADDR:$PORT is not a loopback address and there is no key_file.*-o insecure" \
	"${IN[@]}" "$BRAIDFS" "$ADDR:$PORT" "$T/cli0" -f
check "... nothing mounted" not_mounted "$T/cli0"
# (ls without -A: the view's root also holds .events and .metrics)
check "... and no session was made" bash -c '[[ -z $(ls "$1") ]]' _ "$T/srv"
start_daemon client client "$T/cli" "${IN[@]}" "$BRAIDFS" "$ADDR:$PORT" "$T/cli" -f -o label=insec,insecure
echo data >"$T/x"
check "with insecure it mounts and a file arrives" cp "$T/x" "$T/cli/x"
SESS=$(session_for_label "$T/srv" insec) || fail "no session insec"
check "... bit-exact" cmp "$T/x" "$SESS/x"
stop_daemon client
stop_daemon server

note "with a key on both sides"
"$BRAIDFS" keygen "$T/key" >/dev/null
start_daemon kserver server "$T/ksrv" "${IN[@]}" "$BRAIDFSD" "$T/ksrv" -f \
	-o "listen=$ADDR:$PORT,store=$T/kstore,key_file=$T/key"
start_daemon kclient client "$T/kcli" "${IN[@]}" "$BRAIDFS" "$ADDR:$PORT" "$T/kcli" -f \
	-o "label=keyed,key_file=$T/key"
check "a file arrives, no insecure needed" cp "$T/x" "$T/kcli/x"

finish
