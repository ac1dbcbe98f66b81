#!/usr/bin/env bash
# modes.sh: braidfsd stores no setuid or setgid bit, and no sticky bit on a
# file, however the client asks: in a new file's mode (install -m), in a
# chmod of a delivered file or directory (SETATTR), in a mkdir (MKDIR).
# The other bits arrive as given; a directory keeps its sticky bit.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
printf '#!/bin/sh\nid -u\n' >"$T/tool"

start_server server "$T/srv" "$T/store"
start_client client "$T/cli" label=modes
CLI=$T/cli
check "install -m 4755 into the outbox" install -m 4755 "$T/tool" "$CLI/suid"
check "install -m 2711 into the outbox" install -m 2711 "$T/tool" "$CLI/sgid"
check "cp, then chmod 6755 of the delivered file" \
	bash -c 'cp "$1" "$2/later" && chmod 6755 "$2/later"' _ "$T/tool" "$CLI"
check "cp, then chmod 1644 of the delivered file" \
	bash -c 'cp "$1" "$2/sticky" && chmod 1644 "$2/sticky"' _ "$T/tool" "$CLI"
check "mkdir -m 3775" mkdir -m 3775 "$CLI/shared"
check "mkdir, then chmod 2755" bash -c 'mkdir "$1" && chmod 2755 "$1"' _ "$CLI/grp"
check "a file in it" cp "$T/tool" "$CLI/shared/inner"
SESS=$(session_for_label "$T/srv" modes) || fail "no session for label modes"
DATA=$T/store/$(basename "$SESS")/data

mode_of() { stat -c %a "$1" 2>&1; }
assert_eq 755 "$(mode_of "$DATA/suid")" "a 4755 file is stored 755"
assert_eq 711 "$(mode_of "$DATA/sgid")" "a 2711 file is stored 711"
assert_eq 755 "$(mode_of "$DATA/later")" "chmod 6755 of a delivered file gives 755"
assert_eq 644 "$(mode_of "$DATA/sticky")" "chmod 1644 of a delivered file gives 644"
assert_eq 1775 "$(mode_of "$DATA/shared")" "mkdir -m 3775 gives 1775 (sticky kept on a directory)"
assert_eq 755 "$(mode_of "$DATA/grp")" "chmod 2755 of a directory gives 755"
assert_eq 755 "$(mode_of "$SESS/suid")" "the view shows the same"
check "nothing in the store has a setuid or setgid bit" \
	test -z "$(find "$T/store" -perm /6000 -print)"
check "the files arrive bit-exact" cmp "$T/tool" "$SESS/shared/inner"

finish
