/* The proof an ITEM_ACK STORED OK carries of what the server stored
 * (braidfs-protocol(7), ITEM_ACK): the client holds it against the value
 * it computes itself before it forgets a file.
 *
 *   proof = BLAKE2b-256 keyed with K over
 *           "braidfs v1 stored proof" || session_id || item_id (8, BE) ||
 *           size (8, BE) || digest_alg (1) || digest (32)
 *
 * K is the item's own key (a SHAMIR item's secret, BfSecret.key), then
 * K_stored (key.h) of the connection's key (key_file, or the client's own
 * among braidfsd's client_keys), each where there is one, concatenated (32
 * or 64 bytes); with neither the hash is unkeyed, and anyone who saw the
 * ITEM_CLOSE can forge it (it proves nothing against an on-path forger).
 * Pure: no I/O. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/key.h"
#include "braidfs/wire.h"

G_BEGIN_DECLS

/* item_key (BF_ITEM_KEY_LEN bytes) and key may be NULL. */
void bf_stored_proof(uint8_t out[BF_PROOF_LEN], const BfKey *key,
                     const uint8_t *item_key,
                     const uint8_t session_id[BF_ID_LEN], uint64_t item_id,
                     uint64_t size, uint8_t digest_alg,
                     const uint8_t digest[BF_DIGEST_LEN]);

G_END_DECLS
