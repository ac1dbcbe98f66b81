/* delivery=async (see deliver.h). */
#include "deliver.h"

#include <errno.h>
#include <string.h>

#include "session.h"
#include "writer.h"

/* Files delivered at once: small files pipeline over the paths instead of
 * waiting one round trip and one server fsync each. */
#define WORKERS 8
/* A file that could not be delivered now (every path down, server full)
 * is tried again after a pause that doubles up to this. */
#define RETRY_MAX_US (30 * G_USEC_PER_SEC)

typedef enum { PD_WRITING, PD_QUEUED, PD_SENDING, PD_GONE } PdState;

struct BfcPending {
  gint refs;
  BfcSpoolFile *file;         /* NULL once gone */
  char *name;                 /* a copy for callers, under d->lock */
  PdState state;
  gboolean cancelled;
  gboolean delivered;
  BfcItem *item;              /* while SENDING */
  uint64_t final_size;        /* its size when it left the spool */
  unsigned tries;
  gint64 not_before;          /* monotonic time of the next attempt */
};

struct BfcDelivery {
  BfcSession *sess;
  BfcSpool *spool;
  GMutex lock;
  GCond cond;                 /* queue changes and outcomes */
  GQueue queue;               /* BfcPending* QUEUED, oldest first */
  GPtrArray *recovered;
  GHashTable *live;           /* BfcPending* in the spool, not gone */
  unsigned delivered;
  unsigned failed;
  GThread *workers[WORKERS];
  gboolean stopping;
};

/* ---- one spooled file --------------------------------------------------- */

static BfcPending *
pending_wrap(BfcSpoolFile *f, PdState state)
{
  BfcPending *pd = g_new0(BfcPending, 1);

  pd->refs = 1;
  pd->file = f;
  pd->name = g_strdup(f->name);
  pd->state = state;
  return pd;
}

BfcPending *
bfc_pending_ref(BfcPending *pd)
{
  g_atomic_int_inc(&pd->refs);
  return pd;
}

void
bfc_pending_unref(BfcPending *pd)
{
  if (pd == NULL || !g_atomic_int_dec_and_test(&pd->refs))
    return;
  bfc_spool_file_free(pd->file);
  g_free(pd->name);
  g_free(pd);
}

const char *
bfc_pending_name(BfcPending *pd)
{
  return pd->name;
}

BfcPending *
bfc_pending_new(BfcDelivery *d, const char *name, uint32_t mode, int *err)
{
  g_autoptr(GError) error = NULL;
  BfcSpoolFile *f = bfc_spool_file_new(d->spool, name, mode, &error);
  BfcPending *pd;

  if (f == NULL) {
    g_warning("%s", error->message);
    *err = error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOSPC
           ? ENOSPC : EIO;
    return NULL;
  }
  pd = pending_wrap(f, PD_WRITING);
  g_mutex_lock(&d->lock);
  g_hash_table_add(d->live, bfc_pending_ref(pd));
  g_mutex_unlock(&d->lock);
  return pd;
}

/* The writer's side needs no lock: only one descriptor is open on a file
 * still being written (the outbox refuses a second open), and workers
 * touch only QUEUED files. */
int
bfc_pending_write(BfcPending *pd, const void *buf, size_t len, uint64_t off)
{
  return pd->state == PD_WRITING ? bfc_spool_file_write(pd->file, buf, len, off)
                                 : -EIO;
}

int
bfc_pending_truncate(BfcPending *pd, uint64_t size)
{
  return pd->state == PD_WRITING ? bfc_spool_file_truncate(pd->file, size) : -EIO;
}

uint64_t
bfc_pending_size(BfcPending *pd)
{
  return pd->file ? bfc_spool_file_size(pd->file) : pd->final_size;
}

int
bfc_pending_commit(BfcDelivery *d, BfcPending *pd)
{
  int rc;

  if (pd->state != PD_WRITING)
    return 0;
  rc = bfc_spool_file_commit(pd->file);
  if (rc < 0)
    g_warning("spool %s: cannot keep '%s': %s", bfc_spool_dir(d->spool),
              pd->name, g_strerror(-rc));
  return rc;
}

/* Called with d->lock held; pd leaves the spool. */
static void
gone_locked(BfcDelivery *d, BfcPending *pd, gboolean delivered)
{
  pd->state = PD_GONE;
  pd->delivered = delivered;
  pd->final_size = pd->file->size;
  pd->file = NULL;
  if (g_hash_table_remove(d->live, pd))
    bfc_pending_unref(pd);
  g_cond_broadcast(&d->cond);
}

static void
remove_locked(BfcDelivery *d, BfcPending *pd)
{
  BfcSpoolFile *f = pd->file;

  gone_locked(d, pd, FALSE);
  bfc_spool_file_remove(f);
}

void
bfc_pending_release(BfcDelivery *d, BfcPending *pd)
{
  g_mutex_lock(&d->lock);
  if (pd->state == PD_WRITING && (pd->cancelled || !pd->file->committed)) {
    /* Never closed with success (the writer died), or unlinked. */
    remove_locked(d, pd);
  } else if (pd->state == PD_WRITING) {
    /* What a writer added after its last successful close(2) (one whose
     * later flush failed) was never promised; the committed version goes. */
    bfc_spool_file_revert(pd->file);
    pd->state = PD_QUEUED;
    g_queue_push_tail(&d->queue, bfc_pending_ref(pd));
    g_cond_broadcast(&d->cond);
  }
  g_mutex_unlock(&d->lock);
}

static void
wait_not_sending_locked(BfcDelivery *d, BfcPending *pd)
{
  while (pd->state == PD_SENDING)
    g_cond_wait(&d->cond, &d->lock);
}

void
bfc_pending_cancel(BfcDelivery *d, BfcPending *pd)
{
  BfcItem *it = NULL;

  g_mutex_lock(&d->lock);
  pd->cancelled = TRUE;
  if (pd->state == PD_SENDING && pd->item != NULL)
    it = bfc_item_ref(pd->item);
  g_mutex_unlock(&d->lock);
  /* Outside the lock: a close in progress holds the item until its
   * verdict. */
  if (it != NULL) {
    bfc_item_cancel(it);
    bfc_item_unref(it);
  }
  g_mutex_lock(&d->lock);
  wait_not_sending_locked(d, pd);
  if (pd->state == PD_QUEUED && g_queue_remove(&d->queue, pd)) {
    bfc_pending_unref(pd);
    remove_locked(d, pd);
  }
  g_mutex_unlock(&d->lock);
}

/* Applies an edit to a file not yet sent; 1 if it was delivered first. */
static int
edit(BfcDelivery *d, BfcPending *pd, const char *name, uint8_t flags,
     uint32_t mode, const struct timespec *mtime)
{
  int rc = 0;

  g_mutex_lock(&d->lock);
  wait_not_sending_locked(d, pd);
  if (pd->state == PD_GONE) {
    rc = pd->delivered ? 1 : -ENOENT;
  } else {
    BfcSpoolFile *f = pd->file;
    if (name != NULL) {
      g_free(f->name);
      f->name = g_strdup(name);
      g_free(pd->name);
      pd->name = g_strdup(name);
    }
    if (flags & BF_SETATTR_MODE)
      f->mode = mode & 07777;
    if (flags & BF_SETATTR_MTIME)
      f->mtime = *mtime;
    /* While it is written, the header follows at its next commit. */
    if (pd->state == PD_QUEUED)
      rc = bfc_spool_file_update(f);
  }
  g_mutex_unlock(&d->lock);
  return rc;
}

int
bfc_pending_rename(BfcDelivery *d, BfcPending *pd, const char *name)
{
  return edit(d, pd, name, 0, 0, NULL);
}

int
bfc_pending_setattr(BfcDelivery *d, BfcPending *pd, uint8_t flags,
                    uint32_t mode, const struct timespec *mtime)
{
  return edit(d, pd, NULL, flags, mode, mtime);
}

gboolean
bfc_pending_is_open(BfcPending *pd)
{
  return pd->state == PD_WRITING;
}

gboolean
bfc_pending_gone(BfcPending *pd, gboolean *delivered)
{
  *delivered = pd->delivered;
  return pd->state == PD_GONE;
}

/* ---- delivering --------------------------------------------------------- */

static void
note_id(void *data, uint64_t id)
{
  bfc_spool_file_note_id(data, id);
}

/* Announces the file as an item (under replay_id if not 0). */
static BfcItem *
start_item(BfcDelivery *d, BfcPending *pd, uint64_t replay_id)
{
  BfcSpoolFile *f = pd->file;
  BfcItem *it = bfc_item_new_spooled(d->sess, f->name, f->mode, replay_id,
                                     note_id, f);

  g_mutex_lock(&d->lock);
  pd->item = it;
  gboolean cancelled = pd->cancelled;
  g_mutex_unlock(&d->lock);
  if (cancelled)
    bfc_item_cancel(it);
  return it;
}

/* Sends one spooled file and waits for the server's verdict: 0 or -errno. */
static int
deliver(BfcDelivery *d, BfcPending *pd)
{
  BfcSpoolFile *f = pd->file;
  uint32_t cs = bfc_session_config(d->sess)->chunk_size;
  g_autofree uint8_t *buf = g_malloc(cs);
  uint64_t replay_id = f->item_id;
  BfcItem *it = start_item(d, pd, replay_id);
  int rc = 0;

  /* A file announced under an earlier mount's id: the server may hold it
   * already, whole or in part, or may never have seen it. */
  g_autoptr(GError) error = NULL;
  gboolean stored = FALSE;
  if (replay_id != 0 && !bfc_item_await_open(it, &stored, &error))
    rc = -bfc_error_errno(error);
  g_clear_error(&error);
  if (stored) {
    bfc_item_discard(it);
    rc = 0;
    goto out;
  }
  if (rc == -ENOENT) {
    bfc_item_discard(it);
    bfc_item_unref(it);
    it = start_item(d, pd, 0);
    rc = 0;
  }
  for (uint64_t off = 0; rc == 0 && off < f->size; off += cs) {
    ssize_t n = bfc_spool_file_read(f, buf, MIN((uint64_t)cs, f->size - off), off);
    if (n > 0 && !bfc_item_write(it, buf, (size_t)n, off, &error))
      rc = -bfc_error_errno(error);
    else if (n <= 0)
      rc = n < 0 ? (int)n : -EIO;
    g_clear_error(&error);
  }
  if (rc == 0) {
    bfc_item_set_final_attrs(it, f->mode, &f->mtime);
    if (!bfc_item_close(it, &error))
      rc = -bfc_error_errno(error);
  } else {
    bfc_item_cancel(it);
  }
out:
  g_mutex_lock(&d->lock);
  pd->item = NULL;
  g_mutex_unlock(&d->lock);
  bfc_item_unref(it);
  return rc;
}

/* Refusals no retry can change. */
static gboolean
is_permanent(int err)
{
  return err == EINVAL || err == EFBIG || err == EEXIST || err == EISDIR ||
         err == ENOTDIR || err == ENAMETOOLONG;
}

static void
outcome_locked(BfcDelivery *d, BfcPending *pd, int rc)
{
  const char *server = bfc_session_server(d->sess);

  if (pd->cancelled) {
    remove_locked(d, pd);
  } else if (rc == 0) {
    d->delivered++;
    BfcSpoolFile *f = pd->file;
    gone_locked(d, pd, TRUE);
    bfc_spool_file_remove(f);
  } else if (is_permanent(-rc)) {
    BfcSpoolFile *f = pd->file;
    gone_locked(d, pd, FALSE);
    g_autofree char *kept = bfc_spool_file_fail(f);
    d->failed++;
    g_warning("server %s refused '%s' for good (%s); its bytes are kept in %s",
              server, pd->name, g_strerror(-rc), kept);
  } else {
    /* The attempt is over (the item was cancelled on the server): the next
     * one starts afresh under a new id. */
    bfc_spool_file_note_id(pd->file, 0);
    gint64 pause = MIN((gint64)G_USEC_PER_SEC << MIN(pd->tries, 5u), RETRY_MAX_US);
    pd->tries++;
    pd->not_before = g_get_monotonic_time() + pause;
    pd->state = PD_QUEUED;
    g_queue_push_tail(&d->queue, bfc_pending_ref(pd));
    if (!d->stopping)
      g_message("server %s: '%s' not delivered yet (%s); trying again in %"
                G_GINT64_FORMAT " s (it stays in the spool)", server, pd->name,
                g_strerror(-rc), pause / G_USEC_PER_SEC);
  }
  g_cond_broadcast(&d->cond);
}

/* The oldest queued file whose pause is over, or NULL. */
static BfcPending *
next_locked(BfcDelivery *d, gint64 *wake)
{
  gint64 now = g_get_monotonic_time();

  *wake = now + G_USEC_PER_SEC;
  for (GList *l = d->queue.head; l != NULL; l = l->next) {
    BfcPending *pd = l->data;
    if (pd->not_before <= now) {
      g_queue_delete_link(&d->queue, l);
      return pd;
    }
    *wake = MIN(*wake, pd->not_before);
  }
  return NULL;
}

static gpointer
worker(gpointer data)
{
  BfcDelivery *d = data;
  BfcPending *pd;
  gint64 wake;

  g_mutex_lock(&d->lock);
  while (!d->stopping) {
    if ((pd = next_locked(d, &wake)) == NULL) {
      g_cond_wait_until(&d->cond, &d->lock, wake);
      continue;
    }
    pd->state = PD_SENDING;
    g_mutex_unlock(&d->lock);
    int rc = deliver(d, pd);
    g_mutex_lock(&d->lock);
    outcome_locked(d, pd, rc);
    bfc_pending_unref(pd);   /* the queue's reference */
  }
  g_mutex_unlock(&d->lock);
  return NULL;
}

/* ---- the whole ---------------------------------------------------------- */

BfcDelivery *
bfc_delivery_new(BfcSession *s, BfcSpool *sp)
{
  BfcDelivery *d = g_new0(BfcDelivery, 1);
  g_autoptr(GPtrArray) files = bfc_spool_recover(sp);

  d->sess = s;
  d->spool = sp;
  g_mutex_init(&d->lock);
  g_cond_init(&d->cond);
  g_queue_init(&d->queue);
  d->live = g_hash_table_new(NULL, NULL);
  d->recovered = g_ptr_array_new_with_free_func((GDestroyNotify)bfc_pending_unref);
  for (guint i = 0; i < files->len; i++) {
    BfcPending *pd = pending_wrap(files->pdata[i], PD_QUEUED);
    g_hash_table_add(d->live, bfc_pending_ref(pd));
    g_queue_push_tail(&d->queue, bfc_pending_ref(pd));
    g_ptr_array_add(d->recovered, pd);
  }
  if (files->len > 0)
    g_message("spool %s: %u files from an earlier mount to deliver",
              bfc_spool_dir(sp), files->len);
  return d;
}

GPtrArray *
bfc_delivery_recovered(BfcDelivery *d)
{
  return d->recovered;
}

void
bfc_delivery_start(BfcDelivery *d)
{
  for (unsigned i = 0; i < WORKERS; i++)
    d->workers[i] = g_thread_new("deliver", worker, d);
}

void
bfc_delivery_stop(BfcDelivery *d)
{
  g_mutex_lock(&d->lock);
  d->stopping = TRUE;
  g_cond_broadcast(&d->cond);
  g_mutex_unlock(&d->lock);
  /* Workers blocked on the server give up their file (it stays). */
  bfc_session_abort(d->sess);
  for (unsigned i = 0; i < WORKERS; i++)
    if (d->workers[i] != NULL)
      g_thread_join(g_steal_pointer(&d->workers[i]));
  g_mutex_lock(&d->lock);
  guint left = g_hash_table_size(d->live);
  g_mutex_unlock(&d->lock);
  if (left > 0)
    g_message("spool %s: %u files not delivered yet stay in the spool; mount "
              "again with spool=%s to deliver them", bfc_spool_dir(d->spool),
              left, bfc_spool_dir(d->spool));
}

void
bfc_delivery_free(BfcDelivery *d)
{
  BfcPending *pd;
  GHashTableIter iter;
  gpointer k;

  if (d == NULL)
    return;
  while ((pd = g_queue_pop_head(&d->queue)) != NULL)
    bfc_pending_unref(pd);
  g_hash_table_iter_init(&iter, d->live);
  while (g_hash_table_iter_next(&iter, &k, NULL))
    bfc_pending_unref(k);
  g_hash_table_unref(d->live);
  g_ptr_array_unref(d->recovered);
  bfc_spool_close(d->spool);
  g_cond_clear(&d->cond);
  g_mutex_clear(&d->lock);
  g_free(d);
}

static gboolean
busy_under_locked(BfcDelivery *d, const char *prefix)
{
  GHashTableIter iter;
  gpointer k;

  g_hash_table_iter_init(&iter, d->live);
  while (g_hash_table_iter_next(&iter, &k, NULL)) {
    BfcPending *pd = k;
    if (pd->state != PD_WRITING && g_str_has_prefix(pd->name, prefix))
      return TRUE;
  }
  return FALSE;
}

int
bfc_delivery_wait_prefix(BfcDelivery *d, const char *prefix)
{
  gint64 limit = bfc_session_config(d->sess)->timeout_s * G_USEC_PER_SEC;
  gint64 progress = g_get_monotonic_time();
  unsigned done;
  int rc = 0;

  g_mutex_lock(&d->lock);
  done = d->delivered + d->failed;
  while (!d->stopping && busy_under_locked(d, prefix)) {
    gint64 now = g_get_monotonic_time();
    if (d->delivered + d->failed != done) {
      done = d->delivered + d->failed;
      progress = now;
    }
    /* A server that stores nothing must not hold the rename forever. */
    if (now - progress >= limit) {
      const char *server = bfc_session_server(d->sess);
      g_warning("spool %s: files under '%s' are still being delivered to "
                "server %s, which has stored none for %" G_GINT64_FORMAT
                " s; the directory is not renamed (EBUSY)",
                bfc_spool_dir(d->spool), prefix, server, limit / G_USEC_PER_SEC);
      rc = -EBUSY;
      break;
    }
    g_cond_wait_until(&d->cond, &d->lock, MIN(now + G_USEC_PER_SEC,
                                              progress + limit));
  }
  g_mutex_unlock(&d->lock);
  return rc;
}

char *
bfc_delivery_describe(BfcDelivery *d)
{
  GHashTableIter iter;
  gpointer k;
  unsigned pending = 0, sending = 0, writing = 0;
  uint64_t bytes = 0;

  g_mutex_lock(&d->lock);
  g_hash_table_iter_init(&iter, d->live);
  while (g_hash_table_iter_next(&iter, &k, NULL)) {
    BfcPending *pd = k;
    if (pd->state == PD_WRITING) {
      writing++;
      continue;
    }
    pending++;
    sending += pd->state == PD_SENDING;
    bytes += pd->file->size;
  }
  char *text = g_strdup_printf("spool %s\npending %u\npending_bytes %"
                               G_GUINT64_FORMAT "\nsending %u\nwriting %u\n"
                               "delivered %u\nfailed %u\n",
                               bfc_spool_dir(d->spool), pending, bytes, sending,
                               writing, d->delivered, d->failed);
  g_mutex_unlock(&d->lock);
  return text;
}
