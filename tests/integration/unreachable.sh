#!/usr/bin/env bash
# unreachable.sh: braidfs pointed at a port where nothing listens exits
# non-zero within a few seconds, names the server on stderr, mounts nothing
# and leaves no process behind; in the foreground (-f) and daemon mode alike.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIMIT=$(tmo 10)

# try NAME ADDR EXPECT_IN_STDERR... -- braidfs arguments after ADDR MNT
try() {
	local name=$1 addr=$2
	shift 2
	local expect=()
	while (($#)) && [[ $1 != -- ]]; do
		expect+=("$1")
		shift
	done
	shift
	local mnt=$T/mnt-$name err=$T/$name.stderr rc=0 t0 dt e pids
	mkdir -p "$mnt"
	ALL_MOUNTS+=("$mnt")
	ALL_LOGS+=("$err")
	note "$name: braidfs $addr $mnt $*"
	t0=$(now)
	timeout -k 5 30 "$BRAIDFS" "$addr" "$mnt" "$@" </dev/null >"$T/$name.stdout" 2>"$err" || rc=$?
	dt=$(elapsed "$t0")
	echo "   exit $rc after $dt s; stderr:"
	sed 's/^/     /' "$err"
	check "$name: exits non-zero" test "$rc" -ne 0
	check "$name: was not killed by the 30 s timeout" test "$rc" -ne 124 -a "$rc" -ne 137
	check "$name: gives up within $LIMIT s" awk -v d="$dt" -v l="$LIMIT" 'BEGIN { exit !(d <= l) }'
	for e in "${expect[@]}"; do
		check "$name: stderr names '$e'" grep -qF -- "$e" "$err"
	done
	check "$name: nothing mounted on $mnt" bash -c "! grep -q ' $mnt ' /proc/mounts"
	# a daemonized child may still be on its way out when the parent exits
	check "$name: no braidfs process left for $mnt" \
		wait_until 10 "the braidfs processes for $mnt to end" _none_for "$mnt"
	pids=$(pids_with_arg "$mnt")
	if [[ -n $pids ]]; then
		echo "   leftover: $(ps -o pid,args -p "${pids//$'\n'/,}" 2>/dev/null)"
		# shellcheck disable=SC2086
		kill -9 $pids 2>/dev/null || true
	fi
	is_mounted "$mnt" && unmount "$mnt"
	return 0
}

# _none_for MNT: no process has MNT among its arguments
_none_for() { [[ -z $(pids_with_arg "$1") ]]; }

PORT=$(free_port) # nothing listens here
try fg 127.0.0.1:"$PORT" 127.0.0.1 "$PORT" -- -f
try daemon 127.0.0.1:"$PORT" 127.0.0.1 "$PORT" --
try options 127.0.0.1:"$PORT" 127.0.0.1 "$PORT" -- -o paths=2,label=nobody -f
try localhost localhost:"$PORT" localhost "$PORT" -- -f
if ss -Htln 'sport = :7411' | grep -q .; then
	echo "   something listens on 7411: default-port case not run"
else
	try default-port 127.0.0.1 127.0.0.1 7411 -- -f
fi

finish
