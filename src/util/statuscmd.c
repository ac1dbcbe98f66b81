/* The status commands' shared part (statuscmd.h). */
#include "braidfs/statuscmd.h"

#include <stdio.h>

gboolean
bf_status_args_parse(int argc, char **argv, const char *params,
                     const char *summary, const char *json_help,
                     BfStatusArgs *a, GError **error)
{
  GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &a->json, json_help, NULL },
    { "watch", 'w', 0, G_OPTION_ARG_DOUBLE, &a->watch,
      "redraw every SECS seconds until interrupted", "SECS" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->rest, NULL,
      params },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(params);

  *a = (BfStatusArgs){ 0 };
  g_option_context_set_summary(ctx, summary);
  g_option_context_add_main_entries(ctx, entries, NULL);
  argv[1] = argv[0];   /* parse what follows "status" */
  argc--;
  argv++;
  if (!g_option_context_parse(ctx, &argc, &argv, error)) {
    bf_status_args_clear(a);
    return FALSE;
  }
  return TRUE;
}

void
bf_status_args_clear(BfStatusArgs *a)
{
  g_clear_pointer(&a->rest, g_strfreev);
}

char *
bf_status_json(JsonNode *root)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();

  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  return json_generator_to_data(gen, NULL);
}

int
bf_status_run(double watch, BfStatusRound (*round)(GString *out,
                                                   gpointer data),
              gpointer data)
{
  for (;;) {
    g_autoptr(GString) out = g_string_new(NULL);
    BfStatusRound r = round(out, data);
    if (r == BF_STATUS_FAILED)
      return 1;
    if (watch > 0)
      fputs("\033[H\033[2J", stdout);   /* home, clear: as watch(1) */
    fputs(out->str, stdout);
    fflush(stdout);
    if (watch <= 0)
      return r == BF_STATUS_SHOWN ? 0 : 1;
    g_usleep((gulong)(MAX(watch, 0.1) * G_USEC_PER_SEC));
  }
}
