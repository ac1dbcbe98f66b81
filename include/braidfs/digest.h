/* The item digest: a cryptographic hash of the whole item, computed by the
 * client while the item leaves and checked by the server before the item
 * becomes visible.
 *
 * SHA-256 through OpenSSL's libcrypto is what the client sends: measured
 * here (1 MiB buffers), it runs at ~1.48 GB/s with the CPU's SHA
 * extensions, against ~0.84 GB/s for libsodium's BLAKE2b-256 and ~0.30 GB/s
 * for libsodium's SHA-256, and the hash is the largest CPU cost of a
 * transfer on both sides. `sha256sum` prints the same value. The server
 * also verifies BLAKE2b-256 (`b2sum -l 256`), for CPUs without SHA
 * instructions. */
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

/* Initializes libsodium once; aborts the process if it cannot (no CSPRNG). */
void bf_crypto_init(void);

G_END_DECLS
