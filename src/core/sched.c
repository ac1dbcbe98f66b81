#include "braidfs/sched.h"

#include <string.h>

static int
pick_rr(const BfPathLoad *paths, unsigned n, uint32_t window, uint32_t chunk_id,
        uint32_t chunk_len)
{
  unsigned p = chunk_id % n;

  /* Deterministic by design: a full path holds its chunk back rather than
   * handing it to another path. A dead path's turn goes to the next live
   * one, so that losing a path slows a transfer instead of stopping it. */
  for (unsigned k = 0; k < n && !paths[p].alive; k++)
    p = (p + 1) % n;
  if (!paths[p].alive || !bf_sched_has_room(&paths[p], window, chunk_len))
    return -1;
  return (int)p;
}

gboolean
bf_sched_has_room(const BfPathLoad *p, uint32_t window, uint32_t chunk_len)
{
  if (p->inflight < window)
    return TRUE;
  return p->budget > 0 && p->inflight_bytes + chunk_len <= p->budget;
}

/* A path with no rate estimate yet is treated as average (default_rate)
 * so new paths get probed instead of starved. About rate x rtt of the
 * bytes in flight are on the link already: only those beyond wait ahead
 * of the new chunk, and the chunk itself needs at least a round trip. */
double
bf_sched_eta(const BfPathLoad *p, double default_rate, uint32_t chunk_len)
{
  double rate = p->rate > 0 ? p->rate : default_rate;

  return MAX((double)p->inflight_bytes / rate, p->rtt) + chunk_len / rate;
}

static int
pick_dynamic(const BfPathLoad *paths, unsigned n, uint32_t window,
             uint32_t chunk_len)
{
  double sum = 0;
  unsigned known = 0;
  int best = -1;
  double best_t = 0;

  for (unsigned i = 0; i < n; i++)
    if (paths[i].alive && paths[i].rate > 0) {
      sum += paths[i].rate;
      known++;
    }
  double default_rate = known ? sum / known : 1.0;
  double fastest = 0;
  for (unsigned i = 0; i < n; i++)
    if (paths[i].alive)
      fastest = MAX(fastest, paths[i].rate);
  /* For paths without a budget (the caller sets none): the time the fastest
   * path takes to deliver a full window: no path queues more than that
   * (beyond two chunks, which any path may hold so that it never idles
   * between an acknowledgement and its next chunk). A slow link then never
   * holds a backlog that the item's end would have to wait for. With a
   * budget, the budget bounds each path's backlog to a round trip's worth
   * beyond its link, and the client's tail copies cover an item's end. */
  double horizon = fastest > 0 ? (double)window * chunk_len / fastest : 0;

  /* Earliest completion among the paths with room. Waiting for a faster
   * full path would be better only for an item's last chunks (the rest of
   * the stream keeps every path busy either way); those are re-sent on a
   * faster path that goes idle (see the client's tail copies). */
  for (unsigned i = 0; i < n; i++) {
    if (!paths[i].alive || !bf_sched_has_room(&paths[i], window, chunk_len))
      continue;
    double t = bf_sched_eta(&paths[i], default_rate, chunk_len);
    if (paths[i].budget == 0 && paths[i].inflight >= 2 &&
        paths[i].rate > 0 && horizon > 0 && t > horizon)
      continue;
    if (best < 0 || t < best_t) {
      best = (int)i;
      best_t = t;
    }
  }
  return best;
}

int
bf_sched_pick(BfSchedKind kind, const BfPathLoad *paths, unsigned n_paths,
              uint32_t window, uint32_t chunk_id, uint32_t chunk_len)
{
  g_return_val_if_fail(paths != NULL && n_paths > 0 && window > 0, -1);

  if (kind == BF_SCHED_RR)
    return pick_rr(paths, n_paths, window, chunk_id, chunk_len);
  return pick_dynamic(paths, n_paths, window, chunk_len);
}

gboolean
bf_sched_parse(const char *text, BfSchedKind *out)
{
  if (g_strcmp0(text, "dynamic") == 0)
    *out = BF_SCHED_DYNAMIC;
  else if (g_strcmp0(text, "rr") == 0)
    *out = BF_SCHED_RR;
  else
    return FALSE;
  return TRUE;
}

const char *
bf_sched_name(BfSchedKind kind)
{
  return kind == BF_SCHED_RR ? "rr" : "dynamic";
}
