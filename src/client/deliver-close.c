/* delivery=close (deliver-close.h): each version is an item. */
#include "deliver-close.h"

#include "delivery-backend.h"
#include "writer.h"

typedef struct {
  BfcVersion base;
  BfcItem *item;
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
  return &v->base;
}

static void
close_version_free(BfcVersion *v)
{
  bfc_item_unref(cv(v)->item);
  g_free(v);
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
  return bfc_item_write(cv(v)->item, buf, len, off, error);
}

static gboolean
close_truncate(BfcVersion *v, uint64_t size, GError **error)
{
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
close_is_open(BfcVersion *v)
{
  return !g_atomic_int_get(&cv(v)->released);
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
  .version_free = close_version_free,
  .name = close_name,
  .write = close_write,
  .truncate = close_truncate,
  .size = close_size,
  .flush = close_flush,
  .release = close_release,
  .cancel = close_cancel,
  .is_open = close_is_open,
  .gone = close_gone,
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
