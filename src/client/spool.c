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
#include "spoolsession.h"

/* Files are made ahead, in batches, so that creating one costs no
 * directory fsync: a close(2) then pays one fdatasync, not two. */
#define PREMADE_BATCH 32

struct BfcSpool {
  BfcSpoolDir d;
  BfMutex lock;               /* next_seq, premade; never across I/O */
  uint64_t next_seq;
  GQueue premade;             /* seq numbers (as pointers) of empty files
                                 whose directory entries are durable */
};

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
static int
sync_header_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  unsigned slot;
  int rc = write_header_locked(f, &slot);

  if (rc == 0 && fdatasync(f->fd) < 0)
    rc = -errno;
  if (rc == 0)
    f->synced_slot = slot;
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
static int
take_file(BfcSpool *sp, uint64_t *seq, int *fd) BF_EXCLUDES(&sp->lock)
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

static BfcSpoolFile *
file_alloc(BfcSpool *sp)
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
  BfcSpoolFile *f = file_alloc(sp);
  /* No header yet: until its first commit the file is not trusted. */
  int rc = take_file(sp, &f->seq, &f->fd);

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

static void
unlink_seq(BfcSpool *sp, uint64_t seq)
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
  unlink_seq(f->sp, f->kept_seq);
  close(f->kept_fd);
  f->kept_fd = -1;
}

/* The bytes of the file after its header (from off), by its size on
 * disk. */
static uint64_t
spool_file_size(int fd, uint64_t off)
{
  struct stat st;

  if (fstat(fd, &st) < 0 || (uint64_t)st.st_size <= off)
    return 0;
  return (uint64_t)st.st_size - off;
}

/* Copies size bytes of src from from into dst after its header. */
static int
copy_bytes(int src, uint64_t from, int dst, uint64_t size)
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
  if ((rc = fd_locked(f)) < 0 || (rc = take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if ((rc = copy_bytes(f->fd, HDR_SIZE, fd, f->length)) < 0) {
    close(fd);
    unlink_seq(f->sp, seq);
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


static int
commit_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  uint64_t old_size = f->size;
  int rc;

  if ((rc = fd_locked(f)) < 0)
    return rc;
  f->size = f->length;
  /* Its directory entry was made durable with its batch; the bytes and the
   * header go in one fdatasync (see the slots above). */
  if ((rc = bfc_spool_digest(f->fd, HDR_SIZE, f->size, f->digest)) < 0 ||
      (rc = sync_header_locked(f)) < 0) {
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
    unlink_seq(f->sp, f->seq);
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
    rc = sync_header_locked(f);
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
  unlink_seq(f->sp, f->seq);
  bfc_spool_file_free(f);
}

char *
bfc_spool_file_fail(BfcSpoolFile *f)
{
  BfcSpool *sp = f->sp;
  g_autofree char *fname = bfc_spool_seq_name(f->seq);

  drop_kept(f);
  if (renameat(sp->d.items_fd, fname, sp->d.failed_fd, fname) < 0)
    g_warning("spool %s: cannot move items/%s to failed/: %s", sp->d.path, fname,
              g_strerror(errno));
  bfc_spool_file_free(f);
  return g_build_filename(sp->d.path, "failed", fname, NULL);
}

/* ---- recovery ----------------------------------------------------------- */

/* What recovery found in one file. Only what is proven is acted on: a file
 * that cannot be read now (EMFILE, ENOMEM, EIO) stays for the next mount. */
typedef enum {
  FOUND_OK,           /* a committed version, in the file's fields */
  FOUND_NOTHING,      /* no close(2) succeeded for these bytes */
  FOUND_FORGED,       /* a header that does not authenticate, none that does */
  FOUND_UNKNOWN,      /* not readable now: *err */
} Found;

/* A version 2 file (one header, bytes at HDR_V2_SIZE), checked: copied
 * into a new file with this version's header, synced, before the old one
 * goes. */
static int
convert_v2(BfcSpoolFile *f)
{
  g_autofree char *old = bfc_spool_seq_name(f->seq);
  uint64_t seq;
  int fd, rc;

  if ((rc = take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if ((rc = copy_bytes(f->fd, HDR_V2_SIZE, fd, f->size)) < 0) {
    close(fd);
    unlink_seq(f->sp, seq);
    return rc;
  }
  close(f->fd);
  f->fd = fd;
  f->seq = seq;
  f->synced_slot = 1;
  bf_mutex_lock(&f->lock);
  rc = sync_header_locked(f);
  bf_mutex_unlock(&f->lock);
  if (rc < 0) {
    unlink_seq(f->sp, seq);
    return rc;
  }
  unlinkat(f->sp->d.items_fd, old, 0);
  return 0;
}

/* Is the slot in c a committed version of f's file: 1 yes, 0 no (proven),
 * or -errno. */
static int
slot_holds(BfcSpoolFile *f, BfcSpoolFile *c, uint64_t data_off)
{
  uint8_t digest[BF_DIGEST_LEN];
  int rc;

  if (spool_file_size(f->fd, data_off) < c->size)
    return 0;
  if ((rc = bfc_spool_digest(f->fd, data_off, c->size, digest)) < 0)
    return rc;
  return sodium_memcmp(digest, c->digest, BF_DIGEST_LEN) == 0;
}

/* The newest slot of f's file that authenticates and whose bytes match
 * its digest, into f's fields. */
static Found
pick_slot(BfcSpoolFile *f, int *err)
{
  g_autofree uint8_t *h = g_malloc(HDR_SIZE);
  gboolean forged = FALSE, have = FALSE, v2 = FALSE;
  ssize_t got = bf_pread_all(f->fd, h, HDR_SIZE, 0);

  if (got < 0) {
    *err = (int)-got;
    return FOUND_UNKNOWN;
  }
  for (unsigned slot = 0; slot < 2; slot++) {
    size_t off = slot * SLOT_SIZE;
    BfcSpoolFile c = { .sp = f->sp, .seq = f->seq };
    HdrCheck check = (size_t)got > off ? bfc_spool_hdr_decode(&f->sp->d, h + off, (size_t)got - off, &c)
                                       : HDR_NONE;
    int rc = check == HDR_OK || (check == HDR_V2 && slot == 0)
               ? slot_holds(f, &c, check == HDR_V2 ? HDR_V2_SIZE : HDR_SIZE) : 0;

    forged |= check == HDR_FORGED;
    if (rc < 0) {
      g_free(c.name);
      *err = -rc;
      return FOUND_UNKNOWN;
    }
    if (rc > 0 && (!have || (int32_t)(c.gen - f->gen) > 0)) {
      g_free(f->name);
      f->name = g_steal_pointer(&c.name);
      f->gen = c.gen;
      f->item_id = c.item_id;
      f->size = c.size;
      f->mode = c.mode;
      f->mtime = c.mtime;
      memcpy(f->digest, c.digest, BF_DIGEST_LEN);
      f->synced_slot = slot;
      have = TRUE;
      v2 = check == HDR_V2;
      if (v2)
        break;   /* its slot 1 is its bytes */
    }
    g_free(c.name);
  }
  if (have && v2 && (*err = -convert_v2(f)) != 0)
    return FOUND_UNKNOWN;
  return have ? FOUND_OK : forged ? FOUND_FORGED : FOUND_NOTHING;
}

/* The file items/fname: committed (f, its descriptor parked), or NULL;
 * *found says why not. */
static BfcSpoolFile *
recover_one(BfcSpool *sp, const char *fname, uint64_t seq, Found *found,
            int *err)
{
  BfcSpoolFile *f = file_alloc(sp);

  f->seq = seq;
  f->fd = bfc_spool_open_file(sp->d.items_fd, fname, O_RDWR, 0);
  *err = errno;
  *found = f->fd < 0 ? FOUND_UNKNOWN : pick_slot(f, err);
  if (*found != FOUND_OK) {
    bfc_spool_file_free(f);
    return NULL;
  }
  f->committed = TRUE;
  /* Bytes past the committed size were appended after the last close(2). */
  f->length = spool_file_size(f->fd, HDR_SIZE);
  f->dirty = f->length > f->size;
  bfc_spool_file_revert(f);
  f->length = f->size;
  bfc_spool_file_park(f);
  return f;
}

static gint
by_seq(gconstpointer a, gconstpointer b)
{
  const BfcSpoolFile *x = *(BfcSpoolFile *const *)a;
  const BfcSpoolFile *y = *(BfcSpoolFile *const *)b;

  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

GPtrArray *
bfc_spool_recover(BfcSpool *sp)
{
  g_autoptr(GPtrArray) names = bfc_spool_names(sp->d.items_fd);
  GPtrArray *out = g_ptr_array_new();
  uint64_t seq;

  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    Found found = FOUND_NOTHING;
    struct stat st;
    int err = 0;
    BfcSpoolFile *f = bfc_spool_parse_seq(name, &seq)
                        ? recover_one(sp, name, seq, &found, &err) : NULL;
    if (f != NULL) {
      g_ptr_array_add(out, f);
      continue;
    }
    if (found == FOUND_UNKNOWN) {
      if (err != ENOENT)
        g_warning("spool %s: cannot check items/%s now (%s): left in place "
                  "for the next mount to deliver", sp->d.path, name,
                  g_strerror(err));
      continue;
    }
    if (found == FOUND_FORGED) {
      /* Kept for a human to look at, never delivered. */
      g_warning("spool %s: items/%s does not authenticate with the spool's "
                "key (written by an older braidfs, or by someone else): not "
                "delivered; moved to failed/", sp->d.path, name);
      if (renameat(sp->d.items_fd, name, sp->d.failed_fd, name) == 0)
        continue;
      g_warning("spool %s: cannot move items/%s to failed/: %s", sp->d.path,
                name, g_strerror(errno));
    }
    /* Empty ones were made ahead and never used. */
    if (fstatat(sp->d.items_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > 0)
      g_message("spool %s: removing items/%s: no close(2) succeeded for "
                "these bytes, so nothing was promised for them", sp->d.path, name);
    unlinkat(sp->d.items_fd, name, 0);
  }
  /* The slots taken may have been written but not synced (note_id), and
   * the next header goes to the other slot. */
  if (out->len > 0 && syncfs(sp->d.items_fd) < 0)
    g_warning("spool %s: cannot sync it after recovery: %s", sp->d.path,
              g_strerror(errno));
  g_ptr_array_sort(out, by_seq);
  return out;
}
