/* Bounded waits for the server, and the seats that cap them (wait.h). */
#include "wait.h"

static char *
all_down_message(BfcSession *s) BF_REQUIRES(&s->lock)
{
  unsigned up = bfc_paths_up_locked(s);

  if (up > 0)
    return g_strdup_printf("coding=%s needs %u paths up, and only %u of the "
                           "%u paths to server %s have worked for %u s (see "
                           ".braidfs/paths in the mount)",
                           bf_coding_str(&s->cfg.coding), s->cfg.coding.k, up,
                           s->cfg.n_paths, s->server, s->cfg.timeout_s);
  return g_strdup_printf("no path to server %s has worked for %u s (all %u "
                         "paths down; see .braidfs/paths in the mount)", s->server,
                         s->cfg.timeout_s, s->cfg.n_paths);
}

void
bfc_wait_init(BfcWait *w, const char *what)
{
  w->what = what;
  w->progress = g_get_monotonic_time();
  w->seated = FALSE;
}

/* Why a waiter gives up now, or NULL. */
static char *
give_up_why(BfcSession *s, const BfcWait *w, gint64 now) BF_REQUIRES(&s->lock)
{
  gint64 limit = (gint64)s->cfg.timeout_s * G_USEC_PER_SEC;

  if (s->stopping)
    return g_strdup("the outbox is being unmounted");
  if (s->dead != NULL)
    return g_strdup(s->dead);
  if (s->down_since != 0 && now - s->down_since >= limit)
    return all_down_message(s);
  /* Coded chunks need k paths: fewer for the timeout fails like none. */
  if (bfc_paths_up_locked(s) >= s->cfg.coding.k)
    s->short_since = 0;
  else if (s->short_since == 0)
    s->short_since = now;
  else if (now - s->short_since >= limit)
    return all_down_message(s);
  /* While every path is down, the rule above applies; after such an
   * outage the server gets a fresh timeout. */
  if (s->down_since == 0 && now - MAX(w->progress, s->back_at) >= limit)
    return g_strdup_printf("server %s has not %s for %u s (timeout=%u; see "
                           ".braidfs/paths in the mount)", s->server, w->what,
                           s->cfg.timeout_s, s->cfg.timeout_s);
  return NULL;
}

static gboolean
seat_take_locked(BfcSession *s, gboolean refusable, GError **error)
  BF_REQUIRES(&s->lock)
{
  if (refusable && s->waiting >= BFC_WAIT_SEATS) {
    bfc_set_status_error(error, BF_ST_LIMIT, "%u requests already wait for "
                         "server %s; refusing more until it answers (EAGAIN)",
                         s->waiting, s->server);
    return FALSE;
  }
  s->waiting++;
  return TRUE;
}

gboolean
bfc_wait_locked(BfcSession *s, BfcWait *w, GError **error)
{
  gint64 now = g_get_monotonic_time();
  g_autofree char *why = give_up_why(s, w, now);

  if (why != NULL) {
    g_set_error_literal(error, BFC_ERROR, BF_ST_IO, why);
    return FALSE;
  }
  if (!w->seated && !seat_take_locked(s, TRUE, error))
    return FALSE;
  w->seated = TRUE;
  bf_cond_wait_until(&s->cond, &s->lock, now + G_USEC_PER_SEC / 4);
  return TRUE;
}

void
bfc_wait_done_locked(BfcSession *s, BfcWait *w)
{
  if (w->seated)
    s->waiting--;
  w->seated = FALSE;
}

gboolean
bfc_seat_take(BfcSession *s, gboolean refusable, GError **error)
{
  bf_mutex_lock(&s->lock);
  gboolean ok = seat_take_locked(s, refusable, error);
  bf_mutex_unlock(&s->lock);
  return ok;
}

void
bfc_seat_give(BfcSession *s)
{
  bf_mutex_lock(&s->lock);
  s->waiting--;
  bf_mutex_unlock(&s->lock);
}
