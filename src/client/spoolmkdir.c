/* The spool's record of directories made (spoolmkdir.h). */
#include "spoolmkdir.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/bytes.h"
#include "braidfs/io.h"
#include "braidfs/tsa.h"

#define DIRS_FILE "dirs"
#define REC_MAGIC "BFSDIR01"
#define REC_DEAD "BFSDIRD1"
#define REC_FIELDS 32         /* magic and fields, before the mac */
#define REC_HEAD (REC_FIELDS + BFC_SPOOL_MAC_LEN)
#define MAC_DIR "braidfs spool dir v1"
/* Nobody waits on thousands of unconfirmed directories for long: the file
 * is emptied whenever none is live. A bound keeps a hostile one from
 * making the mount read gigabytes. */
#define DIRS_MAX (64u << 20)

struct BfcSpoolDirs {
  const BfcSpoolDir *d;
  int fd;
  /* Guards end and live; held across one append and its fdatasync, as
   * the log's (spoollog.c). */
  BfMutex lock;
  uint64_t end;
  unsigned live;
};

/* The MAC of the record at off whose head is h (its magic aside) and
 * whose name is name. */
static void
rec_mac(const BfcSpoolDir *d, uint64_t off, const uint8_t *h,
        const char *name, size_t nlen, uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t b[8];

  bf_store_le64(b, off);
  bfc_spool_mac_init(d, &st, MAC_DIR);
  crypto_generichash_update(&st, b, sizeof b);
  crypto_generichash_update(&st, h + 8, REC_FIELDS - 8);
  crypto_generichash_update(&st, (const uint8_t *)name, nlen);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

static void
rec_encode(uint8_t *h, const BfcDirOp *op, size_t nlen)
{
  memcpy(h, REC_MAGIC, 8);
  h[8] = op->kind;
  h[9] = op->flags;
  bf_store_le16(h + 10, (uint16_t)nlen);
  bf_store_le32(h + 12, op->mode);
  bf_store_le64(h + 16, (uint64_t)op->mtime.tv_sec);
  bf_store_le32(h + 24, (uint32_t)op->mtime.tv_nsec);
  memcpy(h + REC_HEAD, op->name, nlen);
}

static void
rec_decode(const uint8_t *h, BfcDirOp *op)
{
  op->kind = h[8];
  op->flags = h[9];
  op->mode = bf_load_le32(h + 12);
  op->mtime.tv_sec = (time_t)bf_load_le64(h + 16);
  op->mtime.tv_nsec = bf_load_le32(h + 24);
}

static uint64_t
rec_len(size_t nlen)
{
  return (REC_HEAD + nlen + 7) & ~(uint64_t)7;
}

/* Walks the records in buf (len bytes): fn for each live one that
 * authenticates; the offset after the last record, and the live count. */
static uint64_t
replay(BfcSpoolDirs *ds, const uint8_t *buf, size_t len, BfcSpoolDirsFn fn,
       gpointer user, unsigned *live)
{
  uint64_t off = 0;

  *live = 0;
  while (off + REC_HEAD <= len) {
    const uint8_t *h = buf + off;
    gboolean dead = memcmp(h, REC_DEAD, 8) == 0;
    uint16_t nlen = bf_load_le16(h + 10);
    uint8_t mac[BFC_SPOOL_MAC_LEN];
    BfcDirOp op;

    if ((!dead && memcmp(h, REC_MAGIC, 8) != 0) || nlen == 0 ||
        off + REC_HEAD + nlen > len)
      break;
    g_autofree char *name = g_strndup((const char *)h + REC_HEAD, nlen);
    rec_mac(ds->d, off, h, name, nlen, mac);
    if (strlen(name) != nlen ||
        sodium_memcmp(mac, h + REC_FIELDS, sizeof mac) != 0)
      break;   /* torn: its request never returned */
    rec_decode(h, &op);
    op.name = name;
    if (!dead && (op.kind == BFC_DIR_MKDIR || op.kind == BFC_DIR_SETATTR)) {
      (*live)++;
      fn(&op, off, user);
    }
    off += rec_len(nlen);
  }
  return off;
}

BfcSpoolDirs *
bfc_spool_dirs_open(const BfcSpoolDir *d, BfcSpoolDirsFn fn, gpointer user,
                    GError **error)
{
  BfcSpoolDirs *ds = g_new0(BfcSpoolDirs, 1);
  g_autofree uint8_t *buf = NULL;
  struct stat st;
  gssize got = 0;

  ds->d = d;
  bf_mutex_init(&ds->lock);
  ds->fd = bfc_spool_open_file(d->dir_fd, DIRS_FILE, O_RDWR | O_CREAT, 0600);
  if (ds->fd < 0 || fstat(ds->fd, &st) < 0 || st.st_size > DIRS_MAX) {
    int err = ds->fd < 0 ? errno : st.st_size > DIRS_MAX ? EFBIG : errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "spool %s: cannot read %s/%s: %s", d->path, d->path,
                DIRS_FILE, g_strerror(err));
    bfc_spool_dirs_free(ds);
    return NULL;
  }
  /* A new file's entry must be durable before a record in it counts. */
  if (st.st_size == 0)
    fsync(d->dir_fd);
  buf = g_malloc((size_t)st.st_size + 1);
  if (st.st_size > 0 &&
      (got = bf_pread_all(ds->fd, buf, (size_t)st.st_size, 0)) < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno((int)-got),
                "spool %s: cannot read %s/%s: %s", d->path, d->path,
                DIRS_FILE, g_strerror((int)-got));
    bfc_spool_dirs_free(ds);
    return NULL;
  }
  bf_mutex_lock(&ds->lock);
  ds->end = replay(ds, buf, (size_t)got, fn, user, &ds->live);
  bf_mutex_unlock(&ds->lock);
  /* A torn last record is what a crash leaves; more may be a lost key. */
  if (ds->end < (uint64_t)got)
    g_message("spool %s: the last %" G_GUINT64_FORMAT " bytes of %s/%s do "
              "not authenticate (a record torn by a crash, or written under "
              "another key): ignored", d->path, (uint64_t)got - ds->end,
              d->path, DIRS_FILE);
  return ds;
}

void
bfc_spool_dirs_free(BfcSpoolDirs *ds)
{
  if (ds == NULL)
    return;
  if (ds->fd >= 0)
    close(ds->fd);
  bf_mutex_clear(&ds->lock);
  g_free(ds);
}

gboolean
bfc_spool_dirs_add(BfcSpoolDirs *ds, const BfcDirOp *op, uint64_t *rec,
                   GError **error)
{
  size_t nlen = strlen(op->name);
  uint64_t len = rec_len(nlen);
  g_autofree uint8_t *r = g_malloc0(len);
  int rc;

  g_return_val_if_fail(nlen > 0 && nlen <= G_MAXUINT16, FALSE);
  rec_encode(r, op, nlen);
  bf_mutex_lock(&ds->lock);
  rec_mac(ds->d, ds->end, r, op->name, nlen, r + REC_FIELDS);
  rc = bf_pwrite_all(ds->fd, r, len, ds->end);
  if (rc == 0 && fdatasync(ds->fd) < 0)
    rc = -errno;
  if (rc == 0) {
    *rec = ds->end;
    ds->end += len;
    ds->live++;
  } else if (ftruncate(ds->fd, (off_t)ds->end) < 0) {
    /* What was written may be whole; the next record overwrites it, or a
     * later mount makes a directory whose mkdir(2) failed: harmless. */
  }
  bf_mutex_unlock(&ds->lock);
  if (rc != 0)
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
                "spool %s: cannot record directory '%s': %s", ds->d->path,
                op->name, g_strerror(-rc));
  return rc == 0;
}

void
bfc_spool_dirs_done(BfcSpoolDirs *ds, uint64_t rec)
{
  bf_mutex_lock(&ds->lock);
  /* Unsynced: a lost mark makes the directory once more (spoolmkdir.h). */
  if (bf_pwrite_all(ds->fd, REC_DEAD, 8, rec) < 0) {
    /* the emptying below, or the next mount, still ends it */
  }
  if (ds->live > 0 && --ds->live == 0 && ftruncate(ds->fd, 0) == 0)
    ds->end = 0;
  bf_mutex_unlock(&ds->lock);
}

unsigned
bfc_spool_dirs_live(BfcSpoolDirs *ds)
{
  bf_mutex_lock(&ds->lock);
  unsigned n = ds->live;
  bf_mutex_unlock(&ds->lock);
  return n;
}
