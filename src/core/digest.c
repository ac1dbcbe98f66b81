#include "braidfs/digest.h"

#include <blake3.h>
#include <openssl/evp.h>
#include <sodium.h>

/* Each state is a plain struct except OpenSSL's: copying the struct
 * continues the hash (bf_digest_copy, appends). */
struct BfDigest {
  uint8_t alg;
  EVP_MD_CTX *sha;                   /* BF_DIGEST_SHA256 */
  crypto_generichash_state blake;    /* BF_DIGEST_BLAKE2B_256 */
  blake3_hasher b3;                  /* BF_DIGEST_BLAKE3 */
};

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
    blake3_hasher_init(&d->b3);
    break;
  case BF_DIGEST_BLAKE2B_256:
    crypto_generichash_init(&d->blake, NULL, 0, BF_DIGEST_LEN);
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
  sodium_memzero(&d->blake, sizeof d->blake);
  sodium_memzero(&d->b3, sizeof d->b3);
  g_free(d);
}

BfDigest *
bf_digest_copy(const BfDigest *d)
{
  BfDigest *c = g_new0(BfDigest, 1);

  c->alg = d->alg;
  c->blake = d->blake;
  c->b3 = d->b3;
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
    blake3_hasher_update(&d->b3, data, len);
    break;
  case BF_DIGEST_BLAKE2B_256:
    crypto_generichash_update(&d->blake, data, len);
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
    blake3_hasher_finalize(&d->b3, out, BF_DIGEST_LEN);
    break;
  case BF_DIGEST_BLAKE2B_256:
    crypto_generichash_final(&d->blake, out, BF_DIGEST_LEN);
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
