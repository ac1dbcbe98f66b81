/* Sealing frames of a keyed connection: AES-256-OCB (RFC 7253, libgcrypt)
 * under protocol version 3, AES-256-GCM (OpenSSL libcrypto) under version
 * 2; one key and one frame counter per direction. Pure: no I/O.
 *
 * A sealed frame on the wire is
 *
 *   header (6 bytes, clear)   length = plain body + BF_SEAL_TAG_LEN,
 *                             type, flags with BF_FLAG_SEALED
 *   ciphertext of the plain body
 *   16-byte tag
 *
 * The nonce is the direction's frame counter (96 bits, big-endian, from 0),
 * never sent: both ends count. The header is the associated data. So a
 * frame that was altered (header or body), replayed, dropped, reordered or
 * cut short fails to open, and the connection is closed. Each direction of
 * each connection has its own key (handshake.h), so a counter value is
 * never used twice under one key.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stddef.h>

#include "braidfs/wire.h"

G_BEGIN_DECLS

#define BF_SEAL_KEY_LEN 32
#define BF_SEAL_TAG_LEN 16
#define BF_SEAL_NONCE_LEN 12

typedef enum {
  BF_SEAL_ERROR_AUTH,      /* the frame did not authenticate */
  BF_SEAL_ERROR_FORMAT,    /* header not sealed, or body shorter than a tag */
  BF_SEAL_ERROR_EXHAUSTED, /* the counter ran out: reconnect */
  BF_SEAL_ERROR_LIBRARY,   /* libgcrypt or libcrypto failed */
} BfSealError;

typedef enum {
  BF_AEAD_AES256_GCM,      /* protocol version 2 */
  BF_AEAD_AES256_OCB,      /* protocol version 3 */
} BfAead;

/* The AEAD of a connection that speaks protocol version. */
BfAead bf_aead_for_version(uint8_t version);
const char *bf_aead_name(BfAead aead);

#define BF_SEAL_ERROR (bf_seal_error_quark())
GQuark bf_seal_error_quark(void);

typedef struct BfSeal BfSeal;

typedef struct {
  const uint8_t *data;
  size_t len;
} BfSlice;

/* One direction: sealing for the sender, opening for the receiver. */
BfSeal *bf_seal_new(BfAead aead, const uint8_t key[BF_SEAL_KEY_LEN]);
void bf_seal_free(BfSeal *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfSeal, bf_seal_free)

/* Rewrites a clear header (length = plain body) into the sealed one
 * (length + BF_SEAL_TAG_LEN, SEALED set). FALSE if it would not fit in
 * BF_BODY_MAX. */
gboolean bf_seal_header(uint8_t hdr[BF_HEADER_LEN]);

/* Seals the next frame: hdr is its sealed header, the plain body is the
 * concatenation of parts, whose total must be the header's length minus
 * BF_SEAL_TAG_LEN. Writes ciphertext and tag (length bytes) to out, which
 * may be the memory of a part only if it is the single part (in place). */
gboolean bf_seal_frame(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN],
                       const BfSlice *parts, unsigned n_parts, uint8_t *out,
                       GError **error);

/* Opens the next frame in place: body holds the len bytes that followed
 * hdr. On success the plain body is body[0, len - BF_SEAL_TAG_LEN). After
 * a failure every later call fails too (the stream is out of step). */
gboolean bf_open_frame(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN],
                       uint8_t *body, size_t len, GError **error);

/* Frames sealed or opened so far (the next counter value). */
uint64_t bf_seal_counter(const BfSeal *s);

G_END_DECLS
