#!/usr/bin/env bash
# append-server.sh: braidfsd builds an append (ITEM_OPEN with a base,
# braidfs-protocol(7) "Appending to a stored file") from the stored file
# and the new bytes only, driven by a peer of its own (append_peer.py):
#  1. a plain 3 MiB item f; then an append of 5000 bytes: the old f stays
#     visible until ITEM_CLOSE, then f is the model bit for bit;
#  2. bases that are not the stored f (an older size, another digest, a
#     name never stored) are refused with ITEM_ACK OPENED STALE, and
#     leave no partial copy in tmp/;
#  2b. the server restarted: the append's ITEM_CLOSE again is answered
#     from the journal with the proof of the first STORED (over the whole
#     file, base included);
#  3. the server killed in the middle of the base copy
#     (BRAIDFSD_CRASH_AFTER=base-copy:2), restarted on the same store: the
#     same ITEM_OPEN again copies the base anew and stores the right file;
#  4. the server killed with two chunks of an append in its record
#     (chunk-map:2): restarted, it rebuilds the item from its record (base
#     size, chunks after it, the digest over both) and stores the right
#     file once the peer sends the chunks and ITEM_CLOSE again;
#  5. the base copy held by a test hook (BRAIDFSD_HOLD_BASE_COPY, a FIFO):
#     a new file sent after the append on the same connection is stored
#     meanwhile (the copy does not hold the path), nothing of the append
#     is answered before its base is copied, then it is stored whole;
#     an append repeated on a new connection (the first one lost) during
#     the copy is answered there; a base found stale after the copy
#     refuses the item (OPENED STALE) with its held chunk acknowledged;
#     a peer resending one chunk without end during the copy loses its
#     path (ERROR LIMIT), and the server goes on.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=append_peer.sh
source "$LIB_DIR/append_peer.sh"

need_space 100
PORT=$(free_port)
PEER_TIMEOUT=120

start_server server "$T/srv" "$T/store"
check "a plain item f is stored" peer store
check "an append to f is stored from its base and 5000 new bytes" peer append
check "bases that are not the stored f are refused with STALE" peer stale
check "the refused appends left no part file in tmp/" no_parts
stop_daemon server
start_server server "$T/srv" "$T/store"
check "the append's STORED, repeated after a restart, has the same proof" peer again
stop_daemon server

note "the server dies in the middle of copying a base"
crash_round base-copy:2 crash "the connection drops during the base copy"
check "after the restart the same append is opened again and stored" peer resume
stop_daemon server

note "the server dies with chunks of an append in its record"
crash_round chunk-map:2 torn "the connection drops after two chunks"
check "the append rebuilt from its record is stored" peer restored
stop_daemon server

note "the base copy held: the path goes on with other items meanwhile"
mkfifo "$T/hold"
export HOLD_FIFO=$T/hold TIMEOUT_MULT
BRAIDFSD_HOLD_BASE_COPY=$HOLD_FIFO start_server server "$T/srv" "$T/store"
check "a new file is stored while an append's base copy waits" peer held
check "the hold hook fired" grep -q "holding the base copy" \
  "$(daemon_log server)"
export HOLD_LOG=$(daemon_log server)
check "an append repeated over a new connection during its base copy is \
answered there" peer repeat
check "a stale base found by a held copy refuses the item" peer stalecopy
check "the refused append left no part file in tmp/" no_parts
check "a chunk resent without end during a base copy ends the path" \
  peer dupflood
check "the server goes on: an append after it is stored" peer after
finish
