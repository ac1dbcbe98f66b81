#include "braidfs/digest.h"

#include <openssl/evp.h>
#include <sodium.h>

struct BfDigest {
  uint8_t alg;
  EVP_MD_CTX *sha;                   /* BF_DIGEST_SHA256 */
  crypto_generichash_state blake;    /* BF_DIGEST_BLAKE2B_256 */
};

BfDigest *
bf_digest_new(uint8_t alg)
{
  BfDigest *d;

  if (alg != BF_DIGEST_SHA256 && alg != BF_DIGEST_BLAKE2B_256)
    return NULL;
  d = g_new0(BfDigest, 1);
  d->alg = alg;
  if (alg == BF_DIGEST_BLAKE2B_256) {
    crypto_generichash_init(&d->blake, NULL, 0, BF_DIGEST_LEN);
  } else {
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
  g_free(d);
}

BfDigest *
bf_digest_copy(const BfDigest *d)
{
  BfDigest *c = g_new0(BfDigest, 1);

  c->alg = d->alg;
  c->blake = d->blake;
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
  if (d->sha != NULL)
    EVP_DigestUpdate(d->sha, data, len);
  else
    crypto_generichash_update(&d->blake, data, len);
}

void
bf_digest_final(BfDigest *d, uint8_t out[BF_DIGEST_LEN])
{
  unsigned int n = BF_DIGEST_LEN;

  if (d->sha != NULL)
    EVP_DigestFinal_ex(d->sha, out, &n);
  else
    crypto_generichash_final(&d->blake, out, BF_DIGEST_LEN);
}

void
bf_crypto_init(void)
{
  if (sodium_init() < 0)
    g_error("libsodium failed to initialize (no randomness source?)");
}
