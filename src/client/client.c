/* What every module of the client shares: the error convention (client.h,
 * ERRORS) and the parsing of a path= option. */
#include "client.h"

#include <errno.h>
#include <string.h>

#include "braidfs/parse.h"
#include "braidfs/text.h"

G_DEFINE_QUARK(bfc-error-quark, bfc_error)

void
bfc_set_status_error(GError **error, uint8_t status, const char *format, ...)
{
  va_list ap;

  va_start(ap, format);
  g_autofree char *text = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_set_error_literal(error, BFC_ERROR, status, text);
}

gboolean
bfc_offset_after_base(const char *name, uint64_t base, gboolean cut,
                      uint64_t *off, GError **error)
{
  if (*off < base) {
    bfc_set_status_error(error, BF_ST_IO, cut
                         ? "'%s' is being changed from offset %" G_GUINT64_FORMAT
                           " on: the bytes before it cannot change through "
                           "this descriptor (close it and open the file again)"
                         : "'%s' was opened to append (O_APPEND): its first %"
                           G_GUINT64_FORMAT " bytes cannot change",
                         name, base);
    return FALSE;
  }
  *off -= base;
  return TRUE;
}

/* The errno a protocol status means to a FUSE caller (0 for OK): the one
 * switch from status to errno. */
static int
status_errno(uint8_t status)
{
  switch (status) {
  case BF_ST_OK: return 0;
  case BF_ST_NO_SPACE: return ENOSPC;
  case BF_ST_TOO_BIG: return EFBIG;
  case BF_ST_BAD_NAME: return EINVAL;
  case BF_ST_NOT_FOUND: return ENOENT;
  case BF_ST_EXISTS: return EEXIST;
  case BF_ST_NOT_EMPTY: return ENOTEMPTY;
  case BF_ST_LIMIT: return EAGAIN;
  case BF_ST_STALE: return ESTALE;
  default: return EIO;
  }
}

/* The errno a G_FILE_ERROR came from, where it tells the caller more than
 * EIO does. */
static int
file_errno(int code)
{
  switch (code) {
  case G_FILE_ERROR_NOSPC: return ENOSPC;
  case G_FILE_ERROR_NOENT: return ENOENT;
  case G_FILE_ERROR_EXIST: return EEXIST;
  case G_FILE_ERROR_ISDIR: return EISDIR;
  case G_FILE_ERROR_NOTDIR: return ENOTDIR;
  case G_FILE_ERROR_ACCES: return EACCES;
  case G_FILE_ERROR_PERM: return EPERM;
  case G_FILE_ERROR_NAMETOOLONG: return ENAMETOOLONG;
  case G_FILE_ERROR_INVAL: return EINVAL;
  case G_FILE_ERROR_ROFS: return EROFS;
  case G_FILE_ERROR_MFILE: return EMFILE;
  case G_FILE_ERROR_NFILE: return ENFILE;
  case G_FILE_ERROR_NOMEM: return ENOMEM;
  case G_FILE_ERROR_AGAIN: return EAGAIN;
  default: return EIO;
  }
}

int
bfc_error_errno(const GError *error)
{
  int e = EIO;

  if (error != NULL && error->domain == BFC_ERROR)
    e = error->code == BFC_ERROR_BUSY ? EBUSY
        : status_errno((uint8_t)error->code);
  else if (error != NULL && error->domain == G_FILE_ERROR)
    e = file_errno(error->code);
  return e != 0 ? e : EIO;
}

gboolean
bfc_error_is_permanent(const GError *error)
{
  return error != NULL && error->domain == BFC_ERROR &&
         (error->code == BF_ST_BAD_NAME || error->code == BF_ST_TOO_BIG ||
          error->code == BF_ST_EXISTS);
}

gboolean
bfc_path_spec_parse(const char *text, uint16_t default_port, BfcPathSpec *out,
                    GError **error)
{
  const char *bracket = strrchr(text, ']');
  const char *at = strrchr(text, '@');
  const char *pct = strrchr(text, '%');
  const char *cut = at ? at : (pct && (!bracket || pct > bracket) ? pct : NULL);
  g_autofree char *target = cut ? g_strndup(text, cut - text) : g_strdup(text);

  memset(out, 0, sizeof *out);
  if (cut != NULL && cut[1] == '\0') {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "path=%s: nothing after '%c'", text, *cut);
    return FALSE;
  }
  if (!bf_parse_hostport(target, default_port, &out->host, &out->port, error)) {
    g_prefix_error(error, "path=%s: ", text);
    return FALSE;
  }
  if (cut == at && at != NULL)
    out->bind_addr = g_strdup(at + 1);
  else if (cut != NULL)
    out->iface = g_strdup(cut + 1);
  return TRUE;
}

void
bfc_path_spec_clear(BfcPathSpec *spec)
{
  g_clear_pointer(&spec->host, g_free);
  g_clear_pointer(&spec->bind_addr, g_free);
  g_clear_pointer(&spec->iface, g_free);
}

char *
bfc_server_text(const BfBytes *text)
{
  return bf_text_show((const char *)text->data, text->len, G_MAXSIZE);
}
