/* The client's spool on disk (see spool.h). */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/bytes.h"
#include "braidfs/digest.h"
#include "braidfs/io.h"
#include "braidfs/log.h"
#include "braidfs/parse.h"
#include "spooldir.h"
#include "spoolfmt.h"
#include "spoolint.h"
#include "spoollog.h"
#include "spoolsession.h"

/* G_FILE_ERROR for what rc (-errno) says about items/<f's seq>. */
static gboolean
file_error(const BfcSpoolFile *f, int rc, const char *what, GError **error)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
              "cannot %s items/%016" G_GINT64_MODIFIER "x.item in spool %s: %s",
              what, f->seq, f->sp->d.path, g_strerror(-rc));
  return FALSE;
}

/* f's descriptor, opened again if it was parked: >= 0, or -errno. */
static int
fd_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  g_autofree char *fname = NULL;

  if (f->fd >= 0)
    return f->fd;
  fname = bfc_spool_seq_name(f->seq);
  f->fd = bfc_spool_open_file(f->sp->d.items_fd, fname, O_RDWR, 0);
  return f->fd < 0 ? -errno : f->fd;
}

/* The log's record of f is no longer needed. */
static void
release_record(BfcSpoolFile *f)
{
  if (f->rec != NULL)
    bfc_spool_log_release(f->sp->log, g_steal_pointer(&f->rec));
}

/* Writes the header into the slot that does not hold the last one synced,
 * under the next generation; *slot says which. Not synced. */
static int
write_header_locked(BfcSpoolFile *f, unsigned *slot) BF_REQUIRES(&f->lock)
{
  uint8_t h[SLOT_SIZE];
  size_t len;
  int fd = fd_locked(f);

  if (fd < 0)
    return fd;
  *slot = 1 - f->synced_slot;
  f->gen++;
  len = bfc_spool_hdr_encode(&f->sp->d, f, h);
  return bf_pwrite_all(fd, h, len, (uint64_t)*slot * SLOT_SIZE);
}

/* The header, durably: from now on its slot is the one to keep. */
int
bfc_spool_sync_header_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  unsigned slot;
  int rc = write_header_locked(f, &slot);

  if (rc == 0 && fdatasync(f->fd) < 0)
    rc = -errno;
  if (rc == 0)
    f->synced_slot = slot;
  if (rc == 0 && f->seq == f->rec_seq)
    release_record(f);
  return rc;
}

/* ---- the spool directory ------------------------------------------------ */

BfcSpool *
bfc_spool_open(const char *dir, GError **error)
{
  BfcSpool *sp = g_new0(BfcSpool, 1);

  bf_mutex_init(&sp->lock);
  if (!bfc_spool_dir_open(dir, &sp->d, error)) {
    bfc_spool_close(sp);
    return NULL;
  }
  sp->next_seq = MAX(bfc_spool_max_seq(sp->d.items_fd), bfc_spool_max_seq(sp->d.failed_fd)) + 1;
  sp->log = bfc_spool_log_new(&sp->d);
  return sp;
}

void
bfc_spool_close(BfcSpool *sp)
{
  gpointer seq;

  if (sp == NULL)
    return;
  while ((seq = g_queue_pop_head(&sp->premade)) != NULL) {
    g_autofree char *fname = bfc_spool_seq_name(GPOINTER_TO_SIZE(seq));
    unlinkat(sp->d.items_fd, fname, 0);
  }
  bfc_spool_log_free(sp->log);
  bfc_spool_dir_close(&sp->d);
  bf_mutex_clear(&sp->lock);
  g_free(sp);
}

const char *
bfc_spool_dir(BfcSpool *sp)
{
  return sp->d.path;
}

/* ---- the session (spoolsession.c) ------------------------------------ */

gboolean
bfc_spool_load_session(BfcSpool *sp, BfcSpoolSession *out, GError **error)
{
  return bfc_spool_session_load(&sp->d, out, error);
}

gboolean
bfc_spool_save_session(BfcSpool *sp, const BfcSpoolSession *ss, GError **error)
{
  return bfc_spool_session_save(&sp->d, ss, error);
}

/* ---- one file ----------------------------------------------------------- */

/* Makes the empty files first .. first + n - 1, then one fsync of the
 * directory; they go to the premade queue. Without the spool's lock: a
 * creator that finds none made waits for its own batch, not for others'. */
static int
premake(BfcSpool *sp, uint64_t first, unsigned n) BF_EXCLUDES(&sp->lock)
{
  unsigned made = 0;
  int rc = 0;

  for (; made < n; made++) {
    g_autofree char *fname = bfc_spool_seq_name(first + made);
    int fd = openat(sp->d.items_fd, fname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
    if (fd < 0) {
      rc = -errno;
      break;
    }
    close(fd);
  }
  if (made > 0 && fsync(sp->d.items_fd) < 0)
    rc = -errno;
  bf_mutex_lock(&sp->lock);
  for (unsigned i = 0; rc == 0 && i < made; i++)
    g_queue_push_tail(&sp->premade, GSIZE_TO_POINTER(first + i));
  bf_mutex_unlock(&sp->lock);
  return rc;
}

/* A premade empty file, opened: 0 or -errno. */
int
bfc_spool_take_file(BfcSpool *sp, uint64_t *seq, int *fd) BF_EXCLUDES(&sp->lock)
{
  g_autofree char *fname = NULL;
  uint64_t first = 0;
  int rc = 0;

  *seq = 0;
  for (int tries = 0; *seq == 0 && tries < 3; tries++) {
    bf_mutex_lock(&sp->lock);
    if (!g_queue_is_empty(&sp->premade)) {
      *seq = GPOINTER_TO_SIZE(g_queue_pop_head(&sp->premade));
    } else {
      first = sp->next_seq;
      sp->next_seq += PREMADE_BATCH;
    }
    bf_mutex_unlock(&sp->lock);
    if (*seq == 0 && (rc = premake(sp, first, PREMADE_BATCH)) < 0)
      return rc;
  }
  if (*seq == 0)
    return -EIO;   /* others took every file made for us, three times */
  fname = bfc_spool_seq_name(*seq);
  *fd = openat(sp->d.items_fd, fname, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  return *fd < 0 ? -errno : 0;
}

BfcSpoolFile *
bfc_spool_file_alloc(BfcSpool *sp)
{
  BfcSpoolFile *f = g_new0(BfcSpoolFile, 1);

  f->sp = sp;
  f->fd = -1;
  f->kept_fd = -1;
  f->synced_slot = 1;         /* the first header goes to slot 0 */
  bf_mutex_init(&f->lock);
  return f;
}

BfcSpoolFile *
bfc_spool_file_new(BfcSpool *sp, const char *name, uint32_t mode,
                   GError **error)
{
  BfcSpoolFile *f = bfc_spool_file_alloc(sp);
  /* No header yet: until its first commit the file is not trusted. */
  int rc = bfc_spool_take_file(sp, &f->seq, &f->fd);

  if (rc < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
                "spool %s: cannot create a file in items/: %s", sp->d.path,
                g_strerror(-rc));
    bfc_spool_file_free(f);
    return NULL;
  }
  f->name = g_strdup(name);
  f->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &f->mtime);
  return f;
}

void
bfc_spool_file_set_base(BfcSpoolFile *f, uint64_t size, uint8_t alg,
                        const uint8_t digest[BF_DIGEST_LEN])
{
  f->base_size = size;
  f->base_alg = alg;
  memcpy(f->base_digest, digest, BF_DIGEST_LEN);
}

void
bfc_spool_file_free(BfcSpoolFile *f)
{
  if (f == NULL)
    return;
  if (f->fd >= 0)
    close(f->fd);
  if (f->kept_fd >= 0)
    close(f->kept_fd);
  bf_mutex_clear(&f->lock);
  g_free(f->name);
  g_free(f);
}

void
bfc_spool_unlink_seq(BfcSpool *sp, uint64_t seq)
{
  g_autofree char *fname = bfc_spool_seq_name(seq);

  if (unlinkat(sp->d.items_fd, fname, 0) < 0 && errno != ENOENT)
    g_warning("spool %s: cannot remove items/%s: %s", sp->d.path, fname,
              g_strerror(errno));
}

/* The kept version is no longer needed (or no longer wanted). */
static void
drop_kept(BfcSpoolFile *f)
{
  if (f->kept_fd < 0)
    return;
  bfc_spool_unlink_seq(f->sp, f->kept_seq);
  close(f->kept_fd);
  f->kept_fd = -1;
  if (f->rec_seq == f->kept_seq)
    release_record(f);
}

/* Copies size bytes of src from from into dst after its header. */
int
bfc_spool_copy_bytes(int src, uint64_t from, int dst, uint64_t size)
{
  off_t in = (off_t)from, out = HDR_SIZE;

  while (size > 0) {
    ssize_t n = copy_file_range(src, &in, dst, &out, size, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? -errno : -EIO;
    size -= (uint64_t)n;
  }
  return 0;
}

/* Before bytes of the committed version below `from` change: the writing
 * moves to a copy (see kept_fd in spool.h). */
static int
keep_committed_locked(BfcSpoolFile *f, uint64_t from) BF_REQUIRES(&f->lock)
{
  uint64_t seq;
  int fd, rc;

  if (!f->committed || f->kept_fd >= 0 || from >= f->size)
    return 0;
  if ((rc = fd_locked(f)) < 0 || (rc = bfc_spool_take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if ((rc = bfc_spool_copy_bytes(f->fd, HDR_SIZE, fd, f->length)) < 0) {
    close(fd);
    bfc_spool_unlink_seq(f->sp, seq);
    return rc;
  }
  f->kept_fd = f->fd;
  f->kept_seq = f->seq;
  f->kept_synced_slot = f->synced_slot;
  f->fd = fd;
  f->seq = seq;
  f->synced_slot = 1;
  return 0;
}

gboolean
bfc_spool_file_write(BfcSpoolFile *f, const void *buf, size_t len, uint64_t off,
                     GError **error)
{
  int rc;

  bf_mutex_lock(&f->lock);
  if ((rc = fd_locked(f)) >= 0)
    rc = keep_committed_locked(f, off);
  f->dirty = TRUE;
  if (rc == 0)
    rc = bf_pwrite_all(f->fd, buf, len, HDR_SIZE + off);
  if (rc == 0)
    f->length = MAX(f->length, off + len);
  else
    file_error(f, rc, "write", error);
  bf_mutex_unlock(&f->lock);
  return rc == 0;
}

gboolean
bfc_spool_file_truncate(BfcSpoolFile *f, uint64_t size, GError **error)
{
  int rc;

  bf_mutex_lock(&f->lock);
  if ((rc = fd_locked(f)) >= 0)
    rc = keep_committed_locked(f, size);
  f->dirty = TRUE;
  if (rc == 0 && ftruncate(f->fd, (off_t)(HDR_SIZE + size)) < 0)
    rc = -errno;
  if (rc == 0)
    f->length = size;
  else
    file_error(f, rc, "truncate", error);
  bf_mutex_unlock(&f->lock);
  return rc == 0;
}

static ssize_t
read_bytes(int fd, void *buf, size_t len, uint64_t off)
{
  return bf_pread_all(fd, buf, len, HDR_SIZE + off);
}

gssize
bfc_spool_file_read(BfcSpoolFile *f, void *buf, size_t len, uint64_t off,
                    GError **error)
{
  gssize n;

  bf_mutex_lock(&f->lock);
  n = fd_locked(f);
  if (n >= 0)
    n = read_bytes(f->fd, buf, len, off);
  if (n < 0)
    file_error(f, (int)n, "read", error);
  bf_mutex_unlock(&f->lock);
  return n < 0 ? -1 : n;
}

uint64_t
bfc_spool_file_length(BfcSpoolFile *f)
{
  return f->length;
}

void
bfc_spool_digest_buf(const void *data, size_t len, uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_SHA256);

  bf_digest_update(d, data, len);
  bf_digest_final(d, out);
}

/* The first version of a small file, into the log (spoollog.h): its
 * header is not written in its own slots until something else needs it. */
static int
log_commit_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  g_autofree uint8_t *buf = g_malloc(MAX(f->size, 1));
  uint8_t h[SLOT_SIZE];
  ssize_t got = bf_pread_all(f->fd, buf, f->size, HDR_SIZE);
  size_t hlen;

  if (got < 0 || (uint64_t)got != f->size)
    return got < 0 ? (int)got : -EIO;
  bfc_spool_digest_buf(buf, f->size, f->digest);
  f->gen++;
  hlen = bfc_spool_hdr_encode(&f->sp->d, f, h);
  f->rec_seq = f->seq;
  return bfc_spool_log_append(f->sp->log, f->seq, h, hlen, buf, f->size, &f->rec);
}

static int
commit_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  uint64_t old_size = f->size;
  int rc;

  if ((rc = fd_locked(f)) < 0)
    return rc;
  f->size = f->length;
  /* Its directory entry was made durable with its batch; the bytes and the
   * header go in one fdatasync (see the slots in spoolfmt.h), of the log
   * for a small file's first version. */
  if (!f->committed && f->kept_fd < 0 && f->size <= BFC_SPOOL_LOG_MAX)
    rc = log_commit_locked(f);
  else if ((rc = bfc_spool_digest(f->fd, HDR_SIZE, f->size, f->digest)) == 0)
    rc = bfc_spool_sync_header_locked(f);
  if (rc < 0) {
    f->size = old_size;
    return rc;
  }
  f->committed = TRUE;
  f->dirty = FALSE;
  f->length = f->size;
  /* A crash before this unlink leaves both versions: the older is
   * delivered first, so the server still ends with this one. */
  drop_kept(f);
  return 0;
}

gboolean
bfc_spool_file_commit(BfcSpoolFile *f, GError **error)
{
  int rc;

  bf_mutex_lock(&f->lock);
  if ((rc = commit_locked(f)) < 0)
    file_error(f, rc, "keep", error);
  bf_mutex_unlock(&f->lock);
  return rc == 0;
}

static void
revert_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  if (!f->committed || !f->dirty)
    return;
  if (f->kept_fd >= 0) {
    if (f->fd >= 0)
      close(f->fd);
    bfc_spool_unlink_seq(f->sp, f->seq);
    f->fd = g_steal_fd(&f->kept_fd);
    f->seq = f->kept_seq;
    f->synced_slot = f->kept_synced_slot;
  } else if (fd_locked(f) < 0 ||
             ftruncate(f->fd, (off_t)(HDR_SIZE + f->size)) < 0) {
    bf_log(G_LOG_LEVEL_WARNING, &(BfLogFields){ .path = f->name },
           "spool %s: cannot drop bytes written to '%s' after its "
           "close(2): %s", f->sp->d.path, f->name, g_strerror(errno));
  }
  f->dirty = FALSE;
  f->length = f->size;
}

void
bfc_spool_file_revert(BfcSpoolFile *f)
{
  bf_mutex_lock(&f->lock);
  revert_locked(f);
  bf_mutex_unlock(&f->lock);
}

static void
park_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  if (f->committed && !f->dirty && f->kept_fd < 0 && f->fd >= 0) {
    close(f->fd);
    f->fd = -1;
  }
}

gboolean
bfc_spool_file_edit(BfcSpoolFile *f, const char *name, uint8_t flags,
                    uint32_t mode, const struct timespec *mtime,
                    gboolean durable, GError **error)
{
  int rc = 0;

  bf_mutex_lock(&f->lock);
  if (name != NULL) {
    g_free(f->name);
    f->name = g_strdup(name);
  }
  if (flags & BF_SETATTR_MODE)
    f->mode = mode & 07777;
  if (flags & BF_SETATTR_MTIME)
    f->mtime = *mtime;
  if (durable) {
    rc = bfc_spool_sync_header_locked(f);
    park_locked(f);   /* a queued file's: it holds none */
  }
  if (rc < 0)
    file_error(f, rc, "update the header of", error);
  bf_mutex_unlock(&f->lock);
  return rc == 0;
}

void
bfc_spool_file_park(BfcSpoolFile *f)
{
  bf_mutex_lock(&f->lock);
  park_locked(f);
  bf_mutex_unlock(&f->lock);
}

void
bfc_spool_file_note_id(BfcSpoolFile *f, uint64_t item_id)
{
  unsigned slot;
  int rc = 0;

  bf_mutex_lock(&f->lock);
  f->item_id = item_id;
  if (f->committed)
    rc = write_header_locked(f, &slot);
  bf_mutex_unlock(&f->lock);
  if (rc < 0)
    bf_log(G_LOG_LEVEL_WARNING, &(BfLogFields){ .path = f->name },
           "spool: cannot record the delivery of '%s': %s", f->name,
           g_strerror(-rc));
}

void
bfc_spool_file_remove(BfcSpoolFile *f)
{
  drop_kept(f);
  bfc_spool_unlink_seq(f->sp, f->seq);
  release_record(f);
  bfc_spool_file_free(f);
}

char *
bfc_spool_file_fail(BfcSpoolFile *f)
{
  BfcSpool *sp = f->sp;
  g_autofree char *fname = bfc_spool_seq_name(f->seq);

  drop_kept(f);
  /* Kept for a human: with a header of its own, not only in the log. */
  bf_mutex_lock(&f->lock);
  if (f->rec != NULL && bfc_spool_sync_header_locked(f) < 0)
    g_warning("spool %s: cannot write the header of items/%s", sp->d.path, fname);
  bf_mutex_unlock(&f->lock);
  release_record(f);
  if (renameat(sp->d.items_fd, fname, sp->d.failed_fd, fname) < 0)
    g_warning("spool %s: cannot move items/%s to failed/: %s", sp->d.path, fname,
              g_strerror(errno));
  bfc_spool_file_free(f);
  return g_build_filename(sp->d.path, "failed", fname, NULL);
}
