#!/usr/bin/env bash
# exec-hook.sh: -o exec_on_store=PROGRAM runs PROGRAM once per stored
# file, without a shell, with the file's path in the view as its one
# argument (names with spaces, quotes and $ arrive intact) and a clean
# environment naming the session, path, size and digest; no more than
# exec_jobs at once; a run over exec_timeout is killed and logged; a
# PROGRAM that is not an absolute executable path fails the start.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$T/hook"
cat >"$T/hook/run" <<HOOK
#!/bin/sh
# one line per run: the argument, what it reads there, the environment
if ! mkdir "$T/hook/running" 2>/dev/null; then echo OVERLAP >>"$T/hook/overlaps"; fi
case "\$1" in *slow*) echo \$\$ >"$T/hook/slow.pid"; sleep 600 ;; esac
printf '%s|%s|%s|%s|%s|%s\n' "\$1" "\$(sha256sum <"\$1" | cut -d' ' -f1)" \
	"\$BRAIDFS_PATH" "\$BRAIDFS_SIZE" "\$BRAIDFS_DIGEST" "\${HOME:-nohome}" >>"$T/hook/log"
rmdir "$T/hook/running"
HOOK
chmod +x "$T/hook/run"

note "a bad exec_on_store fails the start"
PORT=$(free_port)
mkdir -p "$T/srv"
RC=0
run_t 20 "$BRAIDFSD" "$T/srv" -f -o "listen=127.0.0.1:$PORT,store=$T/store,exec_on_store=run" \
	>"$T/bad.out" 2>&1 || RC=$?
assert_eq 1 "$RC" "exec_on_store=run (not absolute) exits 1"
check "and says why" grep -qF "absolute path of an executable" "$T/bad.out"

start_server server "$T/srv" "$T/store" "exec_on_store=$T/hook/run" exec_jobs=1 exec_timeout=2
start_client client "$T/cli"
runs() { wc -l <"$T/hook/log" 2>/dev/null || echo 0; }
runs_at_least() { (($(runs) >= $1)); }

note "one run per stored file"
mkdir -p "$T/src/d"
names=(plain "with space" "q'uote" 'dollar$HOME' "d/nested")
for n in "${names[@]}"; do head -c $((RANDOM + 1)) /dev/urandom >"$T/src/$n"; done
cp -r "$T/src/." "$T/cli/" || fail "cp -r"
wait_until 60 "${#names[@]} hook runs" runs_at_least "${#names[@]}" || fail "hook ran $(runs) times"
sed 's/^/   | /' "$T/hook/log"
SESS=$(session_for_label "$T/srv")
for n in "${names[@]}"; do
	sum=$(sha256sum <"$T/src/$n" | cut -d' ' -f1)
	b3=$(b3sum <"$T/src/$n" | cut -d' ' -f1)
	want="$SESS/$n|$sum|$n|$(stat -c %s "$T/src/$n")|blake3:$b3|nohome"
	assert_eq 1 "$(W=$want awk -F'\n' '$0 == ENVIRON["W"] { n++ } END { print n + 0 }' "$T/hook/log")" \
		"one run for '$n': its view path, readable, its environment"
done
check "never two runs at once (exec_jobs=1)" test ! -e "$T/hook/overlaps"

note "a run over exec_timeout is killed"
echo x >"$T/cli/slow" || fail "cp slow"
killed() { grep -qF "exec_on_store $T/hook/run for $(basename "$SESS")/slow: killed after exec_timeout" "$(daemon_log server)"; }
wait_until 60 "the kill of the slow run logged" killed || fail "the slow run was not killed"
pass "the slow run was killed and logged"
# what it started (sleep) went with it: its process group is empty
group_gone() { ! pgrep -g "$(cat "$T/hook/slow.pid")" >/dev/null; }
wait_until 10 "the slow run's process group gone" group_gone ||
	{ pkill -KILL -g "$(cat "$T/hook/slow.pid")" || true; fail "the slow run's children survived"; }
pass "the slow run's children were killed too"
rmdir "$T/hook/running" 2>/dev/null || true
echo y >"$T/cli/after" || fail "cp after"
wait_until 60 "the hook runs again after the kill" runs_at_least $((${#names[@]} + 1)) ||
	fail "no run after the killed one"

stop_all
finish
