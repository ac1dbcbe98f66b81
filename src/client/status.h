/* The outbox's status directory, .braidfs: files a user or a script reads
 * to see the session (paths) and the spool (spool), in the format of
 * report.h. It is reachable by name and never listed, so that cp -r of
 * the outbox does not pick it up, and read-only. Its files answer without
 * waiting for the server: they take only locks never held across I/O. */
#pragma once

#include <fuse.h>
#include <sys/stat.h>

#include "delivery.h"
#include "session.h"
#include "tree.h"

typedef struct {
  BfcSession *sess;
  BfcDelivery *delivery;
  BfcTree *tree;
  gboolean spool;             /* the delivery has a .braidfs/spool */
  uid_t uid;
  gid_t gid;
} BfcStatusDir;

void bfc_status_init(BfcStatusDir *sd, BfcSession *s, BfcDelivery *d,
                     BfcTree *tree);
/* Whether path (absolute) is .braidfs or below it. */
gboolean bfc_status_is(const char *path);
/* Whether path (absolute) is a name nothing may be made by (EPERM):
 * .braidfs or below it (the read-only status files), or the top's
 * .session, which the server's view shows as its own file there. */
gboolean bfc_status_reserved(const char *path);
int bfc_status_getattr(const BfcStatusDir *sd, const char *path,
                       struct stat *st);
int bfc_status_readdir(const BfcStatusDir *sd, const char *path, void *buf,
                       fuse_fill_dir_t fill);
/* Opens a snapshot of the file's text as fi->fh. */
int bfc_status_open(const BfcStatusDir *sd, const char *path,
                    struct fuse_file_info *fi);
int bfc_status_read(struct fuse_file_info *fi, char *buf, size_t size,
                    off_t off);
void bfc_status_release(struct fuse_file_info *fi);
