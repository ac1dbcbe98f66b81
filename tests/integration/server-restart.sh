#!/usr/bin/env bash
# server-restart.sh: braidfsd is killed (-9) and started again on the same
# store and port while a client is mounted and a file is open for writing.
# The client's paths re-attach to the same session (its directory and token
# survive in the store), the server's WELCOME names a new process, and the
# client fails the file that was in flight at once, with a message saying
# the server restarted (this version does not resume transfers), instead
# of waiting for its timeout or looping; then the session goes on: a new
# file arrives in the same session directory, and the partial one is not
# visible.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_space 100
PORT=$(free_port)
start_server server "$T/srv" "$T/store"
# timeout=60: a failure that only came from the all-paths-down timeout
# would take a minute; the restart must be noticed in a few seconds.
start_client client "$T/cli" label=restarted paths=2 timeout=60
printf 'before\n' >"$T/pre.txt"
check "cp of a file before the restart" run_t 60 cp "$T/pre.txt" "$T/cli/pre.txt"
SESS=$(session_for_label "$T/srv" restarted) || fail "no session for label restarted"
SESS_NAME=$(basename "$SESS")

cat >"$T/writer.py" <<'EOF'
import errno, os, sys, time
path, started, go = sys.argv[1:4]
name = lambda e: errno.errorcode.get(e.errno, str(e.errno))
buf = os.urandom(1 << 20)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(8):
    os.write(fd, buf)
open(started, "w").close()
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
t0 = time.time()
res = []
try:
    for _ in range(8):
        os.write(fd, buf)
    res.append("write:OK")
except OSError as e:
    res.append("write:" + name(e))
try:
    os.close(fd)
    res.append("close:OK")
except OSError as e:
    res.append("close:" + name(e))
print(" ".join(res), "%.1f" % (time.time() - t0), flush=True)
EOF
bg run_t 150 python3 "$T/writer.py" "$T/cli/partial.bin" "$T/started" "$T/go" \
	>"$T/writer.out" 2>&1
wpid=$BG_LAST
deadline=$((SECONDS + $(tmo 60)))
until [[ -e $T/started ]]; do
	pid_alive "$wpid" || break
	((SECONDS < deadline)) || break
	sleep 0.05
done
check "writer wrote 8 MiB into the client mount" test -e "$T/started"

note "kill -9 the server, start it again on the same store and port"
kill_daemon server KILL
start_server server "$T/srv" "$T/store"
touch "$T/go"
wrc=0
wait "$wpid" || wrc=$?
read -r -a res <"$T/writer.out" || true
echo "   writer: exit $wrc: ${res[*]}"
check "writer finished (not stopped by its timeout)" test "$wrc" -eq 0
check "finishing the file fails with EIO" grep -q ':EIO' "$T/writer.out"
check "close does not report success" bash -c '! grep -q "close:OK" "$1"' _ "$T/writer.out"
secs=${res[${#res[@]} - 1]:-999}
check "it failed within 20 s of the restart, not at the 60 s timeout ($secs s)" \
	awk -v s="$secs" 'BEGIN { exit !(s < 20) }'
LOG=$(daemon_log client)
check "the client log says the server restarted" grep -q "server .* restarted: files in flight fail (1)" "$LOG"
check "and names the file" grep -q "did not store 'partial.bin': the server restarted" "$LOG"
grep -m 2 -E "restarted" "$LOG" | sed 's/^/     /' || true

note "the session goes on"
printf 'after\n' >"$T/post.txt"
check "cp of a new file after the restart" run_t 60 cp "$T/post.txt" "$T/cli/post.txt"
SESS=$(session_for_label "$T/srv" restarted) || fail "no session for label restarted after the restart"
assert_eq "$SESS_NAME" "$(basename "$SESS")" "the same session directory"
check "the file from before is there" cmp "$T/pre.txt" "$SESS/pre.txt"
check "the new file arrived in the same session" cmp "$T/post.txt" "$SESS/post.txt"
check "the partial file is not visible" test ! -e "$SESS/partial.bin"
check "the server's .session shows the client connected" grep -q "^state: connected" "$SESS/.session"

finish
