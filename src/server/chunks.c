/* CHUNK frames (chunks.h). Each is checked against its item (CRC-32C, the
 * assembler's geometry, a resend must bring the same bytes), written at
 * its place in tmp/<id>.part, recorded in the item's record, fed to the
 * digest, and acknowledged; the chunk that completes an item hands it to
 * the committer (items.h). All under the item's lock, which only this
 * item's frames take. */
#include "chunks.h"

#include "braidfs/io.h"
#include "crash.h"
#include "items.h"
#include "session.h"
#include "status.h"

/* Writes a new chunk (checked against the item) at off, records it for a
 * restart and feeds the digest. An I/O error fails the item (*failure). */
static void
store_chunk_locked(BfdPath *p, BfdItem *it, const BfChunk *c,
                   const uint8_t *data, uint32_t len, uint64_t off,
                   GError **failure) BF_REQUIRES(&it->lock);

static void
store_chunk_locked(BfdPath *p, BfdItem *it, const BfChunk *c,
                   const uint8_t *data, uint32_t len, uint64_t off,
                   GError **failure)
{
  g_autoptr(GError) error = NULL;
  int rc = bf_pwrite_all(it->fd, data, len, off);

  if (rc < 0) {
    it->finished = TRUE;
    bfd_set_error_errno(failure, -rc, "cannot write %s", it->label);
    return;
  }
  /* An append whose base is being copied has no record to note the chunk
   * in, nor a digest to feed yet: the chunk waits, unanswered (item.h). */
  if (it->copying) {
    bf_assembler_mark(it->asm_, c->chunk_id, len);
    bfd_item_hold_chunk_locked(it, p, c);
    return;
  }
  if (!bfd_journal_item_chunk(it->map_fd, c->chunk_id, len, c->total_chunks,
                              &error) ||
      (bf_assembler_mark(it->asm_, c->chunk_id, len),
       !bfd_item_hash_forward_locked(it, c->chunk_id, data, p->scratch,
                                     p->srv->flusher, &error))) {
    it->finished = TRUE;
    g_set_error(failure, BFD_ERROR, error->code, "cannot write %s: %s",
                it->label, error->message);
  }
}

/* A CHUNK of a stripe item: the chunk itself. */
static gboolean
on_plain_locked(BfdPath *p, BfdItem *it, const BfChunk *c, GError **failure)
  BF_REQUIRES(&it->lock);

static gboolean
on_plain_locked(BfdPath *p, BfdItem *it, const BfChunk *c, GError **failure)
{
  g_autoptr(GError) error = NULL;
  uint64_t off;
  gboolean dup;

  if (c->share_index != 0 || c->pad != 0)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": chunk %u with share_index %u, pad %u under "
                           "coding stripe", it->id, c->chunk_id,
                           c->share_index, c->pad);
  if (c->chunk_id == BF_SECRET_CHUNK)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": chunk %u (the secret of a shamir item) under "
                           "coding stripe", it->id, c->chunk_id);
  if (!bf_assembler_check(it->asm_, c->chunk_id, c->total_chunks,
                          c->payload_len, &off, &dup, &error))
    return bfd_items_assembler_refused_locked(p, it, error, failure);
  off += it->base_size;  /* an append's chunks follow its base */
  if (dup) {
    uint8_t *old = bfd_path_buffer(p->scratch, c->payload_len);
    if (bf_pread_all(it->fd, old, c->payload_len, off) != c->payload_len ||
        bf_crc32c(old, c->payload_len) != c->crc32c)
      return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                             ": chunk %u resent with different bytes",
                             c->item_id, c->chunk_id);
    /* Resent meanwhile (a path lost): answered with the first copy. A
     * peer that resends without end loses its path instead of growing
     * the list. */
    if (it->copying && ++it->held_dups > BFD_HELD_DUPS_MAX)
      return bfd_path_refuse(p, BF_ST_LIMIT, "item %" G_GUINT64_FORMAT
                             ": over %u chunks resent during its base copy",
                             c->item_id, BFD_HELD_DUPS_MAX);
    if (it->copying)
      bfd_item_hold_chunk_locked(it, p, c);
    return TRUE;
  }
  store_chunk_locked(p, it, c, c->payload, c->payload_len, off, failure);
  return TRUE;
}

/* A share of a SHAMIR item's secret (chunk BF_SECRET_CHUNK), checked
 * before it is buffered: its length says whether the name is in it, and
 * must agree with ITEM_OPEN. */
static gboolean
secret_share_ok(BfdPath *p, BfdItem *it, const BfChunk *c)
{
  gboolean hidden = it->name_hidden;

  if (it->coding.kind != BF_CODING_SHAMIR)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": chunk %u (the secret) under coding %s", it->id,
                           c->chunk_id, bf_coding_str(&it->coding));
  if (c->total_chunks != 0 || c->pad != 0 ||
      (hidden ? c->payload_len <= BF_SECRET_FIXED
              : c->payload_len != BF_SECRET_FIXED) ||
      c->payload_len > BF_SECRET_FIXED + p->srv->limits.max_name)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": share of its secret with total_chunks %u, pad "
                           "%u, %u bytes (%s)", it->id, c->total_chunks,
                           c->pad, c->payload_len,
                           hidden ? "ITEM_OPEN had no name: over 64 bytes and "
                                    "at most 64 + max_name"
                                  : "ITEM_OPEN had the name: 64 bytes");
  return TRUE;
}

/* The secret is rebuilt: recorded (like a rebuilt chunk) before its k-th
 * share is acknowledged, and taken. A name the server refuses fails the
 * item, not the path. */
static gboolean
take_secret_locked(BfdPath *p, BfdItem *it, const uint8_t *secret, size_t len,
                   GError **failure) BF_REQUIRES(&it->lock);

static gboolean
take_secret_locked(BfdPath *p, BfdItem *it, const uint8_t *secret, size_t len,
                   GError **failure)
{
  g_autoptr(GError) error = NULL;

  if (!bfd_item_take_secret_locked(it, &p->srv->limits, secret, len, &error)) {
    if (error->code == BF_ST_PROTOCOL)
      return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                             ": %s", it->id, error->message);
    it->finished = TRUE;
    g_set_error(failure, BFD_ERROR, error->code, "%s: %s", it->label,
                error->message);
    return TRUE;
  }
  if (!bfd_journal_item_secret(p->sess->dir.tmp_fd, it->id, secret, len,
                               &error)) {
    it->finished = TRUE;
    g_set_error(failure, BFD_ERROR, error->code, "cannot record the secret of "
                "%s: %s", it->label, error->message);
  }
  return TRUE;
}

/* A CHUNK of a shamir or rs item: one share of a chunk, or of a SHAMIR
 * item's secret. The k-th distinct share rebuilds it; a chunk is then
 * stored like a stripe chunk; shares after that are acknowledged and
 * ignored. */
static gboolean
on_share_locked(BfdPath *p, BfdItem *it, const BfChunk *c, GError **failure)
  BF_REQUIRES(&it->lock);

static gboolean
on_share_locked(BfdPath *p, BfdItem *it, const BfChunk *c, GError **failure)
{
  g_autoptr(GError) error = NULL;
  gboolean secret = c->chunk_id == BF_SECRET_CHUNK;
  size_t len = c->payload_len;
  uint64_t off = 0;
  gboolean dup;

  if (secret && !secret_share_ok(p, it, c))
    return FALSE;
  if (secret && it->secret_done)
    return TRUE;
  if (!secret &&
      !bf_coding_chunk_len(&it->coding, c->payload_len, c->pad, &len, &error))
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": chunk %u: %s", it->id, c->chunk_id,
                           error->message);
  /* The rebuilt length is checked before anything is buffered; len stays
   * below 2^32 (16 shares of at most BF_CHUNK_MAX). */
  if (!secret && !bf_assembler_check(it->asm_, c->chunk_id, c->total_chunks,
                                     (uint32_t)len, &off, &dup, &error))
    return bfd_items_assembler_refused_locked(p, it, error, failure);
  if (!secret && dup)
    return TRUE;
  uint8_t *out = bfd_path_buffer(p->rebuilt, len);
  switch (bfd_shares_add(it->shares, c, len, out, &error)) {
  case BFD_SHARE_ERROR:
    return bfd_path_refuse(p, bfd_error_status(error), "item %"
                           G_GUINT64_FORMAT ": %s", it->id, error->message);
  case BFD_SHARE_KEPT:
    if (!secret)
      bf_assembler_expect(it->asm_, c->chunk_id, (uint32_t)len);
    return TRUE;
  case BFD_SHARE_REBUILT:
    if (secret)
      return take_secret_locked(p, it, out, len, failure);
    store_chunk_locked(p, it, c, out, (uint32_t)len, off, failure);
    return TRUE;
  default:
    return TRUE;
  }
}

gboolean
bfd_chunks_on_chunk(BfdPath *p, const BfChunk *c)
{
  g_autoptr(GError) failure = NULL;
  gboolean gone, handled = TRUE, held = FALSE, ok;
  BfdItem *it = bfd_session_item(p->sess, c->item_id, &gone);

  if (it == NULL && gone)
    return bfd_path_chunk_ack(p, c);
  if (it == NULL)
    return bfd_path_refuse(p, BF_ST_NOT_FOUND, "CHUNK for unknown item %"
                           G_GUINT64_FORMAT, c->item_id);
  if (bf_crc32c(c->payload, c->payload_len) != c->crc32c) {
    bfd_item_unref(it);
    return bfd_path_refuse(p, BF_ST_CORRUPT, "CHUNK %u of item %"
                           G_GUINT64_FORMAT ": CRC32C mismatch", c->chunk_id,
                           c->item_id);
  }
  bf_mutex_lock(&it->lock);
  /* A finished item (failed and reported, or being stored) takes any
   * re-sent copy silently. */
  if (!it->finished) {
    guint before = it->held != NULL ? it->held->len : 0;
    handled = it->shares != NULL ? on_share_locked(p, it, c, &failure)
                                 : on_plain_locked(p, it, c, &failure);
    held = it->held != NULL && it->held->len > before;
  }
  /* Acknowledged under the item's lock, and before a complete item goes
   * to the committer (posting never blocks): on every path, the CHUNK_ACK
   * of a chunk comes before the STORED it leads to, whichever thread
   * sends that. */
  ok = handled && (held || bfd_path_chunk_ack(p, c));
  if (handled && failure == NULL && !it->finished &&
      bfd_item_ready_locked(it))
    bfd_items_finalize_locked(p->sess, it);
  bf_mutex_unlock(&it->lock);
  if (failure != NULL)
    bfd_items_report(p->sess, it, failure, 0, NULL, NULL);
  bfd_item_unref(it);
  return ok;
}
