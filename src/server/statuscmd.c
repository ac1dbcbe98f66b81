/* braidfsd status (statuscmd.h). */
#include "statuscmd.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "braidfs/statuscmd.h"
#include "braidfs/units.h"

/* A .session file's "key: value" lines as an object; repeated keys
 * (path:) as an array of strings. Numbers stay numbers. */
static JsonObject *
parse_session(const char *name, const char *text)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  JsonObject *o = json_object_new();
  JsonArray *paths = json_array_new();

  json_object_set_string_member(o, "name", name);
  for (char **l = lines; *l != NULL; l++) {
    char *colon = strstr(*l, ": ");
    char *end;
    if (colon == NULL)
      continue;
    *colon = '\0';
    const char *v = colon + 2;
    if (strcmp(*l, "path") == 0) {
      json_array_add_string_element(paths, v);
      continue;
    }
    guint64 n = g_ascii_strtoull(v, &end, 10);
    if (*v != '\0' && *end == '\0' && strcmp(*l, "id") != 0)
      json_object_set_int_member(o, *l, (gint64)n);
    else
      json_object_set_string_member(o, *l, v);
  }
  json_object_set_array_member(o, "path", paths);
  return o;
}

/* g_ptr_array_sort passes pointers to the elements. */
static gint
name_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The view's sessions, by name. */
static JsonArray *
load(const char *mount, GError **error)
{
  g_autoptr(GDir) dir = g_dir_open(mount, 0, error);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  JsonArray *out;
  const char *n;

  if (dir == NULL)
    return NULL;
  while ((n = g_dir_read_name(dir)) != NULL)
    if (n[0] != '.')
      g_ptr_array_add(names, g_strdup(n));
  g_ptr_array_sort(names, name_cmp);   /* by start time */
  out = json_array_new();
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *file = g_build_filename(mount, names->pdata[i],
                                             ".session", NULL);
    g_autofree char *text = NULL;
    if (g_file_get_contents(file, &text, NULL, NULL))   /* gone: skip */
      json_array_add_object_element(out, parse_session(names->pdata[i], text));
  }
  if (names->len > 0 && json_array_get_length(out) == 0) {
    json_array_unref(out);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s has no .session files: is it a braidfsd view?", mount);
    return NULL;
  }
  return out;
}

static void
show(GString *out, const char *mount, JsonArray *sessions)
{
  guint n = json_array_get_length(sessions);

  g_string_append_printf(out, "%s: %u sessions\n", mount, n);
  if (n == 0)
    return;
  g_string_append_printf(out, "  %-40s %-12s %5s %7s %10s %10s %6s %6s  %s\n",
                         "session", "state", "paths", "files", "stored",
                         "received", "flight", "failed", "last activity");
  for (guint i = 0; i < n; i++) {
    JsonObject *s = json_array_get_object_element(sessions, i);
    g_autofree char *stored = bf_format_size(
        json_object_get_int_member_with_default(s, "bytes", 0));
    g_autofree char *recv = bf_format_size(
        json_object_get_int_member_with_default(s, "received", 0));
    g_string_append_printf(out, "  %-40s %-12s %5" G_GINT64_FORMAT " %7"
                           G_GINT64_FORMAT " %10s %10s %6" G_GINT64_FORMAT
                           " %6" G_GINT64_FORMAT "  %s\n",
                           json_object_get_string_member(s, "name"),
                           json_object_get_string_member_with_default(s, "state", "-"),
                           json_object_get_int_member_with_default(s, "paths", 0),
                           json_object_get_int_member_with_default(s, "items", 0),
                           stored, recv,
                           json_object_get_int_member_with_default(s, "in_flight", 0),
                           json_object_get_int_member_with_default(s, "failed", 0),
                           json_object_get_string_member_with_default(s, "last_activity", "-"));
  }
}

/* One round: the sessions of the view at the mount (data). */
static BfStatusRound
report(GString *out, gpointer data)
{
  const BfStatusArgs *a = data;
  g_autoptr(GError) err = NULL;
  g_autoptr(JsonArray) sessions = load(a->rest[0], &err);

  if (sessions == NULL) {
    g_printerr("braidfsd status: %s\n", err->message);
    return BF_STATUS_FAILED;
  }
  if (a->json) {
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
    json_node_set_array(root, sessions);
    g_autofree char *text = bf_status_json(root);
    g_string_append_printf(out, "%s\n", text);
  } else {
    show(out, a->rest[0], sessions);
  }
  return BF_STATUS_SHOWN;
}

int
bfd_status_command(int argc, char **argv)
{
  g_auto(BfStatusArgs) a = { 0 };
  g_autoptr(GError) error = NULL;

  if (!bf_status_args_parse(argc, argv, "MOUNTPOINT", "The sessions of the "
                            "braidfsd whose view is mounted at MOUNTPOINT.",
                            "print the sessions as a JSON array (the keys of "
                            ".session)", &a, &error) ||
      a.rest == NULL || g_strv_length(a.rest) != 1) {
    g_printerr("braidfsd status: %s (usage: braidfsd status [--json] "
               "[--watch SECS] MOUNTPOINT)\n",
               error != NULL ? error->message : "give one MOUNTPOINT");
    return 1;
  }
  return bf_status_run(a.watch, report, &a);
}
