/* delivery=close (deliver-close.h): each version is an item. */
#include "deliver-close.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "braidfs/io.h"

#include "delivery-backend.h"
#include "readback.h"
#include "writer.h"

typedef struct {
  BfcVersion base;
  BfcItem *item;
  int local_fd;               /* the bytes written, kept to be read back by
                                 their own descriptor (an unlinked file in
                                 the temporary directory), or -1; set
                                 before the first write */
  gint released;              /* atomic: no descriptor left */
  gint stored;                /* atomic: what it ended as, once released */
} CloseVersion;

static CloseVersion *
cv(BfcVersion *v)
{
  return (CloseVersion *)v;
}

static void noop(BfcDelivery *d) { (void)d; }

static void
close_free(BfcDelivery *d)
{
  g_free(d);
}

static GPtrArray *
close_recovered(BfcDelivery *d)
{
  (void)d;
  return NULL;
}

static gboolean
close_wait_prefix(BfcDelivery *d, const char *prefix, GError **error)
{
  (void)d;
  (void)prefix;
  (void)error;
  return TRUE;   /* nothing is pending once its close(2) returned */
}

static char *
close_describe(BfcDelivery *d)
{
  (void)d;
  return NULL;
}

static BfcVersion *
close_open(BfcDelivery *d, const char *name, uint32_t mode, GError **error)
{
  CloseVersion *v = g_new0(CloseVersion, 1);

  (void)error;
  bfc_version_init(&v->base, d);
  v->item = bfc_item_new(d->sess, name, mode);
  v->local_fd = -1;
  return &v->base;
}

static BfcVersion *
close_open_append(BfcDelivery *d, const char *name, uint32_t mode,
                  uint64_t size, const BfDigest *state,
                  const uint8_t digest[BF_DIGEST_LEN], GError **error)
{
  CloseVersion *v = g_new0(CloseVersion, 1);

  (void)error;
  bfc_version_init(&v->base, d);
  v->item = bfc_item_new_append(d->sess, name, mode, size, state, digest);
  v->local_fd = -1;
  return &v->base;
}

static BfcVersion *
close_open_cut(BfcDelivery *d, const char *name, uint32_t mode, uint64_t size,
               const uint8_t digest[BF_DIGEST_LEN], uint64_t keep,
               const BfDigest *keep_state, GError **error)
{
  CloseVersion *v = g_new0(CloseVersion, 1);

  (void)error;
  bfc_version_init(&v->base, d);
  v->item = bfc_item_new_cut(d->sess, name, mode, size, digest, keep,
                             keep_state);
  v->local_fd = -1;
  return &v->base;
}

static void
close_version_free(BfcVersion *v)
{
  if (cv(v)->local_fd >= 0)
    close(cv(v)->local_fd);
  bfc_item_unref(cv(v)->item);
  g_free(v);
}

/* A local copy's failure, naming the file and what to do. */
static gboolean
local_error(int err, const char *what, GError **error)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
              "a file read while it is written: %s its local copy in %s "
              "failed: %s (set TMPDIR to a local disk with room)", what,
              g_get_tmp_dir(), g_strerror(err));
  return FALSE;
}

static gboolean
close_keep_local(BfcVersion *v, GError **error)
{
  int fd = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

  if (fd < 0 && errno == EOPNOTSUPP) {     /* a file system without it */
    g_autofree char *path = NULL;

    if ((fd = g_file_open_tmp("braidfs-XXXXXX", &path, NULL)) >= 0)
      unlink(path);
  }
  if (fd < 0)
    return local_error(errno, "making", error);
  cv(v)->local_fd = fd;
  return TRUE;
}

static gssize
close_read(BfcVersion *v, void *buf, size_t len, uint64_t off, GError **error)
{
  BfcItem *it = cv(v)->item;
  size_t head = 0;
  ssize_t n;

  if (cv(v)->local_fd < 0) {
    g_set_error_literal(error, BFC_ERROR, BFC_ERROR_BUSY, "a file being "
                        "written, not opened for reading");
    return -1;
  }
  /* The bytes before an append's or a cut's start were never written
   * here: they are the stored file's, before and after this version. */
  if (off < it->base && len > 0) {
    head = (size_t)MIN((uint64_t)len, it->base - off);
    n = bfc_readback(it->sess, it->name, buf, head, off, error);
    if (n != (ssize_t)head)
      return n < 0 ? -1 : n;
  }
  if (len == head)
    return (gssize)head;
  n = bf_pread_all(cv(v)->local_fd, (uint8_t *)buf + head, len - head,
                   off + head);
  if (n < 0)
    local_error((int)-n, "reading", error);
  return n < 0 ? -1 : (gssize)head + n;
}

static char *
close_name(BfcVersion *v)
{
  (void)v;
  return NULL;   /* never recovered, so never asked */
}

static gboolean
close_write(BfcVersion *v, const void *buf, size_t len, uint64_t off,
            GError **error)
{
  int rc;

  if (cv(v)->local_fd >= 0 &&
      (rc = bf_pwrite_all(cv(v)->local_fd, buf, len, off)) < 0)
    return local_error(-rc, "writing", error);
  return bfc_item_write(cv(v)->item, buf, len, off, error);
}

static gboolean
close_truncate(BfcVersion *v, uint64_t size, GError **error)
{
  if (cv(v)->local_fd >= 0 && ftruncate(cv(v)->local_fd, (off_t)size) < 0)
    return local_error(errno, "truncating", error);
  return bfc_item_truncate(cv(v)->item, size, error);
}

static uint64_t
close_size(BfcVersion *v)
{
  return bfc_item_size(cv(v)->item);
}

static gboolean
close_flush(BfcVersion *v, GError **error)
{
  return bfc_item_close(cv(v)->item, error);
}

static void
close_release(BfcVersion *v)
{
  BfcItem *it = cv(v)->item;

  /* Without a flush (the writer was killed mid-way) nothing is stored. */
  if (!g_atomic_int_get(&it->closed))
    bfc_item_cancel(it);
  g_atomic_int_set(&cv(v)->stored, bfc_item_stored(it));
  g_atomic_int_set(&cv(v)->released, TRUE);
}

static void
close_cancel(BfcVersion *v)
{
  bfc_item_cancel(cv(v)->item);
}

static gboolean
close_released(BfcVersion *v)
{
  return g_atomic_int_get(&cv(v)->released);
}

static gboolean
close_gone(BfcVersion *v, gboolean *delivered, uint64_t *size)
{
  if (!g_atomic_int_get(&cv(v)->released))
    return FALSE;
  *delivered = g_atomic_int_get(&cv(v)->stored);
  *size = *delivered ? bfc_item_size(cv(v)->item) : 0;
  return TRUE;
}

static gboolean
close_digest(BfcVersion *v, uint8_t *alg, uint8_t out[BF_DIGEST_LEN])
{
  BfcItem *it = cv(v)->item;
  BfcSession *s = it->sess;
  gboolean ok;

  if (!g_atomic_int_get(&cv(v)->stored))
    return FALSE;
  bf_mutex_lock(&s->lock);
  ok = it->close_sent && it->close_msg.digest_alg != 0 &&
       s->cfg.coding.kind != BF_CODING_SHAMIR;   /* its digest is hidden */
  if (ok) {
    *alg = it->close_msg.digest_alg;
    memcpy(out, it->close_msg.digest, BF_DIGEST_LEN);
  }
  bf_mutex_unlock(&s->lock);
  return ok;
}

/* Only a stripe item's state: a base is never coded (shamir hides the
 * digest, and an rs item is sent whole again). */
static BfDigest *
close_digest_state(BfcVersion *v)
{
  BfcItem *it = cv(v)->item;

  if (!g_atomic_int_get(&cv(v)->stored) ||
      it->sess->cfg.coding.kind != BF_CODING_STRIPE)
    return NULL;
  return bfc_item_whole_state(it);
}

static gboolean
close_rename(BfcVersion *v, const char *from, const char *to,
             gboolean older_on_server, gboolean *on_server, GError **error)
{
  gboolean later;

  /* The item renames itself on the server once stored; an older version
   * under from is replaced by it before that. */
  (void)from;
  (void)older_on_server;
  if (!bfc_item_rename(cv(v)->item, to, &later, error))
    return FALSE;
  *on_server = !later;
  return TRUE;
}

static gboolean
close_setattr(BfcVersion *v, uint8_t flags, uint32_t mode,
              const struct timespec *mtime, gboolean *on_server,
              GError **error)
{
  gboolean applied;

  if (!bfc_item_set_attrs(cv(v)->item, flags, mode, mtime, &applied, error))
    return FALSE;
  *on_server = !applied;
  return TRUE;
}

static const BfcDeliveryOps close_ops = {
  .start = noop,
  .stop = noop,
  .free = close_free,
  .recovered = close_recovered,
  .wait_prefix = close_wait_prefix,
  .describe = close_describe,
  .open = close_open,
  .open_append = close_open_append,
  .open_cut = close_open_cut,
  .version_free = close_version_free,
  .name = close_name,
  .write = close_write,
  .truncate = close_truncate,
  .keep_local = close_keep_local,
  .read = close_read,
  .size = close_size,
  .flush = close_flush,
  .release = close_release,
  .cancel = close_cancel,
  .released = close_released,
  .gone = close_gone,
  .digest = close_digest,
  .digest_state = close_digest_state,
  .rename = close_rename,
  .setattr = close_setattr,
};

BfcDelivery *
bfc_deliver_close_new(BfcSession *s)
{
  BfcDelivery *d = g_new0(BfcDelivery, 1);

  d->ops = &close_ops;
  d->sess = s;
  return d;
}
