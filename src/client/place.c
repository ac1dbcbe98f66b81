/* Which path carries which chunk (place.h). */
#include "place.h"

#include "chunk.h"
#include "item.h"

/* Queues c on path p and counts it in p's load. */
static void
path_queue_locked(BfcSession *s, BfcPath *p, BfcChunk *c) BF_REQUIRES(&s->lock)
{
  (void)s;
  p->load.inflight++;
  p->load.inflight_bytes += c->len;
  g_queue_push_tail(&p->queue, c);
  g_cond_signal(&p->wake);
}

void
bfc_path_unload_locked(BfcSession *s, BfcPath *p, const BfcChunk *c)
{
  (void)s;
  p->load.inflight--;
  p->load.inflight_bytes -= c->len;
}

/* The scheduler sees a path this chunk may not take as dead. */
static void
load_snapshot_locked(BfcSession *s, const BfcItem *it, BfPathLoad *loads)
  BF_REQUIRES(&s->lock)
{
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    loads[i] = s->paths[i].load;
    if (!bfc_item_chunk_allowed_locked(s, it, i))
      loads[i].alive = FALSE;
  }
}

gboolean
bfc_place_chunk_locked(BfcSession *s, BfcChunk *c)
{
  BfPathLoad loads[BFC_MAX_PATHS];
  int p;

  load_snapshot_locked(s, c->item, loads);
  p = bf_sched_pick(s->cfg.sched, loads, s->cfg.n_paths, s->cfg.window, c->id,
                    c->len);
  if (p < 0)
    return FALSE;
  path_queue_locked(s, &s->paths[p], c);
  return TRUE;
}

gboolean
bfc_place_shares_locked(BfcSession *s, BfcChunk **sh, unsigned n)
{
  BfPathLoad loads[BFC_MAX_PATHS];
  int pick[BF_CODING_N_MAX];
  unsigned got = 0;
  BfcCoded *cd = sh[0]->coded;

  if (!bfc_coded_room_locked(s, cd))
    return FALSE;   /* the server's buffer of partial chunks is full */
  load_snapshot_locked(s, sh[0]->item, loads);
  while (got < n) {
    int p = bf_sched_pick(s->cfg.sched, loads, s->cfg.n_paths, s->cfg.window,
                          sh[0]->id + got, sh[0]->len);
    if (p < 0)
      break;
    pick[got++] = p;
    loads[p].alive = FALSE;   /* one share per path */
  }
  if (got < s->cfg.coding.k)
    return FALSE;
  for (unsigned i = 0; i < n; i++) {
    if (i < got) {
      bfc_share_placed(sh[i], (unsigned)pick[i]);
      path_queue_locked(s, &s->paths[pick[i]], sh[i]);
    } else {
      g_queue_push_tail(&s->resend, sh[i]);
    }
  }
  bfc_coded_open_locked(s, cd);
  return TRUE;
}

/* Expected seconds until `ahead` more bytes have left path q: its rate,
 * less the time its oldest chunk has already been on the wire. */
static double
eta(BfcPath *q, uint64_t ahead, gint64 now)
{
  double rate = q->load.rate > 0 ? q->load.rate : 1.0;
  const BfcChunk *oldest = g_queue_peek_head(&q->inflight);
  gint64 start = oldest ? MAX(oldest->sent_at, q->last_ack) : now;

  return MAX(0.0, ahead / rate - (now - start) / (double)G_USEC_PER_SEC);
}

/* The last chunks of an item must not wait on the slowest path: an idle
 * path takes a copy of a chunk that another path will deliver later than
 * this one could. Only chunks of items whose writer is done qualify, so
 * this spends spare capacity, never capacity new data could use. */
static BfcChunk *
tail_copy_locked(BfcSession *s, BfcPath *me) BF_REQUIRES(&s->lock)
{
  gint64 now = g_get_monotonic_time();
  double mine, best_late = 0.05;
  BfcChunk *best = NULL;

  if (s->cfg.sched != BF_SCHED_DYNAMIC || me->load.rate <= 0)
    return NULL;
  mine = eta(me, me->load.inflight_bytes + s->cfg.chunk_size, now) + me->rtt;
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *q = &s->paths[i];
    uint64_t ahead = 0;
    if (q == me || q->state != BFC_PATH_UP)
      continue;
    for (GList *l = q->inflight.head; l != NULL; l = l->next) {
      BfcChunk *c = l->data;
      ahead += c->len;
      double late = eta(q, ahead, now) - mine - c->len / me->load.rate;
      if (bfc_chunk_may_copy_locked(s, c) && late > best_late) {
        best = c;
        best_late = late;
      }
    }
  }
  if (best == NULL)
    return NULL;
  me->duplicates++;
  return bfc_chunk_copy_locked(s, best);
}

static BfcChunk *
counted(BfcSession *s, BfcPath *p, BfcChunk *c) BF_REQUIRES(&s->lock)
{
  (void)s;
  p->load.inflight++;
  p->load.inflight_bytes += c->len;
  return c;
}

BfcChunk *
bfc_place_next_locked(BfcSession *s, BfcPath *p)
{
  BfcChunk *c;

  /* Shares of a chunk the server has rebuilt are not needed any more. */
  while ((c = g_queue_pop_head(&p->queue)) != NULL) {
    if (c->coded == NULL || !c->coded->done)
      return c;
    bfc_path_unload_locked(s, p, c);
    bfc_chunk_free_locked(s, c);
  }
  if (p->load.inflight >= s->cfg.window)
    return NULL;
  for (GList *l = s->resend.head, *next; l != NULL; l = next) {
    next = l->next;
    c = l->data;
    if (bfc_chunk_obsolete_locked(s, c)) {
      g_queue_delete_link(&s->resend, l);
      bfc_chunk_free_locked(s, c);
      continue;
    }
    if (!bfc_item_chunk_allowed_locked(s, c->item, p->index) ||
        !bfc_share_fits(c, p->index))
      continue;
    g_queue_delete_link(&s->resend, l);
    bfc_share_placed(c, p->index);
    if (c->from_lost)
      p->resent++;
    return counted(s, p, c);
  }
  c = tail_copy_locked(s, p);
  return c != NULL ? counted(s, p, c) : NULL;
}
