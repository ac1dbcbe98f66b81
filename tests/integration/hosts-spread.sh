#!/usr/bin/env bash
# hosts-spread.sh [plain|gluster]: 16 clients at once spread over two
# braidfsd hosts on one store (issue 17's acceptance). A new session
# belongs to the server its client connects to, so clients 1-8 point at A
# and 9-16 at B, each copying a small tree of its own at the same time.
# Every file arrives bit-exact; each host owns the sessions of its half
# (its view says so, the other's names it as the owner); and each host's
# view lists all 16 and reads every one of them.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KIND=${1:-plain}
N=16
need_space 200
two_hosts_store "$KIND"

PORT_A=$(free_port)
SERVER_LISTEN=127.0.0.1:$PORT_A start_server a "$T/va" "$STORE_A"
PORT_B=$(free_port)
SERVER_LISTEN=127.0.0.1:$PORT_B start_server b "$T/vb" "$STORE_B"

# host_of I: the port client I points at (the first half A, the rest B)
host_of() { if (($1 <= N / 2)); then echo "$PORT_A"; else echo "$PORT_B"; fi; }

note "$N clients, half at each host, copying at once"
pids=()
for i in $(seq 1 $N); do
	make_tree "$T/src$i" 2 2 3 20000 "$i"
	SERVER_ADDR=127.0.0.1:$(host_of "$i") start_client "c$i" "$T/cli$i" \
		"label=spread$i" paths=2 timeout=60
done
for i in $(seq 1 $N); do
	bg run_t 120 cp -r "$T/src$i/." "$T/cli$i/"
	pids[i]=$BG_LAST
done
for i in $(seq 1 $N); do
	rc=0
	wait "${pids[i]}" || rc=$?
	assert_eq 0 "$rc" "cp -r into client $i exits 0"
done

assert_eq $N "$(session_dirs "$T/va" | grep -c . || true)" "A's view lists all $N sessions"
assert_eq $N "$(session_dirs "$T/vb" | grep -c . || true)" "B's view lists all $N sessions"

# owned_by VIEW: how many sessions that view's server owns itself
owned_by() {
	local f n=0
	for f in "$1"/*/.session; do
		grep -qx "state: elsewhere" "$f" || n=$((n + 1))
	done
	echo "$n"
}
assert_eq $((N / 2)) "$(owned_by "$T/va")" "A owns half of them"
assert_eq $((N / 2)) "$(owned_by "$T/vb")" "B owns the other half"

for i in $(seq 1 $N); do
	if ((i <= N / 2)); then own=a other=b port=$PORT_A; else own=b other=a port=$PORT_B; fi
	S_OWN=$(session_for_label "$T/v$own" "spread$i") || fail "no session spread$i at $own"
	S_OTHER=$(session_for_label "$T/v$other" "spread$i") || fail "no session spread$i at $other"
	check "client $i's tree is bit-exact at its host $own" diff_trees "$T/src$i" "$S_OWN"
	check "... and read through $other's view" diff_trees "$T/src$i" "$S_OTHER"
	check "... which names $own as its owner" \
		grep -qx "owner: braidfsd on .* listening on 127.0.0.1:$port" "$S_OTHER/.session"
done

finish
