/* The outbox's operations on names rather than file contents:
 * attributes and listings (the tree, tree.h), directories (made on the
 * server at once), symlinks, hard links, FIFOs
 * and sockets (links.h), ownership and xattrs (not transferred), df
 * (space.h). */
#include "outbox-int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "links.h"
#include "space.h"

static void
fill_stat(Outbox *o, BfcNode *n, struct stat *st) BF_REQUIRES(&o->tree.lock)
{
  memset(st, 0, sizeof *st);
  st->st_mode = (n->children ? S_IFDIR : n->kind ? n->kind : S_IFREG) |
                (n->kind == S_IFLNK ? 0777 : n->mode);
  st->st_nlink = n->children ? 2 : 1;
  st->st_uid = o->status.uid;
  st->st_gid = o->status.gid;
  st->st_size = n->target ? strlen(n->target)
                : n->kind ? 0 : bfc_node_size_locked(&o->tree, n);
  /* cp sizes its writes by st_blksize: one chunk per write(2). */
  st->st_blksize = bfc_session_config(o->sess)->chunk_size;
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_mtim = st->st_ctim = st->st_atim = n->mtime;
}

int
bfc_ob_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  gboolean trim;
  BfcNode *n;

  (void)fi;
  if (bfc_status_is(path))
    return bfc_status_getattr(&o->status, path, st);
  bf_mutex_lock(&o->tree.lock);
  /* Delivered versions are settled here too, not only at new ones. */
  trim = bfc_tree_sweep_locked(&o->tree);
  n = bfc_tree_lookup_locked(&o->tree, path);
  if (n)
    fill_stat(o, n, st);
  bf_mutex_unlock(&o->tree.lock);
  if (trim)
    bfc_tree_trim();
  return n ? 0 : -ENOENT;
}

int
bfc_ob_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
           struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  Outbox *o = outbox();
  GHashTableIter iter;
  gpointer v;
  BfcNode *n;

  (void)off;
  (void)fi;
  (void)flags;
  if (bfc_status_is(path))
    return bfc_status_readdir(&o->status, path, buf, fill);
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  if (n == NULL || n->children == NULL) {
    bf_mutex_unlock(&o->tree.lock);
    return n ? -ENOTDIR : -ENOENT;
  }
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  g_hash_table_iter_init(&iter, n->children);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    if (bfc_node_settle_locked(&o->tree, v))
      fill(buf, ((BfcNode *)v)->name, NULL, 0, 0);
    else
      g_hash_table_iter_remove(&iter);
  }
  bf_mutex_unlock(&o->tree.lock);
  return 0;
}

int
bfc_ob_mkdir(const char *path, mode_t mode)
{
  Outbox *o = outbox();
  int rc = bfc_status_reserved(path) ? -EPERM
                                      : bfc_tree_name_free(&o->tree, path);

  if (rc == 0) {
    GError *error = NULL;
    gboolean ok = bfc_delivery_mkdir(o->delivery, path + 1, mode, &error);
    rc = bfc_ob_result(ok, error);
  }
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
  if (rc == 0) {
    /* its time or mode, still queued (async-dirs.h), goes first */
    g_autofree char *prefix = g_strconcat(path + 1, "/", NULL);
    GError *error = NULL;
    if (!bfc_delivery_wait_prefix(o->delivery, prefix, &error))
      rc = bfc_ob_result(FALSE, error);
  }
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
