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

/* Header of a spooled file; its bytes follow at HDR_SIZE, so that the
 * longest name fits and the data stays block-aligned. All fields are
 * little-endian:
 *   0 magic "BFSPOOL2"   8 u32 version (2)   12 u32 reserved (0)
 *  16 u64 item_id       24 u64 size         32 u32 mode   36 u32 mtime_nsec
 *  40 i64 mtime_sec     48 digest[32]       80 u16 name_len
 *  82 mac[32]           114 name
 * mac is the spool's MAC (spooldir.h) of the file's seq (u64, little-endian),
 * bytes [0, 82) and the name: a header written by someone without the key
 * does not authenticate, nor does one moved to another file name. (Version
 * 1, "BFSPOOL1", had a CRC-32C instead: such files cannot be authenticated
 * and are set aside, see bfc_spool_recover.) */
#define HDR_SIZE 8192
#define HDR_MAC 82
#define HDR_FIXED (HDR_MAC + BFC_SPOOL_MAC_LEN)
#define MAGIC "BFSPOOL2"
#define MAGIC_V1 "BFSPOOL1"
#define MAC_ITEM "braidfs spool item v2"
#define MAC_SESSION "braidfs spool session v2"
#define SESSION_MAX 65536
G_STATIC_ASSERT(HDR_FIXED + BF_NAME_MAX <= HDR_SIZE);

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

static void
header_mac(const BfcSpoolFile *f, const uint8_t *h, size_t nlen,
           uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t seq[8];

  bf_store_le64(seq, f->seq);
  bfc_spool_mac_init(&f->sp->d, &st, MAC_ITEM);
  crypto_generichash_update(&st, seq, sizeof seq);
  crypto_generichash_update(&st, h, HDR_MAC);
  crypto_generichash_update(&st, h + HDR_FIXED, nlen);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

static size_t
header_encode(const BfcSpoolFile *f, uint8_t *h)
{
  size_t nlen = strlen(f->name);

  memset(h, 0, HDR_FIXED);
  memcpy(h, MAGIC, 8);
  bf_store_le32(h + 8, 2);
  bf_store_le64(h + 16, f->item_id);
  bf_store_le64(h + 24, f->size);
  bf_store_le32(h + 32, f->mode);
  bf_store_le32(h + 36, (uint32_t)f->mtime.tv_nsec);
  bf_store_le64(h + 40, (uint64_t)f->mtime.tv_sec);
  memcpy(h + 48, f->digest, BF_DIGEST_LEN);
  bf_store_le16(h + 80, (uint16_t)nlen);
  memcpy(h + HDR_FIXED, f->name, nlen);
  header_mac(f, h, nlen, h + HDR_MAC);
  return HDR_FIXED + nlen;
}

typedef enum {
  HDR_NONE,           /* no header: no close(2) succeeded for these bytes */
  HDR_FORGED,         /* a header that does not authenticate */
  HDR_OK,
} HdrCheck;

static HdrCheck
header_decode(const uint8_t *h, size_t got, BfcSpoolFile *f)
{
  uint8_t mac[BFC_SPOOL_MAC_LEN];
  size_t nlen;

  if (got >= 8 && memcmp(h, MAGIC_V1, 8) == 0)
    return HDR_FORGED;
  if (got < HDR_FIXED || memcmp(h, MAGIC, 8) != 0)
    return HDR_NONE;
  nlen = bf_load_le16(h + 80);
  if (bf_load_le32(h + 8) != 2 || nlen == 0 || nlen > BF_NAME_MAX ||
      HDR_FIXED + nlen > got)
    return HDR_FORGED;
  header_mac(f, h, nlen, mac);
  if (sodium_memcmp(mac, h + HDR_MAC, sizeof mac) != 0)
    return HDR_FORGED;
  f->item_id = bf_load_le64(h + 16);
  f->size = bf_load_le64(h + 24);
  f->mode = bf_load_le32(h + 32) & 07777;
  f->mtime.tv_nsec = bf_load_le32(h + 36) % 1000000000u;
  f->mtime.tv_sec = (time_t)bf_load_le64(h + 40);
  memcpy(f->digest, h + 48, BF_DIGEST_LEN);
  f->name = g_strndup((const char *)h + HDR_FIXED, nlen);
  return strlen(f->name) == nlen ? HDR_OK : HDR_FORGED;
}

/* G_FILE_ERROR for what rc (-errno) says about items/<f's seq>. */
static gboolean
file_error(const BfcSpoolFile *f, int rc, const char *what, GError **error)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
              "cannot %s items/%016" G_GINT64_MODIFIER "x.item in spool %s: %s",
              what, f->seq, f->sp->d.path, g_strerror(-rc));
  return FALSE;
}

static int
write_header_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  uint8_t h[HDR_SIZE];
  size_t len = header_encode(f, h);

  return bf_pwrite_all(f->fd, h, len, 0);
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
max_seq_in(int dirfd)
{
  g_autoptr(GPtrArray) names = bfc_spool_names(dirfd);
  uint64_t max = 0, seq;

  for (guint i = 0; i < names->len; i++)
    if (parse_seq(names->pdata[i], &seq))
      max = MAX(max, seq);
  return max;
}

BfcSpool *
bfc_spool_open(const char *dir, GError **error)
{
  BfcSpool *sp = g_new0(BfcSpool, 1);

  bf_mutex_init(&sp->lock);
  if (!bfc_spool_dir_open(dir, &sp->d, error)) {
    bfc_spool_close(sp);
    return NULL;
  }
  sp->next_seq = MAX(max_seq_in(sp->d.items_fd), max_seq_in(sp->d.failed_fd)) + 1;
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

/* ---- the session -------------------------------------------------------- */

static gboolean
hex_bytes(GKeyFile *kf, const char *key, uint8_t *out, size_t len)
{
  g_autofree char *hex = g_key_file_get_string(kf, "session", key, NULL);
  size_t got = 0;

  return hex != NULL &&
         sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) == 0 &&
         got == len;
}

static gboolean
hex_id(GKeyFile *kf, const char *key, uint8_t out[BF_ID_LEN])
{
  return hex_bytes(kf, key, out, BF_ID_LEN);
}

static void
session_mac(BfcSpool *sp, const BfcSpoolSession *ss, uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t floor[8];

  bf_store_le64(floor, ss->id_floor);
  bfc_spool_mac_init(&sp->d, &st, MAC_SESSION);
  crypto_generichash_update(&st, (const uint8_t *)ss->server,
                            strlen(ss->server) + 1);
  crypto_generichash_update(&st, ss->id, BF_ID_LEN);
  crypto_generichash_update(&st, ss->token, BF_ID_LEN);
  crypto_generichash_update(&st, floor, sizeof floor);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

/* Its contents are never quoted in a message: a session file that is not
 * ours might be a link to somebody's secret. */
gboolean
bfc_spool_load_session(BfcSpool *sp, BfcSpoolSession *out, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  uint8_t mac[BFC_SPOOL_MAC_LEN], want[BFC_SPOOL_MAC_LEN];
  g_autofree char *text = NULL;
  size_t len;
  int err;

  memset(out, 0, sizeof *out);
  text = bfc_spool_read_file(sp->d.dir_fd, "session", SESSION_MAX, &len, &err);
  if (text == NULL && err == ENOENT)
    return FALSE;
  if (text == NULL) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "spool %s: its session file %s; remove it", sp->d.path,
                err == ELOOP ? "is not a regular file of yours (a symlink?)"
                : err == EFBIG ? "is too large" : g_strerror(err));
    return FALSE;
  }
  if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, NULL) ||
      (out->server = g_key_file_get_string(kf, "session", "server", NULL)) == NULL ||
      !hex_id(kf, "id", out->id) || !hex_id(kf, "token", out->token)) {
    g_warning("spool %s: ignoring a damaged session file; starting a new "
              "session", sp->d.path);
    bfc_spool_session_clear(out);
    return FALSE;
  }
  out->id_floor = g_key_file_get_uint64(kf, "session", "id_floor", NULL);
  session_mac(sp, out, want);
  if (!hex_bytes(kf, "mac", mac, sizeof mac) ||
      sodium_memcmp(mac, want, sizeof mac) != 0) {
    g_warning("spool %s: ignoring its session file: it does not authenticate "
              "with the spool's key (written by an older braidfs, or by "
              "someone else); starting a new session", sp->d.path);
    bfc_spool_session_clear(out);
    return FALSE;
  }
  return TRUE;
}

gboolean
bfc_spool_save_session(BfcSpool *sp, const BfcSpoolSession *ss, GError **error)
{
  uint8_t mac[BFC_SPOOL_MAC_LEN];
  g_autofree char *id = bf_hex(ss->id, BF_ID_LEN);
  g_autofree char *token = bf_hex(ss->token, BF_ID_LEN);
  g_autofree char *mac_hex = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *text = NULL;
  gsize len;

  session_mac(sp, ss, mac);
  mac_hex = bf_hex(mac, sizeof mac);
  g_key_file_set_string(kf, "session", "server", ss->server);
  g_key_file_set_string(kf, "session", "id", id);
  g_key_file_set_string(kf, "session", "token", token);
  g_key_file_set_uint64(kf, "session", "id_floor", ss->id_floor);
  g_key_file_set_string(kf, "session", "mac", mac_hex);
  text = g_key_file_to_data(kf, &len, NULL);
  if (!bfc_spool_write_file(sp->d.dir_fd, "session", text, len, error)) {
    g_prefix_error(error, "spool %s: ", sp->d.path);
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

/* Makes the empty files first .. first + n - 1, then one fsync of the
 * directory; they go to the premade queue. Without the spool's lock: a
 * creator that finds none made waits for its own batch, not for others'. */
static int
premake(BfcSpool *sp, uint64_t first, unsigned n) BF_EXCLUDES(&sp->lock)
{
  unsigned made = 0;
  int rc = 0;

  for (; made < n; made++) {
    g_autofree char *fname = seq_name(first + made);
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
  fname = seq_name(*seq);
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
  g_autofree char *fname = seq_name(seq);

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

/* The bytes of the file after its header, by its size on disk. */
static uint64_t
spool_file_size(BfcSpoolFile *f)
{
  struct stat st;

  if (fstat(f->fd, &st) < 0 || st.st_size <= HDR_SIZE)
    return 0;
  return (uint64_t)st.st_size - HDR_SIZE;
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
 * moves to a copy (see kept_fd in spool.h). */
static int
keep_committed_locked(BfcSpoolFile *f, uint64_t from) BF_REQUIRES(&f->lock)
{
  uint64_t seq;
  int fd, rc;

  if (!f->committed || f->kept_fd >= 0 || from >= f->size)
    return 0;
  if ((rc = take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if ((rc = copy_bytes(f->fd, fd, spool_file_size(f))) < 0) {
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

gboolean
bfc_spool_file_write(BfcSpoolFile *f, const void *buf, size_t len, uint64_t off,
                     GError **error)
{
  int rc;

  bf_mutex_lock(&f->lock);
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
read_bytes(BfcSpoolFile *f, void *buf, size_t len, uint64_t off)
{
  return bf_pread_all(f->fd, buf, len, HDR_SIZE + off);
}

gssize
bfc_spool_file_read(BfcSpoolFile *f, void *buf, size_t len, uint64_t off,
                    GError **error)
{
  gssize n = read_bytes(f, buf, len, off);

  if (n < 0)
    file_error(f, (int)n, "read", error);
  return n < 0 ? -1 : n;
}

uint64_t
bfc_spool_file_length(BfcSpoolFile *f)
{
  return f->length;
}

/* The digest of the bytes as they are on disk now. */
static int
digest_of(BfcSpoolFile *f, uint64_t size, uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_SHA256);
  g_autofree uint8_t *buf = g_malloc(1 << 20);

  for (uint64_t off = 0; off < size;) {
    ssize_t n = read_bytes(f, buf, MIN(size - off, (uint64_t)1 << 20), off);
    if (n <= 0)
      return n < 0 ? (int)n : -EIO;
    bf_digest_update(d, buf, (size_t)n);
    off += (uint64_t)n;
  }
  bf_digest_final(d, out);
  return 0;
}

static int
commit_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  int rc;

  /* A size below the header (nothing written) still needs the header's
   * room, so that bytes written later never overlap it. */
  if (spool_file_size(f) == 0 && ftruncate(f->fd, HDR_SIZE) < 0)
    return -errno;
  f->size = spool_file_size(f);
  if ((rc = digest_of(f, f->size, f->digest)) < 0 ||
      (rc = write_header_locked(f)) < 0)
    return rc;
  /* Its directory entry was made durable with its batch. */
  if (fdatasync(f->fd) < 0)
    return -errno;
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
    close(f->fd);
    unlink_seq(f->sp, f->seq);
    f->fd = g_steal_fd(&f->kept_fd);
    f->seq = f->kept_seq;
  } else if (ftruncate(f->fd, (off_t)(HDR_SIZE + f->size)) < 0) {
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
  if (durable && (rc = write_header_locked(f)) == 0 && fdatasync(f->fd) < 0)
    rc = -errno;
  if (rc < 0)
    file_error(f, rc, "update the header of", error);
  bf_mutex_unlock(&f->lock);
  return rc == 0;
}

void
bfc_spool_file_note_id(BfcSpoolFile *f, uint64_t item_id)
{
  int rc = 0;

  bf_mutex_lock(&f->lock);
  f->item_id = item_id;
  if (f->committed)
    rc = write_header_locked(f);
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
  g_autofree char *fname = seq_name(f->seq);

  drop_kept(f);
  if (renameat(sp->d.items_fd, fname, sp->d.failed_fd, fname) < 0)
    g_warning("spool %s: cannot move items/%s to failed/: %s", sp->d.path, fname,
              g_strerror(errno));
  bfc_spool_file_free(f);
  return g_build_filename(sp->d.path, "failed", fname, NULL);
}

/* ---- recovery ----------------------------------------------------------- */

/* The committed file items/fname, or NULL; *check says why not. */
static BfcSpoolFile *
recover_one(BfcSpool *sp, const char *fname, uint64_t seq, HdrCheck *check)
{
  BfcSpoolFile *f = file_alloc(sp);
  uint8_t h[HDR_SIZE], digest[BF_DIGEST_LEN];
  ssize_t got;

  f->seq = seq;
  f->fd = bfc_spool_open_file(sp->d.items_fd, fname, O_RDWR, 0);
  got = f->fd >= 0 ? bf_pread_all(f->fd, h, sizeof h, 0) : -1;
  *check = got < 0 ? HDR_NONE : header_decode(h, (size_t)got, f);
  /* Bytes past the committed size were appended after the last close(2). */
  if (*check != HDR_OK || spool_file_size(f) < f->size ||
      digest_of(f, f->size, digest) < 0 ||
      sodium_memcmp(digest, f->digest, BF_DIGEST_LEN) != 0) {
    bfc_spool_file_free(f);
    return NULL;
  }
  f->committed = TRUE;
  f->dirty = spool_file_size(f) > f->size;
  bfc_spool_file_revert(f);
  f->length = f->size;
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
    HdrCheck check = HDR_NONE;
    struct stat st;
    BfcSpoolFile *f = parse_seq(name, &seq) ? recover_one(sp, name, seq, &check)
                                           : NULL;
    if (f != NULL) {
      g_ptr_array_add(out, f);
      continue;
    }
    if (check == HDR_FORGED) {
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
  g_ptr_array_sort(out, by_seq);
  return out;
}
