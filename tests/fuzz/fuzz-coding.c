/* fuzz-coding: the share coder (include/braidfs/coding.h).
 *
 * Input layout:
 *
 *   u8 op       bit 0: 0 round trip, 1 raw decode
 *   u8 kind     % 3: 0 stripe (k = n = 1), 1 shamir, 2 rs
 *   u8 n        2 + n % 15            (2 .. 16)
 *   u8 k        1 + k % n             (rs k = n included: the wire allows it)
 *
 *   round trip:
 *     u8 key[16]   share i is taken in order of increasing key[i] (ties by
 *                  index); the first `count` are decoded
 *     u8 extra     count = k + extra % (n - k + 1)
 *     rest         the chunk (at most 64 KiB)
 *   Checked: the shares decode back to the chunk, whichever subset.
 *
 *   raw decode (what a hostile peer controls on the server):
 *     u8 count     % 20 (more than n: must be refused)
 *     u8 index[count]
 *     u16 slen     share_len = slen % 4097
 *     u8 how       bit 0 set: chunk_len from bf_coding_chunk_len(share_len,
 *                  pad = how >> 1), which may refuse; clear: a u16 chunk_len
 *                  follows, anything
 *     [u16 clen]
 *     rest         share j is bytes [j * share_len, (j + 1) * share_len)
 *                  of the rest, zeros past its end
 *   Checked: decode never crashes or reads/writes out of bounds (every
 *   buffer has its exact size, for ASan); it succeeds exactly when a model
 *   says the share set is acceptable (count >= k, distinct indices < n,
 *   share_len == bf_coding_share_len(chunk_len)), and a refusal sets a
 *   BF_CODING_ERROR. */
#include "fuzz.h"

#include <string.h>

#include "braidfs/coding.h"

static void
round_trip(BfCoder *c, FuzzReader *r)
{
  const BfCodingSpec *spec = bf_coder_spec(c);
  uint8_t key[16], order[BF_CODING_N_MAX];
  uint64_t extra;
  uint8_t *shares[BF_CODING_N_MAX] = { 0 };
  const uint8_t *sel[BF_CODING_N_MAX];

  if (r->left < sizeof key)
    return;
  memcpy(key, r->p, sizeof key);
  r->p += sizeof key;
  r->left -= sizeof key;
  if (!fuzz_rd(r, 1, &extra))
    return;
  unsigned count = spec->k + (unsigned)(extra % (spec->n - spec->k + 1u));
  size_t len = MIN(r->left, 64 * 1024);
  size_t sl = bf_coding_share_len(spec, len);

  /* insertion sort of share numbers by key */
  for (unsigned i = 0; i < spec->n; i++) {
    unsigned j = i;

    for (; j > 0 && key[order[j - 1]] > key[i]; j--)
      order[j] = order[j - 1];
    order[j] = (uint8_t)i;
  }
  for (unsigned i = 0; i < spec->n; i++)
    shares[i] = g_malloc(sl);
  bf_coder_encode(c, r->p, len, shares);
  for (unsigned j = 0; j < count; j++)
    sel[j] = shares[order[j]];

  g_autofree uint8_t *out = g_malloc(len);
  GError *error = NULL;
  FUZZ_CHECK(bf_coder_decode(c, sel, order, count, sl, out, len, &error));
  FUZZ_CHECK(error == NULL);
  FUZZ_CHECK(len == 0 || memcmp(out, r->p, len) == 0);
  for (unsigned i = 0; i < spec->n; i++)
    g_free(shares[i]);
}

static gboolean
model_accepts(const BfCodingSpec *spec, const uint8_t *index, unsigned count,
              size_t share_len, size_t chunk_len)
{
  if (count < spec->k || bf_coding_share_len(spec, chunk_len) != share_len)
    return FALSE;
  for (unsigned i = 0; i < count; i++) {
    if (index[i] >= spec->n)
      return FALSE;
    for (unsigned j = 0; j < i; j++)
      if (index[i] == index[j])
        return FALSE;
  }
  return TRUE;
}

static void
raw_decode(BfCoder *c, FuzzReader *r)
{
  const BfCodingSpec *spec = bf_coder_spec(c);
  uint64_t count, v, slen, how, clen;
  uint8_t index[20];
  size_t chunk_len;

  if (!fuzz_rd(r, 1, &count))
    return;
  count %= 20;
  for (unsigned j = 0; j < count; j++) {
    if (!fuzz_rd(r, 1, &v))
      return;
    index[j] = (uint8_t)v;
  }
  if (!fuzz_rd(r, 2, &slen) || !fuzz_rd(r, 1, &how))
    return;
  size_t share_len = slen % 4097;
  if (how & 1) {
    if (!bf_coding_chunk_len(spec, share_len, (uint8_t)(how >> 1), &chunk_len,
                             NULL))
      return;
  } else {
    if (!fuzz_rd(r, 2, &clen))
      return;
    chunk_len = clen;
  }

  /* Exact sizes, so that ASan sees any access past a share or the chunk. */
  uint8_t *shares[20] = { 0 };
  for (unsigned j = 0; j < count; j++) {
    shares[j] = g_malloc0(share_len);
    size_t off = j * share_len;
    if (share_len > 0 && off < r->left)
      memcpy(shares[j], r->p + off, MIN(share_len, r->left - off));
  }
  g_autofree uint8_t *out = g_malloc(chunk_len);
  GError *error = NULL;
  gboolean want = model_accepts(spec, index, (unsigned)count, share_len,
                                chunk_len);
  gboolean ok = bf_coder_decode(c, (const uint8_t *const *)shares, index,
                                (unsigned)count, share_len, out, chunk_len,
                                &error);
  FUZZ_CHECK(ok == want);
  FUZZ_CHECK(ok == (error == NULL));
  FUZZ_CHECK(ok || error->domain == BF_CODING_ERROR);
  g_clear_error(&error);
  for (unsigned j = 0; j < count; j++)
    g_free(shares[j]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  FuzzReader r = { data, size };
  uint64_t op, kind, n, k;

  fuzz_init();
  if (!fuzz_rd(&r, 1, &op) || !fuzz_rd(&r, 1, &kind) || !fuzz_rd(&r, 1, &n) ||
      !fuzz_rd(&r, 1, &k))
    return 0;
  BfCodingSpec spec = { (uint8_t)(kind % 3), 1, 1 };
  if (spec.kind != BF_CODING_STRIPE) {
    spec.n = (uint8_t)(2 + n % 15);
    spec.k = (uint8_t)(1 + k % spec.n);
  }
  g_autoptr(BfCoder) c = bf_coder_new(&spec);
  if (op & 1)
    raw_decode(c, &r);
  else
    round_trip(c, &r);
  return 0;
}
