/* delivery=async's directories (async-dirs.h). */
#include "async-dirs.h"

#include <string.h>

#include "braidfs/tsa.h"
#include "ops.h"
#include "spoolmkdir.h"

/* A recorded operation not yet posted. */
typedef struct {
  BfcDirOp op;                /* op.name points into name */
  char *name;
  uint64_t rec;
} Queued;

struct BfcAsyncDirs {
  BfcSession *sess;           /* set by attach */
  const BfcSpoolDir *d;
  BfcSpoolDirs *ds;
  BfcAsyncBusyFn busy;
  BfcAsyncPostedFn posted;
  gpointer user;
  GPtrArray *left;            /* Queued MKDIRs of an earlier mount */
  /* Guards queue and stopping; a leaf: taken under the delivery's lock
   * (waiting_under), never held while taking it. */
  BfMutex lock;
  GCond cond;
  GQueue queue;               /* Queued SETATTRs, oldest first; only the
                                 thread takes one off, once posted */
  gboolean stopping;
  GThread *thread;
};

static Queued *
queued_new(const BfcDirOp *op, uint64_t rec)
{
  Queued *q = g_new0(Queued, 1);

  q->op = *op;
  q->name = g_strdup(op->name);
  q->op.name = q->name;
  q->rec = rec;
  return q;
}

static void
queued_free(Queued *q)
{
  g_free(q->name);
  g_free(q);
}

static void
found(const BfcDirOp *op, uint64_t rec, gpointer user)
{
  BfcAsyncDirs *ad = user;

  if (op->kind == BFC_DIR_MKDIR)
    g_ptr_array_add(ad->left, queued_new(op, rec));
  else
    g_queue_push_tail(&ad->queue, queued_new(op, rec));
}

BfcAsyncDirs *
bfc_async_dirs_new(const BfcSpoolDir *d, BfcAsyncBusyFn busy,
                   BfcAsyncPostedFn posted, gpointer user, GError **error)
{
  BfcAsyncDirs *ad = g_new0(BfcAsyncDirs, 1);

  ad->busy = busy;
  ad->posted = posted;
  ad->user = user;
  ad->left = g_ptr_array_new_with_free_func((GDestroyNotify)queued_free);
  bf_mutex_init(&ad->lock);
  g_cond_init(&ad->cond);
  g_queue_init(&ad->queue);
  ad->d = d;
  ad->ds = bfc_spool_dirs_open(d, found, ad, error);
  if (ad->ds == NULL) {
    bfc_async_dirs_free(ad);
    return NULL;
  }
  return ad;
}

void
bfc_async_dirs_attach(BfcAsyncDirs *ad, BfcSession *s)
{
  ad->sess = s;
  if (ad->left->len + ad->queue.length > 0)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, NULL, NULL),
           "spool %s: %u directory operations from an earlier mount to do",
           ad->d->path, ad->left->len + ad->queue.length);
}

/* The server's answer: the record goes either way. A refusal is for good
 * (a file of that name is there, the store is full...): the files later
 * written under the name meet the same refusal, and are kept in the
 * spool's failed/ (spool.h). */
static void
answered(gpointer user, uint64_t rec, const char *name, uint8_t status,
         const char *message)
{
  BfcAsyncDirs *ad = user;

  if (status != BF_ST_OK)
    bf_log(G_LOG_LEVEL_WARNING,
           BFC_LOG(ad->sess, bfc_session_server(ad->sess), name),
           "server %s did not make or change directory '%s': %s",
           bfc_session_server(ad->sess), name,
           message ? message : bf_status_str(status));
  bfc_spool_dirs_done(ad->ds, rec);
}

static void
post(BfcAsyncDirs *ad, const BfcDirOp *op, uint64_t rec)
{
  BfOp o = { .mode = op->mode };

  o.op = op->kind == BFC_DIR_MKDIR ? BF_OP_MKDIR : BF_OP_SETATTR;
  if (op->kind == BFC_DIR_SETATTR) {
    o.flags = op->flags;
    o.mtime_sec = op->mtime.tv_sec;
    o.mtime_nsec = (uint32_t)op->mtime.tv_nsec;
  }
  o.name.data = (const uint8_t *)op->name;
  o.name.len = (uint16_t)strlen(op->name);
  bfc_op_post(ad->sess, &o, answered, ad, rec);
}

/* Posts the queue's first once nothing under it is on its way. */
static gpointer
poster(gpointer data)
{
  BfcAsyncDirs *ad = data;

  bf_mutex_lock(&ad->lock);
  while (!ad->stopping) {
    Queued *q = g_queue_peek_head(&ad->queue);
    if (q == NULL) {
      bf_cond_wait(&ad->cond, &ad->lock);
      continue;
    }
    g_autofree char *prefix = g_strconcat(q->name, "/", NULL);
    bf_mutex_unlock(&ad->lock);
    gboolean busy = ad->busy(ad->user, prefix);
    if (!busy)
      post(ad, &q->op, q->rec);
    bf_mutex_lock(&ad->lock);
    if (busy) {
      /* kicked when a file is settled; the timeout is a backstop */
      bf_cond_wait_until(&ad->cond, &ad->lock,
                         g_get_monotonic_time() + G_USEC_PER_SEC / 10);
      continue;
    }
    queued_free(g_queue_pop_head(&ad->queue));
    bf_mutex_unlock(&ad->lock);
    ad->posted(ad->user);
    bf_mutex_lock(&ad->lock);
  }
  bf_mutex_unlock(&ad->lock);
  return NULL;
}

void
bfc_async_dirs_start(BfcAsyncDirs *ad)
{
  for (guint i = 0; i < ad->left->len; i++) {
    Queued *q = ad->left->pdata[i];
    post(ad, &q->op, q->rec);
  }
  g_ptr_array_set_size(ad->left, 0);
  ad->thread = g_thread_new("dirs", poster, ad);
}

void
bfc_async_dirs_stop(BfcAsyncDirs *ad)
{
  bf_mutex_lock(&ad->lock);
  ad->stopping = TRUE;
  g_cond_broadcast(&ad->cond);
  bf_mutex_unlock(&ad->lock);
  if (ad->thread != NULL)
    g_thread_join(g_steal_pointer(&ad->thread));
}

gboolean
bfc_async_dirs_mkdir(BfcAsyncDirs *ad, const char *name, uint32_t mode,
                     GError **error)
{
  BfcDirOp op = { .kind = BFC_DIR_MKDIR, .mode = mode, .name = name };
  uint64_t rec;

  if (!bfc_spool_dirs_add(ad->ds, &op, &rec, error))
    return FALSE;
  post(ad, &op, rec);
  return TRUE;
}

gboolean
bfc_async_dirs_setattr(BfcAsyncDirs *ad, const char *name, uint8_t flags,
                       uint32_t mode, const struct timespec *mtime,
                       GError **error)
{
  BfcDirOp op = { .kind = BFC_DIR_SETATTR, .flags = flags, .mode = mode,
                  .name = name };
  uint64_t rec;

  if (mtime != NULL)
    op.mtime = *mtime;
  if (!bfc_spool_dirs_add(ad->ds, &op, &rec, error))
    return FALSE;
  bf_mutex_lock(&ad->lock);
  g_queue_push_tail(&ad->queue, queued_new(&op, rec));
  g_cond_broadcast(&ad->cond);
  bf_mutex_unlock(&ad->lock);
  return TRUE;
}

gboolean
bfc_async_dirs_waiting_under(BfcAsyncDirs *ad, const char *prefix)
{
  size_t plen = strlen(prefix);
  gboolean found = FALSE;

  bf_mutex_lock(&ad->lock);
  for (GList *l = ad->queue.head; l != NULL && !found; l = l->next) {
    const char *name = ((Queued *)l->data)->name;
    /* prefix is "a/b/": a/b itself, or anything under it */
    found = strncmp(name, prefix, plen) == 0 ||
            (strlen(name) + 1 == plen && strncmp(name, prefix, plen - 1) == 0);
  }
  bf_mutex_unlock(&ad->lock);
  return found;
}

void
bfc_async_dirs_kick(BfcAsyncDirs *ad)
{
  bf_mutex_lock(&ad->lock);
  g_cond_broadcast(&ad->cond);
  bf_mutex_unlock(&ad->lock);
}

unsigned
bfc_async_dirs_pending(BfcAsyncDirs *ad)
{
  return bfc_spool_dirs_live(ad->ds);
}

void
bfc_async_dirs_free(BfcAsyncDirs *ad)
{
  Queued *q;

  if (ad == NULL)
    return;
  bfc_async_dirs_stop(ad);
  while ((q = g_queue_pop_head(&ad->queue)) != NULL)
    queued_free(q);
  bfc_spool_dirs_free(ad->ds);
  g_ptr_array_unref(ad->left);
  g_cond_clear(&ad->cond);
  bf_mutex_clear(&ad->lock);
  g_free(ad);
}
