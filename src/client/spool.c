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

/* A spooled file starts with two header slots, at 0 and SLOT_SIZE; its
 * bytes follow at HDR_SIZE, so that the longest name fits in each slot and
 * the data stays block-aligned. A header is never rewritten in the slot
 * that holds the last one synced: each write goes to the other slot with
 * the next generation, and becomes the one to keep only once fdatasync
 * returned. A power cut during a commit (a header on disk without the
 * bytes it describes, or a torn header) then leaves the older slot, whose
 * bytes were never overwritten (a change below the committed size moves
 * the writing to a copy, see keep_committed_locked), and recovery takes
 * the newest slot that authenticates and whose digest matches.
 *
 * A slot, all fields little-endian:
 *   0 magic "BFSPOOL3"   8 u32 version (3)   12 u32 generation
 *  16 u64 item_id       24 u64 size         32 u32 mode   36 u32 mtime_nsec
 *  40 i64 mtime_sec     48 digest[32]       80 u16 name_len
 *  82 mac[32]           114 name
 * mac is the spool's MAC (spooldir.h) of the file's seq (u64, little-endian),
 * bytes [0, 82) and the name: a header written by someone without the key
 * does not authenticate, nor does one moved to another file name. (Version
 * 2, "BFSPOOL2", had one slot and its bytes at 8192: recovery copies such a
 * file into a new one; version 1, "BFSPOOL1", had a CRC-32C instead: such
 * files cannot be authenticated and are set aside, see bfc_spool_recover.) */
#define SLOT_SIZE 6144
#define HDR_SIZE (2 * SLOT_SIZE)
#define HDR_V2_SIZE 8192
#define HDR_MAC 82
#define HDR_FIXED (HDR_MAC + BFC_SPOOL_MAC_LEN)
#define MAGIC "BFSPOOL3"
#define MAGIC_V2 "BFSPOOL2"
#define MAGIC_V1 "BFSPOOL1"
#define MAC_ITEM "braidfs spool item v2"
#define MAC_SESSION "braidfs spool session v2"
#define SESSION_MAX 65536
G_STATIC_ASSERT(HDR_FIXED + BF_NAME_MAX <= SLOT_SIZE);
G_STATIC_ASSERT(HDR_FIXED + BF_NAME_MAX <= HDR_V2_SIZE);

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
  bf_store_le32(h + 8, 3);
  bf_store_le32(h + 12, f->gen);
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
  HDR_FORGED,         /* a header that does not authenticate (or torn) */
  HDR_OK,
  HDR_V2,             /* an authentic header of version 2 */
} HdrCheck;

/* One slot (or a version 2 header) h of got bytes into f's fields. */
static HdrCheck
header_decode(const uint8_t *h, size_t got, BfcSpoolFile *f)
{
  uint8_t mac[BFC_SPOOL_MAC_LEN];
  uint32_t version;
  size_t nlen;

  if (got >= 8 && memcmp(h, MAGIC_V1, 8) == 0)
    return HDR_FORGED;
  if (got < HDR_FIXED ||
      (memcmp(h, MAGIC, 8) != 0 && memcmp(h, MAGIC_V2, 8) != 0))
    return HDR_NONE;
  version = memcmp(h, MAGIC, 8) == 0 ? 3 : 2;
  nlen = bf_load_le16(h + 80);
  if (bf_load_le32(h + 8) != version || nlen == 0 || nlen > BF_NAME_MAX ||
      HDR_FIXED + nlen > got)
    return HDR_FORGED;
  header_mac(f, h, nlen, mac);
  if (sodium_memcmp(mac, h + HDR_MAC, sizeof mac) != 0)
    return HDR_FORGED;
  f->gen = version == 3 ? bf_load_le32(h + 12) : 0;
  f->item_id = bf_load_le64(h + 16);
  f->size = bf_load_le64(h + 24);
  f->mode = bf_load_le32(h + 32) & 07777;
  f->mtime.tv_nsec = bf_load_le32(h + 36) % 1000000000u;
  f->mtime.tv_sec = (time_t)bf_load_le64(h + 40);
  memcpy(f->digest, h + 48, BF_DIGEST_LEN);
  g_free(f->name);
  f->name = g_strndup((const char *)h + HDR_FIXED, nlen);
  if (strlen(f->name) != nlen)
    return HDR_FORGED;
  return version == 3 ? HDR_OK : HDR_V2;
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

/* f's descriptor, opened again if it was parked: >= 0, or -errno. */
static int
fd_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock)
{
  g_autofree char *fname = NULL;

  if (f->fd >= 0)
    return f->fd;
  fname = g_strdup_printf("%016" G_GINT64_MODIFIER "x.item", f->seq);
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
  len = header_encode(f, h);
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

/* The digest of size bytes of fd from from, as they are on disk now. */
static int
digest_of(int fd, uint64_t from, uint64_t size, uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_SHA256);
  g_autofree uint8_t *buf = g_malloc(1 << 20);

  for (uint64_t off = 0; off < size;) {
    ssize_t n = bf_pread_all(fd, buf, MIN(size - off, (uint64_t)1 << 20),
                             from + off);
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
  uint64_t old_size = f->size;
  int rc;

  if ((rc = fd_locked(f)) < 0)
    return rc;
  f->size = f->length;
  /* Its directory entry was made durable with its batch; the bytes and the
   * header go in one fdatasync (see the slots above). */
  if ((rc = digest_of(f->fd, HDR_SIZE, f->size, f->digest)) < 0 ||
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
  g_autofree char *fname = seq_name(f->seq);

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
  g_autofree char *old = seq_name(f->seq);
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
  if ((rc = digest_of(f->fd, data_off, c->size, digest)) < 0)
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
    HdrCheck check = (size_t)got > off ? header_decode(h + off, (size_t)got - off, &c)
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
    BfcSpoolFile *f = parse_seq(name, &seq)
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
