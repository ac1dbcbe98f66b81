/* Directory operations on the server (ops.h). */
#include "ops.h"

#include <string.h>
#include <time.h>

#include "ctl.h"
#include "wait.h"

#define BFC_RESEND_US (5 * G_USEC_PER_SEC)

/* An operation waiting for its OP_ACK. A waiter's lives on its stack:
 * only the waiter reads op (whose names point into its caller), and others
 * touch it only under the session lock while it is in s->ops; what they
 * queue is a copy (ctl.h). A posted one (bfc_op_post, done set) lives on
 * the heap with its own copy of the name, and its answer frees it. */
typedef struct {
  BfOp op;
  gboolean done;
  uint8_t status;
  char *message;
  BfcOpDone posted;
  gpointer user;
  uint64_t tag;
  char *name;
  uint64_t seq;               /* s->next_seq when first queued */
} BfcOpWait;

static void
posted_free(BfcOpWait *w)
{
  g_free(w->message);
  g_free(w->name);
  g_free(w);
}

static void
send_op_locked(BfcSession *s, const BfcOpWait *ow) BF_REQUIRES(&s->lock)
{
  BfMsg m = { .type = BF_FRAME_OP, .u.op = ow->op };

  bfc_ctl_queue_locked(s, &m);
}

static gboolean
op_run(BfcSession *s, const BfOp *op, GError **error) BF_EXCLUDES(&s->lock)
{
  BfcOpWait ow = { .op = *op };
  gint64 resend = g_get_monotonic_time() + BFC_RESEND_US;
  g_autoptr(GError) err = NULL;
  BfcWait w;
  uint64_t id;

  g_autofree char *name = g_strndup((const char *)op->name.data, op->name.len);

  bfc_wait_init(&w, "answered");
  bf_mutex_lock(&s->lock);
  if (s->dead) {
    bfc_set_status_error(error, BF_ST_IO, "%s", s->dead);
    bf_mutex_unlock(&s->lock);
    return FALSE;
  }
  id = ow.op.op_id = ++s->next_op_id;
  ow.seq = ++s->next_seq;
  g_hash_table_insert(s->ops, g_memdup2(&id, sizeof id), &ow);
  send_op_locked(s, &ow);
  while (!ow.done && bfc_wait_locked(s, &w, &err)) {
    if (g_get_monotonic_time() < resend)
      continue;
    send_op_locked(s, &ow);
    resend = g_get_monotonic_time() + BFC_RESEND_US;
  }
  bfc_wait_done_locked(s, &w);
  /* Out of the table, nobody else reads ow (see BfcOpWait). */
  g_hash_table_remove(s->ops, &id);
  if (ow.done && ow.status != BF_ST_OK && ow.status != BF_ST_NOT_FOUND)
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, name), "server %s: %s",
           s->server, ow.message ? ow.message : "operation failed");
  else if (!ow.done)
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, name),
           "server %s: operation on '%s' not done: %s", s->server, name,
           err->message);
  bf_mutex_unlock(&s->lock);
  if (ow.done && ow.status != BF_ST_OK)
    bfc_set_status_error(error, ow.status, "%s", ow.message && ow.message[0]
                         ? ow.message : bf_status_str(ow.status));
  else if (!ow.done)
    g_propagate_error(error, g_steal_pointer(&err));
  g_free(ow.message);
  return ow.done && ow.status == BF_ST_OK;
}

gboolean
bfc_op(BfcSession *s, BfOpKind op, const char *name, const char *name2,
       uint32_t mode, GError **error)
{
  BfOp o = { .op = op, .mode = mode & 07777 };

  o.name.data = (const uint8_t *)name;
  o.name.len = name ? (uint16_t)strlen(name) : 0;
  o.name2.data = (const uint8_t *)name2;
  o.name2.len = name2 ? (uint16_t)strlen(name2) : 0;
  return op_run(s, &o, error);
}

gboolean
bfc_setattr(BfcSession *s, const char *name, uint8_t flags, uint32_t mode,
            const struct timespec *mtime, GError **error)
{
  BfOp o = { .op = BF_OP_SETATTR, .flags = flags, .mode = mode & 07777 };

  if (mtime != NULL) {
    o.mtime_sec = mtime->tv_sec;
    o.mtime_nsec = (uint32_t)mtime->tv_nsec;
  }
  o.name.data = (const uint8_t *)name;
  o.name.len = (uint16_t)strlen(name);
  return op_run(s, &o, error);
}

gboolean
bfc_mknod(BfcSession *s, const char *name, uint8_t kind, uint32_t mode,
          GError **error)
{
  BfOp o = { .op = BF_OP_MKNOD, .flags = kind, .mode = mode & 07777 };

  o.name.data = (const uint8_t *)name;
  o.name.len = (uint16_t)strlen(name);
  return op_run(s, &o, error);
}

void
bfc_op_post(BfcSession *s, const BfOp *op, BfcOpDone done, gpointer user,
            uint64_t tag)
{
  BfcOpWait *w = g_new0(BfcOpWait, 1);
  uint64_t id;

  w->op = *op;
  w->op.mode &= 07777;
  w->name = g_strndup((const char *)op->name.data, op->name.len);
  w->op.name.data = (const uint8_t *)w->name;
  w->op.name2.data = NULL;   /* MKDIR and SETATTR have none */
  w->op.name2.len = 0;
  w->posted = done;
  w->user = user;
  w->tag = tag;
  bf_mutex_lock(&s->lock);
  id = w->op.op_id = ++s->next_op_id;
  w->seq = ++s->next_seq;
  g_hash_table_insert(s->ops, g_memdup2(&id, sizeof id), w);
  /* With no path up it leaves with the next one's resync. */
  if (!s->dead)
    send_op_locked(s, w);
  bf_mutex_unlock(&s->lock);
}

void
bfc_ops_on_ack(BfcSession *s, const BfOpAck *a)
{
  BfcOpWait *w, *posted = NULL;

  bf_mutex_lock(&s->lock);
  w = g_hash_table_lookup(s->ops, &a->op_id);
  if (w != NULL && !w->done) {
    w->done = TRUE;
    w->status = a->status;
    w->message = bfc_server_text(&a->message);
  }
  /* A posted op is answered once: a late repeat finds nothing. A waiter's
   * is not touched once the lock is given back (it may have returned). */
  if (w != NULL && w->posted != NULL) {
    g_hash_table_remove(s->ops, &a->op_id);
    posted = w;
  }
  g_cond_broadcast(&s->cond);
  bf_mutex_unlock(&s->lock);
  if (posted != NULL) {
    posted->posted(posted->user, posted->tag, posted->name, posted->status,
                   posted->message);
    posted_free(posted);
  }
}

void
bfc_ops_clear_posted(BfcSession *s)
{
  GHashTableIter iter;
  gpointer v;

  bf_mutex_lock(&s->lock);
  g_hash_table_iter_init(&iter, s->ops);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    if (((BfcOpWait *)v)->posted != NULL) {
      posted_free(v);
      g_hash_table_iter_remove(&iter);
    }
  bf_mutex_unlock(&s->lock);
}

unsigned
bfc_ops_resync_locked(BfcSession *s, GArray *out)
{
  GHashTableIter iter;
  gpointer v;
  unsigned n = 0;

  g_hash_table_iter_init(&iter, s->ops);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    const BfcOpWait *w = v;
    if (w->done)
      continue;
    BfcResend r = { w->seq, { .type = BF_FRAME_OP, .u.op = w->op } };
    g_array_append_val(out, r);
    n++;
  }
  return n;
}
