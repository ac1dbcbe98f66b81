/* Counts of the file system operations libfuse calls on the outbox and
 * the time each took in the daemon, for .braidfs/metrics: how many
 * requests a cp, tar or rsync costs per file, and which ones wait. The
 * kernel's LOOKUPs arrive as getattr (libfuse answers them so). */
#pragma once

#include <glib.h>

typedef enum {
  BFC_FOP_GETATTR,
  BFC_FOP_READDIR,
  BFC_FOP_CREATE,
  BFC_FOP_OPEN,
  BFC_FOP_WRITE,
  BFC_FOP_READ,
  BFC_FOP_FLUSH,
  BFC_FOP_RELEASE,
  BFC_FOP_TRUNCATE,
  BFC_FOP_UNLINK,
  BFC_FOP_RENAME,
  BFC_FOP_CHMOD,
  BFC_FOP_CHOWN,
  BFC_FOP_UTIMENS,
  BFC_FOP_MKDIR,
  BFC_FOP_RMDIR,
  BFC_FOP_SYMLINK,
  BFC_FOP_READLINK,
  BFC_FOP_MKNOD,
  BFC_FOP_LINK,
  BFC_FOP_STATFS,
  BFC_FOP_SETXATTR,
  BFC_FOP_N
} BfcFop;

/* Counts one op that started at t0 (g_get_monotonic_time). Lock-free. */
void bfc_fop_done(BfcFop op, gint64 t0);
/* Appends the metrics braidfs_fuse_ops_total and
 * braidfs_fuse_op_seconds_total, labelled server="..." (labels, already
 * escaped) and op, of every op called at least once. */
void bfc_fop_metrics(GString *out, const char *labels);
