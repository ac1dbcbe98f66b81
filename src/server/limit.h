/* braidfsd's configurable limits beyond the protocol's own caps (options.c
 * holds their defaults and ranges). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t max_item_size;
  unsigned max_sessions;      /* connected at once */
  unsigned max_sessions_total; /* in the store, connected or not */
  unsigned max_sessions_per_source; /* made from one source (the gate's
                                       key: an address, IPv6 a /56) */
  unsigned max_paths;
  unsigned max_open_items;   /* items in flight per session */
  unsigned handshake_timeout_ms;
  unsigned idle_timeout_ms;  /* a path silent this long is closed */
  unsigned send_timeout_ms;  /* a path that reads nothing this long is closed */
  unsigned linger_ms;        /* unfinished items outlive the last path this long */
  unsigned max_name;         /* bytes in a name (<= BF_NAME_MAX) */
  unsigned max_depth;        /* components in a name (<= BF_DEPTH_MAX) */
  unsigned max_chunk;        /* chunk_size, and so the frame a path buffers */
  unsigned max_handshakes;   /* connections not yet through the handshake */
  unsigned max_handshakes_per_addr;
  unsigned attach_rate;      /* handshakes per second per source address */
  unsigned attach_burst;
} BfdLimits;

/* The largest frame body a path may send once attached. */
size_t bfd_limits_frame_max(const BfdLimits *l);
/* The file the view makes in each session directory: no client's name. */
#define BFD_SESSION_FILE ".session"

/* The server's bounds on a name the protocol already accepted: FALSE with
 * *why (for the answer and the log) when it is over them or is one the
 * view keeps for itself (BFD_SESSION_FILE). */
gboolean bfd_limits_name_ok(const BfdLimits *l, const uint8_t *name,
                            size_t len, char **why);
