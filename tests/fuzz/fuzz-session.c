/* fuzz-session: a stream of frames rebuilding items in memory, the way the
 * server does (src/server/items.c, chunks.c, item.c), but built only on
 * the pure API so it needs no sockets, files or threads.
 *
 * The input is what a server reads after the handshake: frames (6-byte
 * header + body) back to back. Each is decoded with bf_header_parse() and
 * bf_msg_decode(); the first that does not decode ends the stream, as the
 * server closes the connection. ITEM_OPEN, CHUNK, ITEM_CLOSE and OP CANCEL
 * drive a small session model; other frames are decoded and ignored.
 *
 * The model keeps, per open item, a BfAssembler, the item's bytes in a
 * GByteArray (at most ITEM_CAP bytes, which is also the assembler's
 * max_size) and the running digest, fed like the server's
 * bfd_item_hash_forward_locked() (item.c): every chunk that extends the
 * contiguous prefix, by has() and chunk_len().
 * Rules, after the protocol page (SESSION SEMANTICS) and the server:
 *   - item ids increase: an ITEM_OPEN with id 0 or not above the last one
 *     ends the stream (except one with a coding other than STRIPE, which is
 *     refused anyway); a full session (ITEMS_MAX items in flight) refuses
 *     the item, and its id counts as used;
 *   - CHUNK and ITEM_CLOSE of an id above the last one (never opened) end
 *     the stream; of an id at or below it that is not open (finished,
 *     refused, cancelled) they are dropped;
 *   - a CHUNK with a wrong CRC-32C ends the stream; so does a resent chunk
 *     whose bytes differ, or any refusal by the assembler except TOO_BIG,
 *     which fails only the item;
 *   - an ITEM_CLOSE with another digest_alg than the ITEM_OPEN's ends the
 *     stream;
 *   - once the assembler says complete (after the last chunk or the
 *     close), the item is checked and leaves the session.
 * Invariants checked:
 *   - an accepted chunk lies within the item limit (offset + len <=
 *     ITEM_CAP, so the write into the buffer is in bounds);
 *   - a complete item has exactly size bytes, the running digest covered
 *     all of its chunks (hashed == total) and equals the digest of the
 *     buffer computed in one go. */
#include "fuzz.h"

#include <string.h>

#include "braidfs/assembler.h"
#include "braidfs/digest.h"
#include "braidfs/wire.h"

enum {
  ITEM_CAP = 1 << 20,  /* bytes per item; the server's max_item_size */
  ITEMS_MAX = 64,      /* items in flight per session */
};

typedef struct {
  uint64_t id;         /* key of Session.items */
  BfAssembler *asm_;
  GByteArray *data;    /* the item's bytes so far; unwritten ranges are 0 */
  BfDigest *digest;    /* fed with chunks 0 .. hashed - 1, in order */
  uint32_t hashed;
  gboolean closed;     /* ITEM_CLOSE accepted: want is valid */
  uint8_t want[BF_DIGEST_LEN];
} Item;

typedef struct {
  GHashTable *items;   /* &Item.id -> Item*, the open items only */
  uint64_t last_id;    /* highest item id opened (or refused) so far */
  guint stored, corrupt;
} Session;

static void
item_free(gpointer p)
{
  Item *it = p;

  bf_assembler_free(it->asm_);
  g_byte_array_unref(it->data);
  bf_digest_free(it->digest);
  g_free(it);
}

/* Stored, failed or cancelled: the item leaves the session. */
static void
item_finish(Session *s, Item *it)
{
  FUZZ_CHECK(g_hash_table_remove(s->items, &it->id));
}

/* The open item of that id, or NULL; *gone tells a finished item from one
 * never opened. */
static Item *
session_item(const Session *s, uint64_t id, gboolean *gone)
{
  Item *it = g_hash_table_lookup(s->items, &id);

  *gone = it == NULL && id != 0 && id <= s->last_id;
  return it;
}

/* The server's bfd_item_hash_forward_locked(), reading early chunks from
 * the buffer instead of the file. */
static void
hash_forward(Item *it)
{
  uint32_t cs = bf_assembler_chunk_size(it->asm_);

  while (bf_assembler_has(it->asm_, it->hashed)) {
    uint32_t len = bf_assembler_chunk_len(it->asm_, it->hashed);
    uint64_t off = (uint64_t)it->hashed * cs;

    FUZZ_CHECK(len >= 1 && len <= cs);
    FUZZ_CHECK(off + len <= it->data->len);
    bf_digest_update(it->digest, it->data->data + off, len);
    it->hashed++;
  }
}

/* The item is complete: verify it as the server's commit() (items.c) does. */
static void
item_complete(Session *s, Item *it)
{
  uint64_t size = bf_assembler_size(it->asm_);
  g_autoptr(BfDigest) whole = bf_digest_new(bf_digest_alg(it->digest));
  uint8_t got[BF_DIGEST_LEN], again[BF_DIGEST_LEN];

  FUZZ_CHECK(it->closed && bf_assembler_complete(it->asm_));
  FUZZ_CHECK(size <= ITEM_CAP);
  FUZZ_CHECK(it->data->len == size);
  FUZZ_CHECK(it->hashed == bf_assembler_received(it->asm_));
  bf_digest_final(it->digest, got);
  bf_digest_update(whole, it->data->data, it->data->len);
  bf_digest_final(whole, again);
  FUZZ_CHECK(memcmp(got, again, sizeof got) == 0);
  if (memcmp(got, it->want, sizeof got) == 0)
    s->stored++;
  else
    s->corrupt++;  /* ITEM_ACK STORED CORRUPT: discarded */
  item_finish(s, it);
}

/* Returns FALSE when the server would close the connection. */
static gboolean
on_item_open(Session *s, const BfItemOpen *o)
{
  Item *it;

  if (o->coding != BF_CODING_STRIPE) {
    s->last_id = MAX(s->last_id, o->item_id);
    return TRUE;  /* refused with ITEM_ACK OPENED PROTOCOL */
  }
  if (o->item_id == 0 || o->item_id <= s->last_id)
    return FALSE;  /* ids must increase */
  s->last_id = o->item_id;
  if (g_hash_table_size(s->items) >= ITEMS_MAX)
    return TRUE;  /* refused with ITEM_ACK OPENED LIMIT; the id is used */
  it = g_new0(Item, 1);
  it->id = o->item_id;
  g_hash_table_insert(s->items, &it->id, it);
  it->asm_ = bf_assembler_new(o->chunk_size, ITEM_CAP);
  it->data = g_byte_array_new();
  it->digest = bf_digest_new(o->digest_alg);
  FUZZ_CHECK(it->asm_ != NULL && it->digest != NULL);  /* decoder-checked */
  return TRUE;
}

static gboolean
on_chunk(Session *s, const BfChunk *c)
{
  g_autoptr(GError) error = NULL;
  gboolean gone, dup;
  Item *it = session_item(s, c->item_id, &gone);
  uint64_t off;

  if (it == NULL)
    return gone;   /* acknowledged and dropped, or NOT_FOUND */
  if (bf_crc32c(c->payload, c->payload_len) != c->crc32c)
    return FALSE;  /* CORRUPT */
  if (!bf_assembler_check(it->asm_, c->chunk_id, c->total_chunks,
                          c->payload_len, &off, &dup, &error)) {
    FUZZ_CHECK(error != NULL && error->domain == BF_ASM_ERROR);
    if (!g_error_matches(error, BF_ASM_ERROR, BF_ASM_ERROR_TOO_BIG))
      return FALSE;
    item_finish(s, it);  /* ITEM_ACK STORED TOO_BIG */
    return TRUE;
  }
  FUZZ_CHECK(off == (uint64_t)c->chunk_id * bf_assembler_chunk_size(it->asm_));
  /* The write below stays inside the item limit only if this holds
   * (regress-chunk-beyond-item-limit). */
  FUZZ_CHECK(off < ITEM_CAP);
  FUZZ_CHECK(off + c->payload_len <= ITEM_CAP);

  if (dup) {
    /* A resent chunk must be identical. The server compares CRCs of what it
     * stored; bytes are compared here. */
    FUZZ_CHECK(off + c->payload_len <= it->data->len);
    return memcmp(it->data->data + off, c->payload, c->payload_len) == 0;
  }
  if (off + c->payload_len > it->data->len)
    g_byte_array_set_size(it->data, (guint)(off + c->payload_len));
  memcpy(it->data->data + off, c->payload, c->payload_len);
  bf_assembler_mark(it->asm_, c->chunk_id, c->payload_len);
  hash_forward(it);
  if (bf_assembler_complete(it->asm_))
    item_complete(s, it);
  return TRUE;
}

static gboolean
on_item_close(Session *s, const BfItemClose *c)
{
  g_autoptr(GError) error = NULL;
  gboolean gone;
  Item *it = session_item(s, c->item_id, &gone);

  if (it == NULL)
    return gone;   /* ignored, or NOT_FOUND */
  if (!bf_assembler_close(it->asm_, c->total_chunks, c->size, &error)) {
    FUZZ_CHECK(error != NULL && error->domain == BF_ASM_ERROR);
    if (!g_error_matches(error, BF_ASM_ERROR, BF_ASM_ERROR_TOO_BIG))
      return FALSE;
    item_finish(s, it);
    return TRUE;
  }
  if (c->digest_alg != bf_digest_alg(it->digest))
    return FALSE;
  FUZZ_CHECK(c->size <= ITEM_CAP);
  memcpy(it->want, c->digest, sizeof it->want);
  it->closed = TRUE;
  if (bf_assembler_complete(it->asm_))
    item_complete(s, it);
  return TRUE;
}

static gboolean
on_op(Session *s, const BfOp *o)
{
  gboolean gone;
  Item *it;

  if (o->op != BF_OP_CANCEL)
    return TRUE;  /* directory operations touch no item */
  it = session_item(s, o->item_id, &gone);
  if (it != NULL)
    item_finish(s, it);
  return TRUE;   /* OP_ACK OK, or NOT_FOUND: the path stays open */
}

static gboolean crypto_ready;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  Session s = { 0 };
  size_t pos = 0;
  gboolean ok = TRUE;

  fuzz_init();
  if (!crypto_ready) {
    bf_crypto_init();  /* as both daemons do before hashing */
    crypto_ready = TRUE;
  }
  s.items = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                  item_free);

  while (ok) {
    uint8_t type, flags;
    uint32_t n;
    BfMsg m;

    if (!bf_header_parse(data + pos, size - pos, BF_BODY_MAX, &type, &flags,
                         &n, NULL))
      break;
    pos += BF_HEADER_LEN;
    if (n > size - pos)
      break;
    /* Exactly the body, so a read past it is an ASan report. */
    g_autofree uint8_t *body = n ? g_memdup2(data + pos, n) : NULL;
    pos += n;
    if (!bf_msg_decode(type, flags, body, n, &m, NULL))
      break;

    switch (m.type) {
    case BF_FRAME_ITEM_OPEN:
      ok = on_item_open(&s, &m.u.item_open);
      break;
    case BF_FRAME_CHUNK:
      ok = on_chunk(&s, &m.u.chunk);
      break;
    case BF_FRAME_ITEM_CLOSE:
      ok = on_item_close(&s, &m.u.item_close);
      break;
    case BF_FRAME_OP:
      ok = on_op(&s, &m.u.op);
      break;
    default:
      break;
    }
    FUZZ_CHECK(g_hash_table_size(s.items) <= ITEMS_MAX);
  }

  g_hash_table_destroy(s.items);
  return 0;
}
