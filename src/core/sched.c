#include "braidfs/sched.h"

#include <string.h>

static int
pick_rr(const BfPathLoad *paths, unsigned n, uint32_t window, uint32_t chunk_id)
{
  unsigned p = chunk_id % n;

  /* Deterministic by design: a full path holds its chunk back rather than
   * handing it to another path. A dead path's turn goes to the next live
   * one, so that losing a path slows a transfer instead of stopping it. */
  for (unsigned k = 0; k < n && !paths[p].alive; k++)
    p = (p + 1) % n;
  if (!paths[p].alive || paths[p].inflight >= window)
    return -1;
  return (int)p;
}

/* Expected time until a chunk queued now on this path is acknowledged. A
 * path with no rate estimate yet is treated as average so new paths get
 * probed instead of starved. */
static double
finish_time(const BfPathLoad *p, double default_rate, uint32_t chunk_len)
{
  double rate = p->rate > 0 ? p->rate : default_rate;

  return ((double)p->inflight_bytes + chunk_len) / rate;
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
  /* The time the fastest path takes to deliver a full window: no path
   * queues more than that (beyond two chunks, which any path may hold so
   * that it never idles between an acknowledgement and its next chunk).
   * A slow link then never holds a backlog that the item's end would have
   * to wait for. */
  double horizon = fastest > 0 ? (double)window * chunk_len / fastest : 0;

  /* Earliest completion among the paths with room. Waiting for a faster
   * full path would be better only for an item's last chunks (the rest of
   * the stream keeps every path busy either way); those are re-sent on a
   * faster path that goes idle (see the client's tail copies). */
  for (unsigned i = 0; i < n; i++) {
    if (!paths[i].alive || paths[i].inflight >= window)
      continue;
    if (paths[i].inflight >= 2 && paths[i].rate > 0 && horizon > 0 &&
        finish_time(&paths[i], default_rate, chunk_len) > horizon)
      continue;
    double t = finish_time(&paths[i], default_rate, chunk_len);
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
    return pick_rr(paths, n_paths, window, chunk_id);
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
