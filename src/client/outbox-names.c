/* The outbox's operations on names rather than file contents:
 * directories (made on the server at once), symlinks, hard links, FIFOs
 * and sockets (links.h), ownership and xattrs (not transferred), df
 * (space.h). */
#include "outbox-int.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "links.h"
#include "space.h"

int
bfc_ob_mkdir(const char *path, mode_t mode)
{
  Outbox *o = outbox();
  int rc = bfc_status_reserved(path) ? -EPERM
                                      : bfc_tree_name_free(&o->tree, path);

  if (rc == 0)
    rc = bfc_ob_run_op(o, BF_OP_MKDIR, path + 1, NULL, mode, FALSE);
  if (rc == 0)
    bfc_tree_attach_new(&o->tree, path,
                        bfc_node_new(strrchr(path, '/') + 1, TRUE, mode));
  return rc;
}

int
bfc_ob_rmdir(const char *path)
{
  Outbox *o = outbox();
  BfcNode *n;
  int rc;

  if (bfc_status_is(path))
    return -EPERM;   /* the status files are read-only */
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  rc = n == NULL ? -ENOENT : n->children == NULL ? -ENOTDIR
       : g_hash_table_size(n->children) ? -ENOTEMPTY : 0;
  bf_mutex_unlock(&o->tree.lock);
  if (rc == 0)
    rc = bfc_ob_run_op(o, BF_OP_RMDIR, path + 1, NULL, 0, TRUE);
  if (rc == 0) {
    bf_mutex_lock(&o->tree.lock);
    n = bfc_tree_lookup_locked(&o->tree, path);
    if (n && n->parent && n->children && !g_hash_table_size(n->children))
      bfc_node_remove(n);
    bf_mutex_unlock(&o->tree.lock);
  }
  return rc;
}

int
bfc_ob_symlink(const char *target, const char *path)
{
  Outbox *o = outbox();

  if (bfc_status_reserved(path))
    return -EPERM;
  return bfc_links_symlink(&o->tree, o->sess, target, path);
}

int
bfc_ob_readlink(const char *path, char *buf, size_t size)
{
  return bfc_links_readlink(&outbox()->tree, path, buf, size);
}

int
bfc_ob_mknod(const char *path, mode_t mode, dev_t rdev)
{
  Outbox *o = outbox();

  (void)rdev;
  if (bfc_status_reserved(path))
    return -EPERM;
  return bfc_links_mknod(&o->tree, o->sess, path, mode);
}

int
bfc_ob_link(const char *from, const char *to)
{
  Outbox *o = outbox();

  if (bfc_status_is(from) || bfc_status_reserved(to))
    return -EPERM;
  return bfc_links_link(&o->tree, o->sess, o->delivery, from, to);
}

int
bfc_ob_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  (void)path;
  (void)uid;
  (void)gid;
  (void)fi;
  return 0;   /* ownership is the server's; not transferred */
}

/* Extended attributes are not transferred (braidfs(1)): said at once,
 * so rsync -X reports it and copies the rest. */
int
bfc_ob_setxattr(const char *path, const char *name, const char *value,
                size_t size, int flags)
{
  (void)path;
  (void)name;
  (void)value;
  (void)size;
  (void)flags;
  return -ENOTSUP;
}

/* df shows the server's store (space.h). */
int
bfc_ob_statfs(const char *path, struct statvfs *st)
{
  Outbox *o = outbox();
  GError *error = NULL;
  struct statvfs sp;
  gboolean local = bfc_delivery_local_space(o->delivery, &sp);
  gboolean ok = bfc_space_statfs(o->sess, local ? &sp : NULL, st, &error);

  (void)path;
  return bfc_ob_result(ok, error);
}
