/* The server's metrics (metrics.h). */
#include "metrics.h"

#include <stddef.h>
#include <stdint.h>

#include "braidfs/text.h"
#include "braidfs/flusher.h"
#include "session.h"
#include "sessions.h"

typedef struct {
  char *name, *label;
  uint64_t v[7];
} Sample;

typedef struct {
  const char *name, *type, *help;
} Metric;

/* In the order of Sample.v. */
static const Metric metrics[] = {
  { "braidfsd_session_paths", "gauge", "connections of the session now" },
  { "braidfsd_session_received_bytes_total", "counter",
    "chunk bytes received, as they arrive (this process)" },
  { "braidfsd_session_files", "gauge", "files in the session's data/" },
  { "braidfsd_session_stored_bytes", "gauge", "bytes in the session's data/" },
  { "braidfsd_session_stored_total", "counter",
    "items stored, replaced or not (this process)" },
  { "braidfsd_session_failed_total", "counter",
    "items that failed (this process)" },
  { "braidfsd_session_in_flight", "gauge", "items being received" },
};

static void
sample(BfdSession *s, Sample *out) BF_EXCLUDES(&s->lock)
{
  out->name = g_strdup(s->dir.name);
  out->label = g_strdup(s->dir.label != NULL ? s->dir.label : "");
  bf_mutex_lock(&s->lock);
  out->v[0] = s->clients->len;
  out->v[1] = s->bytes_received;
  out->v[2] = s->items_stored;
  out->v[3] = s->bytes_stored;
  out->v[4] = s->versions_stored;
  out->v[5] = s->items_failed;
  out->v[6] = g_hash_table_size(s->items);
  bf_mutex_unlock(&s->lock);
}

static void
samples_clear(gpointer data)
{
  Sample *x = data;

  g_free(x->name);
  g_free(x->label);
}

/* Every session's counters, one lock at a time. */
static GArray *
sample_all(BfdServer *srv)
{
  g_autoptr(GPtrArray) names = bfd_sessions_names(srv->sessions);
  GArray *samples = g_array_new(FALSE, TRUE, sizeof(Sample));

  g_array_set_clear_func(samples, samples_clear);
  for (guint i = 0; i < names->len; i++) {
    g_autoptr(BfdSession) s = bfd_sessions_by_name(srv->sessions,
                                                   names->pdata[i]);
    Sample one = { 0 };
    if (s == NULL)
      continue;   /* removed meanwhile */
    sample(s, &one);
    g_array_append_val(samples, one);
  }
  return samples;
}

char *
bfd_metrics_summary(BfdServer *srv)
{
  g_autoptr(GArray) samples = sample_all(srv);
  guint connected = 0;
  uint64_t files = 0, flight = 0;

  for (guint i = 0; i < samples->len; i++) {
    Sample *x = &g_array_index(samples, Sample, i);
    connected += x->v[0] > 0;
    files += x->v[2];
    flight += x->v[6];
  }
  return g_strdup_printf("%u sessions (%u connected), %" G_GUINT64_FORMAT
                         " files stored, %" G_GUINT64_FORMAT " in flight",
                         samples->len, connected, files, flight);
}

char *
bfd_metrics_text(BfdServer *srv)
{
  g_autoptr(GArray) samples = sample_all(srv);
  GString *out = g_string_new(NULL);

  g_string_append_printf(out, "# HELP braidfsd_sessions sessions in the store\n"
                         "# TYPE braidfsd_sessions gauge\n"
                         "braidfsd_sessions %u\n", samples->len);
  g_string_append_printf(out, "# HELP braidfsd_early_flushes_total fdatasyncs "
                         "of large items while they arrive\n"
                         "# TYPE braidfsd_early_flushes_total counter\n"
                         "braidfsd_early_flushes_total %" G_GUINT64_FORMAT
                         "\n", bf_flusher_done(srv->flusher));
  for (size_t m = 0; m < G_N_ELEMENTS(metrics); m++) {
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
                           metrics[m].help, metrics[m].name, metrics[m].type);
    for (guint i = 0; i < samples->len; i++) {
      Sample *x = &g_array_index(samples, Sample, i);
      g_string_append_printf(out, "%s{session=\"", metrics[m].name);
      bf_text_append_label(out, x->name);
      g_string_append(out, "\",label=\"");
      bf_text_append_label(out, x->label);
      g_string_append_printf(out, "\"} %" G_GUINT64_FORMAT "\n", x->v[m]);
    }
  }
  return g_string_free(out, FALSE);
}
