/* Placement: which path carries which chunk. The scheduler (braidfs/sched.h)
 * picks among the paths a chunk may take now (room in its budget,
 * budget.h, and in inflight_max for all paths); a path's sender takes its
 * own queue first, then chunks of lost paths, then a chunk another path
 * has queued but not written and would deliver later, then a copy of
 * another path's late tail chunk. A path's load (chunks and bytes queued
 * or in flight) is what the scheduler sees. All under the session lock. */
#pragma once

#include "state.h"

/* c left p's load: acknowledged, or dropped. */
void bfc_path_unload_locked(BfcSession *s, BfcPath *p, const BfcChunk *c)
  BF_REQUIRES(&s->lock);
/* Queues c on a path that may take it now and has room. FALSE when there
 * is none yet: the caller waits for an acknowledgement and asks again. */
gboolean bfc_place_chunk_locked(BfcSession *s, BfcChunk *c)
  BF_REQUIRES(&s->lock);
/* Queues the n shares of a coded chunk on distinct paths with room: TRUE
 * once at least k of them are queued (the others wait in the resend queue
 * for a path that carries no share of this chunk). FALSE, and nothing is
 * queued, when that is not possible yet. */
gboolean bfc_place_shares_locked(BfcSession *s, BfcChunk **sh, unsigned n)
  BF_REQUIRES(&s->lock);
/* The next chunk path p writes, counted in its load, or NULL. */
BfcChunk *bfc_place_next_locked(BfcSession *s, BfcPath *p) BF_REQUIRES(&s->lock);
