/* The delivery interface: a dispatcher over the backends (delivery.h). */
#include "delivery.h"

#include "delivery-backend.h"
#include "ops.h"

void
bfc_delivery_start(BfcDelivery *d)
{
  d->ops->start(d);
}

void
bfc_delivery_stop(BfcDelivery *d)
{
  d->ops->stop(d);
}

void
bfc_delivery_free(BfcDelivery *d)
{
  if (d != NULL)
    d->ops->free(d);
}

GPtrArray *
bfc_delivery_recovered(BfcDelivery *d)
{
  return d->ops->recovered(d);
}

gboolean
bfc_delivery_wait_prefix(BfcDelivery *d, const char *prefix, GError **error)
{
  return d->ops->wait_prefix(d, prefix, error);
}

gboolean
bfc_delivery_mkdir(BfcDelivery *d, const char *name, uint32_t mode,
                   GError **error)
{
  if (d->ops->mkdir != NULL)
    return d->ops->mkdir(d, name, mode, error);
  return bfc_op(d->sess, BF_OP_MKDIR, name, NULL, mode, error);
}

gboolean
bfc_delivery_dir_setattr(BfcDelivery *d, const char *name, uint8_t flags,
                         uint32_t mode, const struct timespec *mtime,
                         GError **error)
{
  if (d->ops->dir_setattr != NULL)
    return d->ops->dir_setattr(d, name, flags, mode, mtime, error);
  return bfc_delivery_dir_setattr_now(d, name, flags, mode, mtime, error);
}

gboolean
bfc_delivery_dir_setattr_now(BfcDelivery *d, const char *name, uint8_t flags,
                             uint32_t mode, const struct timespec *mtime,
                             GError **error)
{
  if (flags & BF_SETATTR_MTIME) {
    g_autofree char *prefix = g_strconcat(name, "/", NULL);
    if (!bfc_delivery_wait_prefix(d, prefix, error))
      return FALSE;
  }
  return bfc_setattr(d->sess, name, flags, mode, mtime, error);
}

gboolean
bfc_delivery_local_space(BfcDelivery *d, struct statvfs *st)
{
  return d->ops->local_space != NULL && d->ops->local_space(d, st);
}

char *
bfc_delivery_describe(BfcDelivery *d)
{
  return d->ops->describe(d);
}

BfcVersion *
bfc_version_open(BfcDelivery *d, const char *name, uint32_t mode,
                 GError **error)
{
  return d->ops->open(d, name, mode, error);
}

gboolean
bfc_delivery_cuts(BfcDelivery *d)
{
  return d->ops->open_cut != NULL;
}

BfcVersion *
bfc_version_open_on(BfcDelivery *d, const char *name, uint32_t mode,
                    const BfcBase *base, gboolean *appends, GError **error)
{
  gboolean on = base != NULL && (base->cut ? d->ops->open_cut != NULL
                                             : d->ops->open_append != NULL);

  if (appends != NULL)
    *appends = on;
  if (!on)
    return d->ops->open(d, name, mode, error);
  if (base->cut)
    return d->ops->open_cut(d, name, mode, base->size, base->digest,
                            base->keep, base->state, error);
  return d->ops->open_append(d, name, mode, base->size, base->state,
                             base->digest, error);
}

BfcVersion *
bfc_version_ref(BfcVersion *v)
{
  g_atomic_int_inc(&v->refs);
  return v;
}

void
bfc_version_unref(BfcVersion *v)
{
  if (v != NULL && g_atomic_int_dec_and_test(&v->refs))
    v->d->ops->version_free(v);
}

char *
bfc_version_name(BfcVersion *v)
{
  return v->d->ops->name(v);
}

gboolean
bfc_version_write(BfcVersion *v, const void *buf, size_t len, uint64_t off,
                  GError **error)
{
  return v->d->ops->write(v, buf, len, off, error);
}

gboolean
bfc_version_truncate(BfcVersion *v, uint64_t size, GError **error)
{
  return v->d->ops->truncate(v, size, error);
}

uint64_t
bfc_version_size(BfcVersion *v)
{
  return v->d->ops->size(v);
}

gboolean
bfc_version_flush(BfcVersion *v, GError **error)
{
  return v->d->ops->flush(v, error);
}

void
bfc_version_release(BfcVersion *v)
{
  v->d->ops->release(v);
}

void
bfc_version_cancel(BfcVersion *v)
{
  v->d->ops->cancel(v);
}

gboolean
bfc_version_spooled(BfcVersion *v)
{
  return v->d->ops->local_space != NULL;
}

gboolean
bfc_version_released(BfcVersion *v)
{
  return v->d->ops->released(v);
}

gboolean
bfc_version_gone(BfcVersion *v, gboolean *delivered, uint64_t *size)
{
  return v->d->ops->gone(v, delivered, size);
}

gboolean
bfc_version_digest(BfcVersion *v, uint8_t *alg, uint8_t out[BF_DIGEST_LEN])
{
  return v->d->ops->digest(v, alg, out);
}

BfDigest *
bfc_version_digest_state(BfcVersion *v)
{
  return v->d->ops->digest_state != NULL ? v->d->ops->digest_state(v) : NULL;
}

gboolean
bfc_version_rename(BfcVersion *v, const char *from, const char *to,
                   gboolean older_on_server, gboolean *on_server,
                   GError **error)
{
  return v->d->ops->rename(v, from, to, older_on_server, on_server, error);
}

gboolean
bfc_version_keep_local(BfcVersion *v, GError **error)
{
  return v->d->ops->keep_local(v, error);
}

gssize
bfc_version_read(BfcVersion *v, void *buf, size_t len, uint64_t off,
                 GError **error)
{
  return v->d->ops->read(v, buf, len, off, error);
}

gboolean
bfc_version_setattr(BfcVersion *v, uint8_t flags, uint32_t mode,
                    const struct timespec *mtime, gboolean *on_server,
                    GError **error)
{
  return v->d->ops->setattr(v, flags, mode, mtime, on_server, error);
}
