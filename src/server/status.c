/* The server's error domain and the one mapping from errno to a protocol
 * status. */
#include "status.h"

#include <errno.h>
#include <stdarg.h>

#include "braidfs/seal.h"
#include "braidfs/wire.h"

G_DEFINE_QUARK(bfd-error-quark, bfd_error)

uint8_t
bfd_status_from_errno(int err)
{
  switch (err) {
  case ENOSPC:
  case EDQUOT:
    return BF_ST_NO_SPACE;
  case ENOENT:
    return BF_ST_NOT_FOUND;
  case EEXIST:
  case EISDIR:
  case ENOTDIR:
    return BF_ST_EXISTS;
  case ENOTEMPTY:
    return BF_ST_NOT_EMPTY;
  case ENAMETOOLONG:
  case ELOOP:      /* a symlink in the store: never followed */
  case EXDEV:      /* a path that would leave the store */
    return BF_ST_BAD_NAME;
  case EFBIG:
    return BF_ST_TOO_BIG;
  case EMFILE:
  case ENFILE:
    return BF_ST_LIMIT;
  default:
    return BF_ST_IO;
  }
}

gboolean
bfd_set_error_errno(GError **error, int err, const char *format, ...)
{
  va_list ap;

  if (error == NULL)
    return FALSE;
  va_start(ap, format);
  g_autofree char *what = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_set_error(error, BFD_ERROR, bfd_status_from_errno(err), "%s: %s", what,
              g_strerror(err));
  return FALSE;
}

uint8_t
bfd_error_status(const GError *error)
{
  if (error->domain == BFD_ERROR)
    return (uint8_t)error->code;
  if (error->domain == BF_SEAL_ERROR)
    return BF_ST_CORRUPT;
  if (error->domain != BF_WIRE_ERROR)
    return BF_ST_IO;
  switch (error->code) {
  case BF_WIRE_ERROR_TOO_LONG:
    return BF_ST_TOO_BIG;
  case BF_WIRE_ERROR_NAME:
    return BF_ST_BAD_NAME;
  default:
    return BF_ST_PROTOCOL;
  }
}
