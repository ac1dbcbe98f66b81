/* The client side of a session: N paths (TCP connections) that carry the
 * chunks of every item.
 *
 * How chunks on many connections become one item: the writer fills one
 * chunk buffer per item, in file order, and hashes it as it leaves, so the
 * digest is computed once and in order. The scheduler then hands the chunk
 * to a path whose window of unacknowledged chunks has room; the path's
 * sender thread writes it, and the path's receiver thread frees it when
 * the server acknowledges it. Order across paths does not matter: every
 * chunk carries its index, and the server writes it at index*chunk_size.
 * Control frames (ITEM_OPEN, ITEM_CLOSE, OP) go on path 0, so the server
 * sees an item opened before anything that refers to it by name; until
 * the server's OPENED answer arrives an item's chunks may only follow its
 * ITEM_OPEN on path 0. Memory is bounded by paths x window chunks in
 * flight plus one chunk per open file.
 *
 * One session lock guards the scheduling state, the queues and every
 * item's state; it is never held across a socket write. */
#include "client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "braidfs/parse.h"

typedef struct {
  BfcItem *item;              /* referenced */
  uint32_t id;
  uint32_t total;             /* 0 unless this is the known last chunk */
  uint32_t len;
  uint32_t crc;
  uint8_t *data;              /* a pool buffer of chunk_size bytes */
} BfcChunk;

typedef struct {
  BfcSession *sess;
  unsigned index;
  char *name;                 /* "addr:port" it connects to */
  BfConn *conn;
  GThread *tx, *rx;
  GCond wake;                 /* tx waits for queued chunks */
  GQueue queue;               /* BfcChunk* assigned, not yet written */
  GQueue inflight;            /* BfcChunk* written, not yet acknowledged */
  BfPathLoad load;
  /* statistics, under the session lock */
  uint64_t bytes_acked;
  uint64_t chunks_acked;
  uint64_t bytes_at_tick;     /* bytes_acked at the last rate sample */
  gint64 ping_sent;           /* monotonic time of the PING in flight, or 0 */
  gint64 ping_done;           /* when the last PONG came back */
  double rtt;                 /* smoothed PING round trip, seconds; 0 = none */
} BfcPath;

typedef struct {
  gboolean done;
  uint8_t status;
  char *message;
} BfcOpWait;

struct BfcSession {
  BfcConfig cfg;
  uint8_t id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];
  char *server;               /* "host:port" for messages */
  BfcPath *paths;
  GMutex ctl_lock;            /* orders ITEM_OPENs on the control path */
  GMutex lock;
  GCond cond;                 /* any ack, state change or failure */
  GHashTable *items;          /* id -> BfcItem* awaiting answers */
  GHashTable *ops;            /* op id -> BfcOpWait* */
  uint64_t next_item_id;
  uint64_t next_op_id;
  GPtrArray *pool;            /* free chunk buffers */
  GThread *ticker;
  GCond tick;                 /* wakes the ticker to stop */
  gboolean stopping;
  char *dead;                 /* why the session cannot continue */
};

static int bfc_op_send(BfcSession *s, const BfOp *op);

/* ---- buffers ----------------------------------------------------------- */

static uint8_t *
pool_get(BfcSession *s)
{
  uint8_t *buf = NULL;

  g_mutex_lock(&s->lock);
  if (s->pool->len > 0)
    buf = g_ptr_array_steal_index_fast(s->pool, s->pool->len - 1);
  g_mutex_unlock(&s->lock);
  return buf ? buf : g_malloc(s->cfg.chunk_size);
}

/* Called with s->lock held. Keeps enough buffers to refill every window, so
 * steady state touches no fresh memory. */
static void
pool_put_locked(BfcSession *s, uint8_t *buf)
{
  if (buf == NULL)
    return;
  if (s->pool->len < s->cfg.n_paths * s->cfg.window + 4)
    g_ptr_array_add(s->pool, buf);
  else
    g_free(buf);
}

/* ---- failures ----------------------------------------------------------- */

int
bfc_status_errno(uint8_t status)
{
  switch (status) {
  case BF_ST_OK: return 0;
  case BF_ST_NO_SPACE: return ENOSPC;
  case BF_ST_TOO_BIG: return EFBIG;
  case BF_ST_BAD_NAME: return EINVAL;
  case BF_ST_NOT_FOUND: return ENOENT;
  case BF_ST_EXISTS: return EEXIST;
  case BF_ST_NOT_EMPTY: return ENOTEMPTY;
  case BF_ST_LIMIT: return EAGAIN;
  default: return EIO;
  }
}

/* Called with s->lock held: the session cannot go on (this version does
 * not re-route chunks of a lost path), so every waiter fails now instead
 * of at its timeout. */
static void
session_fail_locked(BfcSession *s, const char *why)
{
  if (s->dead == NULL && !s->stopping) {
    s->dead = g_strdup(why);
    g_warning("server %s: %s", s->server, why);
  }
  g_cond_broadcast(&s->cond);
}

static void
item_fail_locked(BfcItem *it, uint8_t status, const char *why)
{
  if (it->state == BFC_ITEM_FAILED || it->state == BFC_ITEM_STORED)
    return;
  it->state = BFC_ITEM_FAILED;
  it->status = status;
  it->error = g_strdup(why);
}

/* ---- items ---------------------------------------------------------- */

/* Registers the item under a fresh id and sends its ITEM_OPEN on path 0.
 * Called with wlock held (or before the item is shared). */
static void
announce(BfcItem *it)
{
  BfcSession *s = it->sess;
  BfMsg m = { .type = BF_FRAME_ITEM_OPEN };
  g_autoptr(GError) error = NULL;

  /* Ids must reach the server in increasing order: assign and send under
   * one lock. */
  g_mutex_lock(&s->ctl_lock);
  g_mutex_lock(&s->lock);
  it->id = ++s->next_item_id;
  it->state = BFC_ITEM_OPENING;
  g_free(it->error);
  it->error = NULL;
  g_hash_table_insert(s->items, &it->id, bfc_item_ref(it));
  if (s->dead)
    item_fail_locked(it, BF_ST_IO, s->dead);
  g_mutex_unlock(&s->lock);

  m.u.item_open.item_id = it->id;
  m.u.item_open.chunk_size = s->cfg.chunk_size;
  m.u.item_open.mode = it->mode;
  m.u.item_open.mtime_sec = it->mtime.tv_sec;
  m.u.item_open.mtime_nsec = (uint32_t)it->mtime.tv_nsec;
  m.u.item_open.coding = BF_CODING_STRIPE;
  m.u.item_open.coding_k = m.u.item_open.coding_n = 1;
  m.u.item_open.digest_alg = bf_digest_alg(it->digest);
  m.u.item_open.name.data = (const uint8_t *)it->name;
  m.u.item_open.name.len = (uint16_t)strlen(it->name);
  gboolean sent = bf_conn_send(s->paths[0].conn, &m, &error);
  g_mutex_unlock(&s->ctl_lock);
  if (!sent) {
    g_mutex_lock(&s->lock);
    session_fail_locked(s, error->message);
    item_fail_locked(it, BF_ST_IO, error->message);
    g_mutex_unlock(&s->lock);
  }
}

BfcItem *
bfc_item_new(BfcSession *s, const char *name, uint32_t mode)
{
  BfcItem *it = g_new0(BfcItem, 1);

  it->refs = 1;
  it->sess = s;
  it->name = g_strdup(name);
  it->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &it->mtime);
  g_mutex_init(&it->wlock);
  it->digest = bf_digest_new(BF_DIGEST_SHA256);
  announce(it);
  return it;
}

BfcItem *
bfc_item_ref(BfcItem *it)
{
  g_atomic_int_inc(&it->refs);
  return it;
}

void
bfc_item_unref(BfcItem *it)
{
  if (it == NULL || !g_atomic_int_dec_and_test(&it->refs))
    return;
  g_free(it->buf);
  bf_digest_free(it->digest);
  g_free(it->name);
  g_free(it->error);
  g_mutex_clear(&it->wlock);
  g_free(it);
}

/* Removes the item from the table of items awaiting answers. */
static void
item_forget_locked(BfcSession *s, BfcItem *it)
{
  if (g_hash_table_lookup(s->items, &it->id) == it) {
    g_hash_table_steal(s->items, &it->id);
    bfc_item_unref(it);
  }
}

static void
load_snapshot(BfcSession *s, BfPathLoad *loads)
{
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    loads[i] = s->paths[i].load;
}

/* Blocks until the item is open on the server and a path has room, then
 * queues the chunk there. Takes ownership of c. */
static int
submit(BfcSession *s, BfcChunk *c)
{
  BfPathLoad loads[BFC_MAX_PATHS];
  gint64 deadline = g_get_monotonic_time() + s->cfg.timeout_s * G_USEC_PER_SEC;
  BfcItem *it = c->item;
  int p = -1;

  g_mutex_lock(&s->lock);
  for (;;) {
    if (s->dead || it->state == BFC_ITEM_FAILED)
      break;
    load_snapshot(s, loads);
    if (it->state != BFC_ITEM_OPENING) {
      p = bf_sched_pick(s->cfg.sched, loads, s->cfg.n_paths, s->cfg.window,
                        c->id, c->len);
    } else if (loads[0].alive && loads[0].inflight < s->cfg.window &&
               (s->cfg.sched != BF_SCHED_RR || c->id % s->cfg.n_paths == 0)) {
      /* Before OPENED only path 0 may carry the item: it carried the
       * ITEM_OPEN first, so a small file costs one round trip, not two. */
      p = 0;
    }
    if (p >= 0)
      break;
    if (!g_cond_wait_until(&s->cond, &s->lock, deadline)) {
      item_fail_locked(it, BF_ST_IO, "no acknowledgement from the server "
                       "within the timeout");
      break;
    }
  }
  if (p < 0) {
    int err = it->state == BFC_ITEM_FAILED ? bfc_status_errno(it->status) : EIO;
    pool_put_locked(s, c->data);
    g_mutex_unlock(&s->lock);
    bfc_item_unref(c->item);
    g_free(c);
    return -err;
  }
  BfcPath *path = &s->paths[p];
  path->load.inflight++;
  path->load.inflight_bytes += c->len;
  g_queue_push_tail(&path->queue, c);
  g_cond_signal(&path->wake);
  g_mutex_unlock(&s->lock);
  return 0;
}

/* Hands the filled buffer over as chunk next_chunk. Called with wlock. */
static int
emit(BfcItem *it, uint32_t total)
{
  BfcSession *s = it->sess;
  BfcChunk *c = g_new0(BfcChunk, 1);

  c->item = bfc_item_ref(it);
  c->id = it->next_chunk;
  c->total = total;
  c->len = it->fill;
  c->data = it->buf;
  bf_digest_update(it->digest, c->data, c->len);
  c->crc = bf_crc32c(c->data, c->len);
  it->buf = pool_get(s);
  it->fill = 0;
  it->next_chunk++;
  return submit(s, c);
}

static int
put(BfcItem *it, const uint8_t *data, size_t len, uint64_t off)
{
  uint32_t cs = it->sess->cfg.chunk_size;

  while (len > 0) {
    uint64_t start = (uint64_t)it->next_chunk * cs;
    uint64_t pos = off - start;
    int rc;

    if (it->buf == NULL)
      it->buf = pool_get(it->sess);
    if (pos >= cs) {
      /* A hole reaching past this chunk: the rest of it is zeros. */
      memset(it->buf + it->fill, 0, cs - it->fill);
      it->fill = cs;
      if ((rc = emit(it, 0)) < 0)
        return rc;
      continue;
    }
    if (pos > it->fill)
      memset(it->buf + it->fill, 0, pos - it->fill);
    size_t n = MIN(len, (size_t)(cs - pos));
    if (data != NULL) {
      memcpy(it->buf + pos, data, n);
      data += n;
    } else {
      memset(it->buf + pos, 0, n);
    }
    it->fill = MAX(it->fill, (uint32_t)(pos + n));
    off += n;
    len -= n;
    if (it->fill == cs && (rc = emit(it, 0)) < 0)
      return rc;
  }
  return 0;
}

/* A descriptor of this file was closed, which sealed and delivered it, and
 * another descriptor (a dup, a forked child) writes on: `cmd > f` in a
 * shell closes one descriptor before the command writes. While everything
 * delivered is still in the chunk buffer, a new version of the item is
 * opened and will carry it again; past one chunk the sent bytes are gone.
 * Called with wlock held. */
static int
reopen(BfcItem *it)
{
  if (it->cancelled)
    return -EIO;
  if (it->next_chunk > 0) {
    g_warning("%s: written again after a close(2) delivered it; this works "
              "only for files below chunk_size (open it again with O_TRUNC)",
              it->name);
    return -EIO;
  }
  bf_digest_free(it->digest);
  it->digest = bf_digest_new(BF_DIGEST_SHA256);
  it->closed = FALSE;
  announce(it);
  return 0;
}

int
bfc_item_write(BfcItem *it, const void *data, size_t len, uint64_t off)
{
  uint64_t sent;
  int rc;

  g_mutex_lock(&it->wlock);
  sent = (uint64_t)it->next_chunk * it->sess->cfg.chunk_size;
  if (it->closed && (rc = reopen(it)) < 0) {
    /* nothing written */
  } else if (off < sent) {
    g_warning("%s: write at offset %" G_GUINT64_FORMAT " after bytes up to %"
              G_GUINT64_FORMAT " already left: the outbox takes forward writes "
              "only", it->name, off, sent);
    rc = -EIO;
  } else {
    rc = put(it, data, len, off);
    if (rc == 0)
      it->size = MAX(it->size, off + len);
  }
  g_mutex_unlock(&it->wlock);
  return rc;
}

int
bfc_item_truncate(BfcItem *it, uint64_t size)
{
  uint64_t start;
  int rc = 0;

  g_mutex_lock(&it->wlock);
  start = (uint64_t)it->next_chunk * it->sess->cfg.chunk_size;
  if (it->closed && (uint64_t)size == it->size) {
    /* nothing changes */
  } else if ((it->closed && (rc = reopen(it)) < 0) || size < start) {
    rc = rc < 0 ? rc : -EIO;
  } else {
    if (size < start + it->fill)
      it->fill = (uint32_t)(size - start);
    it->size = size;
  }
  g_mutex_unlock(&it->wlock);
  return rc;
}

uint64_t
bfc_item_size(BfcItem *it)
{
  uint64_t size;

  g_mutex_lock(&it->wlock);
  size = it->size;
  g_mutex_unlock(&it->wlock);
  return size;
}

/* Flushes the tail and sends ITEM_CLOSE. Called with wlock held. */
static int
finish_writing(BfcItem *it)
{
  BfcSession *s = it->sess;
  uint32_t cs = s->cfg.chunk_size;
  uint64_t written = (uint64_t)it->next_chunk * cs + it->fill;
  uint32_t total = (uint32_t)(it->size / cs + (it->size % cs != 0));
  BfMsg m = { .type = BF_FRAME_ITEM_CLOSE };
  g_autoptr(GError) error = NULL;
  int rc;

  g_autoptr(BfDigest) tail = NULL;

  /* A truncate may have extended the file past the last write. */
  if (it->size > written && (rc = put(it, NULL, it->size - written, written)) < 0)
    return rc;
  /* The partial last chunk leaves as a copy and the digest is finished on a
   * copy of its state, so that a write after this close can continue the
   * file (see reopen). */
  tail = bf_digest_copy(it->digest);
  if (it->fill > 0) {
    BfcChunk *c = g_new0(BfcChunk, 1);
    c->item = bfc_item_ref(it);
    c->id = it->next_chunk;
    c->total = total;
    c->len = it->fill;
    c->data = pool_get(s);
    memcpy(c->data, it->buf, it->fill);
    bf_digest_update(tail, c->data, c->len);
    c->crc = bf_crc32c(c->data, c->len);
    if ((rc = submit(s, c)) < 0)
      return rc;
  }
  m.u.item_close.item_id = it->id;
  m.u.item_close.total_chunks = total;
  m.u.item_close.size = it->size;
  m.u.item_close.digest_alg = bf_digest_alg(tail);
  bf_digest_final(tail, m.u.item_close.digest);
  m.u.item_close.mode = it->mode;
  m.u.item_close.mtime_sec = it->mtime.tv_sec;
  m.u.item_close.mtime_nsec = (uint32_t)it->mtime.tv_nsec;
  if (!bf_conn_send(s->paths[0].conn, &m, &error)) {
    g_mutex_lock(&s->lock);
    session_fail_locked(s, error->message);
    g_mutex_unlock(&s->lock);
    return -EIO;
  }
  return 0;
}

int
bfc_item_close(BfcItem *it)
{
  BfcSession *s = it->sess;
  gint64 deadline;
  int rc = 0;

  g_mutex_lock(&it->wlock);
  if (it->closed) {
    rc = it->cancelled ? -EIO : it->result;
    g_mutex_unlock(&it->wlock);
    return rc;
  }
  it->closed = TRUE;
  rc = finish_writing(it);
  /* wlock stays held: a write on another descriptor waits for the verdict
   * on this version before it may start the next one. */

  deadline = g_get_monotonic_time() + s->cfg.timeout_s * G_USEC_PER_SEC;
  g_mutex_lock(&s->lock);
  while (rc == 0 && it->state != BFC_ITEM_STORED && it->state != BFC_ITEM_FAILED) {
    if (s->dead) {
      item_fail_locked(it, BF_ST_IO, s->dead);
    } else if (!g_cond_wait_until(&s->cond, &s->lock, deadline)) {
      item_fail_locked(it, BF_ST_IO, "the server did not confirm storage "
                       "within the timeout");
    }
  }
  if (it->state == BFC_ITEM_FAILED) {
    g_warning("server %s did not store '%s': %s", s->server, it->name,
              it->error ? it->error : "unknown error");
    rc = -bfc_status_errno(it->status);
  } else if (rc < 0) {
    g_warning("server %s: '%s' not delivered: %s", s->server, it->name,
              g_strerror(-rc));
  }
  item_forget_locked(s, it);
  g_mutex_unlock(&s->lock);
  it->result = rc;
  g_mutex_unlock(&it->wlock);
  return rc;
}

void
bfc_item_cancel(BfcItem *it)
{
  BfcSession *s = it->sess;

  g_mutex_lock(&it->wlock);
  gboolean was_open = !it->closed;
  it->closed = it->cancelled = TRUE;
  g_mutex_unlock(&it->wlock);
  g_mutex_lock(&s->lock);
  item_fail_locked(it, BF_ST_IO, "cancelled");
  item_forget_locked(s, it);
  g_mutex_unlock(&s->lock);
  if (was_open) {
    BfMsg m = { .type = BF_FRAME_OP };
    m.u.op.op = BF_OP_CANCEL;
    m.u.op.item_id = it->id;
    bf_conn_send(s->paths[0].conn, &m, NULL);
  }
}

int
bfc_op(BfcSession *s, BfOpKind op, const char *name, const char *name2,
       uint32_t mode)
{
  BfOp o = { .op = op, .mode = mode & 07777 };

  o.name.data = (const uint8_t *)name;
  o.name.len = name ? (uint16_t)strlen(name) : 0;
  o.name2.data = (const uint8_t *)name2;
  o.name2.len = name2 ? (uint16_t)strlen(name2) : 0;
  return bfc_op_send(s, &o);
}

int
bfc_setattr(BfcSession *s, const char *name, uint8_t flags, uint32_t mode,
            const struct timespec *mtime)
{
  BfOp o = { .op = BF_OP_SETATTR, .flags = flags, .mode = mode & 07777 };

  if (mtime != NULL) {
    o.mtime_sec = mtime->tv_sec;
    o.mtime_nsec = (uint32_t)mtime->tv_nsec;
  }
  o.name.data = (const uint8_t *)name;
  o.name.len = (uint16_t)strlen(name);
  return bfc_op_send(s, &o);
}

static int
bfc_op_send(BfcSession *s, const BfOp *op)
{
  BfMsg m = { .type = BF_FRAME_OP };
  BfcOpWait w = { 0 };
  uint64_t id;
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time() + s->cfg.timeout_s * G_USEC_PER_SEC;
  int rc;

  g_mutex_lock(&s->lock);
  if (s->dead) {
    g_mutex_unlock(&s->lock);
    return -EIO;
  }
  id = ++s->next_op_id;
  g_hash_table_insert(s->ops, g_memdup2(&id, sizeof id), &w);
  g_mutex_unlock(&s->lock);

  m.u.op = *op;
  m.u.op.op_id = id;
  gboolean sent = bf_conn_send(s->paths[0].conn, &m, &error);

  g_mutex_lock(&s->lock);
  if (!sent)
    session_fail_locked(s, error->message);
  while (sent && !w.done && !s->dead)
    if (!g_cond_wait_until(&s->cond, &s->lock, deadline))
      break;
  g_hash_table_remove(s->ops, &id);
  rc = w.done ? -bfc_status_errno(w.status) : -EIO;
  if (w.done && w.status != BF_ST_OK && w.status != BF_ST_NOT_FOUND)
    g_warning("server %s: %s", s->server, w.message ? w.message : "operation failed");
  g_mutex_unlock(&s->lock);
  g_free(w.message);
  return rc;
}

/* ---- paths ---------------------------------------------------------- */

static void
path_fail(BfcPath *p, const char *why)
{
  BfcSession *s = p->sess;
  g_autofree char *msg = g_strdup_printf("path %u: %s", p->index, why);

  g_mutex_lock(&s->lock);
  p->load.alive = FALSE;
  session_fail_locked(s, msg);
  g_mutex_unlock(&s->lock);
  bf_conn_shutdown(p->conn);
}

static void
chunk_free_locked(BfcSession *s, BfcChunk *c)
{
  pool_put_locked(s, c->data);
  bfc_item_unref(c->item);
  g_free(c);
}

static gpointer
path_tx(gpointer data)
{
  BfcPath *p = data;
  BfcSession *s = p->sess;

  for (;;) {
    BfcChunk *c;
    BfMsg m = { .type = BF_FRAME_CHUNK };
    g_autoptr(GError) error = NULL;

    g_mutex_lock(&s->lock);
    while (g_queue_is_empty(&p->queue) && !s->stopping && !s->dead)
      g_cond_wait(&p->wake, &s->lock);
    if (s->stopping || s->dead) {
      g_mutex_unlock(&s->lock);
      break;
    }
    c = g_queue_pop_head(&p->queue);
    /* In flight before it is written: its ack may race the return of
     * sendmsg. */
    g_queue_push_tail(&p->inflight, c);
    g_mutex_unlock(&s->lock);

    m.u.chunk.item_id = c->item->id;
    m.u.chunk.chunk_id = c->id;
    m.u.chunk.total_chunks = c->total;
    m.u.chunk.crc32c = c->crc;
    m.u.chunk.payload = c->data;
    m.u.chunk.payload_len = c->len;
    if (!bf_conn_send(p->conn, &m, &error)) {
      path_fail(p, error->message);
      break;
    }
  }
  return NULL;
}

static gboolean
on_chunk_ack(BfcPath *p, const BfChunkAck *a)
{
  BfcSession *s = p->sess;
  gboolean found = FALSE;

  g_mutex_lock(&s->lock);
  for (GList *l = p->inflight.head; l != NULL; l = l->next) {
    BfcChunk *c = l->data;
    if (c->item->id == a->item_id && c->id == a->chunk_id) {
      g_queue_delete_link(&p->inflight, l);
      p->load.inflight--;
      p->load.inflight_bytes -= c->len;
      p->bytes_acked += c->len;
      p->chunks_acked++;
      chunk_free_locked(s, c);
      found = TRUE;
      break;
    }
  }
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
  return found;
}

static void
on_item_ack(BfcSession *s, const BfItemAck *a)
{
  g_autofree char *text = g_strndup((const char *)a->message.data, a->message.len);
  BfcItem *it;

  g_mutex_lock(&s->lock);
  it = g_hash_table_lookup(s->items, &a->item_id);
  if (it != NULL) {
    if (a->status != BF_ST_OK)
      item_fail_locked(it, a->status, text[0] ? text : bf_status_str(a->status));
    else if (a->stage == BF_ACK_OPENED && it->state == BFC_ITEM_OPENING)
      it->state = BFC_ITEM_OPEN;
    else if (a->stage == BF_ACK_STORED)
      it->state = BFC_ITEM_STORED;
  }
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
}

static void
on_op_ack(BfcSession *s, const BfOpAck *a)
{
  BfcOpWait *w;

  g_mutex_lock(&s->lock);
  w = g_hash_table_lookup(s->ops, &a->op_id);
  if (w != NULL) {
    w->done = TRUE;
    w->status = a->status;
    w->message = g_strndup((const char *)a->message.data, a->message.len);
  }
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
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

/* Rate samples come from acknowledged bytes over a whole tick: single
 * acknowledgements arrive in bursts and would read as absurd rates. A path
 * that was idle the whole tick keeps its estimate. Called with the lock. */
static void
sample_rate(BfcPath *p, double seconds, gboolean was_busy)
{
  uint64_t delta = p->bytes_acked - p->bytes_at_tick;

  p->bytes_at_tick = p->bytes_acked;
  if (!was_busy && delta == 0)
    return;
  double inst = delta / seconds;
  p->load.rate = p->load.rate > 0 ? 0.5 * p->load.rate + 0.5 * inst : inst;
}

/* Four times a second: samples each path's rate, and measures its round
 * trip with PING. */
static gpointer
ticker(gpointer data)
{
  BfcSession *s = data;
  gint64 last = g_get_monotonic_time();

  g_mutex_lock(&s->lock);
  while (!s->stopping) {
    gint64 now = g_get_monotonic_time();
    gint64 until = now + G_USEC_PER_SEC / 4;
    gboolean sample = now - last >= G_USEC_PER_SEC / 4;
    for (unsigned i = 0; i < s->cfg.n_paths; i++) {
      BfcPath *p = &s->paths[i];
      if (sample)
        sample_rate(p, (now - last) / (double)G_USEC_PER_SEC,
                    p->load.inflight > 0);
      /* One PING a second: RTT samples, and the keep-alive the server's
       * idle timeout expects. */
      if (!p->load.alive || p->ping_sent != 0 ||
          now - p->ping_done < G_USEC_PER_SEC)
        continue;
      BfMsg m = { .type = BF_FRAME_PING };
      p->ping_sent = g_get_monotonic_time();
      m.u.ping.opaque = (uint64_t)p->ping_sent;
      g_mutex_unlock(&s->lock);
      bf_conn_send(p->conn, &m, NULL);
      g_mutex_lock(&s->lock);
    }
    if (sample)
      last = now;
    while (!s->stopping && g_cond_wait_until(&s->tick, &s->lock, until))
      ;
  }
  g_mutex_unlock(&s->lock);
  return NULL;
}

char *
bfc_session_describe_paths(BfcSession *s)
{
  GString *out = g_string_new("# path address source state bytes chunks "
                              "in_flight rtt_ms rate_MBps\n");

  g_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    const BfcPathSpec *sp = &s->cfg.specs[i];
    g_autofree char *iface = sp->iface ? g_strconcat("%", sp->iface, NULL) : NULL;
    const char *src = sp->bind_addr ? sp->bind_addr : iface ? iface : "-";
    g_string_append_printf(out, "%u %s %s %s %" G_GUINT64_FORMAT " %"
                           G_GUINT64_FORMAT " %u %.3f %.1f\n", i, p->name,
                           src, p->load.alive ? "up" : "down", p->bytes_acked,
                           p->chunks_acked, p->load.inflight, p->rtt * 1000,
                           p->load.rate / 1e6);
  }
  g_mutex_unlock(&s->lock);
  return g_string_free(out, FALSE);
}

static gpointer
path_rx(gpointer data)
{
  BfcPath *p = data;
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  BfMsg m;

  while (bf_conn_recv(p->conn, &m, &error)) {
    switch (m.type) {
    case BF_FRAME_CHUNK_ACK:
      if (!on_chunk_ack(p, &m.u.chunk_ack))
        g_debug("path %u: ack for a chunk not in flight", p->index);
      break;
    case BF_FRAME_ITEM_ACK:
      on_item_ack(s, &m.u.item_ack);
      break;
    case BF_FRAME_OP_ACK:
      on_op_ack(s, &m.u.op_ack);
      break;
    case BF_FRAME_PING: {
      BfMsg pong = { .type = BF_FRAME_PONG, .u.ping = m.u.ping };
      bf_conn_send(p->conn, &pong, NULL);
      break;
    }
    case BF_FRAME_PONG:
      on_pong(p, &m.u.ping);
      break;
    case BF_FRAME_ERROR: {
      g_autofree char *why = g_strdup_printf("server error (%s): %.*s",
          bf_status_str(m.u.error.status), m.u.error.message.len,
          (const char *)m.u.error.message.data);
      path_fail(p, why);
      return NULL;
    }
    default: {
      g_autofree char *why = g_strdup_printf("unexpected %s frame from server",
                                             bf_frame_type_str(m.type));
      bf_conn_send_error(p->conn, BF_ST_PROTOCOL, why);
      path_fail(p, why);
      return NULL;
    }
    }
  }
  g_mutex_lock(&s->lock);
  gboolean stopping = s->stopping;
  g_mutex_unlock(&s->lock);
  if (!stopping)
    path_fail(p, error->message);
  return NULL;
}

static char *
append_hint(char *a, const char *b)
{
  char *r = g_strconcat(a, b, NULL);

  g_free(a);
  return r;
}

/* ---- handshake -------------------------------------------------------- */

static gboolean
handshake(BfcSession *s, BfConn *c, unsigned index, BfHelloKind kind,
          GError **error)
{
  BfMsg m = { .type = BF_FRAME_HELLO };
  BfHello *h = &m.u.hello;

  bf_conn_set_recv_timeout(c, s->cfg.timeout_s * 1000);
  h->kind = kind;
  h->path_index = (uint16_t)index;
  if (kind == BF_HELLO_NEW) {
    h->label.data = (const uint8_t *)s->cfg.label;
    h->label.len = s->cfg.label ? (uint16_t)strlen(s->cfg.label) : 0;
  } else {
    memcpy(h->session_id, s->id, BF_ID_LEN);
    memcpy(h->token, s->token, BF_ID_LEN);
  }
  if (!bf_conn_send_preface(c, error) || !bf_conn_send(c, &m, error))
    return FALSE;
  if (!bf_conn_recv_preface(c, NULL, error)) {
    g_prefix_error(error, "server %s is not a braidfs server: ", s->server);
    return FALSE;
  }
  if (!bf_conn_recv(c, &m, error))
    return FALSE;
  if (m.type == BF_FRAME_ERROR) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s refused the handshake (%s): %.*s", s->server,
                bf_status_str(m.u.error.status), m.u.error.message.len,
                (const char *)m.u.error.message.data);
    return FALSE;
  }
  if (m.type != BF_FRAME_WELCOME) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s answered the handshake with %s", s->server,
                bf_frame_type_str(m.type));
    return FALSE;
  }
  if (m.u.welcome.status != BF_ST_OK) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s refused the session (%s): %.*s", s->server,
                bf_status_str(m.u.welcome.status), m.u.welcome.message.len,
                (const char *)m.u.welcome.message.data);
    return FALSE;
  }
  if (kind == BF_HELLO_NEW) {
    memcpy(s->id, m.u.welcome.session_id, BF_ID_LEN);
    memcpy(s->token, m.u.welcome.token, BF_ID_LEN);
  }
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
     GError **error)
{
  BfSource src = { spec->bind_addr, spec->iface };
  int fd = bf_tcp_connect(spec->host, spec->port, &src,
                          s->cfg.timeout_s * 1000, error);
  BfConn *c;

  if (fd < 0) {
    if (kind == BF_HELLO_NEW)
      (*error)->message = append_hint((*error)->message,
                                      " (is braidfsd running there?)");
    else
      g_prefix_error(error, "path %u: ", index);
    return NULL;
  }
  c = bf_conn_new(fd);
  if (!handshake(s, c, index, kind, error)) {
    bf_conn_free(c);
    return NULL;
  }
  return c;
}

BfcSession *
bfc_session_connect(const BfcConfig *cfg, GError **error)
{
  BfcSession *s = g_new0(BfcSession, 1);
  BfcPathSpec home = { cfg->host, cfg->port, NULL, NULL };

  s->cfg = *cfg;
  s->cfg.host = g_strdup(cfg->host);
  s->cfg.label = g_strdup(cfg->label);
  s->cfg.specs = g_new0(BfcPathSpec, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    s->cfg.specs[i].host = g_strdup(cfg->specs[i].host);
    s->cfg.specs[i].port = cfg->specs[i].port;
    s->cfg.specs[i].bind_addr = g_strdup(cfg->specs[i].bind_addr);
    s->cfg.specs[i].iface = g_strdup(cfg->specs[i].iface);
  }
  s->server = bf_format_hostport(cfg->host, cfg->port);
  g_mutex_init(&s->ctl_lock);
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  g_cond_init(&s->tick);
  s->items = g_hash_table_new(g_int64_hash, g_int64_equal);
  s->ops = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  s->pool = g_ptr_array_new_with_free_func(g_free);
  s->paths = g_new0(BfcPath, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    BfcPath *p = &s->paths[i];
    p->sess = s;
    p->index = i;
    p->name = bf_format_hostport(cfg->specs[i].host, cfg->specs[i].port);
    g_cond_init(&p->wake);
    g_queue_init(&p->queue);
    g_queue_init(&p->inflight);
  }

  /* With explicit paths the session is created at HOST:PORT and every
   * listed path attaches to it, so the paths are exactly the list. */
  if (cfg->explicit_paths) {
    BfConn *c = dial(s, &home, 0, BF_HELLO_NEW, error);
    if (c == NULL)
      goto fail;
    bf_conn_free(c);
  }
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    BfHelloKind kind = (i == 0 && !cfg->explicit_paths) ? BF_HELLO_NEW
                                                        : BF_HELLO_ATTACH;
    s->paths[i].conn = dial(s, &s->cfg.specs[i], i, kind, error);
    if (s->paths[i].conn == NULL)
      goto fail;
    s->paths[i].load.alive = TRUE;
  }
  {
    g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
    g_message("session %.8s with %s: %u paths", id, s->server, cfg->n_paths);
  }
  return s;
fail:
  bfc_session_stop(s);
  return NULL;
}

void
bfc_session_start(BfcSession *s)
{
  s->ticker = g_thread_new("ticker", ticker, s);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    p->tx = g_thread_new("path-tx", path_tx, p);
    p->rx = g_thread_new("path-rx", path_rx, p);
  }
}

static void
drain_queue_locked(BfcSession *s, GQueue *q)
{
  BfcChunk *c;

  while ((c = g_queue_pop_head(q)) != NULL)
    chunk_free_locked(s, c);
}

void
bfc_session_stop(BfcSession *s)
{
  g_mutex_lock(&s->lock);
  s->stopping = TRUE;
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    g_cond_broadcast(&s->paths[i].wake);
  g_cond_broadcast(&s->cond);
  g_cond_broadcast(&s->tick);
  g_mutex_unlock(&s->lock);
  if (s->ticker)
    g_thread_join(s->ticker);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    if (p->conn != NULL)
      bf_conn_shutdown(p->conn);
    if (p->tx)
      g_thread_join(p->tx);
    if (p->rx)
      g_thread_join(p->rx);
  }
  g_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    drain_queue_locked(s, &s->paths[i].queue);
    drain_queue_locked(s, &s->paths[i].inflight);
  }
  g_mutex_unlock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    bf_conn_free(s->paths[i].conn);
    g_free(s->paths[i].name);
    g_cond_clear(&s->paths[i].wake);
    bfc_path_spec_clear(&s->cfg.specs[i]);
  }
  g_free(s->cfg.specs);
  GHashTableIter iter;
  gpointer v;
  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    bfc_item_unref(v);
  g_hash_table_unref(s->items);
  g_hash_table_unref(s->ops);
  g_ptr_array_unref(s->pool);
  g_free(s->paths);
  g_free(s->server);
  g_free(s->dead);
  g_free(s->cfg.host);
  g_free(s->cfg.label);
  g_cond_clear(&s->cond);
  g_cond_clear(&s->tick);
  g_mutex_clear(&s->lock);
  g_mutex_clear(&s->ctl_lock);
  g_free(s);
}

const BfcConfig *
bfc_session_config(BfcSession *s)
{
  return &s->cfg;
}

char *
bfc_session_server(BfcSession *s)
{
  return g_strdup(s->server);
}
