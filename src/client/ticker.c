/* Rates, stalls and PINGs (ticker.h). */
#include "ticker.h"

#include "failover.h"

#define TICK_US (G_USEC_PER_SEC / 10)
#define RATE_TICK_US (G_USEC_PER_SEC / 4)

/* Rates are acknowledged bytes over the time the path had work, sampled
 * over whole ticks: single acknowledgements arrive in bursts, and a path
 * that is idle part of the time is not slow. A path that had work and
 * delivered nothing decays towards zero, so the scheduler leaves it. */
static void
sample_rate(BfcPath *p, uint64_t *at_tick, double busy_s, double best)
{
  uint64_t delta = p->bytes_acked - *at_tick;

  *at_tick = p->bytes_acked;
  if (busy_s < 0.05) {
    /* An idle path's estimate may be stale (a stall it recovered from):
     * let it grow back towards the best path's until it is given work and
     * measured again. */
    p->load.rate = MIN(p->load.rate * 1.5, best);
    return;
  }
  double inst = delta / busy_s;
  p->load.rate = p->load.rate > 0 ? 0.5 * p->load.rate + 0.5 * inst : inst;
}

/* The rate users see (.braidfs/paths, status): acknowledged bytes per
 * second of wall time, an exponential moving average over about
 * RATE_AVG_S, so that an idle path goes to 0 and a burst of
 * acknowledgements does not spike it. */
#define RATE_AVG_S 1.0

static void
sample_avg(BfcPath *p, uint64_t *at_tick, double dt)
{
  double inst = (p->bytes_acked - *at_tick) / dt;

  *at_tick = p->bytes_acked;
  p->rate_avg += dt / (RATE_AVG_S + dt) * (inst - p->rate_avg);
}

/* A path is stalled when it owes us something (chunks in flight, a PING,
 * bytes the kernel has not seen acknowledged) and neither our frames nor
 * the peer's TCP acknowledgements have moved for stall_ms: it is taken out
 * of service, and its thread, woken by the shutdown, re-attaches it. */
static void
check_stall_locked(BfcSession *s, BfcPath *p, gint64 now) BF_REQUIRES(&s->lock)
{
  uint64_t acked = 0;
  uint32_t unacked = 0;
  gboolean info = bf_conn_tcp_progress(p->conn, &acked, &unacked);

  if (info && acked != p->tcp_acked) {
    p->tcp_acked = acked;
    p->last_progress = now;
  }
  if (p->load.inflight == 0 && p->ping_sent == 0 && unacked == 0) {
    p->last_progress = now;
    return;
  }
  if (now - p->last_progress < (gint64)s->cfg.stall_ms * 1000)
    return;
  g_free(p->why_down);
  p->why_down = g_strdup_printf("stalled: no progress for %.1f s",
                                (now - p->last_progress) / (double)G_USEC_PER_SEC);
  bf_conn_shutdown(p->conn);
  bfc_path_lost_locked(s, p, p->why_down);
}

static gpointer
ticker(gpointer data)
{
  BfcSession *s = data;
  g_autofree uint64_t *at_tick = g_new0(uint64_t, s->cfg.n_paths);
  g_autofree gint64 *busy = g_new0(gint64, s->cfg.n_paths);
  g_autofree uint64_t *at_avg = g_new0(uint64_t, s->cfg.n_paths);
  gint64 last = g_get_monotonic_time(), prev = last;

  bf_mutex_lock(&s->lock);
  while (!s->stopping) {
    gint64 now = g_get_monotonic_time();
    gboolean sample = now - last >= RATE_TICK_US;
    double best = 0;
    for (unsigned i = 0; i < s->cfg.n_paths; i++)
      best = MAX(best, s->paths[i].load.rate);
    for (unsigned i = 0; i < s->cfg.n_paths; i++) {
      BfcPath *p = &s->paths[i];
      if (p->load.inflight > 0)
        busy[i] += now - prev;
      if (sample) {
        sample_avg(p, &at_avg[i], (now - last) / (double)G_USEC_PER_SEC);
        sample_rate(p, &at_tick[i], busy[i] / (double)G_USEC_PER_SEC, best);
        busy[i] = 0;
      }
      if (p->state != BFC_PATH_UP || p->conn == NULL)
        continue;
      check_stall_locked(s, p, now);
      if (p->state == BFC_PATH_UP && p->ping_sent == 0 && !p->ping_due &&
          now - p->ping_done >= G_USEC_PER_SEC) {
        p->ping_due = TRUE;
        g_cond_signal(&p->wake);
      }
    }
    prev = now;
    if (sample)
      last = now;
    while (!s->stopping && bf_cond_wait_until(&s->tick, &s->lock, now + TICK_US))
      ;
  }
  bf_mutex_unlock(&s->lock);
  return NULL;
}

void
bfc_ticker_start(BfcSession *s)
{
  s->ticker = g_thread_new("ticker", ticker, s);
}

void
bfc_ticker_join(BfcSession *s)
{
  if (s->ticker != NULL)
    g_thread_join(g_steal_pointer(&s->ticker));
}
