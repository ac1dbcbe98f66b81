/* The client side of a session: the items written into the outbox, and
 * the directory operations, on top of the paths (paths.c).
 *
 * How chunks on many connections become one item: the writer fills one
 * chunk buffer per item, in file order, and hashes it as it leaves, so the
 * digest is computed once and in order. The scheduler then hands the chunk
 * to a path whose window of unacknowledged chunks has room; the path's
 * sender thread writes it, and its receiver frees it when the server
 * acknowledges it. Order across paths does not matter: every chunk carries
 * its index, and the server writes it at index*chunk_size. Control frames
 * (ITEM_OPEN, ITEM_CLOSE, OP) go on one control path, so the server sees an
 * item opened before anything that refers to it by name; until the
 * server's OPENED answer arrives an item's chunks may only follow its
 * ITEM_OPEN on that path. Memory is bounded by paths x window chunks in
 * flight plus one chunk per open file.
 *
 * Nothing here fails because a path does: a lost path's chunks are sent
 * again on the others, and every control frame still unanswered is sent
 * again on the next control path (the server answers repeats the same
 * way). Only when every path has been down for the timeout do waiting
 * callers fail.
 *
 * One session lock guards the scheduling state, the queues and every
 * item's state; it is never held across network I/O. Control frames are
 * queued for the control path's sender (see paths.c), so that a thread
 * serving a FUSE request waits only on condition variables, each wait
 * bounded (BfcWait), and never on a socket. Lock order: the outbox's tree
 * lock, an item's wlock, then the session lock. */
#include "session.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "braidfs/parse.h"

static int bfc_op_send(BfcSession *s, const BfOp *op);
static void send_cancel(BfcSession *s, uint64_t item_id);
static void item_forget_locked(BfcSession *s, BfcItem *it);

/* A waiter that sees no answer this long sends its control frame again,
 * in case the answer was lost with a path the client did not see die. */
#define BFC_RESEND_US (5 * G_USEC_PER_SEC)

/* ---- buffers ----------------------------------------------------------- */

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
pool_get(BfcSession *s)
{
  uint8_t *buf = NULL;

  g_mutex_lock(&s->lock);
  if (s->pool->len > 0)
    buf = g_ptr_array_steal_index_fast(s->pool, s->pool->len - 1);
  g_mutex_unlock(&s->lock);
  return buf ? buf : g_malloc(pool_buf_size(s));
}

/* Keeps enough buffers to refill every window, so steady state touches no
 * fresh memory. Called with s->lock held. */
void
bfc_pool_put_locked(BfcSession *s, uint8_t *buf)
{
  if (buf == NULL)
    return;
  if (s->pool->len < s->cfg.n_paths * s->cfg.window + 4)
    g_ptr_array_add(s->pool, buf);
  else
    g_free(buf);
}

/* A coded chunk no longer counts in what the server may buffer. */
static void
coded_settle_locked(BfcSession *s, BfcCoded *cd)
{
  if (cd->link == NULL)
    return;
  g_queue_delete_link(&s->coded_open, cd->link);
  cd->link = NULL;
  s->partial_bytes -= cd->cost;
  g_cond_broadcast(&s->cond);
}

static void
coded_unref_locked(BfcSession *s, BfcCoded *cd)
{
  if (--cd->refs > 0)
    return;
  coded_settle_locked(s, cd);
  g_free(cd);
}

void
bfc_coded_done_locked(BfcSession *s, BfcCoded *cd)
{
  cd->done = TRUE;
  cd->refs++;   /* freeing the held shares must not free cd under us */
  coded_settle_locked(s, cd);
  for (unsigned i = 0; i < G_N_ELEMENTS(cd->held); i++)
    if (cd->held[i] != NULL)
      bfc_chunk_free_locked(s, g_steal_pointer(&cd->held[i]));
  coded_unref_locked(s, cd);
}

gboolean
bfc_share_fits(const BfcChunk *c, unsigned p)
{
  return c->coded == NULL || (c->coded->seen[p] & ~(1u << c->share)) == 0;
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
  bfc_pool_put_locked(s, c->data);
  bfc_item_unref(c->item);
  g_free(c);
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

void
bfc_session_fail_locked(BfcSession *s, const char *why)
{
  if (s->dead == NULL && !s->stopping) {
    s->dead = g_strdup(why);
    g_warning("server %s: %s", s->server, why);
  }
  g_cond_broadcast(&s->cond);
}

void
bfc_item_fail_locked(BfcItem *it, uint8_t status, const char *why)
{
  if (it->state == BFC_ITEM_FAILED || it->state == BFC_ITEM_STORED)
    return;
  it->state = BFC_ITEM_FAILED;
  it->status = status;
  it->error = g_strdup(why);
}

/* The status of an item that a wait gave up on. */
static uint8_t
wait_status(const BfcWait *w)
{
  return w->busy ? BF_ST_LIMIT : BF_ST_IO;
}

/* ---- items ---------------------------------------------------------- */

void
bfc_item_send_open_locked(BfcSession *s, BfcItem *it)
{
  BfMsg m = { .type = BF_FRAME_ITEM_OPEN, .u.item_open = it->open_msg };

  it->open_sent = bfc_ctl_queue_locked(s, &m);
  it->open_epoch = s->ctl_epoch;
  g_cond_broadcast(&s->cond);
}

/* Registers the item under a fresh id and queues its ITEM_OPEN. Called
 * with wlock held (or before the item is shared). */
static void
announce(BfcItem *it)
{
  BfcSession *s = it->sess;
  BfItemOpen *o = &it->open_msg;

  /* Ids must reach the server in increasing order: assign and queue under
   * one lock. */
  g_mutex_lock(&s->lock);
  it->replayed = it->replay_id != 0;
  it->id = it->replayed ? it->replay_id : ++s->next_item_id;
  it->replay_id = 0;
  if (it->note_id != NULL)
    it->note_id(it->note_data, it->id);
  it->state = BFC_ITEM_OPENING;
  it->open_sent = it->close_sent = it->resuming = FALSE;
  it->last_ack = 0;
  g_free(it->error);
  it->error = NULL;
  /* What the resync sends again, however the writer changes the item. */
  *o = (BfItemOpen){ .item_id = it->id, .chunk_size = s->cfg.chunk_size,
                     .mode = it->mode, .mtime_sec = it->mtime.tv_sec,
                     .mtime_nsec = (uint32_t)it->mtime.tv_nsec,
                     .coding = s->cfg.coding.kind, .coding_k = s->cfg.coding.k,
                     .coding_n = s->cfg.coding.n,
                     .digest_alg = bf_digest_alg(it->digest) };
  if (!s->cfg.hide_names) {   /* else it travels in the item's secret */
    o->name.data = (const uint8_t *)it->name;
    o->name.len = (uint16_t)strlen(it->name);
  }
  g_hash_table_insert(s->items, &it->id, bfc_item_ref(it));
  if (s->dead)
    bfc_item_fail_locked(it, BF_ST_IO, s->dead);
  else
    bfc_item_send_open_locked(s, it);
  g_mutex_unlock(&s->lock);
}

BfcItem *
bfc_item_new_spooled(BfcSession *s, const char *name, uint32_t mode,
                     uint64_t replay_id, void (*note_id)(void *data, uint64_t id),
                     void *data)
{
  BfcItem *it = g_new0(BfcItem, 1);

  it->refs = 1;
  it->sess = s;
  it->name = g_strdup(name);
  it->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &it->mtime);
  g_mutex_init(&it->wlock);
  it->digest = bf_digest_new(BF_DIGEST_SHA256);
  it->replay_id = replay_id;
  it->note_id = note_id;
  it->note_data = data;
  announce(it);
  return it;
}

BfcItem *
bfc_item_new(BfcSession *s, const char *name, uint32_t mode)
{
  return bfc_item_new_spooled(s, name, mode, 0, NULL, NULL);
}

int
bfc_item_await_open(BfcItem *it)
{
  BfcSession *s = it->sess;
  BfcWait w;
  int rc;

  bfc_wait_init(&w, "answered");
  g_mutex_lock(&s->lock);
  while (it->state == BFC_ITEM_OPENING) {
    g_autofree char *why = bfc_session_wait_locked(s, &w);
    if (why != NULL)
      bfc_item_fail_locked(it, wait_status(&w), why);
  }
  bfc_wait_done_locked(s, &w);
  rc = it->state == BFC_ITEM_OPEN ? 0 : it->state == BFC_ITEM_STORED ? 1
       : -bfc_status_errno(it->status);
  g_mutex_unlock(&s->lock);
  return rc;
}

void
bfc_item_discard(BfcItem *it)
{
  g_mutex_lock(&it->wlock);
  it->closed = TRUE;
  g_mutex_unlock(&it->wlock);
  g_mutex_lock(&it->sess->lock);
  item_forget_locked(it->sess, it);
  g_mutex_unlock(&it->sess->lock);
}

void
bfc_item_set_final_attrs(BfcItem *it, uint32_t mode, const struct timespec *mtime)
{
  g_mutex_lock(&it->wlock);
  it->mode = mode & 07777;
  it->mtime = *mtime;
  g_mutex_unlock(&it->wlock);
}

int
bfc_item_rename(BfcItem *it, const char *name)
{
  int rc = 1;

  /* A close in progress holds wlock until its verdict: a rename then waits
   * and renames the stored file. */
  g_mutex_lock(&it->wlock);
  if (!it->closed && !it->cancelled) {
    g_free(it->final_name);
    it->final_name = g_strdup(name);
    rc = 0;
  }
  g_mutex_unlock(&it->wlock);
  return rc;
}

/* The file was renamed while it was written: now that the server holds it
 * under the name it was opened with, it moves. Called with wlock. */
static int
apply_final_name(BfcItem *it)
{
  g_autofree char *to = g_steal_pointer(&it->final_name);
  int rc;

  if (to == NULL || strcmp(to, it->name) == 0)
    return 0;
  rc = bfc_op(it->sess, BF_OP_RENAME, it->name, to, 0);
  if (rc == 0) {
    g_free(it->name);
    it->name = g_steal_pointer(&to);
  }
  return rc;
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
  g_free(it->final_name);
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

/* The scheduler sees a path this chunk may not take as dead. */
static void
load_snapshot_locked(BfcSession *s, const BfcItem *it, BfPathLoad *loads)
{
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    loads[i] = s->paths[i].load;
    if (!bfc_chunk_allowed_locked(s, it, i))
      loads[i].alive = FALSE;
  }
}

/* Blocks until a path may take the chunk and has room, then queues it
 * there. Takes ownership of c. */
static int
submit(BfcSession *s, BfcChunk *c)
{
  BfPathLoad loads[BFC_MAX_PATHS];
  BfcItem *it = c->item;
  BfcWait w;
  int p = -1;

  bfc_wait_init(&w, "acknowledged a chunk");
  g_mutex_lock(&s->lock);
  for (;;) {
    if (s->dead) {
      bfc_item_fail_locked(it, BF_ST_IO, s->dead);
      break;
    }
    if (it->state == BFC_ITEM_FAILED)
      break;
    load_snapshot_locked(s, it, loads);
    p = bf_sched_pick(s->cfg.sched, loads, s->cfg.n_paths, s->cfg.window,
                      c->id, c->len);
    if (p >= 0)
      break;
    /* A window frees as the server acknowledges chunks. */
    w.progress = MAX(w.progress, s->last_chunk_ack);
    g_autofree char *why = bfc_session_wait_locked(s, &w);
    if (why != NULL) {
      bfc_item_fail_locked(it, wait_status(&w), why);
      break;
    }
  }
  bfc_wait_done_locked(s, &w);
  if (p < 0) {
    int err = bfc_status_errno(it->status);
    bfc_chunk_free_locked(s, c);
    g_mutex_unlock(&s->lock);
    return -(err ? err : EIO);
  }
  bfc_path_queue_locked(&s->paths[p], c);
  g_mutex_unlock(&s->lock);
  return 0;
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

/* Tries to place the shares on distinct paths with room: TRUE once at
 * least k of them are queued (the others wait in the resend queue for a
 * path that carries no share of this chunk). Lock held. */
static gboolean
place_shares_locked(BfcSession *s, BfcItem *it, BfcChunk **sh, unsigned n)
{
  BfPathLoad loads[BFC_MAX_PATHS];
  int pick[BF_CODING_N_MAX];
  unsigned got = 0, k = s->cfg.coding.k;
  BfcCoded *cd = sh[0]->coded;

  if (!g_queue_is_empty(&s->coded_open) &&
      (g_queue_get_length(&s->coded_open) >= BF_CODING_PARTIAL_CHUNKS ||
       s->partial_bytes + cd->cost > BF_CODING_PARTIAL_BYTES))
    return FALSE;   /* the server's buffer of partial chunks is full */
  load_snapshot_locked(s, it, loads);
  while (got < n) {
    int p = bf_sched_pick(s->cfg.sched, loads, s->cfg.n_paths, s->cfg.window,
                          sh[0]->id + got, sh[0]->len);
    if (p < 0)
      break;
    pick[got++] = p;
    loads[p].alive = FALSE;   /* one share per path */
  }
  if (got < k)
    return FALSE;
  for (unsigned i = 0; i < n; i++) {
    if (i < got) {
      cd->seen[pick[i]] |= 1u << sh[i]->share;
      bfc_path_queue_locked(&s->paths[pick[i]], sh[i]);
    } else {
      g_queue_push_tail(&s->resend, sh[i]);
    }
  }
  g_queue_push_tail(&s->coded_open, cd);
  cd->link = s->coded_open.tail;
  s->partial_bytes += cd->cost;
  return TRUE;
}

/* Cuts a chunk into shares (coding shamir or rs) and queues them. */
static int
submit_coded(BfcSession *s, BfcItem *it, uint32_t id, uint32_t total,
             const uint8_t *data, uint32_t len)
{
  const BfCodingSpec *spec = &s->cfg.coding;
  uint32_t slen = (uint32_t)bf_coding_share_len(spec, len);
  uint8_t *bufs[BF_CODING_N_MAX];
  BfcChunk *sh[BF_CODING_N_MAX];
  BfcCoded *cd = g_new0(BfcCoded, 1);
  gboolean placed = FALSE;
  BfcWait w;

  for (unsigned i = 0; i < spec->n; i++)
    bufs[i] = pool_get(s);
  bf_coder_encode(thread_coder(s), data, len, bufs);
  cd->k = spec->k;
  cd->refs = spec->n;
  cd->cost = (uint64_t)(spec->k - 1) * slen;
  for (unsigned i = 0; i < spec->n; i++) {
    BfcChunk *c = sh[i] = g_new0(BfcChunk, 1);
    c->item = bfc_item_ref(it);
    c->id = id;
    c->total = total;
    c->len = slen;
    c->pad = bf_coding_pad(spec, len);
    c->share = (uint8_t)i;
    c->data = bufs[i];
    c->crc = bf_crc32c(c->data, slen);
    c->coded = cd;
  }
  bfc_wait_init(&w, "acknowledged a chunk");
  g_mutex_lock(&s->lock);
  for (;;) {
    if (s->dead) {
      bfc_item_fail_locked(it, BF_ST_IO, s->dead);
      break;
    }
    if (it->state == BFC_ITEM_FAILED)
      break;
    if ((placed = place_shares_locked(s, it, sh, spec->n)))
      break;
    w.progress = MAX(w.progress, s->last_chunk_ack);
    g_autofree char *why = bfc_session_wait_locked(s, &w);
    if (why != NULL) {
      bfc_item_fail_locked(it, wait_status(&w), why);
      break;
    }
  }
  bfc_wait_done_locked(s, &w);
  if (!placed) {
    int err = bfc_status_errno(it->status);
    for (unsigned i = 0; i < spec->n; i++)
      bfc_chunk_free_locked(s, sh[i]);
    g_mutex_unlock(&s->lock);
    return -(err ? err : EIO);
  }
  g_mutex_unlock(&s->lock);
  return 0;
}

/* Sends chunk id of the item: data is taken over (a pool buffer) when the
 * chunk travels as it is, copied into shares when it is coded. */
static int
submit_data(BfcItem *it, uint32_t id, uint32_t total, uint8_t *data,
            uint32_t len)
{
  BfcSession *s = it->sess;
  BfcChunk *c;

  if (s->cfg.coding.kind != BF_CODING_STRIPE) {
    int rc = submit_coded(s, it, id, total, data, len);
    g_mutex_lock(&s->lock);
    bfc_pool_put_locked(s, data);
    g_mutex_unlock(&s->lock);
    return rc;
  }
  c = g_new0(BfcChunk, 1);
  c->item = bfc_item_ref(it);
  c->id = id;
  c->total = total;
  c->len = len;
  c->data = data;
  c->crc = bf_crc32c(c->data, c->len);
  return submit(s, c);
}

/* Hands the filled buffer over as chunk next_chunk. Called with wlock. */
static int
emit(BfcItem *it, uint32_t total)
{
  uint8_t *data = it->buf;
  uint32_t len = it->fill;

  bf_digest_update(it->digest, data, len);
  it->buf = pool_get(it->sess);
  it->fill = 0;
  return submit_data(it, it->next_chunk++, total, data, len);
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
  return it->size;
}

/* Once the server has OPENED the item, its ITEM_CLOSE needs no ordering
 * and takes the path with the shortest queue: behind a slow link's backlog
 * it would hold up the item's completion. Lock held. */
static void
send_close_locked(BfcSession *s, BfcItem *it)
{
  BfMsg m = { .type = BF_FRAME_ITEM_CLOSE, .u.item_close = it->close_msg };

  if (it->state != BFC_ITEM_OPEN || !bfc_queue_soonest_locked(s, &m))
    bfc_ctl_queue_locked(s, &m);
}

/* Under shamir the item's digest, and with hide_names its name, leave only
 * as the shares of its secret (BfSecret), on distinct paths like a chunk's
 * shares, so that no path carries anything that confirms a guess of the
 * content. The key is fresh for every item. Called with wlock held. */
static int
submit_secret(BfcItem *it, const uint8_t digest[BF_DIGEST_LEN])
{
  BfcSession *s = it->sess;
  g_autoptr(GByteArray) buf = g_byte_array_sized_new(BF_SECRET_MAX);
  BfSecret sec = { .name = { NULL, 0 } };
  int rc;

  memcpy(sec.digest, digest, BF_DIGEST_LEN);
  randombytes_buf(sec.key, sizeof sec.key);
  if (s->cfg.hide_names) {
    sec.name.data = (const uint8_t *)it->name;
    sec.name.len = (uint16_t)strlen(it->name);
  }
  /* a FUSE path is shorter than PATH_MAX: only a bug makes it too long */
  rc = bf_secret_encode(&sec, buf)
           ? submit_coded(s, it, BF_SECRET_CHUNK, 0, buf->data, buf->len)
           : -ENAMETOOLONG;
  sodium_memzero(buf->data, buf->len);
  sodium_memzero(&sec, sizeof sec);
  return rc;
}

/* Flushes the tail and sends ITEM_CLOSE. Called with wlock held. */
static int
finish_writing(BfcItem *it)
{
  BfcSession *s = it->sess;
  uint32_t cs = s->cfg.chunk_size;
  uint64_t written = (uint64_t)it->next_chunk * cs + it->fill;
  uint32_t total = (uint32_t)(it->size / cs + (it->size % cs != 0));
  BfItemClose cm = { 0 };
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
    uint8_t *copy = pool_get(s);
    memcpy(copy, it->buf, it->fill);
    bf_digest_update(tail, copy, it->fill);
    if ((rc = submit_data(it, it->next_chunk, total, copy, it->fill)) < 0)
      return rc;
  }
  cm.item_id = it->id;
  cm.total_chunks = total;
  cm.size = it->size;
  cm.digest_alg = bf_digest_alg(tail);
  bf_digest_final(tail, cm.digest);
  if (s->cfg.coding.kind == BF_CODING_SHAMIR) {
    rc = submit_secret(it, cm.digest);
    sodium_memzero(cm.digest, sizeof cm.digest);   /* zero on the wire */
    if (rc < 0)
      return rc;
  }
  cm.mode = it->mode;
  cm.mtime_sec = it->mtime.tv_sec;
  cm.mtime_nsec = (uint32_t)it->mtime.tv_nsec;
  /* Recorded as it is queued: a resync that follows a lost control path
   * sends it again. */
  g_mutex_lock(&s->lock);
  it->close_msg = cm;
  it->close_sent = TRUE;
  send_close_locked(s, it);
  g_mutex_unlock(&s->lock);
  return 0;
}

/* Waits for the server's verdict on a closed item, sending its ITEM_CLOSE
 * again now and then. Its chunks still arriving is progress; once the last
 * is acknowledged the server has timeout seconds to answer. Called with
 * s->lock held. */
static void
await_stored_locked(BfcSession *s, BfcItem *it)
{
  gint64 resend = g_get_monotonic_time() + BFC_RESEND_US;
  BfcWait w;

  bfc_wait_init(&w, "stored the file");
  while (it->state != BFC_ITEM_STORED && it->state != BFC_ITEM_FAILED) {
    w.progress = MAX(w.progress, it->last_ack);
    g_autofree char *why = bfc_session_wait_locked(s, &w);
    if (why != NULL) {
      bfc_item_fail_locked(it, wait_status(&w), why);
    } else if (g_get_monotonic_time() >= resend) {
      send_close_locked(s, it);
      resend = g_get_monotonic_time() + BFC_RESEND_US;
    }
  }
  bfc_wait_done_locked(s, &w);
}

int
bfc_item_close(BfcItem *it)
{
  BfcSession *s = it->sess;
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

  g_mutex_lock(&s->lock);
  if (rc == 0)
    await_stored_locked(s, it);
  /* Given up on our side: the server may still hold the partial item. */
  gboolean abandon = it->state == BFC_ITEM_FAILED &&
                     (it->status == BF_ST_IO || it->status == BF_ST_LIMIT);
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
  if (abandon)
    send_cancel(s, it->id);
  if (rc == 0)
    rc = apply_final_name(it);
  it->result = rc;
  g_mutex_unlock(&it->wlock);
  return rc;
}

static void
send_cancel(BfcSession *s, uint64_t item_id)
{
  BfMsg m = { .type = BF_FRAME_OP };

  m.u.op.op = BF_OP_CANCEL;
  m.u.op.item_id = item_id;
  g_mutex_lock(&s->lock);
  bfc_ctl_queue_locked(s, &m);
  g_mutex_unlock(&s->lock);
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
  bfc_item_fail_locked(it, BF_ST_IO, "cancelled");
  item_forget_locked(s, it);
  g_mutex_unlock(&s->lock);
  if (was_open)
    send_cancel(s, it->id);
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

/* Queues the op for the control path. Lock held. */
static void
send_op_locked(BfcSession *s, const BfcOpWait *ow)
{
  BfMsg m = { .type = BF_FRAME_OP, .u.op = ow->op };

  bfc_ctl_queue_locked(s, &m);
}

static int
bfc_op_send(BfcSession *s, const BfOp *op)
{
  BfcOpWait ow = { .op = *op };
  gint64 resend = g_get_monotonic_time() + BFC_RESEND_US;
  g_autofree char *why = NULL;
  BfcWait w;
  uint64_t id;
  int rc;

  bfc_wait_init(&w, "answered");
  g_mutex_lock(&s->lock);
  if (s->dead) {
    g_mutex_unlock(&s->lock);
    return -EIO;
  }
  id = ow.op.op_id = ++s->next_op_id;
  g_hash_table_insert(s->ops, g_memdup2(&id, sizeof id), &ow);
  send_op_locked(s, &ow);
  /* The server runs each op id once and answers repeats from memory. */
  while (!ow.done && (why = bfc_session_wait_locked(s, &w)) == NULL) {
    if (g_get_monotonic_time() < resend)
      continue;
    send_op_locked(s, &ow);
    resend = g_get_monotonic_time() + BFC_RESEND_US;
  }
  bfc_wait_done_locked(s, &w);
  /* Out of the table, nobody else reads ow (see BfcOpWait). */
  g_hash_table_remove(s->ops, &id);
  rc = ow.done ? -bfc_status_errno(ow.status) : w.busy ? -EAGAIN : -EIO;
  if (ow.done && ow.status != BF_ST_OK && ow.status != BF_ST_NOT_FOUND)
    g_warning("server %s: %s", s->server, ow.message ? ow.message : "operation failed");
  else if (!ow.done)
    g_warning("server %s: operation on '%.*s' not done: %s", s->server,
              op->name.len, (const char *)op->name.data, why);
  g_mutex_unlock(&s->lock);
  g_free(ow.message);
  return rc;
}

void
bfc_on_item_ack(BfcSession *s, const BfItemAck *a)
{
  g_autofree char *text = g_strndup((const char *)a->message.data, a->message.len);
  BfcItem *it;

  g_mutex_lock(&s->lock);
  it = g_hash_table_lookup(s->items, &a->item_id);
  if (it != NULL) {
    if (a->status != BF_ST_OK && it->resuming && a->stage == BF_ACK_OPENED)
      bfc_item_fail_locked(it, BF_ST_IO, "the server restarted and did not "
                           "keep this file: copy it again");
    else if (a->status != BF_ST_OK)
      bfc_item_fail_locked(it, a->status,
                           text[0] ? text : bf_status_str(a->status));
    else if (a->stage == BF_ACK_OPENED && it->state == BFC_ITEM_OPENING)
      it->state = BFC_ITEM_OPEN;
    else if (a->stage == BF_ACK_STORED && (it->close_sent || it->replayed))
      it->state = BFC_ITEM_STORED;
  }
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
}

void
bfc_on_op_ack(BfcSession *s, const BfOpAck *a)
{
  BfcOpWait *w;

  g_mutex_lock(&s->lock);
  w = g_hash_table_lookup(s->ops, &a->op_id);
  if (w != NULL && !w->done) {
    w->done = TRUE;
    w->status = a->status;
    w->message = g_strndup((const char *)a->message.data, a->message.len);
  }
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
}

BfcSession *
bfc_session_connect(const BfcConfig *cfg, GError **error)
{
  BfcSession *s = g_new0(BfcSession, 1);

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
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  g_cond_init(&s->tick);
  s->ctl = -1;
  g_queue_init(&s->resend);
  s->items = g_hash_table_new(g_int64_hash, g_int64_equal);
  s->ops = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  s->pool = g_ptr_array_new_with_free_func(g_free);
  s->paths = g_new0(BfcPath, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    BfcPath *p = &s->paths[i];
    p->sess = s;
    p->index = i;
    p->name = bf_format_hostport(cfg->specs[i].host, cfg->specs[i].port);
    p->state = BFC_PATH_CONNECTING;
    g_cond_init(&p->wake);
    g_queue_init(&p->frames);
    g_queue_init(&p->queue);
    g_queue_init(&p->inflight);
  }
  if (!bfc_paths_connect(s, error)) {
    bfc_session_stop(s);
    return NULL;
  }
  {
    g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
    g_message("session %.8s with %s: %u paths", id, s->server, cfg->n_paths);
  }
  return s;
}

void
bfc_session_start(BfcSession *s)
{
  bfc_paths_start(s);
}

void
bfc_session_stop(BfcSession *s)
{
  GHashTableIter iter;
  gpointer v;

  bfc_paths_stop(s);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    g_free(s->paths[i].name);
    g_free(s->paths[i].why_down);
    g_cond_clear(&s->paths[i].wake);
    bfc_path_spec_clear(&s->cfg.specs[i]);
  }
  g_free(s->cfg.specs);
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
  g_free(s);
}

void
bfc_session_abort(BfcSession *s)
{
  g_mutex_lock(&s->lock);
  s->stopping = TRUE;
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
}

void
bfc_session_set_id_floor(BfcSession *s, uint64_t floor)
{
  g_mutex_lock(&s->lock);
  s->next_item_id = MAX(s->next_item_id, floor);
  s->next_op_id = MAX(s->next_op_id, floor);
  g_mutex_unlock(&s->lock);
}

void
bfc_session_ids(BfcSession *s, uint8_t id[BF_ID_LEN], uint8_t token[BF_ID_LEN])
{
  memcpy(id, s->id, BF_ID_LEN);
  memcpy(token, s->token, BF_ID_LEN);
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
