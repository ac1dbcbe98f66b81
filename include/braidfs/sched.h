/* Chunk scheduling across the paths of a session: a pure decision function,
 * so it can be tested without sockets. The caller keeps the per-path loads
 * current and asks again when a path's load changes. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef enum {
  BF_SCHED_DYNAMIC = 0, /* least expected completion time, bounded windows */
  BF_SCHED_RR = 1,      /* the prototype's round robin: chunk i on i mod N */
} BfSchedKind;

typedef struct {
  gboolean alive;          /* connected and handshaken */
  uint32_t inflight;       /* chunks sent and not yet acknowledged */
  uint64_t inflight_bytes; /* their payload bytes */
  double rate;             /* acknowledged bytes per second; 0 = unknown */
  /* Bytes the path may hold unacknowledged, from its bandwidth-delay
   * product; 0 = unknown, then only the window (a count of chunks) bounds
   * it. With a budget, the window is a floor: a path with fewer chunks
   * than the window in flight always has room. */
  uint64_t budget;
  double rtt;              /* its least round trip, seconds; 0 = unknown */
} BfPathLoad;

/* Chooses the path for chunk chunk_id (its payload is chunk_len bytes) of an
 * item. Returns the path index, or -1 when the chosen policy has no path
 * that may take it now (every eligible window is full): the caller waits
 * for an acknowledgement and asks again. dynamic picks the path where the
 * chunk is expected to be acknowledged first (bf_sched_eta). */
int bf_sched_pick(BfSchedKind kind, const BfPathLoad *paths, unsigned n_paths,
                  uint32_t window, uint32_t chunk_id, uint32_t chunk_len);

/* Whether path p may take one more chunk of chunk_len bytes now: fewer
 * chunks than window in flight, or the bytes fit its budget. */
gboolean bf_sched_has_room(const BfPathLoad *p, uint32_t window,
                           uint32_t chunk_len);

/* Seconds until a chunk of chunk_len bytes queued on p now is expected to
 * be acknowledged: the bytes ahead of it that have not left yet drain at
 * p's rate, then it crosses the link and its acknowledgement comes back
 * (one round trip). default_rate stands in for an unknown rate. */
double bf_sched_eta(const BfPathLoad *p, double default_rate,
                    uint32_t chunk_len);

gboolean bf_sched_parse(const char *text, BfSchedKind *out);
const char *bf_sched_name(BfSchedKind kind);

G_END_DECLS
