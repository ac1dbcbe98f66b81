/* The pre-shared key (key_file) and what is derived from it.
 *
 * The 32-byte key from the file is never used directly: libsodium's KDF
 * (crypto_kdf_derive_from_key, context "braidfsK") turns it into one key
 * per purpose, so no key serves two. The raw key is wiped once they are
 * derived; the derived keys live in guarded, locked memory (sodium_malloc,
 * read-only after derivation) and are wiped on free.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stddef.h>

G_BEGIN_DECLS

#define BF_KEY_LEN 32

typedef struct {
  uint8_t proof[BF_KEY_LEN];  /* KDF id 1: keys the handshake proofs */
  uint8_t paths[BF_KEY_LEN];  /* KDF id 2: keys each connection's key hash */
  uint8_t stored[BF_KEY_LEN]; /* KDF id 3: keys the proofs of STORED
                                 (proof.h) */
} BfKey;

typedef enum {
  BF_KEY_ERROR_FORMAT,     /* not 32 raw bytes or 64 hex characters */
  BF_KEY_ERROR_MODE,       /* readable or writable by group or others,
                              someone else's, or a symlink */
  BF_KEY_ERROR_IO,
} BfKeyError;

#define BF_KEY_ERROR (bf_key_error_quark())
GQuark bf_key_error_quark(void);

/* Parses the contents of a key file into raw (BF_KEY_LEN bytes): exactly
 * 32 raw bytes, or 64 hex digits optionally followed by one newline.
 * Anything else, and the all-zero key, is refused. Pure: no I/O. */
gboolean bf_key_parse(const uint8_t *data, size_t len,
                      uint8_t raw[BF_KEY_LEN], GError **error);

/* Derives the keys from a raw key (which the caller then wipes). */
BfKey *bf_key_from_raw(const uint8_t raw[BF_KEY_LEN]);
void bf_key_free(BfKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfKey, bf_key_free)

/* src/core/keyfile.c: reads and parses path. Refuses a symlink, a file
 * that is not a regular file (a FIFO without waiting on it), one owned by
 * neither the running user nor root, and one that group or others may
 * read or write (like ssh with private keys: chmod 600 fixes it). */
BfKey *bf_key_load(const char *path, GError **error);
/* Writes BF_KEY_LEN random bytes to a new file path, mode 0600; refuses
 * to replace an existing file. */
gboolean bf_key_generate(const char *path, GError **error);

G_END_DECLS
