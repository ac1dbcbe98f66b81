/* The session's progress as JSON and as metrics (progress.h). */
#include "progress.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "braidfs/text.h"

#include "fopstats.h"
#include "item.h"

static const char *
item_state(const BfcItem *it)
{
  switch (it->state) {
  case BFC_ITEM_OPENING: return "opening";
  case BFC_ITEM_OPEN: return "sending";
  case BFC_ITEM_STORED: return "stored";
  default: return "failed";
  }
}

static void
add_path_locked(JsonBuilder *b, BfcSession *s, unsigned i) BF_REQUIRES(&s->lock)
{
  const BfcPath *p = &s->paths[i];
  const BfcPathSpec *sp = &s->cfg.specs[i];

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "index");
  json_builder_add_int_value(b, i);
  json_builder_set_member_name(b, "address");
  json_builder_add_string_value(b, p->addr);
  json_builder_set_member_name(b, "source");
  if (sp->bind_addr != NULL || sp->iface != NULL)
    json_builder_add_string_value(b, sp->bind_addr ? sp->bind_addr : sp->iface);
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "state");
  json_builder_add_string_value(b, bfc_path_state_name(p->state));
  json_builder_set_member_name(b, "rtt_ms");
  json_builder_add_double_value(b, p->rtt * 1000);
  json_builder_set_member_name(b, "rate_Bps");
  json_builder_add_double_value(b, p->rate_avg);
  json_builder_set_member_name(b, "bytes");
  json_builder_add_int_value(b, (gint64)p->bytes_acked);
  json_builder_set_member_name(b, "chunks");
  json_builder_add_int_value(b, (gint64)p->chunks_acked);
  json_builder_set_member_name(b, "in_flight");
  json_builder_add_int_value(b, p->load.inflight);
  json_builder_set_member_name(b, "retries");
  json_builder_add_int_value(b, p->retries);
  json_builder_set_member_name(b, "resent");
  json_builder_add_int_value(b, p->resent);
  json_builder_set_member_name(b, "duplicates");
  json_builder_add_int_value(b, p->duplicates);
  json_builder_set_member_name(b, "last_error");
  if (p->why_down != NULL)
    json_builder_add_string_value(b, p->why_down);
  else
    json_builder_add_null_value(b);
  json_builder_end_object(b);
}

static void
add_file_locked(JsonBuilder *b, BfcSession *s, BfcItem *it, gint64 now,
                double rate) BF_REQUIRES(&s->lock)
{
  uint64_t size = bfc_item_size(it);
  uint64_t done = MIN(it->acked, size);
  double secs = (now - it->opened_at) / (double)G_USEC_PER_SEC;

  (void)s;   /* its lock guards the item's fields */
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_int_value(b, (gint64)it->id);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, it->shown);
  json_builder_set_member_name(b, "state");
  json_builder_add_string_value(b, item_state(it));
  json_builder_set_member_name(b, "size");
  json_builder_add_int_value(b, (gint64)size);
  json_builder_set_member_name(b, "bytes_done");
  json_builder_add_int_value(b, (gint64)done);
  json_builder_set_member_name(b, "rate_Bps");
  json_builder_add_double_value(b, secs > 0 ? done / secs : 0);
  /* Its size grows while it is written: the ETA is for what is known. */
  json_builder_set_member_name(b, "eta_s");
  if (rate > 0)
    json_builder_add_double_value(b, (size - done) / rate);
  else
    json_builder_add_null_value(b);
  json_builder_end_object(b);
}

static void
add_done(JsonBuilder *b, const BfcFileDone *d)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, d->name);
  json_builder_set_member_name(b, "result");
  json_builder_add_string_value(b, d->stored ? "stored" : "failed");
  json_builder_set_member_name(b, "size");
  json_builder_add_int_value(b, (gint64)d->size);
  json_builder_set_member_name(b, "bytes_done");
  json_builder_add_int_value(b, (gint64)MIN(d->acked, d->size));
  json_builder_set_member_name(b, "seconds");
  json_builder_add_double_value(b, d->seconds);
  json_builder_set_member_name(b, "time");
  json_builder_add_double_value(b, d->at / (double)G_USEC_PER_SEC);
  json_builder_end_object(b);
}

static gint
by_id(gconstpointer a, gconstpointer b)
{
  uint64_t x = (*(BfcItem *const *)a)->id, y = (*(BfcItem *const *)b)->id;

  return x < y ? -1 : x > y;
}

static void
add_files_locked(JsonBuilder *b, BfcSession *s, double rate)
  BF_REQUIRES(&s->lock)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new();
  GHashTableIter iter;
  gpointer v;
  gint64 now = g_get_monotonic_time();

  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    if (((BfcItem *)v)->state < BFC_ITEM_STORED)
      g_ptr_array_add(items, v);
  g_ptr_array_sort(items, by_id);
  json_builder_set_member_name(b, "files");
  json_builder_begin_array(b);
  for (guint i = 0; i < items->len; i++)
    add_file_locked(b, s, items->pdata[i], now, rate);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "recent");
  json_builder_begin_array(b);
  for (GList *l = s->done.head; l != NULL; l = l->next)
    add_done(b, l->data);
  json_builder_end_array(b);
}

static void
add_int(JsonBuilder *b, const char *name, uint64_t v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, (gint64)v);
}

static void
add_session_locked(JsonBuilder *b, BfcSession *s) BF_REQUIRES(&s->lock)
{
  unsigned up = bfc_paths_up_locked(s), retries = 0, resent = 0, dups = 0;
  uint64_t bytes = 0, chunks = 0;
  double rate = 0;

  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    const BfcPath *p = &s->paths[i];
    rate += p->rate_avg;
    bytes += p->bytes_acked;
    chunks += p->chunks_acked;
    retries += p->retries;
    resent += p->resent;
    dups += p->duplicates;
  }
  json_builder_set_member_name(b, "server");
  json_builder_add_string_value(b, s->server);
  json_builder_set_member_name(b, "session");
  json_builder_add_string_value(b, s->sid);
  json_builder_set_member_name(b, "label");
  if (s->cfg.label != NULL)
    json_builder_add_string_value(b, s->cfg.label);
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "state");
  json_builder_add_string_value(b, up == s->cfg.n_paths ? "up"
                                   : up == 0 ? "down" : "degraded");
  add_int(b, "paths_up", up);
  add_int(b, "paths_total", s->cfg.n_paths);
  json_builder_set_member_name(b, "down_for_s");
  json_builder_add_double_value(b, s->down_since == 0 ? 0
      : (g_get_monotonic_time() - s->down_since) / (double)G_USEC_PER_SEC);
  json_builder_set_member_name(b, "timeout_s");
  json_builder_add_int_value(b, s->cfg.timeout_s);
  json_builder_set_member_name(b, "rate_Bps");
  json_builder_add_double_value(b, rate);
  json_builder_set_member_name(b, "totals");
  json_builder_begin_object(b);
  add_int(b, "bytes", bytes);
  add_int(b, "chunks", chunks);
  add_int(b, "files_stored", s->files_stored);
  add_int(b, "files_failed", s->files_failed);
  add_int(b, "retries", retries);
  add_int(b, "resent", resent);
  add_int(b, "duplicates", dups);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "paths");
  json_builder_begin_array(b);
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    add_path_locked(b, s, i);
  json_builder_end_array(b);
  add_files_locked(b, s, rate);
}

/* .braidfs/spool's "key value" lines as an object of numbers (and the
 * directory's name). */
static void
add_spool(JsonBuilder *b, BfcDelivery *d)
{
  g_autofree char *text = bfc_delivery_describe(d);
  g_auto(GStrv) lines = NULL;

  json_builder_set_member_name(b, "spool");
  if (text == NULL) {
    json_builder_add_null_value(b);
    return;
  }
  lines = g_strsplit(text, "\n", -1);
  json_builder_begin_object(b);
  for (char **l = lines; *l != NULL; l++) {
    g_auto(GStrv) kv = g_strsplit(*l, " ", 2);
    char *end;
    if (kv[0] == NULL || kv[1] == NULL || kv[0][0] == '#')
      continue;
    guint64 n = g_ascii_strtoull(kv[1], &end, 10);
    json_builder_set_member_name(b, kv[0]);
    if (*end == '\0' && end != kv[1])
      json_builder_add_int_value(b, (gint64)n);
    else
      json_builder_add_string_value(b, kv[1]);   /* as report.h escapes it */
  }
  json_builder_end_object(b);
}

/* What the outbox's tree holds beyond a node per file (tree.h). */
static void
add_tree(JsonBuilder *b, BfcTree *t)
{
  json_builder_set_member_name(b, "tree");
  json_builder_begin_object(b);
  add_int(b, "unsettled", bfc_tree_unsettled(t));
  json_builder_end_object(b);
}

static JsonNode *
snapshot(BfcSession *s, BfcDelivery *d, BfcTree *t)
{
  g_autoptr(JsonBuilder) b = json_builder_new();

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "format");
  json_builder_add_string_value(b, BFC_STATUS_FORMAT);
  add_int(b, "version", BFC_STATUS_VERSION);
  json_builder_set_member_name(b, "time");
  json_builder_add_double_value(b, g_get_real_time() / (double)G_USEC_PER_SEC);
  bf_mutex_lock(&s->lock);
  add_session_locked(b, s);
  bf_mutex_unlock(&s->lock);
  add_spool(b, d);
  if (t != NULL)
    add_tree(b, t);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

char *
bfc_progress_json(BfcSession *s, BfcDelivery *d, BfcTree *t)
{
  g_autoptr(JsonNode) root = snapshot(s, d, t);
  g_autoptr(JsonGenerator) gen = json_generator_new();

  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  g_autofree char *text = json_generator_to_data(gen, NULL);
  return g_strconcat(text, "\n", NULL);
}

/* ---- metrics ------------------------------------------------------------ */

typedef struct {
  const char *name, *type, *help;
  const char *member;         /* in a path's object, or in "totals" */
  double scale;               /* 0: 1 */
} Metric;

static const Metric path_metrics[] = {
  { "braidfs_path_up", "gauge", "1 if the path is up", NULL, 0 },
  { "braidfs_path_sent_bytes_total", "counter",
    "bytes the server acknowledged on the path", "bytes", 0 },
  { "braidfs_path_chunks_total", "counter",
    "chunks the server acknowledged on the path", "chunks", 0 },
  { "braidfs_path_rate_bytes_per_second", "gauge",
    "moving average of acknowledged bytes per second", "rate_Bps", 0 },
  { "braidfs_path_rtt_seconds", "gauge", "smoothed PING round trip",
    "rtt_ms", 1e-3 },
  { "braidfs_path_in_flight_chunks", "gauge",
    "chunks sent and not yet acknowledged", "in_flight", 0 },
  { "braidfs_path_retries_total", "counter",
    "times the path was attached again after a failure", "retries", 0 },
  { "braidfs_path_resent_chunks_total", "counter",
    "chunks the path carried for a lost path", "resent", 0 },
  { NULL, NULL, NULL, NULL, 0 },
};

static const Metric session_metrics[] = {
  { "braidfs_files_stored_total", "counter", "files the server stored",
    "files_stored", 0 },
  { "braidfs_files_failed_total", "counter", "files that failed",
    "files_failed", 0 },
  { "braidfs_sent_bytes_total", "counter",
    "bytes the server acknowledged, all paths", "bytes", 0 },
  { NULL, NULL, NULL, NULL, 0 },
};

static void
metric_head(GString *out, const Metric *m)
{
  g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name,
                         m->help, m->name, m->type);
}

static void
metric_value(GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf(out, " %s\n", g_ascii_dtostr(buf, sizeof buf, v));
}

static double
member(JsonObject *o, const Metric *m)
{
  double v = json_object_get_double_member_with_default(o, m->member, 0);

  return m->scale != 0 ? v * m->scale : v;
}

char *
bfc_progress_metrics(BfcSession *s, BfcDelivery *d)
{
  g_autoptr(JsonNode) root = snapshot(s, d, NULL);
  JsonObject *o = json_node_get_object(root);
  JsonObject *totals = json_object_get_object_member(o, "totals");
  JsonArray *paths = json_object_get_array_member(o, "paths");
  JsonNode *spool = json_object_get_member(o, "spool");
  g_autoptr(GString) srv = g_string_new("server=\"");
  GString *out = g_string_new(NULL);

  bf_text_append_label(srv, json_object_get_string_member(o, "server"));
  g_string_append_c(srv, '"');
  for (const Metric *m = path_metrics; m->name != NULL; m++) {
    metric_head(out, m);
    for (guint i = 0; i < json_array_get_length(paths); i++) {
      JsonObject *p = json_array_get_object_element(paths, i);
      g_string_append_printf(out, "%s{%s,path=\"%u\",address=\"", m->name,
                             srv->str, i);
      bf_text_append_label(out, json_object_get_string_member(p, "address"));
      g_string_append(out, "\"}");
      metric_value(out, m->member != NULL ? member(p, m)
          : strcmp(json_object_get_string_member(p, "state"), "up") == 0);
    }
  }
  for (const Metric *m = session_metrics; m->name != NULL; m++) {
    metric_head(out, m);
    g_string_append_printf(out, "%s{%s}", m->name, srv->str);
    metric_value(out, member(totals, m));
  }
  metric_head(out, &(Metric){ "braidfs_files_in_flight", "gauge",
                              "files being sent", NULL, 0 });
  g_string_append_printf(out, "braidfs_files_in_flight{%s}", srv->str);
  metric_value(out, json_array_get_length(json_object_get_array_member(o,
                                                                       "files")));
  if (!JSON_NODE_HOLDS_NULL(spool)) {
    JsonObject *sp = json_node_get_object(spool);
    metric_head(out, &(Metric){ "braidfs_spool_pending_files", "gauge",
                                "files in the spool not yet delivered", NULL, 0 });
    g_string_append_printf(out, "braidfs_spool_pending_files{%s}", srv->str);
    metric_value(out, json_object_get_int_member_with_default(sp, "pending", 0));
    metric_head(out, &(Metric){ "braidfs_spool_pending_bytes", "gauge",
                                "bytes in the spool not yet delivered", NULL, 0 });
    g_string_append_printf(out, "braidfs_spool_pending_bytes{%s}", srv->str);
    metric_value(out, json_object_get_int_member_with_default(sp,
                                                              "pending_bytes", 0));
  }
  bfc_fop_metrics(out, srv->str);
  return g_string_free(out, FALSE);
}
