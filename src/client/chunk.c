/* Chunks, their buffers and coded shares (chunk.h). */
#include "chunk.h"

#include <string.h>

#include "item.h"

/* ---- buffers ------------------------------------------------------------ */

/* A pool buffer holds a chunk, or under shamir a share of an item's secret,
 * which may be longer than the smallest chunk_size. */
static size_t
pool_buf_size(const BfcSession *s)
{
  return s->cfg.coding.kind == BF_CODING_SHAMIR
             ? MAX((size_t)s->cfg.chunk_size, (size_t)BF_SECRET_MAX)
             : s->cfg.chunk_size;
}

static uint8_t *
pool_get_locked(BfcSession *s) BF_REQUIRES(&s->lock)
{
  if (s->pool->len > 0)
    return g_ptr_array_steal_index_fast(s->pool, s->pool->len - 1);
  return g_malloc(pool_buf_size(s));
}

uint8_t *
bfc_pool_get(BfcSession *s)
{
  uint8_t *buf = NULL;

  bf_mutex_lock(&s->lock);
  if (s->pool->len > 0)
    buf = g_ptr_array_steal_index_fast(s->pool, s->pool->len - 1);
  bf_mutex_unlock(&s->lock);
  /* A fresh buffer is allocated outside the lock. */
  return buf ? buf : g_malloc(pool_buf_size(s));
}

/* Keeps enough buffers to refill every path's budget (budget.h), which
 * inflight_max bounds. */
static void
pool_put_locked(BfcSession *s, uint8_t *buf) BF_REQUIRES(&s->lock)
{
  uint64_t budgets = 0;

  if (buf == NULL)
    return;
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    budgets += s->paths[i].load.budget;
  budgets = MIN(budgets, s->cfg.inflight_max);
  if (s->pool->len < budgets / s->cfg.chunk_size + 4)
    g_ptr_array_add(s->pool, buf);
  else
    g_free(buf);
}

void
bfc_pool_put(BfcSession *s, uint8_t *buf)
{
  bf_mutex_lock(&s->lock);
  pool_put_locked(s, buf);
  bf_mutex_unlock(&s->lock);
}

/* ---- chunks ------------------------------------------------------------- */

BfcChunk *
bfc_chunk_new(BfcItem *it, uint32_t id, uint32_t total, uint8_t *data,
              uint32_t len)
{
  BfcChunk *c = g_new0(BfcChunk, 1);

  c->item = bfc_item_ref(it);
  c->id = id;
  c->total = total;
  c->len = len;
  c->data = data;
  c->crc = bf_crc32c(data, len);
  return c;
}

/* A coded chunk no longer counts in what the server may buffer. */
static void
coded_settle_locked(BfcSession *s, BfcCoded *cd) BF_REQUIRES(&s->lock)
{
  if (cd->link == NULL)
    return;
  g_queue_delete_link(&s->coded_open, cd->link);
  cd->link = NULL;
  s->partial_bytes -= cd->cost;
  g_cond_broadcast(&s->cond);
}

static void
coded_unref_locked(BfcSession *s, BfcCoded *cd) BF_REQUIRES(&s->lock)
{
  if (--cd->refs > 0)
    return;
  coded_settle_locked(s, cd);
  g_free(cd);
}

void
bfc_chunk_free_locked(BfcSession *s, BfcChunk *c)
{
  if (c->twin != NULL)
    c->twin->twin = NULL;
  c->twin = NULL;
  if (c->coded != NULL)
    coded_unref_locked(s, c->coded);
  c->coded = NULL;
  if (c->writers > 0) {
    /* A path's sender still writes its buffer: it frees it when done. */
    c->freed = TRUE;
    return;
  }
  pool_put_locked(s, c->data);
  bfc_item_unref(c->item);
  g_free(c);
}

void
bfc_chunks_drain_locked(BfcSession *s, GQueue *q)
{
  BfcChunk *c;

  while ((c = g_queue_pop_head(q)) != NULL)
    bfc_chunk_free_locked(s, c);
}

void
bfc_chunk_write_begin_locked(BfcSession *s, BfcChunk *c, BfMsg *m)
{
  (void)s;
  c->sent_at = g_get_monotonic_time();
  c->writers++;
  *m = (BfMsg){ .type = BF_FRAME_CHUNK };
  m->u.chunk.item_id = c->item->id;
  m->u.chunk.chunk_id = c->id;
  m->u.chunk.total_chunks = c->total;
  m->u.chunk.share_index = c->share;
  m->u.chunk.pad = c->pad;
  m->u.chunk.crc32c = c->crc;
  m->u.chunk.payload = c->data;
  m->u.chunk.payload_len = c->len;
}

void
bfc_chunk_write_end_locked(BfcSession *s, BfcChunk *c)
{
  if (--c->writers == 0 && c->freed) {
    c->freed = FALSE;
    bfc_chunk_free_locked(s, c);
  }
}

gboolean
bfc_chunk_matches_locked(BfcSession *s, const BfcChunk *c, const BfChunkAck *a)
{
  (void)s;
  return c->item->id == a->item_id && c->id == a->chunk_id &&
         c->share == a->share_index;
}

/* k distinct shares were acknowledged: the held ones are freed. */
static void
coded_done_locked(BfcSession *s, BfcCoded *cd) BF_REQUIRES(&s->lock)
{
  cd->done = TRUE;
  cd->refs++;   /* freeing the held shares must not free cd under us */
  coded_settle_locked(s, cd);
  for (unsigned i = 0; i < G_N_ELEMENTS(cd->held); i++)
    if (cd->held[i] != NULL)
      bfc_chunk_free_locked(s, g_steal_pointer(&cd->held[i]));
  coded_unref_locked(s, cd);
}

/* An acknowledged share is held until its chunk is done (k distinct
 * shares acknowledged). TRUE if c was taken care of. */
static gboolean
coded_ack_locked(BfcSession *s, BfcChunk *c) BF_REQUIRES(&s->lock)
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
  coded_done_locked(s, cd);
  bfc_chunk_free_locked(s, c);   /* after: c's reference keeps cd alive */
  return TRUE;
}

void
bfc_chunk_acked_locked(BfcSession *s, BfcChunk *c, gint64 now)
{
  c->item->last_ack = now;
  if (c->twin != NULL)
    c->twin->settled = TRUE;
  if (!coded_ack_locked(s, c))
    bfc_chunk_free_locked(s, c);
}

gboolean
bfc_chunk_obsolete_locked(BfcSession *s, const BfcChunk *c)
{
  (void)s;
  return c->settled || c->item->state == BFC_ITEM_FAILED ||
         c->item->state == BFC_ITEM_STORED || (c->coded && c->coded->done);
}

gboolean
bfc_chunk_lost_locked(BfcSession *s, BfcChunk *c)
{
  c->sent_at = 0;
  if (c->settled || (c->coded && c->coded->done)) {
    bfc_chunk_free_locked(s, c);
    return FALSE;
  }
  c->from_lost = TRUE;
  return TRUE;
}

gboolean
bfc_chunk_may_copy_locked(BfcSession *s, const BfcChunk *c)
{
  (void)s;
  return c->twin == NULL && c->coded == NULL && c->item->close_sent &&
         c->item->state == BFC_ITEM_OPEN;
}

BfcChunk *
bfc_chunk_copy_locked(BfcSession *s, BfcChunk *c)
{
  BfcChunk *copy = g_new0(BfcChunk, 1);

  *copy = *c;
  copy->item = bfc_item_ref(c->item);
  copy->data = pool_get_locked(s);
  memcpy(copy->data, c->data, c->len);
  copy->sent_at = 0;
  copy->writers = 0;
  copy->freed = FALSE;
  copy->twin = c;
  c->twin = copy;
  return copy;
}

/* ---- coded chunks ------------------------------------------------------- */

/* One coder per writing thread: it keeps scratch buffers and tables. The
 * session's coding is the process's (one session per mount). */
static GPrivate coder_key = G_PRIVATE_INIT((GDestroyNotify)bf_coder_free);

static BfCoder *
thread_coder(BfcSession *s)
{
  BfCoder *c = g_private_get(&coder_key);

  if (c == NULL) {
    c = bf_coder_new(&s->cfg.coding);
    g_private_set(&coder_key, c);
  }
  return c;
}

void
bfc_coded_split(BfcSession *s, BfcItem *it, uint32_t id, uint32_t total,
                const uint8_t *data, uint32_t len, BfcChunk **sh)
{
  const BfCodingSpec *spec = &s->cfg.coding;
  uint32_t slen = (uint32_t)bf_coding_share_len(spec, len);
  uint8_t *bufs[BF_CODING_N_MAX];
  BfcCoded *cd = g_new0(BfcCoded, 1);

  for (unsigned i = 0; i < spec->n; i++)
    bufs[i] = bfc_pool_get(s);
  bf_coder_encode(thread_coder(s), data, len, bufs);
  cd->k = spec->k;
  cd->refs = spec->n;
  cd->cost = (uint64_t)(spec->k - 1) * slen;
  for (unsigned i = 0; i < spec->n; i++) {
    BfcChunk *c = sh[i] = bfc_chunk_new(it, id, total, bufs[i], slen);
    c->pad = bf_coding_pad(spec, len);
    c->share = (uint8_t)i;
    c->coded = cd;
  }
}

gboolean
bfc_coded_room_locked(BfcSession *s, const BfcCoded *cd)
{
  return g_queue_is_empty(&s->coded_open) ||
         (g_queue_get_length(&s->coded_open) < BF_CODING_PARTIAL_CHUNKS &&
          s->partial_bytes + cd->cost <= BF_CODING_PARTIAL_BYTES);
}

void
bfc_coded_open_locked(BfcSession *s, BfcCoded *cd)
{
  g_queue_push_tail(&s->coded_open, cd);
  cd->link = s->coded_open.tail;
  s->partial_bytes += cd->cost;
}

gboolean
bfc_share_fits(const BfcChunk *c, unsigned p)
{
  return c->coded == NULL || (c->coded->seen[p] & ~(1u << c->share)) == 0;
}

void
bfc_share_placed(BfcChunk *c, unsigned p)
{
  if (c->coded != NULL)
    c->coded->seen[p] |= 1u << c->share;
}

void
bfc_coded_restart_locked(BfcSession *s)
{
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
}

void
bfc_coded_clear_locked(BfcSession *s)
{
  while (!g_queue_is_empty(&s->coded_open))
    coded_done_locked(s, g_queue_peek_head(&s->coded_open));
}
