/* Whole-buffer reads and writes on file descriptors, retried on EINTR and
 * on short transfers.
 *
 * Error convention (the one of every function here): 0 or a count on
 * success, a negative errno on failure, so that a FUSE operation can
 * return it as is and a GError message can say g_strerror(-rc). A call
 * that transfers nothing where bytes were due (a write(2) returning 0)
 * fails with -EIO; an offset past what off_t holds, with -EOVERFLOW.
 * errno itself is left as the failed call set it. On failure some bytes
 * may have been transferred already. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Writes all len bytes at the file position: 0 or -errno. */
int bf_write_all(int fd, const void *buf, size_t len);
/* Writes all len bytes at offset off: 0 or -errno. */
int bf_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* Reads up to len bytes from the file position, stopping early only at
 * end of file: the count read, or -errno. */
ssize_t bf_read_all(int fd, void *buf, size_t len);
/* Reads up to len bytes at offset off, stopping early only at end of
 * file: the count read, or -errno. */
ssize_t bf_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* Whether bf_dir_names keeps name (an entry of the directory dirfd). */
typedef gboolean (*BfDirFilter)(int dirfd, const char *name, gpointer data);
/* The names in the directory dirfd refers to that filter keeps (all with
 * a NULL filter), "." and ".." left out, sorted by strcmp, as a new
 * array of strings it owns in *out: 0, or -errno with *out NULL. It
 * reads through a description of its own, opened as "." relative to
 * dirfd: a dup would share dirfd's offset, so two listings of one
 * directory at once would each miss names. */
int bf_dir_names(int dirfd, BfDirFilter filter, gpointer data,
                 GPtrArray **out);

G_END_DECLS
