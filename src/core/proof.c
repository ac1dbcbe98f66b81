#include "braidfs/proof.h"

#include <sodium.h>
#include <string.h>

#define PROOF_CONTEXT "braidfs v1 stored proof"

static void
put_be64(uint8_t out[8], uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    out[i] = (uint8_t)v;
}

void
bf_stored_proof(uint8_t out[BF_PROOF_LEN], const BfKey *key,
                const uint8_t *item_key, const uint8_t session_id[BF_ID_LEN],
                uint64_t item_id, uint64_t size, uint8_t digest_alg,
                const uint8_t digest[BF_DIGEST_LEN])
{
  uint8_t k[BF_ITEM_KEY_LEN + BF_KEY_LEN];
  size_t klen = 0;
  uint8_t num[8];
  crypto_generichash_state st;

  G_STATIC_ASSERT(sizeof k <= crypto_generichash_KEYBYTES_MAX);
  if (item_key != NULL) {
    memcpy(k, item_key, BF_ITEM_KEY_LEN);
    klen += BF_ITEM_KEY_LEN;
  }
  if (key != NULL) {
    memcpy(k + klen, key->stored, BF_KEY_LEN);
    klen += BF_KEY_LEN;
  }
  crypto_generichash_init(&st, klen ? k : NULL, klen, BF_PROOF_LEN);
  crypto_generichash_update(&st, (const uint8_t *)PROOF_CONTEXT,
                            sizeof PROOF_CONTEXT - 1);
  crypto_generichash_update(&st, session_id, BF_ID_LEN);
  put_be64(num, item_id);
  crypto_generichash_update(&st, num, sizeof num);
  put_be64(num, size);
  crypto_generichash_update(&st, num, sizeof num);
  crypto_generichash_update(&st, &digest_alg, 1);
  crypto_generichash_update(&st, digest, BF_DIGEST_LEN);
  crypto_generichash_final(&st, out, BF_PROOF_LEN);
  sodium_memzero(k, sizeof k);
  sodium_memzero(&st, sizeof st);
}
