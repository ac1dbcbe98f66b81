/* Frames waiting for a path's sender, and the control path (ctl.h). */
#include "ctl.h"

#define IDLE_WAKE_S 0.002

void
bfc_frame_free(BfcFrame *f)
{
  g_free(f->name);
  g_free(f->name2);
  g_free(f);
}

void
bfc_frames_drop_locked(BfcSession *s, BfcPath *p)
{
  BfcFrame *f;

  (void)s;
  while ((f = g_queue_pop_head(&p->frames)) != NULL)
    bfc_frame_free(f);
}

static BfcFrame *
frame_copy(const BfMsg *m)
{
  BfcFrame *f = g_new0(BfcFrame, 1);
  BfBytes *name = NULL, *name2 = NULL;

  f->msg = *m;
  if (m->type == BF_FRAME_ITEM_OPEN) {
    name = &f->msg.u.item_open.name;
  } else if (m->type == BF_FRAME_OP) {
    name = &f->msg.u.op.name;
    name2 = &f->msg.u.op.name2;
  } else if (m->type == BF_FRAME_READ) {
    name = &f->msg.u.read.name;
  }
  if (name != NULL) {
    f->name = g_memdup2(name->data, name->len);
    name->data = (const uint8_t *)f->name;
  }
  if (name2 != NULL) {
    f->name2 = g_memdup2(name2->data, name2->len);
    name2->data = (const uint8_t *)f->name2;
  }
  return f;
}

/* The same frame for the server: a waiter's periodic resend of a frame that
 * has not left yet adds nothing. */
static gboolean
same_frame(const BfMsg *a, const BfMsg *b)
{
  if (a->type != b->type)
    return FALSE;
  switch (a->type) {
  case BF_FRAME_ITEM_OPEN:
    return a->u.item_open.item_id == b->u.item_open.item_id;
  case BF_FRAME_ITEM_CLOSE:
    return a->u.item_close.item_id == b->u.item_close.item_id;
  case BF_FRAME_OP:
    return a->u.op.op_id == b->u.op.op_id && a->u.op.op == b->u.op.op &&
           a->u.op.item_id == b->u.op.item_id;
  case BF_FRAME_READ:
    return a->u.read.op_id == b->u.read.op_id;
  case BF_FRAME_STATFS:
    return a->u.statfs.op_id == b->u.statfs.op_id;
  default:
    return FALSE;
  }
}

void
bfc_frame_queue_locked(BfcSession *s, BfcPath *p, const BfMsg *m)
{
  (void)s;
  for (GList *l = p->frames.head; l != NULL; l = l->next)
    if (same_frame(&((BfcFrame *)l->data)->msg, m))
      return;
  g_queue_push_tail(&p->frames, frame_copy(m));
  g_cond_signal(&p->wake);
}

gboolean
bfc_ctl_pick_locked(BfcSession *s)
{
  int ctl = -1;

  if (s->ctl >= 0 && s->paths[s->ctl].state == BFC_PATH_UP)
    return FALSE;
  for (unsigned i = 0; i < s->cfg.n_paths && ctl < 0; i++)
    if (s->paths[i].state == BFC_PATH_UP)
      ctl = (int)i;
  if (ctl == s->ctl)
    return FALSE;
  s->ctl = ctl;
  s->ctl_epoch++;
  if (ctl >= 0)
    bf_log(G_LOG_LEVEL_DEBUG, BFC_LOG(s, NULL, NULL), "control path is now %d (epoch %u)", ctl,
            s->ctl_epoch);
  return TRUE;
}

gboolean
bfc_ctl_queue_locked(BfcSession *s, const BfMsg *m)
{
  if (s->ctl < 0 || s->stopping)
    return FALSE;
  g_assert(s->paths[s->ctl].state == BFC_PATH_UP);
  bfc_frame_queue_locked(s, &s->paths[s->ctl], m);
  return TRUE;
}

gboolean
bfc_queue_soonest_locked(BfcSession *s, const BfMsg *m)
{
  BfcPath *best = NULL;
  double best_wait = 0;

  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    if (p->state != BFC_PATH_UP || p->conn == NULL)
      continue;
    /* what is queued ahead of the frame, in seconds (or bytes if the
     * rate is unknown yet: then every path counts as equally fast) */
    double wait = p->load.rate > 0 ? p->load.inflight_bytes / p->load.rate
                                   : p->load.inflight_bytes / 1e9;
    /* An idle sender must be woken first, which on a busy machine costs
     * more than a few small chunks ahead on a sender that is awake. */
    if (p->load.inflight == 0 && g_queue_is_empty(&p->frames))
      wait += IDLE_WAKE_S;
    if (best == NULL || wait < best_wait) {
      best = p;
      best_wait = wait;
    }
  }
  if (best == NULL)
    return FALSE;
  bfc_frame_queue_locked(s, best, m);
  return TRUE;
}
