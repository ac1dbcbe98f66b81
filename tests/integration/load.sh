#!/usr/bin/env bash
# load.sh [CLIENTS PATHS FILES]: many clients at once (issue 12's load
# test). CLIENTS braidfs mounts, each from a loopback address of its own
# (127.0.5.N: every path leaves from it, path=127.0.0.1:PORT@127.0.5.N),
# with PATHS paths each, copy FILES files each (cp -r, all clients at
# once) into one braidfsd. Then:
#  - every cp exited 0 and no client logged an error;
#  - every file arrived bit-exact in every client's session (sha256sum of
#    every stored file against the source's);
#  - the server's threads, descriptors and peak RSS, sampled every 0.2 s
#    while the copies run, stay within bounds that do not grow with the
#    files: threads <= CLIENTS x PATHS + 64 (one per path, plus the
#    committer's, syncers', janitor's, FUSE's), descriptors <= 2 per path +
#    16 per session + 64, peak RSS <= 32 MiB + 2 MiB per path (256 MiB per
#    path under a sanitizer); all three are printed.
# Defaults (CI): 8 clients x 4 paths x 25 files. The full run, 64 x 4 x
# 200, is the test load-full (suite slow).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENTS=${1:-8}
PATHS=${2:-4}
FILES=${3:-25}
NPATHS=$((CLIENTS * PATHS))
need_space $((CLIENTS * FILES / 8 + 100))
PORT=$(free_port)

note "$CLIENTS clients x $PATHS paths x $FILES files"
mkdir -p "$T/src"
python3 - "$T/src" "$FILES" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
r = random.Random(12)
for i in range(n):
    # mostly small, some of several chunks (chunk_size 256K)
    size = r.choice([0, 1, 1000, 4096, 20000, 65536]) if i % 25 else 700_001
    sub = os.path.join(d, "d%d" % (i % 4))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d.bin" % i), "wb") as f:
        f.write(r.randbytes(size))
PY
(cd "$T/src" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/src.sums"
BYTES=$(du -sb "$T/src" | cut -f1)

# room for every path's handshake at once; nothing else changed
start_server server "$T/srv" "$T/store" max_handshakes=$((NPATHS + 16)) \
	max_handshakes_per_addr=$((PATHS + 4)) max_sessions=$((CLIENTS + 8))
SPID=$(daemon_pid server)
SLOG=$(daemon_log server)

t0=$(now)
for i in $(seq 1 "$CLIENTS"); do
	src=127.0.5.$i
	opts=(label="load$i")
	for _ in $(seq 1 "$PATHS"); do opts+=("path=127.0.0.1:$PORT@$src"); done
	start_client "c$i" "$T/cli$i" "${opts[@]}"
done
note "$CLIENTS clients mounted in $(elapsed "$t0") s"

# the server's figures while the copies run (the highest seen)
sample() {
	local th fd rss mth=0 mfd=0
	while [[ ! -e $T/stop-sampling ]]; do
		th=$(awk '/^Threads:/ { print $2 }' "/proc/$SPID/status" 2>/dev/null) || break
		fd=$(find "/proc/$SPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		((th > mth)) && mth=$th
		((fd > mfd)) && mfd=$fd
		echo "$mth $mfd" >"$T/peak"
		sleep 0.2
	done
}
bg sample

t0=$(now)
pids=()
for i in $(seq 1 "$CLIENTS"); do
	( cp -r "$T/src/." "$T/cli$i/" 2>"$T/cp$i.err"; echo $? >"$T/cp$i.rc" ) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
dt=$(elapsed "$t0")
touch "$T/stop-sampling"
total=$((BYTES * CLIENTS))
note "copied $((CLIENTS * FILES)) files, $total bytes, in $dt s: $(mb_per_s "$total" "$dt") MB/s"

bad=0
for i in $(seq 1 "$CLIENTS"); do
	rc=$(cat "$T/cp$i.rc")
	if [[ $rc != 0 ]]; then
		bad=$((bad + 1))
		echo "   client $i: cp exited $rc: $(head -c 300 "$T/cp$i.err")"
	fi
done
assert_eq 0 "$bad" "clients whose cp failed"

read -r mth mfd <"$T/peak"
rss=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$SPID/status")
per_path=2
grep -qa -e __asan_init -e __ubsan_handle "$BRAIDFSD" && per_path=256
printf 'server: %d threads, %d descriptors at most; peak RSS %d MiB (%d paths, %d sessions)\n' \
	"$mth" "$mfd" "$rss" "$NPATHS" "$CLIENTS"
assert_le "$mth" $((NPATHS + 64)) "server threads"
assert_le "$mfd" $((2 * NPATHS + 16 * CLIENTS + 64)) "server descriptors"
assert_le "$rss" $((32 + per_path * NPATHS)) "server peak RSS (MiB)"

exact=0
sources=0
for i in $(seq 1 "$CLIENTS"); do
	sd=$(session_for_label "$T/srv" "load$i") || { echo "   no session for load$i"; continue; }
	n=$(session_field "$sd/.session" clients | tr ',' '\n' | grep -c "^ *127\.0\.5\.$i:" || true)
	((n == PATHS)) && sources=$((sources + 1))
	if (cd "$sd" && sha256sum --quiet -c "$T/src.sums") >"$T/sum$i.out" 2>&1; then
		exact=$((exact + 1))
	else
		echo "   client $i: $(head -n 3 "$T/sum$i.out")"
	fi
done
assert_eq "$CLIENTS" "$exact" "sessions whose every file is bit-exact (sha256)"
assert_eq "$CLIENTS" "$sources" "sessions with their $PATHS paths from their client's own address"

for i in $(seq 1 "$CLIENTS"); do stop_daemon "c$i"; done
errs=0
for i in $(seq 1 "$CLIENTS"); do
	n=$(grep -ciE "error|warning|failed" "$(daemon_log "c$i")" || true)
	errs=$((errs + n))
	((n == 0)) || grep -iE "error|warning|failed" "$(daemon_log "c$i")" | head -n 3
done
assert_eq 0 "$errs" "error or warning lines in the clients' logs"
check "the server is still serving" pid_alive "$SPID"

finish
