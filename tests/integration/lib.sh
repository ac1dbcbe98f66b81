# shellcheck shell=bash
# tests/integration/lib.sh — sourced by every integration test script.
#
# Gives each test: strict mode, a private temp dir, a free TCP port, helpers
# to start/stop braidfsd and braidfs on real FUSE mounts, PASS/FAIL checks,
# waits on events (wait_until), readers of the client's status files, a
# sanitizer scan of the daemons' logs, a watchdog, and a cleanup trap that
# always unmounts what the test mounted, kills what it started, runs the
# hooks registered with on_cleanup and removes the temp dir, however the
# test ends (pass, fail, error, signal, watchdog).
#
# Libraries on top of it, sourced after it: relay.sh (relay.py: a path that
# stalls, delays or flips a bit; needs python3 only) and netns.sh (network
# namespaces with rate-limited links; needs ip, tc, nsenter). They register
# their own teardown with on_cleanup.
#
# Environment:
#   BRAIDFS, BRAIDFSD        binaries (meson passes them); default BUILD_DIR/src/...
#   BUILD_DIR                used only when BRAIDFS/BRAIDFSD are unset (default ./build)
#   BRAIDFS_TEST_TMPDIR      base for the temp dir (default /var/tmp)
#   BRAIDFS_TEST_TIMEOUT     seconds; a watchdog aborts the test a little before it
#   BRAIDFS_TEST_TIMEOUT_MULT  multiplier for every timeout (slow sanitizer builds)
#   BRAIDFS_TEST_DEBUG=1     start the daemons with -d
#   BRAIDFS_TEST_KEEP=1      keep the temp dir (mounts are still undone)
#
# Exit codes: 0 pass, 1 fail, 77 skip (only when FUSE itself is unusable).

set -euo pipefail
set -E
shopt -s nullglob

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=${TEST_NAME:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
TIMEOUT_MULT=${BRAIDFS_TEST_TIMEOUT_MULT:-1}
MOUNT_TIMEOUT=${MOUNT_TIMEOUT:-30}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}

FAILS=0
CHECKS=0
LOGS_DUMPED=0
FAST_CLEANUP=0
WATCHDOG_PID=
FG_PID=
T=
PORT=
declare -A D_PID=() D_MNT=() D_LOG=() D_KIND=() D_CHILD=() D_N=()
declare -a ALL_MOUNTS=() ALL_LOGS=() BG_PIDS=() EXTRA_MOUNTS=() CLEANUP_HOOKS=()

# ---------------------------------------------------------------- output

note() { printf '== %s\n' "$*"; }
pass() { printf 'PASS: %s\n' "$*"; }

# Non-fatal check: check "description" command [args...]
check() {
	local desc=$1 rc=0
	shift
	CHECKS=$((CHECKS + 1))
	fg_wait "$@" || rc=$?
	if ((rc == 0)); then
		pass "$desc"
	else
		FAILS=$((FAILS + 1))
		printf 'FAIL: %s (exit %d)\n' "$desc" "$rc"
	fi
	return 0
}

# Non-fatal equality: assert_eq EXPECTED ACTUAL "description"
assert_eq() {
	CHECKS=$((CHECKS + 1))
	if [[ "$1" == "$2" ]]; then
		pass "$3"
	else
		FAILS=$((FAILS + 1))
		printf 'FAIL: %s\n  expected: %q\n  actual:   %q\n' "$3" "$1" "$2"
	fi
}

# Non-fatal: assert_le VALUE LIMIT "description" (integers)
assert_le() {
	CHECKS=$((CHECKS + 1))
	if (($1 <= $2)); then
		pass "$3 ($1 <= $2)"
	else
		FAILS=$((FAILS + 1))
		printf 'FAIL: %s (%s > %s)\n' "$3" "$1" "$2"
	fi
}

dump_logs() {
	((LOGS_DUMPED)) && return 0
	LOGS_DUMPED=1
	local log
	for log in "${ALL_LOGS[@]}"; do
		[[ -f $log ]] || continue
		printf -- '----- %s (last 200 lines) -----\n' "${log#"$T"/}"
		tail -n 200 -- "$log" || true
	done
	[[ -n $T && -s $T/watchdog.log ]] && { echo '----- watchdog -----'; cat "$T/watchdog.log"; }
	[[ -n $T && -s $T/umount.log ]] && { echo '----- fusermount3 -----'; tail -n 50 "$T/umount.log"; }
	echo '----- end of logs -----'
}

# Fatal: print the reason and the daemons' logs, then exit 1 (cleanup runs).
fail() {
	printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*"
	dump_logs
	exit 1
}

skip() {
	printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*"
	exit 77
}

on_err() {
	local rc=$1 line=$2 cmd=$3
	# In a command substitution or subshell, just propagate the status: the
	# main shell reports it (set -E makes every subshell inherit this trap).
	((BASH_SUBSHELL > 0)) && exit "$rc"
	trap - ERR
	printf 'FAIL: %s: command failed (exit %d) at line %s: %s\n' \
		"$TEST_NAME" "$rc" "$line" "$cmd"
	dump_logs
	exit 1
}

on_signal() {
	FAST_CLEANUP=1
	printf 'FAIL: %s: interrupted by SIG%s\n' "$TEST_NAME" "$1"
	exit $((128 + $2))
}

# ---------------------------------------------------------------- helpers

# on_cleanup COMMAND [ARGS...]: run COMMAND when the test ends, however it
# ends, once every daemon and background job is gone and every mount is
# undone (so a hook can delete what they used), before the temp dir is
# removed. Hooks run in reverse order of registration (the last set up is
# the first torn down); a failing hook does not stop the others.
on_cleanup() {
	local cmd
	printf -v cmd '%q ' "$@"
	CLEANUP_HOOKS+=("$cmd")
}

run_cleanup_hooks() {
	local i
	for ((i = ${#CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP_HOOKS[i]}" || echo "cleanup: hook failed: ${CLEANUP_HOOKS[i]}"
	done
	CLEANUP_HOOKS=()
}

# wait_until SECS DESC command...: poll every 0.1 s until command succeeds;
# returns 1 (and says so) after SECS (scaled by BRAIDFS_TEST_TIMEOUT_MULT)
wait_until() {
	local secs=$1 desc=$2 deadline
	shift 2
	deadline=$(awk -v n="$(date +%s.%N)" -v s="$(tmo "$secs")" 'BEGIN { printf "%.3f", n + s }')
	until "$@"; do
		if awk -v d="$deadline" -v n="$(date +%s.%N)" 'BEGIN { exit !(n >= d) }'; then
			echo "   gave up after $(tmo "$secs") s waiting for: $desc"
			return 1
		fi
		sleep 0.1
	done
}

# Scale a timeout in seconds by BRAIDFS_TEST_TIMEOUT_MULT.
tmo() { echo $(($1 * TIMEOUT_MULT)); }

# run_t SECS command...: run with a hard time limit (SIGTERM, then SIGKILL).
run_t() {
	local secs
	secs=$(tmo "$1")
	shift
	fg_wait timeout -k 5 "$secs" "$@"
}

# fg_wait command...: run a command (or function, in a subshell: it cannot
# change our variables) as a background job and wait for it. Unlike a
# foreground command, the wait builtin returns at once when a signal
# arrives, so a test stuck on a hung mount still gets its cleanup done
# within the 0.5 s that meson grants between SIGTERM and SIGKILL.
fg_wait() {
	local rc=0
	"$@" <&0 &
	FG_PID=$!
	wait "$FG_PID" || rc=$?
	FG_PID=
	return "$rc"
}

now() { date +%s.%N; }

# elapsed START -> seconds with 3 decimals since START (from now)
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# mb_per_s BYTES SECONDS
mb_per_s() { awk -v n="$1" -v s="$2" 'BEGIN { if (s <= 0) s = 0.001; printf "%.1f", n / s / 1e6 }'; }

# to_bytes 64K|1M|2G|123 -> bytes (binary suffixes)
to_bytes() {
	local v=$1
	case $v in
	*[kK]) echo $((${v%?} * 1024)) ;;
	*[mM]) echo $((${v%?} * 1024 * 1024)) ;;
	*[gG]) echo $((${v%?} * 1024 * 1024 * 1024)) ;;
	*) echo $((v)) ;;
	esac
}

free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
		return
	fi
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
	fail "no free TCP port found"
}

pid_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# mnt_enc PATH: PATH as /proc/mounts writes it (octal escapes); passed to
# awk through ENVIRON, as awk -v would undo the escapes
mnt_enc() {
	local s=${1//\\/\\134}
	s=${s// /\\040}
	s=${s//$'\t'/\\011}
	s=${s//$'\n'/\\012}
	printf '%s' "$s"
}

# is_mounted DIR: DIR is a FUSE mount point right now.
is_mounted() {
	M=$(mnt_enc "$1") awk '$2 == ENVIRON["M"] && $3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/mounts
}

# Mount points (FUSE) below DIR, one per line (decoded).
fuse_mounts_under() {
	local mp
	D=$(mnt_enc "$1")/ awk '$3 ~ /^fuse/ && index($2, ENVIRON["D"]) == 1 { print $2 }' /proc/mounts |
		while read -r mp; do printf '%b\n' "$mp"; done
}

# Pids whose argv contains the exact argument ARG (to find a daemonized child).
pids_with_arg() {
	local p
	for p in /proc/[0-9]*; do
		[[ -r $p/cmdline ]] || continue
		if tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$1"; then
			echo "${p#/proc/}"
		fi
	done
}

# fuse_conns: "MINOR MOUNTPOINT" of every FUSE mount.
fuse_conns() {
	if ! grep -q ' /sys/fs/fuse/connections ' /proc/mounts; then
		mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null || true
	fi
	local minor mp
	while read -r _ _ minor _ mp _; do
		printf '%s %b\n' "${minor#*:}" "$mp"
	done < <(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) ~ /^fuse/) print; break } }' /proc/self/mountinfo)
}

# abort_conn MINOR: abort that FUSE connection (its daemon's loop ends as
# if unmounted; what was queued for it is dropped, RELEASEs included).
abort_conn() {
	[[ -w /sys/fs/fuse/connections/$1/abort ]] &&
		echo 1 >"/sys/fs/fuse/connections/$1/abort" 2>/dev/null
}

# Abort the FUSE connection of every mount under DIR (unblocks any process
# stuck on a hung daemon), then lazily unmount it. Last resort only.
abort_mounts_under() {
	local dir=$1 mp minor
	while read -r minor mp; do
		[[ $mp == "$dir"/* ]] || continue
		abort_conn "$minor" || true
		fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
	done < <(fuse_conns)
}

# unmount DIR: polite unmount (retry while busy), lazy unmount as fallback.
unmount() {
	local mnt=$1 i
	# A barrier: the kernel sends a RELEASE or RELEASEDIR after close(2)
	# returns and drops those still queued at the unmount (libfuse then
	# leaks its directory handle: a sanitizer report that is not ours). A
	# LOOKUP of a name that is not there (never cached) queued behind them
	# is answered only once a worker has read them.
	is_mounted "$mnt" && { timeout 2 stat "$mnt/.braidfs-test-barrier-$$" >/dev/null 2>&1 || true; }
	for ((i = 0; i < 25; i++)); do
		is_mounted "$mnt" || return 0
		if timeout 10 fusermount3 -u "$mnt" 2>>"$T/umount.log"; then
			return 0
		fi
		sleep 0.2
	done
	is_mounted "$mnt" || return 0
	echo "WARNING: fusermount3 -u $mnt keeps failing; lazy unmount" >&2
	fusermount3 -uz "$mnt" 2>>"$T/umount.log" || umount -l "$mnt" || true
}

# need_space MIB: fail unless the temp dir has MIB MiB free.
need_space() {
	local avail
	avail=$(df -Pk "$T" | awk 'NR == 2 { print int($4 / 1024) }')
	if ((avail < $1)); then
		fail "need $1 MiB free under $T, only $avail MiB available (set BRAIDFS_TEST_TMPDIR)"
	fi
}

# run_cli NAME command...: a command that must end by itself (a refusal,
# -h, -V) run with 20 s at most; its stdout and stderr in $T/NAME.out and
# OUT, its status in RC; prints both (a long output as its line count)
run_cli() {
	local name=$1 lines
	shift
	RC=0
	run_t 20 "$@" </dev/null >"$T/$name.out" 2>&1 || RC=$?
	OUT=$(cat "$T/$name.out")
	ALL_LOGS+=("$T/$name.out")
	lines=$(wc -l <"$T/$name.out")
	if ((lines <= 3)); then
		echo "   $name: exit $RC: ${OUT//$'\n'/ | }"
	else
		echo "   $name: exit $RC, $lines lines"
	fi
}

# two_hosts_store KIND: STORE_A and STORE_B, one store as two braidfsd
# hosts see it: one directory (plain), or a GlusterFS volume through two
# mounts of it (gluster: gluster.sh, torn down by cleanup)
two_hosts_store() {
	case $1 in
	plain) STORE_A=$T/store STORE_B=$T/store ;;
	gluster)
		source "$LIB_DIR/gluster.sh"
		gluster_setup 2
		STORE_A=${GL_MNT[1]}/store STORE_B=${GL_MNT[2]}/store
		;;
	*) fail "usage: $(basename "$0") [plain|gluster]" ;;
	esac
}

# ------------------------------------------------------------- daemons

# start_daemon NAME KIND MNT command...   (command runs in the foreground: -f)
start_daemon() {
	local name=$1 kind=$2 mnt=$3
	shift 3
	local n=$((${D_N[$name]:-0} + 1))
	D_N[$name]=$n
	local log=$T/logs/$name.$n.log
	mkdir -p "$mnt" "$T/logs"
	ALL_LOGS+=("$log")
	ALL_MOUNTS+=("$mnt")
	printf '+ %s\n' "$*" >"$log"
	"$@" </dev/null >>"$log" 2>&1 &
	D_PID[$name]=$!
	D_MNT[$name]=$mnt
	D_LOG[$name]=$log
	D_KIND[$name]=$kind
	D_CHILD[$name]=1
	wait_mounted "$name"
}

# wait_mounted NAME: until NAME's mount point is a FUSE mount (bounded).
wait_mounted() {
	local name=$1 pid=${D_PID[$1]} mnt=${D_MNT[$1]} rc=0
	local deadline=$((SECONDS + $(tmo "$MOUNT_TIMEOUT")))
	while ! is_mounted "$mnt"; do
		if ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null || rc=$?
			unset "D_PID[$name]"
			fail "$name exited with status $rc before $mnt was mounted"
		fi
		if ((SECONDS >= deadline)); then
			fail "$name did not mount $mnt within $(tmo "$MOUNT_TIMEOUT") s"
		fi
		sleep 0.1
	done
	# The daemons mount before they connect (the client) or open the store
	# and listen (the server), and serve only after that: a stat answers
	# once they do, so "up" means the session or the listeners exist.
	until timeout 5 stat -- "$mnt" >/dev/null 2>&1; do
		if ! pid_alive "$pid"; then
			wait "$pid" 2>/dev/null || rc=$?
			unset "D_PID[$name]"
			fail "$name exited with status $rc before serving $mnt"
		fi
		if ((SECONDS >= deadline)); then
			fail "$name mounted $mnt but did not serve it within $(tmo "$MOUNT_TIMEOUT") s"
		fi
		sleep 0.1
	done
	printf '   %s up: pid %s, %s\n' "$name" "$pid" "$mnt"
}

# start_server NAME MNT STORE [extra -o options...]
# listens on SERVER_LISTEN (default 127.0.0.1:$PORT)
start_server() {
	local name=$1 mnt=$2 store=$3
	shift 3
	local opts="listen=${SERVER_LISTEN:-127.0.0.1:$PORT},store=$store" o
	for o in "$@"; do opts+=",$o"; done
	mkdir -p "$store"
	local dbg=()
	[[ ${BRAIDFS_TEST_DEBUG:-0} == 1 ]] && dbg=(-d)
	start_daemon "$name" server "$mnt" "$BRAIDFSD" "$mnt" -o "$opts" -f "${dbg[@]}"
	wait_listening "$name" "${SERVER_LISTEN:-127.0.0.1:$PORT}"
}

# port_listening PORT: a TCP socket listens on PORT (any address)
port_listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v h="$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_listening NAME ADDR:PORT: the mount can be up before the socket is
wait_listening() {
	local name=$1 port=${2##*:}
	local deadline=$((SECONDS + $(tmo "$MOUNT_TIMEOUT")))
	until port_listening "$port"; do
		pid_alive "${D_PID[$name]}" || fail "$name exited before listening on port $port"
		((SECONDS < deadline)) || fail "$name does not listen on port $port after $(tmo "$MOUNT_TIMEOUT") s"
		sleep 0.1
	done
}

# start_client NAME MNT [-o options...]   connects to SERVER_ADDR (127.0.0.1:$PORT)
start_client() {
	local name=$1 mnt=$2
	shift 2
	local opts=() dbg=()
	(($#)) && opts=(-o "$(
		IFS=,
		echo "$*"
	)")
	[[ ${BRAIDFS_TEST_DEBUG:-0} == 1 ]] && dbg=(-d)
	start_daemon "$name" client "$mnt" \
		"$BRAIDFS" "${SERVER_ADDR:-127.0.0.1:$PORT}" "$mnt" "${opts[@]}" -f "${dbg[@]}"
}

# start_fake_server NAME [options...]: fake_server.py (a misbehaving
# braidfsd, for tests of the client) on 127.0.0.1:$PORT, killed on cleanup.
# Its checks go to $T/NAME.results (see fake_results), its events to
# $T/NAME.events (see wait_event).
start_fake_server() {
	local name=$1 log=$T/logs/$1.log
	shift
	local deadline=$((SECONDS + $(tmo "$MOUNT_TIMEOUT")))
	ALL_LOGS+=("$log")
	: >"$T/$name.events"
	bg python3 "$LIB_DIR/fake_server.py" "$PORT" "$T/$name.results" \
		"$T/$name.events" "$@" >"$log" 2>&1
	until port_listening "$PORT"; do
		pid_alive "$BG_LAST" || fail "$name exited before listening on port $PORT"
		((SECONDS < deadline)) || fail "$name does not listen on port $PORT"
		sleep 0.05
	done
}

# wait_event NAME REGEX SECS: until a line of NAME's events matches REGEX.
wait_event() {
	local deadline=$((SECONDS + $(tmo "$3")))
	until grep -qE -- "$2" "$T/$1.events"; do
		if ((SECONDS >= deadline)); then
			echo "no event matching '$2' from $1 within $3 s" >&2
			return 1
		fi
		sleep 0.05
	done
}

# fake_results NAME: every check NAME made passed, and it made some.
fake_results() {
	local f=$T/$1.results n_pass n_fail
	n_pass=$(grep -c '^PASS' "$f" 2>/dev/null || true)
	n_fail=$(grep -c '^FAIL' "$f" 2>/dev/null || true)
	grep '^FAIL' "$f" 2>/dev/null | head -n 20 || true
	assert_eq 0 "${n_fail:-0}" "$1: none of its ${n_pass:-0} checks failed"
	check "$1 checked something" test "${n_pass:-0}" -gt 0
}

# adopt_daemon NAME KIND MNT LOG: track a daemon that detached itself (no -f).
adopt_daemon() {
	local name=$1 kind=$2 mnt=$3 log=$4 pids
	ALL_MOUNTS+=("$mnt")
	ALL_LOGS+=("$log")
	pids=$(pids_with_arg "$mnt" | grep -vx "$$" || true)
	D_MNT[$name]=$mnt
	D_LOG[$name]=$log
	D_KIND[$name]=$kind
	D_CHILD[$name]=0
	if [[ $(wc -w <<<"$pids") -ne 1 ]]; then
		echo "   could not identify the $name process (candidates: ${pids:-none})"
		D_PID[$name]=
		return 1
	fi
	D_PID[$name]=$pids
	printf '   %s detached: pid %s, %s\n' "$name" "$pids" "$mnt"
}

# wait_exit PID SECS -> 0 if it ended in time, 1 if it had to be killed
wait_exit() {
	local pid=$1 deadline=$((SECONDS + $2))
	while pid_alive "$pid"; do
		if ((SECONDS >= deadline)); then
			kill -9 "$pid" 2>/dev/null || true
			sleep 0.2
			return 1
		fi
		sleep 0.1
	done
	return 0
}

# stop_daemon NAME [any]: unmount NAME's mount point, wait for the daemon to
# exit (bounded; then kill -9). Checks that it exited with status 0, unless
# "any" is given. Sets LAST_RC.
stop_daemon() {
	local name=$1 expect=${2:-zero} pid=${D_PID[$1]:-} mnt=${D_MNT[$1]}
	LAST_RC=0
	unmount "$mnt"
	if [[ -n $pid ]]; then
		if ! wait_exit "$pid" "$(tmo "$STOP_TIMEOUT")"; then
			CHECKS=$((CHECKS + 1))
			FAILS=$((FAILS + 1))
			echo "FAIL: $name (pid $pid) did not exit within $(tmo "$STOP_TIMEOUT") s of the unmount; killed"
		fi
		if [[ ${D_CHILD[$name]} == 1 ]]; then
			wait "$pid" 2>/dev/null || LAST_RC=$?
			if [[ $expect == zero ]]; then
				assert_eq 0 "$LAST_RC" "$name exits with status 0 after unmount"
			else
				echo "   $name exited with status $LAST_RC"
			fi
		fi
	fi
	unset "D_PID[$name]"
}

# kill_daemon NAME [SIGNAL]: kill (default -9), then unmount the stale mount.
kill_daemon() {
	local name=$1 sig=${2:-KILL} pid=${D_PID[$1]} mnt=${D_MNT[$1]}
	LAST_RC=0
	kill "-$sig" "$pid" 2>/dev/null || true
	wait_exit "$pid" "$(tmo 10)" || true
	if [[ ${D_CHILD[$name]} == 1 ]]; then
		wait "$pid" 2>/dev/null || LAST_RC=$?
	fi
	echo "   $name (pid $pid) killed with SIG$sig, status $LAST_RC"
	unmount "$mnt"
	unset "D_PID[$name]"
}

# wait_dead NAME SECS: NAME ended by itself (a crash hook) within SECS;
# then its stale mount is undone. 1 if it still runs.
wait_dead() {
	local pid deadline=$((SECONDS + $2))
	pid=$(daemon_pid "$1")
	while pid_alive "$pid"; do
		((SECONDS < deadline)) || return 1
		sleep 0.02
	done
	kill_daemon "$1" KILL >/dev/null
}

daemon_pid() { echo "${D_PID[$1]}"; }
daemon_log() { echo "${D_LOG[$1]}"; }

# Stop every daemon still running: clients first, then servers.
stop_all() {
	local name kind
	for kind in client server; do
		for name in "${!D_PID[@]}"; do
			[[ ${D_KIND[$name]} == "$kind" ]] && stop_daemon "$name"
		done
	done
	return 0
}

# bg command...: run in the background, remember the pid (killed on cleanup).
# The pid is in BG_LAST.
bg() {
	(
		trap - ERR EXIT INT TERM
		set +eE
		"$@"
	) &
	BG_LAST=$!
	BG_PIDS+=("$BG_LAST")
}

# Grep the daemon logs for sanitizer reports (after the daemons have exited).
check_sanitizers() {
	local pat='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ERROR: ThreadSanitizer|WARNING: ThreadSanitizer|ERROR: MemorySanitizer'
	local hits=() log
	for log in "${ALL_LOGS[@]}"; do
		[[ -f $log ]] && grep -qE "$pat" "$log" && hits+=("$log")
	done
	CHECKS=$((CHECKS + 1))
	if ((${#hits[@]} == 0)); then
		pass "no sanitizer reports in ${#ALL_LOGS[@]} daemon log(s)"
	else
		FAILS=$((FAILS + 1))
		echo "FAIL: sanitizer reports in: ${hits[*]#"$T"/}"
		for log in "${hits[@]}"; do
			grep -nE -A 30 "$pat" "$log" | head -n 120
		done
	fi
}

# Last call of every test: stop daemons, scan logs, print the verdict, exit.
finish() {
	stop_all
	check_sanitizers
	if ((FAILS > 0)); then
		printf 'FAIL: %s: %d of %d checks failed\n' "$TEST_NAME" "$FAILS" "$CHECKS"
		dump_logs
		exit 1
	fi
	printf 'PASS: %s: all %d checks passed\n' "$TEST_NAME" "$CHECKS"
	exit 0
}

cleanup() {
	local rc=$? pid name m kind
	trap - ERR EXIT INT TERM
	set +eE
	if [[ -n $WATCHDOG_PID ]]; then
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	[[ -n $T ]] && ((FAST_CLEANUP)) && abort_mounts_under "$T"
	for pid in $FG_PID "${BG_PIDS[@]}"; do
		pkill -KILL -P "$pid" 2>/dev/null
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# A signal that lands between a fork and the line that keeps its pid
	# (fg_wait's FG_PID=$!) leaves a child nobody knows, holding whatever
	# this shell had open (netns.sh's block lock): every child of this
	# shell but the daemons, which are stopped below, in order.
	for pid in $(pgrep -P $$); do
		[[ " ${D_PID[*]} " == *" $pid "* ]] && continue
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[[ -z $T ]] && { run_cleanup_hooks; exit "$rc"; }
	for kind in client server; do
		for name in "${!D_PID[@]}"; do
			[[ ${D_KIND[$name]} == "$kind" ]] || continue
			pid=${D_PID[$name]}
			m=${D_MNT[$name]}
			if ((FAST_CLEANUP)); then
				is_mounted "$m" && fusermount3 -uz "$m" 2>/dev/null
			elif is_mounted "$m"; then
				timeout 5 fusermount3 -u "$m" 2>/dev/null ||
					fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
			fi
			if [[ -n $pid ]]; then
				((FAST_CLEANUP)) && kill -9 "$pid" 2>/dev/null
				wait_exit "$pid" 5 || echo "cleanup: killed $name (pid $pid)"
			fi
		done
	done
	for m in "${ALL_MOUNTS[@]}"; do
		is_mounted "$m" && { fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
	done
	if [[ -n $(fuse_mounts_under "$T") ]]; then
		abort_mounts_under "$T"
	fi
	# Other file systems a test mounted (e.g. a small tmpfs store), once the
	# daemons using them are gone.
	for m in "${EXTRA_MOUNTS[@]}"; do
		mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	run_cleanup_hooks
	((rc != 0 && rc != 77)) && dump_logs
	if [[ -n $(fuse_mounts_under "$T") ]]; then
		echo "cleanup: WARNING: mounts left under $T, not removing it:"
		fuse_mounts_under "$T"
	elif [[ ${BRAIDFS_TEST_KEEP:-0} == 1 ]]; then
		echo "cleanup: keeping $T"
	else
		rm -rf --one-file-system -- "$T"
	fi
	exit "$rc"
}

# watchdog SECS: a little before meson's timeout, abort the FUSE connections
# (so nothing stays blocked on a hung daemon) and TERM this script, so that
# cleanup runs and the logs are printed.
start_watchdog() {
	local secs=$1 main=$$
	(
		trap - EXIT ERR INT
		set +eE
		sp=
		trap '[[ -n $sp ]] && kill "$sp" 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		sp=$!
		wait "$sp" || exit 0
		{
			echo "watchdog: $TEST_NAME still running after $secs s: aborting its FUSE mounts"
			abort_mounts_under "$T"
			kill -TERM "$main"
		} >>"$T/watchdog.log" 2>&1
	) </dev/null >/dev/null 2>&1 &
	WATCHDOG_PID=$!
}

# ---------------------------------------------------------------- trees

# make_tree DIR NDIRS NSUB NFILES MAXSIZE SEED: NDIRS x NSUB directories of
# NFILES files each, random (seeded) contents of 0..MAXSIZE bytes.
make_tree() {
	python3 - "$@" <<'EOF'
import os, random, sys
root = sys.argv[1]
nd, ns, nf, mx, seed = map(int, sys.argv[2:7])
r = random.Random(seed)
for d in range(nd):
    for s in range(ns):
        p = os.path.join(root, f"d{d}", f"s{s}")
        os.makedirs(p, exist_ok=True)
        for f in range(nf):
            with open(os.path.join(p, f"f{f}.dat"), "wb") as fh:
                fh.write(r.randbytes(r.randint(0, mx)))
EOF
}

# make_files ROOT N SIZE NDIRS: N files of SIZE random bytes, spread over
# NDIRS directories (ROOT/dNN/fNNNNN), for the benchmarks of many files
make_files() {
	python3 - "$@" <<'EOF'
import os, sys
root, n, size, nd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    d = os.path.join(root, f"d{i % nd:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}"), "wb") as f:
        f.write(os.urandom(size))
EOF
}

# tree_listing DIR: "path<TAB>f<TAB>size" / "path<TAB>d" lines, sorted; dotfiles at the
# top level excluded (.session).
tree_listing() {
	(cd "$1" && find . -mindepth 1 \( -path './.*' -prune \) -o \
		\( -type f -printf '%P\tf\t%s\n' \) -o \( -type d -printf '%P\td\n' \) -o \
		\( -printf '%P\t%y\n' \)) | LC_ALL=C sort
}

# count_files DIR / sum_bytes DIR (regular files, top-level dotfiles excluded)
count_files() { tree_listing "$1" | awk -F'\t' '$2 == "f" { n++ } END { print n + 0 }'; }
sum_bytes() { tree_listing "$1" | awk -F'\t' '$2 == "f" { n += $3 } END { printf "%d\n", n }'; }

# diff_trees EXPECTED ACTUAL: diff -r (ignoring .session), first lines shown
diff_trees() {
	local out rc=0
	out=$(LC_ALL=C diff -r -x .session -- "$1" "$2" 2>&1) || rc=$?
	if ((rc != 0)); then
		printf '%s\n' "$out" | head -n 40
		return 1
	fi
}

# compare_listings A B: identical tree_listing (names, types, sizes)
compare_listings() {
	local out rc=0
	out=$(diff <(tree_listing "$1") <(tree_listing "$2")) || rc=$?
	((rc == 0)) && return 0
	printf '%s\n' "$out" | head -n 40
	return 1
}

# ------------------------------------------------------------- sessions

# sanitize_label TEXT: what the server makes of a label in directory names
sanitize_label() { LC_ALL=C sed 's/[^A-Za-z0-9._]/_/g' <<<"$1"; }

# session_dirs MNT: names of the session directories (no dotfiles), sorted
session_dirs() {
	find "$1" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | LC_ALL=C sort
}

# session_re [LABEL]: regex for a session directory name
session_re() {
	if [[ -n ${1:-} ]]; then
		printf '^[0-9]{8}-[0-9]{6}-%s-[0-9a-f]{8}$' "$(sanitize_label "$1" | sed 's/\./\\./g')"
	else
		printf '^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$'
	fi
}

# session_for_label MNT LABEL: path of the one session dir with that label
# wait_spool_empty MNT SECONDS: delivery=async has delivered everything
# (MNT/.braidfs/spool says pending 0, nothing being written)
# spool_field MNT KEY: the value of KEY in MNT/.braidfs/spool
spool_field() { awk -v k="$2" '$1 == k { print $2 }' "$1/.braidfs/spool"; }

wait_spool_empty() {
	local deadline=$((SECONDS + $(tmo "$2")))
	while ((SECONDS < deadline)); do
		if awk '$1 == "pending" && $2 == 0 { p = 1 } $1 == "writing" && $2 == 0 { w = 1 }
			$1 == "dirs_pending" && $2 != 0 { d = 1 }
			END { exit !(p && w && !d) }' "$1/.braidfs/spool" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "spool of $1 not empty after $2 s:" >&2
	cat "$1/.braidfs/spool" >&2 || true
	return 1
}
session_for_label() {
	local re names
	re=$(session_re "${2:-}")
	names=$(session_dirs "$1" | grep -E "$re" || true)
	if [[ -z $names || $(wc -l <<<"$names") -ne 1 ]]; then
		echo "no single session directory matching $re in $1: $(session_dirs "$1" | tr '\n' ' ')" >&2
		return 1
	fi
	echo "$1/$names"
}

# session_field FILE KEY: value of "KEY: value" in a .session file
session_field() { sed -n "s/^$2: *//p" "$1" | head -n 1; }

# check_session_file SESSDIR LABEL PATHS ITEMS BYTES: all keys present and
# the values we know
check_session_file() {
	local s=$1/.session key
	check ".session exists in $(basename "$1")" test -f "$s"
	[[ -f $s ]] || return 0
	echo "   .session:"
	sed 's/^/     /' "$s"
	for key in id label clients paths items bytes started last_activity state; do
		check ".session has key '$key'" grep -qE "^$key:" "$s"
	done
	[[ -n $2 ]] && assert_eq "$2" "$(session_field "$s" label)" ".session label"
	[[ -n $3 ]] && assert_eq "$3" "$(session_field "$s" paths)" ".session paths"
	[[ -n $4 ]] && assert_eq "$4" "$(session_field "$s" items)" ".session items"
	[[ -n $5 ]] && assert_eq "$5" "$(session_field "$s" bytes)" ".session bytes"
	return 0
}

# ------------------------------------------------------- client status

# status_cols MNT COLUMN...: the client's MNT/.braidfs/paths, one line per
# path with the named columns (by the header's names; "index" also matches
# a first column called "path"; a column the header lacks prints "-").
status_cols() {
	local mnt=$1
	shift
	awk -v want="$*" '
		BEGIN { nw = split(want, w, " ") }
		/^#/ && !hdr { sub(/^# */, ""); for (i = 1; i <= NF; i++) col[$i] = i; hdr = 1; next }
		/^#/ || NF == 0 { next }
		{
			if (!hdr) {   # no header: the documented order
				split("index address source state bytes chunks in_flight rtt_ms rate_MBps retries", d, " ")
				for (i in d) col[d[i]] = i; hdr = 1
			}
			if (!("index" in col) && ("path" in col)) col["index"] = col["path"]
			line = ""
			for (i = 1; i <= nw; i++) line = line (i > 1 ? " " : "") ((w[i] in col) ? $(col[w[i]]) : "-")
			print line
		}' "$mnt/.braidfs/paths"
}

# path_col MNT INDEX COLUMN -> that path's value (0-based index as listed)
path_col() { status_cols "$1" index "$3" | awk -v i="$2" '$1 == i { print $2 }'; }

# acked_total MNT -> the sum of the client's per-path acknowledged bytes
acked_total() { status_cols "$1" bytes | awk '{ n += $1 } END { printf "%d\n", n }'; }

# _acked_at_least MNT BYTES
_acked_at_least() { (($(acked_total "$1") >= $2)); }

# wait_acked MNT BYTES SECS: until the paths of MNT have BYTES acknowledged
wait_acked() { wait_until "$3" "$2 bytes acknowledged in $1" _acked_at_least "$1" "$2"; }

# show_status MNT: print the client's status file, indented
show_status() { sed 's/^/   | /' "$1/.braidfs/paths" 2>&1 || true; }

# path_down_or_retried MNT INDEX: path INDEX of the client is not up, or is
# up again after a re-attach (retries >= 1)
path_down_or_retried() {
	local st re
	read -r st re <<<"$(status_cols "$1" index state retries | awk -v i="$2" '$1 == i { print $2, $3 }')"
	[[ -n $st ]] || return 1
	[[ $st != up ]] && return 0
	[[ $re =~ ^[0-9]+$ ]] && ((re >= 1))
}

# ------------------------------------------------- a cp in the background

# cp_bg SECS SRC... DEST: start `cp SRC... DEST` in the background, bounded
# by SECS (scaled), stderr in $T/cp.err. cp_wait collects it.
CP_PID=
cp_bg() {
	local secs
	secs=$(tmo "$1")
	shift
	rm -f "$T/cp.result"
	(
		trap - ERR EXIT INT TERM
		set +eE
		t0=$(now)
		timeout -k 5 "$secs" cp "$@" 2>"$T/cp.err"
		rc=$?
		echo "$rc $(elapsed "$t0") $(date +%s.%N)" >"$T/cp.result"
	) &
	CP_PID=$!
	BG_PIDS+=("$CP_PID")
}

# cp_wait: wait for the cp of cp_bg; sets CP_RC (exit status), CP_SECS
# (its duration) and CP_END (epoch seconds when it ended)
# shellcheck disable=SC2034 # CP_END is for the tests
cp_wait() {
	wait "$CP_PID" 2>/dev/null || true
	CP_PID=
	[[ -s $T/cp.result ]] || fail "the background cp left no result"
	read -r CP_RC CP_SECS CP_END <"$T/cp.result"
	if [[ -s $T/cp.err ]]; then
		sed 's/^/   cp: /' "$T/cp.err"
	fi
	printf '   cp exited with status %s after %s s\n' "$CP_RC" "$CP_SECS"
}

# cp_running: the cp of cp_bg has not ended yet
cp_running() { [[ -n $CP_PID ]] && [[ ! -s $T/cp.result ]]; }

# ----------------------------------------------------- copies in a loop

# copy_loop_start SRC MNT SESSDIR: in the background, cp SRC to
# MNT/big-I.bin for I = 1, 2, ... one after the other, each compared (cmp)
# with SESSDIR/big-I.bin (the server's view) once cp returns, the one
# before removed there to bound the disk used; until copy_loop_stop, at
# least once, at most 100 times, and stopping at the first failure. The
# steps go to $T/copies.log ("cp I RC", "cmp I RC"). Returns once the
# first copy is under way (MNT's paths have bytes acknowledged since), so
# that what the test does next meets a transfer, however slow the machine.
COPY_PID=
copy_loop_start() {
	local before
	before=$(acked_total "$2")
	: >"$T/copies.log"
	rm -f "$T/copies.stop"
	bg _copy_loop "$@"
	COPY_PID=$BG_LAST
	wait_until 60 "the first copy under way" _copy_under_way "$2" "$before" ||
		fail "the first copy into $2 did not start"
}

_copy_under_way() { (($(acked_total "$1") > $2)) || ! pid_alive "$COPY_PID"; }

_copy_loop() {
	local src=$1 mnt=$2 sess=$3 i=0 rc
	while ((i < 100)); do
		i=$((i + 1))
		((i > 1)) && rm -f "$sess/big-$((i - 1)).bin"
		rc=0
		run_t 60 cp "$src" "$mnt/big-$i.bin" || rc=$?
		echo "cp $i $rc" >>"$T/copies.log"
		((rc == 0)) || return 1
		rc=0
		cmp "$src" "$sess/big-$i.bin" || rc=$?
		echo "cmp $i $rc" >>"$T/copies.log"
		((rc == 0)) || return 1
		[[ -e $T/copies.stop ]] && break
	done
	return 0
}

# copy_loop_stop: let the copy under way finish, and no other start; sets
# COPY_RC (0: every cp and cmp succeeded) and COPIES (how many were made)
# shellcheck disable=SC2034 # for the tests
copy_loop_stop() {
	touch "$T/copies.stop"
	COPY_RC=0
	wait "$COPY_PID" || COPY_RC=$?
	COPIES=$(grep -c '^cp ' "$T/copies.log" || true)
	echo "   $COPIES copies; failed steps: $(grep -v ' 0$' "$T/copies.log" | tr '\n' ' ')"
}

# ------------------------------------------------------------- setup

if [[ -z ${BRAIDFS:-} || -z ${BRAIDFSD:-} ]]; then
	_b=${BUILD_DIR:-$LIB_DIR/../../build}
	: "${BRAIDFS:=$_b/src/client/braidfs}"
	: "${BRAIDFSD:=$_b/src/server/braidfsd}"
fi

[[ -c /dev/fuse && -r /dev/fuse && -w /dev/fuse ]] || skip "/dev/fuse is missing or not usable"

trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
trap cleanup EXIT
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM

command -v fusermount3 >/dev/null || fail "fusermount3 not found (install fuse3)"
command -v python3 >/dev/null || fail "python3 not found"
[[ -x $BRAIDFS ]] || fail "BRAIDFS=$BRAIDFS is not an executable"
[[ -x $BRAIDFSD ]] || fail "BRAIDFSD=$BRAIDFSD is not an executable"

for _d in "${BRAIDFS_TEST_TMPDIR:-}" /var/tmp "${TMPDIR:-}" /tmp; do
	[[ -n $_d && -d $_d && -w $_d ]] && break
done
T=$(mktemp -d "$_d/braidfs-it.XXXXXX")
T=$(realpath "$T")
mkdir -p "$T/logs"
unset _d _b

if [[ -n ${BRAIDFS_TEST_TIMEOUT:-} ]]; then
	_wd=$(($(tmo "$BRAIDFS_TEST_TIMEOUT") - 15))
	((_wd < 10)) && _wd=10
	start_watchdog "$_wd"
	unset _wd
fi

note "$TEST_NAME: tmp $T, client $BRAIDFS, server $BRAIDFSD"
