#!/usr/bin/env bash
# cut-server.sh: braidfsd builds a new version of a stored file from the
# first base_keep bytes of it and the chunks after them (ITEM_OPEN with a
# base and base_keep, braidfs-protocol(7) "Appending to a stored file"),
# driven by a peer of its own (append_peer.py):
#  1. a plain 64 MiB f; cut to 10 MiB with no chunk; 4 KiB rewritten
#     inside it (the bytes from there on sent); cut to nothing and sent
#     anew: the old f stays visible until STORED, then f is the model;
#  2. a cut of a stale base is refused (STALE), leaving no part file; an
#     ITEM_CLOSE below base_keep loses the path (ERROR PROTOCOL);
#  3. the server killed in the middle of a cut's base copy
#     (base-copy:3): restarted, the same item is copied anew and stored;
#  4. the server killed with two chunks of a cut in its record
#     (chunk-map:2): restarted, it rebuilds the item from its record (the
#     kept bytes, the chunks after them) and stores the right file.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=append_peer.sh
source "$LIB_DIR/append_peer.sh"

need_space 400
PORT=$(free_port)
PEER_TIMEOUT=180

start_server server "$T/srv" "$T/store"
check "a plain 64 MiB f is stored" peer cutstore
check "f cut to 10 MiB is stored without a chunk" peer shrink
check "4 KiB rewritten inside f is stored from the kept bytes and the rest" \
  peer rewrite
check "a cut keeping nothing is stored from its chunks" peer keepnone
check "a cut of a stale base is refused with STALE" peer cutstale
check "the refused cut left no part file in tmp/" no_parts
check "an ITEM_CLOSE below base_keep loses the path" peer cutbelow
stop_daemon server

note "the server dies in the middle of a cut's base copy"
crash_round base-copy:3 cutcrash "the connection drops during the base copy"
check "after the restart the same cut is opened again and stored" peer cutresume
stop_daemon server

note "the server dies with chunks of a cut in its record"
crash_round chunk-map:2 cuttorn "the connection drops after two chunks"
check "the cut rebuilt from its record is stored" peer cutrestored
stop_daemon server
finish
