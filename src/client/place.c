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

/* Whether len more bytes fit in inflight_max, what all paths together may
 * hold (one chunk always does). */
static gboolean
session_room_locked(BfcSession *s, uint32_t len) BF_REQUIRES(&s->lock)
{
  uint64_t total = 0;

  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    total += s->paths[i].load.inflight_bytes;
  return total == 0 || total + len <= s->cfg.inflight_max;
}

static gboolean
path_room_locked(BfcSession *s, BfcPath *p, uint32_t len) BF_REQUIRES(&s->lock)
{
  return bf_sched_has_room(&p->load, s->cfg.window, len) &&
         session_room_locked(s, len);
}

/* The scheduler sees a path this chunk may not take as dead. FALSE when
 * the chunk does not fit in inflight_max at all. */
static gboolean
load_snapshot_locked(BfcSession *s, const BfcItem *it, uint32_t len,
                     BfPathLoad *loads) BF_REQUIRES(&s->lock)
{
  if (!session_room_locked(s, len))
    return FALSE;
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    loads[i] = s->paths[i].load;
    if (!bfc_item_chunk_allowed_locked(s, it, i))
      loads[i].alive = FALSE;
  }
  return TRUE;
}

gboolean
bfc_place_chunk_locked(BfcSession *s, BfcChunk *c)
{
  BfPathLoad loads[BFC_MAX_PATHS];
  int p;

  if (!load_snapshot_locked(s, c->item, c->len, loads))
    return FALSE;
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
  if (!load_snapshot_locked(s, sh[0]->item, sh[0]->len * n, loads))
    return FALSE;
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
  mine = eta(me, me->load.inflight_bytes + s->cfg.chunk_size, now) +
         (me->load.rtt > 0 ? me->load.rtt : me->rtt);
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

/* A chunk queued on a slower path and not written yet moves to p when p
 * would have it acknowledged sooner: an item's end then does not wait for
 * a long round trip or a deep queue. Taken from the back of that queue,
 * where the chunks that would arrive last are. */
static BfcChunk *
steal_locked(BfcSession *s, BfcPath *me) BF_REQUIRES(&s->lock)
{
  BfPathLoad mine = me->load;
  BfcPath *from = NULL;
  double best = 0;

  if (s->cfg.sched != BF_SCHED_DYNAMIC || mine.rate <= 0)
    return NULL;
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *q = &s->paths[i];
    BfcChunk *c = g_queue_peek_tail(&q->queue);
    if (q == me || c == NULL || c->coded != NULL || q->load.rate <= 0 ||
        !bfc_item_chunk_allowed_locked(s, c->item, me->index))
      continue;
    BfPathLoad theirs = q->load;
    theirs.inflight_bytes -= c->len;
    /* a margin of one chunk on our side, so chunks do not bounce */
    double gain = bf_sched_eta(&theirs, theirs.rate, c->len) -
                  bf_sched_eta(&mine, mine.rate, 2 * c->len);
    if (gain > best) {
      best = gain;
      from = q;
    }
  }
  if (from == NULL)
    return NULL;
  BfcChunk *c = g_queue_pop_tail(&from->queue);
  bfc_path_unload_locked(s, from, c);
  return c;
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
  if (!path_room_locked(s, p, s->cfg.chunk_size))
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
  if ((c = steal_locked(s, p)) == NULL)
    c = tail_copy_locked(s, p);
  return c != NULL ? counted(s, p, c) : NULL;
}
