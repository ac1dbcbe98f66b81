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

static void
mem_free(BfcSpoolFile *f)
{
  if (f->mem != NULL)
    g_byte_array_unref(g_steal_pointer(&f->mem));
}

/* A file of its own for f (nofile, spoolfmt.h): a premade one, holding
 * f's bytes (those written, or its committed version's, read from its log
 * record) and no header yet: until one is synced its committed version
 * stays the record, which nothing written to the file changes. >= 0 (the
 * descriptor), or -errno. */
static int
materialize_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  uint64_t len = f->mem != NULL ? f->mem->len : f->size, seq;
  g_autofree uint8_t *buf = NULL;
  const uint8_t *bytes;
  int fd, rc;

  if (f->mem != NULL) {
    bytes = f->mem->data;
  } else {
    gssize got = bfc_spool_log_read(&f->rec, buf = g_malloc(MAX(len, 1)), len, 0);
    if (got < 0 || (uint64_t)got != len)
      return got < 0 ? (int)got : -EIO;
    bytes = buf;
  }
  if ((rc = bfc_spool_take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if (len > 0 && (rc = bf_pwrite_all(fd, bytes, len, HDR_SIZE)) < 0) {
    close(fd);
    bfc_spool_unlink_seq(f->sp, seq);
    return rc;
  }
  f->fd = fd;
  f->seq = seq;
  f->nofile = FALSE;
  mem_free(f);
  return fd;
}

/* f's descriptor, opened again if it was parked, or its file made if it
 * has none: >= 0, or -errno. */
static int
fd_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  g_autofree char *fname = NULL;

  if (f->fd >= 0)
    return f->fd;
  if (f->nofile)
    return materialize_locked(f);
  fname = bfc_spool_seq_name(f->seq);
  f->fd = bfc_spool_open_file(f->sp->d.items_fd, fname, O_RDWR, 0);
  return f->fd < 0 ? -errno : f->fd;
}

/* The log's record of f is no longer needed. */
static void
release_record(BfcSpoolFile *f)
{
  bfc_spool_log_release(f->sp->log, &f->rec);
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
  /* With a kept version, the record is released with it (drop_kept). */
  if (rc == 0 && f->kept_fd < 0)
    release_record(f);
  return rc;
}

/* ---- the spool directory ------------------------------------------------ */

BfcSpool *
bfc_spool_open(const char *dir, GError **error)
{
  BfcSpool *sp = g_new0(BfcSpool, 1);
  gboolean no_key, listed;
  uint64_t max = 0;
  unsigned waiting = 0;

  bf_mutex_init(&sp->lock);
  if (!bfc_spool_dir_open(dir, &sp->d, &no_key, error)) {
    bfc_spool_close(sp);
    return NULL;
  }
  /* New files must not take the names of files it could not see, nor a
   * new key be made over files it did not count. */
  listed = (!no_key || bfc_spool_waiting(&sp->d, &waiting, error)) &&
           bfc_spool_max_seq(&sp->d, sp->d.items_fd, "items", &max, error) &&
           bfc_spool_max_seq(&sp->d, sp->d.failed_fd, "failed", &max, error) &&
           (sp->log = bfc_spool_log_new(&sp->d, error)) != NULL;
  if (!listed)
    bfc_spool_refuse_mount(error);
  if (!listed || (no_key && !bfc_spool_dir_make_key(&sp->d, waiting, error))) {
    bfc_spool_close(sp);
    return NULL;
  }
  sp->next_seq = max + 1;
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

const BfcSpoolDir *
bfc_spool_dir_of(BfcSpool *sp)
{
  return &sp->d;
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

/* Makes the empty files first, first + PREMADE_GAP, ... (n of them),
 * then one fsync of the directory; they go to the premade queue. Without
 * the spool's lock: a creator that finds none made waits for its own
 * batch, not for others'. */
static int
premake(BfcSpool *sp, uint64_t first, unsigned n) BF_EXCLUDES(&sp->lock)
{
  unsigned made = 0;
  int rc = 0;

  for (; made < n; made++) {
    g_autofree char *fname = bfc_spool_seq_name(first + made * PREMADE_GAP);
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
    g_queue_push_tail(&sp->premade, GSIZE_TO_POINTER(first + i * PREMADE_GAP));
  bf_mutex_unlock(&sp->lock);
  return rc;
}

/* The first premade seq not below next_seq (0: none); those below it,
 * which seqs taken since have passed, go to *stale: using one would break
 * the order of seqs (spoolint.h). */
static uint64_t
pop_premade_locked(BfcSpool *sp, GSList **stale) BF_REQUIRES(&sp->lock)
{
  while (!g_queue_is_empty(&sp->premade)) {
    uint64_t seq = GPOINTER_TO_SIZE(g_queue_pop_head(&sp->premade));
    if (seq >= sp->next_seq) {
      sp->next_seq = seq + 1;
      return seq;
    }
    *stale = g_slist_prepend(*stale, GSIZE_TO_POINTER(seq));
  }
  return 0;
}

static void
unlink_stale(BfcSpool *sp, GSList *stale)
{
  for (GSList *l = stale; l != NULL; l = l->next)
    bfc_spool_unlink_seq(sp, GPOINTER_TO_SIZE(l->data));
  g_slist_free(stale);
}

uint64_t
bfc_spool_take_seq(BfcSpool *sp)
{
  GSList *stale = NULL;
  uint64_t seq;

  bf_mutex_lock(&sp->lock);
  /* A premade file's seq is passed: it is of no use any more. */
  while (!g_queue_is_empty(&sp->premade) &&
         GPOINTER_TO_SIZE(g_queue_peek_head(&sp->premade)) <= sp->next_seq)
    stale = g_slist_prepend(stale, g_queue_pop_head(&sp->premade));
  seq = sp->next_seq++;
  bf_mutex_unlock(&sp->lock);
  unlink_stale(sp, stale);
  return seq;
}

/* A premade empty file, opened: 0 or -errno. */
int
bfc_spool_take_file(BfcSpool *sp, uint64_t *seq, int *fd) BF_EXCLUDES(&sp->lock)
{
  g_autofree char *fname = NULL;
  GSList *stale = NULL;
  uint64_t first = 0;
  int rc = 0;

  *seq = 0;
  for (int tries = 0; *seq == 0 && tries < 3; tries++) {
    bf_mutex_lock(&sp->lock);
    if ((*seq = pop_premade_locked(sp, &stale)) == 0) {
      /* a gap above next_seq: the seqs taken meanwhile without a file */
      first = MAX(sp->next_seq, sp->premade_top) + PREMADE_GAP;
      sp->premade_top = first + (PREMADE_BATCH - 1) * PREMADE_GAP;
    }
    bf_mutex_unlock(&sp->lock);
    if (*seq == 0 && (rc = premake(sp, first, PREMADE_BATCH)) < 0)
      break;
  }
  unlink_stale(sp, stale);
  if (rc < 0)
    return rc;
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

  (void)error;   /* nothing on disk yet: its file is made when needed */
  f->seq = bfc_spool_take_seq(sp);
  f->nofile = TRUE;
  f->mem = g_byte_array_new();
  f->name = g_strdup(name);
  f->mode = mode & 07777;
  f->alg = BF_DIGEST_BLAKE3;   /* spoolfmt.h */
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
  mem_free(f);
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
  if (f->rec.seg != NULL && f->rec_seq != f->seq)
    return 0;   /* materialized: the committed version is its record */
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

/* Does a file without one of its own stay so with bytes up to off + len
 * (then in memory until its next commit)? */
static gboolean
in_memory_locked(BfcSpoolFile *f, uint64_t off, uint64_t len)
  BF_REQUIRES(&f->lock)
{
  return f->nofile && off <= BFC_SPOOL_LOG_MAX && len <= BFC_SPOOL_LOG_MAX - off;
}

/* The bytes of f (nofile) in memory, read from its record if it is
 * committed and unchanged since: 0 or -errno. */
static int
mem_load_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  g_autoptr(GByteArray) mem = NULL;
  gssize got;

  if (f->mem != NULL)
    return 0;
  mem = g_byte_array_sized_new((guint)MAX(f->size, 1));
  g_byte_array_set_size(mem, (guint)f->size);
  got = bfc_spool_log_read(&f->rec, mem->data, f->size, 0);
  if (got < 0 || (uint64_t)got != f->size)
    return got < 0 ? (int)got : -EIO;
  f->mem = g_steal_pointer(&mem);
  return 0;
}

/* The file in memory becomes size bytes long (zeros added). */
static void
mem_resize_locked(BfcSpoolFile *f, uint64_t size) BF_REQUIRES(&f->lock)
{
  guint old = f->mem->len;

  g_byte_array_set_size(f->mem, (guint)size);
  if (size > old)
    memset(f->mem->data + old, 0, size - old);
  f->length = size;
}

gboolean
bfc_spool_file_write(BfcSpoolFile *f, const void *buf, size_t len, uint64_t off,
                     GError **error)
{
  int rc;

  bf_mutex_lock(&f->lock);
  f->dirty = TRUE;
  if (in_memory_locked(f, off, len)) {
    if ((rc = mem_load_locked(f)) == 0) {
      if (off + len > f->mem->len)
        mem_resize_locked(f, off + len);
      memcpy(f->mem->data + off, buf, len);
    }
  } else if ((rc = fd_locked(f)) >= 0 &&
             (rc = keep_committed_locked(f, off)) == 0 &&
             (rc = bf_pwrite_all(f->fd, buf, len, HDR_SIZE + off)) == 0) {
    f->length = MAX(f->length, off + len);
    if (f->length >= f->flushed + BF_FLUSH_STEP &&
        bf_flusher_offer(f->sp->d.flusher, f->fd))
      f->flushed = f->length;
  }
  if (rc < 0)
    file_error(f, rc, "write", error);
  bf_mutex_unlock(&f->lock);
  return rc == 0;
}

gboolean
bfc_spool_file_truncate(BfcSpoolFile *f, uint64_t size, GError **error)
{
  int rc;

  bf_mutex_lock(&f->lock);
  f->dirty = TRUE;
  if (in_memory_locked(f, size, 0)) {
    if ((rc = mem_load_locked(f)) == 0)
      mem_resize_locked(f, size);
  } else if ((rc = fd_locked(f)) >= 0 &&
             (rc = keep_committed_locked(f, size)) == 0) {
    if (ftruncate(f->fd, (off_t)(HDR_SIZE + size)) < 0)
      rc = -errno;
    else
      f->length = size;
  }
  if (rc < 0)
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
  if (f->nofile) {   /* in memory, or its log record: never made for a read */
    uint64_t end = f->mem != NULL ? f->mem->len : f->size;
    len = off < end ? (size_t)MIN((uint64_t)len, end - off) : 0;
    if (f->mem != NULL)
      memcpy(buf, f->mem->data + off, len);
    n = f->mem != NULL || len == 0 ? (gssize)len
                                   : bfc_spool_log_read(&f->rec, buf, len, off);
  } else if ((n = fd_locked(f)) >= 0) {
    n = read_bytes(f->fd, buf, len, off);
  }
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
bfc_spool_digest_buf(const void *data, size_t len, uint8_t alg,
                     uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(alg);

  bf_digest_update(d, data, len);
  bf_digest_final(d, out);
}

/* A small file's version into the log (spoollog.h): the first one of a
 * file, or any of a file without one of its own, whose bytes are in
 * memory; its header is not written in slots of its own until something
 * else needs them. A later version is a new record under a new seq (the
 * MAC binds a header to its seq), and only then is the older one released:
 * if both outlive a crash, recovery delivers them in order. */
static int
log_commit_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  g_autofree uint8_t *buf = NULL;
  const uint8_t *bytes = f->mem != NULL ? f->mem->data : NULL;
  BfcSpoolRec old = f->rec, rec;
  uint64_t old_seq = f->seq;
  uint8_t h[SLOT_SIZE];
  size_t hlen;
  int rc;

  if (bytes == NULL) {
    ssize_t got = bf_pread_all(f->fd, buf = g_malloc(MAX(f->size, 1)), f->size,
                               HDR_SIZE);
    if (got < 0 || (uint64_t)got != f->size)
      return got < 0 ? (int)got : -EIO;
    bytes = buf;
  }
  if (f->nofile && f->committed)
    f->seq = bfc_spool_take_seq(f->sp);
  bfc_spool_digest_buf(bytes, f->size, f->alg, f->digest);
  f->gen++;
  hlen = bfc_spool_hdr_encode(&f->sp->d, f, h);
  rc = bfc_spool_log_append(f->sp->log, f->seq, h, hlen, bytes, f->size, &rec);
  if (rc < 0) {
    f->seq = old_seq;
    return rc;
  }
  f->rec = rec;
  f->rec_seq = f->seq;
  bfc_spool_log_release(f->sp->log, &old);
  mem_free(f);   /* read from the record from now on */
  return 0;
}

static int
commit_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  uint64_t old_size = f->size;
  int rc;

  /* Without a file of its own, committed and unchanged: nothing new. */
  if (f->nofile && f->mem == NULL && !f->edited)
    return 0;
  if (f->nofile)
    rc = mem_load_locked(f);   /* edited: a new record with its new fields */
  else
    rc = fd_locked(f);
  if (rc < 0)
    return rc;
  f->size = f->length;
  /* Its directory entry was made durable with its batch; the bytes and the
   * header go in one fdatasync (see the slots in spoolfmt.h), of the log
   * for a small file without a file of its own, or a first version. */
  if (f->nofile || (!f->committed && f->kept_fd < 0 && f->size <= BFC_SPOOL_LOG_MAX))
    rc = log_commit_locked(f);
  else if ((rc = bfc_spool_digest(f->fd, HDR_SIZE, f->size, f->alg,
                                      f->digest)) == 0)
    rc = bfc_spool_sync_header_locked(f);
  if (rc < 0) {
    f->size = old_size;
    return rc;
  }
  f->committed = TRUE;
  f->dirty = FALSE;
  f->edited = FALSE;
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
  if (f->nofile) {
    mem_free(f);   /* its record is the committed version */
  } else if (f->rec.seg != NULL && f->rec_seq != f->seq && f->kept_fd < 0) {
    /* materialized: back to its record alone */
    if (f->fd >= 0)
      close(f->fd);
    f->fd = -1;
    bfc_spool_unlink_seq(f->sp, f->seq);
    f->seq = f->rec_seq;
    f->nofile = TRUE;
  } else if (f->kept_fd >= 0) {
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
  f->edited = TRUE;
  if (durable && f->nofile) {
    rc = commit_locked(f);   /* a new record */
  } else if (durable) {
    rc = bfc_spool_sync_header_locked(f);
    f->edited = rc < 0;
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
  if (f->committed && f->nofile)
    rc = bfc_spool_log_note(f->sp->log, &f->rec, f->seq, item_id);
  else if (f->committed)
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
  if (!f->nofile)
    bfc_spool_unlink_seq(f->sp, f->seq);
  release_record(f);
  bfc_spool_file_free(f);
}

char *
bfc_spool_file_fail(BfcSpoolFile *f)
{
  BfcSpool *sp = f->sp;
  g_autofree char *fname = NULL;

  drop_kept(f);
  /* Kept for a human: with a file and a header of its own, not only in
   * the log. */
  bf_mutex_lock(&f->lock);
  if ((f->rec.seg != NULL || f->nofile) && bfc_spool_sync_header_locked(f) < 0)
    g_warning("spool %s: cannot write the header of '%s' into items/",
              sp->d.path, f->name);
  fname = bfc_spool_seq_name(f->seq);
  bf_mutex_unlock(&f->lock);
  if (!f->nofile)   /* else its record is all there is: kept */
    release_record(f);
  if (renameat(sp->d.items_fd, fname, sp->d.failed_fd, fname) < 0)
    g_warning("spool %s: cannot move items/%s to failed/: %s", sp->d.path, fname,
              g_strerror(errno));
  bfc_spool_file_free(f);
  return g_build_filename(sp->d.path, "failed", fname, NULL);
}
