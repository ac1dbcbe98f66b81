#include "braidfs/coding.h"

#include <isa-l/erasure_code.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>

#include "braidfs/digest.h"

#define NMAX BF_CODING_N_MAX

struct BfCoder {
  BfCodingSpec spec;
  /* n×k encode matrix, row i for share i:
   *   shamir: [1, x, x^2 .. x^(k-1)] with x = i + 1 (0 would be the secret)
   *   rs:     Cauchy, identity in the first k rows. */
  uint8_t matrix[NMAX * NMAX];
  /* ISA-L expanded tables of the rows the encoder computes: all n for
   * shamir, the n - k parity rows for rs. */
  uint8_t enc_tbls[32 * NMAX * NMAX];
  uint8_t dec_tbls[32 * NMAX * NMAX];
  /* shamir encode: the k-1 random coefficient rows; rs decode: a padded
   * last fragment. Grown, never shrunk. */
  uint8_t *scratch;
  size_t scratch_cap;
};

G_DEFINE_QUARK(bf-coding-error-quark, bf_coding_error)

/* ---- specs ------------------------------------------------------------- */

static gboolean
parse_fail(GError **error, const char *text, const char *why)
{
  g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_PARSE,
              "coding \"%s\": %s", text, why);
  return FALSE;
}

static gboolean
parse_uint(const char *s, guint64 *v)
{
  /* Digits only: g_ascii_string_to_unsigned() would take no sign but we
   * also refuse an empty string or more than two digits up front. */
  size_t len = strlen(s);

  if (len == 0 || len > 2 || strspn(s, "0123456789") != len)
    return FALSE;
  return g_ascii_string_to_unsigned(s, 10, 0, 99, v, NULL);
}

gboolean
bf_coding_parse(const char *text, BfCodingSpec *out, GError **error)
{
  static const char usage[] =
      "expected stripe, shamir:K/N or rs:K/N (e.g. shamir:2/3)";
  const char *colon = strchr(text, ':');
  guint64 k, n;

  if (strcmp(text, "stripe") == 0) {
    *out = (BfCodingSpec){ BF_CODING_STRIPE, 1, 1 };
    return TRUE;
  }
  if (colon == NULL)
    return parse_fail(error, text, usage);

  g_autofree char *kind = g_strndup(text, (gsize)(colon - text));
  g_auto(GStrv) kn = g_strsplit(colon + 1, "/", -1);
  uint8_t coding;
  if (strcmp(kind, "shamir") == 0)
    coding = BF_CODING_SHAMIR;
  else if (strcmp(kind, "rs") == 0)
    coding = BF_CODING_RS;
  else
    return parse_fail(error, text, usage);
  if (g_strv_length(kn) != 2 || !parse_uint(kn[0], &k) ||
      !parse_uint(kn[1], &n))
    return parse_fail(error, text, usage);

  if (n < 2 || n > NMAX)
    return parse_fail(error, text,
                      "N must be between 2 and 16 (N shares per chunk, "
                      "each on its own path)");
  if (k < 1 || k > n)
    return parse_fail(error, text, "K must be between 1 and N");
  if (coding == BF_CODING_RS && k == n)
    return parse_fail(error, text,
                      "rs needs K below N (with K = N there is no parity "
                      "share and one dead path stalls the transfer; use "
                      "stripe, or e.g. rs:2/3)");
  *out = (BfCodingSpec){ coding, (uint8_t)k, (uint8_t)n };
  return TRUE;
}

gboolean
bf_coding_check(const BfCodingSpec *spec, GError **error)
{
  gboolean ok;

  switch (spec->kind) {
  case BF_CODING_STRIPE:
    ok = spec->k == 1 && spec->n == 1;
    break;
  case BF_CODING_SHAMIR:
  case BF_CODING_RS:
    ok = spec->k >= 1 && spec->k <= spec->n && spec->n >= 2 &&
         spec->n <= NMAX;
    break;
  default:
    ok = FALSE;
  }
  if (!ok)
    g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_PARSE,
                "coding %u with k %u, n %u is not valid", spec->kind, spec->k,
                spec->n);
  return ok;
}

const char *
bf_coding_str(const BfCodingSpec *spec)
{
  static _Thread_local char buf[32];

  switch (spec->kind) {
  case BF_CODING_STRIPE:
    return "stripe";
  case BF_CODING_SHAMIR:
  case BF_CODING_RS:
    g_snprintf(buf, sizeof buf, "%s:%u/%u",
               spec->kind == BF_CODING_RS ? "rs" : "shamir", spec->k,
               spec->n);
    return buf;
  default:
    return "unknown";
  }
}

size_t
bf_coding_share_len(const BfCodingSpec *spec, size_t chunk_len)
{
  if (spec->kind != BF_CODING_RS)
    return chunk_len;
  return chunk_len / spec->k + (chunk_len % spec->k != 0);
}

uint8_t
bf_coding_pad(const BfCodingSpec *spec, size_t chunk_len)
{
  if (spec->kind != BF_CODING_RS)
    return 0;
  return (uint8_t)(spec->k * bf_coding_share_len(spec, chunk_len) -
                   chunk_len);
}

gboolean
bf_coding_chunk_len(const BfCodingSpec *spec, size_t share_len, uint8_t pad,
                    size_t *chunk_len, GError **error)
{
  size_t k = spec->kind == BF_CODING_RS ? spec->k : 1;

  /* pad < k keeps the fragment size minimal, so one chunk length has one
   * encoding; pad <= k * share_len keeps the length non-negative. */
  if (pad >= k || pad > k * share_len) {
    g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_LENGTH,
                "pad %u does not fit %s with shares of %zu bytes", pad,
                bf_coding_str(spec), share_len);
    return FALSE;
  }
  *chunk_len = k * share_len - pad;
  return TRUE;
}

/* ---- coder ------------------------------------------------------------- */

static void
shamir_matrix(uint8_t *m, unsigned k, unsigned n)
{
  /* Distinct non-zero points make every k×k submatrix a Vandermonde
   * matrix, hence invertible. */
  for (unsigned i = 0; i < n; i++) {
    uint8_t p = 1;

    for (unsigned j = 0; j < k; j++) {
      m[i * k + j] = p;
      p = gf_mul(p, (uint8_t)(i + 1));
    }
  }
}

BfCoder *
bf_coder_new(const BfCodingSpec *spec)
{
  BfCoder *c;
  unsigned k = spec->k, n = spec->n;

  g_assert(bf_coding_check(spec, NULL));
  bf_crypto_init();
  c = g_new0(BfCoder, 1);
  c->spec = *spec;
  if (spec->kind == BF_CODING_SHAMIR) {
    shamir_matrix(c->matrix, k, n);
    ec_init_tables((int)k, (int)n, c->matrix, c->enc_tbls);
  } else if (spec->kind == BF_CODING_RS) {
    gf_gen_cauchy1_matrix(c->matrix, (int)n, (int)k);
    if (n > k)
      ec_init_tables((int)k, (int)(n - k), c->matrix + k * k, c->enc_tbls);
  }
  return c;
}

void
bf_coder_free(BfCoder *c)
{
  if (c == NULL)
    return;
  g_free(c->scratch);
  g_free(c);
}

const BfCodingSpec *
bf_coder_spec(const BfCoder *c)
{
  return &c->spec;
}

static uint8_t *
scratch(BfCoder *c, size_t len)
{
  if (c->scratch_cap < len) {
    g_free(c->scratch);
    c->scratch = g_malloc(len);
    c->scratch_cap = len;
  }
  return c->scratch;
}

static void
encode_shamir(BfCoder *c, const uint8_t *chunk, size_t len,
              uint8_t *const *shares)
{
  unsigned k = c->spec.k;
  uint8_t *src[NMAX];
  uint8_t *rnd = k > 1 ? scratch(c, (k - 1) * len) : NULL;

  /* Fresh coefficients for every byte of every chunk, from the CSPRNG:
   * with coefficients reused, share i of two chunks would differ by exactly
   * the difference of the chunks, so one path would leak it. */
  if (k > 1)
    randombytes_buf(rnd, (k - 1) * len);
  src[0] = (uint8_t *)chunk;  /* ISA-L only reads its sources */
  for (unsigned j = 1; j < k; j++)
    src[j] = rnd + (j - 1) * len;
  ec_encode_data((int)len, (int)k, c->spec.n, c->enc_tbls, src,
                 (uint8_t **)shares);
}

static void
encode_rs(BfCoder *c, const uint8_t *chunk, size_t len,
          uint8_t *const *shares)
{
  unsigned k = c->spec.k, n = c->spec.n;
  size_t frag = bf_coding_share_len(&c->spec, len);

  for (unsigned d = 0; d < k; d++) {
    size_t start = MIN(d * frag, len);
    size_t avail = MIN(frag, len - start);

    memcpy(shares[d], chunk + start, avail);
    memset(shares[d] + avail, 0, frag - avail);
  }
  if (n > k)
    ec_encode_data((int)frag, (int)k, (int)(n - k), c->enc_tbls,
                   (uint8_t **)shares, (uint8_t **)shares + k);
}

void
bf_coder_encode(BfCoder *c, const uint8_t *chunk, size_t len,
                uint8_t *const *shares)
{
  g_assert(len <= INT_MAX);
  if (len == 0)
    return;
  switch (c->spec.kind) {
  case BF_CODING_SHAMIR:
    encode_shamir(c, chunk, len, shares);
    break;
  case BF_CODING_RS:
    encode_rs(c, chunk, len, shares);
    break;
  default:
    memcpy(shares[0], chunk, len);
  }
}

static gboolean
check_shares(const BfCoder *c, const uint8_t *index, unsigned count,
             size_t share_len, size_t chunk_len, GError **error)
{
  uint32_t seen = 0;

  if (count < c->spec.k) {
    g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_SHARES,
                "%s needs %u shares to rebuild a chunk, got %u",
                bf_coding_str(&c->spec), c->spec.k, count);
    return FALSE;
  }
  for (unsigned j = 0; j < count; j++) {
    if (index[j] >= c->spec.n) {
      g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_SHARES,
                  "share %u is out of range for %s", index[j],
                  bf_coding_str(&c->spec));
      return FALSE;
    }
    if (seen & (1u << index[j])) {
      g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_SHARES,
                  "share %u given twice", index[j]);
      return FALSE;
    }
    seen |= 1u << index[j];
  }
  if (chunk_len > INT_MAX ||
      bf_coding_share_len(&c->spec, chunk_len) != share_len) {
    g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_LENGTH,
                "shares of %zu bytes cannot hold a %zu-byte chunk under %s",
                share_len, chunk_len, bf_coding_str(&c->spec));
    return FALSE;
  }
  return TRUE;
}

/* Inverts the k×k matrix of the encode rows of the first k shares. */
static gboolean
invert_received(const BfCoder *c, const uint8_t *index, uint8_t *inv,
                GError **error)
{
  unsigned k = c->spec.k;
  uint8_t sub[NMAX * NMAX];

  for (unsigned j = 0; j < k; j++)
    memcpy(sub + j * k, c->matrix + index[j] * k, k);
  if (gf_invert_matrix(sub, inv, (int)k) == 0)
    return TRUE;
  /* Unreachable for distinct indices (Vandermonde / Cauchy): kept so that
   * a broken matrix is an error and not garbage. */
  g_set_error(error, BF_CODING_ERROR, BF_CODING_ERROR_SHARES,
              "the shares given do not determine the chunk");
  return FALSE;
}

static gboolean
decode_shamir(BfCoder *c, const uint8_t *const *shares, const uint8_t *index,
              size_t len, uint8_t *out, GError **error)
{
  unsigned k = c->spec.k;
  uint8_t inv[NMAX * NMAX];

  if (!invert_received(c, index, inv, error))
    return FALSE;
  /* The secret is coefficient 0: row 0 of the inverse. */
  ec_init_tables((int)k, 1, inv, c->dec_tbls);
  ec_encode_data((int)len, (int)k, 1, c->dec_tbls, (uint8_t **)shares, &out);
  return TRUE;
}

static const uint8_t *
received(const uint8_t *const *shares, const uint8_t *index, unsigned k,
         unsigned d)
{
  for (unsigned j = 0; j < k; j++)
    if (index[j] == d)
      return shares[j];
  return NULL;
}

static gboolean
decode_rs(BfCoder *c, const uint8_t *const *shares, const uint8_t *index,
          size_t frag, uint8_t *out, size_t len, GError **error)
{
  unsigned k = c->spec.k, nmiss = 0;
  uint8_t inv[NMAX * NMAX], rows[NMAX * NMAX];
  uint8_t *dst[NMAX];
  uint8_t *tail = NULL;
  size_t tail_start = 0, tail_len = 0;

  for (unsigned d = 0; d < k; d++) {
    size_t start = d * frag;
    size_t avail = start < len ? MIN(frag, len - start) : 0;
    const uint8_t *have = received(shares, index, k, d);

    if (avail == 0)
      continue;  /* all padding */
    if (have != NULL) {
      memcpy(out + start, have, avail);
      continue;
    }
    if (nmiss == 0 && !invert_received(c, index, inv, error))
      return FALSE;
    memcpy(rows + nmiss * k, inv + d * k, k);
    if (avail == frag) {
      dst[nmiss++] = out + start;
    } else {
      /* The short last fragment: decode it whole beside, keep its head. */
      tail = scratch(c, frag);
      tail_start = start;
      tail_len = avail;
      dst[nmiss++] = tail;
    }
  }
  if (nmiss == 0)
    return TRUE;
  ec_init_tables((int)k, (int)nmiss, rows, c->dec_tbls);
  ec_encode_data((int)frag, (int)k, (int)nmiss, c->dec_tbls,
                 (uint8_t **)shares, dst);
  if (tail != NULL)
    memcpy(out + tail_start, tail, tail_len);
  return TRUE;
}

gboolean
bf_coder_decode(BfCoder *c, const uint8_t *const *shares,
                const uint8_t *index, unsigned count, size_t share_len,
                uint8_t *out, size_t chunk_len, GError **error)
{
  if (!check_shares(c, index, count, share_len, chunk_len, error))
    return FALSE;
  if (chunk_len == 0)
    return TRUE;
  switch (c->spec.kind) {
  case BF_CODING_SHAMIR:
    return decode_shamir(c, shares, index, chunk_len, out, error);
  case BF_CODING_RS:
    return decode_rs(c, shares, index, share_len, out, chunk_len, error);
  default:
    memcpy(out, shares[0], chunk_len);
    return TRUE;
  }
}
