/* Partial items, and the answers a client may still be waiting for, that
 * survive a restart of braidfsd.
 *
 * Next to an item's data (tmp/<id>.part) the server keeps one record,
 * tmp/<id>.rec, written with a few pwrites and never renamed (small files
 * pay for every metadata operation):
 *   [0, 8192)      ITEM_OPEN's fields and the name, CRC32C, written before
 *                  OPENED; for a coded item (shamir, rs) coding, k, n at
 *                  8188, written just before (zeros, i.e. absent, for
 *                  stripe); for an append its base_size and CRC32C at
 *                  8176, written just before too, once the base is
 *                  copied (zeros: no base)
 *   [8192, 8320)   ITEM_CLOSE's fields, CRC32C, once it arrives
 *   [12288, ...)   8 bytes per chunk on disk: u32 length, u32 total_chunks
 *                  as its CHUNK carried them (0, 0 = not here), written
 *                  after the data and before the CHUNK_ACK; a coded chunk
 *                  only once rebuilt (its buffered shares are lost with
 *                  the process: the client re-sends every share of a
 *                  chunk with fewer than k acknowledged)
 * and for a SHAMIR item, once its secret is rebuilt and before its k-th
 * share is acknowledged, tmp/<id>.sec: magic, the secret as rebuilt (its
 * digest, key and maybe the item's name), CRC32C. The name of an item
 * that hides it is in there only: its ITEM_OPEN record has none.
 * and per session:
 *   tmp/max_id     a u64: the highest item id the session ever opened,
 *                  written before the item is created
 *   tmp/verdicts   the verdicts of finished items (ITEM_ACK stage and
 *                  status), one 16-byte slot per id modulo VERDICT_SLOTS,
 *                  written before the item's record is deleted
 *   tmp/proofs     the proofs of stored items' STORED answers, one 48-byte
 *                  slot per id modulo VERDICT_SLOTS (id 8, proof 32,
 *                  CRC32C 4, pad 4), written before the item's rename
 *   tmp/ops        OPs started and done (with their status; an errno from
 *                  braidfsd before 0.1.0's restructuring, which still
 *                  reads), one slot per op id modulo OP_SLOTS
 *   tmp/spare.N    records of items that ended, emptied (ftruncate) before
 *                  they were renamed so, waiting to be renamed to a new
 *                  item's record: ext4 makes every create slower the more
 *                  inodes were freed recently, and items are many. Empty,
 *                  they never read as a record; start-up deletes them.
 * None is fsynced: they must survive the process being killed, whose
 * writes the kernel keeps; after a power loss the item's digest check
 * catches a torn file. At start-up each item with a record is rebuilt and
 * waits, open, for its client to re-attach and go on.
 *
 * The invariant that makes a re-attaching client's repeats safe: from the
 * first CHUNK_ACK of an item on, the store holds its record or its
 * verdict. So an id at or below max_id that has neither never had a chunk
 * acknowledged (its record was not complete when the process died), and
 * its client, which still has every byte, may open it again from
 * scratch. */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "braidfs/bytes.h"
#include "braidfs/io.h"
#include "braidfs/log.h"
#include "braidfs/tsa.h"
#include "crash.h"
#include "status.h"
#include "store.h"

#define REC_MAGIC "BFREC002"
#define REC_MAGIC_V1 "BFREC001"   /* before the CRC32Cs: still read */
#define SEC_MAGIC "BFSEC001"
#define OPEN_OFF 0
#define OPEN_FIXED 31          /* magic 8, chunk_size 4, mode 4, mtime 12,
                                  digest_alg 1, name_len 2 */
#define BASE_OFF 8176         /* base_size 8, CRC32C 4 */
#define CODING_OFF 8188       /* coding, k, n */
#define CLOSE_OFF 8192
#define CLOSE_LEN 66           /* set 1, total 4, size 8, alg 1, digest 32,
                                  mode 4, mtime 12, CRC32C 4 */
#define MAP_OFF 12288
#define MAP_ENTRY 8
#define SEC_HEAD 10            /* magic 8, length 2 */

#define VERDICT_SLOTS 4096     /* as many as the session keeps in memory */
#define OP_SLOTS 1024
#define SLOT_LEN 16            /* id 8, two bytes, pad 2, CRC32C 4 */
#define PROOF_SLOT_LEN 48      /* id 8, proof 32, CRC32C 4, pad 4 */
enum { OP_STARTED = 1, OP_DONE_ERRNO = 2, OP_DONE = 3 };

G_STATIC_ASSERT(OPEN_FIXED + BF_NAME_MAX + 4 <= BASE_OFF);
G_STATIC_ASSERT(BASE_OFF + 12 <= CODING_OFF);

struct BfdJournal {
  char *session;               /* its directory's name, for log lines */
  int verdict_fd;              /* tmp/verdicts */
  int proof_fd;                /* tmp/proofs */
  int ops_fd;                  /* tmp/ops */
  /* tmp/max_id only grows, whatever order the ITEM_OPENs of several
   * paths are written in: its lock is held across one 8-byte pwrite,
   * by path threads opening items (never under another lock). */
  BfMutex max_lock;
  int max_fd;
  uint64_t max_written;
  /* Records of finished items, emptied and renamed tmp/spare.N, for new
   * items to take: a file system that must find a free inode among many
   * just freed (ext4 skips recently deleted ones, one by one) makes each
   * create slower the more files were deleted; so records are not. Its
   * lock is held across no I/O. */
  BfMutex spare_lock;
  GArray *spares;              /* guint: N of tmp/spare.N */
  guint spare_next;
};

void
bfd_journal_item_file(char out[BFD_ITEM_FILE_LEN], uint64_t id,
                      const char *ext)
{
  g_snprintf(out, BFD_ITEM_FILE_LEN, "%016" G_GINT64_MODIFIER "x.%s", id, ext);
}

#define JOURNAL_LOG(j) (&(BfLogFields){ .session = (j)->session })

static int
open_ring(BfdJournal *j, int tmp_fd, const char *name, unsigned slots,
          size_t slot_len)
{
  int fd = bfd_store_open_file(tmp_fd, name, O_RDWR | O_CREAT, 0600);

  /* allocated now, so that a full disk cannot keep an answer out later */
  if (fd >= 0)
    posix_fallocate(fd, 0, (off_t)(slots * slot_len));
  if (fd < 0)
    bf_log(G_LOG_LEVEL_WARNING, JOURNAL_LOG(j), "session %s: cannot open "
           "tmp/%s (answers to repeated frames will not survive a restart): "
           "%s", j->session, name, g_strerror(errno));
  return fd;
}

BfdJournal *
bfd_journal_open(int tmp_fd, const char *session_name)
{
  BfdJournal *j = g_new0(BfdJournal, 1);
  uint8_t buf[8];

  j->session = g_strdup(session_name);
  j->verdict_fd = open_ring(j, tmp_fd, "verdicts", VERDICT_SLOTS, SLOT_LEN);
  j->proof_fd = open_ring(j, tmp_fd, "proofs", VERDICT_SLOTS, PROOF_SLOT_LEN);
  j->ops_fd = open_ring(j, tmp_fd, "ops", OP_SLOTS, SLOT_LEN);
  bf_mutex_init(&j->max_lock);
  bf_mutex_init(&j->spare_lock);
  j->spares = g_array_new(FALSE, FALSE, sizeof(guint));
  j->max_fd = bfd_store_open_file(tmp_fd, "max_id", O_RDWR | O_CREAT, 0600);
  if (j->max_fd >= 0 && bf_pread_all(j->max_fd, buf, sizeof buf, 0) == 8)
    j->max_written = bf_load_be64(buf);
  return j;
}

void
bfd_journal_free(BfdJournal *j)
{
  if (j == NULL)
    return;
  for (int *fd = (int[]){ j->verdict_fd, j->proof_fd, j->ops_fd, j->max_fd,
                          -2 };
       *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  bf_mutex_clear(&j->max_lock);
  bf_mutex_clear(&j->spare_lock);
  g_array_unref(j->spares);
  g_free(j->session);
  g_free(j);
}

void
bfd_journal_note_id(BfdJournal *j, uint64_t id)
{
  uint8_t buf[8];
  int rc = 0;

  bf_store_be64(buf, id);
  bf_mutex_lock(&j->max_lock);
  if (id > j->max_written) {
    rc = j->max_fd < 0 ? -EBADF : bf_pwrite_all(j->max_fd, buf, sizeof buf, 0);
    if (rc == 0)
      j->max_written = id;
  }
  bf_mutex_unlock(&j->max_lock);
  if (rc < 0)
    bf_log(G_LOG_LEVEL_WARNING, JOURNAL_LOG(j), "session %s: cannot record "
           "item id %" G_GUINT64_FORMAT ": %s", j->session, id,
           g_strerror(-rc));
}

/* One slot of a ring: id, two bytes of payload, a CRC32C so that a slot
 * never written (zeros) or torn reads as empty. */
static void
slot_write(BfdJournal *j, int fd, unsigned slots, uint64_t id, uint8_t a,
           uint8_t b)
{
  uint8_t e[SLOT_LEN] = { 0 };
  int rc;

  if (fd < 0)
    return;
  bf_store_be64(e, id);
  e[8] = a;
  e[9] = b;
  bf_store_be32(e + 12, bf_crc32c(e, 12));
  rc = bf_pwrite_all(fd, e, sizeof e, (uint64_t)(id % slots) * SLOT_LEN);
  if (rc < 0)
    bf_log(G_LOG_LEVEL_WARNING, JOURNAL_LOG(j), "session %s: cannot record "
           "an answer in the store: %s", j->session, g_strerror(-rc));
}

void
bfd_journal_note_verdict(BfdJournal *j, uint64_t id, uint8_t stage,
                         uint8_t status)
{
  slot_write(j, j->verdict_fd, VERDICT_SLOTS, id, stage, status);
}

void
bfd_journal_note_proof(BfdJournal *j, uint64_t id, const uint8_t *proof)
{
  uint8_t e[PROOF_SLOT_LEN] = { 0 };
  int rc;

  if (j->proof_fd < 0)
    return;
  bf_store_be64(e, id);
  memcpy(e + 8, proof, BF_PROOF_LEN);
  bf_store_be32(e + 40, bf_crc32c(e, 40));
  rc = bf_pwrite_all(j->proof_fd, e, sizeof e,
                     (uint64_t)(id % VERDICT_SLOTS) * PROOF_SLOT_LEN);
  if (rc < 0)
    bf_log(G_LOG_LEVEL_WARNING, JOURNAL_LOG(j), "session %s: cannot record "
           "a STORED proof in the store: %s", j->session, g_strerror(-rc));
}

void
bfd_journal_op_started(BfdJournal *j, uint64_t op_id)
{
  slot_write(j, j->ops_fd, OP_SLOTS, op_id, OP_STARTED, 0);
}

void
bfd_journal_op_done(BfdJournal *j, uint64_t op_id, uint8_t status)
{
  slot_write(j, j->ops_fd, OP_SLOTS, op_id, OP_DONE, status);
}

/* ---- item records ------------------------------------------------------ */

static gboolean
write_at(int fd, const void *buf, size_t len, uint64_t off, const char *what,
         GError **error)
{
  int rc = bf_pwrite_all(fd, buf, len, off);

  return rc == 0 || bfd_set_error_errno(error, -rc, "%s", what);
}

/* Spare records kept per session: enough for the items that end while
 * others open, a few directory entries in tmp/. */
#define SPARES_MAX 256

static void
spare_name(char out[BFD_ITEM_FILE_LEN], guint n)
{
  g_snprintf(out, BFD_ITEM_FILE_LEN, "spare.%u", n);
}

/* Takes a spare record as file (empty, renamed): TRUE if there was one. */
static gboolean
take_spare(BfdJournal *j, int tmp_fd, const char *file)
{
  char spare[BFD_ITEM_FILE_LEN];
  gboolean got = FALSE;
  guint n = 0;

  bf_mutex_lock(&j->spare_lock);
  if (j->spares->len > 0) {
    n = g_array_index(j->spares, guint, j->spares->len - 1);
    g_array_set_size(j->spares, j->spares->len - 1);
    got = TRUE;
  }
  bf_mutex_unlock(&j->spare_lock);
  if (!got)
    return FALSE;
  spare_name(spare, n);
  return renameat(tmp_fd, spare, tmp_fd, file) == 0;
}

/* The record of an item that ended becomes a spare: emptied first, so
 * that it never reads as any item's record; deleted if there are enough
 * spares or it cannot be. */
static void
give_spare(BfdJournal *j, int tmp_fd, const char *file, int rec_fd)
{
  char spare[BFD_ITEM_FILE_LEN];
  gboolean room;
  guint n = 0;

  bf_mutex_lock(&j->spare_lock);
  room = j->spares->len < SPARES_MAX;
  if (room)
    n = j->spare_next++;
  bf_mutex_unlock(&j->spare_lock);
  spare_name(spare, n);
  if (!room || ftruncate(rec_fd, 0) < 0 ||
      renameat(tmp_fd, file, tmp_fd, spare) < 0) {
    unlinkat(tmp_fd, file, 0);
    return;
  }
  bf_mutex_lock(&j->spare_lock);
  g_array_append_val(j->spares, n);
  bf_mutex_unlock(&j->spare_lock);
}

int
bfd_journal_item_open(BfdJournal *j, int tmp_fd, uint64_t id,
                      const BfItemOpen *o, const char *name, GError **error)
{
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX + 4];
  uint8_t coding[3] = { o->coding, o->coding_k, o->coding_n };
  uint8_t base[12];
  size_t nlen = strlen(name), len = OPEN_FIXED + nlen + 4;
  char file[BFD_ITEM_FILE_LEN];
  int fd;

  memcpy(buf, REC_MAGIC, 8);
  bf_store_be32(buf + 8, o->chunk_size);
  bf_store_be32(buf + 12, o->mode);
  bf_store_be64(buf + 16, (uint64_t)o->mtime_sec);
  bf_store_be32(buf + 24, o->mtime_nsec);
  buf[28] = o->digest_alg;
  bf_store_be16(buf + 29, (uint16_t)nlen);
  memcpy(buf + OPEN_FIXED, name, nlen);
  bf_store_be32(buf + OPEN_FIXED + nlen, bf_crc32c(buf, OPEN_FIXED + nlen));
  /* what the part file starts with: nothing kept is no base */
  bf_store_be64(base, bf_item_open_kept(o));
  bf_store_be32(base + 8, bf_crc32c(base, 8));
  bfd_journal_item_file(file, id, "rec");
  bfd_crash_at(BFD_CRASH_PART_CREATED);
  fd = take_spare(j, tmp_fd, file)
         ? bfd_store_open_file(tmp_fd, file, O_RDWR, 0)
         : -1;
  if (fd < 0)
    fd = bfd_store_create_file(tmp_fd, file, O_RDWR);
  if (fd < 0) {
    bfd_set_error_errno(error, errno, "tmp/%s", file);
    return -1;
  }
  /* The coding goes first: the CRC'd fields after it are what make the
   * record count, so a crash between the two writes leaves no record that
   * says stripe for a coded item. Stripe leaves it out: one write less per
   * small item. */
  if ((o->coding != BF_CODING_STRIPE &&
       !write_at(fd, coding, sizeof coding, CODING_OFF, file, error)) ||
      (bf_item_open_kept(o) > 0 &&
       !write_at(fd, base, sizeof base, BASE_OFF, file, error)) ||
      (bfd_crash_torn(BFD_CRASH_REC_TORN, fd, buf, len, OPEN_OFF),
       !write_at(fd, buf, len, OPEN_OFF, file, error))) {
    close(fd);
    return -1;
  }
  return fd;
}

gboolean
bfd_journal_item_chunk(int rec_fd, uint32_t chunk_id, uint32_t len,
                       uint32_t total, GError **error)
{
  uint8_t e[MAP_ENTRY];

  bfd_crash_at(BFD_CRASH_CHUNK_DATA);
  bf_store_be32(e, len);
  bf_store_be32(e + 4, total);
  if (!write_at(rec_fd, e, sizeof e, MAP_OFF + (uint64_t)chunk_id * MAP_ENTRY,
                "its record", error))
    return FALSE;
  bfd_crash_at(BFD_CRASH_CHUNK_MAP);
  return TRUE;
}

gboolean
bfd_journal_item_close(int rec_fd, const BfItemClose *c, GError **error)
{
  uint8_t buf[CLOSE_LEN] = { 1 };

  bf_store_be32(buf + 1, c->total_chunks);
  bf_store_be64(buf + 5, c->size);
  buf[13] = c->digest_alg;
  memcpy(buf + 14, c->digest, BF_DIGEST_LEN);
  bf_store_be32(buf + 46, c->mode);
  bf_store_be64(buf + 50, (uint64_t)c->mtime_sec);
  bf_store_be32(buf + 58, c->mtime_nsec);
  bf_store_be32(buf + 62, bf_crc32c(buf, CLOSE_LEN - 4));
  bfd_crash_torn(BFD_CRASH_CLOSE_TORN, rec_fd, buf, sizeof buf, CLOSE_OFF);
  return write_at(rec_fd, buf, sizeof buf, CLOSE_OFF, "its record", error);
}

gboolean
bfd_journal_item_secret(int tmp_fd, uint64_t id, const uint8_t *secret,
                        size_t len, GError **error)
{
  uint8_t head[SEC_HEAD], crc[4];
  char file[BFD_ITEM_FILE_LEN];
  ssize_t n;
  int fd;

  memcpy(head, SEC_MAGIC, 8);
  bf_store_be16(head + 8, (uint16_t)len);
  bf_store_be32(crc, bf_crc32c(secret, len) ^ bf_crc32c(head, sizeof head));
  bfd_journal_item_file(file, id, "sec");
  struct iovec iov[3] = { { head, sizeof head }, { (void *)secret, len },
                         { crc, sizeof crc } };

  fd = bfd_store_open_file(tmp_fd, file, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0)
    return bfd_set_error_errno(error, errno, "tmp/%s", file);
  n = pwritev(fd, iov, 3, 0);
  if (n < 0)
    bfd_set_error_errno(error, errno, "tmp/%s", file);
  else if (n != (ssize_t)(sizeof head + len + sizeof crc))
    bfd_set_error_errno(error, EIO, "tmp/%s", file);
  close(fd);
  return n == (ssize_t)(sizeof head + len + sizeof crc);
}

void
bfd_journal_item_done(BfdJournal *j, int tmp_fd, uint64_t id, int rec_fd,
                      gboolean data, gboolean secret)
{
  char file[BFD_ITEM_FILE_LEN];

  bfd_journal_item_file(file, id, "rec");
  if (rec_fd >= 0)
    give_spare(j, tmp_fd, file, rec_fd);
  else
    unlinkat(tmp_fd, file, 0);
  if (data) {
    bfd_journal_item_file(file, id, "part");
    unlinkat(tmp_fd, file, 0);
  }
  if (secret) {
    bfd_journal_item_file(file, id, "sec");
    unlinkat(tmp_fd, file, 0);
  }
}

void
bfd_journal_item_forget(int tmp_fd, uint64_t id)
{
  char file[BFD_ITEM_FILE_LEN];

  for (const char **ext = (const char *[]){ "rec", "part", "sec", NULL };
       *ext != NULL; ext++) {
    bfd_journal_item_file(file, id, *ext);
    unlinkat(tmp_fd, file, 0);
  }
}

/* ---- start-up ---------------------------------------------------------- */

/* A second open of the directory: a dup would share the read offset, and
 * a directory read to its end through one copy reads empty through all. */
static DIR *
opendir_at(int dirfd)
{
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

  if (d == NULL && fd >= 0)
    close(fd);
  return d;
}

static gint
answer_cmp(gconstpointer x, gconstpointer y)
{
  uint64_t i = ((const BfdJournalAnswer *)x)->id;
  uint64_t j = ((const BfdJournalAnswer *)y)->id;

  return i < j ? -1 : i > j;
}

/* The valid slots of a ring, oldest id first (the session forgets the
 * oldest answers first). */
static GArray *
slots_read(int tmp_fd, const char *name, unsigned slots)
{
  GArray *found = g_array_new(FALSE, FALSE, sizeof(BfdJournalAnswer));
  g_autofree uint8_t *buf = g_malloc((size_t)slots * SLOT_LEN);
  int fd = bfd_store_open_file(tmp_fd, name, O_RDONLY, 0);
  ssize_t n = fd >= 0 ? bf_pread_all(fd, buf, (size_t)slots * SLOT_LEN, 0) : -1;

  if (fd >= 0)
    close(fd);
  for (guint i = 0; n > 0 && i < (guint)(n / SLOT_LEN); i++) {
    const uint8_t *e = buf + (size_t)i * SLOT_LEN;
    BfdJournalAnswer a = { bf_load_be64(e), e[8], e[9] };
    if (a.id != 0 && a.id % slots == i &&
        bf_load_be32(e + 12) == bf_crc32c(e, 12))
      g_array_append_val(found, a);
  }
  g_array_sort(found, answer_cmp);
  return found;
}

static GArray *
proofs_read(int tmp_fd)
{
  GArray *found = g_array_new(FALSE, FALSE, sizeof(BfdJournalProof));
  size_t len = (size_t)VERDICT_SLOTS * PROOF_SLOT_LEN;
  g_autofree uint8_t *buf = g_malloc(len);
  int fd = bfd_store_open_file(tmp_fd, "proofs", O_RDONLY, 0);
  ssize_t n = fd >= 0 ? bf_pread_all(fd, buf, len, 0) : -1;

  if (fd >= 0)
    close(fd);
  for (guint i = 0; n > 0 && i < (guint)(n / PROOF_SLOT_LEN); i++) {
    const uint8_t *e = buf + (size_t)i * PROOF_SLOT_LEN;
    BfdJournalProof pr = { .id = bf_load_be64(e) };
    if (pr.id == 0 || pr.id % VERDICT_SLOTS != i ||
        bf_load_be32(e + 40) != bf_crc32c(e, 40))
      continue;
    memcpy(pr.proof, e + 8, BF_PROOF_LEN);
    g_array_append_val(found, pr);
  }
  return found;
}

static void
record_free(gpointer p)
{
  BfdItemRecord *r = p;

  if (r->rec_fd >= 0)
    close(r->rec_fd);
  g_free(r->name);
  if (r->chunks != NULL)
    g_array_unref(r->chunks);
  g_free(r->secret);
  g_free(r);
}

/* Reads and checks the record: the store is ours, but a torn or foreign
 * file must not become an item. */
static gboolean
read_rec(int fd, BfdItemRecord *r)
{
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX + 4], cb[CLOSE_LEN], coding[3];
  uint8_t base[12];
  ssize_t n = bf_pread_all(fd, buf, sizeof buf, OPEN_OFF);
  gboolean v1 = n >= 8 && memcmp(buf, REC_MAGIC_V1, 8) == 0;

  if (n < OPEN_FIXED || (memcmp(buf, REC_MAGIC, 8) != 0 && !v1))
    return FALSE;
  r->chunk_size = bf_load_be32(buf + 8);
  r->mode = bf_load_be32(buf + 12);
  r->mtime_sec = (int64_t)bf_load_be64(buf + 16);
  r->mtime_nsec = bf_load_be32(buf + 24);
  r->digest_alg = buf[28];
  size_t nlen = bf_load_be16(buf + 29);
  const uint8_t *name = buf + OPEN_FIXED;
  if (nlen > BF_NAME_MAX || (size_t)n < OPEN_FIXED + nlen + (v1 ? 0 : 4) ||
      (!v1 && bf_load_be32(name + nlen) != bf_crc32c(buf, OPEN_FIXED + nlen)) ||
      r->chunk_size < BF_CHUNK_MIN || r->chunk_size > BF_CHUNK_MAX ||
      !bf_digest_alg_known(r->digest_alg))
    return FALSE;
  r->coding = (BfCodingSpec){ BF_CODING_STRIPE, 1, 1 };
  if (bf_pread_all(fd, coding, sizeof coding, CODING_OFF) == sizeof coding &&
      coding[0] != BF_CODING_STRIPE) {
    r->coding = (BfCodingSpec){ coding[0], coding[1], coding[2] };
    if (!bf_coding_check(&r->coding, NULL))
      return FALSE;
  }
  /* An append's base, whole in the part file (copied before the record
   * was written); a torn or foreign one makes no item. */
  r->base_size = 0;
  if (bf_pread_all(fd, base, sizeof base, BASE_OFF) == sizeof base &&
      !sodium_is_zero(base, sizeof base)) {
    r->base_size = bf_load_be64(base);
    if (bf_load_be32(base + 8) != bf_crc32c(base, 8) || r->base_size == 0 ||
        r->coding.kind != BF_CODING_STRIPE)
      return FALSE;
  }
  /* no name: a SHAMIR item that keeps it in its secret (.sec) */
  if (nlen == 0 ? r->coding.kind != BF_CODING_SHAMIR
                : !bf_name_check(name, nlen, NULL))
    return FALSE;
  r->name = g_strndup((const char *)name, nlen);
  /* A torn ITEM_CLOSE record counts as none: the client sends it again. */
  if (bf_pread_all(fd, cb, sizeof cb, CLOSE_OFF) == sizeof cb && cb[0] == 1 &&
      (v1 || bf_load_be32(cb + 62) == bf_crc32c(cb, CLOSE_LEN - 4))) {
    r->closed = TRUE;
    r->close.item_id = r->id;
    r->close.total_chunks = bf_load_be32(cb + 1);
    r->close.size = bf_load_be64(cb + 5);
    r->close.digest_alg = cb[13];
    memcpy(r->close.digest, cb + 14, BF_DIGEST_LEN);
    r->close.mode = bf_load_be32(cb + 46);
    r->close.mtime_sec = (int64_t)bf_load_be64(cb + 50);
    r->close.mtime_nsec = bf_load_be32(cb + 58);
  }
  return TRUE;
}

/* The chunk map: the entries of the chunks on disk. */
static gboolean
read_map(int fd, GArray *chunks)
{
  uint8_t e[MAP_ENTRY * 512];
  uint64_t off = 0;
  ssize_t n;

  while ((n = bf_pread_all(fd, e, sizeof e, MAP_OFF + off)) > 0) {
    for (ssize_t i = 0; i + MAP_ENTRY <= n; i += MAP_ENTRY) {
      BfdJournalChunk c = { (uint32_t)((off + (uint64_t)i) / MAP_ENTRY),
                            bf_load_be32(e + i), bf_load_be32(e + i + 4) };
      if (c.len != 0)
        g_array_append_val(chunks, c);
    }
    off += (uint64_t)n;
    if ((size_t)n < sizeof e)
      break;
  }
  return n >= 0;
}

/* A SHAMIR item's secret as rebuilt before the end, or none. One that is
 * not whole is removed: its client, which did not see its k-th share
 * acknowledged, sends its shares again. */
static void
read_secret(int tmp_fd, BfdItemRecord *r)
{
  uint8_t head[SEC_HEAD], crc[4];
  char file[BFD_ITEM_FILE_LEN];
  g_autofree uint8_t *buf = g_malloc(BF_SECRET_MAX);
  size_t len = 0;
  int fd;

  bfd_journal_item_file(file, r->id, "sec");
  fd = bfd_store_open_file(tmp_fd, file, O_RDONLY, 0);
  if (fd >= 0 && bf_pread_all(fd, head, sizeof head, 0) == sizeof head &&
      memcmp(head, SEC_MAGIC, 8) == 0)
    len = bf_load_be16(head + 8);
  if (len > BF_SECRET_MAX || len == 0 ||
      bf_pread_all(fd, buf, len, sizeof head) != (ssize_t)len ||
      bf_pread_all(fd, crc, sizeof crc, sizeof head + len) != sizeof crc ||
      bf_load_be32(crc) != (bf_crc32c(buf, len) ^ bf_crc32c(head, sizeof head)))
    len = 0;
  if (fd >= 0)
    close(fd);
  if (len == 0) {
    unlinkat(tmp_fd, file, 0);
    return;
  }
  r->secret = g_steal_pointer(&buf);
  r->secret_len = len;
}

/* Reads item id's record: an item to rebuild (returned), a verdict (an
 * item stored just before the end: its .part is gone, renamed into data/
 * after its record was closed; the record is deleted first otherwise), or
 * nothing (its files are deleted). */
static BfdItemRecord *
read_item(int tmp_fd, uint64_t id, BfdJournalState *st)
{
  BfdItemRecord *r = g_new0(BfdItemRecord, 1);
  char file[BFD_ITEM_FILE_LEN];
  struct stat sb;

  r->id = id;
  bfd_journal_item_file(file, id, "rec");
  r->rec_fd = bfd_store_open_file(tmp_fd, file, O_RDWR, 0);
  r->chunks = g_array_new(FALSE, FALSE, sizeof(BfdJournalChunk));
  bfd_journal_item_file(file, id, "part");
  if (r->rec_fd >= 0 && read_rec(r->rec_fd, r)) {
    if (fstatat(tmp_fd, file, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(sb.st_mode)) {
      if (read_map(r->rec_fd, r->chunks)) {
        if (r->coding.kind == BF_CODING_SHAMIR)
          read_secret(tmp_fd, r);
        return r;
      }
    } else if (r->closed) {
      BfdJournalAnswer a = { id, BF_ACK_STORED, BF_ST_OK };
      g_array_append_val(st->verdicts, a);
    }
  }
  record_free(r);
  bfd_journal_item_forget(tmp_fd, id);
  return NULL;
}

static void
read_ops(int tmp_fd, BfdJournalState *st)
{
  g_autoptr(GArray) slots = slots_read(tmp_fd, "ops", OP_SLOTS);

  for (guint i = 0; i < slots->len; i++) {
    BfdJournalAnswer a = g_array_index(slots, BfdJournalAnswer, i);
    if (a.stage == OP_STARTED) {
      g_array_append_val(st->ops_started, a.id);
    } else if (a.stage == OP_DONE || a.stage == OP_DONE_ERRNO) {
      if (a.stage == OP_DONE_ERRNO)
        a.status = a.status ? bfd_status_from_errno(a.status) : BF_ST_OK;
      g_array_append_val(st->ops_done, a);
    }
  }
}

BfdJournalState *
bfd_journal_read(int tmp_fd)
{
  BfdJournalState *st = g_new0(BfdJournalState, 1);
  g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
  DIR *d = opendir_at(tmp_fd);
  struct dirent *de;
  uint8_t buf[8];
  int fd;

  st->verdicts = slots_read(tmp_fd, "verdicts", VERDICT_SLOTS);
  st->proofs = proofs_read(tmp_fd);
  st->ops_done = g_array_new(FALSE, FALSE, sizeof(BfdJournalAnswer));
  st->ops_started = g_array_new(FALSE, FALSE, sizeof(uint64_t));
  st->items = g_ptr_array_new_with_free_func(record_free);
  read_ops(tmp_fd, st);
  fd = bfd_store_open_file(tmp_fd, "max_id", O_RDONLY, 0);
  if (fd >= 0 && bf_pread_all(fd, buf, sizeof buf, 0) == sizeof buf)
    st->max_id = bf_load_be64(buf);
  if (fd >= 0)
    close(fd);
  if (d == NULL)
    return st;
  while ((de = readdir(d)) != NULL) {
    char *end;
    uint64_t id = g_ascii_strtoull(de->d_name, &end, 16);
    if (id != 0 && end - de->d_name == 16 && strcmp(end, ".rec") == 0)
      g_array_append_val(ids, id);
  }
  closedir(d);
  for (guint i = 0; i < ids->len; i++) {
    BfdItemRecord *r = read_item(tmp_fd, g_array_index(ids, uint64_t, i), st);
    if (r != NULL)
      g_ptr_array_add(st->items, r);
  }
  return st;
}

void
bfd_journal_state_free(BfdJournalState *st)
{
  if (st == NULL)
    return;
  g_array_unref(st->verdicts);
  g_array_unref(st->proofs);
  g_array_unref(st->ops_done);
  g_array_unref(st->ops_started);
  g_ptr_array_unref(st->items);
  g_free(st);
}

void
bfd_journal_remove_strays(int tmp_fd, GHashTable *kept)
{
  DIR *d = opendir_at(tmp_fd);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    char *end;
    uint64_t id = g_ascii_strtoull(de->d_name, &end, 16);
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
        strcmp(de->d_name, "max_id") == 0 ||
        strcmp(de->d_name, "verdicts") == 0 ||
        strcmp(de->d_name, "proofs") == 0 || strcmp(de->d_name, "ops") == 0)
      continue;
    if (end - de->d_name == 16 && g_hash_table_contains(kept, &id) &&
        (strcmp(end, ".part") == 0 || strcmp(end, ".rec") == 0 ||
         strcmp(end, ".sec") == 0))
      continue;
    unlinkat(tmp_fd, de->d_name, 0);
  }
  closedir(d);
}
