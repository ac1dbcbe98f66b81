/* Mode and mtime (attrs.h). */
#include "attrs.h"

#include <errno.h>
#include <string.h>

#include "ops.h"

static void
node_set_attr(BfcTree *t, const char *path, uint8_t flags, uint32_t mode,
              const struct timespec *mtime)
{
  BfcNode *n;

  bf_mutex_lock(&t->lock);
  n = bfc_tree_lookup_locked(t, path);
  if (n != NULL && (flags & BF_SETATTR_MODE))
    n->mode = mode;
  if (n != NULL && (flags & BF_SETATTR_MTIME))
    n->mtime = *mtime;
  bf_mutex_unlock(&t->lock);
}

/* 0, or -errno for error (which it frees). */
static int
result(gboolean ok, GError *error)
{
  int rc = ok ? 0 : -bfc_error_errno(error);

  g_clear_error(&error);
  return rc;
}

int
bfc_attrs_set(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path,
              BfcVersion *v, uint8_t flags, uint32_t mode,
              const struct timespec *mtime)
{
  gboolean on_server = TRUE, found, dir;
  GError *error = NULL;
  int rc;

  if (v != NULL)
    bfc_version_ref(v);
  bf_mutex_lock(&t->lock);
  BfcNode *n = bfc_tree_lookup_locked(t, path);
  if (v == NULL && n != NULL && n->ver != NULL)
    v = bfc_version_ref(n->ver);
  found = n != NULL || v != NULL;
  dir = n != NULL && n->children != NULL;
  bf_mutex_unlock(&t->lock);
  if (!found)
    return -ENOENT;
  /* The outbox's root is the session's directory on the server, which
   * the server names and dates: its attributes stay in the outbox (cp -a
   * and rsync -a into the root set them). A directory's files still on
   * their way would change its mtime on the server after this: the
   * delivery sees to the order (delivery.h). */
  if (dir && strcmp(path, "/") != 0) {
    gboolean ok = bfc_delivery_dir_setattr(d, path + 1, flags, mode, mtime,
                                           &error);
    if ((rc = result(ok, error)) < 0)
      return rc;
  }
  if (v != NULL) {
    gboolean ok = bfc_version_setattr(v, flags, mode, mtime, &on_server, &error);
    bfc_version_unref(v);
    if (!ok)
      return result(FALSE, error);
  }
  if (on_server && !dir && strcmp(path, "/") != 0) {
    gboolean ok = bfc_setattr(s, path + 1, flags, mode, mtime, &error);
    if ((rc = result(ok, error)) < 0)
      return rc;
  }
  node_set_attr(t, path, flags, mode, mtime);
  return 0;
}
