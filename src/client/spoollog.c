/* The spool's log (spoollog.h). */
#include "spoollog.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/bytes.h"
#include "braidfs/io.h"
#include "braidfs/tsa.h"

#define SEG_SIZE (4u << 20)
#define REC_HEAD_V1 32
#define REC_HEAD 64
#define REC_MAGIC_V1 "BFSLOGR1"
#define REC_MAGIC "BFSLOGR2"
#define REC_DEAD "BFSLOGD2"
#define REC_NOTE 24           /* item_id, then its mac */
#define REC_HDR_MAX 8192
#define MAC_NOTE "braidfs spool log note v2"
G_STATIC_ASSERT(REC_HEAD + REC_HDR_MAX + BFC_SPOOL_LOG_MAX <= SEG_SIZE);
G_STATIC_ASSERT(REC_NOTE + 8 + BFC_SPOOL_MAC_LEN == REC_HEAD);

struct BfcSpoolSeg {
  uint64_t n;                 /* its name */
  int fd;
  unsigned live;              /* records still needed (guarded by the log's lock) */
};

struct BfcSpoolLog {
  const BfcSpoolDir *d;
  /* Guards the fields below: the current segment, where the next record
   * goes, the open segments and their live counts. Held across one
   * append and its fdatasync: closes of small files take turns on the
   * disk they share anyway. */
  BfMutex lock;
  BfcSpoolSeg *cur;
  GPtrArray *segs;   /* all open, cur among them */
  uint64_t end;
  uint64_t next_n;
};

static char *
seg_name(uint64_t n)
{
  return g_strdup_printf("%016" G_GINT64_MODIFIER "x.log", n);
}

gboolean
bfc_spool_log_is_segment(const char *name)
{
  return g_str_has_suffix(name, ".log") && strlen(name) == 20 &&
         g_ascii_isxdigit(name[0]);
}

static GPtrArray *segment_names(const BfcSpoolDir *d, GError **error);

BfcSpoolLog *
bfc_spool_log_new(const BfcSpoolDir *d, GError **error)
{
  g_autoptr(GPtrArray) names = segment_names(d, error);
  BfcSpoolLog *lg;

  /* Numbered from 1, a new segment would replace one it did not see. */
  if (names == NULL)
    return NULL;
  lg = g_new0(BfcSpoolLog, 1);
  lg->d = d;
  /* Segments a recovery could not empty stay: new ones follow them. */
  lg->next_n = 1;
  for (guint i = 0; i < names->len; i++)
    lg->next_n = MAX(lg->next_n,
                     g_ascii_strtoull(names->pdata[i], NULL, 16) + 1);
  lg->segs = g_ptr_array_new();
  bf_mutex_init(&lg->lock);
  return lg;
}

static void
seg_close(BfcSpoolSeg *seg)
{
  if (seg->fd >= 0)
    close(seg->fd);
  g_free(seg);
}

void
bfc_spool_log_free(BfcSpoolLog *lg)
{
  if (lg == NULL)
    return;
  if (lg->cur != NULL && lg->cur->live == 0) {
    g_autofree char *name = seg_name(lg->cur->n);
    unlinkat(lg->d->items_fd, name, 0);
  }
  /* The others hold records of files still in the spool. */
  for (guint i = 0; i < lg->segs->len; i++)
    seg_close(lg->segs->pdata[i]);
  g_ptr_array_free(lg->segs, TRUE);
  bf_mutex_clear(&lg->lock);
  g_free(lg);
}

/* A new segment, its blocks written (zeros) and synced with its directory
 * entry, so that appends to it change no metadata. */
static int
seg_make(BfcSpoolLog *lg, BfcSpoolSeg **out) BF_REQUIRES(&lg->lock)
{
  g_autofree char *name = seg_name(lg->next_n);
  g_autofree uint8_t *zeros = g_malloc0(1 << 20);
  int fd = openat(lg->d->items_fd, name,
                  O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  int rc = 0;

  if (fd < 0)
    return -errno;
  for (uint64_t off = 0; rc == 0 && off < SEG_SIZE; off += 1 << 20)
    rc = bf_pwrite_all(fd, zeros, 1 << 20, off);
  if (rc == 0 && (fsync(fd) < 0 || fsync(lg->d->items_fd) < 0))
    rc = -errno;
  if (rc < 0) {
    close(fd);
    unlinkat(lg->d->items_fd, name, 0);
    return rc;
  }
  *out = g_new0(BfcSpoolSeg, 1);
  (*out)->n = lg->next_n++;
  (*out)->fd = fd;
  g_ptr_array_add(lg->segs, *out);
  return 0;
}

static void
seg_release_locked(BfcSpoolLog *lg, BfcSpoolSeg *seg) BF_REQUIRES(&lg->lock)
{
  g_autofree char *name = NULL;

  if (--seg->live > 0 || seg == lg->cur)
    return;
  name = seg_name(seg->n);
  unlinkat(lg->d->items_fd, name, 0);
  g_ptr_array_remove_fast(lg->segs, seg);
  seg_close(seg);
}

int
bfc_spool_log_append(BfcSpoolLog *lg, uint64_t seq, const uint8_t *hdr,
                     size_t hlen, const void *data, size_t len,
                     BfcSpoolRec *out)
{
  size_t rlen = REC_HEAD + hlen + len, padded = (rlen + 7) & ~(size_t)7;
  g_autofree uint8_t *rec = g_malloc0(padded);
  int rc = 0;

  g_return_val_if_fail(hlen <= REC_HDR_MAX && len <= BFC_SPOOL_LOG_MAX, -EINVAL);
  memcpy(rec, REC_MAGIC, 8);
  bf_store_le32(rec + 8, (uint32_t)hlen);
  bf_store_le32(rec + 12, (uint32_t)len);
  bf_store_le64(rec + 16, seq);
  memcpy(rec + REC_HEAD, hdr, hlen);
  if (len > 0)
    memcpy(rec + REC_HEAD + hlen, data, len);
  bf_mutex_lock(&lg->lock);
  if (lg->cur != NULL && SEG_SIZE - lg->end < padded) {
    BfcSpoolSeg *full = g_steal_pointer(&lg->cur);
    full->live++;             /* so that this release removes it if unused */
    seg_release_locked(lg, full);
  }
  if (lg->cur == NULL && (rc = seg_make(lg, &lg->cur)) == 0)
    lg->end = 0;
  if (rc == 0 && (rc = bf_pwrite_all(lg->cur->fd, rec, padded, lg->end)) == 0 &&
      fdatasync(lg->cur->fd) < 0)
    rc = -errno;
  if (rc == 0) {
    *out = (BfcSpoolRec){ .seg = lg->cur, .off = lg->end, .hlen = (uint32_t)hlen };
    lg->end += padded;
    lg->cur->live++;
  }
  bf_mutex_unlock(&lg->lock);
  return rc;
}

void
bfc_spool_log_release(BfcSpoolLog *lg, BfcSpoolRec *rec)
{
  if (rec->seg == NULL)
    return;
  bf_mutex_lock(&lg->lock);
  /* Unsynced: see "marked dead" in spoollog.h. A failed mark leaves a
   * record that recovery delivers once more, before any later version. */
  if (!rec->v1 && rec->seg->fd >= 0)
    (void)bf_pwrite_all(rec->seg->fd, REC_DEAD, 8, rec->off);
  seg_release_locked(lg, rec->seg);
  bf_mutex_unlock(&lg->lock);
  *rec = (BfcSpoolRec){ 0 };
}

gssize
bfc_spool_log_read(const BfcSpoolRec *rec, void *buf, size_t len, uint64_t off)
{
  uint64_t head = rec->v1 ? REC_HEAD_V1 : REC_HEAD;

  g_return_val_if_fail(rec->seg != NULL && rec->seg->fd >= 0, -EBADF);
  return bf_pread_all(rec->seg->fd, buf, len, rec->off + head + rec->hlen + off);
}

static void
note_mac(const BfcSpoolDir *d, uint64_t seq, uint64_t item_id,
         uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t b[16];

  bf_store_le64(b, seq);
  bf_store_le64(b + 8, item_id);
  bfc_spool_mac_init(d, &st, MAC_NOTE);
  crypto_generichash_update(&st, b, sizeof b);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

int
bfc_spool_log_note(BfcSpoolLog *lg, const BfcSpoolRec *rec, uint64_t seq,
                   uint64_t item_id)
{
  uint8_t note[8 + BFC_SPOOL_MAC_LEN];

  g_return_val_if_fail(rec->seg != NULL && !rec->v1, -EINVAL);
  bf_store_le64(note, item_id);
  note_mac(lg->d, seq, item_id, note + 8);
  return bf_pwrite_all(rec->seg->fd, note, sizeof note, rec->off + REC_NOTE);
}

/* The attempt noted in a record's head h (REC_HEAD bytes), if it
 * authenticates: else 0. */
static uint64_t
noted_id(const BfcSpoolDir *d, const uint8_t *h)
{
  uint64_t seq = bf_load_le64(h + 16), id = bf_load_le64(h + REC_NOTE);
  uint8_t mac[BFC_SPOOL_MAC_LEN];

  if (id == 0)
    return 0;
  note_mac(d, seq, id, mac);
  return sodium_memcmp(mac, h + REC_NOTE + 8, sizeof mac) == 0 ? id : 0;
}

/* The records of one segment, until the first head that is not whole;
 * seg->live counts those still needed. Without d, noted ids are not
 * checked (none is given). 0, or -errno if it cannot be read. */
static int
replay_one(const BfcSpoolDir *d, int fd, BfcSpoolSeg *seg, BfcSpoolLogFn fn,
           gpointer user)
{
  struct stat st;
  g_autofree uint8_t *buf = NULL;
  uint64_t size, off = 0;
  ssize_t got;

  if (fstat(fd, &st) < 0)
    return -errno;
  if (st.st_size <= 0)
    return 0;
  size = MIN((uint64_t)st.st_size, SEG_SIZE);
  buf = g_malloc(size);
  if ((got = bf_pread_all(fd, buf, size, 0)) < 0)
    return (int)got;
  size = (uint64_t)got;   /* shorter: it shrank meanwhile */
  while (REC_HEAD_V1 <= size - off) {
    const uint8_t *h = buf + off;
    gboolean v1 = memcmp(h, REC_MAGIC_V1, 8) == 0;
    gboolean dead = memcmp(h, REC_DEAD, 8) == 0;
    uint64_t head = v1 ? REC_HEAD_V1 : REC_HEAD;
    if (!v1 && !dead && memcmp(h, REC_MAGIC, 8) != 0)
      return 0;
    uint32_t hlen = bf_load_le32(h + 8);
    uint32_t len = bf_load_le32(h + 12);
    if (head > size - off || hlen > REC_HDR_MAX || len > BFC_SPOOL_LOG_MAX ||
        (uint64_t)hlen + len > size - off - head)
      return 0;
    BfcSpoolLogEntry e = {
      .seq = bf_load_le64(h + 16), .hdr = h + head, .hlen = hlen,
      .data = h + head + hlen, .len = len, .dead = dead,
      .item_id = v1 || dead || d == NULL ? 0 : noted_id(d, h),
      .rec = { .seg = seg, .off = off, .hlen = hlen, .v1 = v1 },
    };
    if (fn(&e, user) && !dead)
      seg->live++;   /* at start-up: nobody releases meanwhile */
    off += (head + (uint64_t)hlen + len + 7) & ~(uint64_t)7;
  }
  return 0;
}

static gboolean
keep_segment(int dirfd, const char *name, gpointer data)
{
  (void)dirfd;
  (void)data;
  return bfc_spool_log_is_segment(name);
}

static gboolean
seg_error(const BfcSpoolDir *d, const char *name, int err, GError **error)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
              "spool %s: cannot read the log's segment %s/items/%s: %s",
              d->path, d->path, name, g_strerror(err));
  return FALSE;
}

/* Sorted: their names are fixed-width hex. NULL with an error when items/
 * cannot be listed. */
static GPtrArray *
segment_names(const BfcSpoolDir *d, GError **error)
{
  GPtrArray *names;
  int rc = bf_dir_names(d->items_fd, keep_segment, NULL, &names);

  if (rc < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
                "spool %s: cannot list the log's segments in %s/items: %s",
                d->path, d->path, g_strerror(-rc));
    return NULL;
  }
  return names;
}

gboolean
bfc_spool_log_replay(BfcSpoolLog *lg, BfcSpoolLogFn fn, gpointer user,
                     GError **error)
{
  g_autoptr(GPtrArray) names = segment_names(lg->d, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    int fd = bfc_spool_open_file(lg->d->items_fd, name, O_RDWR, 0), rc;
    BfcSpoolSeg *seg;
    if (fd < 0)
      return seg_error(lg->d, name, errno, error);
    seg = g_new0(BfcSpoolSeg, 1);
    seg->n = g_ascii_strtoull(name, NULL, 16);
    seg->fd = fd;   /* files served from their records read it */
    bf_mutex_lock(&lg->lock);
    g_ptr_array_add(lg->segs, seg);   /* closed with the log */
    bf_mutex_unlock(&lg->lock);
    if ((rc = replay_one(lg->d, fd, seg, fn, user)) < 0)
      return seg_error(lg->d, name, -rc, error);
    if (seg->live == 0) {
      close(fd);
      seg->fd = -1;
    }
  }
  return TRUE;
}

void
bfc_spool_log_prune(BfcSpoolLog *lg)
{
  bf_mutex_lock(&lg->lock);
  for (guint i = lg->segs->len; i-- > 0;) {
    BfcSpoolSeg *seg = lg->segs->pdata[i];
    if (seg->live == 0 && seg != lg->cur) {
      seg->live++;
      seg_release_locked(lg, seg);
    }
  }
  bf_mutex_unlock(&lg->lock);
}

static gboolean
count_waiting(const BfcSpoolLogEntry *e, gpointer user)
{
  unsigned *n = user;

  if (!e->dead)
    n[e->rec.v1]++;
  return FALSE;
}

/* The log's records not marked dead: n[0] version 2, n[1] version 1. */
static gboolean
log_waiting(const BfcSpoolDir *d, unsigned n[2], GError **error)
{
  g_autoptr(GPtrArray) names = segment_names(d, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    BfcSpoolSeg seg = { .fd = -1 };
    int fd = bfc_spool_open_file(d->items_fd, names->pdata[i], O_RDONLY, 0);
    int rc = fd < 0 ? -errno : replay_one(NULL, fd, &seg, count_waiting, n);
    if (fd >= 0)
      close(fd);
    if (rc < 0)
      return seg_error(d, names->pdata[i], -rc, error);
  }
  return TRUE;
}

gboolean
bfc_spool_waiting(const BfcSpoolDir *d, unsigned *n, GError **error)
{
  g_autoptr(GPtrArray) names = bfc_spool_names(d, d->items_fd, "items",
                                               error);
  unsigned logged[2] = { 0, 0 };
  struct stat st;

  *n = 0;
  if (names == NULL || !log_waiting(d, logged, error))
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    if (fstatat(d->items_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_size > 0 && g_str_has_suffix(name, ".item"))
      (*n)++;
  }
  *n = MAX(*n + logged[0], logged[1] > 0 ? 1u : 0u);
  return TRUE;
}
