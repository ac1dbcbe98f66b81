/* Items: lifetime, announcement and the server's answers (item.h). */
#include "item.h"

#include <sodium.h>
#include <string.h>

#include "braidfs/log.h"
#include "braidfs/proof.h"
#include "ctl.h"
#include "wait.h"

/* A fresh item's digest is BLAKE3 (digest.h: the cheapest per byte); a
 * spooled one's the algorithm its header records, whose value a replay's
 * STORED proves (spoolfmt.h). */
static BfcItem *
item_alloc(BfcSession *s, const char *name, uint32_t mode, uint8_t alg,
           const BfcReplay *replay,
           void (*note_id)(void *data, uint64_t id), void *data)
{
  BfcItem *it = g_new0(BfcItem, 1);

  it->refs = 1;
  it->sess = s;
  it->name = g_strdup(name);
  it->shown = g_strdup(name);
  it->opened_at = g_get_monotonic_time();
  it->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &it->mtime);
  bf_mutex_init(&it->wlock);
  it->digest = bf_digest_new(alg);
  /* A shamir item's proof is keyed with its secret's key, which the earlier
   * mount did not keep: its STORED cannot be checked (proof_known stays
   * FALSE), and the file goes again. */
  if (replay != NULL) {
    it->replay_id = replay->id;
    if (s->cfg.coding.kind != BF_CODING_SHAMIR) {
      it->close_msg.size = replay->size;
      it->close_msg.digest_alg = alg;
      memcpy(it->digest_sent, replay->digest, BF_DIGEST_LEN);
      it->proof_known = TRUE;
    }
  }
  it->note_id = note_id;
  it->note_data = data;
  return it;
}

BfcItem *
bfc_item_new_spooled(BfcSession *s, const char *name, uint32_t mode,
                     uint8_t alg, const BfcReplay *replay,
                     void (*note_id)(void *data, uint64_t id), void *data)
{
  BfcItem *it = item_alloc(s, name, mode, alg, replay, note_id, data);

  bfc_item_announce(it);
  return it;
}

BfcItem *
bfc_item_new(BfcSession *s, const char *name, uint32_t mode)
{
  BfcItem *it = item_alloc(s, name, mode, BF_DIGEST_BLAKE3, NULL, NULL, NULL);

  bfc_item_announce(it);
  return it;
}

BfcItem *
bfc_item_new_spooled_append(BfcSession *s, const char *name, uint32_t mode,
                            const BfcReplay *replay,
                            void (*note_id)(void *data, uint64_t id),
                            void *data, uint64_t size,
                            const BfDigest *base_state,
                            const uint8_t digest[BF_DIGEST_LEN])
{
  BfcItem *it = item_alloc(s, name, mode, bf_digest_alg(base_state), replay,
                           note_id, data);

  it->base = size;
  it->base_state = bf_digest_copy(base_state);
  bf_digest_free(it->digest);
  it->digest = bf_digest_copy(base_state);    /* goes on from the base */
  memcpy(it->base_digest, digest, BF_DIGEST_LEN);
  bfc_item_announce(it);
  return it;
}

BfcItem *
bfc_item_new_append(BfcSession *s, const char *name, uint32_t mode,
                    uint64_t size, const BfDigest *base_state,
                    const uint8_t digest[BF_DIGEST_LEN])
{
  return bfc_item_new_spooled_append(s, name, mode, NULL, NULL, NULL, size,
                                     base_state, digest);
}

BfcItem *
bfc_item_new_cut(BfcSession *s, const char *name, uint32_t mode, uint64_t size,
                 const uint8_t digest[BF_DIGEST_LEN], uint64_t keep,
                 const BfDigest *keep_state)
{
  BfcItem *it = item_alloc(s, name, mode, bf_digest_alg(keep_state), NULL,
                           NULL, NULL);

  it->base = keep;
  it->cut = TRUE;
  it->stored = size;
  it->base_state = bf_digest_copy(keep_state);
  bf_digest_free(it->digest);
  it->digest = bf_digest_copy(keep_state);    /* goes on from the cut */
  memcpy(it->base_digest, digest, BF_DIGEST_LEN);
  bfc_item_announce(it);
  return it;
}

BfDigest *
bfc_item_whole_state(BfcItem *it)
{
  BfDigest *d;

  bf_mutex_lock(&it->sess->lock);
  d = it->whole != NULL ? bf_digest_copy(it->whole) : NULL;
  bf_mutex_unlock(&it->sess->lock);
  return d;
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
  sodium_memzero(it->item_key, sizeof it->item_key);
  bf_digest_free(it->digest);
  bf_digest_free(it->base_state);
  bf_digest_free(it->whole);
  g_free(it->final_name);
  g_free(it->name);
  g_free(it->shown);
  g_free(it->error);
  g_clear_error(&it->result);
  bf_mutex_clear(&it->wlock);
  g_free(it);
}

uint64_t
bfc_item_size(BfcItem *it)
{
  return it->base + it->size;
}

gboolean
bfc_item_stored(BfcItem *it)
{
  bf_mutex_lock(&it->wlock);
  gboolean stored = g_atomic_int_get(&it->closed) && !it->cancelled && it->result == NULL;
  bf_mutex_unlock(&it->wlock);
  return stored;
}

/* The analysis does not follow a lock taken on one of two paths. */
static gboolean
item_lock(BfcItem *it, gboolean refusable, GError **error) BF_NO_TSA
{
  if (bf_mutex_trylock(&it->wlock))
    return TRUE;
  if (!bfc_seat_take(it->sess, refusable, error))
    return FALSE;
  bf_mutex_lock(&it->wlock);
  bfc_seat_give(it->sess);
  return TRUE;
}

gboolean
bfc_item_lock(BfcItem *it, GError **error) BF_NO_TSA
{
  return item_lock(it, TRUE, error);
}

void
bfc_item_lock_always(BfcItem *it) BF_NO_TSA
{
  item_lock(it, FALSE, NULL);
}

void
bfc_item_unlock(BfcItem *it)
{
  bf_mutex_unlock(&it->wlock);
}

/* ---- announcing --------------------------------------------------------- */

static void
send_open_locked(BfcSession *s, BfcItem *it) BF_REQUIRES(&s->lock)
{
  BfMsg m = { .type = BF_FRAME_ITEM_OPEN, .u.item_open = it->open_msg };

  if (it->open_seq == 0)
    it->open_seq = ++s->next_seq;
  it->open_sent = bfc_ctl_queue_locked(s, &m);
  it->open_epoch = s->ctl_epoch;
  g_cond_broadcast(&s->cond);
}

/* Sends the ITEM_OPENs of the items at the head of s->announcing whose ids
 * are recorded, in id order, and what their writers queued meanwhile. */
static void
flush_announced_locked(BfcSession *s) BF_REQUIRES(&s->lock)
{
  BfcItem *it;

  while ((it = g_queue_peek_head(&s->announcing)) != NULL && it->noted) {
    g_queue_pop_head(&s->announcing);
    it->announcing = FALSE;
    if (s->dead) {
      bfc_item_fail_locked(s, it, BF_ST_IO, s->dead);
    } else if (it->state == BFC_ITEM_OPENING) {
      send_open_locked(s, it);
      if (it->close_sent)
        bfc_item_send_close_locked(s, it);
    }
    bfc_item_unref(it);
  }
}

void
bfc_item_announce(BfcItem *it)
{
  BfcSession *s = it->sess;
  BfItemOpen *o = &it->open_msg;

  bf_mutex_lock(&s->lock);
  it->replayed = it->replay_id != 0;
  it->id = it->replayed ? it->replay_id : ++s->next_item_id;
  it->replay_id = 0;
  it->state = BFC_ITEM_OPENING;
  it->open_sent = it->close_sent = it->resuming = FALSE;
  it->open_seq = it->close_seq = 0;
  it->last_ack = 0;
  g_clear_pointer(&it->error, g_free);
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
  if (it->base > 0 || it->cut) {
    o->has_base = TRUE;
    o->base_size = it->cut ? it->stored : it->base;
    memcpy(o->base_digest, it->base_digest, BF_DIGEST_LEN);
    o->has_keep = it->cut;
    o->base_keep = it->cut ? it->base : 0;
  }
  g_hash_table_insert(s->items, &it->id, bfc_item_ref(it));
  it->announcing = TRUE;
  it->noted = it->note_id == NULL;
  g_queue_push_tail(&s->announcing, bfc_item_ref(it));
  if (!it->noted) {
    uint64_t id = it->id;
    bf_mutex_unlock(&s->lock);
    it->note_id(it->note_data, id);
    bf_mutex_lock(&s->lock);
    it->noted = TRUE;
  }
  flush_announced_locked(s);
  bf_mutex_unlock(&s->lock);
}

/* ---- verdicts ----------------------------------------------------------- */

/* The verdict, for .braidfs/status: the last BFC_DONE_KEPT and counts. */
static void
note_done_locked(BfcSession *s, BfcItem *it) BF_REQUIRES(&s->lock)
{
  BfcFileDone *d = g_new0(BfcFileDone, 1);

  d->name = g_strdup(it->shown);
  d->size = bfc_item_size(it);
  d->acked = it->acked;
  d->stored = it->state == BFC_ITEM_STORED;
  d->seconds = (g_get_monotonic_time() - it->opened_at) / (double)G_USEC_PER_SEC;
  d->at = g_get_real_time();
  if (d->stored)
    s->files_stored++;
  else
    s->files_failed++;
  g_queue_push_tail(&s->done, d);
  while (s->done.length > BFC_DONE_KEPT)
    bfc_file_done_free(g_queue_pop_head(&s->done));
}

void
bfc_file_done_free(BfcFileDone *d)
{
  g_free(d->name);
  g_free(d);
}

void
bfc_item_fail_locked(BfcSession *s, BfcItem *it, uint8_t status, const char *why)
{
  if (it->state == BFC_ITEM_FAILED || it->state == BFC_ITEM_STORED)
    return;
  it->state = BFC_ITEM_FAILED;
  it->status = status;
  it->error = g_strdup(why);
  note_done_locked(s, it);
}

void
bfc_item_error_locked(BfcSession *s, BfcItem *it, GError **error)
{
  (void)s;
  g_set_error_literal(error, BFC_ERROR, it->status,
                      it->error ? it->error : "unknown error");
}

void
bfc_item_forget_locked(BfcSession *s, BfcItem *it)
{
  if (g_hash_table_lookup(s->items, &it->id) == it) {
    g_hash_table_steal(s->items, &it->id);
    bfc_item_unref(it);
  }
}

void
bfc_item_send_close_locked(BfcSession *s, BfcItem *it)
{
  BfMsg m = { .type = BF_FRAME_ITEM_CLOSE, .u.item_close = it->close_msg };

  /* Its ITEM_OPEN has not left yet: the close follows it then. */
  if (it->announcing)
    return;
  if (it->close_seq == 0)
    it->close_seq = ++s->next_seq;
  /* Once the server has OPENED the item, its ITEM_CLOSE needs no ordering
   * and takes the path with the shortest queue: behind a slow link's
   * backlog it would hold up the item's completion. */
  if (it->state != BFC_ITEM_OPEN || !bfc_queue_soonest_locked(s, &m))
    bfc_ctl_queue_locked(s, &m);
}

void
bfc_item_send_cancel_locked(BfcSession *s, BfcItem *it)
{
  BfMsg m = { .type = BF_FRAME_OP };

  if (it->announcing)
    return;   /* the server never heard of it, and never will */
  m.u.op.op = BF_OP_CANCEL;
  m.u.op.item_id = it->id;
  bfc_ctl_queue_locked(s, &m);
}

gboolean
bfc_item_await_open(BfcItem *it, gboolean *stored, GError **error)
{
  BfcSession *s = it->sess;
  g_autoptr(GError) err = NULL;
  BfcWait w;

  bfc_wait_init(&w, "answered");
  bf_mutex_lock(&s->lock);
  while (it->state == BFC_ITEM_OPENING && bfc_wait_locked(s, &w, &err))
    ;
  if (err != NULL)
    bfc_item_fail_locked(s, it, (uint8_t)err->code, err->message);
  bfc_wait_done_locked(s, &w);
  *stored = it->state == BFC_ITEM_STORED;
  gboolean ok = it->state != BFC_ITEM_FAILED;
  if (!ok)
    bfc_item_error_locked(s, it, error);
  bf_mutex_unlock(&s->lock);
  return ok;
}

void
bfc_item_discard(BfcItem *it)
{
  BfcSession *s = it->sess;

  bfc_item_lock_always(it);
  g_atomic_int_set(&it->closed, TRUE);
  bfc_item_unlock(it);
  bf_mutex_lock(&s->lock);
  bfc_item_forget_locked(s, it);
  bf_mutex_unlock(&s->lock);
}

/* A sealed item (delivery=async) has nobody's wlock held over its wait for
 * the verdict: a cancel waits for it here, as it would behind a close(2),
 * so that what follows (an UNLINK) finds the file stored, not on its way. */
static void
await_verdict_locked(BfcSession *s, BfcItem *it) BF_REQUIRES(&s->lock)
{
  BfcWait w;

  bfc_wait_init(&w, "stored the file");
  while (it->state != BFC_ITEM_STORED && it->state != BFC_ITEM_FAILED &&
         it->close_sent) {
    w.progress = MAX(w.progress, it->last_ack);
    if (!bfc_wait_locked(s, &w, NULL))
      break;
  }
  bfc_wait_done_locked(s, &w);
}

void
bfc_item_cancel(BfcItem *it)
{
  BfcSession *s = it->sess;

  bfc_item_lock_always(it);
  gboolean was_open = !g_atomic_int_get(&it->closed);
  g_atomic_int_set(&it->closed, TRUE);
  it->cancelled = TRUE;
  bfc_item_unlock(it);
  bf_mutex_lock(&s->lock);
  if (!was_open)
    await_verdict_locked(s, it);
  bfc_item_fail_locked(s, it, BF_ST_IO, "cancelled");
  if (was_open)
    bfc_item_send_cancel_locked(s, it);
  bfc_item_forget_locked(s, it);
  bf_mutex_unlock(&s->lock);
}

gboolean
bfc_item_set_attrs(BfcItem *it, uint8_t flags, uint32_t mode,
                   const struct timespec *mtime, gboolean *applied,
                   GError **error)
{
  /* Sealed: its close may hold wlock until the verdict; do not wait. */
  *applied = FALSE;
  if (g_atomic_int_get(&it->closed))
    return TRUE;
  if (!bfc_item_lock(it, error))
    return FALSE;
  *applied = !it->closed;
  if (*applied && (flags & BF_SETATTR_MODE))
    it->mode = mode & 07777;
  if (*applied && (flags & BF_SETATTR_MTIME))
    it->mtime = *mtime;
  bfc_item_unlock(it);
  return TRUE;
}

gboolean
bfc_item_rename(BfcItem *it, const char *name, gboolean *later, GError **error)
{
  /* A close in progress holds wlock until its verdict: a rename then waits
   * and renames the stored file. */
  if (!bfc_item_lock(it, error))
    return FALSE;
  *later = !it->closed && !it->cancelled;
  if (*later) {
    g_free(it->final_name);
    it->final_name = g_strdup(name);
  }
  bfc_item_unlock(it);
  return TRUE;
}

/* ---- for the paths ------------------------------------------------------ */

gboolean
bfc_item_chunk_allowed_locked(BfcSession *s, const BfcItem *it, unsigned p)
{
  if (s->paths[p].state != BFC_PATH_UP)
    return FALSE;
  if (it->state != BFC_ITEM_OPENING)
    return TRUE;
  /* A resumed item's chunks wait for OPENED: the server may not have it. */
  return (int)p == s->ctl && it->open_sent && it->open_epoch == s->ctl_epoch &&
         !it->resuming;
}

/* Whether a STORED OK proves that the server stored what this item sent
 * (proof.h). Without a key anyone who saw the ITEM_CLOSE can make it:
 * then it only catches a server that stored something else. */
static gboolean
stored_proven_locked(BfcSession *s, const BfcItem *it, const BfItemAck *a)
  BF_REQUIRES(&s->lock)
{
  uint8_t want[BF_PROOF_LEN];

  bf_stored_proof(want, s->cfg.key, it->has_item_key ? it->item_key : NULL,
                  s->id, it->id, it->close_msg.size, it->close_msg.digest_alg,
                  it->digest_sent);
  return sodium_memcmp(want, a->proof, sizeof want) == 0;
}

/* A STORED OK that does not prove the item fails it: the file is not
 * forgotten (the spool keeps it and sends it again). One that cannot be
 * checked (a replayed shamir item) sends the file again under a new id
 * (NOT_FOUND starts it afresh). */
static const char *
stored_refusal_locked(BfcSession *s, BfcItem *it, const BfItemAck *a,
                      uint8_t *status) BF_REQUIRES(&s->lock)
{
  if (!it->proof_known) {
    *status = BF_ST_NOT_FOUND;
    return "the server says an earlier mount's copy is stored, which this "
           "mount cannot check: sending it again";
  }
  if (stored_proven_locked(s, it, a))
    return NULL;
  *status = BF_ST_CORRUPT;
  return "the server's STORED does not prove these bytes (a wrong proof: "
         "a forged answer, a different key_file, or a server that stored "
         "something else); the file is not taken as delivered";
}

void
bfc_items_on_ack(BfcSession *s, const BfItemAck *a)
{
  g_autofree char *text = bfc_server_text(&a->message);
  const char *refused = NULL;
  uint8_t refused_status = BF_ST_OK;
  g_autofree char *refused_name = NULL;
  BfcItem *it;

  bf_mutex_lock(&s->lock);
  it = g_hash_table_lookup(s->items, &a->item_id);
  if (it != NULL && a->status == BF_ST_OK && a->stage == BF_ACK_STORED &&
      (it->close_sent || it->replayed) &&
      it->state != BFC_ITEM_STORED && it->state != BFC_ITEM_FAILED) {
    refused = stored_refusal_locked(s, it, a, &refused_status);
    if (refused != NULL) {
      refused_name = g_strdup(it->shown);
      bfc_item_fail_locked(s, it, refused_status, refused);
    }
  }
  if (it != NULL && refused == NULL) {
    if (a->status != BF_ST_OK && it->resuming && a->stage == BF_ACK_OPENED)
      bfc_item_fail_locked(s, it, BF_ST_IO, "the server restarted and did not "
                           "keep this file: copy it again");
    else if (a->status != BF_ST_OK)
      bfc_item_fail_locked(s, it, a->status,
                           text[0] ? text : bf_status_str(a->status));
    else if (a->stage == BF_ACK_OPENED && it->state == BFC_ITEM_OPENING)
      it->state = BFC_ITEM_OPEN;
    else if (a->stage == BF_ACK_STORED && (it->close_sent || it->replayed) &&
             it->state != BFC_ITEM_STORED && it->state != BFC_ITEM_FAILED) {
      it->state = BFC_ITEM_STORED;
      note_done_locked(s, it);
    }
  }
  g_cond_broadcast(&s->cond);
  bf_mutex_unlock(&s->lock);
  if (refused != NULL)
    bf_log(refused_status == BF_ST_CORRUPT ? G_LOG_LEVEL_WARNING
                                           : G_LOG_LEVEL_INFO,
           BFC_LOG(s, NULL, refused_name), "'%s' (item %" G_GUINT64_FORMAT
           "): %s", refused_name, a->item_id, refused);
}

unsigned
bfc_items_resync_locked(BfcSession *s, GArray *out)
{
  GHashTableIter iter;
  gpointer v;
  unsigned n = 0;

  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    BfcItem *it = v;
    /* Announcing ones follow in their turn. */
    if (it->announcing || !(it->state == BFC_ITEM_OPENING ||
                            (it->close_sent && it->state == BFC_ITEM_OPEN)))
      continue;
    if (it->state == BFC_ITEM_OPENING) {
      BfcResend r = { it->open_seq, { .type = BF_FRAME_ITEM_OPEN,
                                      .u.item_open = it->open_msg } };
      g_array_append_val(out, r);
      it->open_sent = TRUE;   /* queued by the caller, in this hold */
      it->open_epoch = s->ctl_epoch;
    }
    if (it->close_sent) {
      BfcResend r = { it->close_seq, { .type = BF_FRAME_ITEM_CLOSE,
                                       .u.item_close = it->close_msg } };
      g_array_append_val(out, r);
    }
    n++;
  }
  if (n > 0)
    g_cond_broadcast(&s->cond);
  return n;
}

unsigned
bfc_items_restart_locked(BfcSession *s)
{
  GHashTableIter iter;
  gpointer v;
  unsigned n = 0;

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
  return n;
}

void
bfc_items_clear_locked(BfcSession *s)
{
  GHashTableIter iter;
  gpointer v;
  BfcItem *it;

  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    bfc_item_unref(v);
  g_hash_table_remove_all(s->items);
  while ((it = g_queue_pop_head(&s->announcing)) != NULL)
    bfc_item_unref(it);
}
