/* braidfs's option table: the one place of each option's default and
 * range (braidfs(1) documents the same). */
#include "options.h"

#include <stddef.h>

#include "client.h"

#define OPT(f) offsetof(BfcOptions, f)
#define SECONDS(s) ((uint64_t)(s) * 1000)

const BfOptSpec bfc_options[] = {
  { "paths", BF_OPT_UINT, OPT(paths), "4", 1, BFC_MAX_PATHS, NULL,
    "TCP connections" },
  { "path", BF_OPT_LIST, OPT(path), NULL, 0, 0, "ADDR:PORT[@SRCADDR|%IFACE]",
    "one path to its own address, from a source address or interface; "
    "replaces paths=N" },
  { "server", BF_OPT_LIST, OPT(server), NULL, 0, 0, "ADDR:PORT",
    "another server on the same store: a path that cannot re-attach where "
    "it was tries it (and the next), so the session moves when its server "
    "dies" },
  { "chunk_size", BF_OPT_SIZE, OPT(chunk_size), "256K", BF_CHUNK_MIN,
    BF_CHUNK_MAX, NULL, "bytes per chunk" },
  { "scheduler", BF_OPT_CHOICE, OPT(scheduler), "dynamic", 0, 0, "dynamic|rr",
    "chunk placement" },
  { "coding", BF_OPT_STRING, OPT(coding), "stripe", 0, 0,
    "stripe|shamir:K/N|rs:K/N", "each chunk whole on one path, or as N "
    "shares on N distinct paths, any K of which rebuild it; shamir: fewer "
    "than K reveal nothing, rs: N-K paths may die" },
  { "hide_names", BF_OPT_BOOL, OPT(hide_names), NULL, 0, 0, NULL,
    "with shamir, file names travel only as shares too (directory "
    "operations still show theirs)" },
  { "window", BF_OPT_UINT, OPT(window), "4", 1, 1024, NULL,
    "unacknowledged chunks any path may hold; beyond, each path holds its "
    "measured bandwidth-delay product (x2)" },
  { "inflight_max", BF_OPT_SIZE, OPT(inflight_max), "64M", 1 << 20,
    (uint64_t)1 << 40, NULL, "unacknowledged bytes of all paths together: "
    "the memory their chunks may take" },
  { "delivery", BF_OPT_CHOICE, OPT(delivery), "close", 0, 0, "close|async",
    "close: close(2) returns once the server stored the file; async: once "
    "the spool holds it, and it is delivered in the background (the "
    "spool: spool=, or one per server and mountpoint)" },
  { "spool", BF_OPT_PATH, OPT(spool), NULL, 0, 0, "DIR",
    "keeps files until the server stored them, and the session, across "
    "crashes (implies delivery=async)" },
  { "label", BF_OPT_STRING, OPT(label), NULL, 0, BF_LABEL_MAX, NULL,
    "label shown in the server's session directory" },
  { "timeout", BF_OPT_SECONDS, OPT(timeout_ms), "60", SECONDS(1),
    SECONDS(604800), NULL, "with every path down, fail waiting writes and "
    "closes after this long, counted in whole seconds" },
  { "stall", BF_OPT_SECONDS, OPT(stall_ms), "2", 200, SECONDS(600), NULL,
    "a path that makes no progress this long is dropped and re-attached" },
  { "key_file", BF_OPT_PATH, OPT(key_file), NULL, 0, 0, "FILE",
    "pre-shared key (32 bytes, or 64 hex digits; mode 600): authenticate "
    "and encrypt every path; the server needs the same key" },
  { "insecure", BF_OPT_BOOL, OPT(insecure), NULL, 0, 0, NULL,
    "without key_file, connect to a server at an address other than "
    "loopback all the same (paths in the clear, the server "
    "unauthenticated)" },
  BF_OPT_END
};
