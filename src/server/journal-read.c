/* A session's journal read back at start-up (journal.h): the rings, the
 * item records and what belongs to no item. The files' layout is at the
 * top of journal.c. */
#include "journal.h"
#include "journal-int.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/bytes.h"
#include "braidfs/io.h"
#include "status.h"
#include "store.h"

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

/* Start-up must tell what is not in the journal from what it could not
 * read: a file it could not read is never taken for a torn one (and
 * deleted); the whole read fails instead, naming it (journal.h). */
static gboolean
unreadable(GError **error, int err, const char *what)
{
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
              "cannot read tmp/%s: %s", what, g_strerror(err));
  return FALSE;
}

/* Up to len bytes of tmp/name into buf (*n: how many; 0 if it does not
 * exist). */
static gboolean
read_whole(int tmp_fd, const char *name, uint8_t *buf, size_t len,
           ssize_t *n, GError **error)
{
  int fd = bfd_store_open_file(tmp_fd, name, O_RDONLY, 0);

  *n = 0;
  if (fd < 0)
    return bfd_store_not_ours(errno) || unreadable(error, errno, name);
  *n = bf_pread_all(fd, buf, len, 0);
  close(fd);
  return *n >= 0 || unreadable(error, (int)-*n, name);
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
slots_read(int tmp_fd, const char *name, unsigned slots, GError **error)
{
  g_autoptr(GArray) found = g_array_new(FALSE, FALSE,
                                        sizeof(BfdJournalAnswer));
  g_autofree uint8_t *buf = g_malloc((size_t)slots * SLOT_LEN);
  ssize_t n;

  if (!read_whole(tmp_fd, name, buf, (size_t)slots * SLOT_LEN, &n, error))
    return NULL;
  for (guint i = 0; n > 0 && i < (guint)(n / SLOT_LEN); i++) {
    const uint8_t *e = buf + (size_t)i * SLOT_LEN;
    BfdJournalAnswer a = { bf_load_be64(e), e[8], e[9] };
    if (a.id != 0 && a.id % slots == i &&
        bf_load_be32(e + 12) == bf_crc32c(e, 12))
      g_array_append_val(found, a);
  }
  g_array_sort(found, answer_cmp);
  return g_steal_pointer(&found);
}

static GArray *
proofs_read(int tmp_fd, GError **error)
{
  g_autoptr(GArray) found = g_array_new(FALSE, FALSE,
                                        sizeof(BfdJournalProof));
  size_t len = (size_t)VERDICT_SLOTS * PROOF_SLOT_LEN;
  g_autofree uint8_t *buf = g_malloc(len);
  ssize_t n;

  if (!read_whole(tmp_fd, "proofs", buf, len, &n, error))
    return NULL;
  for (guint i = 0; n > 0 && i < (guint)(n / PROOF_SLOT_LEN); i++) {
    const uint8_t *e = buf + (size_t)i * PROOF_SLOT_LEN;
    BfdJournalProof pr = { .id = bf_load_be64(e) };
    if (pr.id == 0 || pr.id % VERDICT_SLOTS != i ||
        bf_load_be32(e + 40) != bf_crc32c(e, 40))
      continue;
    memcpy(pr.proof, e + 8, BF_PROOF_LEN);
    g_array_append_val(found, pr);
  }
  return g_steal_pointer(&found);
}

static void
record_free(gpointer p)
{
  BfdItemRecord *r = p;

  if (r == NULL)
    return;
  if (r->rec_fd >= 0)
    close(r->rec_fd);
  g_free(r->name);
  if (r->chunks != NULL)
    g_array_unref(r->chunks);
  g_free(r->secret);
  g_free(r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdItemRecord, record_free)

/* Reads and checks the record (r->id is the id of its name, 0 for a
 * record file, whose record holds it): the store is ours, but a torn or
 * foreign file must not become an item. *err: the errno if it could not
 * be read at all (then it is no verdict on the file). */
static gboolean
read_rec(int fd, BfdItemRecord *r, int *err)
{
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX + 4], cb[CLOSE_LEN], coding[3];
  uint8_t base[12];
  ssize_t n = bf_pread_all(fd, buf, sizeof buf, OPEN_OFF);
  gboolean v1 = n >= 8 && memcmp(buf, REC_MAGIC_V1, 8) == 0;
  gboolean v3 = n >= 8 && memcmp(buf, REC_MAGIC, 8) == 0;
  /* the fields as v1/v2 place them */
  const uint8_t *f = buf + (v3 ? OPEN_ID : 0);
  size_t fixed = v3 ? OPEN_FIXED : OPEN_FIXED - 8;

  *err = n < 0 ? (int)-n : 0;

  /* a record file holds v3 records only; a v3 record in tmp/<id>.rec
   * must name that id */
  if (n < (ssize_t)fixed ||
      (!v3 && (r->id == 0 || (!v1 && memcmp(buf, REC_MAGIC_V2, 8) != 0))) ||
      (v3 && (bf_load_be64(buf + OPEN_ID) == 0 ||
              (r->id != 0 && bf_load_be64(buf + OPEN_ID) != r->id))))
    return FALSE;
  if (v3)
    r->id = bf_load_be64(buf + OPEN_ID);
  r->chunk_size = bf_load_be32(f + 8);
  r->mode = bf_load_be32(f + 12);
  r->mtime_sec = (int64_t)bf_load_be64(f + 16);
  r->mtime_nsec = bf_load_be32(f + 24);
  r->digest_alg = f[28];
  size_t nlen = bf_load_be16(f + 29);
  const uint8_t *name = buf + fixed;
  if (nlen > BF_NAME_MAX || (size_t)n < fixed + nlen + (v1 ? 0 : 4) ||
      (!v1 && bf_load_be32(name + nlen) != bf_crc32c(buf, fixed + nlen)) ||
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

/* The chunk map: the entries of the chunks on disk. 0, or the errno of
 * a failed read. */
static int
read_map(int fd, GArray *chunks)
{
  uint8_t e[MAP_ENTRY * 512];
  uint64_t off = 0;
  ssize_t n = 0;

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
  return n < 0 ? (int)-n : 0;
}

/* A SHAMIR item's secret as rebuilt before the end, or none. One that is
 * not whole is removed: its client, which did not see its k-th share
 * acknowledged, sends its shares again. One that cannot be read fails. */
static gboolean
read_secret(int tmp_fd, BfdItemRecord *r, GError **error)
{
  uint8_t head[SEC_HEAD], crc[4];
  char file[BFD_ITEM_FILE_LEN];
  g_autofree uint8_t *buf = g_malloc(BF_SECRET_MAX);
  size_t len = 0;
  gboolean whole = FALSE;
  ssize_t n = 0;
  int fd;

  bfd_journal_item_file(file, r->id, "sec");
  fd = bfd_store_open_file(tmp_fd, file, O_RDONLY, 0);
  if (fd < 0 && !bfd_store_not_ours(errno))
    return unreadable(error, errno, file);
  if (fd >= 0 && (n = bf_pread_all(fd, head, sizeof head, 0)) == sizeof head &&
      memcmp(head, SEC_MAGIC, 8) == 0)
    len = bf_load_be16(head + 8);
  if (len > 0 && len <= BF_SECRET_MAX &&
      (n = bf_pread_all(fd, buf, len, sizeof head)) == (ssize_t)len &&
      (n = bf_pread_all(fd, crc, sizeof crc, sizeof head + len)) == sizeof crc)
    whole = bf_load_be32(crc) ==
            (bf_crc32c(buf, len) ^ bf_crc32c(head, sizeof head));
  if (fd >= 0)
    close(fd);
  if (fd >= 0 && n < 0)
    return unreadable(error, (int)-n, file);
  if (!whole) {
    unlinkat(tmp_fd, file, 0);
    return TRUE;
  }
  r->secret = g_steal_pointer(&buf);
  r->secret_len = len;
  return TRUE;
}

/* Reads the record in tmp/file (slot: its number, or BFD_REC_BY_ID for
 * tmp/<id>.rec): an item to rebuild (*out), a verdict (an item stored
 * just before the end: its .part is gone, renamed into data/ after its
 * record was closed; the record is emptied first otherwise), or nothing
 * (its files are deleted; an empty record file stays free). FALSE if a
 * file of it could not be read: then nothing of it is deleted. */
static gboolean
read_item(int tmp_fd, const char *file, uint64_t id, guint slot,
          BfdJournalState *st, GHashTable *seen, BfdItemRecord **out,
          GError **error)
{
  g_autoptr(BfdItemRecord) r = g_new0(BfdItemRecord, 1);
  char part[BFD_ITEM_FILE_LEN];
  struct stat sb;
  int err;

  *out = NULL;
  r->id = id;
  r->slot = slot;
  r->rec_fd = bfd_store_open_file(tmp_fd, file, O_RDWR, 0);
  r->chunks = g_array_new(FALSE, FALSE, sizeof(BfdJournalChunk));
  if (r->rec_fd < 0 && !bfd_store_not_ours(errno))
    return unreadable(error, errno, file);
  if (r->rec_fd >= 0 && fstat(r->rec_fd, &sb) < 0)
    return unreadable(error, errno, file);
  if (r->rec_fd >= 0 && slot != BFD_REC_BY_ID && sb.st_size == 0)
    return TRUE;
  /* Two records of one id (none is written so): the first one counts; the
   * other goes alone. */
  err = 0;
  gboolean first = r->rec_fd >= 0 && read_rec(r->rec_fd, r, &err) &&
                   g_hash_table_add(seen, g_memdup2(&r->id, sizeof r->id));

  if (err != 0)
    return unreadable(error, err, file);
  if (first) {
    bfd_journal_item_file(part, r->id, "part");
    if (fstatat(tmp_fd, part, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISREG(sb.st_mode)) {
        if ((err = read_map(r->rec_fd, r->chunks)) != 0)
          return unreadable(error, err, file);
        if (r->coding.kind == BF_CODING_SHAMIR &&
            !read_secret(tmp_fd, r, error))
          return FALSE;
        *out = g_steal_pointer(&r);
        return TRUE;
      }
    } else if (errno != ENOENT) {
      return unreadable(error, errno, part);
    }
    if (r->closed) {
      BfdJournalAnswer a = { r->id, BF_ACK_STORED, BF_ST_OK };
      g_array_append_val(st->verdicts, a);
    }
    id = r->id;
  }
  /* A tmp/<id>.rec names its item even if it does not read (and is read
   * before any record file: names sort digits first). */
  if (first || slot == BFD_REC_BY_ID)
    bfd_journal_item_forget(tmp_fd, id, slot);
  else
    unlinkat(tmp_fd, file, 0);
  return TRUE;
}

static gboolean
read_ops(int tmp_fd, BfdJournalState *st, GError **error)
{
  g_autoptr(GArray) slots = slots_read(tmp_fd, "ops", OP_SLOTS, error);

  for (guint i = 0; slots != NULL && i < slots->len; i++) {
    BfdJournalAnswer a = g_array_index(slots, BfdJournalAnswer, i);
    if (a.stage == OP_STARTED) {
      g_array_append_val(st->ops_started, a.id);
    } else if (a.stage == OP_DONE || a.stage == OP_DONE_ERRNO) {
      if (a.stage == OP_DONE_ERRNO)
        a.status = a.status ? bfd_status_from_errno(a.status) : BF_ST_OK;
      g_array_append_val(st->ops_done, a);
    }
  }
  return slots != NULL;
}

BfdJournalState *
bfd_journal_read(int tmp_fd, GError **error)
{
  g_autoptr(BfdJournalState) st = g_new0(BfdJournalState, 1);
  g_autoptr(GPtrArray) names = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_int64_hash,
                                                     g_int64_equal, g_free,
                                                     NULL);
  uint8_t buf[8];
  ssize_t n;
  int rc;

  st->ops_done = g_array_new(FALSE, FALSE, sizeof(BfdJournalAnswer));
  st->ops_started = g_array_new(FALSE, FALSE, sizeof(uint64_t));
  st->items = g_ptr_array_new_with_free_func(record_free);
  if ((st->verdicts = slots_read(tmp_fd, "verdicts", VERDICT_SLOTS,
                                 error)) == NULL ||
      (st->proofs = proofs_read(tmp_fd, error)) == NULL ||
      !read_ops(tmp_fd, st, error) ||
      !read_whole(tmp_fd, "max_id", buf, sizeof buf, &n, error))
    return NULL;
  if (n == sizeof buf)
    st->max_id = bf_load_be64(buf);
  if ((rc = bf_dir_names(tmp_fd, NULL, NULL, &names)) < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
                "cannot list tmp/: %s", g_strerror(-rc));
    return NULL;
  }
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    guint slot = bfd_journal_slot_of(name);
    char *end;
    uint64_t id = g_ascii_strtoull(name, &end, 16);
    BfdItemRecord *r = NULL;
    gboolean ok = TRUE;
    if (slot != BFD_REC_BY_ID)
      ok = read_item(tmp_fd, name, 0, slot, st, seen, &r, error);
    else if (id != 0 && end - name == 16 && strcmp(end, ".rec") == 0)
      ok = read_item(tmp_fd, name, id, BFD_REC_BY_ID, st, seen, &r, error);
    if (!ok)
      return NULL;
    if (r != NULL)
      g_ptr_array_add(st->items, r);
  }
  return g_steal_pointer(&st);
}

void
bfd_journal_state_free(BfdJournalState *st)
{
  if (st == NULL)
    return;
  if (st->verdicts != NULL)
    g_array_unref(st->verdicts);
  if (st->proofs != NULL)
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
  struct stat sb;

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
    /* a kept item's record, or an empty one the journal took as free: an
     * unkept one was deleted when it was read */
    if (bfd_journal_slot_of(de->d_name) != BFD_REC_BY_ID &&
        fstatat(tmp_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(sb.st_mode))
      continue;
    unlinkat(tmp_fd, de->d_name, 0);
  }
  closedir(d);
}
