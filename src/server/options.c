/* braidfsd's option table: the one place of each option's default and
 * range (braidfsd(8) documents the same). */
#include "options.h"

#include <stddef.h>

#include "braidfs/wire.h"

#define LIMIT(f) offsetof(BfdOptions, limits.f)
#define SECONDS(s) ((uint64_t)(s) * 1000)

const BfOptSpec bfd_options[] = {
  { "listen", BF_OPT_LIST, offsetof(BfdOptions, listen), "127.0.0.1:" G_STRINGIFY(BFD_DEFAULT_PORT),
    0, 0, "ADDR:PORT", "address to listen on" },
  { "store", BF_OPT_PATH, offsetof(BfdOptions, store), "/var/lib/braidfs",
    0, 0, "DIR", "where items are kept" },
  { "max_sessions", BF_OPT_UINT, LIMIT(max_sessions), "64", 1, 65536, NULL,
    "connected sessions at once" },
  { "max_sessions_total", BF_OPT_UINT, LIMIT(max_sessions_total), "4096", 1,
    1048576, NULL, "sessions in the store, connected or not: a new one "
    "over it is refused until old ones are removed (rmdir)" },
  { "max_sessions_per_source", BF_OPT_UINT, LIMIT(max_sessions_per_source),
    "256", 1, 1048576, NULL, "sessions in the store made from one source "
    "address (IPv6: one /56)" },
  { "max_paths", BF_OPT_UINT, LIMIT(max_paths), "64", 1, 65536, NULL,
    "paths per session" },
  { "max_open_items", BF_OPT_UINT, LIMIT(max_open_items), "4096", 1, 65536,
    NULL, "items in flight per session" },
  { "idle_timeout", BF_OPT_SECONDS, LIMIT(idle_timeout_ms), "60", SECONDS(2),
    SECONDS(86400), NULL, "close paths silent this long" },
  { "send_timeout", BF_OPT_SECONDS, LIMIT(send_timeout_ms), "30", SECONDS(1),
    SECONDS(3600), NULL, "close paths that read nothing of what the server "
    "sends this long" },
  { "linger", BF_OPT_SECONDS, LIMIT(linger_ms), "120", 0, SECONDS(604800),
    NULL, "keep unfinished items of a session with no path for its return "
    "this long" },
  { "max_item_size", BF_OPT_SIZE, LIMIT(max_item_size), "1T", 0, 0, NULL,
    "largest item accepted" },
  { "key_file", BF_OPT_PATH, offsetof(BfdOptions, key_file), NULL, 0, 0,
    "FILE", "pre-shared key (32 bytes, or 64 hex digits; mode 600): refuse "
    "clients without it and encrypt every path (braidfs keygen FILE)" },
  { "client_keys", BF_OPT_PATH, offsetof(BfdOptions, client_keys), NULL, 0,
    0, "DIR", "one key file per client, named after the client (mode 600; "
    "the directory 700): a client's sessions are its own; removing its "
    "file locks it out (instead of key_file)" },
  { "insecure", BF_OPT_BOOL, offsetof(BfdOptions, insecure), NULL, 0, 0,
    NULL, "without key_file, listen on addresses other than loopback all "
    "the same (clients unauthenticated, paths in the clear)" },
  { "max_name", BF_OPT_UINT, LIMIT(max_name), "4096", 1, BF_NAME_MAX, "BYTES",
    "longest name accepted" },
  { "max_depth", BF_OPT_UINT, LIMIT(max_depth), "64", 1, BF_DEPTH_MAX, NULL,
    "most components in a name" },
  { "max_chunk", BF_OPT_SIZE, offsetof(BfdOptions, max_chunk), "16M",
    BF_CHUNK_MIN, BF_CHUNK_MAX, NULL,
    "largest chunk_size, and so the largest frame a connection buffers" },
  { "handshake_timeout", BF_OPT_SECONDS, LIMIT(handshake_timeout_ms), "10",
    SECONDS(1), SECONDS(3600), NULL, "time to complete the handshake" },
  { "max_handshakes", BF_OPT_UINT, LIMIT(max_handshakes), "64", 1, 65536,
    NULL, "connections still in the handshake" },
  { "max_handshakes_per_addr", BF_OPT_UINT, LIMIT(max_handshakes_per_addr),
    "8", 1, 65536, NULL, "of those, from one address" },
  { "attach_rate", BF_OPT_UINT, LIMIT(attach_rate), "20", 1, 1000000, NULL,
    "handshakes per second per address" },
  { "attach_burst", BF_OPT_UINT, LIMIT(attach_burst), "40", 1, 1000000, NULL,
    "... in a burst" },
  { "exec_on_store", BF_OPT_PATH, offsetof(BfdOptions, exec_on_store), NULL,
    0, 0, "PROGRAM", "run PROGRAM (absolute path; no shell) with each stored "
    "file's path in the view" },
  { "exec_jobs", BF_OPT_UINT, offsetof(BfdOptions, exec_jobs), "2", 1, 64,
    NULL, "exec_on_store runs at once" },
  { "exec_timeout", BF_OPT_SECONDS, offsetof(BfdOptions, exec_timeout_ms),
    "60", SECONDS(1), SECONDS(86400), NULL, "kill an exec_on_store run after "
    "this long" },
  BF_OPT_END
};
