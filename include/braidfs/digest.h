/* The item digest: a cryptographic hash of the whole item, computed by the
 * client while the item leaves and checked by the server before the item
 * becomes visible.
 *
 * BLAKE3 is what the client sends: measured here (256 KiB buffers, the
 * official C implementation with its AVX-512 assembly), ~40-45 us per
 * 256 KiB chunk (~6 GB/s), against ~150 us for OpenSSL's SHA-256 with the
 * CPU's SHA extensions and ~300 us for libsodium's BLAKE2b-256; the hash
 * was the largest CPU cost of a transfer on both sides. `b3sum` prints the
 * same value. The server also verifies SHA-256 (`sha256sum`: what older
 * clients sent, and what their spools record) and BLAKE2b-256
 * (`b2sum -l 256`). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/wire.h"

G_BEGIN_DECLS

typedef struct BfDigest BfDigest;

/* Returns NULL for an algorithm this build does not know. */
BfDigest *bf_digest_new(uint8_t alg);
void bf_digest_free(BfDigest *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfDigest, bf_digest_free)
BfDigest *bf_digest_copy(const BfDigest *d);
uint8_t bf_digest_alg(const BfDigest *d);
void bf_digest_update(BfDigest *d, const void *data, size_t len);
/* Writes the BF_DIGEST_LEN-byte digest; d cannot be updated afterwards. */
void bf_digest_final(BfDigest *d, uint8_t out[BF_DIGEST_LEN]);

/* A BfDigestAlg's name for people ("BLAKE3"), and its tag in the event
 * stream and exec_on_store's BRAIDFS_DIGEST ("blake3"); "unknown" for
 * what bf_digest_alg_known() refuses. */
const char *bf_digest_alg_name(uint8_t alg);
const char *bf_digest_alg_tag(uint8_t alg);

/* Initializes libsodium once; aborts the process if it cannot (no CSPRNG). */
void bf_crypto_init(void);

G_END_DECLS
