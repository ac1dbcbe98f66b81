/* Partial items, and the answers a client may still be waiting for, that
 * survive a restart of braidfsd.
 *
 * Next to an item's data (tmp/<id>.part) the server keeps one record in a
 * record file, tmp/rec.N, written with a few pwrites and reused in place
 * by the next item once this one ended, never renamed (small files pay
 * for every metadata operation):
 *   [0, 8192)      the item's id and ITEM_OPEN's fields and the name,
 *                  CRC32C, written before OPENED (a server before record
 *                  files, BFREC001/002, named the file tmp/<id>.rec and
 *                  kept no id in it: still read); for a coded item
 *                  (shamir, rs) coding, k, n at
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
 * A record file whose item ended is emptied (one ftruncate) and waits,
 * empty, for the next item to write its record there: no create, no
 * unlink, no rename per item (ext4 makes every create slower the more
 * inodes were freed recently, and items are many). Empty, it never reads
 * as a record; the journal takes the empty ones back when it opens.
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
#include "journal-int.h"

#include <errno.h>
#include <fcntl.h>
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
  /* Empty record files tmp/rec.N of items that ended, for new items to
   * write theirs in: a file system that must find a free inode among
   * many just freed (ext4 skips recently deleted ones, one by one) makes
   * each create slower the more files were deleted, and a rename costs a
   * directory update; so records are reused where they are. Its lock is
   * held across no I/O. */
  BfMutex slot_lock;
  GArray *free_slots;          /* FreeSlot: an empty tmp/rec.N */
  guint open_free;             /* those of them kept open */
  guint slot_next;             /* above every N in tmp/ at open */
};

/* A free record file, and its descriptor if kept open (at most
 * FREE_OPEN_MAX are: an item that takes one makes no open call). */
typedef struct {
  guint n;
  int fd;
} FreeSlot;

void
bfd_journal_item_file(char out[BFD_ITEM_FILE_LEN], uint64_t id,
                      const char *ext)
{
  g_snprintf(out, BFD_ITEM_FILE_LEN, "%016" G_GINT64_MODIFIER "x.%s", id, ext);
}

#define JOURNAL_LOG(j) (&(BfLogFields){ .session = (j)->session })

/* Empty record files kept per session: enough for the items that end
 * while others open, a few directory entries in tmp/. A few of them stay
 * open, enough for the items that end and open in turns: descriptors
 * the session holds while its journal is open, beside its rings. */
#define FREE_SLOTS_MAX 256
#define FREE_OPEN_MAX 4

void
bfd_journal_record_file(char out[BFD_ITEM_FILE_LEN], uint64_t id, guint slot)
{
  if (slot == BFD_REC_BY_ID)
    bfd_journal_item_file(out, id, "rec");
  else
    g_snprintf(out, BFD_ITEM_FILE_LEN, "rec.%u", slot);
}

/* N of a record file's name "rec.N" (N decimal, no leading zero), or
 * BFD_REC_BY_ID. */
guint
bfd_journal_slot_of(const char *name)
{
  guint64 n;

  if (!g_str_has_prefix(name, "rec.") ||
      !g_ascii_string_to_unsigned(name + 4, 10, 0, G_MAXUINT - 1, &n, NULL) ||
      (name[4] == '0' && name[5] != '\0'))
    return BFD_REC_BY_ID;
  return (guint)n;
}

static gboolean
is_slot(int dirfd, const char *name, gpointer data)
{
  (void)dirfd;
  (void)data;
  return bfd_journal_slot_of(name) != BFD_REC_BY_ID;
}

/* The record files already in tmp/: new ones are numbered above them;
 * the empty ones (their items ended) are free for new items, as many as
 * are kept, the others deleted. One that holds a record is the journal
 * reader's (bfd_journal_read). */
static void
find_slots(BfdJournal *j, int tmp_fd)
{
  g_autoptr(GPtrArray) names = NULL;
  struct stat sb;

  if (bf_dir_names(tmp_fd, is_slot, NULL, &names) < 0)
    return;    /* new files are made with O_EXCL: a clash takes the next N */
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    guint n = bfd_journal_slot_of(name);
    j->slot_next = MAX(j->slot_next, n + 1);
    if (fstatat(tmp_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(sb.st_mode) || sb.st_size != 0)
      continue;
    if (j->free_slots->len < FREE_SLOTS_MAX)
      g_array_append_val(j->free_slots, ((FreeSlot){ n, -1 }));
    else
      unlinkat(tmp_fd, name, 0);
  }
}

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
  bf_mutex_init(&j->slot_lock);
  j->free_slots = g_array_new(FALSE, FALSE, sizeof(FreeSlot));
  find_slots(j, tmp_fd);
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
  for (guint i = 0; i < j->free_slots->len; i++)
    if (g_array_index(j->free_slots, FreeSlot, i).fd >= 0)
      close(g_array_index(j->free_slots, FreeSlot, i).fd);
  bf_mutex_clear(&j->slot_lock);
  g_array_unref(j->free_slots);
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

/* Opens an empty record file for a new item: a free one (maybe open
 * already), else a new one. Its number in *slot; -1 (errno set) if none
 * could be made. */
static int
take_slot(BfdJournal *j, int tmp_fd, guint *slot)
{
  char file[BFD_ITEM_FILE_LEN];
  FreeSlot entry = { 0, -1 };
  gboolean got;
  int fd;

  do {
    bf_mutex_lock(&j->slot_lock);
    got = j->free_slots->len > 0;
    if (got) {
      entry = g_array_index(j->free_slots, FreeSlot, j->free_slots->len - 1);
      g_array_set_size(j->free_slots, j->free_slots->len - 1);
      if (entry.fd >= 0)
        j->open_free--;
    } else {
      entry = (FreeSlot){ j->slot_next++, -1 };
    }
    bf_mutex_unlock(&j->slot_lock);
    *slot = entry.n;
    if (entry.fd >= 0)
      return entry.fd;
    bfd_journal_record_file(file, 0, entry.n);
    /* A new one never replaces a file of its name (a record the listing
     * missed): that name is skipped. */
    fd = bfd_store_open_file(tmp_fd, file,
                             got ? O_RDWR : O_RDWR | O_CREAT | O_EXCL, 0600);
    /* a free one that is gone or replaced: the next (none is made empty
     * by anyone but us, so one that opens is empty) */
  } while (fd < 0 && (got || errno == EEXIST));
  return fd;
}

/* An ended item's record file, emptied, becomes free for the next item
 * (with its descriptor, taken from *rec_fd, if few are kept open);
 * deleted if enough are free or it cannot be emptied. */
static void
give_slot(BfdJournal *j, int tmp_fd, guint slot, int *rec_fd)
{
  char file[BFD_ITEM_FILE_LEN];
  FreeSlot entry = { slot, -1 };
  gboolean room;

  bf_mutex_lock(&j->slot_lock);
  room = j->free_slots->len < FREE_SLOTS_MAX;
  bf_mutex_unlock(&j->slot_lock);
  if (!room || ftruncate(*rec_fd, 0) < 0) {
    bfd_journal_record_file(file, 0, slot);
    unlinkat(tmp_fd, file, 0);
    return;
  }
  bf_mutex_lock(&j->slot_lock);
  if (j->open_free < FREE_OPEN_MAX) {
    entry.fd = *rec_fd;
    *rec_fd = -1;
    j->open_free++;
  }
  g_array_append_val(j->free_slots, entry);
  bf_mutex_unlock(&j->slot_lock);
}

int
bfd_journal_item_open(BfdJournal *j, int tmp_fd, uint64_t id,
                      const BfItemOpen *o, const char *name, guint *slot,
                      GError **error)
{
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX + 4];
  uint8_t coding[3] = { o->coding, o->coding_k, o->coding_n };
  uint8_t base[12];
  size_t nlen = strlen(name), len = OPEN_FIXED + nlen + 4;
  char file[BFD_ITEM_FILE_LEN];
  guint n;
  int fd;

  memcpy(buf, REC_MAGIC, 8);
  bf_store_be64(buf + OPEN_ID, id);
  bf_store_be32(buf + 16, o->chunk_size);
  bf_store_be32(buf + 20, o->mode);
  bf_store_be64(buf + 24, (uint64_t)o->mtime_sec);
  bf_store_be32(buf + 32, o->mtime_nsec);
  buf[36] = o->digest_alg;
  bf_store_be16(buf + 37, (uint16_t)nlen);
  memcpy(buf + OPEN_FIXED, name, nlen);
  bf_store_be32(buf + OPEN_FIXED + nlen, bf_crc32c(buf, OPEN_FIXED + nlen));
  /* what the part file starts with: nothing kept is no base */
  bf_store_be64(base, bf_item_open_kept(o));
  bf_store_be32(base + 8, bf_crc32c(base, 8));
  bfd_crash_at(BFD_CRASH_PART_CREATED);
  fd = take_slot(j, tmp_fd, &n);
  bfd_journal_record_file(file, id, n);
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
    /* whatever it holds must not read as a record */
    unlinkat(tmp_fd, file, 0);
    close(fd);
    return -1;
  }
  *slot = n;
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
bfd_journal_item_done(BfdJournal *j, int tmp_fd, uint64_t id, int *rec_fd,
                      guint *slot, gboolean data, gboolean secret)
{
  char file[BFD_ITEM_FILE_LEN];

  if (*rec_fd >= 0 && *slot != BFD_REC_BY_ID) {
    give_slot(j, tmp_fd, *slot, rec_fd);
  } else {
    bfd_journal_record_file(file, id, *slot);
    unlinkat(tmp_fd, file, 0);
  }
  /* the record file is the next item's now: this one lets go of it */
  if (*rec_fd >= 0)
    close(*rec_fd);
  *rec_fd = -1;
  *slot = BFD_REC_BY_ID;
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
bfd_journal_item_forget(int tmp_fd, uint64_t id, guint slot)
{
  char file[BFD_ITEM_FILE_LEN];

  bfd_journal_record_file(file, id, slot);
  unlinkat(tmp_fd, file, 0);
  for (const char **ext = (const char *[]){ "part", "sec", NULL };
       *ext != NULL; ext++) {
    bfd_journal_item_file(file, id, *ext);
    unlinkat(tmp_fd, file, 0);
  }
}
