#!/usr/bin/env bash
# daemon-mode.sh: without -f both daemons detach; the command returns 0 only
# once the mount is ready (it is mounted the moment the command returns),
# the detached process serves the mount (and runs exec_on_store), and
# fusermount3 -u makes it exit.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
mkdir -p "$T/srv" "$T/cli" "$T/store"

# detach NAME KIND MNT command...: run a self-daemonizing command, check it
# returns 0 with MNT mounted, and adopt the detached process.
detach() {
	local name=$1 kind=$2 mnt=$3 rc=0 t0
	shift 3
	local log=$T/logs/$name.log
	printf '+ %s\n' "$*" >"$log"
	t0=$(now)
	run_t 30 "$@" </dev/null >>"$log" 2>&1 || rc=$?
	local mounted=no
	is_mounted "$mnt" && mounted=yes
	echo "   $name: command returned $rc after $(elapsed "$t0") s"
	assert_eq 0 "$rc" "$name without -f returns 0"
	assert_eq yes "$mounted" "$name's mount is ready when the command returns"
	if ! adopt_daemon "$name" "$kind" "$mnt" "$log"; then
		CHECKS=$((CHECKS + 1))
		FAILS=$((FAILS + 1))
		echo "FAIL: exactly one detached $name process serves $mnt"
	else
		pass "exactly one detached $name process serves $mnt"
	fi
	[[ $mounted == yes ]] || fail "$name is not mounted; giving up"
}

# exec_on_store's runs come from threads, which must start after the
# daemon forked away from the terminal
printf '#!/bin/sh\necho "$1" >>%s\n' "$T/hook.out" >"$T/hook"
chmod +x "$T/hook"
detach server server "$T/srv" "$BRAIDFSD" "$T/srv" -o "listen=127.0.0.1:$PORT,store=$T/store,exec_on_store=$T/hook"
detach client client "$T/cli" "$BRAIDFS" "127.0.0.1:$PORT" "$T/cli" -o label=bg

head -c 123457 /dev/urandom >"$T/f.bin"
check "cp into the detached client" run_t 60 cp "$T/f.bin" "$T/cli/f.bin"
SESS=$(session_for_label "$T/srv" bg) || fail "no session for label bg"
check "file arrived through the detached daemons" cmp "$T/f.bin" "$SESS/f.bin"
hook_ran() { grep -qxF "$SESS/f.bin" "$T/hook.out" 2>/dev/null; }
check "the detached server ran exec_on_store for it" wait_until 30 "the hook's run" hook_ran

# gone PID: the process has exited (a zombie nobody reaped counts as exited)
gone() { [[ -z $1 ]] || ! pid_alive "$1"; }

cpid=$(daemon_pid client)
spid=$(daemon_pid server)
stop_daemon client
check "detached client exited after fusermount3 -u" gone "$cpid"
stop_daemon server
check "detached server exited after fusermount3 -u" gone "$spid"

finish
