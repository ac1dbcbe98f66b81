/* Symlinks, hard links, FIFOs and sockets (links.h). */
#include "links.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ops.h"

/* 0, or -errno for error (which it frees). */
static int
result(gboolean ok, GError *error)
{
  int rc = ok ? 0 : -bfc_error_errno(error);

  g_clear_error(&error);
  return rc;
}

static const char *
leaf_of(const char *path)
{
  return strrchr(path, '/') + 1;
}

int
bfc_links_symlink(BfcTree *t, BfcSession *s, const char *target,
                  const char *path)
{
  GError *error = NULL;
  int rc = bfc_tree_name_free(t, path);

  if (rc == 0 && (target[0] == '\0' || strlen(target) > BF_SYMLINK_MAX))
    rc = -ENAMETOOLONG;
  if (rc == 0)
    rc = result(bfc_op(s, BF_OP_SYMLINK, path + 1, target, 0, &error), error);
  if (rc == 0)
    bfc_tree_attach_new(t, path, bfc_node_new_special(leaf_of(path), S_IFLNK,
                                                      0777, target));
  return rc;
}

int
bfc_links_readlink(BfcTree *t, const char *path, char *buf, size_t size)
{
  BfcNode *n;
  int rc = 0;

  if (size == 0)
    return -EINVAL;
  bf_mutex_lock(&t->lock);
  n = bfc_tree_lookup_locked(t, path);
  if (n == NULL)
    rc = -ENOENT;
  else if (n->kind != S_IFLNK)
    rc = -EINVAL;
  else
    g_strlcpy(buf, n->target, size);
  bf_mutex_unlock(&t->lock);
  return rc;
}

/* FIFOs and sockets are made on the server as what they are (a name and
 * a mode; nothing flows through them). Device nodes are refused: the
 * store never holds one (braidfs(1), Other file types). */
int
bfc_links_mknod(BfcTree *t, BfcSession *s, const char *path, mode_t mode)
{
  uint8_t kind = S_ISFIFO(mode) ? BF_MKNOD_FIFO
                 : S_ISSOCK(mode) ? BF_MKNOD_SOCK : 0;
  GError *error = NULL;
  int rc;

  if (kind == 0) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, NULL, path + 1), "'%s': device "
           "nodes are not transferred (EPERM); FIFOs and sockets are",
           path + 1);
    return -EPERM;
  }
  if ((rc = bfc_tree_name_free(t, path)) < 0)
    return rc;
  rc = result(bfc_mknod(s, path + 1, kind, mode, &error), error);
  if (rc == 0)
    bfc_tree_attach_new(t, path, bfc_node_new_special(leaf_of(path),
                                                      mode & S_IFMT,
                                                      mode & 07777, NULL));
  return rc;
}

/* The node a link of from copies: a delivered regular file, or -errno. */
static int
link_source(BfcTree *t, const char *from, const char *leaf, BfcNode **copy)
{
  BfcNode *n;
  int rc = 0;

  bf_mutex_lock(&t->lock);
  n = bfc_tree_lookup_locked(t, from);
  if (n == NULL)
    rc = -ENOENT;
  else if (n->children || n->kind)
    rc = -EPERM;      /* only regular files are linked */
  else if (bfc_node_writing(n))
    rc = -EBUSY;      /* being written: no contents to link yet */
  else
    *copy = bfc_node_new_link(leaf, n);
  bf_mutex_unlock(&t->lock);
  return rc;
}

/* Sent once, linked on the server. A version still on its way is waited
 * for first, so that the link names what was delivered. */
int
bfc_links_link(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *from,
               const char *to)
{
  GError *error = NULL;
  BfcNode *copy = NULL;
  int rc = bfc_tree_name_free(t, to);

  if (rc == 0 && !bfc_delivery_wait_prefix(d, from + 1, &error))
    rc = result(FALSE, error);
  if (rc == 0)
    rc = link_source(t, from, leaf_of(to), &copy);
  if (rc == 0)
    rc = result(bfc_op(s, BF_OP_LINK, from + 1, to + 1, 0, &error), error);
  if (rc == 0)
    bfc_tree_attach_new(t, to, g_steal_pointer(&copy));
  g_clear_pointer(&copy, bfc_node_free);
  return rc;
}
