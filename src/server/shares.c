/* Shares of coded chunks (coding shamir or rs) waiting for the k-th.
 *
 * A chunk is rebuilt as soon as k distinct shares of it have arrived, on
 * whichever paths: the first k-1 are copied here, the k-th is decoded
 * straight from its frame with them. Memory is bounded by the protocol's
 * limits (BF_CODING_PARTIAL_*): partial chunks per item, and buffered bytes
 * per session, the latter counted in an atomic the session owns (items are
 * locked inside the session lock elsewhere, so no session lock here). */
#include "server.h"

#include <string.h>

#include "braidfs/coding.h"

/* Free buffers kept per item for the next partial chunks: touching fresh
 * memory is slow on these machines, and a transfer cycles through a few. */
#define SPARE_MAX 4

typedef struct {
  uint32_t share_len;
  uint8_t pad;
  uint8_t count;                   /* shares buffered */
  uint8_t index[BF_CODING_N_MAX];  /* share number of each slot */
  uint32_t crc[BF_CODING_N_MAX];
  uint8_t *buf;                    /* k-1 slots of slot_len bytes */
} Partial;

struct BfdShares {
  BfCoder *coder;
  uint8_t k, n;
  size_t slot_len;                 /* share length of a full chunk */
  GHashTable *partial;             /* chunk id -> Partial* */
  GPtrArray *spare;                /* free slot buffers */
  gint *session_bytes;             /* buffered share bytes of the session */
  size_t bytes;                    /* this item's part of them */
};

G_DEFINE_QUARK(bfd-shares-error-quark, bfd_shares_error)

BfdShares *
bfd_shares_new(const BfCodingSpec *spec, uint32_t chunk_size,
               gint *session_bytes)
{
  BfdShares *sh = g_new0(BfdShares, 1);

  sh->coder = bf_coder_new(spec);
  sh->k = spec->k;
  sh->n = spec->n;
  sh->slot_len = bf_coding_share_len(spec, chunk_size);
  sh->partial = g_hash_table_new(g_direct_hash, g_direct_equal);
  sh->spare = g_ptr_array_new_with_free_func(g_free);
  sh->session_bytes = session_bytes;
  return sh;
}

static void
partial_free(BfdShares *sh, uint32_t chunk_id, Partial *pt)
{
  size_t held = (size_t)pt->count * pt->share_len;

  g_hash_table_remove(sh->partial, GUINT_TO_POINTER(chunk_id));
  g_atomic_int_add(sh->session_bytes, -(gint)held);
  sh->bytes -= held;
  if (pt->buf != NULL && sh->spare->len < SPARE_MAX)
    g_ptr_array_add(sh->spare, pt->buf);
  else
    g_free(pt->buf);
  g_free(pt);
}

void
bfd_shares_free(BfdShares *sh)
{
  GHashTableIter iter;
  gpointer value;

  if (sh == NULL)
    return;
  g_atomic_int_add(sh->session_bytes, -(gint)sh->bytes);
  g_hash_table_iter_init(&iter, sh->partial);
  while (g_hash_table_iter_next(&iter, NULL, &value)) {
    Partial *pt = value;
    g_free(pt->buf);
    g_free(pt);
  }
  g_hash_table_unref(sh->partial);
  g_ptr_array_unref(sh->spare);
  bf_coder_free(sh->coder);
  g_free(sh);
}

static gboolean
shares_fail(GError **error, int status, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean
shares_fail(GError **error, int status, const char *fmt, ...)
{
  va_list ap;

  if (error == NULL)
    return FALSE;
  va_start(ap, fmt);
  *error = g_error_new_valist(BFD_SHARES_ERROR, status, fmt, ap);
  va_end(ap);
  return FALSE;
}

/* Takes len more bytes of the session's budget, or FALSE if over it. */
static gboolean
reserve(BfdShares *sh, size_t len)
{
  gint old;

  do {
    old = g_atomic_int_get(sh->session_bytes);
    if ((size_t)old + len > BF_CODING_PARTIAL_BYTES)
      return FALSE;
  } while (!g_atomic_int_compare_and_exchange(sh->session_bytes, old,
                                              old + (gint)len));
  sh->bytes += len;
  return TRUE;
}

/* Checks a share against the earlier ones of its chunk: every share of
 * one chunk has one length, and a share number seen before must bring the
 * same bytes (a share of another encoding would rebuild garbage). *again
 * tells a repeat. */
static gboolean
check_against(const Partial *pt, const BfChunk *c, gboolean *again,
              GError **error)
{
  *again = FALSE;
  if (c->payload_len != pt->share_len || c->pad != pt->pad)
    return shares_fail(error, BF_ST_PROTOCOL, "chunk %u: share %u of %u "
                       "bytes (pad %u) after shares of %u (pad %u)",
                       c->chunk_id, c->share_index, c->payload_len, c->pad,
                       pt->share_len, pt->pad);
  for (unsigned j = 0; j < pt->count; j++) {
    if (pt->index[j] != c->share_index)
      continue;
    if (pt->crc[j] != c->crc32c)
      return shares_fail(error, BF_ST_PROTOCOL, "chunk %u: share %u resent "
                         "with different bytes", c->chunk_id, c->share_index);
    *again = TRUE;
  }
  return TRUE;
}

static Partial *
partial_new(BfdShares *sh, uint32_t chunk_id, const BfChunk *c)
{
  Partial *pt = g_new0(Partial, 1);

  pt->share_len = c->payload_len;
  pt->pad = c->pad;
  if (sh->spare->len > 0)
    pt->buf = g_ptr_array_steal_index_fast(sh->spare, sh->spare->len - 1);
  else
    pt->buf = g_malloc((size_t)(sh->k - 1) * sh->slot_len);
  g_hash_table_insert(sh->partial, GUINT_TO_POINTER(chunk_id), pt);
  return pt;
}

BfdShareResult
bfd_shares_add(BfdShares *sh, const BfChunk *c, size_t chunk_len,
               uint8_t *out, GError **error)
{
  Partial *pt = g_hash_table_lookup(sh->partial, GUINT_TO_POINTER(c->chunk_id));
  const uint8_t *shares[BF_CODING_N_MAX];
  uint8_t index[BF_CODING_N_MAX];
  gboolean again;

  if (c->share_index >= sh->n) {
    shares_fail(error, BF_ST_PROTOCOL, "chunk %u: share_index %u but "
                "coding_n is %u", c->chunk_id, c->share_index, sh->n);
    return BFD_SHARE_ERROR;
  }
  /* The caller checked the length against the item (chunk_len from
   * share length and pad): a slot holds any share of it. */
  g_assert(c->payload_len <= sh->slot_len);
  if (pt != NULL && !check_against(pt, c, &again, error))
    return BFD_SHARE_ERROR;
  if (pt != NULL && again)
    return BFD_SHARE_AGAIN;

  unsigned have = pt != NULL ? pt->count : 0;
  if (have + 1u < sh->k) {
    if (pt == NULL &&
        g_hash_table_size(sh->partial) >= BF_CODING_PARTIAL_CHUNKS) {
      shares_fail(error, BF_ST_LIMIT, "chunk %u: %u chunks of the item "
                  "already wait for shares (limit)", c->chunk_id,
                  BF_CODING_PARTIAL_CHUNKS);
      return BFD_SHARE_ERROR;
    }
    if (!reserve(sh, c->payload_len)) {
      shares_fail(error, BF_ST_LIMIT, "chunk %u: the session's buffered "
                  "shares would exceed %u bytes (limit)", c->chunk_id,
                  BF_CODING_PARTIAL_BYTES);
      return BFD_SHARE_ERROR;
    }
    if (pt == NULL)
      pt = partial_new(sh, c->chunk_id, c);
    memcpy(pt->buf + (size_t)pt->count * sh->slot_len, c->payload,
           c->payload_len);
    pt->index[pt->count] = c->share_index;
    pt->crc[pt->count] = c->crc32c;
    pt->count++;
    return BFD_SHARE_KEPT;
  }

  /* The k-th distinct share: rebuild. */
  for (unsigned j = 0; j < have; j++) {
    shares[j] = pt->buf + (size_t)j * sh->slot_len;
    index[j] = pt->index[j];
  }
  shares[have] = c->payload;
  index[have] = c->share_index;
  gboolean ok = bf_coder_decode(sh->coder, shares, index, have + 1,
                                c->payload_len, out, chunk_len, error);
  if (pt != NULL)
    partial_free(sh, c->chunk_id, pt);
  if (!ok) {
    /* unreachable: indices and lengths were checked above */
    g_prefix_error(error, "chunk %u: ", c->chunk_id);
    return BFD_SHARE_ERROR;
  }
  return BFD_SHARE_REBUILT;
}
