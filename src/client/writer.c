/* An item's bytes into chunks on the paths, and its close (writer.h). */
#include "writer.h"

#include <sodium.h>
#include <string.h>

#include "chunk.h"
#include "ops.h"
#include "place.h"
#include "wait.h"

/* A waiter that sees no answer this long sends its control frame again,
 * in case the answer was lost with a path the client did not see die. */
#define BFC_RESEND_US (5 * G_USEC_PER_SEC)

/* Waits until the chunk (or the shares of a coded chunk, n > 1) can be
 * placed, and places it. Takes ownership of the chunks: on failure they
 * are freed and error says why the item failed. */
static gboolean
submit(BfcSession *s, BfcItem *it, BfcChunk **sh, unsigned n, GError **error)
  BF_EXCLUDES(&s->lock)
{
  g_autoptr(GError) err = NULL;
  gboolean placed = FALSE;
  BfcWait w;

  bfc_wait_init(&w, "acknowledged a chunk");
  bf_mutex_lock(&s->lock);
  for (;;) {
    if (s->dead) {
      bfc_item_fail_locked(s, it, BF_ST_IO, s->dead);
      break;
    }
    if (it->state == BFC_ITEM_FAILED)
      break;
    placed = sh[0]->coded != NULL ? bfc_place_shares_locked(s, sh, n)
                                  : bfc_place_chunk_locked(s, sh[0]);
    if (placed)
      break;
    /* A window frees as the server acknowledges chunks. */
    w.progress = MAX(w.progress, s->last_chunk_ack);
    if (!bfc_wait_locked(s, &w, &err)) {
      bfc_item_fail_locked(s, it, (uint8_t)err->code, err->message);
      break;
    }
  }
  bfc_wait_done_locked(s, &w);
  if (!placed) {
    for (unsigned i = 0; i < n; i++)
      bfc_chunk_free_locked(s, sh[i]);
    bfc_item_error_locked(s, it, error);
  }
  bf_mutex_unlock(&s->lock);
  return placed;
}

/* Sends chunk id of the item: data is taken over (a pool buffer) when the
 * chunk travels as it is, copied into shares when it is coded. */
static gboolean
submit_data(BfcItem *it, uint32_t id, uint32_t total, uint8_t *data,
            uint32_t len, GError **error) BF_REQUIRES(&it->wlock)
{
  BfcSession *s = it->sess;
  BfcChunk *sh[BF_CODING_N_MAX];

  if (s->cfg.coding.kind == BF_CODING_STRIPE) {
    sh[0] = bfc_chunk_new(it, id, total, data, len);
    return submit(s, it, sh, 1, error);
  }
  bfc_coded_split(s, it, id, total, data, len, sh);
  bfc_pool_put(s, data);
  return submit(s, it, sh, s->cfg.coding.n, error);
}

/* Hands the filled buffer over as chunk next_chunk. */
static gboolean
emit(BfcItem *it, uint32_t total, GError **error) BF_REQUIRES(&it->wlock)
{
  uint8_t *data = it->buf;
  uint32_t len = it->fill;

  bf_digest_update(it->digest, data, len);
  it->buf = bfc_pool_get(it->sess);
  it->fill = 0;
  return submit_data(it, it->next_chunk++, total, data, len, error);
}

static gboolean
put(BfcItem *it, const uint8_t *data, size_t len, uint64_t off, GError **error)
  BF_REQUIRES(&it->wlock)
{
  uint32_t cs = it->sess->cfg.chunk_size;

  while (len > 0) {
    uint64_t start = (uint64_t)it->next_chunk * cs;
    uint64_t pos = off - start;

    if (it->buf == NULL)
      it->buf = bfc_pool_get(it->sess);
    if (pos >= cs) {
      /* A hole reaching past this chunk: the rest of it is zeros. */
      memset(it->buf + it->fill, 0, cs - it->fill);
      it->fill = cs;
      if (!emit(it, 0, error))
        return FALSE;
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
    if (it->fill == cs && !emit(it, 0, error))
      return FALSE;
  }
  return TRUE;
}

/* A descriptor of this file was closed, which sealed and delivered it, and
 * another descriptor (a dup, a forked child) writes on: `cmd > f` in a
 * shell closes one descriptor before the command writes. While everything
 * delivered is still in the chunk buffer, a new version of the item is
 * opened and will carry it again; past one chunk the sent bytes are gone. */
static gboolean
reopen(BfcItem *it, GError **error) BF_REQUIRES(&it->wlock)
{
  if (it->cancelled) {
    bfc_set_status_error(error, BF_ST_IO, "'%s' was removed while written",
                         it->name);
    return FALSE;
  }
  if (it->next_chunk > 0) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(it->sess, NULL, it->name),
           "%s: written again after a close(2) delivered it; this works "
           "only for files below chunk_size (open it again with O_TRUNC)",
           it->name);
    bfc_set_status_error(error, BF_ST_IO, "'%s' was delivered already",
                         it->name);
    return FALSE;
  }
  uint8_t alg = bf_digest_alg(it->digest);
  bf_digest_free(it->digest);
  it->digest = it->base_state != NULL ? bf_digest_copy(it->base_state)
                                      : bf_digest_new(alg);
  g_atomic_int_set(&it->closed, FALSE);
  bfc_item_announce(it);
  return TRUE;
}

/* An append's offsets count from its base (fixed at creation). */
static gboolean
after_base(BfcItem *it, uint64_t *off, GError **error)
{
  return bfc_offset_after_base(it->name, it->base, it->cut, off, error);
}

gboolean
bfc_item_write(BfcItem *it, const void *data, size_t len, uint64_t off,
               GError **error)
{
  gboolean ok;

  if (!after_base(it, &off, error) || !bfc_item_lock(it, error))
    return FALSE;
  uint64_t sent = (uint64_t)it->next_chunk * it->sess->cfg.chunk_size;
  if (it->closed && !reopen(it, error)) {
    ok = FALSE;
  } else if (off < sent) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(it->sess, NULL, it->name),
           "%s: write at offset %" G_GUINT64_FORMAT " after bytes up to %"
           G_GUINT64_FORMAT " already left: the outbox takes forward writes "
           "only", it->name, off, sent);
    bfc_set_status_error(error, BF_ST_IO, "'%s': bytes before offset %"
                         G_GUINT64_FORMAT " already left", it->name, sent);
    ok = FALSE;
  } else {
    ok = put(it, data, len, off, error);
    if (ok)
      it->size = MAX(it->size, off + len);
  }
  bfc_item_unlock(it);
  return ok;
}

gboolean
bfc_item_truncate(BfcItem *it, uint64_t size, GError **error)
{
  gboolean ok = TRUE;

  if (!after_base(it, &size, error) || !bfc_item_lock(it, error))
    return FALSE;
  uint64_t start = (uint64_t)it->next_chunk * it->sess->cfg.chunk_size;
  if (it->closed && size == it->size) {
    /* nothing changes */
  } else if (it->closed && !reopen(it, error)) {
    ok = FALSE;
  } else if (size < start) {
    bfc_set_status_error(error, BF_ST_IO, "'%s': bytes before offset %"
                         G_GUINT64_FORMAT " already left", it->name, start);
    ok = FALSE;
  } else {
    if (size < start + it->fill)
      it->fill = (uint32_t)(size - start);
    it->size = size;
  }
  bfc_item_unlock(it);
  return ok;
}

void
bfc_item_set_final_attrs(BfcItem *it, uint32_t mode, const struct timespec *mtime)
{
  bfc_item_lock_always(it);
  it->mode = mode & 07777;
  it->mtime = *mtime;
  bfc_item_unlock(it);
}

/* Under shamir the item's digest, and with hide_names its name, leave only
 * as the shares of its secret (BfSecret), on distinct paths like a chunk's
 * shares, so that no path carries anything that confirms a guess of the
 * content. The key is fresh for every item. */
static gboolean
submit_secret(BfcItem *it, const uint8_t digest[BF_DIGEST_LEN],
              const uint8_t key[BF_ITEM_KEY_LEN], GError **error)
  BF_REQUIRES(&it->wlock)
{
  BfcSession *s = it->sess;
  g_autoptr(GByteArray) buf = g_byte_array_sized_new(BF_SECRET_MAX);
  BfSecret sec = { .name = { NULL, 0 } };
  BfcChunk *sh[BF_CODING_N_MAX];
  gboolean ok = FALSE;

  memcpy(sec.digest, digest, BF_DIGEST_LEN);
  memcpy(sec.key, key, sizeof sec.key);
  if (s->cfg.hide_names) {
    sec.name.data = (const uint8_t *)it->name;
    sec.name.len = (uint16_t)strlen(it->name);
  }
  /* a FUSE path is shorter than PATH_MAX: only a bug makes it too long */
  if (bf_secret_encode(&sec, buf)) {
    bfc_coded_split(s, it, BF_SECRET_CHUNK, 0, buf->data, buf->len, sh);
    ok = submit(s, it, sh, s->cfg.coding.n, error);
  } else {
    bfc_set_status_error(error, BF_ST_BAD_NAME, "'%s': name too long for the "
                         "item's secret", it->name);
  }
  sodium_memzero(buf->data, buf->len);
  sodium_memzero(&sec, sizeof sec);
  return ok;
}

/* Flushes the tail and queues ITEM_CLOSE. */
static gboolean
finish_writing(BfcItem *it, GError **error) BF_REQUIRES(&it->wlock)
{
  BfcSession *s = it->sess;
  uint32_t cs = s->cfg.chunk_size;
  uint64_t size = it->size;
  uint64_t written = (uint64_t)it->next_chunk * cs + it->fill;
  uint32_t total = (uint32_t)(size / cs + (size % cs != 0));
  BfItemClose cm = { 0 };
  uint8_t digest[BF_DIGEST_LEN], key[BF_ITEM_KEY_LEN];
  gboolean shamir = s->cfg.coding.kind == BF_CODING_SHAMIR;

  g_autoptr(BfDigest) tail = NULL;

  /* A truncate may have extended the file past the last write. */
  if (size > written && !put(it, NULL, size - written, written, error))
    return FALSE;
  /* The partial last chunk leaves as a copy and the digest is finished on a
   * copy of its state, so that a write after this close can continue the
   * file (see reopen). */
  tail = bf_digest_copy(it->digest);
  if (it->fill > 0) {
    uint8_t *copy = bfc_pool_get(s);
    memcpy(copy, it->buf, it->fill);
    bf_digest_update(tail, copy, it->fill);
    if (!submit_data(it, it->next_chunk, total, copy, it->fill, error))
      return FALSE;
  }
  cm.item_id = it->id;
  cm.total_chunks = total;
  cm.size = it->base + size;
  cm.digest_alg = bf_digest_alg(tail);
  g_autoptr(BfDigest) whole = bf_digest_copy(tail);
  bf_digest_final(tail, digest);
  if (shamir) {
    randombytes_buf(key, sizeof key);
    if (!submit_secret(it, digest, key, error)) {
      sodium_memzero(key, sizeof key);
      return FALSE;
    }
  } else {
    memcpy(cm.digest, digest, sizeof cm.digest);   /* zero under shamir */
  }
  cm.mode = it->mode;
  cm.mtime_sec = it->mtime.tv_sec;
  cm.mtime_nsec = (uint32_t)it->mtime.tv_nsec;
  /* Recorded as it is queued: a resync that follows a lost control path
   * sends it again. */
  bf_mutex_lock(&s->lock);
  it->close_msg = cm;
  memcpy(it->digest_sent, digest, sizeof digest);
  if (shamir)
    memcpy(it->item_key, key, sizeof key);
  it->has_item_key = shamir;
  it->proof_known = TRUE;
  bf_digest_free(it->whole);
  it->whole = g_steal_pointer(&whole);
  it->close_sent = TRUE;
  it->close_due = g_get_monotonic_time() + BFC_RESEND_US;
  bfc_item_send_close_locked(s, it);
  bf_mutex_unlock(&s->lock);
  sodium_memzero(key, sizeof key);
  return TRUE;
}

/* Waits for the server's verdict on a closed item, sending its ITEM_CLOSE
 * again now and then. Its chunks still arriving is progress; once the last
 * is acknowledged the server has timeout seconds to answer. */
static void
await_stored_locked(BfcSession *s, BfcItem *it) BF_REQUIRES(&s->lock)
{
  gint64 resend = g_get_monotonic_time() + BFC_RESEND_US;
  BfcWait w;

  bfc_wait_init(&w, "stored the file");
  while (it->state != BFC_ITEM_STORED && it->state != BFC_ITEM_FAILED) {
    g_autoptr(GError) err = NULL;
    w.progress = MAX(w.progress, it->last_ack);
    if (!bfc_wait_locked(s, &w, &err)) {
      bfc_item_fail_locked(s, it, (uint8_t)err->code, err->message);
    } else if (g_get_monotonic_time() >= resend) {
      bfc_item_send_close_locked(s, it);
      resend = g_get_monotonic_time() + BFC_RESEND_US;
    }
  }
  bfc_wait_done_locked(s, &w);
}

/* The file was renamed while it was written: now that the server holds it
 * under the name it was opened with, it moves. */
static gboolean
apply_final_name(BfcItem *it, GError **error) BF_REQUIRES(&it->wlock)
{
  g_autofree char *to = g_steal_pointer(&it->final_name);

  if (to == NULL || strcmp(to, it->name) == 0)
    return TRUE;
  if (!bfc_op(it->sess, BF_OP_RENAME, it->name, to, 0, error))
    return FALSE;
  g_free(it->name);
  it->name = g_steal_pointer(&to);
  return TRUE;
}

/* What follows the verdict on a sealed item, or a failure to seal it
 * (sent is FALSE, with err): logged, cancelled on the server if we gave
 * up, forgotten. FALSE, with err, unless it was stored. */
static gboolean
settle_locked(BfcSession *s, BfcItem *it, gboolean sent, GError **err)
  BF_REQUIRES(&s->lock)
{
  gboolean ok = sent;

  if (it->state == BFC_ITEM_FAILED) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, it->name),
           "server %s did not store '%s': %s", s->server, it->name,
           it->error ? it->error : "unknown error");
    /* Given up on our side: the server may still hold the partial item. */
    if (it->status == BF_ST_IO || it->status == BF_ST_LIMIT)
      bfc_item_send_cancel_locked(s, it);
    g_clear_error(err);
    bfc_item_error_locked(s, it, err);
    ok = FALSE;
  } else if (!sent) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, it->name),
           "server %s: '%s' not delivered: %s", s->server, it->name,
           (*err)->message);
  }
  bfc_item_forget_locked(s, it);
  return ok;
}

gboolean
bfc_item_close(BfcItem *it, GError **error)
{
  BfcSession *s = it->sess;
  g_autoptr(GError) err = NULL;

  if (!bfc_item_lock(it, error))
    return FALSE;
  if (it->closed) {
    if (it->cancelled)
      bfc_set_status_error(&err, BF_ST_IO, "'%s' was removed while written",
                           it->name);
    else if (it->result != NULL)
      err = g_error_copy(it->result);
    bfc_item_unlock(it);
    if (err == NULL)
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&err));
    return FALSE;
  }
  g_atomic_int_set(&it->closed, TRUE);
  gboolean ok = finish_writing(it, &err);
  /* wlock stays held: a write on another descriptor waits for the verdict
   * on this version before it may start the next one. */

  bf_mutex_lock(&s->lock);
  if (ok)
    await_stored_locked(s, it);
  ok = settle_locked(s, it, ok, &err);
  bf_mutex_unlock(&s->lock);
  if (ok)
    ok = apply_final_name(it, &err);
  g_clear_error(&it->result);
  if (!ok)
    it->result = g_error_copy(err);
  bfc_item_unlock(it);
  if (!ok)
    g_propagate_error(error, g_steal_pointer(&err));
  return ok;
}

/* ---- sealed items (delivery=async) -------------------------------------- */

gboolean
bfc_item_seal(BfcItem *it, GError **error)
{
  BfcSession *s = it->sess;
  g_autoptr(GError) err = NULL;

  bfc_item_lock_always(it);
  g_atomic_int_set(&it->closed, TRUE);
  gboolean ok = finish_writing(it, &err);
  bfc_item_unlock(it);
  if (ok)
    return TRUE;
  bf_mutex_lock(&s->lock);
  settle_locked(s, it, FALSE, &err);
  bf_mutex_unlock(&s->lock);
  g_propagate_error(error, g_steal_pointer(&err));
  return FALSE;
}

static gboolean
decided(const BfcItem *it)
{
  return it->state == BFC_ITEM_STORED || it->state == BFC_ITEM_FAILED;
}

void
bfc_items_await_verdicts(BfcSession *s, BfcItem **items, unsigned n,
                         BfcWait *w)
{
  g_autoptr(GError) err = NULL;
  gint64 now = g_get_monotonic_time();

  bf_mutex_lock(&s->lock);
  if (n == 0) {
    bfc_wait_done_locked(s, w);
    bfc_wait_init(w, w->what);
    bf_mutex_unlock(&s->lock);
    return;
  }
  for (unsigned i = 0; i < n; i++) {
    BfcItem *it = items[i];
    if (decided(it)) {
      w->progress = now;   /* a verdict is progress */
      bf_mutex_unlock(&s->lock);
      return;
    }
    w->progress = MAX(w->progress, it->last_ack);
    if (now >= it->close_due) {
      bfc_item_send_close_locked(s, it);
      it->close_due = now + BFC_RESEND_US;
    }
  }
  if (!bfc_wait_locked(s, w, &err))
    for (unsigned i = 0; i < n; i++)
      bfc_item_fail_locked(s, items[i], (uint8_t)err->code, err->message);
  bf_mutex_unlock(&s->lock);
}

gboolean
bfc_item_settle(BfcItem *it, gboolean *done, GError **error)
{
  BfcSession *s = it->sess;
  g_autoptr(GError) err = NULL;
  gboolean ok = FALSE;

  bf_mutex_lock(&s->lock);
  *done = decided(it);
  if (*done)
    ok = settle_locked(s, it, TRUE, &err);
  bf_mutex_unlock(&s->lock);
  if (*done && !ok)
    g_propagate_error(error, g_steal_pointer(&err));
  return ok;
}
