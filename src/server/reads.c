/* READ frames (reads.h). A read opens the stored file by name the way
 * every name is resolved (store.h: never through a symlink, never out of
 * data/), reads at most one chunk's worth and closes it: nothing is kept
 * between reads, so a file replaced meanwhile is read as it is now (the
 * client sees its size change and says so). Only regular files are read:
 * a FIFO is opened without blocking and refused. */
#include "reads.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session.h"
#include "status.h"
#include "store.h"

/* The answer goes through the path's outbox (BFD_OUTBOX_MAX): a read is
 * at most a quarter of it (braidfs-protocol(7): 256 KiB is always
 * served). */
#define BFD_READ_MAX (BFD_OUTBOX_MAX / 4)

/* The bytes of r into buf (r->length of room): how many, or -1 with
 * error. *size is the file's size. */
static gssize
read_range(BfdSession *s, const BfRead *r, const char *name, uint8_t *buf,
           uint64_t *size, GError **error)
{
  int fd = bfd_store_openat(s->dir.data_fd, name, O_RDONLY | O_NONBLOCK);
  struct stat st;
  gssize n = -1;

  if (fd < 0) {
    bfd_set_error_errno(error, errno, "%s", name);
    return -1;
  }
  if (fstat(fd, &st) < 0)
    bfd_set_error_errno(error, errno, "%s", name);
  else if (!S_ISREG(st.st_mode))
    bfd_set_error_errno(error, EISDIR, "%s: not a regular file", name);
  else if ((n = pread(fd, buf, r->length, (off_t)r->offset)) < 0)
    bfd_set_error_errno(error, errno, "%s", name);
  *size = (uint64_t)st.st_size;
  close(fd);
  return n;
}

gboolean
bfd_reads_on_read(BfdPath *p, const BfRead *r)
{
  g_autofree char *name = g_strndup((const char *)r->name.data, r->name.len);
  g_autofree char *why = NULL;
  g_autoptr(GError) error = NULL;
  BfMsg m = { .type = BF_FRAME_READ_DATA };
  BfReadData *d = &m.u.read_data;
  /* r->length <= BF_CHUNK_MAX (the codec): one buffer per read in
   * flight on this path's thread, freed before the next. */
  g_autofree uint8_t *buf = NULL;
  uint64_t size = 0;
  gssize n = -1;

  d->op_id = r->op_id;
  if (!bfd_limits_name_ok(&p->srv->limits, r->name.data, r->name.len, &why))
    bfd_set_error_errno(&error, ENAMETOOLONG, "%s: %s", name, why);
  else if (r->length > BFD_READ_MAX)
    g_set_error(&error, BFD_ERROR, BF_ST_TOO_BIG, "%s: reads of %u bytes "
                "are over this server's %u", name, r->length, BFD_READ_MAX);
  else if ((n = read_range(p->sess, r, name,
                           buf = g_malloc(r->length), &size, &error)) >= 0) {
    d->size = size;
    d->payload = buf;
    d->payload_len = (uint32_t)n;
    d->crc32c = bf_crc32c(buf, (size_t)n);
  }
  if (n < 0) {
    d->status = bfd_error_status(error);
    bf_log(G_LOG_LEVEL_DEBUG, BFD_PATH_LOG(p), "session %s: read of '%s' "
           "failed: %s", p->session_name, name, error->message);
  }
  return bfd_path_post(p, &m);
}
