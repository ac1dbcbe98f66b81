/* Sending spooled files, and their verdicts (async-send.h). */
#include "async-send.h"

#include <string.h>

#include "writer.h"

BfcSpoolFile *
bfc_async_gone_locked(BfcAsync *a, Pending *pd, gboolean delivered)
{
  BfcSpoolFile *f = g_steal_pointer(&pd->file);

  pd->state = PD_GONE;
  pd->delivered = delivered;
  pd->final_size = f->size;
  memcpy(pd->final_digest, f->digest, BF_DIGEST_LEN);
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

/* Announces the file as an item (under replay_id if not 0). */
static BfcItem *
start_item(BfcAsync *a, Pending *pd, uint64_t replay_id)
{
  BfcSpoolFile *f = pd->file;
  BfcReplay replay = { replay_id, f->size, f->digest };
  BfcItem *it = bfc_item_new_spooled(a->base.sess, f->name, f->mode,
                                     replay_id != 0 ? &replay : NULL,
                                     note_id, f);

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
 * server had stored already, or a failure with error). */
static gboolean
send_file(BfcAsync *a, Pending *pd, gboolean *ok, GError **error)
{
  BfcSpoolFile *f = pd->file;
  uint32_t cs = bfc_session_config(a->base.sess)->chunk_size;
  g_autofree uint8_t *buf = g_malloc(cs);
  g_autoptr(GError) err = NULL;
  uint64_t replay_id = f->item_id;
  BfcItem *it = start_item(a, pd, replay_id);
  gboolean stored = FALSE;

  *ok = TRUE;
  /* A file announced under an earlier mount's id: the server may hold it
   * already, whole or in part, or may never have seen it. */
  if (replay_id != 0 && !bfc_item_await_open(it, &stored, &err)) {
    *ok = g_error_matches(err, BFC_ERROR, BF_ST_NOT_FOUND);
    if (*ok) {
      g_clear_error(&err);
      bfc_item_discard(it);
      drop_item(a, pd);
      it = start_item(a, pd, 0);
    }
  }
  if (*ok && stored) {
    bfc_item_discard(it);
    drop_item(a, pd);
    return FALSE;
  }
  for (uint64_t off = 0; *ok && off < f->size; off += cs) {
    gssize n = bfc_spool_file_read(f, buf, MIN((uint64_t)cs, f->size - off),
                                   off, &err);
    if (n == 0)
      bfc_set_status_error(&err, BF_ST_IO, "'%s' is shorter in the spool than "
                           "its header says", f->name);
    *ok = n > 0 && bfc_item_write(it, buf, (size_t)n, off, &err);
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
 * next attempt. The spool's I/O is done without the lock: until the file
 * is gone or queued again it is still SENDING, so nobody else touches it. */
static void
outcome(BfcAsync *a, Pending *pd, gboolean ok, const GError *err)
{
  const char *server = bfc_session_server(a->base.sess);
  BfcSpoolFile *f = NULL;
  gboolean failed = FALSE;

  bf_mutex_lock(&a->lock);
  if (pd->cancelled) {
    f = bfc_async_gone_locked(a, pd, FALSE);
  } else if (ok) {
    a->delivered++;
    f = bfc_async_gone_locked(a, pd, TRUE);
  } else if (bfc_error_is_permanent(err)) {
    a->failed++;
    failed = TRUE;
    f = bfc_async_gone_locked(a, pd, FALSE);
  }
  g_autofree char *name = g_strdup(pd->name);
  bf_mutex_unlock(&a->lock);
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
  bfc_spool_file_note_id(pd->file, 0);
  bfc_spool_file_park(pd->file);
  bf_mutex_lock(&a->lock);
  gint64 pause = MIN((gint64)G_USEC_PER_SEC << MIN(pd->tries, 5u), RETRY_MAX_US);
  pd->tries++;
  pd->not_before = g_get_monotonic_time() + pause;
  pd->state = PD_QUEUED;
  g_queue_push_tail(&a->queue, bfc_version_ref(&pd->base));
  if (!a->stopping)
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
    if (a->sealed.length >= SEALED_MAX) {
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
    gboolean ok, sealed = send_file(a, pd, &ok, &err);
    /* Sent or not, it holds no descriptor while it waits. */
    bfc_spool_file_park(pd->file);
    if (sealed) {
      bf_mutex_lock(&a->lock);
      g_queue_push_tail(&a->sealed, pd);   /* with the queue's reference */
      g_cond_broadcast(&a->cond);
      continue;
    }
    outcome(a, pd, ok, err);
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
      bf_mutex_lock(&a->lock);
      g_queue_remove(&a->sealed, pd);
      g_cond_broadcast(&a->cond);
      bf_mutex_unlock(&a->lock);
      drop_item(a, pd);
      outcome(a, pd, ok, err);
      bfc_version_unref(&pd->base);   /* the queue's reference */
    }
  }
  bfc_items_await_verdicts(s, NULL, 0, &w);
  return NULL;
}