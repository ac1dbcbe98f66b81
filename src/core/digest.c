#include "braidfs/digest.h"

#include <blake3.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>

/* SHA-256 lives in OpenSSL's context; BLAKE2b and BLAKE3 in st, a plain
 * struct that a byte copy continues (bf_digest_copy, appends). A copy of a
 * BLAKE3 state keeps only its live part (the chaining values on its stack,
 * 32 bytes per level of the tree so far) and grows back to the whole
 * struct when it is fed: the client keeps one per delivered file for a
 * later append, and the whole struct is 1912 bytes. */
struct BfDigest {
  uint8_t alg;
  EVP_MD_CTX *sha;              /* BF_DIGEST_SHA256 */
  void *st;                     /* BLAKE2b: crypto_generichash_state;
                                   BLAKE3: blake3_hasher, maybe compact */
  size_t st_len;                /* bytes of st */
};

/* The bytes of a BLAKE3 state that hold something: what precedes its
 * stack of chaining values, and the values on it. */
static size_t
b3_live(const blake3_hasher *h)
{
  return offsetof(blake3_hasher, cv_stack) +
         (size_t)h->cv_stack_len * BLAKE3_OUT_LEN;
}

/* libsodium declares its state 64-byte aligned. */
static void *
st_alloc(uint8_t alg, size_t len)
{
  return g_aligned_alloc(1, len, alg == BF_DIGEST_BLAKE2B_256 ? 64 : 16);
}

static void
b3_whole(BfDigest *d)
{
  if (d->st_len < sizeof(blake3_hasher)) {
    void *st = st_alloc(BF_DIGEST_BLAKE3, sizeof(blake3_hasher));
    memcpy(st, d->st, d->st_len);
    sodium_memzero(d->st, d->st_len);
    g_aligned_free(d->st);
    d->st = st;
    d->st_len = sizeof(blake3_hasher);
  }
}

BfDigest *
bf_digest_new(uint8_t alg)
{
  BfDigest *d;

  if (!bf_digest_alg_known(alg))
    return NULL;
  d = g_new0(BfDigest, 1);
  d->alg = alg;
  switch (alg) {
  case BF_DIGEST_BLAKE3:
    d->st_len = sizeof(blake3_hasher);
    d->st = st_alloc(alg, d->st_len);
    blake3_hasher_init(d->st);
    break;
  case BF_DIGEST_BLAKE2B_256:
    d->st_len = sizeof(crypto_generichash_state);
    d->st = st_alloc(alg, d->st_len);
    crypto_generichash_init(d->st, NULL, 0, BF_DIGEST_LEN);
    break;
  default:
    d->sha = EVP_MD_CTX_new();
    if (d->sha == NULL || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1)
      g_error("OpenSSL cannot initialize SHA-256");
  }
  return d;
}

void
bf_digest_free(BfDigest *d)
{
  if (d == NULL)
    return;
  EVP_MD_CTX_free(d->sha);
  if (d->st != NULL) {
    sodium_memzero(d->st, d->st_len);
    g_aligned_free(d->st);
  }
  g_free(d);
}

BfDigest *
bf_digest_copy(const BfDigest *d)
{
  BfDigest *c = g_new0(BfDigest, 1);

  c->alg = d->alg;
  if (d->st != NULL) {
    c->st_len = d->alg == BF_DIGEST_BLAKE3 ? b3_live(d->st) : d->st_len;
    c->st = st_alloc(d->alg, c->st_len);
    memcpy(c->st, d->st, c->st_len);
  }
  if (d->sha != NULL) {
    c->sha = EVP_MD_CTX_new();
    if (c->sha == NULL || EVP_MD_CTX_copy_ex(c->sha, d->sha) != 1)
      g_error("OpenSSL cannot copy a SHA-256 state");
  }
  return c;
}

uint8_t
bf_digest_alg(const BfDigest *d)
{
  return d->alg;
}

void
bf_digest_update(BfDigest *d, const void *data, size_t len)
{
  switch (d->alg) {
  case BF_DIGEST_BLAKE3:
    b3_whole(d);
    blake3_hasher_update(d->st, data, len);
    break;
  case BF_DIGEST_BLAKE2B_256:
    crypto_generichash_update(d->st, data, len);
    break;
  default:
    EVP_DigestUpdate(d->sha, data, len);
  }
}

void
bf_digest_final(BfDigest *d, uint8_t out[BF_DIGEST_LEN])
{
  unsigned int n = BF_DIGEST_LEN;

  switch (d->alg) {
  case BF_DIGEST_BLAKE3:
    b3_whole(d);
    blake3_hasher_finalize(d->st, out, BF_DIGEST_LEN);
    break;
  case BF_DIGEST_BLAKE2B_256:
    crypto_generichash_final(d->st, out, BF_DIGEST_LEN);
    break;
  default:
    EVP_DigestFinal_ex(d->sha, out, &n);
  }
}

const char *
bf_digest_alg_name(uint8_t alg)
{
  switch (alg) {
  case BF_DIGEST_BLAKE3:
    return "BLAKE3";
  case BF_DIGEST_SHA256:
    return "SHA-256";
  case BF_DIGEST_BLAKE2B_256:
    return "BLAKE2b-256";
  default:
    return "unknown";
  }
}

const char *
bf_digest_alg_tag(uint8_t alg)
{
  switch (alg) {
  case BF_DIGEST_BLAKE3:
    return "blake3";
  case BF_DIGEST_SHA256:
    return "sha256";
  case BF_DIGEST_BLAKE2B_256:
    return "blake2b256";
  default:
    return "unknown";
  }
}

void
bf_crypto_init(void)
{
  if (sodium_init() < 0)
    g_error("libsodium failed to initialize (no randomness source?)");
}
