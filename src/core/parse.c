#include "braidfs/parse.h"

#include <stdlib.h>
#include <string.h>

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
