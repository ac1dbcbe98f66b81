/* One item's state (item.h): made from its ITEM_OPEN or from its record
 * in the journal, fed its digest, given its secret. */
#include "item.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/io.h"
#include "braidfs/proof.h"
#include "braidfs/text.h"
#include "crash.h"
#include "path.h"
#include "status.h"
#include "store.h"

static BfdItem *
item_alloc(uint64_t id, const uint8_t *name, size_t name_len,
           uint32_t chunk_size, uint64_t max_size, const BfCodingSpec *coding,
           uint8_t digest_alg, BfdShareBudget *budget)
{
  BfdItem *it = g_new0(BfdItem, 1);

  it->refs = 1;
  it->id = id;
  it->fd = it->map_fd = -1;
  it->rec_slot = BFD_REC_BY_ID;
  bf_mutex_init(&it->lock);
  it->name_hidden = name_len == 0;
  if (name_len > 0) {
    it->name = g_strndup((const char *)name, name_len);
    it->label = bf_text_show(it->name, strlen(it->name), G_MAXSIZE);
  } else {
    it->label = g_strdup_printf("item %" G_GUINT64_FORMAT, id);
  }
  bfd_journal_item_file(it->tmpname, id, "part");
  it->asm_ = bf_assembler_new(chunk_size, max_size);
  it->coding = *coding;
  if (coding->kind != BF_CODING_STRIPE)
    it->shares = bfd_shares_new(coding, budget);
  it->digest = bf_digest_new(digest_alg);
  return it;
}

BfdItem *
bfd_item_new(const BfItemOpen *o, uint64_t max_size, BfdShareBudget *budget)
{
  BfCodingSpec coding = { o->coding, o->coding_k, o->coding_n };
  /* The caller refused a base of max_size bytes or more. */
  uint64_t base = bf_item_open_kept(o);
  BfdItem *it = item_alloc(o->item_id, o->name.data, o->name.len,
                           o->chunk_size, max_size - base, &coding,
                           o->digest_alg, budget);

  it->mode = o->mode;
  it->mtime_sec = o->mtime_sec;
  it->mtime_nsec = o->mtime_nsec;
  it->base_size = base;
  return it;
}

uint64_t
bfd_item_size(BfdItem *it)
{
  return it->base_size + bf_assembler_size(it->asm_);
}

BfdItem *
bfd_item_ref(BfdItem *it)
{
  g_atomic_int_inc(&it->refs);
  return it;
}

void
bfd_item_unref(BfdItem *it)
{
  if (it == NULL || !g_atomic_int_dec_and_test(&it->refs))
    return;
  if (it->fd >= 0)
    close(it->fd);
  if (it->map_fd >= 0)
    close(it->map_fd);
  if (it->live != NULL)
    g_atomic_int_add(it->live, -1);
  bfd_item_held_free(it->held);
  if (it->open_reply != NULL)
    bfd_path_unref(it->open_reply);
  bf_assembler_free(it->asm_);
  bfd_shares_free(it->shares);
  bf_digest_free(it->digest);
  sodium_memzero(it->key, sizeof it->key);
  bf_mutex_clear(&it->lock);
  g_free(it->name);
  g_free(it->label);
  g_free(it);
}

void
bfd_item_proof(BfdItem *it, const BfKey *key,
               const uint8_t session_id[BF_ID_LEN], uint64_t size,
               uint8_t out[BF_PROOF_LEN])
{
  bf_mutex_lock(&it->lock);
  bf_stored_proof(out, key, it->secret_done ? it->key : NULL, session_id,
                  it->id, size, it->want_alg, it->want);
  bf_mutex_unlock(&it->lock);
}

#define BASE_STEP (1024u * 1024)

/* Feeds the digest with bytes [from, to) of the part file: a restored
 * append's base, which the record says was copied whole. */
static gboolean
hash_part(BfdItem *it, uint64_t from, uint64_t to, GError **error)
{
  g_autofree uint8_t *buf = g_malloc(BASE_STEP);

  while (from < to) {
    size_t len = (size_t)MIN((uint64_t)BASE_STEP, to - from);
    ssize_t n = bf_pread_all(it->fd, buf, len, from);
    if (n < 0) {
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno((int)-n),
                  "cannot read tmp/%s: %s", it->tmpname, g_strerror((int)-n));
      return FALSE;
    }
    if (n != (ssize_t)len)
      return bfd_set_error_errno(error, EIO, "reading its base back");
    bf_digest_update(it->digest, buf, len);
    from += len;
  }
  return TRUE;
}

/* Reads the stored file it->name (stored bytes), hashing it all, and
 * copies its first it->base_size bytes (those kept) into the part file:
 * the stored file must be what the client says (STALE otherwise), and
 * the digest of the bytes kept then goes on with the chunks. */
gboolean
bfd_item_copy_base(BfdItem *it, int data_fd, uint64_t stored,
                   const uint8_t want[BF_DIGEST_LEN], BfDigest **out,
                   GError **error)
{
  g_autofree uint8_t *buf = g_malloc(BASE_STEP);
  g_autoptr(BfDigest) whole = bf_digest_new(bf_digest_alg(it->digest));
  g_autoptr(BfDigest) kept = NULL;
  uint8_t got[BF_DIGEST_LEN];
  uint64_t off = 0;
  struct stat st;
  int fd = bfd_store_openat(data_fd, it->name, O_RDONLY | O_NONBLOCK);

  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size != stored) {
    if (fd >= 0)
      close(fd);
    g_set_error(error, BFD_ERROR, BF_ST_STALE, "%s: the stored file is not "
                "the %" G_GUINT64_FORMAT "-byte version the client started "
                "from (it changed or is gone): send the whole file", it->label,
                stored);
    return FALSE;
  }
  bfd_hold_base_copy();
  while (off < stored) {
    /* steps end at the cut, where the kept bytes' digest is taken */
    uint64_t end = off < it->base_size ? it->base_size : stored;
    size_t len = (size_t)MIN((uint64_t)BASE_STEP, end - off);
    ssize_t n = bf_pread_all(fd, buf, len, off);
    int rc = n == (ssize_t)len && off < it->base_size
               ? bf_pwrite_all(it->fd, buf, len, off) : 0;
    if (n != (ssize_t)len || rc < 0) {
      close(fd);
      if (n == (ssize_t)len)
        return bfd_set_error_errno(error, -rc, "cannot copy the stored %s",
                                   it->label);
      if (n >= 0)
        g_set_error(error, BFD_ERROR, BF_ST_STALE, "%s: the stored file "
                    "shrank while it was copied: send the whole file",
                    it->label);
      else
        bfd_set_error_errno(error, (int)-n, "cannot read the stored %s",
                            it->label);
      return FALSE;
    }
    bf_digest_update(whole, buf, len);
    off += len;
    if (off == it->base_size)
      kept = bf_digest_copy(whole);
    bfd_crash_at(BFD_CRASH_BASE_COPY);
  }
  close(fd);
  if (kept == NULL)         /* nothing kept */
    kept = bf_digest_new(bf_digest_alg(it->digest));
  bf_digest_final(whole, got);
  if (sodium_memcmp(got, want, sizeof got) != 0) {
    g_set_error(error, BFD_ERROR, BF_ST_STALE, "%s: the stored file is not "
                "the version the client started from (its digest differs): "
                "send the whole file", it->label);
    return FALSE;
  }
  *out = g_steal_pointer(&kept);
  return TRUE;
}

gboolean
bfd_item_create_files(BfdItem *it, BfdJournal *j, int tmp_fd,
                      const BfItemOpen *o, BfdPath *reply, GError **error)
{
  it->fd = bfd_store_create_file(tmp_fd, it->tmpname, O_RDWR);
  if (it->fd < 0)
    return bfd_set_error_errno(error, errno, "cannot create %s", it->label);
  if (o->has_base) {
    it->copying = TRUE;
    it->held = g_array_new(FALSE, FALSE, sizeof(BfdHeldChunk));
    it->open_reply = bfd_path_ref(reply);
    return TRUE;
  }
  it->map_fd = bfd_journal_item_open(j, tmp_fd, it->id, o,
                                     it->name != NULL ? it->name : "",
                                     &it->rec_slot, error);
  if (it->map_fd < 0) {
    g_prefix_error(error, "cannot create %s: ", it->label);
    return FALSE;
  }
  return TRUE;
}

void
bfd_item_hold_chunk_locked(BfdItem *it, BfdPath *p, const BfChunk *c)
{
  BfdHeldChunk h = { bfd_path_ref(p), *c };

  h.c.payload = NULL;
  g_array_append_val(it->held, h);
}

void
bfd_item_held_free(GArray *held)
{
  for (guint i = 0; held != NULL && i < held->len; i++) {
    BfdHeldChunk *h = &g_array_index(held, BfdHeldChunk, i);
    bfd_path_chunk_ack(h->path, &h->c);
    bfd_path_unref(h->path);
  }
  if (held != NULL)
    g_array_unref(held);
}

gboolean
bfd_item_base_copied_locked(BfdItem *it, BfdJournal *j, int tmp_fd,
                            const BfItemOpen *o, BfDigest *base,
                            GArray **held, GError **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_new();

  bf_digest_free(it->digest);
  it->digest = base;
  it->copying = FALSE;
  *held = g_steal_pointer(&it->held);
  it->map_fd = bfd_journal_item_open(j, tmp_fd, it->id, o, it->name,
                                     &it->rec_slot, error);
  if (it->map_fd < 0) {
    g_prefix_error(error, "cannot create %s: ", it->label);
    return FALSE;
  }
  /* A chunk resent meanwhile is held twice: its entry is written twice,
   * at its one place in the record. */
  for (guint i = 0; i < (*held)->len; i++) {
    const BfChunk *c = &g_array_index(*held, BfdHeldChunk, i).c;
    if (!bfd_journal_item_chunk(it->map_fd, c->chunk_id, c->payload_len,
                                c->total_chunks, error))
      return FALSE;
  }
  if (it->close_held && !bfd_journal_item_close(it->map_fd, &it->held_close,
                                                error))
    return FALSE;
  return bfd_item_hash_forward_locked(it, 0, NULL, buf, NULL, error);
}

gboolean
bfd_item_ready_locked(BfdItem *it)
{
  return !it->copying && bf_assembler_complete(it->asm_) &&
         (it->coding.kind != BF_CODING_SHAMIR || it->secret_done);
}

gboolean
bfd_item_hash_forward_locked(BfdItem *it, uint32_t just, const uint8_t *data,
                             GByteArray *buf, BfFlusher *flusher,
                             GError **error)
{
  uint32_t cs = bf_assembler_chunk_size(it->asm_);

  while (bf_assembler_has(it->asm_, it->hashed)) {
    uint32_t len = bf_assembler_chunk_len(it->asm_, it->hashed);
    const uint8_t *bytes = data;
    if (data == NULL || it->hashed != just) {
      ssize_t n;
      if (buf->len < len)
        g_byte_array_set_size(buf, len);
      n = bf_pread_all(it->fd, buf->data, len,
                       it->base_size + (uint64_t)it->hashed * cs);
      if (n != (ssize_t)len)
        return bfd_set_error_errno(error, n < 0 ? (int)-n : EIO,
                                   "reading it back");
      bytes = buf->data;
    }
    bf_digest_update(it->digest, bytes, len);
    it->hashed++;
  }
  int rc = bfd_store_writeback(&it->wb, it->fd, (uint64_t)it->hashed * cs,
                               flusher);
  if (rc < 0)
    return bfd_set_error_errno(error, -rc, "writing it to the disk");
  return TRUE;
}

gboolean
bfd_item_take_secret_locked(BfdItem *it, const BfdLimits *l,
                            const uint8_t *secret, size_t len, GError **error)
{
  g_autoptr(GError) why = NULL;
  g_autofree char *over = NULL;
  BfSecret sec;

  if (!bf_secret_decode(secret, len, &sec, &why)) {
    /* The frames were sound: a bad name in the secret fails the item,
     * with an answer that does not quote it. */
    if (!g_error_matches(why, BF_WIRE_ERROR, BF_WIRE_ERROR_NAME)) {
      g_set_error_literal(error, BFD_ERROR, BF_ST_PROTOCOL, why->message);
      return FALSE;
    }
    g_warning("%s: the name in its secret is refused: %s", it->label,
              why->message);
    g_set_error_literal(error, BFD_ERROR, BF_ST_BAD_NAME,
                        "the name in its secret breaks the rules of names "
                        "(braidfs-protocol(7), NAMES)");
    return FALSE;
  }
  if ((sec.name.len > 0) != it->name_hidden) {
    g_set_error(error, BFD_ERROR, BF_ST_PROTOCOL, "secret %s a name, "
                "ITEM_OPEN %s", sec.name.len ? "with" : "without",
                it->name_hidden ? "had none" : "had one");
    return FALSE;
  }
  if (sec.name.len > 0 &&
      !bfd_limits_name_ok(l, sec.name.data, sec.name.len, &over)) {
    g_set_error_literal(error, BFD_ERROR, BF_ST_BAD_NAME, over);
    return FALSE;
  }
  memcpy(it->want, sec.digest, sizeof it->want);
  memcpy(it->key, sec.key, sizeof it->key);
  if (sec.name.len > 0)
    it->name = g_strndup((const char *)sec.name.data, sec.name.len);
  it->secret_done = TRUE;
  return TRUE;
}

/* Replays the record's chunk map into the assembler. */
static gboolean
replay_map(BfdItem *it, const GArray *chunks)
{
  for (guint i = 0; i < chunks->len; i++) {
    const BfdJournalChunk *c = &g_array_index(chunks, BfdJournalChunk, i);
    uint64_t at;
    gboolean dup;
    if (!bf_assembler_check(it->asm_, c->chunk_id, c->total, c->len, &at, &dup,
                            NULL))
      return FALSE;
    if (!dup)
      bf_assembler_mark(it->asm_, c->chunk_id, c->len);
  }
  return TRUE;
}

/* The item as its record and data say; called while nobody else can see
 * it. */
static gboolean
restore_locked(BfdItem *it, BfdItemRecord *rec, int tmp_fd, const BfdLimits *l,
               GError **error) BF_REQUIRES(&it->lock);

static gboolean
restore_locked(BfdItem *it, BfdItemRecord *rec, int tmp_fd, const BfdLimits *l,
               GError **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_new();
  g_autoptr(GError) why = NULL;

  it->mode = rec->mode;
  it->mtime_sec = rec->mtime_sec;
  it->mtime_nsec = rec->mtime_nsec;
  it->fd = bfd_store_open_file(tmp_fd, it->tmpname, O_RDWR, 0);
  if (it->fd < 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "cannot open tmp/%s: %s", it->tmpname, g_strerror(err));
    return FALSE;
  }
  if (!replay_map(it, rec->chunks)) {
    g_set_error(error, BFD_ERROR, BF_ST_IO, "its chunk map does not fit it");
    return FALSE;
  }
  if (rec->closed) {
    if (rec->close.digest_alg != rec->digest_alg ||
        rec->close.size < it->base_size ||
        !bf_assembler_close(it->asm_, rec->close.total_chunks,
                            rec->close.size - it->base_size, NULL)) {
      g_set_error(error, BFD_ERROR, BF_ST_IO, "its ITEM_CLOSE does not fit it");
      return FALSE;
    }
    memcpy(it->want, rec->close.digest, sizeof it->want);
    it->want_alg = rec->close.digest_alg;
    it->mode = rec->close.mode;
    it->mtime_sec = rec->close.mtime_sec;
    it->mtime_nsec = rec->close.mtime_nsec;
  }
  if (!hash_part(it, 0, it->base_size, error) ||
      !bfd_item_hash_forward_locked(it, 0, NULL, buf, NULL, error))
    return FALSE;
  if (rec->secret != NULL &&
      !bfd_item_take_secret_locked(it, l, rec->secret, rec->secret_len, &why)) {
    g_set_error(error, BFD_ERROR, BF_ST_IO, "the recorded secret of %s does "
                "not fit it: %s", it->label, why->message);
    return FALSE;
  }
  return TRUE;
}

BfdItem *
bfd_item_restore(BfdItemRecord *rec, int tmp_fd, const BfdLimits *l,
                 BfdShareBudget *budget, GError **error)
{
  BfdItem *it;
  gboolean ok;

  if (rec->base_size >= l->max_item_size) {
    g_set_error(error, BFD_ERROR, BF_ST_IO, "its base is over max_item_size");
    return NULL;
  }
  it = item_alloc(rec->id, (const uint8_t *)rec->name, strlen(rec->name),
                  rec->chunk_size, l->max_item_size - rec->base_size,
                  &rec->coding, rec->digest_alg, budget);
  it->base_size = rec->base_size;

  it->map_fd = rec->rec_fd;
  it->rec_slot = rec->slot;
  rec->rec_fd = -1;
  bf_mutex_lock(&it->lock);
  ok = restore_locked(it, rec, tmp_fd, l, error);
  bf_mutex_unlock(&it->lock);
  if (!ok)
    g_clear_pointer(&it, bfd_item_unref);
  return it;
}
