/* Shares of coded chunks (coding shamir or rs) waiting for the k-th.
 *
 * A chunk is rebuilt as soon as k distinct shares of it have arrived, on
 * whichever paths: the first k-1 are copied here, the k-th is decoded
 * straight from its frame with them. Memory is bounded by the protocol's
 * limits (BF_CODING_PARTIAL_*): partial chunks per item, and bytes per
 * session. A partial chunk's buffer is sized by the share that arrived
 * (k-1 of its length) and charged to the session's budget when it is
 * allocated, so a peer cannot make the server hold more than it charged;
 * the caller keeps the item's geometry (one short chunk, the last: see
 * bf_assembler_expect), so short shares cannot multiply partial chunks
 * for free either. */
#include "shares.h"

#include <string.h>

#include "braidfs/tsa.h"
#include "status.h"

/* Free buffers a session keeps for the next partial chunks: touching fresh
 * memory is slow on these machines, and a transfer cycles through a few of
 * one size. They stay charged to the budget, which frees them when it
 * needs the room, and when the session has no item in flight. */
#define SPARE_MAX 8

typedef struct {
  size_t len;
  uint8_t *buf;
} Spare;

struct BfdShareBudget {
  BfMutex lock;                    /* a leaf: taken under item locks */
  size_t used;                     /* bytes allocated: buffers of partial
                                      chunks and spares */
  GArray *spare;                   /* Spare */
};

typedef struct {
  uint32_t share_len;
  uint8_t pad;
  uint8_t count;                   /* shares buffered */
  uint8_t index[BF_CODING_N_MAX];  /* share number of each slot */
  uint32_t crc[BF_CODING_N_MAX];
  uint8_t *buf;                    /* k-1 slots of share_len bytes */
} Partial;

struct BfdShares {
  BfCoder *coder;
  uint8_t k, n;
  GHashTable *partial;             /* chunk id -> Partial* */
  BfdShareBudget *budget;          /* the session's */
};

/* ---- the session's budget ---------------------------------------------- */

BfdShareBudget *
bfd_share_budget_new(void)
{
  BfdShareBudget *b = g_new0(BfdShareBudget, 1);

  bf_mutex_init(&b->lock);
  b->spare = g_array_new(FALSE, FALSE, sizeof(Spare));
  return b;
}

void
bfd_share_budget_trim(BfdShareBudget *b)
{
  bf_mutex_lock(&b->lock);
  for (guint i = 0; i < b->spare->len; i++) {
    b->used -= g_array_index(b->spare, Spare, i).len;
    g_free(g_array_index(b->spare, Spare, i).buf);
  }
  g_array_set_size(b->spare, 0);
  bf_mutex_unlock(&b->lock);
}

void
bfd_share_budget_free(BfdShareBudget *b)
{
  if (b == NULL)
    return;
  bfd_share_budget_trim(b);
  g_array_unref(b->spare);
  bf_mutex_clear(&b->lock);
  g_free(b);
}

/* A buffer of len bytes charged to the budget, or NULL if the session's
 * buffers would exceed it even without spares. */
static uint8_t *
budget_take(BfdShareBudget *b, size_t len)
{
  uint8_t *buf = NULL;
  gboolean fits;

  bf_mutex_lock(&b->lock);
  for (guint i = 0; i < b->spare->len && buf == NULL; i++)
    if (g_array_index(b->spare, Spare, i).len == len) {
      buf = g_array_index(b->spare, Spare, i).buf;
      g_array_remove_index_fast(b->spare, i);
    }
  while (buf == NULL && b->used + len > BF_CODING_PARTIAL_BYTES &&
         b->spare->len > 0) {
    Spare *sp = &g_array_index(b->spare, Spare, b->spare->len - 1);
    b->used -= sp->len;
    g_free(sp->buf);
    g_array_set_size(b->spare, b->spare->len - 1);
  }
  fits = buf != NULL || b->used + len <= BF_CODING_PARTIAL_BYTES;
  if (buf == NULL && fits)
    b->used += len;
  bf_mutex_unlock(&b->lock);
  return buf != NULL || !fits ? buf : g_malloc(len);
}

static void
budget_give(BfdShareBudget *b, uint8_t *buf, size_t len)
{
  gboolean keep;

  bf_mutex_lock(&b->lock);
  keep = b->spare->len < SPARE_MAX;
  if (keep)
    g_array_append_val(b->spare, ((Spare){ len, buf }));
  else
    b->used -= len;
  bf_mutex_unlock(&b->lock);
  if (!keep)
    g_free(buf);
}

/* ---- partial chunks of an item ------------------------------------------ */

BfdShares *
bfd_shares_new(const BfCodingSpec *spec, BfdShareBudget *budget)
{
  BfdShares *sh = g_new0(BfdShares, 1);

  sh->coder = bf_coder_new(spec);
  sh->k = spec->k;
  sh->n = spec->n;
  sh->partial = g_hash_table_new(g_direct_hash, g_direct_equal);
  sh->budget = budget;
  return sh;
}

static size_t
partial_len(const BfdShares *sh, const Partial *pt)
{
  return (size_t)(sh->k - 1) * pt->share_len;
}

static void
partial_free(BfdShares *sh, Partial *pt)
{
  budget_give(sh->budget, pt->buf, partial_len(sh, pt));
  g_free(pt);
}

void
bfd_shares_free(BfdShares *sh)
{
  GHashTableIter iter;
  gpointer value;

  if (sh == NULL)
    return;
  g_hash_table_iter_init(&iter, sh->partial);
  while (g_hash_table_iter_next(&iter, NULL, &value))
    partial_free(sh, value);
  g_hash_table_unref(sh->partial);
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
  *error = g_error_new_valist(BFD_ERROR, status, fmt, ap);
  va_end(ap);
  return FALSE;
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

/* The first share of a chunk: a partial chunk with room for k-1 shares of
 * its length, within the item's and the session's limits. */
static Partial *
partial_new(BfdShares *sh, const BfChunk *c, GError **error)
{
  size_t len = (size_t)(sh->k - 1) * c->payload_len;
  uint8_t *buf;
  Partial *pt;

  if (g_hash_table_size(sh->partial) >= BF_CODING_PARTIAL_CHUNKS) {
    shares_fail(error, BF_ST_LIMIT, "chunk %u: %u chunks of the item "
                "already wait for shares (limit)", c->chunk_id,
                BF_CODING_PARTIAL_CHUNKS);
    return NULL;
  }
  if ((buf = budget_take(sh->budget, len)) == NULL) {
    shares_fail(error, BF_ST_LIMIT, "chunk %u: the session's buffered "
                "shares would exceed %u bytes (limit)", c->chunk_id,
                BF_CODING_PARTIAL_BYTES);
    return NULL;
  }
  pt = g_new0(Partial, 1);
  pt->share_len = c->payload_len;
  pt->pad = c->pad;
  pt->buf = buf;
  g_hash_table_insert(sh->partial, GUINT_TO_POINTER(c->chunk_id), pt);
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
  if (pt != NULL && !check_against(pt, c, &again, error))
    return BFD_SHARE_ERROR;
  if (pt != NULL && again)
    return BFD_SHARE_AGAIN;

  unsigned have = pt != NULL ? pt->count : 0;
  if (have + 1u < sh->k) {
    if (pt == NULL && (pt = partial_new(sh, c, error)) == NULL)
      return BFD_SHARE_ERROR;
    memcpy(pt->buf + (size_t)pt->count * pt->share_len, c->payload,
           c->payload_len);
    pt->index[pt->count] = c->share_index;
    pt->crc[pt->count] = c->crc32c;
    pt->count++;
    return BFD_SHARE_KEPT;
  }

  /* The k-th distinct share: rebuild. */
  for (unsigned j = 0; j < have; j++) {
    shares[j] = pt->buf + (size_t)j * pt->share_len;
    index[j] = pt->index[j];
  }
  shares[have] = c->payload;
  index[have] = c->share_index;
  g_autoptr(GError) why = NULL;
  gboolean ok = bf_coder_decode(sh->coder, shares, index, have + 1,
                                c->payload_len, out, chunk_len, &why);
  if (pt != NULL) {
    g_hash_table_remove(sh->partial, GUINT_TO_POINTER(c->chunk_id));
    partial_free(sh, pt);
  }
  if (!ok) {
    /* unreachable: indices and lengths were checked above */
    shares_fail(error, BF_ST_PROTOCOL, "chunk %u: %s", c->chunk_id,
                why->message);
    return BFD_SHARE_ERROR;
  }
  return BFD_SHARE_REBUILT;
}
