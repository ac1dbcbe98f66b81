/* Counts of the outbox's FUSE operations (fopstats.h). */
#include "fopstats.h"

#include <stdatomic.h>
#include <stdint.h>

/* One process serves one mount: the counts are the process's. */
static atomic_uint_fast64_t counts[BFC_FOP_N];
static atomic_uint_fast64_t micros[BFC_FOP_N];

static const char *const names[BFC_FOP_N] = {
  [BFC_FOP_GETATTR] = "getattr", [BFC_FOP_READDIR] = "readdir",
  [BFC_FOP_CREATE] = "create", [BFC_FOP_OPEN] = "open",
  [BFC_FOP_WRITE] = "write", [BFC_FOP_READ] = "read",
  [BFC_FOP_FLUSH] = "flush", [BFC_FOP_RELEASE] = "release",
  [BFC_FOP_TRUNCATE] = "truncate", [BFC_FOP_UNLINK] = "unlink",
  [BFC_FOP_RENAME] = "rename", [BFC_FOP_CHMOD] = "chmod",
  [BFC_FOP_CHOWN] = "chown", [BFC_FOP_UTIMENS] = "utimens",
  [BFC_FOP_MKDIR] = "mkdir", [BFC_FOP_RMDIR] = "rmdir",
  [BFC_FOP_SYMLINK] = "symlink", [BFC_FOP_READLINK] = "readlink",
  [BFC_FOP_MKNOD] = "mknod", [BFC_FOP_LINK] = "link",
  [BFC_FOP_STATFS] = "statfs", [BFC_FOP_SETXATTR] = "setxattr",
};

void
bfc_fop_done(BfcFop op, gint64 t0)
{
  gint64 dt = g_get_monotonic_time() - t0;

  atomic_fetch_add_explicit(&counts[op], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&micros[op], (uint_fast64_t)MAX(dt, 0),
                            memory_order_relaxed);
}

void
bfc_fop_metrics(GString *out, const char *labels)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append(out, "# HELP braidfs_fuse_ops_total file system operations "
                  "the kernel asked of the outbox (a LOOKUP is a getattr)\n"
                  "# TYPE braidfs_fuse_ops_total counter\n");
  for (int i = 0; i < BFC_FOP_N; i++) {
    uint_fast64_t n = atomic_load_explicit(&counts[i], memory_order_relaxed);
    if (n > 0)
      g_string_append_printf(out, "braidfs_fuse_ops_total{%s,op=\"%s\"} %"
                             G_GUINT64_FORMAT "\n", labels, names[i],
                             (guint64)n);
  }
  g_string_append(out, "# HELP braidfs_fuse_op_seconds_total time the "
                  "outbox took to answer them (a flush under delivery=close "
                  "waits for the server)\n"
                  "# TYPE braidfs_fuse_op_seconds_total counter\n");
  for (int i = 0; i < BFC_FOP_N; i++) {
    uint_fast64_t n = atomic_load_explicit(&counts[i], memory_order_relaxed);
    uint_fast64_t us = atomic_load_explicit(&micros[i], memory_order_relaxed);
    if (n > 0)
      g_string_append_printf(out, "braidfs_fuse_op_seconds_total{%s,op=\"%s\"} "
                             "%s\n", labels, names[i],
                             g_ascii_dtostr(buf, sizeof buf, us / 1e6));
  }
}
