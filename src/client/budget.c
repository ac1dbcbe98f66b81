/* Each path's in-flight budget (budget.h). */
#include "budget.h"

#include "chunk.h"

static uint64_t
floor_bytes(const BfcSession *s)
{
  return (uint64_t)s->cfg.window * s->cfg.chunk_size;
}

void
bfc_budget_reset_locked(BfcSession *s, BfcPath *p)
{
  p->est = (BfcPathEstimate){ 0 };
  p->load.budget = MIN(floor_bytes(s), s->cfg.inflight_max);
  p->load.rtt = 0;
}

void
bfc_budget_on_send_locked(BfcSession *s, BfcPath *p, BfcChunk *c, gint64 now)
{
  (void)s;
  /* An idle path's rate is counted from when it has work again. */
  if (g_queue_is_empty(&p->inflight))
    p->est.delivered_at = now;
  c->delivered = p->bytes_acked;
  c->delivered_at = p->est.delivered_at;
}

static void
sample_rtt(BfcPath *p, double rtt, gint64 now)
{
  BfcPathEstimate *e = &p->est;

  if (now - e->rtt_slot_at >= BFC_MIN_RTT_US) {
    e->rtt_last = e->rtt_now;
    e->rtt_now = 0;
    e->rtt_slot_at = now;
  }
  if (e->rtt_now <= 0 || rtt < e->rtt_now)
    e->rtt_now = rtt;
  e->min_rtt = e->rtt_last > 0 ? MIN(e->rtt_now, e->rtt_last) : e->rtt_now;
}

static void
sample_bw(BfcPath *p, double bw, gint64 now)
{
  BfcPathEstimate *e = &p->est;
  gint64 period = MAX(BFC_BW_PERIOD_MIN_US,
                      (gint64)(BFC_BW_PERIOD_RTTS * e->min_rtt * G_USEC_PER_SEC));

  if (now - e->slot_at >= period) {
    e->bw_last = e->bw_now;
    e->bw_now = 0;
    e->slot_at = now;
  }
  e->bw_now = MAX(e->bw_now, bw);
  e->bw = MAX(e->bw_now, e->bw_last);
}

void
bfc_budget_on_ack_locked(BfcSession *s, BfcPath *p, const BfcChunk *c,
                         gint64 now)
{
  BfcPathEstimate *e = &p->est;

  /* Not sent by this connection (a chunk of a lost path, requeued). */
  if (c->sent_at <= 0 || c->delivered_at <= 0 || c->delivered > p->bytes_acked)
    return;
  sample_rtt(p, (now - c->sent_at) / (double)G_USEC_PER_SEC, now);
  gint64 span = now - c->delivered_at;
  if (span > 0)
    sample_bw(p, (p->bytes_acked - c->delivered) * (double)G_USEC_PER_SEC / span,
              now);
  e->delivered_at = now;
  double want = BFC_BUDGET_GAIN * e->bw * e->min_rtt;
  uint64_t budget = want > (double)s->cfg.inflight_max
                        ? s->cfg.inflight_max : (uint64_t)want;
  p->load.budget = MIN(MAX(budget, floor_bytes(s)), s->cfg.inflight_max);
  p->load.rtt = e->min_rtt;
}
