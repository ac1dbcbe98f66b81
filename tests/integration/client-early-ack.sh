#!/usr/bin/env bash
# client-early-ack.sh: a server acknowledges a chunk before it has read it.
#
# The fake server (fake_server.py --early-ack) acknowledges the first chunk
# as soon as its fixed fields arrive and reads its payload only later. Its
# small receive buffers keep part of that 8 MiB chunk in the client's
# memory meanwhile (the kernel buffers at most 4 MiB by default), while the client's path sender still writes it. The
# client takes the acknowledgement (.braidfs/paths counts it), then the
# writer writes two more chunks: a client that freed the chunk on the
# acknowledgement has given its buffer to them by then, and the rest of
# the first chunk leaves with their bytes. The server checks every chunk's
# CRC-32C and bytes against the file, and the item's digest; close(2) must
# succeed. Under AddressSanitizer the daemons' logs must stay clean.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=$(free_port)
CS=$((8 << 20))
head -c $((4 * CS)) /dev/urandom >"$T/big"
start_fake_server fake --rcvbuf 16384 --early-ack "$T/went-on" \
	--expect "big=$T/big"
start_client c "$T/cli" paths=2 chunk_size=8M stall=600

# writer.py SRC DST PATHS_FILE FLAG CS: chunk 0; once the client counts an
# acknowledged chunk, chunks 1 and 2; then FLAG (the server reads on); then
# the rest, and close(2).
cat >"$T/writer.py" <<'PY'
import os, sys, time
src, dst, paths, flag, cs = sys.argv[1:5] + [int(sys.argv[5])]
data = open(src, "rb").read()
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

def write_all(b):
    while b:
        b = b[os.write(fd, b):]

def acked():
    with open(paths) as f:
        return sum(int(l.split()[5]) for l in f if not l.startswith("#"))

write_all(data[:cs])
deadline = time.monotonic() + 60
while acked() < 1:
    if time.monotonic() > deadline:
        sys.exit("the client counted no acknowledged chunk within 60 s")
    time.sleep(0.01)
write_all(data[cs:3 * cs])
open(flag, "w").close()
write_all(data[3 * cs:])
os.close(fd)
PY

note "a chunk acknowledged before the server read it"
check "the file is written and close(2) succeeds" run_t 120 python3 "$T/writer.py" \
	"$T/big" "$T/cli/big" "$T/cli/.braidfs/paths" "$T/went-on" "$CS"
check "the server acknowledged a chunk early" wait_event fake '^EARLY-ACK ' 5
check "the server stored the file" wait_event fake "^STORED big $((4 * CS))\$" 30
check "the outbox shows its size" test "$(stat -c %s "$T/cli/big" || true)" = $((4 * CS))
fake_results fake

finish
