/* Each path's in-flight budget: how many bytes it may hold unacknowledged
 * so that its link never idles, from its bandwidth-delay product.
 *
 * As BBR estimates it: the delivery rate is sampled at every chunk
 * acknowledgement (bytes acknowledged on the path since the chunk left,
 * over the time since the acknowledgement before it left), and the
 * bandwidth is the largest sample of the last few seconds; the round trip
 * is the least a chunk took lately (a chunk's includes its serialization
 * and the server's write, and queues only ever lengthen it). The budget is
 * BFC_BUDGET_GAIN x bandwidth x round trip: twice the link's product, so
 * that a path that is limited by its budget delivers more than it is
 * estimated to, and the estimate, with the budget, doubles every round
 * trip until the link is full (as TCP's slow start does); once it is, a
 * queue that builds lengthens round trips but not the least one, so the
 * budget stops growing. It never goes below window chunks (the floor every
 * path starts from) nor above inflight_max, the memory the user allows for
 * all paths together (place.h enforces the sum). All under the session
 * lock. */
#pragma once

#include "state.h"

#define BFC_BUDGET_GAIN 2.0
/* The bandwidth is the largest sample of the last two periods of this
 * many round trips (at least BFC_BW_PERIOD_MIN_US): a sample limited by
 * the writer or a burst does not lower it at once. */
#define BFC_BW_PERIOD_RTTS 8
#define BFC_BW_PERIOD_MIN_US (G_USEC_PER_SEC)
/* The least round trip is the least of the last two periods of this
 * length, so a route that became longer is measured again, and a queue of
 * our own making is not taken for the route at once. */
#define BFC_MIN_RTT_US (10 * G_USEC_PER_SEC)

/* The path (re)connected: nothing is known of its link. */
void bfc_budget_reset_locked(BfcSession *s, BfcPath *p) BF_REQUIRES(&s->lock);
/* Chunk c leaves on p now: what p had delivered goes with it. */
void bfc_budget_on_send_locked(BfcSession *s, BfcPath *p, BfcChunk *c,
                               gint64 now) BF_REQUIRES(&s->lock);
/* c's acknowledgement came on p (p->bytes_acked counts it already): a
 * round trip and a rate sample, and p's budget from them. */
void bfc_budget_on_ack_locked(BfcSession *s, BfcPath *p, const BfcChunk *c,
                              gint64 now) BF_REQUIRES(&s->lock);
