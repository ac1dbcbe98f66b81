/* coding-bench: throughput of the share coder (src/core/coding.c, ISA-L
 * GF(2^8) kernels) against a byte-at-a-time log/exp-table baseline written
 * the way libgfshare does it, in the same run, on the same chunks.
 *
 *   coding-bench [-s CHUNK_BYTES] [-t SECONDS_PER_ROUND] [-r ROUNDS]
 *
 * GB/s are of chunk (input) bytes: 10^9 bytes of file data encoded into
 * shares, or rebuilt from shares, per second; the median round is shown.
 * Both sides draw their Shamir coefficients from randombytes_buf, so that
 * cost is in both columns; its own rate is printed as a reference line.
 *
 * THE BASELINE BELOW IS BENCHMARK-ONLY CODE: a table-lookup GF multiply per
 * byte, which the product must never use. Before timing, the baseline and
 * the coder decode each other's shares, which checks both against each
 * other (same field 0x11d, same points x = share_index + 1, same Cauchy
 * matrix). */
#include <isa-l/erasure_code.h>
#include <sodium.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "braidfs/coding.h"
#include "braidfs/digest.h"

#define NMAX BF_CODING_N_MAX

/* ---- baseline: libgfshare-style log/exp tables --------------------------- */

static uint8_t gf_log[256];
static uint8_t gf_exp[510];

static void
base_tables(void)
{
  unsigned x = 1;

  for (unsigned i = 0; i < 255; i++) {
    gf_exp[i] = gf_exp[i + 255] = (uint8_t)x;
    gf_log[x] = (uint8_t)i;
    x <<= 1;
    if (x & 0x100)
      x ^= 0x11d;
  }
}

static uint8_t
base_mul(uint8_t a, uint8_t b)
{
  return a && b ? gf_exp[gf_log[a] + gf_log[b]] : 0;
}

static uint8_t
base_div(uint8_t a, uint8_t b)
{
  return a ? gf_exp[gf_log[a] + 255 - gf_log[b]] : 0;
}

/* dst ^= c * src, one byte at a time (c != 0) */
static void
base_muladd(uint8_t *dst, const uint8_t *src, uint8_t c, size_t len)
{
  unsigned lc = gf_log[c];

  for (size_t i = 0; i < len; i++) {
    uint8_t b = src[i];

    if (b)
      dst[i] ^= gf_exp[gf_log[b] + lc];
  }
}

/* libgfshare's gfshare_ctx_enc_getshare: Horner over the coefficient rows,
 * highest first; rnd holds rows a_1 .. a_(k-1). */
static void
base_shamir_encode(unsigned k, unsigned n, const uint8_t *chunk,
                   uint8_t *rnd, size_t len, uint8_t **shares, gboolean draw)
{
  if (draw)
    randombytes_buf(rnd, (k - 1) * len);
  for (unsigned s = 0; s < n; s++) {
    unsigned lx = gf_log[s + 1];
    uint8_t *sh = shares[s];

    memcpy(sh, k > 1 ? rnd + (k - 2) * len : chunk, len);
    for (int c = (int)k - 3; c >= -1; c--) {
      const uint8_t *coef = c >= 0 ? rnd + (size_t)c * len : chunk;

      for (size_t i = 0; i < len; i++) {
        uint8_t b = sh[i];

        if (b)
          b = gf_exp[lx + gf_log[b]];
        sh[i] = b ^ coef[i];
      }
    }
  }
}

/* libgfshare's gfshare_ctx_dec_extract: Lagrange interpolation at 0. */
static void
base_shamir_decode(unsigned k, const uint8_t *const *shares,
                   const uint8_t *index, size_t len, uint8_t *out)
{
  memset(out, 0, len);
  for (unsigned j = 0; j < k; j++) {
    uint8_t l = 1, xj = (uint8_t)(index[j] + 1);

    for (unsigned m = 0; m < k; m++)
      if (m != j) {
        uint8_t xm = (uint8_t)(index[m] + 1);
        l = base_mul(l, base_div(xm, xm ^ xj));
      }
    base_muladd(out, shares[j], l, len);
  }
}

static void
base_rs_encode(const uint8_t *matrix, unsigned k, unsigned n,
               const uint8_t *chunk, size_t len, uint8_t **shares)
{
  size_t frag = (len + k - 1) / k;

  for (unsigned d = 0; d < k; d++) {
    size_t start = d * frag < len ? d * frag : len;
    size_t avail = len - start < frag ? len - start : frag;

    memcpy(shares[d], chunk + start, avail);
    memset(shares[d] + avail, 0, frag - avail);
  }
  for (unsigned p = k; p < n; p++) {
    memset(shares[p], 0, frag);
    for (unsigned d = 0; d < k; d++)
      base_muladd(shares[p], shares[d], matrix[p * k + d], frag);
  }
}

/* Rebuilds the whole chunk (len a multiple of k: main() sees to it) from k
 * shares. */
static void
base_rs_decode(const uint8_t *matrix, unsigned k, const uint8_t *const *shares,
               const uint8_t *index, size_t len, uint8_t *out)
{
  size_t frag = len / k;
  uint8_t sub[NMAX * NMAX], inv[NMAX * NMAX];

  for (unsigned j = 0; j < k; j++)
    memcpy(sub + j * k, matrix + index[j] * k, k);
  if (gf_invert_matrix(sub, inv, (int)k) != 0)
    abort();
  for (unsigned d = 0; d < k; d++) {
    uint8_t *dst = out + d * frag;
    unsigned j;

    for (j = 0; j < k && index[j] != d; j++)
      ;
    if (j < k) {
      memcpy(dst, shares[j], frag);
      continue;
    }
    memset(dst, 0, frag);
    for (j = 0; j < k; j++)
      if (inv[d * k + j])
        base_muladd(dst, shares[j], inv[d * k + j], frag);
  }
}

/* ---- harness ------------------------------------------------------------- */

typedef struct {
  const char *name;       /* "shamir:2/3" */
  const char *what;       /* "encode", "decode" */
  const char *note;       /* which shares */
  gboolean gf_only;       /* shamir encode without drawing coefficients */
  BfCodingSpec spec;
  uint8_t index[NMAX];    /* decode: shares used */
} Case;

typedef struct {
  BfCoder *coder;
  const Case *cs;
  uint8_t matrix[NMAX * NMAX];  /* rs: the Cauchy matrix (baseline) */
  uint8_t tbls[32 * NMAX * NMAX];  /* shamir gf_only: ISA-L side */
  uint8_t *chunk, *out, *rnd;
  uint8_t *shares[NMAX];
  const uint8_t *sel[NMAX];
  size_t len, share_len;
} Ctx;

static double
now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
run_once(Ctx *x, gboolean base)
{
  const Case *c = x->cs;
  unsigned k = c->spec.k, n = c->spec.n;

  if (c->gf_only) {
    /* what bf_coder_encode does after randombytes_buf */
    if (base) {
      base_shamir_encode(k, n, x->chunk, x->rnd, x->len, x->shares, FALSE);
    } else {
      uint8_t *src[NMAX] = { x->chunk };

      for (unsigned j = 1; j < k; j++)
        src[j] = x->rnd + (j - 1) * x->len;
      ec_encode_data((int)x->len, (int)k, (int)n, x->tbls, src, x->shares);
    }
    return;
  }
  if (strcmp(c->what, "encode") == 0) {
    if (!base)
      bf_coder_encode(x->coder, x->chunk, x->len, x->shares);
    else if (c->spec.kind == BF_CODING_SHAMIR)
      base_shamir_encode(k, n, x->chunk, x->rnd, x->len, x->shares, TRUE);
    else
      base_rs_encode(x->matrix, k, n, x->chunk, x->len, x->shares);
    return;
  }
  if (!base) {
    if (!bf_coder_decode(x->coder, x->sel, c->index, k, x->share_len, x->out,
                         x->len, NULL))
      abort();
  } else if (c->spec.kind == BF_CODING_SHAMIR) {
    base_shamir_decode(k, x->sel, c->index, x->len, x->out);
  } else {
    base_rs_decode(x->matrix, k, x->sel, c->index, x->len, x->out);
  }
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

/* Median over rounds of GB/s, each round repeating the op for secs. */
static double
measure(Ctx *x, gboolean base, double secs, int rounds)
{
  double rate[64];

  for (int w = 0; w < 3; w++)
    run_once(x, base);
  for (int r = 0; r < rounds; r++) {
    double t0 = now(), t;
    long iters = 0;

    do {
      run_once(x, base);
      iters++;
    } while ((t = now() - t0) < secs);
    rate[r] = (double)x->len * iters / t / 1e9;
  }
  qsort(rate, (size_t)rounds, sizeof rate[0], cmp_double);
  return rate[rounds / 2];
}

static void
getrandom_all(uint8_t *buf, size_t len)
{
  for (size_t off = 0; off < len;) {
    ssize_t r = getrandom(buf + off, len - off, 0);

    if (r < 0)
      abort();
    off += (size_t)r;
  }
}

/* Rate of a random source alone, as in measure(). */
static double
measure_random(void (*fill)(uint8_t *, size_t), uint8_t *buf, size_t len,
               double secs, int rounds)
{
  double rate[64];

  for (int r = 0; r < rounds; r++) {
    double t0 = now(), t;
    long iters = 0;

    do {
      fill(buf, len);
      iters++;
    } while ((t = now() - t0) < secs);
    rate[r] = (double)len * iters / t / 1e9;
  }
  qsort(rate, (size_t)rounds, sizeof rate[0], cmp_double);
  return rate[rounds / 2];
}

static void
sodium_fill(uint8_t *buf, size_t len)
{
  randombytes_buf(buf, len);
}

/* Baseline and coder must rebuild each other's shares. */
static void
cross_check(Ctx *x)
{
  const Case *c = x->cs;
  unsigned k = c->spec.k, n = c->spec.n;
  uint8_t all[NMAX];

  for (unsigned i = 0; i < n; i++)
    all[i] = (uint8_t)i;
  /* the last k shares: for rs that forces parity decoding */
  for (unsigned j = 0; j < k; j++)
    x->sel[j] = x->shares[n - k + j];
  const uint8_t *last = all + n - k;

  bf_coder_encode(x->coder, x->chunk, x->len, x->shares);
  memset(x->out, 0, x->len);
  if (c->spec.kind == BF_CODING_SHAMIR)
    base_shamir_decode(k, x->sel, last, x->len, x->out);
  else
    base_rs_decode(x->matrix, k, x->sel, last, x->len, x->out);
  if (memcmp(x->out, x->chunk, x->len) != 0) {
    fprintf(stderr, "%s: baseline cannot decode the coder's shares\n",
            c->name);
    exit(1);
  }
  if (c->spec.kind == BF_CODING_SHAMIR)
    base_shamir_encode(k, n, x->chunk, x->rnd, x->len, x->shares, TRUE);
  else
    base_rs_encode(x->matrix, k, n, x->chunk, x->len, x->shares);
  memset(x->out, 0, x->len);
  if (!bf_coder_decode(x->coder, x->sel, last, k, x->share_len, x->out,
                       x->len, NULL) ||
      memcmp(x->out, x->chunk, x->len) != 0) {
    fprintf(stderr, "%s: coder cannot decode the baseline's shares\n",
            c->name);
    exit(1);
  }
}

static void
ctx_init(Ctx *x, const Case *c, size_t len)
{
  memset(x, 0, sizeof *x);
  x->cs = c;
  x->len = len;
  x->coder = bf_coder_new(&c->spec);
  x->share_len = bf_coding_share_len(&c->spec, len);
  if (c->spec.kind == BF_CODING_RS)
    gf_gen_cauchy1_matrix(x->matrix, c->spec.n, c->spec.k);
  if (c->gf_only) {
    /* the coder's Vandermonde rows, x = i + 1 (see coding.h) */
    for (unsigned i = 0; i < c->spec.n; i++) {
      uint8_t p = 1;

      for (unsigned j = 0; j < c->spec.k; j++, p = gf_mul(p, (uint8_t)(i + 1)))
        x->matrix[i * c->spec.k + j] = p;
    }
    ec_init_tables(c->spec.k, c->spec.n, x->matrix, x->tbls);
  }
  x->chunk = g_malloc(len);
  x->out = g_malloc(len);
  x->rnd = g_malloc(NMAX * len);
  randombytes_buf(x->chunk, len);
  memset(x->out, 0, len);
  memset(x->rnd, 0, NMAX * len);
  for (unsigned i = 0; i < c->spec.n; i++) {
    x->shares[i] = g_malloc(x->share_len);
    memset(x->shares[i], 0, x->share_len);
  }
  bf_coder_encode(x->coder, x->chunk, len, x->shares);  /* warm scratch */
  cross_check(x);
  bf_coder_encode(x->coder, x->chunk, len, x->shares);
  for (unsigned j = 0; j < c->spec.k; j++)
    x->sel[j] = x->shares[c->index[j]];
  if (c->gf_only) {
    /* both sides must produce the same shares from the same coefficients */
    g_autofree uint8_t *ref = g_malloc(x->share_len);
    randombytes_buf(x->rnd, (c->spec.k - 1) * len);
    run_once(x, TRUE);
    memcpy(ref, x->shares[c->spec.n - 1], x->share_len);
    run_once(x, FALSE);
    if (memcmp(ref, x->shares[c->spec.n - 1], x->share_len) != 0) {
      fprintf(stderr, "%s: baseline and ISA-L shares differ\n", c->name);
      exit(1);
    }
  }
}

static void
ctx_clear(Ctx *x)
{
  bf_coder_free(x->coder);
  g_free(x->chunk);
  g_free(x->out);
  g_free(x->rnd);
  for (unsigned i = 0; i < x->cs->spec.n; i++)
    g_free(x->shares[i]);
}

static void
print_header(size_t len, double secs, int rounds)
{
  char model[256] = "?";
  FILE *f = fopen("/proc/cpuinfo", "r");

  if (f != NULL) {
    char line[512];

    while (fgets(line, sizeof line, f) != NULL)
      if (strncmp(line, "model name", 10) == 0) {
        char *p = strchr(line, ':');
        if (p != NULL)
          g_strlcpy(model, g_strstrip(p + 1), sizeof model);
        break;
      }
    fclose(f);
  }
  printf("# coding-bench: %zu-byte chunks, median of %d rounds of %.2f s\n",
         len, rounds, secs);
  printf("# cpu: %s, %ld online; libsodium %s\n", model,
         sysconf(_SC_NPROCESSORS_ONLN), sodium_version_string());
  printf("# GB/s = 10^9 chunk bytes per second, one thread\n\n");
}

int
main(int argc, char **argv)
{
  gint64 chunk = 1024 * 1024;
  double secs = 0.25;
  gint rounds = 5;
  GOptionEntry entries[] = {
    { "size", 's', 0, G_OPTION_ARG_INT64, &chunk, "chunk bytes (1048576)", "N" },
    { "time", 't', 0, G_OPTION_ARG_DOUBLE, &secs, "seconds per round (0.25)", "S" },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "rounds, median shown (5)", "N" },
    { NULL },
  };
  g_autoptr(GOptionContext) oc = g_option_context_new("- share coder throughput");
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries(oc, entries, NULL);
  if (!g_option_context_parse(oc, &argc, &argv, &error)) {
    fprintf(stderr, "coding-bench: %s\n", error->message);
    return 2;
  }
  /* rs:4/6 fragments without padding keep the baseline decoder simple */
  if (chunk < 4 || chunk > 64 * 1024 * 1024 || chunk % 4 != 0) {
    fprintf(stderr, "coding-bench: -s must be a multiple of 4, at most 64 MiB\n");
    return 2;
  }
  if (rounds < 1 || rounds > 63 || secs <= 0) {
    fprintf(stderr, "coding-bench: -r 1..63, -t > 0\n");
    return 2;
  }
  bf_crypto_init();
  base_tables();

  const Case cases[] = {
    { "shamir:2/3", "encode", "all 3 shares", FALSE, { BF_CODING_SHAMIR, 2, 3 }, { 0 } },
    { "shamir:2/3", "encode", "GF part only", TRUE, { BF_CODING_SHAMIR, 2, 3 }, { 0 } },
    { "shamir:2/3", "decode", "shares 1,2", FALSE, { BF_CODING_SHAMIR, 2, 3 }, { 1, 2 } },
    { "shamir:3/5", "encode", "all 5 shares", FALSE, { BF_CODING_SHAMIR, 3, 5 }, { 0 } },
    { "shamir:3/5", "encode", "GF part only", TRUE, { BF_CODING_SHAMIR, 3, 5 }, { 0 } },
    { "shamir:3/5", "decode", "shares 2,3,4", FALSE, { BF_CODING_SHAMIR, 3, 5 }, { 2, 3, 4 } },
    { "rs:4/6", "encode", "4 data + 2 parity", FALSE, { BF_CODING_RS, 4, 6 }, { 0 } },
    { "rs:4/6", "decode", "2 data lost: 2,3,4,5", FALSE, { BF_CODING_RS, 4, 6 }, { 2, 3, 4, 5 } },
    { "rs:4/6", "decode", "no loss: 0,1,2,3", FALSE, { BF_CODING_RS, 4, 6 }, { 0, 1, 2, 3 } },
  };

  print_header((size_t)chunk, secs, rounds);
  printf("| coding | op | shares | ISA-L GB/s | baseline GB/s | ratio |\n");
  printf("|---|---|---|---:|---:|---:|\n");
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    Ctx x;

    ctx_init(&x, &cases[i], (size_t)chunk);
    double fast = measure(&x, FALSE, secs, rounds);
    double slow = measure(&x, TRUE, secs, rounds);
    printf("| %s | %s | %s | %.2f | %.3f | %.1f× |\n", cases[i].name,
           cases[i].what, cases[i].note, fast, slow, fast / slow);
    fflush(stdout);
    ctx_clear(&x);
  }
  g_autofree uint8_t *buf = g_malloc((size_t)chunk);
  printf("\nrandomness (shamir:K/N encode draws K-1 bytes per chunk byte):\n"
         "  randombytes_buf %.2f GB/s (libsodium %s), getrandom(2) in "
         "%zu-byte requests %.2f GB/s\n",
         measure_random(sodium_fill, buf, (size_t)chunk, secs, rounds),
         randombytes_implementation_name(), (size_t)chunk,
         measure_random(getrandom_all, buf, (size_t)chunk, secs, rounds));
  return 0;
}
