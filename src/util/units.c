/* Sizes and durations as written in options (see units.h). */
#include "braidfs/units.h"

#include <errno.h>
#include <string.h>

/* The most whole seconds that fit in a uint64_t of milliseconds. */
#define SECONDS_MAX (G_MAXUINT64 / 1000)

gboolean
bf_parse_size(const char *text, uint64_t *out, GError **error)
{
  char *end = NULL;
  guint64 v;
  unsigned shift = 0;

  if (text == NULL || !g_ascii_isdigit(text[0]))
    goto bad;
  errno = 0;
  v = g_ascii_strtoull(text, &end, 10);
  if (errno != 0)
    goto bad;
  switch (g_ascii_toupper(*end)) {
  case '\0': break;
  case 'K': shift = 10; end++; break;
  case 'M': shift = 20; end++; break;
  case 'G': shift = 30; end++; break;
  case 'T': shift = 40; end++; break;
  default: goto bad;
  }
  if (g_ascii_toupper(*end) == 'I' && g_ascii_toupper(end[1]) == 'B')
    end += 2;
  else if (g_ascii_toupper(*end) == 'B')
    end++;
  if (*end != '\0' || (shift && v > (G_MAXUINT64 >> shift)))
    goto bad;
  *out = v << shift;
  return TRUE;
bad:
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "'%s' is not a size (use e.g. 4096, 64K, 1M, 2G)", text ? text : "");
  return FALSE;
}

char *
bf_format_size(uint64_t bytes)
{
  static const char suffix[] = "KMGT";
  int i = -1;

  while (i < 3 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    i++;
  }
  if (i < 0)
    return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
  return g_strdup_printf("%" G_GUINT64_FORMAT "%c", bytes, suffix[i]);
}

gboolean
bf_parse_seconds(const char *text, uint64_t *ms, GError **error)
{
  const char *p = text;
  uint64_t whole = 0, frac = 0;
  int decimals = 0;

  if (p == NULL || !g_ascii_isdigit(*p))
    goto bad;
  for (; g_ascii_isdigit(*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    if (whole > (SECONDS_MAX - d) / 10)
      goto bad;
    whole = whole * 10 + d;
  }
  if (*p == '.') {
    for (p++; g_ascii_isdigit(*p) && decimals < 3; p++, decimals++)
      frac = frac * 10 + (uint64_t)(*p - '0');
    if (decimals == 0)
      goto bad;
  }
  if (*p != '\0')
    goto bad;
  for (; decimals < 3; decimals++)
    frac *= 10;
  if (whole * 1000 > G_MAXUINT64 - frac)
    goto bad;
  *ms = whole * 1000 + frac;
  return TRUE;
bad:
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "'%s' is not a number of seconds (use e.g. 10, 0.5, 0.25; "
              "at most three decimals)", text ? text : "");
  return FALSE;
}

char *
bf_format_seconds(uint64_t ms)
{
  char *s;
  size_t n;

  if (ms % 1000 == 0)
    return g_strdup_printf("%" G_GUINT64_FORMAT, ms / 1000);
  s = g_strdup_printf("%" G_GUINT64_FORMAT ".%03u", ms / 1000,
                      (unsigned)(ms % 1000));
  n = strlen(s);
  while (s[n - 1] == '0')
    s[--n] = '\0';
  return s;
}
