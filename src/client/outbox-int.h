/* What the outbox's FUSE operations share across their two files:
 * outbox.c (files: open, write, read, close, rename, unlink, attributes)
 * and outbox-names.c (directories, links, special files, xattrs, df). */
#pragma once

#include <fuse.h>

#include "delivery.h"
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

/* outbox-names.c */
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
