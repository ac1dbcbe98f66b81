/* Shamir and Reed–Solomon coding of chunks: every K-subset of N shares
 * rebuilds the chunk, bad share sets are refused, and K-1 Shamir shares are
 * statistically uniform and independent of the secret. */
#include "braidfs/coding.h"

#include <math.h>
#include <string.h>

typedef struct {
  BfCodingSpec spec;
  size_t len, share_len;
  uint8_t *chunk;
  uint8_t *shares[BF_CODING_N_MAX];
  uint8_t *out;
} Fixture;

static void
fixture_init(Fixture *f, const BfCodingSpec *spec, size_t len, uint32_t seed)
{
  memset(f, 0, sizeof *f);
  f->spec = *spec;
  f->len = len;
  f->share_len = bf_coding_share_len(spec, len);
  /* +1: g_malloc(0) is NULL, and the coder never touches a 0-byte chunk */
  f->chunk = g_malloc(len + 1);
  f->out = g_malloc(len + 1);
  for (size_t i = 0; i < len; i++)
    f->chunk[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
  for (unsigned i = 0; i < spec->n; i++)
    f->shares[i] = g_malloc(f->share_len + 1);
}

static void
fixture_clear(Fixture *f)
{
  g_free(f->chunk);
  g_free(f->out);
  for (unsigned i = 0; i < f->spec.n; i++)
    g_free(f->shares[i]);
}

/* Decodes from the shares listed in index and checks the result. */
static void
rebuild(BfCoder *c, Fixture *f, const uint8_t *index, unsigned count)
{
  const uint8_t *sel[BF_CODING_N_MAX];
  g_autoptr(GError) error = NULL;

  for (unsigned j = 0; j < count; j++)
    sel[j] = f->shares[index[j]];
  memset(f->out, 0xee, f->len);
  gboolean ok = bf_coder_decode(c, sel, index, count, f->share_len, f->out,
                                f->len, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
  g_assert_cmpmem(f->out, f->len, f->chunk, f->len);
}

/* Every k-subset of n shares (bitmask with k bits), in ascending and in
 * descending order. */
static void
all_subsets(const BfCodingSpec *spec, size_t len)
{
  g_autoptr(BfCoder) c = bf_coder_new(spec);
  Fixture f;

  fixture_init(&f, spec, len, (uint32_t)(spec->k * 31 + spec->n));
  bf_coder_encode(c, f.chunk, f.len, f.shares);
  for (uint32_t mask = 0; mask < (1u << spec->n); mask++) {
    uint8_t up[BF_CODING_N_MAX], down[BF_CODING_N_MAX];
    unsigned count = 0;

    if ((unsigned)__builtin_popcount(mask) != spec->k)
      continue;
    for (unsigned i = 0; i < spec->n; i++)
      if (mask & (1u << i))
        up[count++] = (uint8_t)i;
    for (unsigned j = 0; j < count; j++)
      down[j] = up[count - 1 - j];
    rebuild(c, &f, up, count);
    rebuild(c, &f, down, count);
  }
  fixture_clear(&f);
}

static void
test_subsets(gconstpointer data)
{
  const uint8_t kind = (uint8_t)GPOINTER_TO_UINT(data);
  static const size_t lens[] = { 0, 1, 2, 7, 255, 4099 };

  for (unsigned n = 2; n <= 8; n++)
    for (unsigned k = 1; k <= n; k++) {
      /* rs k = n: refused by the option parser, allowed on the wire */
      BfCodingSpec spec = { kind, (uint8_t)k, (uint8_t)n };

      for (size_t l = 0; l < G_N_ELEMENTS(lens); l++)
        all_subsets(&spec, lens[l]);
    }
}

static void
test_subsets_large(gconstpointer data)
{
  const uint8_t kind = (uint8_t)GPOINTER_TO_UINT(data);
  /* 256 KiB, and one byte less so that rs pads the last fragment */
  static const size_t lens[] = { 256 * 1024, 256 * 1024 - 1 };
  static const BfCodingSpec specs[] = {
    { 0, 2, 3 }, { 0, 3, 5 }, { 0, 4, 6 }, { 0, 5, 8 }, { 0, 1, 2 },
  };

  for (size_t s = 0; s < G_N_ELEMENTS(specs); s++)
    for (size_t l = 0; l < G_N_ELEMENTS(lens); l++) {
      BfCodingSpec spec = specs[s];

      spec.kind = kind;
      all_subsets(&spec, lens[l]);
    }
}

static void
test_more_than_k(void)
{
  /* Extra shares are checked, then ignored: the first k rebuild. */
  BfCodingSpec specs[] = { { BF_CODING_SHAMIR, 2, 4 }, { BF_CODING_RS, 2, 4 } };

  for (size_t s = 0; s < G_N_ELEMENTS(specs); s++) {
    g_autoptr(BfCoder) c = bf_coder_new(&specs[s]);
    Fixture f;
    static const uint8_t idx[] = { 3, 1, 0, 2 };

    fixture_init(&f, &specs[s], 1000, 7);
    bf_coder_encode(c, f.chunk, f.len, f.shares);
    rebuild(c, &f, idx, 3);
    rebuild(c, &f, idx, 4);
    fixture_clear(&f);
  }
}

static void
expect_refused(BfCoder *c, Fixture *f, const uint8_t *index, unsigned count,
               size_t share_len, size_t chunk_len, int code)
{
  const uint8_t *sel[BF_CODING_N_MAX];
  g_autoptr(GError) error = NULL;

  for (unsigned j = 0; j < count; j++)
    sel[j] = f->shares[index[j] < f->spec.n ? index[j] : 0];
  g_assert_false(bf_coder_decode(c, sel, index, count, share_len, f->out,
                                 chunk_len, &error));
  g_assert_error(error, BF_CODING_ERROR, code);
  g_test_message("refused as expected: %s", error->message);
}

static void
test_refused(void)
{
  const BfCodingSpec specs[] = {
    { BF_CODING_SHAMIR, 3, 5 }, { BF_CODING_RS, 3, 5 },
  };

  for (size_t s = 0; s < G_N_ELEMENTS(specs); s++) {
    g_autoptr(BfCoder) c = bf_coder_new(&specs[s]);
    Fixture f;
    const size_t len = 3001, sl = bf_coding_share_len(&specs[s], len);

    fixture_init(&f, &specs[s], len, 3);
    bf_coder_encode(c, f.chunk, f.len, f.shares);
    /* fewer than k, however valid */
    expect_refused(c, &f, (const uint8_t[]){ 0, 1 }, 2, sl, len,
                   BF_CODING_ERROR_SHARES);
    expect_refused(c, &f, (const uint8_t[]){ 0 }, 0, sl, len,
                   BF_CODING_ERROR_SHARES);
    /* duplicates, including one hiding among more than k */
    expect_refused(c, &f, (const uint8_t[]){ 1, 2, 1 }, 3, sl, len,
                   BF_CODING_ERROR_SHARES);
    expect_refused(c, &f, (const uint8_t[]){ 1, 2, 3, 4, 3 }, 5, sl, len,
                   BF_CODING_ERROR_SHARES);
    /* out of range: n, the wire's 15, anything */
    expect_refused(c, &f, (const uint8_t[]){ 0, 1, 5 }, 3, sl, len,
                   BF_CODING_ERROR_SHARES);
    expect_refused(c, &f, (const uint8_t[]){ 15, 1, 2 }, 3, sl, len,
                   BF_CODING_ERROR_SHARES);
    expect_refused(c, &f, (const uint8_t[]){ 0, 1, 2, 255 }, 4, sl, len,
                   BF_CODING_ERROR_SHARES);
    /* share length that cannot hold the chunk length */
    expect_refused(c, &f, (const uint8_t[]){ 0, 1, 2 }, 3, sl - 1, len,
                   BF_CODING_ERROR_LENGTH);
    expect_refused(c, &f, (const uint8_t[]){ 0, 1, 2 }, 3, sl + 1, len,
                   BF_CODING_ERROR_LENGTH);
    expect_refused(c, &f, (const uint8_t[]){ 0, 1, 2 }, 3, sl, len + 3,
                   BF_CODING_ERROR_LENGTH);
    /* the out buffer was never touched by a refused decode... */
    memset(f.out, 0x5a, len);
    expect_refused(c, &f, (const uint8_t[]){ 4, 4, 0 }, 3, sl, len,
                   BF_CODING_ERROR_SHARES);
    for (size_t i = 0; i < len; i++)
      g_assert_cmpuint(f.out[i], ==, 0x5a);
    /* ...and the coder still works after refusals */
    rebuild(c, &f, (const uint8_t[]){ 4, 0, 2 }, 3);
    fixture_clear(&f);
  }
}

static void
test_systematic(void)
{
  /* rs data shares are the chunk's slices, zero-padded */
  BfCodingSpec rs = { BF_CODING_RS, 4, 6 };
  g_autoptr(BfCoder) c = bf_coder_new(&rs);
  Fixture f;

  fixture_init(&f, &rs, 4 * 100 - 3, 11);
  g_assert_cmpuint(f.share_len, ==, 100);
  g_assert_cmpuint(bf_coding_pad(&rs, f.len), ==, 3);
  bf_coder_encode(c, f.chunk, f.len, f.shares);
  for (unsigned d = 0; d < 3; d++)
    g_assert_cmpmem(f.shares[d], 100, f.chunk + d * 100, 100);
  g_assert_cmpmem(f.shares[3], 97, f.chunk + 300, 97);
  for (unsigned i = 97; i < 100; i++)
    g_assert_cmpuint(f.shares[3][i], ==, 0);
  fixture_clear(&f);

  /* shamir k = 1: every share is the plaintext (documented: no secrecy) */
  BfCodingSpec s1 = { BF_CODING_SHAMIR, 1, 3 };
  g_autoptr(BfCoder) c1 = bf_coder_new(&s1);
  fixture_init(&f, &s1, 777, 5);
  bf_coder_encode(c1, f.chunk, f.len, f.shares);
  for (unsigned i = 0; i < 3; i++)
    g_assert_cmpmem(f.shares[i], f.len, f.chunk, f.len);
  fixture_clear(&f);
}

static void
test_fresh_randomness(void)
{
  /* Two encodings of one chunk share no coefficients: every share differs
   * (equal 64-byte shares by chance: 2^-512), and neither is the chunk. */
  BfCodingSpec spec = { BF_CODING_SHAMIR, 2, 3 };
  g_autoptr(BfCoder) c = bf_coder_new(&spec);
  Fixture a, b;

  fixture_init(&a, &spec, 64, 1);
  fixture_init(&b, &spec, 64, 1);
  bf_coder_encode(c, a.chunk, a.len, a.shares);
  bf_coder_encode(c, b.chunk, b.len, b.shares);
  for (unsigned i = 0; i < 3; i++) {
    g_assert_true(memcmp(a.shares[i], b.shares[i], 64) != 0);
    g_assert_true(memcmp(a.shares[i], a.chunk, 64) != 0);
  }
  fixture_clear(&a);
  fixture_clear(&b);
}

static void
parse_ok(const char *text, uint8_t kind, uint8_t k, uint8_t n)
{
  BfCodingSpec s;
  g_autoptr(GError) error = NULL;

  g_assert_true(bf_coding_parse(text, &s, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(s.kind, ==, kind);
  g_assert_cmpuint(s.k, ==, k);
  g_assert_cmpuint(s.n, ==, n);
  g_assert_true(bf_coding_check(&s, NULL));
  g_assert_cmpstr(bf_coding_str(&s), ==, text);
}

static void
parse_bad(const char *text, const char *fragment)
{
  BfCodingSpec s;
  g_autoptr(GError) error = NULL;

  g_assert_false(bf_coding_parse(text, &s, &error));
  g_assert_error(error, BF_CODING_ERROR, BF_CODING_ERROR_PARSE);
  g_assert_nonnull(strstr(error->message, fragment));
}

static void
test_parse(void)
{
  parse_ok("stripe", BF_CODING_STRIPE, 1, 1);
  parse_ok("shamir:2/3", BF_CODING_SHAMIR, 2, 3);
  parse_ok("shamir:1/2", BF_CODING_SHAMIR, 1, 2);
  parse_ok("shamir:16/16", BF_CODING_SHAMIR, 16, 16);
  parse_ok("rs:4/6", BF_CODING_RS, 4, 6);
  parse_ok("rs:1/16", BF_CODING_RS, 1, 16);
  parse_ok("rs:15/16", BF_CODING_RS, 15, 16);

  const char *usage = "expected stripe, shamir:K/N or rs:K/N";
  parse_bad("", usage);
  parse_bad("Stripe", usage);
  parse_bad("shamir", usage);
  parse_bad("shamir:", usage);
  parse_bad("shamir:2", usage);
  parse_bad("shamir:2/", usage);
  parse_bad("shamir:/3", usage);
  parse_bad("shamir:2/3/4", usage);
  parse_bad("shamir:+2/3", usage);
  parse_bad("shamir:2/3 ", usage);
  parse_bad("shamir: 2/3", usage);
  parse_bad("shamir:0x2/3", usage);
  parse_bad("shamir:002/3", usage);
  parse_bad("xor:2/3", usage);
  parse_bad("rs:2:3", usage);
  parse_bad("shamir:2/1", "N must be between 2 and 16");
  parse_bad("shamir:2/17", "N must be between 2 and 16");
  parse_bad("shamir:1/1", "N must be between 2 and 16");
  parse_bad("shamir:0/3", "K must be between 1 and N");
  parse_bad("shamir:4/3", "K must be between 1 and N");
  parse_bad("rs:3/3", "rs needs K below N");

  /* The wire's rules: rs k = n is valid there. */
  g_assert_true(bf_coding_check(&(BfCodingSpec){ BF_CODING_RS, 3, 3 }, NULL));
  g_assert_false(bf_coding_check(&(BfCodingSpec){ BF_CODING_STRIPE, 1, 2 }, NULL));
  g_assert_false(bf_coding_check(&(BfCodingSpec){ BF_CODING_SHAMIR, 0, 2 }, NULL));
  g_assert_false(bf_coding_check(&(BfCodingSpec){ BF_CODING_SHAMIR, 3, 2 }, NULL));
  g_assert_false(bf_coding_check(&(BfCodingSpec){ BF_CODING_RS, 1, 17 }, NULL));
  g_assert_false(bf_coding_check(&(BfCodingSpec){ 3, 1, 2 }, NULL));
}

static void
test_lengths(void)
{
  BfCodingSpec rs = { BF_CODING_RS, 5, 7 }, sh = { BF_CODING_SHAMIR, 5, 7 };
  size_t len;
  g_autoptr(GError) error = NULL;

  for (size_t l = 0; l < 200; l++) {
    uint8_t pad = bf_coding_pad(&rs, l);

    g_assert_cmpuint(pad, <, 5);
    g_assert_true(bf_coding_chunk_len(&rs, bf_coding_share_len(&rs, l), pad,
                                      &len, NULL));
    g_assert_cmpuint(len, ==, l);
    g_assert_cmpuint(bf_coding_pad(&sh, l), ==, 0);
    g_assert_cmpuint(bf_coding_share_len(&sh, l), ==, l);
  }
  g_assert_false(bf_coding_chunk_len(&rs, 10, 5, &len, &error));
  g_assert_error(error, BF_CODING_ERROR, BF_CODING_ERROR_LENGTH);
  g_clear_error(&error);
  g_assert_false(bf_coding_chunk_len(&sh, 10, 1, &len, &error));
  g_assert_error(error, BF_CODING_ERROR, BF_CODING_ERROR_LENGTH);
  g_clear_error(&error);
  g_assert_false(bf_coding_chunk_len(&rs, 0, 1, &len, &error));
  g_assert_error(error, BF_CODING_ERROR, BF_CODING_ERROR_LENGTH);
}

/* ---- statistics ----------------------------------------------------------
 *
 * Each comparison below runs at a false-positive probability of 1e-6
 * (eight of them: a spurious failure about once in 125 000 runs), so a
 * failure means a real bias, not bad luck. The critical value of chi-square with df
 * degrees of freedom at upper tail p is the Wilson–Hilferty approximation
 *   df * (1 - 2/(9 df) + z * sqrt(2/(9 df)))^3,  z = 4.7534 for p = 1e-6,
 * accurate to a fraction of a percent for df >= 255 (the smallest used);
 * the statistic of a real bias exceeds it by orders of magnitude (see the
 * control test). Every cell expects at least 20 samples, where the
 * chi-square distribution of the statistic is a good approximation. */

static double
chi2_critical(double df)
{
  const double z = 4.7534;
  double h = 2.0 / (9.0 * df);
  double t = 1.0 - h + z * sqrt(h);

  return df * t * t * t;
}

/* Shares take[0..ntake) of `trials` encodings of a chunk of `len` bytes
 * all equal to `secret` (a byte of a share depends only on its own
 * column's coefficients, so every byte position is an independent sample);
 * counts[] gets one count per byte position for the joint value of the
 * taken shares (cell = s0 | s1 << 8). */
static void
sample(const BfCodingSpec *spec, uint8_t secret, const uint8_t *take,
       unsigned ntake, size_t len, unsigned trials, uint32_t *counts)
{
  g_autoptr(BfCoder) c = bf_coder_new(spec);
  Fixture f;

  fixture_init(&f, spec, len, 0);
  memset(f.chunk, secret, len);
  for (unsigned t = 0; t < trials; t++) {
    bf_coder_encode(c, f.chunk, len, f.shares);
    for (size_t b = 0; b < len; b++) {
      uint32_t cell = 0;

      for (unsigned j = 0; j < ntake; j++)
        cell |= (uint32_t)f.shares[take[j]][b] << (8 * j);
      counts[cell]++;
    }
  }
  fixture_clear(&f);
}

/* Goodness of fit of counts[0..cells) to the uniform distribution. */
static double
chi2_uniform(const uint32_t *counts, size_t cells)
{
  double total = 0, stat = 0;

  for (size_t i = 0; i < cells; i++)
    total += counts[i];
  double e = total / (double)cells;
  for (size_t i = 0; i < cells; i++)
    stat += (counts[i] - e) * (counts[i] - e) / e;
  return stat;
}

/* Two samples of equal size from the same distribution? (Chi-square test
 * of homogeneity; df = occupied cells - 1.) */
static double
chi2_two_sample(const uint32_t *a, const uint32_t *b, size_t cells,
                double *df)
{
  double stat = 0;
  size_t used = 0;

  for (size_t i = 0; i < cells; i++) {
    double s = (double)a[i] + b[i], d = (double)a[i] - b[i];

    if (s > 0) {
      stat += d * d / s;
      used++;
    }
  }
  *df = (double)used - 1;
  return stat;
}

static void
test_uniform_one_share(void)
{
  /* shamir:2/3, one share, fixed secrets 0x00 and 0xff: 256 cells,
   * 64 Ki samples (256 expected per cell). */
  const BfCodingSpec spec = { BF_CODING_SHAMIR, 2, 3 };
  static const uint8_t secrets[] = { 0x00, 0xff };

  for (size_t s = 0; s < G_N_ELEMENTS(secrets); s++)
    for (uint8_t share = 0; share < 3; share++) {
      g_autofree uint32_t *counts = g_new0(uint32_t, 256);

      sample(&spec, secrets[s], &share, 1, 4096, 16, counts);
      double stat = chi2_uniform(counts, 256);
      g_test_message("secret %#x share %u: chi2 %.1f (critical %.1f)",
                     secrets[s], share, stat, chi2_critical(255));
      g_assert_cmpfloat(stat, <, chi2_critical(255));
    }
}

static void
test_uniform_two_shares(void)
{
  /* shamir:3/5, shares 1 and 4 jointly, fixed secret: 65536 cells,
   * 1.5 Mi samples (24 expected per cell). */
  const BfCodingSpec spec = { BF_CODING_SHAMIR, 3, 5 };
  static const uint8_t take[] = { 1, 4 };
  g_autofree uint32_t *counts = g_new0(uint32_t, 65536);

  sample(&spec, 0x5a, take, 2, 64 * 1024, 24, counts);
  double stat = chi2_uniform(counts, 65536);
  g_test_message("chi2 %.1f (critical %.1f)", stat, chi2_critical(65535));
  g_assert_cmpfloat(stat, <, chi2_critical(65535));
}

static void
test_same_whatever_the_secret(void)
{
  /* shamir:3/5, shares 0 and 2 jointly, for secrets 0x00 and 0xa5: the
   * two joint distributions are the same. */
  const BfCodingSpec spec = { BF_CODING_SHAMIR, 3, 5 };
  static const uint8_t take[] = { 0, 2 };
  g_autofree uint32_t *a = g_new0(uint32_t, 65536);
  g_autofree uint32_t *b = g_new0(uint32_t, 65536);
  double df;

  sample(&spec, 0x00, take, 2, 64 * 1024, 24, a);
  sample(&spec, 0xa5, take, 2, 64 * 1024, 24, b);
  double stat = chi2_two_sample(a, b, 65536, &df);
  g_test_message("chi2 %.1f, df %.0f (critical %.1f)", stat, df,
                 chi2_critical(df));
  g_assert_cmpfloat(df, >, 65000);
  g_assert_cmpfloat(stat, <, chi2_critical(df));
}

static void
test_k_shares_are_not_uniform(void)
{
  /* The control: the same statistics on K shares (which do determine the
   * secret) must fail, or the tests above prove nothing. shamir:2/3 with
   * shares 0 and 1: for a fixed secret only 256 of the 65536 joint values
   * occur, and they differ between secrets. */
  const BfCodingSpec spec = { BF_CODING_SHAMIR, 2, 3 };
  static const uint8_t take[] = { 0, 1 };
  g_autofree uint32_t *a = g_new0(uint32_t, 65536);
  g_autofree uint32_t *b = g_new0(uint32_t, 65536);
  double df;

  sample(&spec, 0x00, take, 2, 64 * 1024, 24, a);
  sample(&spec, 0xa5, take, 2, 64 * 1024, 24, b);
  double stat = chi2_uniform(a, 65536);
  g_test_message("uniform: chi2 %.3g (critical %.1f)", stat,
                 chi2_critical(65535));
  g_assert_cmpfloat(stat, >, 100 * chi2_critical(65535));
  stat = chi2_two_sample(a, b, 65536, &df);
  g_test_message("two-sample: chi2 %.3g, df %.0f (critical %.1f)", stat, df,
                 chi2_critical(df));
  g_assert_cmpfloat(stat, >, 100 * chi2_critical(df));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/coding/parse", test_parse);
  g_test_add_func("/coding/lengths", test_lengths);
  g_test_add_data_func("/coding/shamir/subsets",
                       GUINT_TO_POINTER(BF_CODING_SHAMIR), test_subsets);
  g_test_add_data_func("/coding/rs/subsets", GUINT_TO_POINTER(BF_CODING_RS),
                       test_subsets);
  g_test_add_data_func("/coding/shamir/subsets-256k",
                       GUINT_TO_POINTER(BF_CODING_SHAMIR), test_subsets_large);
  g_test_add_data_func("/coding/rs/subsets-256k",
                       GUINT_TO_POINTER(BF_CODING_RS), test_subsets_large);
  g_test_add_func("/coding/more-than-k", test_more_than_k);
  g_test_add_func("/coding/refused", test_refused);
  g_test_add_func("/coding/systematic", test_systematic);
  g_test_add_func("/coding/fresh-randomness", test_fresh_randomness);
  g_test_add_func("/coding/shamir/uniform-one-share", test_uniform_one_share);
  g_test_add_func("/coding/shamir/uniform-two-shares", test_uniform_two_shares);
  g_test_add_func("/coding/shamir/same-whatever-the-secret",
                  test_same_whatever_the_secret);
  g_test_add_func("/coding/shamir/control-k-shares",
                  test_k_shares_are_not_uniform);
  return g_test_run();
}
