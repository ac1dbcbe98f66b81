#include "braidfs/parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static gboolean
parse_port(const char *text, uint16_t *port)
{
  char *end = NULL;
  guint64 v;

  if (!g_ascii_isdigit(*text))
    return FALSE;
  v = g_ascii_strtoull(text, &end, 10);
  if (*end != '\0' || v == 0 || v > 65535)
    return FALSE;
  *port = (uint16_t)v;
  return TRUE;
}

gboolean
bf_parse_hostport(const char *text, uint16_t default_port, char **host,
                  uint16_t *port, GError **error)
{
  g_autofree char *h = NULL;
  const char *rest;

  *port = default_port;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (close == NULL || close == text + 1)
      goto bad;
    h = g_strndup(text + 1, close - text - 1);
    rest = close + 1;
    if (*rest != '\0' && *rest != ':')
      goto bad;
  } else {
    const char *colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
      /* A bare IPv6 address without a port. */
      h = g_strdup(text);
      rest = "";
    } else {
      h = colon ? g_strndup(text, colon - text) : g_strdup(text);
      rest = colon ? colon : "";
    }
  }
  if (h[0] == '\0')
    goto bad;
  if (*rest == ':' && !parse_port(rest + 1, port))
    goto bad;
  *host = g_steal_pointer(&h);
  return TRUE;
bad:
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "'%s' is not HOST[:PORT] (IPv6 as [ADDR]:PORT)", text);
  return FALSE;
}

char *
bf_format_hostport(const char *host, uint16_t port)
{
  if (strchr(host, ':') != NULL)
    return g_strdup_printf("[%s]:%u", host, port);
  return g_strdup_printf("%s:%u", host, port);
}

char *
bf_hex(const uint8_t *data, size_t len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc(len * 2 + 1);

  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  out[len * 2] = '\0';
  return out;
}
