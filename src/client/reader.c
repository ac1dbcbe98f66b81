/* Opening for reading (reader.h). */
#include "reader.h"

#include <errno.h>

#include "session.h"

/* Whether path can be read back: 0, -errno, or 1 when a version of it is
 * still on its way (to wait for). */
static int
readable(BfcTree *t, const char *path)
{
  BfcNode *n;
  int rc;

  bf_mutex_lock(&t->lock);
  n = bfc_tree_lookup_locked(t, path);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR : n->kind ? -ENXIO
       : n->starting || (n->ver && bfc_version_is_open(n->ver)) ? -EBUSY
       : n->ver != NULL ? 1 : 0;
  bf_mutex_unlock(&t->lock);
  return rc;
}

int
bfc_reader_open(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path)
{
  GError *error = NULL;
  int rc;

  if (bfc_session_config(s)->coding.kind == BF_CODING_SHAMIR) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, NULL, path + 1), "'%s': not read "
           "back under coding=shamir, whose files never travel whole on one "
           "path (EACCES)", path + 1);
    return -EACCES;
  }
  rc = readable(t, path);
  if (rc == 1 && !bfc_delivery_wait_prefix(d, path + 1, &error)) {
    rc = -bfc_error_errno(error);
    g_clear_error(&error);
    return rc;
  }
  if (rc == 1)
    rc = readable(t, path);
  return rc == 1 ? -EBUSY : rc;
}
