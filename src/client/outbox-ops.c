/* The outbox's table of FUSE operations (outbox.h): each one counted and
 * timed for .braidfs/metrics (fopstats.h) on its way to outbox.c or
 * outbox-names.c. */
#include "outbox.h"
#include "outbox-int.h"

#include "fopstats.h"

#define TIMED(op, fn, params, args)                                     \
  static int fn##_timed params                                          \
  {                                                                     \
    gint64 t0 = g_get_monotonic_time();                                 \
    int rc = fn args;                                                   \
                                                                        \
    bfc_fop_done(op, t0);                                               \
    return rc;                                                          \
  }
typedef struct fuse_file_info Fi;
TIMED(BFC_FOP_GETATTR, bfc_ob_getattr, (const char *p, struct stat *st,
      Fi *fi), (p, st, fi))
TIMED(BFC_FOP_READLINK, bfc_ob_readlink, (const char *p, char *b, size_t n),
      (p, b, n))
TIMED(BFC_FOP_READDIR, bfc_ob_readdir, (const char *p, void *b,
      fuse_fill_dir_t f, off_t off, Fi *fi, enum fuse_readdir_flags fl),
      (p, b, f, off, fi, fl))
TIMED(BFC_FOP_SYMLINK, bfc_ob_symlink, (const char *t, const char *p), (t, p))
TIMED(BFC_FOP_MKNOD, bfc_ob_mknod, (const char *p, mode_t m, dev_t d),
      (p, m, d))
TIMED(BFC_FOP_LINK, bfc_ob_link, (const char *a, const char *b), (a, b))
TIMED(BFC_FOP_MKDIR, bfc_ob_mkdir, (const char *p, mode_t m), (p, m))
TIMED(BFC_FOP_RMDIR, bfc_ob_rmdir, (const char *p), (p))
TIMED(BFC_FOP_CREATE, bfc_ob_create, (const char *p, mode_t m, Fi *fi),
      (p, m, fi))
TIMED(BFC_FOP_OPEN, bfc_ob_open, (const char *p, Fi *fi), (p, fi))
TIMED(BFC_FOP_WRITE, bfc_ob_write, (const char *p, const char *b, size_t n,
      off_t off, Fi *fi), (p, b, n, off, fi))
TIMED(BFC_FOP_READ, bfc_ob_read, (const char *p, char *b, size_t n,
      off_t off, Fi *fi), (p, b, n, off, fi))
TIMED(BFC_FOP_FLUSH, bfc_ob_flush, (const char *p, Fi *fi), (p, fi))
TIMED(BFC_FOP_RELEASE, bfc_ob_release, (const char *p, Fi *fi), (p, fi))
TIMED(BFC_FOP_TRUNCATE, bfc_ob_truncate, (const char *p, off_t n, Fi *fi),
      (p, n, fi))
TIMED(BFC_FOP_UNLINK, bfc_ob_unlink, (const char *p), (p))
TIMED(BFC_FOP_RENAME, bfc_ob_rename, (const char *a, const char *b,
      unsigned int fl), (a, b, fl))
TIMED(BFC_FOP_CHMOD, bfc_ob_chmod, (const char *p, mode_t m, Fi *fi),
      (p, m, fi))
TIMED(BFC_FOP_CHOWN, bfc_ob_chown, (const char *p, uid_t u, gid_t g,
      Fi *fi), (p, u, g, fi))
TIMED(BFC_FOP_UTIMENS, bfc_ob_utimens, (const char *p,
      const struct timespec tv[2], Fi *fi), (p, tv, fi))
TIMED(BFC_FOP_STATFS, bfc_ob_statfs, (const char *p, struct statvfs *st),
      (p, st))
TIMED(BFC_FOP_SETXATTR, bfc_ob_setxattr, (const char *p, const char *name,
      const char *v, size_t n, int fl), (p, name, v, n, fl))

static const struct fuse_operations outbox_ops = {
  .init = bfc_ob_init,
  .destroy = bfc_ob_destroy,
  .getattr = bfc_ob_getattr_timed,
  .readlink = bfc_ob_readlink_timed,
  .readdir = bfc_ob_readdir_timed,
  .symlink = bfc_ob_symlink_timed,
  .mknod = bfc_ob_mknod_timed,
  .link = bfc_ob_link_timed,
  .mkdir = bfc_ob_mkdir_timed,
  .rmdir = bfc_ob_rmdir_timed,
  .create = bfc_ob_create_timed,
  .open = bfc_ob_open_timed,
  .write = bfc_ob_write_timed,
  .read = bfc_ob_read_timed,
  .flush = bfc_ob_flush_timed,
  .release = bfc_ob_release_timed,
  .truncate = bfc_ob_truncate_timed,
  .unlink = bfc_ob_unlink_timed,
  .rename = bfc_ob_rename_timed,
  .chmod = bfc_ob_chmod_timed,
  .chown = bfc_ob_chown_timed,
  .utimens = bfc_ob_utimens_timed,
  .statfs = bfc_ob_statfs_timed,
  .setxattr = bfc_ob_setxattr_timed,
};

const struct fuse_operations *
bfc_outbox_ops(void)
{
  return &outbox_ops;
}
