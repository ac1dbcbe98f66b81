/* braidfsd's configurable limits beyond the protocol's own caps: the
 * protocol bounds what any peer may send (braidfs-protocol(7) LIMITS); the
 * server's operator may bound it further. */
#include "server.h"

#include <string.h>

/* A CHUNK frame's body is its payload plus fixed fields (and, sealed, the
 * AEAD's overhead): the protocol keeps that margin over BF_CHUNK_MAX. */
#define FRAME_OVERHEAD (BF_BODY_MAX - BF_CHUNK_MAX)

static gboolean
in_range(const char *what, uint64_t v, uint64_t lo, uint64_t hi,
         GError **error)
{
  if (v >= lo && v <= hi)
    return TRUE;
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "%s=%" G_GUINT64_FORMAT " is out of range (%" G_GUINT64_FORMAT
              " to %" G_GUINT64_FORMAT ")", what, v, lo, hi);
  return FALSE;
}

gboolean
bfd_limits_check(const BfdLimits *l, GError **error)
{
  return in_range("max_name", l->max_name, 1, BF_NAME_MAX, error) &&
         in_range("max_depth", l->max_depth, 1, BF_DEPTH_MAX, error) &&
         in_range("max_chunk", l->max_chunk, BF_CHUNK_MIN, BF_CHUNK_MAX, error) &&
         in_range("max_handshakes", l->max_handshakes, 1, 65536, error) &&
         in_range("max_handshakes_per_addr", l->max_handshakes_per_addr, 1,
                  65536, error) &&
         in_range("attach_rate", l->attach_rate, 1, 1000000, error) &&
         in_range("attach_burst", l->attach_burst, 1, 1000000, error);
}

size_t
bfd_limits_frame_max(const BfdLimits *l)
{
  return (size_t)l->max_chunk + FRAME_OVERHEAD;
}

/* The protocol already refused absolute names, "..", empty components and
 * NUL (bf_name_check); this applies the server's tighter bounds. */
gboolean
bfd_limits_name_ok(const BfdLimits *l, const uint8_t *name, size_t len,
                   char **why)
{
  unsigned depth = 1;

  if (len > l->max_name) {
    *why = g_strdup_printf("name of %zu bytes is longer than the server's "
                           "max_name (%u)", len, l->max_name);
    return FALSE;
  }
  for (size_t i = 0; i < len; i++)
    depth += name[i] == '/';
  if (depth > l->max_depth) {
    *why = g_strdup_printf("name of %u components is deeper than the "
                           "server's max_depth (%u)", depth, l->max_depth);
    return FALSE;
  }
  return TRUE;
}
