/* The server store's free space (space.h). */
#include "space.h"

#include <string.h>

#include "ctl.h"
#include "wait.h"

#define BFC_SPACE_FRESH_US (1 * G_USEC_PER_SEC)
#define BFC_SPACE_RESEND_US (1 * G_USEC_PER_SEC)
#define BFC_SPACE_WAIT_US (5 * G_USEC_PER_SEC)

/* Asks on the path that answers soonest; a STATFS lost with its path is
 * simply asked again (the server remembers nothing of it). */
static void
ask_locked(BfcSession *s, uint64_t id) BF_REQUIRES(&s->lock)
{
  BfMsg m = { .type = BF_FRAME_STATFS, .u.statfs.op_id = id };

  bfc_queue_soonest_locked(s, &m);
}

static gboolean
answer(const BfStatfsAck *a, BfStatfsAck *out, GError **error)
{
  if (a->status != BF_ST_OK) {
    bfc_set_status_error(error, a->status, "the server cannot tell its "
                         "store's free space");
    return FALSE;
  }
  *out = *a;
  return TRUE;
}

gboolean
bfc_space_query(BfcSession *s, BfStatfsAck *out, GError **error)
{
  g_autoptr(GError) err = NULL;
  gint64 now = g_get_monotonic_time();
  gint64 deadline = now + BFC_SPACE_WAIT_US, resend = now + BFC_SPACE_RESEND_US;
  gboolean ok = TRUE;
  BfcWait w;
  uint64_t id;

  bf_mutex_lock(&s->lock);
  if (s->space.op_id != 0 && now - s->space_at < BFC_SPACE_FRESH_US) {
    BfStatfsAck a = s->space;
    bf_mutex_unlock(&s->lock);
    return answer(&a, out, error);
  }
  id = ++s->next_op_id;
  ask_locked(s, id);
  bfc_wait_init(&w, "answered STATFS");
  while (s->space.op_id < id && (now = g_get_monotonic_time()) < deadline &&
         (ok = bfc_wait_locked(s, &w, &err))) {
    if (now >= resend) {
      ask_locked(s, id);
      resend = now + BFC_SPACE_RESEND_US;
    }
  }
  bfc_wait_done_locked(s, &w);
  BfStatfsAck a = s->space;
  bf_mutex_unlock(&s->lock);
  if (a.op_id != 0)
    return answer(&a, out, error);   /* this answer, or the last known */
  if (!ok)
    g_propagate_error(error, g_steal_pointer(&err));
  else
    bfc_set_status_error(error, BF_ST_IO, "server %s did not say how much "
                         "space its store has", s->server);
  return FALSE;
}

void
bfc_space_on_ack(BfcSession *s, const BfStatfsAck *a)
{
  bf_mutex_lock(&s->lock);
  /* Answers to older questions, repeated, may arrive late: the newest
   * wins; one to a question never asked is dropped. */
  if (a->op_id > s->space.op_id && a->op_id <= s->next_op_id) {
    s->space = *a;
    s->space_at = g_get_monotonic_time();
  }
  g_cond_broadcast(&s->cond);
  bf_mutex_unlock(&s->lock);
}

gboolean
bfc_space_statfs(BfcSession *s, const struct statvfs *local,
                 struct statvfs *st, GError **error)
{
  BfStatfsAck a;

  if (!bfc_space_query(s, &a, error))
    return FALSE;
  memset(st, 0, sizeof *st);
  st->f_bsize = s->cfg.chunk_size;
  st->f_frsize = a.bsize;
  st->f_blocks = a.blocks;
  st->f_bfree = a.bfree;
  st->f_bavail = a.bavail;
  st->f_files = a.files;
  st->f_ffree = st->f_favail = a.ffree;
  st->f_namemax = BF_COMPONENT_MAX;
  if (local != NULL) {
    uint64_t spool = (uint64_t)local->f_bavail *
                     (local->f_frsize ? local->f_frsize : local->f_bsize);
    /* Used stays the store's; what may still be written is the less. */
    st->f_bavail = MIN(st->f_bavail, spool / a.bsize);
  }
  return TRUE;
}
