#!/usr/bin/env bash
# allow-other.sh: with allow_other, both mounts let the kernel check
# permissions (default_permissions, always added). Root copies a 0600 file,
# a 0644 file and makes a 0700 directory through the outbox; then nobody
# (setpriv --reuid/--regid/--clear-groups, no capabilities):
#   view:   cannot read the 0600 file, can read the 0644 one, cannot
#           remove either nor the session directory;
#   outbox: cannot overwrite root's 0600 file, cannot create in the 0700
#           directory nor in the outbox's root, cannot read .braidfs/
#           (the mounting user's only).
# What nobody tried changes nothing on the server. Root still can do all.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
# nobody must reach the mount points: the temp dir is 0700
chmod 711 "$T"
as_nobody() { run_t 10 setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$@"; }
# denied WHAT CMD...: CMD as nobody fails with "Permission denied"
denied() {
	local what=$1 out rc=0
	shift
	out=$(as_nobody "$@" 2>&1) || rc=$?
	echo "   nobody: $*: exit $rc: $out"
	check "nobody $what: refused" test "$rc" -ne 0
	check "... with EACCES or EPERM" grep -qE "Permission denied|Operation not permitted" <<<"$out"
}

start_server server "$T/srv" "$T/store" allow_other
start_client client "$T/cli" label=perm allow_other
CLI=$T/cli
printf 'root only\n' >"$T/secret.txt"
chmod 600 "$T/secret.txt"
printf 'everyone\n' >"$T/public.txt"
chmod 644 "$T/public.txt"
check "root copies a 0600 and a 0644 file into the outbox" cp "$T/secret.txt" "$T/public.txt" "$CLI/"
check "root makes a 0700 directory in the outbox" mkdir -m 700 "$CLI/private"
SESS=$(session_for_label "$T/srv" perm) || fail "no session for label perm"
assert_eq 600 "$(stat -c %a "$SESS/secret.txt")" "the view shows secret.txt with mode 600"

note "the server's view"
denied "reads a 0600 file in the view" cat "$SESS/secret.txt"
check "nobody reads a 0644 file in the view" as_nobody cat "$SESS/public.txt"
denied "removes a file in the view" rm -f "$SESS/public.txt"
denied "removes a session" rmdir "$SESS"
check "... the files are still there" test -f "$T/store/$(basename "$SESS")/data/public.txt"

note "the client's outbox"
denied "overwrites root's 0600 file" sh -c 'echo forged >"$1"' _ "$CLI/secret.txt"
denied "creates a file in root's 0700 directory" sh -c 'echo forged >"$1"' _ "$CLI/private/f"
denied "creates a file in the outbox's root (root's, 0755)" sh -c 'echo forged >"$1"' _ "$CLI/forged.txt"
denied "renames root's file" mv "$CLI/public.txt" "$CLI/private/moved.txt"
denied "reads the status files" cat "$CLI/.braidfs/paths"
check "root reads the status files" cat "$CLI/.braidfs/paths"
check "root overwrites its own file" sh -c 'echo again >"$1"' _ "$CLI/public.txt"
check "... whose new version is on the server" grep -qx again "$SESS/public.txt"
check "secret.txt on the server is root's, unchanged" cmp "$T/secret.txt" "$SESS/secret.txt"
check "nothing nobody tried reached the server" \
	bash -c '! ls -R "$1" | grep -qE "forged|moved|^f$"' _ "$T/store/$(basename "$SESS")/data"
check "root removes a file in the view" rm "$SESS/public.txt"

finish
