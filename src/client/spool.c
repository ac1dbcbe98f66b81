/* The client's spool on disk (see spool.h). */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/digest.h"
#include "braidfs/parse.h"

/* Header of a spooled file; its bytes follow at HDR_SIZE, so that the
 * longest name fits and the data stays block-aligned. All fields are
 * little-endian:
 *   0 magic "BFSPOOL1"   8 u32 version (1)   12 u32 CRC32C of [16, 82+name_len)
 *  16 u64 item_id       24 u64 size         32 u32 mode   36 u32 mtime_nsec
 *  40 i64 mtime_sec     48 digest[32]       80 u16 name_len   82 name */
#define HDR_SIZE 8192
#define HDR_FIXED 82
#define MAGIC "BFSPOOL1"
G_STATIC_ASSERT(HDR_FIXED + BF_NAME_MAX <= HDR_SIZE);

/* Files are made ahead, in batches, so that creating one costs no
 * directory fsync: a close(2) then pays one fdatasync, not two. */
#define PREMADE_BATCH 32

struct BfcSpool {
  char *dir;
  int dir_fd;
  int items_fd;
  int lock_fd;
  uint64_t next_seq;
  GQueue premade;             /* seq numbers (as pointers) of empty files
                                 whose directory entries are durable */
  GMutex lock;                /* next_seq, premade */
};

static void
put32(uint8_t *p, uint32_t v)
{
  v = GUINT32_TO_LE(v);
  memcpy(p, &v, 4);
}

static void
put64(uint8_t *p, uint64_t v)
{
  v = GUINT64_TO_LE(v);
  memcpy(p, &v, 8);
}

static uint32_t
get32(const uint8_t *p)
{
  uint32_t v;
  memcpy(&v, p, 4);
  return GUINT32_FROM_LE(v);
}

static uint64_t
get64(const uint8_t *p)
{
  uint64_t v;
  memcpy(&v, p, 8);
  return GUINT64_FROM_LE(v);
}

static size_t
header_encode(const BfcSpoolFile *f, uint8_t *h)
{
  size_t nlen = strlen(f->name);

  memset(h, 0, HDR_FIXED);
  memcpy(h, MAGIC, 8);
  put32(h + 8, 1);
  put64(h + 16, f->item_id);
  put64(h + 24, f->size);
  put32(h + 32, f->mode);
  put32(h + 36, (uint32_t)f->mtime.tv_nsec);
  put64(h + 40, (uint64_t)f->mtime.tv_sec);
  memcpy(h + 48, f->digest, BF_DIGEST_LEN);
  h[80] = (uint8_t)(nlen & 0xff);
  h[81] = (uint8_t)(nlen >> 8);
  memcpy(h + HDR_FIXED, f->name, nlen);
  put32(h + 12, bf_crc32c(h + 16, HDR_FIXED - 16 + nlen));
  return HDR_FIXED + nlen;
}

static gboolean
header_decode(const uint8_t *h, size_t got, BfcSpoolFile *f)
{
  size_t nlen;

  if (got < HDR_FIXED || memcmp(h, MAGIC, 8) != 0 || get32(h + 8) != 1)
    return FALSE;
  nlen = h[80] | (size_t)h[81] << 8;
  if (nlen == 0 || nlen > BF_NAME_MAX || HDR_FIXED + nlen > got ||
      get32(h + 12) != bf_crc32c(h + 16, HDR_FIXED - 16 + nlen))
    return FALSE;
  f->item_id = get64(h + 16);
  f->size = get64(h + 24);
  f->mode = get32(h + 32) & 07777;
  f->mtime.tv_nsec = get32(h + 36) % 1000000000u;
  f->mtime.tv_sec = (time_t)get64(h + 40);
  memcpy(f->digest, h + 48, BF_DIGEST_LEN);
  f->name = g_strndup((const char *)h + HDR_FIXED, nlen);
  return strlen(f->name) == nlen;
}

static int
write_header(BfcSpoolFile *f)
{
  uint8_t h[HDR_SIZE];
  size_t len = header_encode(f, h);

  return pwrite(f->fd, h, len, 0) == (ssize_t)len ? 0 : -(errno ? errno : EIO);
}

/* ---- the spool directory ------------------------------------------------ */

static char *seq_name(uint64_t seq);

static gboolean
parse_seq(const char *name, uint64_t *seq)
{
  char *end;

  if (!g_str_has_suffix(name, ".item") || !g_ascii_isxdigit(name[0]))
    return FALSE;
  *seq = g_ascii_strtoull(name, &end, 16);
  return strcmp(end, ".item") == 0;
}

static uint64_t
max_seq_in(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  uint64_t max = 0, seq;

  while (d && (name = g_dir_read_name(d)) != NULL)
    if (parse_seq(name, &seq))
      max = MAX(max, seq);
  return max;
}

static gboolean
make_dir(const char *path, GError **error)
{
  if (g_mkdir_with_parents(path, 0700) == 0)
    return TRUE;
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
              "spool %s: cannot create it: %s", path, g_strerror(errno));
  return FALSE;
}

BfcSpool *
bfc_spool_open(const char *dir, GError **error)
{
  g_autofree char *items = g_build_filename(dir, "items", NULL);
  g_autofree char *failed = g_build_filename(dir, "failed", NULL);
  g_autofree char *lock = g_build_filename(dir, "lock", NULL);
  BfcSpool *sp;

  if (!make_dir(items, error) || !make_dir(failed, error))
    return NULL;
  sp = g_new0(BfcSpool, 1);
  g_mutex_init(&sp->lock);
  sp->dir = g_canonicalize_filename(dir, NULL);
  sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sp->items_fd = open(items, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sp->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (sp->dir_fd < 0 || sp->items_fd < 0 || sp->lock_fd < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "spool %s: %s", dir, g_strerror(errno));
    bfc_spool_close(sp);
    return NULL;
  }
  if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "spool %s is in use by another braidfs mount (one spool per "
                "mount)", dir);
    bfc_spool_close(sp);
    return NULL;
  }
  sp->next_seq = MAX(max_seq_in(items), max_seq_in(failed)) + 1;
  return sp;
}

void
bfc_spool_close(BfcSpool *sp)
{
  gpointer seq;

  if (sp == NULL)
    return;
  while ((seq = g_queue_pop_head(&sp->premade)) != NULL) {
    g_autofree char *fname = seq_name(GPOINTER_TO_SIZE(seq));
    unlinkat(sp->items_fd, fname, 0);
  }
  for (int *fd = (int[]){ sp->dir_fd, sp->items_fd, sp->lock_fd, -2 };
       *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  g_mutex_clear(&sp->lock);
  g_free(sp->dir);
  g_free(sp);
}

const char *
bfc_spool_dir(BfcSpool *sp)
{
  return sp->dir;
}

/* ---- the session -------------------------------------------------------- */

static gboolean
hex_id(GKeyFile *kf, const char *key, uint8_t out[BF_ID_LEN])
{
  g_autofree char *hex = g_key_file_get_string(kf, "session", key, NULL);
  size_t got = 0;

  return hex != NULL &&
         sodium_hex2bin(out, BF_ID_LEN, hex, strlen(hex), NULL, &got, NULL) == 0 &&
         got == BF_ID_LEN;
}

gboolean
bfc_spool_load_session(BfcSpool *sp, BfcSpoolSession *out)
{
  g_autofree char *path = g_build_filename(sp->dir, "session", NULL);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) error = NULL;

  memset(out, 0, sizeof *out);
  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error)) {
    if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      g_warning("spool %s: ignoring its session file: %s", sp->dir,
                error->message);
    return FALSE;
  }
  out->server = g_key_file_get_string(kf, "session", "server", NULL);
  out->id_floor = g_key_file_get_uint64(kf, "session", "id_floor", NULL);
  if (out->server == NULL || !hex_id(kf, "id", out->id) ||
      !hex_id(kf, "token", out->token)) {
    g_warning("spool %s: ignoring a damaged session file", sp->dir);
    bfc_spool_session_clear(out);
    return FALSE;
  }
  return TRUE;
}

gboolean
bfc_spool_save_session(BfcSpool *sp, const BfcSpoolSession *ss, GError **error)
{
  g_autofree char *path = g_build_filename(sp->dir, "session", NULL);
  g_autofree char *id = bf_hex(ss->id, BF_ID_LEN);
  g_autofree char *token = bf_hex(ss->token, BF_ID_LEN);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *text = NULL;
  gsize len;

  g_key_file_set_string(kf, "session", "server", ss->server);
  g_key_file_set_string(kf, "session", "id", id);
  g_key_file_set_string(kf, "session", "token", token);
  g_key_file_set_uint64(kf, "session", "id_floor", ss->id_floor);
  text = g_key_file_to_data(kf, &len, NULL);
  /* g_file_set_contents_full writes a temporary, fsyncs and renames it. */
  if (!g_file_set_contents_full(path, text, (gssize)len,
                                G_FILE_SET_CONTENTS_DURABLE, 0600, error)) {
    g_prefix_error(error, "spool %s: ", sp->dir);
    return FALSE;
  }
  if (fsync(sp->dir_fd) < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "spool %s: fsync: %s", sp->dir, g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

void
bfc_spool_session_clear(BfcSpoolSession *ss)
{
  g_clear_pointer(&ss->server, g_free);
  sodium_memzero(ss->token, sizeof ss->token);
}

/* ---- one file ----------------------------------------------------------- */

static char *
seq_name(uint64_t seq)
{
  return g_strdup_printf("%016" G_GINT64_MODIFIER "x.item", seq);
}

/* Makes a batch of empty files and one fsync of the directory. Lock held. */
static int
premake_locked(BfcSpool *sp)
{
  for (unsigned i = 0; i < PREMADE_BATCH; i++) {
    uint64_t seq = sp->next_seq++;
    g_autofree char *fname = seq_name(seq);
    int fd = openat(sp->items_fd, fname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0600);
    if (fd < 0)
      return -errno;
    close(fd);
    g_queue_push_tail(&sp->premade, GSIZE_TO_POINTER(seq));
  }
  return fsync(sp->items_fd) == 0 ? 0 : -errno;
}

/* A premade empty file, opened: 0 or -errno. */
static int
take_file(BfcSpool *sp, uint64_t *seq, int *fd)
{
  g_autofree char *fname = NULL;
  int rc = 0;

  *seq = 0;
  g_mutex_lock(&sp->lock);
  if (g_queue_is_empty(&sp->premade))
    rc = premake_locked(sp);
  if (!g_queue_is_empty(&sp->premade))
    *seq = GPOINTER_TO_SIZE(g_queue_pop_head(&sp->premade));
  g_mutex_unlock(&sp->lock);
  if (*seq == 0)
    return rc < 0 ? rc : -EIO;
  fname = seq_name(*seq);
  *fd = openat(sp->items_fd, fname, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  return *fd < 0 ? -errno : 0;
}

static BfcSpoolFile *
file_alloc(BfcSpool *sp)
{
  BfcSpoolFile *f = g_new0(BfcSpoolFile, 1);

  f->sp = sp;
  f->fd = -1;
  f->kept_fd = -1;
  g_mutex_init(&f->lock);
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
                "spool %s: cannot create a file in items/: %s", sp->dir,
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
  g_mutex_clear(&f->lock);
  g_free(f->name);
  g_free(f);
}

static void
unlink_seq(BfcSpool *sp, uint64_t seq)
{
  g_autofree char *fname = seq_name(seq);

  if (unlinkat(sp->items_fd, fname, 0) < 0 && errno != ENOENT)
    g_warning("spool %s: cannot remove items/%s: %s", sp->dir, fname,
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

/* Copies the bytes (not the header) of src into dst. */
static int
copy_bytes(int src, int dst, uint64_t size)
{
  off_t in = HDR_SIZE, out = HDR_SIZE;

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
 * moves to a copy (see kept_fd in spool.h). Lock held. */
static int
keep_committed_locked(BfcSpoolFile *f, uint64_t from)
{
  uint64_t seq;
  int fd, rc;

  if (!f->committed || f->kept_fd >= 0 || from >= f->size)
    return 0;
  if ((rc = take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if ((rc = copy_bytes(f->fd, fd, bfc_spool_file_size(f))) < 0) {
    close(fd);
    unlink_seq(f->sp, seq);
    return rc;
  }
  f->kept_fd = f->fd;
  f->kept_seq = f->seq;
  f->fd = fd;
  f->seq = seq;
  return 0;
}

int
bfc_spool_file_write(BfcSpoolFile *f, const void *buf, size_t len, uint64_t off)
{
  const uint8_t *p = buf;
  int rc;

  g_mutex_lock(&f->lock);
  rc = keep_committed_locked(f, off);
  f->dirty = TRUE;
  while (rc == 0 && len > 0) {
    ssize_t n = pwrite(f->fd, p, len, (off_t)(HDR_SIZE + off));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      rc = -(n < 0 ? errno : EIO);
    else {
      p += n;
      off += (uint64_t)n;
      len -= (size_t)n;
    }
  }
  g_mutex_unlock(&f->lock);
  return rc;
}

int
bfc_spool_file_truncate(BfcSpoolFile *f, uint64_t size)
{
  int rc;

  g_mutex_lock(&f->lock);
  rc = keep_committed_locked(f, size);
  f->dirty = TRUE;
  if (rc == 0 && ftruncate(f->fd, (off_t)(HDR_SIZE + size)) < 0)
    rc = -errno;
  g_mutex_unlock(&f->lock);
  return rc;
}

ssize_t
bfc_spool_file_read(BfcSpoolFile *f, void *buf, size_t len, uint64_t off)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n = pread(f->fd, (uint8_t *)buf + done, len - done,
                      (off_t)(HDR_SIZE + off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

uint64_t
bfc_spool_file_size(BfcSpoolFile *f)
{
  struct stat st;

  if (fstat(f->fd, &st) < 0 || st.st_size <= HDR_SIZE)
    return 0;
  return (uint64_t)st.st_size - HDR_SIZE;
}

/* The digest of the bytes as they are on disk now. */
static int
digest_of(BfcSpoolFile *f, uint64_t size, uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_SHA256);
  g_autofree uint8_t *buf = g_malloc(1 << 20);

  for (uint64_t off = 0; off < size;) {
    ssize_t n = bfc_spool_file_read(f, buf, MIN(size - off, (uint64_t)1 << 20), off);
    if (n <= 0)
      return n < 0 ? (int)n : -EIO;
    bf_digest_update(d, buf, (size_t)n);
    off += (uint64_t)n;
  }
  bf_digest_final(d, out);
  return 0;
}

static int
commit_locked(BfcSpoolFile *f)
{
  int rc;

  /* A size below the header (nothing written) still needs the header's
   * room, so that bytes written later never overlap it. */
  if (bfc_spool_file_size(f) == 0 && ftruncate(f->fd, HDR_SIZE) < 0)
    return -errno;
  f->size = bfc_spool_file_size(f);
  if ((rc = digest_of(f, f->size, f->digest)) < 0 || (rc = write_header(f)) < 0)
    return rc;
  /* Its directory entry was made durable with its batch. */
  if (fdatasync(f->fd) < 0)
    return -errno;
  f->committed = TRUE;
  f->dirty = FALSE;
  /* A crash before this unlink leaves both versions: the older is
   * delivered first, so the server still ends with this one. */
  drop_kept(f);
  return 0;
}

int
bfc_spool_file_commit(BfcSpoolFile *f)
{
  int rc;

  g_mutex_lock(&f->lock);
  rc = commit_locked(f);
  g_mutex_unlock(&f->lock);
  return rc;
}

void
bfc_spool_file_revert(BfcSpoolFile *f)
{
  g_mutex_lock(&f->lock);
  if (f->committed && f->dirty) {
    if (f->kept_fd >= 0) {
      close(f->fd);
      unlink_seq(f->sp, f->seq);
      f->fd = g_steal_fd(&f->kept_fd);
      f->seq = f->kept_seq;
    } else if (ftruncate(f->fd, (off_t)(HDR_SIZE + f->size)) < 0) {
      g_warning("spool %s: cannot drop bytes written to '%s' after its "
                "close(2): %s", f->sp->dir, f->name, g_strerror(errno));
    }
    f->dirty = FALSE;
  }
  g_mutex_unlock(&f->lock);
}

int
bfc_spool_file_update(BfcSpoolFile *f)
{
  int rc = write_header(f);

  if (rc == 0 && fdatasync(f->fd) < 0)
    rc = -errno;
  return rc;
}

void
bfc_spool_file_note_id(BfcSpoolFile *f, uint64_t item_id)
{
  f->item_id = item_id;
  if (f->committed && write_header(f) < 0)
    g_warning("spool: cannot record the delivery of '%s': %s", f->name,
              g_strerror(errno));
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
  g_autofree char *fname = seq_name(f->seq);
  g_autofree char *to = g_build_filename("failed", fname, NULL);

  drop_kept(f);
  if (renameat(sp->items_fd, fname, sp->dir_fd, to) < 0)
    g_warning("spool %s: cannot move items/%s to failed/: %s", sp->dir, fname,
              g_strerror(errno));
  bfc_spool_file_free(f);
  return g_build_filename(sp->dir, to, NULL);
}

/* ---- recovery ----------------------------------------------------------- */

static BfcSpoolFile *
recover_one(BfcSpool *sp, const char *fname, uint64_t seq)
{
  BfcSpoolFile *f = file_alloc(sp);
  uint8_t h[HDR_SIZE], digest[BF_DIGEST_LEN];
  ssize_t got;

  f->seq = seq;
  f->fd = openat(sp->items_fd, fname, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  got = f->fd >= 0 ? pread(f->fd, h, sizeof h, 0) : -1;
  /* Bytes past the committed size were appended after the last close(2). */
  if (got < 0 || !header_decode(h, (size_t)got, f) ||
      bfc_spool_file_size(f) < f->size || digest_of(f, f->size, digest) < 0 ||
      sodium_memcmp(digest, f->digest, BF_DIGEST_LEN) != 0) {
    bfc_spool_file_free(f);
    return NULL;
  }
  f->committed = TRUE;
  f->dirty = bfc_spool_file_size(f) > f->size;
  bfc_spool_file_revert(f);
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
  g_autofree char *items = g_build_filename(sp->dir, "items", NULL);
  g_autoptr(GDir) d = g_dir_open(items, 0, NULL);
  GPtrArray *out = g_ptr_array_new();
  const char *name;
  uint64_t seq;

  while (d && (name = g_dir_read_name(d)) != NULL) {
    struct stat st;
    BfcSpoolFile *f = parse_seq(name, &seq) ? recover_one(sp, name, seq) : NULL;
    if (f != NULL) {
      g_ptr_array_add(out, f);
      continue;
    }
    /* Empty ones were made ahead and never used. */
    if (fstatat(sp->items_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > 0)
      g_message("spool %s: removing items/%s: no close(2) succeeded for "
                "these bytes, so nothing was promised for them", sp->dir, name);
    unlinkat(sp->items_fd, name, 0);
  }
  g_ptr_array_sort(out, by_seq);
  return out;
}
