/* The key handshake of a keyed connection (key_file): a pure state machine,
 * fed the peer's AUTH frames and producing ours and the connection's keys.
 * No I/O, so it is unit tested and fuzzed alone.
 *
 * After the prefaces, before HELLO (man/braidfs-protocol.7, KEYED
 * CONNECTIONS):
 *
 *   client -> server   AUTH 1  nonce_c  (32 random bytes)
 *   server -> client   AUTH 2  nonce_s  (32 random bytes)
 *   client -> server   AUTH 3  proof_c = BLAKE2b-256 keyed with K_proof over
 *                              "braidfs v1 client proof" || nonce_c || nonce_s
 *                      then every client frame is sealed (HELLO first)
 *   server -> client   AUTH 4  proof_s, the same with "braidfs v1 server proof"
 *                      then every server frame is sealed (WELCOME first)
 *
 * K_proof and K_paths come from the pre-shared key through the KDF
 * (key.h). Once both nonces are known:
 *   master = BLAKE2b-256 keyed with K_paths over
 *            "braidfs v1 path keys" || nonce_c || nonce_s
 *   client->server key = crypto_kdf_derive_from_key(32, 3, "braidfsP", master)
 *   server->client key = crypto_kdf_derive_from_key(32, 4, "braidfsP", master)
 * (subkey ids 1 and 2 under protocol version 2, whose AEAD is AES-GCM).
 * Fresh nonces from both sides make every connection's keys new, so the
 * frame counters (seal.h) never repeat a nonce under one key.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/key.h"
#include "braidfs/seal.h"
#include "braidfs/wire.h"

G_BEGIN_DECLS

typedef enum {
  BF_HS_CLIENT,
  BF_HS_SERVER,
} BfHsRole;

typedef enum {
  BF_HS_ERROR_SEQUENCE,  /* an AUTH step out of order, or a bad nonce */
  BF_HS_ERROR_PROOF,     /* the peer's proof does not match our key */
} BfHsError;

#define BF_HS_ERROR (bf_hs_error_quark())
GQuark bf_hs_error_quark(void);

typedef struct BfHandshake BfHandshake;

/* key is borrowed and must outlive the handshake. nonce: our nonce, or
 * NULL for a random one (tests and fuzzing pass their own). */
BfHandshake *bf_handshake_new(BfHsRole role, const BfKey *key,
                              const uint8_t *nonce);
/* A server that accepts any of n_keys keys (one per client: braidfsd's
 * client_keys). The client's proof (AUTH 3) is checked against each of
 * them, all of them every time, so the time taken does not tell which
 * matched; nothing on the wire names a key. keys (the array and the keys)
 * are borrowed. */
BfHandshake *bf_handshake_new_server(const BfKey *const *keys, guint n_keys,
                                     const uint8_t *nonce);
/* Server, once done: the index in keys of the key the client proved. */
guint bf_handshake_key_index(const BfHandshake *hs);
/* The AEAD of the connection's sealed frames, from the protocol version
 * both ends speak on it (bf_aead_for_version); by default this build's
 * version's. Before the keys are derived (the peer's nonce fed). */
void bf_handshake_set_aead(BfHandshake *hs, BfAead aead);
void bf_handshake_free(BfHandshake *hs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfHandshake, bf_handshake_free)

/* Client: the first AUTH to send (step 1). */
void bf_handshake_start(BfHandshake *hs, BfAuth *out);

/* Feeds the peer's AUTH. On success *send is TRUE when *out must be sent
 * next. Any failure is final: the connection is to be closed. */
gboolean bf_handshake_feed(BfHandshake *hs, const BfAuth *in, BfAuth *out,
                           gboolean *send, GError **error);

/* The sealers exist: the client's once both nonces are known (it seals
 * HELLO right after AUTH 3, before the server's proof has arrived; no one
 * without the key can open it), the server's once the client's proof
 * told which key it holds (AUTH 3). */
gboolean bf_handshake_keys_ready(const BfHandshake *hs);
/* The peer proved it holds the key. */
gboolean bf_handshake_done(const BfHandshake *hs);

/* The sealer of this side's sending (tx) or receiving direction, to be
 * owned by the caller; NULL before keys_ready or when already taken. */
BfSeal *bf_handshake_take_seal(BfHandshake *hs, gboolean tx);

G_END_DECLS
