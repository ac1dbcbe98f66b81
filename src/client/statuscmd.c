/* braidfs status (statuscmd.h). Reads only files under the mounts: it
 * needs no rights beyond reading them, and shows what the mount shows. */
#include "statuscmd.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "braidfs/statuscmd.h"
#include "braidfs/units.h"
#include "progress.h"

/* The braidfs mounts in /proc/mounts, in its order. */
static GPtrArray *
braidfs_mounts(void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents("/proc/mounts", &text, NULL, NULL))
    return out;
  lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l != NULL; l++) {
    g_auto(GStrv) f = g_strsplit(*l, " ", 4);
    if (g_strv_length(f) >= 3 && strcmp(f[2], "fuse.braidfs") == 0)
      g_ptr_array_add(out, g_strcompress(f[1]));   /* \040 -> space */
  }
  return out;
}

/* The mount's status, checked to be a version we read. */
static JsonNode *
load_status(const char *mount, GError **error)
{
  g_autofree char *file = g_build_filename(mount, ".braidfs", "status.json",
                                           NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o;

  if (!json_parser_load_from_file(parser, file, error)) {
    g_prefix_error(error, "%s (is %s a braidfs mount?): ", file, mount);
    return NULL;
  }
  o = JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))
      ? json_node_get_object(json_parser_get_root(parser)) : NULL;
  if (o == NULL || g_strcmp0(json_object_get_string_member_with_default(
                               o, "format", ""), BFC_STATUS_FORMAT) != 0 ||
      json_object_get_int_member_with_default(o, "version", 0) !=
      BFC_STATUS_VERSION) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s is not a braidfs status of version %d (a client of "
                "another version?)", file, BFC_STATUS_VERSION);
    return NULL;
  }
  return json_node_copy(json_parser_get_root(parser));
}

/* Rates in decimal megabytes, as .braidfs/paths and cp's users expect. */
static char *
rate_text(double bps)
{
  return g_strdup_printf("%.1f MB/s", bps / 1e6);
}

static const char *
str(JsonObject *o, const char *name)
{
  const char *s = json_object_get_string_member_with_default(o, name, NULL);

  return s != NULL ? s : "-";
}

static gint64
num(JsonObject *o, const char *name)
{
  return json_object_get_int_member_with_default(o, name, 0);
}

static void
show_paths(GString *out, JsonArray *paths)
{
  g_string_append(out, "  path  address                 state       rtt_ms"
                       "         rate  retries  resent  last error\n");
  for (guint i = 0; i < json_array_get_length(paths); i++) {
    JsonObject *p = json_array_get_object_element(paths, i);
    g_autofree char *rate = rate_text(
        json_object_get_double_member_with_default(p, "rate_Bps", 0));
    gboolean up = g_strcmp0(str(p, "state"), "up") == 0;
    g_string_append_printf(out, "  %-4" G_GINT64_FORMAT "  %-22s  %-10s  %6.1f"
                           "  %12s  %7" G_GINT64_FORMAT "  %6" G_GINT64_FORMAT
                           "  %s\n", num(p, "index"), str(p, "address"),
                           str(p, "state"),
                           json_object_get_double_member_with_default(p, "rtt_ms", 0),
                           rate, num(p, "retries"), num(p, "resent"),
                           up ? "" : str(p, "last_error"));
  }
}

static void
show_files(GString *out, JsonArray *files)
{
  if (json_array_get_length(files) == 0)
    return;
  g_string_append(out, "  files in flight:\n");
  for (guint i = 0; i < json_array_get_length(files); i++) {
    JsonObject *f = json_array_get_object_element(files, i);
    gint64 size = num(f, "size"), done = num(f, "bytes_done");
    g_autofree char *sz = bf_format_size(size);
    g_autofree char *dn = bf_format_size(done);
    g_autofree char *rate = rate_text(
        json_object_get_double_member_with_default(f, "rate_Bps", 0));
    JsonNode *eta = json_object_get_member(f, "eta_s");
    g_autofree char *eta_text = eta != NULL && !JSON_NODE_HOLDS_NULL(eta)
        ? g_strdup_printf("%.0f s", json_node_get_double(eta)) : g_strdup("-");
    g_string_append_printf(out, "    %s  %s of %s (%.0f%%)  %s  eta %s\n",
                           str(f, "name"), dn, sz,
                           size > 0 ? 100.0 * done / size : 0.0, rate, eta_text);
  }
}

static void
show(GString *out, const char *mount, JsonObject *o)
{
  JsonObject *t = json_object_get_object_member(o, "totals");
  JsonNode *spool = json_object_get_member(o, "spool");
  g_autofree char *rate = rate_text(
      json_object_get_double_member_with_default(o, "rate_Bps", 0));
  g_autofree char *bytes = bf_format_size(num(t, "bytes"));

  g_string_append_printf(out, "%s -> %s (session %s): %s, %" G_GINT64_FORMAT
                         " of %" G_GINT64_FORMAT " paths up, %s\n", mount,
                         str(o, "server"), str(o, "session"), str(o, "state"),
                         num(o, "paths_up"), num(o, "paths_total"), rate);
  if (num(o, "paths_up") == 0)
    g_string_append_printf(out, "  no path up for %.0f s (writes fail after "
                           "%" G_GINT64_FORMAT " s)\n",
                           json_object_get_double_member_with_default(o, "down_for_s", 0),
                           num(o, "timeout_s"));
  show_paths(out, json_object_get_array_member(o, "paths"));
  show_files(out, json_object_get_array_member(o, "files"));
  g_string_append_printf(out, "  totals: %s sent, %" G_GINT64_FORMAT " files "
                         "stored, %" G_GINT64_FORMAT " failed, %" G_GINT64_FORMAT
                         " chunks resent\n", bytes, num(t, "files_stored"),
                         num(t, "files_failed"), num(t, "resent"));
  if (spool != NULL && JSON_NODE_HOLDS_OBJECT(spool)) {
    JsonObject *sp = json_node_get_object(spool);
    g_autofree char *pb = bf_format_size(num(sp, "pending_bytes"));
    g_string_append_printf(out, "  spool: %" G_GINT64_FORMAT " files (%s) "
                           "waiting, %" G_GINT64_FORMAT " being sent\n",
                           num(sp, "pending"), pb, num(sp, "sending"));
  }
}

typedef struct {
  GPtrArray *mounts;
  gboolean json;
} Report;

/* One round: every mount's status, as text or JSON. */
static BfStatusRound
report(GString *out, gpointer data)
{
  const Report *r = data;
  g_autoptr(JsonArray) all = json_array_new();
  gboolean ok = TRUE;

  for (guint i = 0; i < r->mounts->len; i++) {
    g_autoptr(GError) error = NULL;
    JsonNode *st = load_status(r->mounts->pdata[i], &error);
    if (st == NULL) {
      g_printerr("braidfs status: %s\n", error->message);
      ok = FALSE;
      continue;
    }
    if (!r->json)
      show(out, r->mounts->pdata[i], json_node_get_object(st));
    json_array_add_element(all, st);
  }
  if (r->json) {
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
    json_node_set_array(root, all);
    /* One mount asked for: its object, as a script expects. */
    g_autofree char *text = bf_status_json(
        r->mounts->len == 1 && json_array_get_length(all) == 1
        ? json_array_get_element(all, 0) : root);
    g_string_append_printf(out, "%s\n", text);
  }
  return ok ? BF_STATUS_SHOWN : BF_STATUS_PARTIAL;
}

int
bfc_status_command(int argc, char **argv)
{
  g_auto(BfStatusArgs) a = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) mounts = NULL;

  if (!bf_status_args_parse(argc, argv, "[MOUNT...]", "What braidfs outboxes "
                            "are doing: paths, files in flight, spool, "
                            "totals.\nWithout MOUNT: every braidfs mount of "
                            "this host.", "print the status as JSON "
                            "(braidfs(1), FILES: status.json)", &a, &error)) {
    g_printerr("braidfs status: %s (see braidfs status --help)\n",
               error->message);
    return 1;
  }
  if (a.rest != NULL) {
    mounts = g_ptr_array_new_with_free_func(g_free);
    for (char **m = a.rest; *m != NULL; m++)
      g_ptr_array_add(mounts, g_strdup(*m));
  } else {
    mounts = braidfs_mounts();
  }
  if (mounts->len == 0) {
    g_printerr("braidfs status: no braidfs mount on this host (give MOUNT)\n");
    return 1;
  }
  return bf_status_run(a.watch, report, &(Report){ mounts, a.json });
}
