/* Paths lost and found, seen from the session (failover.h). */
#include "failover.h"

#include "chunk.h"
#include "ctl.h"
#include "item.h"
#include "ops.h"

void
bfc_path_lost_locked(BfcSession *s, BfcPath *p, const char *why)
{
  gboolean was_up = p->state == BFC_PATH_UP;

  p->state = BFC_PATH_DOWN;
  p->load.alive = FALSE;
  if (p->why_down == NULL)
    p->why_down = g_strdup(why);
  g_cond_broadcast(&p->wake);
  g_cond_broadcast(&s->cond);
  if (was_up)
    bfc_resync_locked(s);
}

static gint
by_seq(gconstpointer a, gconstpointer b)
{
  uint64_t x = ((const BfcResend *)a)->seq, y = ((const BfcResend *)b)->seq;

  return x < y ? -1 : x > y;
}

void
bfc_resync_locked(BfcSession *s)
{
  g_autoptr(GArray) frames = g_array_new(FALSE, FALSE, sizeof(BfcResend));

  bfc_ctl_pick_locked(s);
  if (s->ctl < 0 || s->stopping)
    return;
  unsigned items = bfc_items_resync_locked(s, frames);
  unsigned ops = bfc_ops_resync_locked(s, frames);
  /* As they first went: a posted MKDIR before the files under it (else
   * the first file stored makes the directory, and the MKDIR's mode is
   * lost), a rename or rmdir where its caller's wait put it. */
  g_array_sort(frames, by_seq);
  for (guint i = 0; i < frames->len; i++)
    bfc_ctl_queue_locked(s, &g_array_index(frames, BfcResend, i).msg);
  if (items + ops > 0)
    bf_log(G_LOG_LEVEL_DEBUG, BFC_LOG(s, s->paths[s->ctl].name, NULL),
           "resync: %u items and %u operations queued again on path %d",
           items, ops, s->ctl);
}

void
bfc_server_restarted_locked(BfcSession *s, uint64_t instance)
{
  s->instance = instance;
  unsigned n = bfc_items_restart_locked(s);
  bfc_coded_restart_locked(s);
  bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, s->server, NULL),
         "server %s restarted: resuming %u files in flight", s->server, n);
  g_cond_broadcast(&s->cond);
}
