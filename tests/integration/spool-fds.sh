#!/usr/bin/env bash
# spool-fds.sh: the spool with few descriptors (issue 19.5).
#  1. a spool of 60 committed files is mounted again by a client limited
#     to 40 open files: every one is delivered (an older client held one
#     descriptor per file, ran out, and deleted those it could not open as
#     "no close(2) succeeded")
#  2. with that limit, 1000 files spooled behind a frozen server: every
#     create and close succeeds (queued files hold no descriptor), and all
#     1000 are delivered once the server thaws

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SPOOL=$T/spool
start_server server "$T/srv" "$T/store"
SPID=$(daemon_pid server)

python3 - "$T" <<'EOF2'
import os, random, sys
t = sys.argv[1]
r = random.Random(19)
for d, n in (("src1", 60), ("src2", 1000)):
    os.makedirs(os.path.join(t, d))
    for i in range(n):
        with open(os.path.join(t, d, f"f{i:04d}.bin"), "wb") as f:
            f.write(r.randbytes(r.choice([1, 100, 4096, 20000])))
EOF2

# The client with at most 40 open files, as `ulimit -n 40` would make it.
cat >"$T/braidfs-40" <<EOF2
#!/bin/sh
ulimit -n 40 || exit 1
exec "$BRAIDFS" "\$@"
EOF2
chmod +x "$T/braidfs-40"

note "1. 60 committed files, remounted with ulimit -n 40"
start_client c1 "$T/cli" label=fds "spool=$SPOOL"
SESS=$(session_for_label "$T/srv" fds) || fail "no session for label fds"
mkdir "$T/cli/one"
kill -STOP "$SPID"
check "cp of 60 files returns while the server is frozen" run_t 60 cp "$T/src1"/* "$T/cli/one/"
kill_daemon c1 KILL
kill -CONT "$SPID"
check "the spool holds 60 files" \
	test "$(python3 "$LIB_DIR/spool_file.py" committed "$SPOOL/items")" -eq 60
BRAIDFS=$T/braidfs-40 start_client c2 "$T/cli" label=fds "spool=$SPOOL"
check "the client runs with 40 descriptors at most" \
	grep -Eq '^Max open files +40 +40' "/proc/$(daemon_pid c2)/limits"
check "the spool drains" wait_spool_empty "$T/cli" 120
check "all 60 arrived bit-exact" diff -r "$T/src1" "$SESS/one"
check "the log says 60 files were recovered" \
	grep -q "60 files from an earlier mount to deliver" "$(daemon_log c2)"

note "2. 1000 files spooled behind a frozen server, with ulimit -n 40"
mkdir "$T/cli/two"
kill -STOP "$SPID"
check "cp of 1000 files succeeds while the server is frozen" \
	run_t 300 cp "$T/src2"/* "$T/cli/two/"
check "the client did not run out of descriptors" \
	bash -c '! grep -q "Too many open files" "$1"' _ "$(daemon_log c2)"
kill -CONT "$SPID"
check "the spool drains" wait_spool_empty "$T/cli" 180
check "all 1000 arrived bit-exact" diff -r "$T/src2" "$SESS/two"

finish
