#!/usr/bin/env bash
# tools.sh [async]: the tools people use on a directory work on the
# outbox, and what they ask for reaches the server: rsync -a (temp file,
# then rename, then modes and times), cp -a and tar -x (modes and mtimes),
# a shell redirection written by several processes in turn, touch, rm and
# mv of delivered files, and a file renamed while it is still open.
# With "async" the client runs with delivery=async and a spool: renames and
# attribute changes then mostly meet files still in the spool.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
SRC=$T/src
mkdir -p "$SRC/d/e"
head -c 200000 /dev/urandom >"$SRC/d/e/data.bin"
printf 'secret\n' >"$SRC/d/private.txt"
printf '#!/bin/sh\necho hi\n' >"$SRC/d/run.sh"
chmod 600 "$SRC/d/private.txt"
chmod 755 "$SRC/d/run.sh"
touch -d '2001-02-03 04:05:06' "$SRC/d/e/data.bin"
touch -d '2010-10-10 10:10:10' "$SRC/d/private.txt" "$SRC/d/run.sh"

start_server server "$T/srv" "$T/store"
MODE=${1:-close}
if [[ $MODE == async ]]; then
	start_client client "$T/cli" label=tools "spool=$T/spool"
else
	start_client client "$T/cli" label=tools
fi
CLI=$T/cli

check "rsync -a into the client mount" run_t 60 rsync -a "$SRC/" "$CLI/rs/"
check "cp -a into the client mount" run_t 60 cp -a "$SRC" "$CLI/cpa"
check "tar -x into the client mount" run_t 60 bash -c \
	'set -o pipefail; mkdir "$2/tar" && tar -C "$1" -cf - . | tar -C "$2/tar" -xf -' _ "$SRC" "$CLI"
check "redirection written by two processes in turn" \
	run_t 30 bash -c '{ /bin/echo one; /bin/echo two; } >"$1/multi.txt"' _ "$CLI"
check "touch makes an empty file" run_t 10 touch "$CLI/empty"
check "cp then mv in the outbox" run_t 30 bash -c 'cp "$1/d/private.txt" "$2/moveme" && mv "$2/moveme" "$2/moved"' _ "$SRC" "$CLI"
check "cp then rm in the outbox" run_t 30 bash -c 'cp "$1/d/run.sh" "$2/gone" && rm "$2/gone"' _ "$SRC" "$CLI"
# A download-style writer: opens a temp name, writes, renames it while the
# descriptor is still open, writes more, closes.
check "a file renamed while it is open" run_t 30 python3 - "$CLI" "$SRC/d/e/data.bin" <<'PY'
import os, sys
cli, src = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
f = open(os.path.join(cli, "download.part"), "wb")
f.write(data[:100000])
os.rename(os.path.join(cli, "download.part"), os.path.join(cli, "download.bin"))
f.write(data[100000:])
f.close()
assert os.path.exists(os.path.join(cli, "download.bin"))
assert not os.path.exists(os.path.join(cli, "download.part"))
PY
if [[ $MODE == async ]]; then
	check "the spool drains" wait_spool_empty "$CLI" 60
fi

SESS=$(session_for_label "$T/srv" tools) || fail "no session for label tools"

# meta DIR: "path mode mtime" of every regular file below DIR
meta() {
	(cd "$1" && find . -type f ! -name .session -printf '%P %m %T@\n' |
		sed 's/\.[0-9]*$//' | LC_ALL=C sort)
}
for tree in rs cpa tar; do
	check "$tree: content equal to the source" diff -r "$SRC" "$SESS/$tree"
	check "$tree: modes and mtimes equal to the source" \
		diff <(meta "$SRC") <(meta "$SESS/$tree")
done
assert_eq "$(printf 'one\ntwo')" "$(cat "$SESS/multi.txt" 2>&1)" "both processes' output arrived"
assert_eq 0 "$(stat -c %s "$SESS/empty" 2>&1)" "touch: empty file on the server"
check "mv: the new name is on the server" cmp "$SRC/d/private.txt" "$SESS/moved"
check "mv: the old name is gone from the server" test ! -e "$SESS/moveme"
check "rm: the file is gone from the server" test ! -e "$SESS/gone"
leftovers=$(find "$SESS/rs" -name '.*' ! -name .session | head -n 3)
assert_eq "" "$leftovers" "rsync left no temp files on the server"
check "renamed while open: all of it under the new name" cmp "$SRC/d/e/data.bin" "$SESS/download.bin"
check "renamed while open: the temp name is not on the server" test ! -e "$SESS/download.part"

finish
