/* What a delivery backend provides (see delivery.h): its table of
 * functions, and the common head of its delivery and of its versions,
 * which it embeds first in its own structs. Only delivery.c calls these,
 * and only the backends (deliver-close.c, deliver-async.c) include this. */
#pragma once

#include <sys/statvfs.h>
#include <time.h>

#include "state.h"

#include "braidfs/digest.h"

/* (also in delivery.h, which this header does not include: delivery.c,
 * the dispatcher, depends on it, not the other way) */
typedef struct BfcDelivery BfcDelivery;
typedef struct BfcVersion BfcVersion;

typedef struct {
  void (*start)(BfcDelivery *d);
  void (*stop)(BfcDelivery *d);
  void (*free)(BfcDelivery *d);
  GPtrArray *(*recovered)(BfcDelivery *d);
  gboolean (*wait_prefix)(BfcDelivery *d, const char *prefix, GError **error);
  /* NULL: the MKDIR waits for the server's answer. */
  gboolean (*mkdir)(BfcDelivery *d, const char *name, uint32_t mode,
                    GError **error);
  /* NULL: bfc_delivery_dir_setattr_now. */
  gboolean (*dir_setattr)(BfcDelivery *d, const char *name, uint8_t flags,
                          uint32_t mode, const struct timespec *mtime,
                          GError **error);
  char *(*describe)(BfcDelivery *d);
  /* NULL if the backend keeps nothing on the client's disk. */
  gboolean (*local_space)(BfcDelivery *d, struct statvfs *st);

  BfcVersion *(*open)(BfcDelivery *d, const char *name, uint32_t mode,
                      GError **error);
  /* NULL if the backend sends an append whole (a copy up). */
  BfcVersion *(*open_append)(BfcDelivery *d, const char *name, uint32_t mode,
                             uint64_t size, const BfDigest *state,
                             const uint8_t digest[BF_DIGEST_LEN],
                             GError **error);
  /* NULL if the backend sends a cut version whole (a copy up). */
  BfcVersion *(*open_cut)(BfcDelivery *d, const char *name, uint32_t mode,
                          uint64_t size, const uint8_t digest[BF_DIGEST_LEN],
                          uint64_t keep, const BfDigest *keep_state,
                          GError **error);
  void (*version_free)(BfcVersion *v);
  char *(*name)(BfcVersion *v);
  gboolean (*write)(BfcVersion *v, const void *buf, size_t len, uint64_t off,
                    GError **error);
  gboolean (*truncate)(BfcVersion *v, uint64_t size, GError **error);
  gboolean (*keep_local)(BfcVersion *v, GError **error);
  gssize (*read)(BfcVersion *v, void *buf, size_t len, uint64_t off,
                 GError **error);
  uint64_t (*size)(BfcVersion *v);
  gboolean (*flush)(BfcVersion *v, GError **error);
  void (*release)(BfcVersion *v);
  void (*cancel)(BfcVersion *v);
  gboolean (*released)(BfcVersion *v);
  gboolean (*gone)(BfcVersion *v, gboolean *delivered, uint64_t *size);
  gboolean (*digest)(BfcVersion *v, uint8_t *alg,
                     uint8_t out[BF_DIGEST_LEN]);
  /* NULL if the backend does not append (open_append NULL). */
  BfDigest *(*digest_state)(BfcVersion *v);
  gboolean (*rename)(BfcVersion *v, const char *from, const char *to,
                     gboolean older_on_server, gboolean *on_server,
                     GError **error);
  gboolean (*setattr)(BfcVersion *v, uint8_t flags, uint32_t mode,
                      const struct timespec *mtime, gboolean *on_server,
                      GError **error);
} BfcDeliveryOps;

struct BfcDelivery {
  const BfcDeliveryOps *ops;
  BfcSession *sess;
};

struct BfcVersion {
  BfcDelivery *d;
  gint refs;
};

/* Sets the common head of a backend's version (one reference). */
static inline void
bfc_version_init(BfcVersion *v, BfcDelivery *d)
{
  v->d = d;
  v->refs = 1;
}
