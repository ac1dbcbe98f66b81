/* delivery=async (deliver-async.h). */
#include "deliver-async.h"

#include <string.h>

#include "async-dirs.h"
#include "async-send.h"
#include "item.h"
#include "ops.h"
#include "report.h"
#include "wait.h"

/* Waits until pd is not being sent and no header update of it is under way,
 * seated (wait.h). FALSE when refused. */
static gboolean
wait_idle_locked(BfcAsync *a, Pending *pd, gboolean refusable, GError **error)
  BF_REQUIRES(&a->lock)
{
  gboolean seated = FALSE;

  while (pd->state == PD_SENDING || pd->busy > 0) {
    if (!seated && !bfc_seat_take(a->base.sess, refusable, error))
      return FALSE;
    seated = TRUE;
    bf_cond_wait(&a->cond, &a->lock);
  }
  if (seated)
    bfc_seat_give(a->base.sess);
  return TRUE;
}


/* ---- versions ----------------------------------------------------------- */

static BfcVersion *
async_open(BfcDelivery *d, const char *name, uint32_t mode, GError **error)
{
  BfcAsync *a = as_async(d);
  BfcSpoolFile *f = bfc_spool_file_new(a->spool, name, mode, error);
  Pending *pd;

  if (f == NULL) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(d->sess, NULL, name), "%s",
           (*error)->message);
    return NULL;
  }
  pd = pending_wrap(a, f, PD_WRITING);
  bf_mutex_lock(&a->lock);
  g_hash_table_add(a->live, bfc_version_ref(&pd->base));
  bf_mutex_unlock(&a->lock);
  return &pd->base;
}

/* An append to the stored file of size bytes (delivery.h): the spooled
 * file holds only what follows it, and carries the base in its header
 * (spoolfmt.h), so that a later mount can still send it as an append. */
static BfcVersion *
async_open_append(BfcDelivery *d, const char *name, uint32_t mode,
                  uint64_t size, const BfDigest *state,
                  const uint8_t digest[BF_DIGEST_LEN], GError **error)
{
  BfcVersion *v = async_open(d, name, mode, error);

  if (v == NULL)
    return NULL;
  bfc_spool_file_set_base(pd_of(v)->file, size, bf_digest_alg(state), digest);
  pd_of(v)->base_state = bf_digest_copy(state);
  return v;
}

static void
async_version_free(BfcVersion *v)
{
  Pending *pd = pd_of(v);

  bf_digest_free(pd->base_state);
  bf_digest_free(pd->final_state);
  bfc_spool_file_free(pd->file);
  g_free(pd->name);
  g_free(pd);
}

static char *
async_name(BfcVersion *v)
{
  BfcAsync *a = async_of(pd_of(v));

  bf_mutex_lock(&a->lock);
  char *name = g_strdup(pd_of(v)->name);
  bf_mutex_unlock(&a->lock);
  return name;
}

/* The writer's side: only one descriptor is open on a file being written
 * (the outbox refuses a second open), and senders take only QUEUED files,
 * so its file is its own. */
static BfcSpoolFile *
writing_file(Pending *pd, GError **error)
{
  BfcAsync *a = async_of(pd);

  bf_mutex_lock(&a->lock);
  BfcSpoolFile *f = pd->state == PD_WRITING ? pd->file : NULL;
  bf_mutex_unlock(&a->lock);
  if (f == NULL)
    bfc_set_status_error(error, BF_ST_IO, "'%s' is closed", pd->name);
  return f;
}

/* An append's offsets count from its base (fixed when it was opened),
 * which this client does not hold. */
static gboolean
after_base(BfcSpoolFile *f, uint64_t *off, GError **error)
{
  return bfc_offset_after_base(f->name, f->base_size, FALSE, off, error);
}

static gboolean
async_write(BfcVersion *v, const void *buf, size_t len, uint64_t off,
            GError **error)
{
  BfcSpoolFile *f = writing_file(pd_of(v), error);

  return f != NULL && after_base(f, &off, error) &&
         bfc_spool_file_write(f, buf, len, off, error);
}

static gboolean
async_truncate(BfcVersion *v, uint64_t size, GError **error)
{
  BfcSpoolFile *f = writing_file(pd_of(v), error);

  return f != NULL && after_base(f, &size, error) &&
         bfc_spool_file_truncate(f, size, error);
}

static gboolean
async_keep_local(BfcVersion *v, GError **error)
{
  (void)v;
  (void)error;
  return TRUE;   /* its spooled file is the local copy */
}

/* Only the descriptor that writes it reads it (delivery.h), so the file
 * is its own, as for a write. */
static gssize
async_read(BfcVersion *v, void *buf, size_t len, uint64_t off, GError **error)
{
  BfcSpoolFile *f = writing_file(pd_of(v), error);
  uint64_t length;

  if (f == NULL)
    return -1;
  length = f->base_size + bfc_spool_file_length(f);
  if (len == 0 || off >= length)
    return 0;
  if (off < f->base_size) {   /* the stored part of an append */
    g_set_error(error, BFC_ERROR, BFC_ERROR_BUSY, "'%s' is being appended "
                "to: its first %" G_GUINT64_FORMAT " bytes are on the "
                "server, read them once it is closed", f->name, f->base_size);
    return -1;
  }
  off -= f->base_size;
  length -= f->base_size;
  return bfc_spool_file_read(f, buf, (size_t)MIN((uint64_t)len, length - off),
                             off, error);
}

static uint64_t
async_size(BfcVersion *v)
{
  Pending *pd = pd_of(v);
  BfcAsync *a = async_of(pd);

  /* Under the lock: the file is freed once it is gone. */
  bf_mutex_lock(&a->lock);
  uint64_t size = pd->file ? pd->file->base_size + bfc_spool_file_length(pd->file)
                           : pd->final_size;
  bf_mutex_unlock(&a->lock);
  return size;
}

static gboolean
async_flush(BfcVersion *v, GError **error)
{
  Pending *pd = pd_of(v);
  g_autoptr(GError) err = NULL;
  BfcSpoolFile *f = writing_file(pd, NULL);

  if (f == NULL || bfc_spool_file_commit(f, &err))
    return TRUE;
  g_autofree char *name = async_name(v);
  bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(v->d->sess, NULL, name),
         "'%s' not kept: %s", name, err->message);
  g_propagate_error(error, g_steal_pointer(&err));
  return FALSE;
}

static void
async_release(BfcVersion *v)
{
  Pending *pd = pd_of(v);
  BfcAsync *a = async_of(pd);
  BfcSpoolFile *f = NULL;
  gboolean keep;

  bf_mutex_lock(&a->lock);
  if (pd->state != PD_WRITING) {
    bf_mutex_unlock(&a->lock);
    return;
  }
  /* Never closed with success (the writer died), or unlinked: it goes. */
  keep = !pd->cancelled && pd->file->committed;
  if (!keep)
    f = bfc_async_gone_locked(a, pd, FALSE);
  bf_mutex_unlock(&a->lock);
  if (!keep) {
    bfc_spool_file_remove(f);
    return;
  }
  /* What a writer added after its last successful close(2) (one whose
   * later flush failed) was never promised; the committed version goes. */
  bfc_spool_file_revert(pd->file);
  bfc_spool_file_park(pd->file);   /* thousands may be queued */
  bf_mutex_lock(&a->lock);
  pd->state = PD_QUEUED;
  g_queue_push_tail(&a->queue, bfc_version_ref(&pd->base));
  g_cond_broadcast(&a->cond);
  bf_mutex_unlock(&a->lock);
}

static void
async_cancel(BfcVersion *v)
{
  Pending *pd = pd_of(v);
  BfcAsync *a = async_of(pd);
  BfcSpoolFile *f = NULL;
  BfcItem *it = NULL;

  bf_mutex_lock(&a->lock);
  pd->cancelled = TRUE;
  if (pd->state == PD_SENDING && pd->item != NULL)
    it = bfc_item_ref(pd->item);
  bf_mutex_unlock(&a->lock);
  /* Outside the lock: a close in progress holds the item until its
   * verdict. */
  if (it != NULL) {
    bfc_item_cancel(it);
    bfc_item_unref(it);
  }
  bf_mutex_lock(&a->lock);
  wait_idle_locked(a, pd, FALSE, NULL);
  if (pd->state == PD_QUEUED && g_queue_remove(&a->queue, pd)) {
    bfc_version_unref(&pd->base);
    f = bfc_async_gone_locked(a, pd, FALSE);
  }
  bf_mutex_unlock(&a->lock);
  if (f != NULL)
    bfc_spool_file_remove(f);
}

/* The one test of a spooled version's release (bfc_version_released):
 * it leaves WRITING at its RELEASE. */
static gboolean
pd_released_locked(BfcAsync *a, const Pending *pd) BF_REQUIRES(&a->lock)
{
  (void)a;
  return pd->state != PD_WRITING;
}

static gboolean
async_released(BfcVersion *v)
{
  BfcAsync *a = async_of(pd_of(v));

  bf_mutex_lock(&a->lock);
  gboolean released = pd_released_locked(a, pd_of(v));
  bf_mutex_unlock(&a->lock);
  return released;
}

static gboolean
async_gone(BfcVersion *v, gboolean *delivered, uint64_t *size)
{
  Pending *pd = pd_of(v);
  BfcAsync *a = async_of(pd);

  bf_mutex_lock(&a->lock);
  gboolean gone = pd->state == PD_GONE;
  *delivered = pd->delivered;
  *size = pd->final_size;
  bf_mutex_unlock(&a->lock);
  return gone;
}

static gboolean
async_digest(BfcVersion *v, uint8_t *alg, uint8_t out[BF_DIGEST_LEN])
{
  Pending *pd = pd_of(v);
  BfcAsync *a = async_of(pd);

  bf_mutex_lock(&a->lock);
  gboolean ok = pd->state == PD_GONE && pd->delivered && pd->final_alg != 0;
  if (ok)
    memcpy(out, pd->final_digest, BF_DIGEST_LEN);
  *alg = pd->final_alg;
  bf_mutex_unlock(&a->lock);
  return ok;
}

/* Only a stripe item's, as in delivery=close (deliver-close.c). */
static BfDigest *
async_digest_state(BfcVersion *v)
{
  Pending *pd = pd_of(v);
  BfcAsync *a = async_of(pd);

  if (bfc_session_config(a->base.sess)->coding.kind != BF_CODING_STRIPE)
    return NULL;
  bf_mutex_lock(&a->lock);
  BfDigest *d = pd->state == PD_GONE && pd->delivered && pd->final_state
                  ? bf_digest_copy(pd->final_state) : NULL;
  bf_mutex_unlock(&a->lock);
  return d;
}

/* Applies an edit to a file not yet sent: *on_server is TRUE if it was
 * delivered first. The header is rewritten (durably, for a file whose
 * writers are gone) with no lock but the file's own; meanwhile no sender
 * takes the file and other edits wait. */
static gboolean
edit(Pending *pd, const char *name, uint8_t flags, uint32_t mode,
     const struct timespec *mtime, gboolean *on_server, GError **error)
{
  BfcAsync *a = async_of(pd);

  *on_server = FALSE;
  bf_mutex_lock(&a->lock);
  if (!wait_idle_locked(a, pd, TRUE, error)) {
    bf_mutex_unlock(&a->lock);
    return FALSE;
  }
  if (pd->state == PD_GONE) {
    *on_server = pd->delivered;
    bf_mutex_unlock(&a->lock);
    if (!*on_server)
      bfc_set_status_error(error, BF_ST_NOT_FOUND, "'%s' was not delivered",
                           pd->name);
    return *on_server;
  }
  BfcSpoolFile *f = pd->file;
  gboolean durable = pd->state == PD_QUEUED;
  if (name != NULL) {
    g_free(pd->name);
    pd->name = g_strdup(name);
  }
  pd->busy++;
  bf_mutex_unlock(&a->lock);
  gboolean ok = bfc_spool_file_edit(f, name, flags, mode, mtime, durable, error);
  bf_mutex_lock(&a->lock);
  pd->busy--;
  g_cond_broadcast(&a->cond);
  bf_mutex_unlock(&a->lock);
  return ok;
}

static gboolean async_wait_prefix(BfcDelivery *d, const char *prefix,
                                  GError **error);

/* An append names its base by its name on the server: it is delivered
 * under that name first (the caller then renames it there). One still
 * being written cannot be renamed (EBUSY). */
static gboolean
append_delivered(Pending *pd, GError **error)
{
  BfcAsync *a = async_of(pd);

  bf_mutex_lock(&a->lock);
  gboolean append = pd->file != NULL && pd->file->base_size > 0;
  gboolean writing = pd->state == PD_WRITING;
  g_autofree char *name = g_strdup(pd->name);
  bf_mutex_unlock(&a->lock);
  if (append && writing) {
    g_set_error(error, BFC_ERROR, BFC_ERROR_BUSY, "'%s' is being appended "
                "to; rename it once it is closed", name);
    return FALSE;
  }
  return !append || async_wait_prefix(&a->base, name, error);
}

static gboolean
async_rename(BfcVersion *v, const char *from, const char *to,
             gboolean older_on_server, gboolean *on_server, GError **error)
{
  g_autoptr(GError) err = NULL;

  if (!append_delivered(pd_of(v), error) ||
      !edit(pd_of(v), to, 0, 0, NULL, on_server, error))
    return FALSE;
  if (*on_server || !older_on_server)
    return TRUE;
  /* The spooled copy goes under its new name: an older delivered version
   * under the old name must not stay. */
  if (bfc_op(v->d->sess, BF_OP_UNLINK, from, NULL, 0, &err) ||
      g_error_matches(err, BFC_ERROR, BF_ST_NOT_FOUND))
    return TRUE;
  g_propagate_error(error, g_steal_pointer(&err));
  return FALSE;
}

static gboolean
async_setattr(BfcVersion *v, uint8_t flags, uint32_t mode,
              const struct timespec *mtime, gboolean *on_server, GError **error)
{
  return edit(pd_of(v), NULL, flags, mode, mtime, on_server, error);
}

/* ---- delivering --------------------------------------------------------- */


/* ---- the delivery ------------------------------------------------------- */

static GPtrArray *
async_recovered(BfcDelivery *d)
{
  return as_async(d)->recovered;
}

static void
async_start(BfcDelivery *d)
{
  BfcAsync *a = as_async(d);

  /* An earlier mount's directories go before any file (async-dirs.h). */
  bfc_async_dirs_start(a->dirs);
  for (unsigned i = 0; i < SENDERS; i++)
    a->senders[i] = g_thread_new("deliver", bfc_async_sender, a);
  a->collector = g_thread_new("verdicts", bfc_async_collector, a);
}

static void
async_stop(BfcDelivery *d)
{
  BfcAsync *a = as_async(d);

  bf_mutex_lock(&a->lock);
  a->stopping = TRUE;
  g_cond_broadcast(&a->cond);
  bf_mutex_unlock(&a->lock);
  bfc_async_dirs_stop(a->dirs);
  /* Senders blocked on the server give up their file, and the sealed
   * files' waits fail (they stay). */
  bfc_session_abort(d->sess);
  for (unsigned i = 0; i < SENDERS; i++)
    if (a->senders[i] != NULL)
      g_thread_join(g_steal_pointer(&a->senders[i]));
  bf_mutex_lock(&a->lock);
  a->senders_gone = TRUE;
  g_cond_broadcast(&a->cond);
  bf_mutex_unlock(&a->lock);
  if (a->collector != NULL)
    g_thread_join(g_steal_pointer(&a->collector));
  bf_mutex_lock(&a->lock);
  guint left = g_hash_table_size(a->live);
  bf_mutex_unlock(&a->lock);
  if (left > 0)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(d->sess, NULL, NULL),
           "spool %s: %u files not delivered yet stay in the spool; mount "
           "again with spool=%s to deliver them", bfc_spool_dir(a->spool),
           left, bfc_spool_dir(a->spool));
}

static void
async_free(BfcDelivery *d)
{
  BfcAsync *a = as_async(d);
  Pending *pd;
  GHashTableIter iter;
  gpointer k;

  while ((pd = g_queue_pop_head(&a->queue)) != NULL)
    bfc_version_unref(&pd->base);
  g_hash_table_iter_init(&iter, a->live);
  while (g_hash_table_iter_next(&iter, &k, NULL))
    bfc_version_unref(k);
  g_hash_table_unref(a->live);
  g_ptr_array_unref(a->recovered);
  bfc_async_dirs_free(a->dirs);
  bfc_spool_close(a->spool);
  g_cond_clear(&a->cond);
  bf_mutex_clear(&a->lock);
  g_free(a);
}

static gboolean
busy_under_locked(BfcAsync *a, const char *prefix, gboolean closed_too)
  BF_REQUIRES(&a->lock)
{
  GHashTableIter iter;
  gpointer k;

  g_hash_table_iter_init(&iter, a->live);
  while (g_hash_table_iter_next(&iter, &k, NULL)) {
    Pending *pd = k;
    gboolean released = pd_released_locked(a, pd);
    /* closed: a close(2) of it returned (its bytes are committed) */
    gboolean closed = !released && closed_too && pd->file != NULL &&
                      pd->file->committed;
    if ((released || closed) && g_str_has_prefix(pd->name, prefix))
      return TRUE;
  }
  return FALSE;
}

static gboolean
async_wait_prefix(BfcDelivery *d, const char *prefix, GError **error)
{
  BfcAsync *a = as_async(d);
  gint64 limit = bfc_session_config(d->sess)->timeout_s * G_USEC_PER_SEC;
  gint64 progress = g_get_monotonic_time();
  /* A file closed whose RELEASE has not come yet (client.h) is on its
   * way too: cp -a sets a directory's mtime right after its last file. */
  gint64 released_by = progress + BFC_RELEASE_WAIT_US;
  gboolean ok = TRUE, seated = FALSE;
  unsigned done;

  bf_mutex_lock(&a->lock);
  done = a->delivered + a->failed;
  while (ok && !a->stopping &&
         (busy_under_locked(a, prefix, g_get_monotonic_time() < released_by) ||
          bfc_async_dirs_waiting_under(a->dirs, prefix))) {
    gint64 now = g_get_monotonic_time();
    if (a->delivered + a->failed != done) {
      done = a->delivered + a->failed;
      progress = now;
    }
    /* A server that stores nothing must not hold the rename forever. */
    if (now - progress >= limit) {
      bf_log(G_LOG_LEVEL_WARNING,
             BFC_LOG(d->sess, bfc_session_server(d->sess), prefix),
             "spool %s: files under '%s' are still being delivered to "
             "server %s, which has stored none for %" G_GINT64_FORMAT
             " s; the directory is not renamed (EBUSY)",
             bfc_spool_dir(a->spool), prefix, bfc_session_server(d->sess),
             limit / G_USEC_PER_SEC);
      g_set_error(error, BFC_ERROR, BFC_ERROR_BUSY, "files under '%s' are "
                  "still being delivered", prefix);
      ok = FALSE;
    } else if (!seated && !bfc_seat_take(d->sess, TRUE, error)) {
      ok = FALSE;
    } else {
      seated = TRUE;
      bf_cond_wait_until(&a->cond, &a->lock, MIN(now + G_USEC_PER_SEC,
                                                 progress + limit));
    }
  }
  bf_mutex_unlock(&a->lock);
  if (seated)
    bfc_seat_give(d->sess);
  return ok;
}

static char *
async_describe(BfcDelivery *d)
{
  BfcAsync *a = as_async(d);
  GHashTableIter iter;
  gpointer k;
  static const char *const columns[] = { "key", "value", NULL };
  unsigned pending = 0, sending = 0, writing = 0, delivered, failed;
  uint64_t bytes = 0;
  BfcReport r;

  bf_mutex_lock(&a->lock);
  delivered = a->delivered;
  failed = a->failed;
  g_hash_table_iter_init(&iter, a->live);
  while (g_hash_table_iter_next(&iter, &k, NULL)) {
    Pending *pd = k;
    if (pd->state == PD_WRITING) {
      writing++;
      continue;
    }
    pending++;
    sending += pd->state == PD_SENDING;
    bytes += pd->file->size;
  }
  bf_mutex_unlock(&a->lock);
  bfc_report_init(&r, columns);
  bfc_report_pair(&r, "spool", "%s", bfc_spool_dir(a->spool));
  bfc_report_pair(&r, "pending", "%u", pending);
  bfc_report_pair(&r, "pending_bytes", "%" G_GUINT64_FORMAT, bytes);
  bfc_report_pair(&r, "sending", "%u", sending);
  bfc_report_pair(&r, "writing", "%u", writing);
  bfc_report_pair(&r, "delivered", "%u", delivered);
  bfc_report_pair(&r, "failed", "%u", failed);
  bfc_report_pair(&r, "dirs_pending", "%u",
                  bfc_async_dirs_pending(a->dirs));
  bfc_report_pair(&r, "early_flushes", "%" G_GUINT64_FORMAT,
                  bf_flusher_done(bfc_spool_dir_of(a->spool)->flusher));
  return bfc_report_finish(&r);
}

/* A spool that fills up refuses new files before the server's store
 * does: df shows the smaller of the two (outbox.c). */
static gboolean
async_local_space(BfcDelivery *d, struct statvfs *st)
{
  return statvfs(bfc_spool_dir(as_async(d)->spool), st) == 0;
}

static gboolean
async_mkdir(BfcDelivery *d, const char *name, uint32_t mode, GError **error)
{
  BfcAsync *a = as_async(d);

  if (bfc_async_dirs_mkdir(a->dirs, name, mode, error))
    return TRUE;
  bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(d->sess, NULL, name), "%s",
         (*error)->message);
  return FALSE;
}

static gboolean
async_dir_setattr(BfcDelivery *d, const char *name, uint8_t flags,
                  uint32_t mode, const struct timespec *mtime, GError **error)
{
  BfcAsync *a = as_async(d);

  if (bfc_async_dirs_setattr(a->dirs, name, flags, mode, mtime, error))
    return TRUE;
  bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(d->sess, NULL, name), "%s",
         (*error)->message);
  return FALSE;
}

/* For async-dirs: the files under prefix on their way, those closed whose
 * RELEASE has not come yet included. */
static gboolean
dirs_busy(gpointer user, const char *prefix)
{
  BfcAsync *a = user;

  bf_mutex_lock(&a->lock);
  gboolean busy = busy_under_locked(a, prefix, TRUE);
  bf_mutex_unlock(&a->lock);
  return busy;
}

static void
dirs_posted(gpointer user)
{
  BfcAsync *a = user;

  bf_mutex_lock(&a->lock);
  g_cond_broadcast(&a->cond);
  bf_mutex_unlock(&a->lock);
}

static const BfcDeliveryOps async_ops = {
  .start = async_start,
  .stop = async_stop,
  .free = async_free,
  .recovered = async_recovered,
  .wait_prefix = async_wait_prefix,
  .mkdir = async_mkdir,
  .dir_setattr = async_dir_setattr,
  .describe = async_describe,
  .local_space = async_local_space,
  .open = async_open,
  .open_append = async_open_append,
  .version_free = async_version_free,
  .name = async_name,
  .write = async_write,
  .truncate = async_truncate,
  .keep_local = async_keep_local,
  .read = async_read,
  .size = async_size,
  .flush = async_flush,
  .release = async_release,
  .cancel = async_cancel,
  .released = async_released,
  .gone = async_gone,
  .digest = async_digest,
  .digest_state = async_digest_state,
  .rename = async_rename,
  .setattr = async_setattr,
};

BfcDelivery *
bfc_deliver_async_new(BfcSpool *sp, GError **error)
{
  BfcAsync *a = g_new0(BfcAsync, 1);
  g_autoptr(GPtrArray) files = NULL;

  a->base.ops = &async_ops;
  bf_mutex_init(&a->lock);
  g_cond_init(&a->cond);
  g_queue_init(&a->queue);
  g_queue_init(&a->sealed);
  a->sealed_max = SEALED_MAX;
  a->live = g_hash_table_new(NULL, NULL);
  a->recovered = g_ptr_array_new_with_free_func((GDestroyNotify)bfc_version_unref);
  a->dirs = bfc_async_dirs_new(bfc_spool_dir_of(sp), dirs_busy, dirs_posted,
                               a, error);
  if (a->dirs == NULL || (files = bfc_spool_recover(sp, error)) == NULL) {
    bfc_spool_refuse_mount(error);
    async_free(&a->base);   /* a->spool unset: sp stays the caller's */
    return NULL;
  }
  a->spool = sp;
  for (guint i = 0; i < files->len; i++) {
    Pending *pd = pending_wrap(a, files->pdata[i], PD_QUEUED);
    g_hash_table_add(a->live, bfc_version_ref(&pd->base));
    g_queue_push_tail(&a->queue, bfc_version_ref(&pd->base));
    g_ptr_array_add(a->recovered, pd);
  }
  return &a->base;
}

void
bfc_deliver_async_attach(BfcDelivery *d, BfcSession *s)
{
  BfcAsync *a = as_async(d);

  d->sess = s;
  bfc_async_dirs_attach(a->dirs, s);
  if (a->recovered->len > 0)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, NULL, NULL),
           "spool %s: %u files from an earlier mount to deliver",
           bfc_spool_dir(a->spool), a->recovered->len);
}
