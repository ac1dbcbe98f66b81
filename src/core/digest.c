#include "braidfs/digest.h"

void
bf_digest_init(BfDigest *d)
{
  crypto_generichash_init(&d->st, NULL, 0, BF_DIGEST_LEN);
}

void
bf_digest_update(BfDigest *d, const void *data, size_t len)
{
  crypto_generichash_update(&d->st, data, len);
}

void
bf_digest_final(BfDigest *d, uint8_t out[BF_DIGEST_LEN])
{
  crypto_generichash_final(&d->st, out, BF_DIGEST_LEN);
}

void
bf_crypto_init(void)
{
  if (sodium_init() < 0)
    g_error("libsodium failed to initialize (no randomness source?)");
}
