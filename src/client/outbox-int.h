/* What the outbox's FUSE operations share across their files: outbox.c
 * (files: open, write, read, close, rename, unlink, modes and times),
 * outbox-names.c (attributes, listings, directories, links, special
 * files, xattrs, df) and
 * outbox-ops.c (the table of them all, each counted). */
#pragma once

#include <fuse.h>

#include "delivery.h"
#include "handles.h"
#include "ops.h"
#include "reader.h"
#include "session.h"
#include "status.h"
#include "tree.h"

typedef struct {
  BfcSession *sess;
  BfcDelivery *delivery;
  BfcTree tree;
  BfcStatusDir status;
  BfcCopyUps copies;
  BfcHandles handles;
} Outbox;

static inline Outbox *
outbox(void)
{
  return fuse_get_context()->private_data;
}

/* 0, or -errno of error (which it frees). */
int bfc_ob_result(gboolean ok, GError *error);
/* A directory operation on the server; NOT_FOUND is success when
 * gone_is_ok (what should go is gone). */
int bfc_ob_run_op(Outbox *o, BfOpKind op, const char *name, const char *name2,
                  uint32_t mode, gboolean gone_is_ok);

/* outbox.c */
void *bfc_ob_init(struct fuse_conn_info *conn, struct fuse_config *cfg);
void bfc_ob_destroy(void *data);
int bfc_ob_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int bfc_ob_open(const char *path, struct fuse_file_info *fi);
int bfc_ob_write(const char *path, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
int bfc_ob_read(const char *path, char *buf, size_t size, off_t off,
                struct fuse_file_info *fi);
int bfc_ob_flush(const char *path, struct fuse_file_info *fi);
int bfc_ob_release(const char *path, struct fuse_file_info *fi);
int bfc_ob_truncate(const char *path, off_t size, struct fuse_file_info *fi);
int bfc_ob_unlink(const char *path);
int bfc_ob_rename(const char *from, const char *to, unsigned int flags);
int bfc_ob_chmod(const char *path, mode_t mode, struct fuse_file_info *fi);
int bfc_ob_utimens(const char *path, const struct timespec tv[2],
                   struct fuse_file_info *fi);

/* outbox-names.c */
int bfc_ob_getattr(const char *path, struct stat *st,
                   struct fuse_file_info *fi);
int bfc_ob_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
                   off_t off, struct fuse_file_info *fi,
                   enum fuse_readdir_flags flags);
int bfc_ob_mkdir(const char *path, mode_t mode);
int bfc_ob_rmdir(const char *path);
int bfc_ob_symlink(const char *target, const char *path);
int bfc_ob_readlink(const char *path, char *buf, size_t size);
int bfc_ob_mknod(const char *path, mode_t mode, dev_t rdev);
int bfc_ob_link(const char *from, const char *to);
int bfc_ob_chown(const char *path, uid_t uid, gid_t gid,
                 struct fuse_file_info *fi);
int bfc_ob_setxattr(const char *path, const char *name, const char *value,
                    size_t size, int flags);
int bfc_ob_statfs(const char *path, struct statvfs *st);
