/* The paths of a client session: connecting, sending, receiving, and
 * surviving their loss.
 *
 * Each path has a thread that owns its connection: it attaches, starts a
 * sender thread, receives until the connection ends, then cleans up and
 * re-attaches with backoff. A path is lost when a read or write fails
 * (loud: RST, unreachable) or when the ticker sees no progress for `stall`
 * while something is outstanding (silent: packets vanish). Progress is
 * read from the kernel (tcpi_bytes_acked) as well as from our frames, so a
 * slow link that is draining a full window is never taken for a dead one.
 *
 * A lost path's unacknowledged chunks go to the session's resend queue,
 * which every live path drains before taking new work. Control frames
 * travel on one control path; when it is lost the next live path takes
 * over and every control frame still unanswered is sent again there (the
 * server answers repeats as it answered the original). Until the server
 * has OPENED an item, its chunks may only follow its ITEM_OPEN on the
 * control path of the epoch that ITEM_OPEN went out in.
 *
 * Only a path's own threads write to its connection: its sender writes
 * the frames queued for it (control frames, PONGs) before its chunks, so
 * that no thread serving a FUSE request ever waits on a socket. The
 * session lock guards all of the state here and is never held across
 * network I/O; a connection's send lock is held only by the write of one
 * frame. */
#include "session.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "braidfs/handshake.h"
#include "braidfs/parse.h"

#define BACKOFF_MIN_US (G_USEC_PER_SEC / 4)
#define BACKOFF_MAX_US (4 * G_USEC_PER_SEC)
#define REATTACH_TIMEOUT_MS 3000
#define TICK_US (G_USEC_PER_SEC / 10)
#define RATE_TICK_US (G_USEC_PER_SEC / 4)
#define BFC_NO_PATH 0xffffu
#define IDLE_WAKE_S 0.002

/* ---- load accounting ---------------------------------------------------- */

void
bfc_path_queue_locked(BfcPath *p, BfcChunk *c)
{
  p->load.inflight++;
  p->load.inflight_bytes += c->len;
  g_queue_push_tail(&p->queue, c);
  g_cond_signal(&p->wake);
}

static void
unload_locked(BfcPath *p, const BfcChunk *c)
{
  p->load.inflight--;
  p->load.inflight_bytes -= c->len;
}

/* ---- frames waiting for a path's sender ---------------------------------- */

static void
frame_free(BfcFrame *f)
{
  g_free(f->name);
  g_free(f->name2);
  g_free(f);
}

static void
frames_drop_locked(BfcPath *p)
{
  BfcFrame *f;

  while ((f = g_queue_pop_head(&p->frames)) != NULL)
    frame_free(f);
}

static BfcFrame *
frame_copy(const BfMsg *m)
{
  BfcFrame *f = g_new0(BfcFrame, 1);
  BfBytes *name = NULL, *name2 = NULL;

  f->msg = *m;
  if (m->type == BF_FRAME_ITEM_OPEN) {
    name = &f->msg.u.item_open.name;
  } else if (m->type == BF_FRAME_OP) {
    name = &f->msg.u.op.name;
    name2 = &f->msg.u.op.name2;
  }
  if (name != NULL) {
    f->name = g_memdup2(name->data, name->len);
    name->data = (const uint8_t *)f->name;
  }
  if (name2 != NULL) {
    f->name2 = g_memdup2(name2->data, name2->len);
    name2->data = (const uint8_t *)f->name2;
  }
  return f;
}

/* The same frame for the server: a waiter's periodic resend of a frame that
 * has not left yet adds nothing. */
static gboolean
same_frame(const BfMsg *a, const BfMsg *b)
{
  if (a->type != b->type)
    return FALSE;
  switch (a->type) {
  case BF_FRAME_ITEM_OPEN:
    return a->u.item_open.item_id == b->u.item_open.item_id;
  case BF_FRAME_ITEM_CLOSE:
    return a->u.item_close.item_id == b->u.item_close.item_id;
  case BF_FRAME_OP:
    return a->u.op.op_id == b->u.op.op_id && a->u.op.op == b->u.op.op &&
           a->u.op.item_id == b->u.op.item_id;
  default:
    return FALSE;
  }
}

/* Queues a copy of m for path p's sender, which writes it before its next
 * chunk. Lock held. */
static void
frame_queue_locked(BfcPath *p, const BfMsg *m)
{
  for (GList *l = p->frames.head; l != NULL; l = l->next)
    if (same_frame(&((BfcFrame *)l->data)->msg, m))
      return;
  g_queue_push_tail(&p->frames, frame_copy(m));
  g_cond_signal(&p->wake);
}

/* ---- the control path ----------------------------------------------------- */

gboolean
bfc_chunk_allowed_locked(BfcSession *s, const BfcItem *it, unsigned p)
{
  if (s->paths[p].state != BFC_PATH_UP)
    return FALSE;
  if (it->state != BFC_ITEM_OPENING)
    return TRUE;
  /* A resumed item's chunks wait for OPENED: the server may not have it. */
  return (int)p == s->ctl && it->open_sent && it->open_epoch == s->ctl_epoch &&
         !it->resuming;
}

/* Keeps the control path while it is up; otherwise the lowest live path
 * takes over, in a new epoch. Called with the session lock held. */
static gboolean
ctl_pick_locked(BfcSession *s)
{
  int ctl = -1;

  if (s->ctl >= 0 && s->paths[s->ctl].state == BFC_PATH_UP)
    return FALSE;
  for (unsigned i = 0; i < s->cfg.n_paths && ctl < 0; i++)
    if (s->paths[i].state == BFC_PATH_UP)
      ctl = (int)i;
  if (ctl == s->ctl)
    return FALSE;
  s->ctl = ctl;
  s->ctl_epoch++;
  if (ctl >= 0)
    g_debug("control path is now %d (epoch %u)", ctl, s->ctl_epoch);
  return TRUE;
}

static gint
by_id(gconstpointer a, gconstpointer b)
{
  uint64_t x = (*(BfcItem *const *)a)->id, y = (*(BfcItem *const *)b)->id;

  return x < y ? -1 : x > y;
}

static gint
by_op_id(gconstpointer a, gconstpointer b)
{
  uint64_t x = (*(BfcOpWait *const *)a)->op.op_id;
  uint64_t y = (*(BfcOpWait *const *)b)->op.op_id;

  return x < y ? -1 : x > y;
}

/* Queues again on the control path, in id order, every control frame the
 * server has not answered: ITEM_OPENs of items not yet OPENED, ITEM_CLOSEs
 * of items not yet STORED, and pending OPs (the answers may have been lost
 * with a path even when the frames were not). A change of control path
 * and this resync happen under one hold of the session lock, so no
 * control frame can reach the new control path before the ITEM_OPENs it
 * depends on. Everything is copied now: an op's waiter may return as soon
 * as the lock is released. Lock held. */
static void
resync_locked(BfcSession *s)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new();
  g_autoptr(GPtrArray) ops = g_ptr_array_new();
  GHashTableIter iter;
  gpointer v;

  ctl_pick_locked(s);
  if (s->ctl < 0 || s->stopping)
    return;
  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    BfcItem *it = v;
    if (it->state == BFC_ITEM_OPENING ||
        (it->close_sent && it->state == BFC_ITEM_OPEN))
      g_ptr_array_add(items, it);
  }
  g_hash_table_iter_init(&iter, s->ops);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    if (!((BfcOpWait *)v)->done)
      g_ptr_array_add(ops, v);
  g_ptr_array_sort(items, by_id);
  g_ptr_array_sort(ops, by_op_id);
  for (guint i = 0; i < items->len; i++) {
    BfcItem *it = items->pdata[i];
    if (it->state == BFC_ITEM_OPENING)
      bfc_item_send_open_locked(s, it);
    if (it->close_sent) {
      BfMsg m = { .type = BF_FRAME_ITEM_CLOSE, .u.item_close = it->close_msg };
      bfc_ctl_queue_locked(s, &m);
    }
  }
  for (guint i = 0; i < ops->len; i++) {
    BfMsg m = { .type = BF_FRAME_OP, .u.op = ((BfcOpWait *)ops->pdata[i])->op };
    bfc_ctl_queue_locked(s, &m);
  }
  if (items->len + ops->len > 0)
    g_debug("resync: %u items and %u operations queued again on path %d",
            items->len, ops->len, s->ctl);
}

gboolean
bfc_ctl_queue_locked(BfcSession *s, const BfMsg *m)
{
  /* The control path was lost and its successor not yet resynced: that
   * comes first. */
  if (s->ctl < 0 || s->paths[s->ctl].state != BFC_PATH_UP)
    resync_locked(s);
  if (s->ctl < 0 || s->stopping)
    return FALSE;
  frame_queue_locked(&s->paths[s->ctl], m);
  return TRUE;
}

gboolean
bfc_queue_soonest_locked(BfcSession *s, const BfMsg *m)
{
  BfcPath *best = NULL;
  double best_wait = 0;

  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    if (p->state != BFC_PATH_UP || p->conn == NULL)
      continue;
    /* what is queued ahead of the frame, in seconds (or bytes if the
     * rate is unknown yet: then every path counts as equally fast) */
    double wait = p->load.rate > 0 ? p->load.inflight_bytes / p->load.rate
                                   : p->load.inflight_bytes / 1e9;
    /* An idle sender must be woken first, which on a busy machine costs
     * more than a few small chunks ahead on a sender that is awake. */
    if (p->load.inflight == 0 && g_queue_is_empty(&p->frames))
      wait += IDLE_WAKE_S;
    if (best == NULL || wait < best_wait) {
      best = p;
      best_wait = wait;
    }
  }
  if (best == NULL)
    return FALSE;
  frame_queue_locked(best, m);
  return TRUE;
}

/* ---- waiting ------------------------------------------------------------ */

unsigned
bfc_paths_up_locked(BfcSession *s)
{
  unsigned up = 0;

  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    up += s->paths[i].state == BFC_PATH_UP;
  return up;
}

static char *
all_down_message(BfcSession *s)
{
  unsigned up = bfc_paths_up_locked(s);

  if (up > 0)
    return g_strdup_printf("coding=%s needs %u paths up, and only %u of the "
                           "%u paths to server %s have worked for %u s (see "
                           ".braidfs/paths in the mount)",
                           bf_coding_str(&s->cfg.coding), s->cfg.coding.k, up,
                           s->cfg.n_paths, s->server, s->cfg.timeout_s);
  return g_strdup_printf("no path to server %s has worked for %u s (all %u "
                         "paths down; see .braidfs/paths in the mount)", s->server,
                         s->cfg.timeout_s, s->cfg.n_paths);
}

void
bfc_wait_init(BfcWait *w, const char *what)
{
  w->what = what;
  w->progress = g_get_monotonic_time();
  w->seated = FALSE;
  w->busy = FALSE;
}

char *
bfc_session_wait_locked(BfcSession *s, BfcWait *w)
{
  gint64 now = g_get_monotonic_time();
  gint64 limit = (gint64)s->cfg.timeout_s * G_USEC_PER_SEC;

  if (s->stopping)
    return g_strdup("the outbox is being unmounted");
  if (s->dead != NULL)
    return g_strdup(s->dead);
  if (s->down_since != 0 && now - s->down_since >= limit)
    return all_down_message(s);
  /* Coded chunks need k paths: fewer for the timeout fails like none. */
  if (bfc_paths_up_locked(s) >= s->cfg.coding.k)
    s->short_since = 0;
  else if (s->short_since == 0)
    s->short_since = now;
  else if (now - s->short_since >= limit)
    return all_down_message(s);
  /* While every path is down, the rule above applies; after such an
   * outage the server gets a fresh timeout. */
  if (s->down_since == 0 && now - MAX(w->progress, s->back_at) >= limit)
    return g_strdup_printf("server %s has not %s for %u s (timeout=%u; see "
                           ".braidfs/paths in the mount)", s->server, w->what,
                           s->cfg.timeout_s, s->cfg.timeout_s);
  if (!w->seated) {
    /* A FUSE request that waits for the server holds one of the mount's
     * threads; some must stay free for requests that need no server (ls,
     * stat, the status files), however many wait. */
    if (s->waiting >= BFC_WAIT_SEATS) {
      w->busy = TRUE;
      return g_strdup_printf("%u requests already wait for server %s; "
                             "refusing more until it answers (EAGAIN)",
                             s->waiting, s->server);
    }
    s->waiting++;
    w->seated = TRUE;
  }
  g_cond_wait_until(&s->cond, &s->lock, now + G_USEC_PER_SEC / 4);
  return NULL;
}

void
bfc_wait_done_locked(BfcSession *s, BfcWait *w)
{
  if (w->seated)
    s->waiting--;
  w->seated = FALSE;
}

/* ---- sending ------------------------------------------------------------ */

static void
wake_all_locked(BfcSession *s)
{
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    g_cond_signal(&s->paths[i].wake);
  g_cond_broadcast(&s->cond);
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
tail_copy_locked(BfcSession *s, BfcPath *me)
{
  gint64 now = g_get_monotonic_time();
  double mine, best_late = 0.05;
  BfcChunk *best = NULL, *c;

  if (s->cfg.sched != BF_SCHED_DYNAMIC || me->load.rate <= 0)
    return NULL;
  mine = eta(me, me->load.inflight_bytes + s->cfg.chunk_size, now) + me->rtt;
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *q = &s->paths[i];
    uint64_t ahead = 0;
    if (q == me || q->state != BFC_PATH_UP)
      continue;
    for (GList *l = q->inflight.head; l != NULL; l = l->next) {
      c = l->data;
      ahead += c->len;
      double late = eta(q, ahead, now) - mine - c->len / me->load.rate;
      if (c->twin == NULL && c->coded == NULL && c->item->close_sent &&
          c->item->state == BFC_ITEM_OPEN && late > best_late) {
        best = c;
        best_late = late;
      }
    }
  }
  if (best == NULL)
    return NULL;
  c = g_new0(BfcChunk, 1);
  *c = *best;
  c->item = bfc_item_ref(best->item);
  c->data = s->pool->len > 0
      ? g_ptr_array_steal_index_fast(s->pool, s->pool->len - 1)
      : g_malloc(s->cfg.chunk_size);
  memcpy(c->data, best->data, best->len);
  c->sent_at = 0;
  c->writers = 0;
  c->freed = FALSE;
  c->twin = best;
  best->twin = c;
  me->duplicates++;
  return c;
}

/* The next chunk path p should write, or NULL: its own queue first, then
 * chunks of lost paths, then a tail copy. Counted in p's load. */
static BfcChunk *
next_chunk_locked(BfcSession *s, BfcPath *p)
{
  BfcChunk *c;

  /* Shares of a chunk the server has rebuilt are not needed any more. */
  while ((c = g_queue_pop_head(&p->queue)) != NULL) {
    if (c->coded == NULL || !c->coded->done)
      return c;
    unload_locked(p, c);
    bfc_chunk_free_locked(s, c);
  }
  if (p->load.inflight >= s->cfg.window)
    return NULL;
  for (GList *l = s->resend.head, *next; l != NULL; l = next) {
    next = l->next;
    c = l->data;
    if (c->settled || c->item->state == BFC_ITEM_FAILED ||
        c->item->state == BFC_ITEM_STORED || (c->coded && c->coded->done)) {
      g_queue_delete_link(&s->resend, l);
      bfc_chunk_free_locked(s, c);
      continue;
    }
    if (!bfc_chunk_allowed_locked(s, c->item, p->index) ||
        !bfc_share_fits(c, p->index))
      continue;
    g_queue_delete_link(&s->resend, l);
    p->load.inflight++;
    p->load.inflight_bytes += c->len;
    if (c->coded != NULL)
      c->coded->seen[p->index] |= 1u << c->share;
    if (c->from_lost)
      p->resent++;
    return c;
  }
  c = tail_copy_locked(s, p);
  if (c != NULL) {
    p->load.inflight++;
    p->load.inflight_bytes += c->len;
  }
  return c;
}

static void
send_ping(BfcPath *p, BfConn *conn)
{
  BfcSession *s = p->sess;
  BfMsg m = { .type = BF_FRAME_PING };

  g_mutex_lock(&s->lock);
  p->ping_due = FALSE;
  p->ping_sent = g_get_monotonic_time();
  m.u.ping.opaque = (uint64_t)p->ping_sent;
  g_mutex_unlock(&s->lock);
  if (!bf_conn_send(conn, &m, NULL))
    bf_conn_shutdown(conn);
}

/* Writes one frame; a failure takes the path down. */
static gboolean
tx_send(BfcPath *p, BfConn *conn, const BfMsg *m)
{
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;

  if (bf_conn_send(conn, m, &error))
    return TRUE;
  g_mutex_lock(&s->lock);
  if (p->why_down == NULL)
    p->why_down = g_strdup(error->message);
  g_mutex_unlock(&s->lock);
  bf_conn_shutdown(conn);
  return FALSE;
}

/* A writer of c is done: the last one frees a chunk freed meanwhile (see
 * BfcChunk). Lock held. */
static void
chunk_written_locked(BfcSession *s, BfcChunk *c)
{
  if (--c->writers == 0 && c->freed) {
    c->freed = FALSE;
    bfc_chunk_free_locked(s, c);
  }
}

/* Writes the path's frames (control frames first), its chunks and PINGs
 * until the path goes down. */
static gpointer
path_tx(gpointer data)
{
  BfcPath *p = data;
  BfcSession *s = p->sess;
  BfConn *conn = p->conn;

  for (;;) {
    BfcChunk *c = NULL;
    BfcFrame *f = NULL;
    BfMsg m = { .type = BF_FRAME_CHUNK };
    gboolean ok;

    g_mutex_lock(&s->lock);
    while (!s->stopping && p->state == BFC_PATH_UP && !p->ping_due &&
           (f = g_queue_pop_head(&p->frames)) == NULL &&
           (c = next_chunk_locked(s, p)) == NULL)
      g_cond_wait(&p->wake, &s->lock);
    if (s->stopping || p->state != BFC_PATH_UP) {
      if (c != NULL)
        g_queue_push_head(&p->queue, c);
      g_mutex_unlock(&s->lock);
      break;
    }
    if (f != NULL) {
      g_mutex_unlock(&s->lock);
      ok = tx_send(p, conn, &f->msg);
      frame_free(f);
      if (!ok)
        break;
      continue;
    }
    if (c == NULL) {
      g_mutex_unlock(&s->lock);
      send_ping(p, conn);
      continue;
    }
    /* In flight before it is written: its ack may race the return of
     * sendmsg, and then frees it only once we are done with it. */
    c->sent_at = g_get_monotonic_time();
    c->writers++;
    g_queue_push_tail(&p->inflight, c);
    m.u.chunk.item_id = c->item->id;
    m.u.chunk.chunk_id = c->id;
    m.u.chunk.total_chunks = c->total;
    m.u.chunk.share_index = c->share;
    m.u.chunk.pad = c->pad;
    m.u.chunk.crc32c = c->crc;
    m.u.chunk.payload = c->data;
    m.u.chunk.payload_len = c->len;
    g_mutex_unlock(&s->lock);
    ok = tx_send(p, conn, &m);
    g_mutex_lock(&s->lock);
    chunk_written_locked(s, c);
    g_mutex_unlock(&s->lock);
    if (!ok)
      break;
  }
  return NULL;
}

/* ---- receiving ---------------------------------------------------------- */

/* An acknowledged share is held until its chunk is done (k distinct
 * shares acknowledged). TRUE if c is kept. Lock held. */
static gboolean
coded_ack_locked(BfcSession *s, BfcChunk *c)
{
  BfcCoded *cd = c->coded;
  uint32_t bit;

  if (cd == NULL || cd->done)
    return FALSE;
  bit = 1u << c->share;
  if (cd->acked_mask & bit)
    return FALSE;   /* a repeat of a share held already */
  cd->acked_mask |= bit;
  if (++cd->acked < cd->k) {
    cd->held[c->share] = c;
    return TRUE;
  }
  bfc_coded_done_locked(s, cd);
  bfc_chunk_free_locked(s, c);   /* after: c's reference keeps cd alive */
  return TRUE;
}

static gboolean
on_chunk_ack(BfcPath *p, const BfChunkAck *a)
{
  BfcSession *s = p->sess;
  gboolean found = FALSE;

  g_mutex_lock(&s->lock);
  for (GList *l = p->inflight.head; l != NULL; l = l->next) {
    BfcChunk *c = l->data;
    if (c->item->id == a->item_id && c->id == a->chunk_id &&
        c->share == a->share_index) {
      g_queue_delete_link(&p->inflight, l);
      unload_locked(p, c);
      p->bytes_acked += c->len;
      p->chunks_acked++;
      p->last_ack = s->last_chunk_ack = c->item->last_ack =
          g_get_monotonic_time();
      if (c->twin != NULL)
        c->twin->settled = TRUE;
      if (!coded_ack_locked(s, c))
        bfc_chunk_free_locked(s, c);
      found = TRUE;
      break;
    }
  }
  g_cond_signal(&p->wake);
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
  return found;
}

static void
on_pong(BfcPath *p, const BfPing *pong)
{
  BfcSession *s = p->sess;
  gint64 now = g_get_monotonic_time();

  g_mutex_lock(&s->lock);
  if (p->ping_sent != 0 && pong->opaque == (uint64_t)p->ping_sent) {
    double sample = (now - p->ping_sent) / (double)G_USEC_PER_SEC;
    p->rtt = p->rtt > 0 ? 0.875 * p->rtt + 0.125 * sample : sample;
    p->ping_sent = 0;
    p->ping_done = now;
  }
  g_mutex_unlock(&s->lock);
}

/* Reads frames until the connection fails. Returns why. */
static char *
receive(BfcPath *p, BfConn *conn)
{
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  BfMsg m;

  while (bf_conn_recv(conn, &m, &error)) {
    g_mutex_lock(&s->lock);
    p->last_progress = g_get_monotonic_time();
    g_mutex_unlock(&s->lock);
    switch (m.type) {
    case BF_FRAME_CHUNK_ACK:
      if (!on_chunk_ack(p, &m.u.chunk_ack))
        g_debug("path %u: ack for a chunk not in flight", p->index);
      break;
    case BF_FRAME_ITEM_ACK:
      bfc_on_item_ack(s, &m.u.item_ack);
      break;
    case BF_FRAME_OP_ACK:
      bfc_on_op_ack(s, &m.u.op_ack);
      break;
    case BF_FRAME_PING: {
      /* The sender writes it: a receiver that blocks on a full socket
       * would stop reading acknowledgements. */
      BfMsg pong = { .type = BF_FRAME_PONG, .u.ping = m.u.ping };
      g_mutex_lock(&s->lock);
      frame_queue_locked(p, &pong);
      g_mutex_unlock(&s->lock);
      break;
    }
    case BF_FRAME_PONG:
      on_pong(p, &m.u.ping);
      break;
    case BF_FRAME_ERROR:
      return g_strdup_printf("server error (%s): %.*s",
                             bf_status_str(m.u.error.status),
                             m.u.error.message.len,
                             (const char *)m.u.error.message.data);
    default: {
      char *why = g_strdup_printf("unexpected %s frame from the server",
                                  bf_frame_type_str(m.type));
      bf_conn_send_error(conn, BF_ST_PROTOCOL, why);
      return why;
    }
    }
  }
  return g_strdup(error->message);
}

/* ---- handshake ---------------------------------------------------------- */

static char *
append_hint(char *a, const char *b)
{
  char *r = g_strconcat(a, b, NULL);

  g_free(a);
  return r;
}

/* dial()'s *status when the key handshake failed: not the server's verdict
 * on the session, so a re-attaching path just tries again later. */
#define BFC_ST_KEY 0xff

static gboolean
key_fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
key_fail(GError **error, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, BF_NET_ERROR, BF_NET_ERROR_IO, text);
  return FALSE;
}

/* What the server sent instead of the AUTH step we wait for: its refusal,
 * in the words the user needs. */
static gboolean
auth_refused(const BfMsg *m, const char *where, uint8_t step, GError **error)
{
  uint8_t status = m->type == BF_FRAME_ERROR ? m->u.error.status
                   : m->type == BF_FRAME_WELCOME ? m->u.welcome.status
                   : BF_ST_PROTOCOL;
  const BfBytes *text = m->type == BF_FRAME_ERROR ? &m->u.error.message
                        : m->type == BF_FRAME_WELCOME ? &m->u.welcome.message
                        : NULL;
  int tl = text ? text->len : 0;
  const char *td = text ? (const char *)text->data : "";

  if (m->type != BF_FRAME_ERROR && m->type != BF_FRAME_WELCOME)
    return key_fail(error, "server %s answered the key handshake with %s",
                    where, bf_frame_type_str(m->type));
  if (step == BF_AUTH_SERVER_NONCE && status == BF_ST_AUTH)
    return key_fail(error, "server %s has no key but key_file is set", where);
  /* A server that cannot parse AUTH answers as to a malformed HELLO. */
  if (step == BF_AUTH_SERVER_NONCE && status == BF_ST_PROTOCOL)
    return key_fail(error, "server %s does not know the key handshake (an "
                    "older braidfsd without key_file?): %.*s", where, tl, td);
  if (step == BF_AUTH_SERVER_PROOF && status == BF_ST_AUTH)
    return key_fail(error, "server %s refused the key (wrong key_file?)",
                    where);
  return key_fail(error, "server %s refused the key handshake (%s): %.*s",
                  where, bf_status_str(status), tl, td);
}

/* Receives the AUTH of the given step and feeds it to hs. */
static gboolean
auth_recv(BfConn *c, BfHandshake *hs, const char *where, uint8_t step,
          BfAuth *out, gboolean *send, GError **error)
{
  g_autoptr(GError) err = NULL;
  BfMsg m;

  if (!bf_conn_recv(c, &m, error))
    return FALSE;
  if (m.type != BF_FRAME_AUTH || m.u.auth.step != step)
    return auth_refused(&m, where, step, error);
  if (bf_handshake_feed(hs, &m.u.auth, out, send, &err))
    return TRUE;
  if (g_error_matches(err, BF_HS_ERROR, BF_HS_ERROR_PROOF))
    return key_fail(error, "server %s could not prove it knows the key "
                    "(not the braidfsd you meant, or an attacker in the "
                    "way)", where);
  return key_fail(error, "server %s: key handshake: %s", where, err->message);
}

/* The key handshake, up to and including the sealed HELLO: AUTH 1 went
 * out with the preface. Once this returns TRUE every frame is sealed. */
static gboolean
key_handshake(BfConn *c, BfHandshake *hs, const char *where,
              const BfMsg *hello, GError **error)
{
  BfMsg m = { .type = BF_FRAME_AUTH };
  gboolean send;

  if (!auth_recv(c, hs, where, BF_AUTH_SERVER_NONCE, &m.u.auth, &send, error))
    return FALSE;
  if (!bf_conn_send(c, &m, error))
    return FALSE;
  /* The HELLO goes right behind our proof, sealed: only a holder of the
   * key can read its attach token, so it need not wait for the server's
   * proof. */
  bf_conn_seal_tx(c, bf_handshake_take_seal(hs, TRUE));
  if (!bf_conn_send(c, hello, error))
    return FALSE;
  if (!auth_recv(c, hs, where, BF_AUTH_SERVER_PROOF, &m.u.auth, &send, error))
    return FALSE;
  bf_conn_seal_rx(c, bf_handshake_take_seal(hs, FALSE));
  return TRUE;
}

/* On a refusal, *status says why (else BF_ST_OK; BFC_ST_KEY for the key
 * handshake). *instance is the server process's id from its WELCOME (0 if
 * it sent none). */
static gboolean
handshake(BfcSession *s, BfConn *c, const char *where, unsigned index,
          BfHelloKind kind, unsigned timeout_ms, uint8_t *status,
          uint64_t *instance, GError **error)
{
  BfMsg m = { .type = BF_FRAME_HELLO };
  BfHello *h = &m.u.hello;
  g_autoptr(BfHandshake) hs = NULL;

  *status = BF_ST_OK;
  bf_conn_set_recv_timeout(c, timeout_ms);
  h->kind = kind;
  h->path_index = (uint16_t)index;
  if (kind == BF_HELLO_NEW) {
    h->label.data = (const uint8_t *)s->cfg.label;
    h->label.len = s->cfg.label ? (uint16_t)strlen(s->cfg.label) : 0;
  } else {
    memcpy(h->session_id, s->id, BF_ID_LEN);
    memcpy(h->token, s->token, BF_ID_LEN);
  }
  if (!bf_conn_send_preface(c, error))
    return FALSE;
  if (s->cfg.key != NULL) {
    BfMsg a = { .type = BF_FRAME_AUTH };
    hs = bf_handshake_new(BF_HS_CLIENT, s->cfg.key, NULL);
    bf_handshake_start(hs, &a.u.auth);
    if (!bf_conn_send(c, &a, error))
      return FALSE;
  } else if (!bf_conn_send(c, &m, error)) {
    return FALSE;
  }
  if (!bf_conn_recv_preface(c, NULL, error)) {
    g_prefix_error(error, "server %s is not a braidfs server: ", where);
    return FALSE;
  }
  if (hs != NULL && !key_handshake(c, hs, where, &m, error)) {
    *status = BFC_ST_KEY;
    return FALSE;
  }
  if (!bf_conn_recv(c, &m, error))
    return FALSE;
  if (m.type == BF_FRAME_ERROR) {
    *status = m.u.error.status;
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s refused the handshake (%s): %.*s", where,
                bf_status_str(m.u.error.status), m.u.error.message.len,
                (const char *)m.u.error.message.data);
    return FALSE;
  }
  if (m.type != BF_FRAME_WELCOME) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s answered the handshake with %s", where,
                bf_frame_type_str(m.type));
    return FALSE;
  }
  if (m.u.welcome.status != BF_ST_OK) {
    *status = m.u.welcome.status;
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s refused the session (%s): %.*s", where,
                bf_status_str(m.u.welcome.status), m.u.welcome.message.len,
                (const char *)m.u.welcome.message.data);
    return FALSE;
  }
  if (kind == BF_HELLO_NEW) {
    memcpy(s->id, m.u.welcome.session_id, BF_ID_LEN);
    memcpy(s->token, m.u.welcome.token, BF_ID_LEN);
  }
  *instance = m.u.welcome.instance;
  bf_conn_set_recv_timeout(c, 0);
  return TRUE;
}

gboolean
bfc_path_spec_parse(const char *text, uint16_t default_port, BfcPathSpec *out,
                    GError **error)
{
  const char *bracket = strrchr(text, ']');
  const char *at = strrchr(text, '@');
  const char *pct = strrchr(text, '%');
  const char *cut = at ? at : (pct && (!bracket || pct > bracket) ? pct : NULL);
  g_autofree char *target = cut ? g_strndup(text, cut - text) : g_strdup(text);

  memset(out, 0, sizeof *out);
  if (cut != NULL && cut[1] == '\0') {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "path=%s: nothing after '%c'", text, *cut);
    return FALSE;
  }
  if (!bf_parse_hostport(target, default_port, &out->host, &out->port, error)) {
    g_prefix_error(error, "path=%s: ", text);
    return FALSE;
  }
  if (cut == at && at != NULL)
    out->bind_addr = g_strdup(at + 1);
  else if (cut != NULL)
    out->iface = g_strdup(cut + 1);
  return TRUE;
}

void
bfc_path_spec_clear(BfcPathSpec *spec)
{
  g_clear_pointer(&spec->host, g_free);
  g_clear_pointer(&spec->bind_addr, g_free);
  g_clear_pointer(&spec->iface, g_free);
}

static BfConn *
dial(BfcSession *s, const BfcPathSpec *spec, unsigned index, BfHelloKind kind,
     unsigned timeout_ms, uint8_t *status, uint64_t *instance, GError **error)
{
  BfSource src = { spec->bind_addr, spec->iface };
  int fd = bf_tcp_connect(spec->host, spec->port, &src, timeout_ms, error);
  BfConn *c;

  *status = BF_ST_OK;
  if (fd < 0) {
    if (kind == BF_HELLO_NEW)
      (*error)->message = append_hint((*error)->message,
                                      " (is braidfsd running there?)");
    else
      g_prefix_error(error, "path %u: ", index);
    return NULL;
  }
  c = bf_conn_new(fd);
  g_autofree char *where = bf_format_hostport(spec->host, spec->port);
  if (!handshake(s, c, where, index, kind, timeout_ms, status, instance,
                 error)) {
    bf_conn_free(c);
    return NULL;
  }
  return c;
}

/* ---- a path's life ------------------------------------------------------ */

/* Called with the session lock held. */
static void
path_up_locked(BfcPath *p, BfConn *conn)
{
  BfcSession *s = p->sess;
  gint64 now = g_get_monotonic_time();

  p->conn = conn;
  p->state = BFC_PATH_UP;
  p->load.alive = TRUE;
  p->last_progress = now;
  p->tcp_acked = 0;
  p->ping_sent = 0;
  p->ping_done = now;
  p->last_ack = now;
  p->load.rate = 0;   /* unknown: measured afresh */
  if (s->down_since != 0)
    s->back_at = now;
  s->down_since = 0;
  wake_all_locked(s);
}

/* Takes the path out of service after its connection failed: its chunks
 * go to the resend queue, the control path moves if it was this one, and
 * unanswered control frames are sent again. */
static void
path_down(BfcPath *p, BfConn *conn, const char *why)
{
  BfcSession *s = p->sess;
  BfcChunk *c;
  unsigned moved = 0;
  gboolean stopping;

  g_mutex_lock(&s->lock);
  p->state = BFC_PATH_DOWN;
  p->load.alive = FALSE;
  if (p->why_down == NULL)
    p->why_down = g_strdup(why);
  g_cond_broadcast(&p->wake);
  g_mutex_unlock(&s->lock);
  bf_conn_shutdown(conn);
  g_thread_join(p->tx);
  p->tx = NULL;

  g_mutex_lock(&s->lock);
  p->conn = NULL;
  stopping = s->stopping;
  /* Frames not written go again with the resync below. */
  frames_drop_locked(p);
  while ((c = g_queue_pop_head(&p->inflight)) != NULL ||
         (c = g_queue_pop_head(&p->queue)) != NULL) {
    c->sent_at = 0;
    if (c->settled || (c->coded && c->coded->done)) {
      bfc_chunk_free_locked(s, c);
      continue;
    }
    c->from_lost = TRUE;
    g_queue_push_tail(&s->resend, c);
    moved++;
  }
  p->load.inflight = 0;
  p->load.inflight_bytes = 0;
  p->ping_sent = 0;
  ctl_pick_locked(s);
  if (s->ctl < 0 && s->down_since == 0)
    s->down_since = g_get_monotonic_time();
  wake_all_locked(s);
  if (!stopping) {
    g_warning("path %u (%s) lost: %s; %u chunks go on the other paths%s",
              p->index, p->name, p->why_down, moved,
              s->ctl < 0 ? " once one is back (all paths down)" : "");
    resync_locked(s);
  }
  g_mutex_unlock(&s->lock);
  bf_conn_free(conn);
}

/* Sleeps until the next attempt. FALSE when the session stops. */
static gboolean
backoff_wait(BfcPath *p, gint64 delay)
{
  BfcSession *s = p->sess;
  gint64 until = g_get_monotonic_time() + delay;
  gboolean stopping;

  g_mutex_lock(&s->lock);
  while (!s->stopping && g_cond_wait_until(&p->wake, &s->lock, until))
    ;
  stopping = s->stopping || s->dead != NULL;
  if (!stopping)
    p->state = BFC_PATH_CONNECTING;
  g_mutex_unlock(&s->lock);
  return !stopping;
}

/* The server process changed. It kept the session, and keeps the items
 * it had (their data, which chunks it holds, their ITEM_CLOSE), but the
 * client cannot know which: every item in flight is opened again, and its
 * chunks wait for the answer. OPENED means the server resumed it (the
 * client then sends what was never acknowledged); a refusal fails it.
 * Called with the session lock held; the resync that follows the
 * re-attach sends the ITEM_OPENs. */
static void
server_restarted_locked(BfcSession *s, uint64_t instance)
{
  GHashTableIter iter;
  gpointer v;
  unsigned n = 0;

  s->instance = instance;
  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    BfcItem *it = v;
    if (it->state != BFC_ITEM_OPENING && it->state != BFC_ITEM_OPEN)
      continue;
    it->state = BFC_ITEM_OPENING;
    it->open_sent = FALSE;
    it->resuming = TRUE;
    n++;
  }
  /* It kept only rebuilt chunks: every share of the others goes again. */
  for (GList *l = s->coded_open.head; l != NULL; l = l->next) {
    BfcCoded *cd = l->data;
    for (unsigned i = 0; i < G_N_ELEMENTS(cd->held); i++) {
      if (cd->held[i] == NULL)
        continue;
      cd->held[i]->from_lost = TRUE;
      g_queue_push_tail(&s->resend, g_steal_pointer(&cd->held[i]));
    }
    cd->acked = 0;
    cd->acked_mask = 0;
  }
  g_message("server %s restarted: resuming %u files in flight", s->server, n);
  g_cond_broadcast(&s->cond);
}

/* Re-attaches the path to the session. NULL on failure (logged once per
 * outage, not per attempt). */
static BfConn *
reattach(BfcPath *p, unsigned attempt)
{
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  uint8_t status;
  uint64_t instance = 0;
  BfConn *conn = dial(s, &s->cfg.specs[p->index], p->index, BF_HELLO_ATTACH,
                      MIN(s->cfg.timeout_s * 1000, REATTACH_TIMEOUT_MS),
                      &status, &instance, &error);

  g_mutex_lock(&s->lock);
  if (conn == NULL) {
    p->state = BFC_PATH_DOWN;
    if (status == BF_ST_AUTH) {
      /* Only a restarted server or a removed session forgets a session. */
      g_autofree char *why = g_strdup_printf("the server no longer knows this "
          "session (restarted, or its directory was removed): %s",
          error->message);
      bfc_session_fail_locked(s, why);
    } else if (attempt == 1) {
      g_message("path %u (%s): cannot re-attach yet: %s; retrying", p->index,
                p->name, error->message);
    }
  } else {
    p->retries++;
    g_clear_pointer(&p->why_down, g_free);
    if (instance != 0 && s->instance != 0 && instance != s->instance)
      server_restarted_locked(s, instance);
    else if (s->instance == 0)
      s->instance = instance;
    path_up_locked(p, conn);
    if (s->stopping)
      bf_conn_shutdown(conn);
    /* This path may be the first up after an outage: it becomes the
     * control path and unanswered control frames go out on it. */
    resync_locked(s);
  }
  g_mutex_unlock(&s->lock);
  if (conn != NULL)
    g_message("path %u (%s) re-attached after %u attempts", p->index, p->name,
              attempt);
  return conn;
}

static gpointer
path_main(gpointer data)
{
  BfcPath *p = data;
  BfcSession *s = p->sess;
  gint64 delay = BACKOFF_MIN_US;
  unsigned attempt = 0;

  for (;;) {
    g_mutex_lock(&s->lock);
    BfConn *conn = p->conn;
    g_mutex_unlock(&s->lock);
    if (conn == NULL) {
      if (!backoff_wait(p, delay))
        break;
      conn = reattach(p, ++attempt);
      if (conn == NULL) {
        delay = MIN(delay * 2, BACKOFF_MAX_US);
        continue;
      }
    }
    delay = BACKOFF_MIN_US;
    attempt = 0;
    p->tx = g_thread_new("path-tx", path_tx, p);
    g_autofree char *why = receive(p, conn);
    path_down(p, conn, why);
    g_mutex_lock(&s->lock);
    gboolean stop = s->stopping;
    g_mutex_unlock(&s->lock);
    if (stop)
      break;
  }
  return NULL;
}

/* ---- the ticker: rates, stalls, PINGs ------------------------------------ */

/* Rates are acknowledged bytes over the time the path had work, sampled
 * over whole ticks: single acknowledgements arrive in bursts, and a path
 * that is idle part of the time is not slow. A path that had work and
 * delivered nothing decays towards zero, so the scheduler leaves it. */
static void
sample_rate(BfcPath *p, uint64_t *at_tick, double busy_s, double best)
{
  uint64_t delta = p->bytes_acked - *at_tick;

  *at_tick = p->bytes_acked;
  if (busy_s < 0.05) {
    /* An idle path's estimate may be stale (a stall it recovered from):
     * let it grow back towards the best path's until it is given work and
     * measured again. */
    p->load.rate = MIN(p->load.rate * 1.5, best);
    return;
  }
  double inst = delta / busy_s;
  p->load.rate = p->load.rate > 0 ? 0.5 * p->load.rate + 0.5 * inst : inst;
}

/* A path is stalled when it owes us something (chunks in flight, a PING,
 * bytes the kernel has not seen acknowledged) and neither our frames nor
 * the peer's TCP acknowledgements have moved for stall_ms. Called with
 * the session lock. */
static void
check_stall_locked(BfcSession *s, BfcPath *p, gint64 now)
{
  uint64_t acked = 0;
  uint32_t unacked = 0;
  gboolean info = bf_conn_tcp_progress(p->conn, &acked, &unacked);

  if (info && acked != p->tcp_acked) {
    p->tcp_acked = acked;
    p->last_progress = now;
  }
  if (p->load.inflight == 0 && p->ping_sent == 0 && unacked == 0) {
    p->last_progress = now;
    return;
  }
  if (now - p->last_progress < (gint64)s->cfg.stall_ms * 1000)
    return;
  g_free(p->why_down);
  p->why_down = g_strdup_printf("stalled: no progress for %.1f s",
                                (now - p->last_progress) / (double)G_USEC_PER_SEC);
  p->state = BFC_PATH_DOWN;
  p->load.alive = FALSE;
  bf_conn_shutdown(p->conn);
}

static gpointer
ticker(gpointer data)
{
  BfcSession *s = data;
  g_autofree uint64_t *at_tick = g_new0(uint64_t, s->cfg.n_paths);
  g_autofree gint64 *busy = g_new0(gint64, s->cfg.n_paths);
  gint64 last = g_get_monotonic_time(), prev = last;

  g_mutex_lock(&s->lock);
  while (!s->stopping) {
    gint64 now = g_get_monotonic_time();
    gboolean sample = now - last >= RATE_TICK_US;
    double best = 0;
    for (unsigned i = 0; i < s->cfg.n_paths; i++)
      best = MAX(best, s->paths[i].load.rate);
    for (unsigned i = 0; i < s->cfg.n_paths; i++) {
      BfcPath *p = &s->paths[i];
      if (p->load.inflight > 0)
        busy[i] += now - prev;
      if (sample) {
        sample_rate(p, &at_tick[i], busy[i] / (double)G_USEC_PER_SEC, best);
        busy[i] = 0;
      }
      if (p->state != BFC_PATH_UP || p->conn == NULL)
        continue;
      check_stall_locked(s, p, now);
      /* One PING a second: RTT samples, and the keep-alive the server's
       * idle timeout expects. The path's sender writes it. */
      if (p->state == BFC_PATH_UP && p->ping_sent == 0 && !p->ping_due &&
          now - p->ping_done >= G_USEC_PER_SEC) {
        p->ping_due = TRUE;
        g_cond_signal(&p->wake);
      }
    }
    prev = now;
    if (sample)
      last = now;
    while (!s->stopping && g_cond_wait_until(&s->tick, &s->lock, now + TICK_US))
      ;
  }
  g_mutex_unlock(&s->lock);
  return NULL;
}

/* ---- status ------------------------------------------------------------- */

static const char *
state_name(BfcPathState st)
{
  switch (st) {
  case BFC_PATH_UP: return "up";
  case BFC_PATH_CONNECTING: return "connecting";
  default: return "down";
  }
}

char *
bfc_session_describe_paths(BfcSession *s)
{
  GString *out = g_string_new("# path address source state bytes chunks "
                              "in_flight rtt_ms rate_MBps retries resent "
                              "duplicates\n");

  g_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    const BfcPathSpec *sp = &s->cfg.specs[i];
    g_autofree char *iface = sp->iface ? g_strconcat("%", sp->iface, NULL) : NULL;
    const char *src = sp->bind_addr ? sp->bind_addr : iface ? iface : "-";
    g_string_append_printf(out, "%u %s %s %s %" G_GUINT64_FORMAT " %"
                           G_GUINT64_FORMAT " %u %.3f %.1f %u %u %u\n", i,
                           p->name, src, state_name(p->state), p->bytes_acked,
                           p->chunks_acked, p->load.inflight, p->rtt * 1000,
                           p->load.rate / 1e6, p->retries, p->resent,
                           p->duplicates);
  }
  g_mutex_unlock(&s->lock);
  return g_string_free(out, FALSE);
}

/* ---- the session's paths ------------------------------------------------ */

/* Creates the session (or, with attach, joins s->id) and attaches every
 * path once. A path that cannot attach now is retried in the background;
 * the mount needs one. *refused is the status of a refused handshake. */
static gboolean
connect_all(BfcSession *s, gboolean attach, uint8_t *refused, GError **error)
{
  const BfcConfig *cfg = &s->cfg;
  BfcPathSpec home = { cfg->host, cfg->port, NULL, NULL };
  unsigned ms = cfg->timeout_s * 1000, up = 0;
  uint8_t status;
  g_autoptr(GError) first = NULL;

  /* With explicit paths the session is created at HOST:PORT and every
   * listed path attaches to it, so the paths are exactly the list. The
   * creating connection (not a path: index BFC_NO_PATH) stays open until
   * they have, so the session never looks abandoned to the server. */
  g_autoptr(BfConn) creator = NULL;
  if (cfg->explicit_paths && !attach) {
    creator = dial(s, &home, BFC_NO_PATH, BF_HELLO_NEW, ms, refused,
                   &s->instance, error);
    if (creator == NULL)
      return FALSE;
  }
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    BfHelloKind kind = (i == 0 && !cfg->explicit_paths && !attach)
                       ? BF_HELLO_NEW : BF_HELLO_ATTACH;
    g_autoptr(GError) err = NULL;
    uint64_t instance = 0;
    BfConn *c = dial(s, &cfg->specs[i], i, kind, ms, &status, &instance, &err);
    if (c == NULL && kind == BF_HELLO_NEW) {
      *refused = status;
      g_propagate_error(error, g_steal_pointer(&err));
      return FALSE;
    }
    g_mutex_lock(&s->lock);
    if (c != NULL) {
      if (s->instance == 0)
        s->instance = instance;
      path_up_locked(&s->paths[i], c);
      up++;
    } else {
      s->paths[i].state = BFC_PATH_DOWN;
      g_free(s->paths[i].why_down);
      s->paths[i].why_down = g_strdup(err->message);
    }
    g_mutex_unlock(&s->lock);
    if (c == NULL) {
      if (status != BF_ST_OK)
        *refused = status;
      if (attach && up == 0 && status == BF_ST_AUTH) {
        g_propagate_error(error, g_steal_pointer(&err));
        return FALSE;   /* the session is gone: no use trying the rest */
      }
      g_warning("path %u (%s) not attached: %s; retrying in the background",
                i, s->paths[i].name, err->message);
      if (first == NULL)
        first = g_steal_pointer(&err);
    }
  }
  if (up == 0) {
    g_propagate_error(error, g_steal_pointer(&first));
    return FALSE;
  }
  g_mutex_lock(&s->lock);
  ctl_pick_locked(s);
  g_mutex_unlock(&s->lock);
  return TRUE;
}

gboolean
bfc_paths_connect(BfcSession *s, GError **error)
{
  g_autoptr(GError) err = NULL;
  uint8_t refused = BF_ST_OK;

  if (!s->cfg.attach)
    return connect_all(s, FALSE, &refused, error);
  memcpy(s->id, s->cfg.attach_id, BF_ID_LEN);
  memcpy(s->token, s->cfg.attach_token, BF_ID_LEN);
  if (connect_all(s, TRUE, &refused, &err))
    return TRUE;
  if (refused != BF_ST_AUTH) {
    g_propagate_error(error, g_steal_pointer(&err));
    return FALSE;
  }
  g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
  g_warning("server %s does not know session %.8s any more (%s); starting a "
            "new session", s->server, id, err->message);
  g_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    s->paths[i].state = BFC_PATH_CONNECTING;
    g_clear_pointer(&s->paths[i].why_down, g_free);
  }
  g_mutex_unlock(&s->lock);
  s->cfg.attach = FALSE;
  return connect_all(s, FALSE, &refused, error);
}

void
bfc_paths_start(BfcSession *s)
{
  s->ticker = g_thread_new("ticker", ticker, s);
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    s->paths[i].thread = g_thread_new("path", path_main, &s->paths[i]);
}

static void
drain_locked(BfcSession *s, GQueue *q)
{
  BfcChunk *c;

  while ((c = g_queue_pop_head(q)) != NULL)
    bfc_chunk_free_locked(s, c);
}

void
bfc_paths_stop(BfcSession *s)
{
  g_mutex_lock(&s->lock);
  s->stopping = TRUE;
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    g_cond_broadcast(&s->paths[i].wake);
    if (s->paths[i].conn != NULL)
      bf_conn_shutdown(s->paths[i].conn);
  }
  g_cond_broadcast(&s->cond);
  g_cond_broadcast(&s->tick);
  g_mutex_unlock(&s->lock);
  if (s->ticker)
    g_thread_join(s->ticker);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    if (p->thread != NULL) {
      g_thread_join(p->thread);
    } else if (p->conn != NULL) {
      /* connected but never started (a failed mount) */
      bf_conn_free(p->conn);
      p->conn = NULL;
    }
  }
  g_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    drain_locked(s, &s->paths[i].queue);
    drain_locked(s, &s->paths[i].inflight);
    frames_drop_locked(&s->paths[i]);
  }
  drain_locked(s, &s->resend);
  while (!g_queue_is_empty(&s->coded_open))
    bfc_coded_done_locked(s, g_queue_peek_head(&s->coded_open));
  g_mutex_unlock(&s->lock);
}
