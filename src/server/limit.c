/* braidfsd's configurable limits beyond the protocol's own caps: the
 * protocol bounds what any peer may send (braidfs-protocol(7) LIMITS); the
 * server's operator may bound it further. */
#include "limit.h"

#include <string.h>

#include "braidfs/wire.h"

/* A CHUNK frame's body is its payload plus fixed fields (and, sealed, the
 * AEAD's overhead): the protocol keeps that margin over BF_CHUNK_MAX. */
#define FRAME_OVERHEAD (BF_BODY_MAX - BF_CHUNK_MAX)

size_t
bfd_limits_frame_max(const BfdLimits *l)
{
  return (size_t)l->max_chunk + FRAME_OVERHEAD;
}

/* The protocol already refused absolute names, "..", empty components and
 * NUL (bf_name_check); this applies the server's tighter bounds. Only the
 * top .session is the view's: a/.session is any client's name. */
gboolean
bfd_limits_name_ok(const BfdLimits *l, const uint8_t *name, size_t len,
                   char **why)
{
  unsigned depth = 1;

  if (len == strlen(BFD_SESSION_FILE) &&
      memcmp(name, BFD_SESSION_FILE, len) == 0) {
    *why = g_strdup("the name " BFD_SESSION_FILE " is reserved: the server's "
                    "view shows its session file by that name");
    return FALSE;
  }
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
