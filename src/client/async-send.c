/* Sending spooled files, and their verdicts (async-send.h). */
#include "async-send.h"

#include <sodium.h>
#include <string.h>

#include "readback.h"
#include "writer.h"

/* An append's base is read back in pieces of this size after a restart. */
#define READBACK_PIECE (1u << 20)

BfcSpoolFile *
bfc_async_gone_locked(BfcAsync *a, Pending *pd, gboolean delivered)
{
  BfcSpoolFile *f = g_steal_pointer(&pd->file);

  pd->state = PD_GONE;
  pd->delivered = delivered;
  pd->final_size = f->base_size + f->size;
  if (f->base_size == 0) {
    pd->final_alg = f->alg;              /* the spool's, sent (spoolfmt.h) */
    memcpy(pd->final_digest, f->digest, BF_DIGEST_LEN);
  } else if (pd->final_state != NULL) {  /* an append: the whole file's */
    g_autoptr(BfDigest) end = bf_digest_copy(pd->final_state);
    pd->final_alg = bf_digest_alg(end);
    bf_digest_final(end, pd->final_digest);
  }
  if (g_hash_table_remove(a->live, pd))
    bfc_version_unref(&pd->base);
  g_cond_broadcast(&a->cond);
  return f;
}

static void
note_id(void *data, uint64_t id)
{
  bfc_spool_file_note_id(data, id);
}

/* The file's delivery attempt is over: its item goes. */
static void
drop_item(BfcAsync *a, Pending *pd)
{
  bf_mutex_lock(&a->lock);
  BfcItem *it = g_steal_pointer(&pd->item);
  bf_mutex_unlock(&a->lock);
  bfc_item_unref(it);
}

/* An append whose base is no longer what the server holds: refused for
 * good, its appended bytes go to failed/ (outcome). */
static void
stale_error(BfcSpoolFile *f, const char *why, GError **error)
{
  bfc_set_status_error(error, BF_ST_STALE, "read back, the stored '%s' %s",
                       f->name, why);
}

/* The digest state of an append's base: the one this mount kept, or, after
 * a restart, the stored file's first base_size bytes read back from the
 * server and checked against the base's digest (an append stored already
 * keeps them, so either version will do). NULL with error: BF_ST_STALE
 * when the stored file is not the base. */
static BfDigest *
base_state(BfcAsync *a, Pending *pd, GError **error)
{
  BfcSpoolFile *f = pd->file;
  g_autoptr(BfDigest) d = bf_digest_new(f->base_alg);
  g_autofree uint8_t *buf = NULL;
  g_autoptr(GError) err = NULL;
  uint8_t end[BF_DIGEST_LEN];

  if (pd->base_state != NULL)
    return bf_digest_copy(pd->base_state);
  if (d == NULL) {
    bfc_set_status_error(error, BF_ST_IO, "'%s' appends to a version of "
                         "digest algorithm %u, which this client cannot "
                         "compute", f->name, f->base_alg);
    return NULL;
  }
  buf = g_malloc(READBACK_PIECE);
  for (uint64_t off = 0; off < f->base_size;) {
    gssize n = bfc_readback(a->base.sess, f->name, buf,
                            MIN((uint64_t)READBACK_PIECE, f->base_size - off),
                            off, &err);
    if (n < 0 && g_error_matches(err, BFC_ERROR, BF_ST_NOT_FOUND)) {
      stale_error(f, "is gone", error);
      return NULL;
    }
    if (n < 0) {
      g_propagate_error(error, g_steal_pointer(&err));
      return NULL;
    }
    if (n == 0) {
      stale_error(f, "is shorter than the version appended to", error);
      return NULL;
    }
    bf_digest_update(d, buf, (size_t)n);
    off += (uint64_t)n;
  }
  g_autoptr(BfDigest) copy = bf_digest_copy(d);
  bf_digest_final(copy, end);
  if (sodium_memcmp(end, f->base_digest, BF_DIGEST_LEN) != 0) {
    stale_error(f, "has other bytes than the version appended to", error);
    return NULL;
  }
  pd->base_state = bf_digest_copy(d);   /* a retry need not read it again */
  return g_steal_pointer(&d);
}

/* The state of the whole file an append makes: its base's continued by
 * its spooled bytes. For a replay, whose STORED must prove the whole. */
static BfDigest *
whole_state(BfcSpoolFile *f, const BfDigest *base, uint32_t cs, GError **error)
{
  g_autoptr(BfDigest) d = bf_digest_copy(base);
  g_autofree uint8_t *buf = g_malloc(cs);

  for (uint64_t off = 0; off < f->size;) {
    gssize n = bfc_spool_file_read(f, buf, MIN((uint64_t)cs, f->size - off),
                                   off, error);
    if (n <= 0) {
      if (n == 0)
        bfc_set_status_error(error, BF_ST_IO, "'%s' is shorter in the spool "
                             "than its header says", f->name);
      return NULL;
    }
    bf_digest_update(d, buf, (size_t)n);
    off += (uint64_t)n;
  }
  return g_steal_pointer(&d);
}

/* Announces the file as an item (under replay_id if not 0); an append
 * (base not NULL: its base's state) with its base, the replay proving the
 * whole file (whole). */
static BfcItem *
start_item(BfcAsync *a, Pending *pd, uint64_t replay_id, const BfDigest *base,
           const uint8_t whole[BF_DIGEST_LEN])
{
  BfcSpoolFile *f = pd->file;
  BfcReplay replay = { replay_id, f->size, f->digest };
  BfcItem *it;

  if (base != NULL) {
    replay.size += f->base_size;
    replay.digest = whole;
    it = bfc_item_new_spooled_append(a->base.sess, f->name, f->mode,
                                     replay_id != 0 ? &replay : NULL, note_id,
                                     f, f->base_size, base, f->base_digest);
  } else {
    it = bfc_item_new_spooled(a->base.sess, f->name, f->mode, f->alg,
                              replay_id != 0 ? &replay : NULL, note_id, f);
  }

  bf_mutex_lock(&a->lock);
  pd->item = it;
  gboolean cancelled = pd->cancelled;
  bf_mutex_unlock(&a->lock);
  if (cancelled)
    bfc_item_cancel(it);
  return it;
}

/* Sends one spooled file. TRUE when it is sealed and awaits its verdict
 * (pd->item); else its delivery is over, *ok says how (a replay the
 * server had stored already, or a failure with error), and *announced
 * whether it got as far as an ITEM_OPEN. */
static gboolean
send_file(BfcAsync *a, Pending *pd, gboolean *ok, gboolean *announced,
          GError **error)
{
  BfcSpoolFile *f = pd->file;
  uint32_t cs = bfc_session_config(a->base.sess)->chunk_size;
  g_autofree uint8_t *buf = g_malloc(cs);
  g_autoptr(GError) err = NULL;
  g_autoptr(BfDigest) base = NULL, whole = NULL;
  uint8_t whole_digest[BF_DIGEST_LEN] = { 0 };
  uint64_t replay_id = f->item_id;
  BfcItem *it;
  gboolean stored = FALSE;

  /* Only stripe items have a base (braidfs-protocol(7)); the spool does
   * not hold the bytes before it. Kept for a mount that can send it. */
  if (f->base_size > 0 &&
      bfc_session_config(a->base.sess)->coding.kind != BF_CODING_STRIPE) {
    bfc_set_status_error(error, BF_ST_IO, "'%s' is an append, spooled by a "
                         "mount with coding=stripe, which only such a mount "
                         "can send: mount again with coding=stripe and "
                         "spool=%s", f->name, bfc_spool_dir(a->spool));
    *ok = *announced = FALSE;
    return FALSE;
  }
  if (f->base_size > 0) {
    if ((base = base_state(a, pd, error)) == NULL ||
        (replay_id != 0 && (whole = whole_state(f, base, cs, error)) == NULL)) {
      *ok = *announced = FALSE;
      return FALSE;
    }
    if (whole != NULL) {
      g_autoptr(BfDigest) end = bf_digest_copy(whole);
      bf_digest_final(end, whole_digest);
    }
  }
  it = start_item(a, pd, replay_id, base, whole_digest);
  *ok = *announced = TRUE;
  /* A file announced under an earlier mount's id: the server may hold it
   * already, whole or in part, or may never have seen it. */
  if (replay_id != 0 && !bfc_item_await_open(it, &stored, &err)) {
    *ok = g_error_matches(err, BFC_ERROR, BF_ST_NOT_FOUND);
    if (*ok) {
      g_clear_error(&err);
      bfc_item_discard(it);
      drop_item(a, pd);
      it = start_item(a, pd, 0, base, whole_digest);
    }
  }
  if (*ok && stored) {
    bfc_item_discard(it);
    drop_item(a, pd);
    bf_mutex_lock(&a->lock);
    pd->final_state = g_steal_pointer(&whole);
    bf_mutex_unlock(&a->lock);
    return FALSE;
  }
  for (uint64_t off = 0; *ok && off < f->size; off += cs) {
    gssize n = bfc_spool_file_read(f, buf, MIN((uint64_t)cs, f->size - off),
                                   off, &err);
    if (n == 0)
      bfc_set_status_error(&err, BF_ST_IO, "'%s' is shorter in the spool than "
                           "its header says", f->name);
    *ok = n > 0 && bfc_item_write(it, buf, (size_t)n, f->base_size + off, &err);
  }
  if (*ok) {
    bfc_item_set_final_attrs(it, f->mode, &f->mtime);
    if (bfc_item_seal(it, &err))
      return TRUE;
    *ok = FALSE;
  } else {
    bfc_item_cancel(it);
  }
  drop_item(a, pd);
  g_propagate_error(error, g_steal_pointer(&err));
  return FALSE;
}

/* What became of a delivery: the file leaves the spool, or waits for the
 * next attempt (under the same id when this one announced nothing: an
 * earlier mount's announcement may still be the one the server knows).
 * The spool's I/O is done without the lock: until the file is gone or
 * queued again it is still SENDING, so nobody else touches it. */
/* The server refused a file for being one too many (its max_open_items,
 * or all its descriptors in use): fewer at once, and one more again with
 * each file stored (outcome), as TCP's window. */
static void
fewer_locked(BfcAsync *a, const char *server) BF_REQUIRES(&a->lock)
{
  a->sealed_max = MAX(SEALED_MIN, MIN(a->sealed_max, a->sealed.length) * 3 / 4);
  if (!a->fewer_logged)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(a->base.sess, server, NULL),
           "server %s takes no more files at once (its max_open_items): "
           "sending at most %u at once, more again as it stores them",
           server, a->sealed_max);
  a->fewer_logged = TRUE;
}

static void
outcome(BfcAsync *a, Pending *pd, gboolean ok, gboolean announced,
        const GError *err)
{
  const char *server = bfc_session_server(a->base.sess);
  BfcSpoolFile *f = NULL;
  gboolean failed = FALSE;

  bf_mutex_lock(&a->lock);
  if (pd->cancelled) {
    f = bfc_async_gone_locked(a, pd, FALSE);
  } else if (ok) {
    a->delivered++;
    if (a->sealed_max < SEALED_MAX)
      a->sealed_max++;   /* back up after fewer_locked */
    f = bfc_async_gone_locked(a, pd, TRUE);
  } else if (bfc_error_is_permanent(err) ||
             g_error_matches(err, BFC_ERROR, BF_ST_STALE)) {
    a->failed++;
    failed = TRUE;
    f = bfc_async_gone_locked(a, pd, FALSE);
  }
  g_autofree char *name = g_strdup(pd->name);
  bf_mutex_unlock(&a->lock);
  if (a->dirs != NULL)
    bfc_async_dirs_kick(a->dirs);   /* its directory's time may go now */
  if (failed && g_error_matches(err, BFC_ERROR, BF_ST_STALE)) {
    g_autofree char *kept = bfc_spool_file_fail(f);
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(a->base.sess, server, name),
           "server %s refused the append to '%s': the stored file is no "
           "longer the version it appends to (changed or removed elsewhere: "
           "%s); only the appended bytes are kept, in %s (after its %u-byte "
           "header): append them to the file as it is now, or write the "
           "file whole again", server, name, err->message, kept,
           (unsigned)HDR_SIZE);
    return;
  }
  if (failed) {
    g_autofree char *kept = bfc_spool_file_fail(f);
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(a->base.sess, server, name),
           "server %s refused '%s' for good (%s); its bytes are kept in %s",
           server, name, err->message, kept);
    return;
  }
  if (f != NULL) {
    bfc_spool_file_remove(f);
    return;
  }
  /* The attempt is over (the item was cancelled on the server): the next
   * one starts afresh under a new id. */
  if (announced)
    bfc_spool_file_note_id(pd->file, 0);
  bfc_spool_file_park(pd->file);
  bf_mutex_lock(&a->lock);
  gboolean too_many = g_error_matches(err, BFC_ERROR, BF_ST_LIMIT);
  gint64 pause = too_many ? LIMIT_PAUSE_US
                 : MIN((gint64)G_USEC_PER_SEC << MIN(pd->tries, 5u), RETRY_MAX_US);
  if (too_many)
    fewer_locked(a, server);
  else
    pd->tries++;
  pd->not_before = g_get_monotonic_time() + pause;
  pd->state = PD_QUEUED;
  g_queue_push_tail(&a->queue, bfc_version_ref(&pd->base));
  if (!a->stopping && !too_many)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(a->base.sess, server, name),
           "server %s: '%s' not delivered yet (%s); trying again in %"
           G_GINT64_FORMAT " s (it stays in the spool)", server, name,
           err->message, pause / G_USEC_PER_SEC);
  g_cond_broadcast(&a->cond);
  bf_mutex_unlock(&a->lock);
}

/* The oldest queued file whose pause is over and that nobody edits, or
 * NULL. */
static Pending *
next_locked(BfcAsync *a, gint64 *wake) BF_REQUIRES(&a->lock)
{
  gint64 now = g_get_monotonic_time();

  *wake = now + G_USEC_PER_SEC;
  for (GList *l = a->queue.head; l != NULL; l = l->next) {
    Pending *pd = l->data;
    if (pd->not_before <= now && pd->busy == 0) {
      g_queue_delete_link(&a->queue, l);
      return pd;
    }
    /* A file being edited wakes the workers when its edit ends (the
     * broadcast in edit): its past not_before must not, or they would
     * spin on the lock the edit needs to finish. */
    if (pd->busy == 0)
      *wake = MIN(*wake, pd->not_before);
  }
  return NULL;
}

gpointer
bfc_async_sender(gpointer data)
{
  BfcAsync *a = data;
  Pending *pd;
  gint64 wake;

  bf_mutex_lock(&a->lock);
  while (!a->stopping) {
    if (a->sealed.length >= a->sealed_max) {
      bf_cond_wait(&a->cond, &a->lock);
      continue;
    }
    if ((pd = next_locked(a, &wake)) == NULL) {
      bf_cond_wait_until(&a->cond, &a->lock, wake);
      continue;
    }
    pd->state = PD_SENDING;
    bf_mutex_unlock(&a->lock);
    g_autoptr(GError) err = NULL;
    gboolean ok, announced, sealed = send_file(a, pd, &ok, &announced, &err);
    /* Sent or not, it holds no descriptor while it waits. */
    bfc_spool_file_park(pd->file);
    if (sealed) {
      bf_mutex_lock(&a->lock);
      g_queue_push_tail(&a->sealed, pd);   /* with the queue's reference */
      g_cond_broadcast(&a->cond);
      continue;
    }
    outcome(a, pd, ok, announced, err);
    bfc_version_unref(&pd->base);   /* the queue's reference */
    bf_mutex_lock(&a->lock);
  }
  bf_mutex_unlock(&a->lock);
  return NULL;
}

/* Settles the sealed files as their verdicts come: one thread, one wait
 * (one seat) for them all. Ends once the senders are gone and every
 * sealed file is settled (an unmount fails the waits: the files stay in
 * the spool). */
gpointer
bfc_async_collector(gpointer data)
{
  BfcAsync *a = data;
  BfcSession *s = a->base.sess;
  g_autoptr(GPtrArray) pds = g_ptr_array_new();
  g_autoptr(GPtrArray) items = g_ptr_array_new();
  BfcWait w;

  bfc_wait_init(&w, "stored the file");
  for (;;) {
    bf_mutex_lock(&a->lock);
    while (a->sealed.length == 0 && !a->senders_gone)
      bf_cond_wait(&a->cond, &a->lock);
    if (a->sealed.length == 0) {
      bf_mutex_unlock(&a->lock);
      break;
    }
    g_ptr_array_set_size(pds, 0);
    g_ptr_array_set_size(items, 0);
    for (GList *l = a->sealed.head; l != NULL; l = l->next) {
      Pending *pd = l->data;
      g_ptr_array_add(pds, pd);
      g_ptr_array_add(items, pd->item);
    }
    bf_mutex_unlock(&a->lock);
    /* The items stay referenced by their files until settled below, by
     * this thread only. */
    bfc_items_await_verdicts(s, (BfcItem **)items->pdata, items->len, &w);
    for (guint i = 0; i < pds->len; i++) {
      Pending *pd = pds->pdata[i];
      g_autoptr(GError) err = NULL;
      gboolean done, ok = bfc_item_settle(items->pdata[i], &done, &err);
      if (!done)
        continue;
      /* What a next append to it continues (delivery.h). */
      BfDigest *whole = ok ? bfc_item_whole_state(items->pdata[i]) : NULL;
      bf_mutex_lock(&a->lock);
      bf_digest_free(pd->final_state);
      pd->final_state = whole;
      g_queue_remove(&a->sealed, pd);
      g_cond_broadcast(&a->cond);
      bf_mutex_unlock(&a->lock);
      drop_item(a, pd);
      outcome(a, pd, ok, TRUE, err);
      bfc_version_unref(&pd->base);   /* the queue's reference */
    }
  }
  bfc_items_await_verdicts(s, NULL, 0, &w);
  return NULL;
}