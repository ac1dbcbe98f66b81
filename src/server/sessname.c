/* Session directory names (sessname.h). */
#include "sessname.h"

#include <string.h>
#include <time.h>

#include "braidfs/parse.h"

/* Makes a label safe and readable as part of a directory name. */
static char *
label_slug(const char *label)
{
  GString *s = g_string_new(NULL);

  for (const char *p = label; *p && s->len < BF_LABEL_MAX; p++)
    g_string_append_c(s, (g_ascii_isalnum(*p) || *p == '.' || *p == '_')
                             ? *p : '_');
  return g_string_free(s, FALSE);
}

char *
bfd_session_dirname(const uint8_t id[BF_ID_LEN], const char *client,
                const char *label, gint64 started)
{
  g_autofree char *hex = bf_hex(id, BF_ID_LEN);
  g_autofree char *slug = label_slug(label);
  struct tm tm;
  time_t t = (time_t)started;
  char when[32];

  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
  return g_strdup_printf("%s%s%s%s%s-%.8s", when, client[0] ? "-" : "", client,
                         slug[0] ? "-" : "", slug, hex);
}

gboolean
bfd_session_dirname_like(const char *name)
{
  size_t n = strlen(name);

  if (n < 24 || name[8] != '-' || name[15] != '-' || name[n - 9] != '-')
    return FALSE;
  for (size_t i = 0; i < 15; i++)
    if (i != 8 && !g_ascii_isdigit(name[i]))
      return FALSE;
  for (size_t i = n - 8; i < n; i++)
    if (!g_ascii_isxdigit(name[i]))
      return FALSE;
  return TRUE;
}
