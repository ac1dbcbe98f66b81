/* A client session, from connect to stop (session.h). */
#include "session.h"

#include <string.h>

#include "braidfs/parse.h"

#include "dial.h"
#include "item.h"
#include "ops.h"
#include "paths.h"
#include "report.h"
#include "ticker.h"

BfcSession *
bfc_session_connect(const BfcConfig *cfg, GError **error)
{
  BfcSession *s = g_new0(BfcSession, 1);

  s->cfg = *cfg;
  s->cfg.host = g_strdup(cfg->host);
  s->cfg.label = g_strdup(cfg->label);
  s->cfg.specs = g_new0(BfcPathSpec, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    s->cfg.specs[i].host = g_strdup(cfg->specs[i].host);
    s->cfg.specs[i].port = cfg->specs[i].port;
    s->cfg.specs[i].bind_addr = g_strdup(cfg->specs[i].bind_addr);
    s->cfg.specs[i].iface = g_strdup(cfg->specs[i].iface);
  }
  s->server = bf_format_hostport(cfg->host, cfg->port);
  s->proto = bfc_dial_first_version();
  bf_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  g_cond_init(&s->tick);
  s->ctl = -1;
  g_queue_init(&s->resend);
  g_queue_init(&s->coded_open);
  g_queue_init(&s->announcing);
  s->items = g_hash_table_new(g_int64_hash, g_int64_equal);
  s->ops = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  s->reads = g_hash_table_new(g_int64_hash, g_int64_equal);
  s->pool = g_ptr_array_new_with_free_func(g_free);
  s->paths = g_new0(BfcPath, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    BfcPath *p = &s->paths[i];
    p->sess = s;
    p->index = i;
    p->name = bf_format_hostport(cfg->specs[i].host, cfg->specs[i].port);
    p->addr = g_strdup(p->name);
    p->state = BFC_PATH_CONNECTING;
    g_cond_init(&p->wake);
    g_queue_init(&p->frames);
    g_queue_init(&p->queue);
    g_queue_init(&p->inflight);
  }
  if (!bfc_paths_connect(s, error)) {
    bfc_session_stop(s);
    return NULL;
  }
  g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
  g_strlcpy(s->sid, id, sizeof s->sid);
  bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, s->server, NULL),
         "session %s with %s: %u paths", s->sid, s->server, cfg->n_paths);
  return s;
}

void
bfc_session_start(BfcSession *s)
{
  bfc_ticker_start(s);
  bfc_paths_start(s);
}

void
bfc_session_stop(BfcSession *s)
{
  bfc_paths_stop(s);
  bfc_ticker_join(s);
  bfc_ops_clear_posted(s);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    g_free(s->paths[i].name);
    g_free(s->paths[i].addr);
    g_free(s->paths[i].why_down);
    g_cond_clear(&s->paths[i].wake);
    bfc_path_spec_clear(&s->cfg.specs[i]);
  }
  bf_mutex_lock(&s->lock);
  bfc_items_clear_locked(s);
  g_queue_clear_full(&s->done, (GDestroyNotify)bfc_file_done_free);
  bf_mutex_unlock(&s->lock);
  g_free(s->cfg.specs);
  g_hash_table_unref(s->items);
  g_hash_table_unref(s->ops);
  g_hash_table_unref(s->reads);
  g_ptr_array_unref(s->pool);
  g_free(s->paths);
  g_free(s->server);
  g_free(s->dead);
  g_free(s->cfg.host);
  g_free(s->cfg.label);
  g_cond_clear(&s->cond);
  g_cond_clear(&s->tick);
  bf_mutex_clear(&s->lock);
  g_free(s);
}

void
bfc_session_abort(BfcSession *s)
{
  bf_mutex_lock(&s->lock);
  s->stopping = TRUE;
  g_cond_broadcast(&s->cond);
  bf_mutex_unlock(&s->lock);
}

void
bfc_session_set_id_floor(BfcSession *s, uint64_t floor)
{
  bf_mutex_lock(&s->lock);
  s->next_item_id = MAX(s->next_item_id, floor);
  s->next_op_id = MAX(s->next_op_id, floor);
  bf_mutex_unlock(&s->lock);
}

void
bfc_session_ids(BfcSession *s, uint8_t id[BF_ID_LEN], uint8_t token[BF_ID_LEN])
{
  memcpy(id, s->id, BF_ID_LEN);
  memcpy(token, s->token, BF_ID_LEN);
}

const BfcConfig *
bfc_session_config(BfcSession *s)
{
  return &s->cfg;
}

const char *
bfc_session_server(BfcSession *s)
{
  return s->server;
}

const char *
bfc_path_state_name(BfcPathState st)
{
  switch (st) {
  case BFC_PATH_UP: return "up";
  case BFC_PATH_CONNECTING: return "connecting";
  default: return "down";
  }
}

char *
bfc_session_describe_paths(BfcSession *s)
{
  static const char *const columns[] = {
    "path", "address", "source", "state", "bytes", "chunks", "in_flight",
    "rtt_ms", "rate_MBps", "retries", "resent", "duplicates", NULL };
  BfcReport r;

  bfc_report_init(&r, columns);
  bf_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    const BfcPathSpec *sp = &s->cfg.specs[i];
    bfc_report_fieldf(&r, "%u", i);
    bfc_report_field(&r, p->addr);
    if (sp->bind_addr != NULL || sp->iface == NULL)
      bfc_report_field(&r, sp->bind_addr);
    else
      bfc_report_fieldf(&r, "%%%s", sp->iface);
    bfc_report_field(&r, bfc_path_state_name(p->state));
    bfc_report_fieldf(&r, "%" G_GUINT64_FORMAT, p->bytes_acked);
    bfc_report_fieldf(&r, "%" G_GUINT64_FORMAT, p->chunks_acked);
    bfc_report_fieldf(&r, "%u", p->load.inflight);
    bfc_report_fieldf(&r, "%.3f", p->rtt * 1000);
    bfc_report_fieldf(&r, "%.1f", p->rate_avg / 1e6);
    bfc_report_fieldf(&r, "%u", p->retries);
    bfc_report_fieldf(&r, "%u", p->resent);
    bfc_report_fieldf(&r, "%u", p->duplicates);
    bfc_report_end(&r);
  }
  bf_mutex_unlock(&s->lock);
  return bfc_report_finish(&r);
}
