/* The AEAD of sealed frames (seal.h). Two, chosen by the connection's
 * protocol version: AES-256-OCB (version 3) through libgcrypt, whose VAES
 * code seals and opens a 256 KiB body at 11-14 GB/s on this project's
 * machines, about 3 times AES-256-GCM in Debian 12's OpenSSL 3.0, which
 * lacks VAES for GCM (bench/aead-bench.sh, numbers in bench/README.md);
 * AES-256-GCM through OpenSSL (version 2), for peers that speak only that.
 * The key schedule is set once per direction; each frame only sets its
 * nonce. */
#include "braidfs/seal.h"

#include <gcrypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "braidfs/bytes.h"

G_DEFINE_QUARK(bf-seal-error-quark, bf_seal_error)

/* OCB takes its data in whole blocks until the last call. */
#define OCB_BLOCK 16

struct BfSeal {
  BfAead aead;
  /* The key lives only in these (both libraries wipe them on free). A
   * direction only seals or only opens; both are ready so that a BfSeal
   * needs no role. */
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  gcry_cipher_hd_t ocb;
  uint64_t counter;      /* the low 64 bits of the 96-bit nonce */
  gboolean broken;
};

BfAead
bf_aead_for_version(uint8_t version)
{
  return version >= 3 ? BF_AEAD_AES256_OCB : BF_AEAD_AES256_GCM;
}

const char *
bf_aead_name(BfAead aead)
{
  return aead == BF_AEAD_AES256_OCB ? "AES-256-OCB" : "AES-256-GCM";
}

/* libgcrypt must be initialised once per process before any use; nothing
 * else in braidfs uses it, and a library that did first is fine too. */
static void
gcrypt_init(void)
{
  static gsize done;

  if (!g_once_init_enter(&done))
    return;
  if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
    if (gcry_check_version(GCRYPT_VERSION) == NULL)
      g_error("libgcrypt is older than the %s braidfs was built with",
              GCRYPT_VERSION);
    /* Keys live in the cipher handles, wiped on close; secure memory
     * would want mlock limits and warn without them. */
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
  }
  g_once_init_leave(&done, 1);
}

static void
ocb_setup(BfSeal *s, const uint8_t key[BF_SEAL_KEY_LEN])
{
  gcry_error_t e;

  gcrypt_init();
  e = gcry_cipher_open(&s->ocb, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_OCB, 0);
  if (e == 0)
    e = gcry_cipher_setkey(s->ocb, key, BF_SEAL_KEY_LEN);
  if (e != 0)
    g_error("libgcrypt cannot set up AES-256-OCB: %s", gcry_strerror(e));
}

static void
gcm_setup(BfSeal *s, const uint8_t key[BF_SEAL_KEY_LEN])
{
  s->enc = EVP_CIPHER_CTX_new();
  s->dec = EVP_CIPHER_CTX_new();
  if (s->enc == NULL || s->dec == NULL ||
      EVP_EncryptInit_ex(s->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(s->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
    g_error("libcrypto cannot set up AES-256-GCM");
}

BfSeal *
bf_seal_new(BfAead aead, const uint8_t key[BF_SEAL_KEY_LEN])
{
  BfSeal *s = g_new0(BfSeal, 1);

  s->aead = aead;
  if (aead == BF_AEAD_AES256_OCB)
    ocb_setup(s, key);
  else
    gcm_setup(s, key);
  return s;
}

void
bf_seal_free(BfSeal *s)
{
  if (s == NULL)
    return;
  gcry_cipher_close(s->ocb);     /* wipes the key schedule; NULL is fine */
  EVP_CIPHER_CTX_free(s->enc);   /* cleanses the key schedule */
  EVP_CIPHER_CTX_free(s->dec);
  OPENSSL_cleanse(s, sizeof *s);
  g_free(s);
}

uint64_t
bf_seal_counter(const BfSeal *s)
{
  return s->counter;
}

static uint32_t
header_len(const uint8_t hdr[BF_HEADER_LEN])
{
  return bf_load_be32(hdr);
}

gboolean
bf_seal_header(uint8_t hdr[BF_HEADER_LEN])
{
  uint32_t n = header_len(hdr);

  if (n > BF_BODY_MAX - BF_SEAL_TAG_LEN)
    return FALSE;
  n += BF_SEAL_TAG_LEN;
  bf_store_be32(hdr, n);
  hdr[5] |= BF_FLAG_SEALED;
  return TRUE;
}

static gboolean
lib_fail(BfSeal *s, const char *what, GError **error)
{
  s->broken = TRUE;
  g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_LIBRARY, "%s %s failed in %s",
              bf_aead_name(s->aead), what,
              s->aead == BF_AEAD_AES256_OCB ? "libgcrypt" : "libcrypto");
  return FALSE;
}

/* The nonce of the next frame, and the counter moved past it. */
static gboolean
next_nonce(BfSeal *s, uint8_t nonce[BF_SEAL_NONCE_LEN], GError **error)
{
  if (s->broken) {
    g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_AUTH,
                "an earlier frame failed: the stream is out of step");
    return FALSE;
  }
  /* Never reached (2^64 frames), but a wrapped counter would reuse nonces. */
  if (s->counter == G_MAXUINT64) {
    s->broken = TRUE;
    g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_EXHAUSTED,
                "frame counter exhausted: the connection must be renewed");
    return FALSE;
  }
  memset(nonce, 0, 4);
  bf_store_be64(nonce + 4, s->counter);
  s->counter++;
  return TRUE;
}

static gboolean
check_header(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN], size_t len,
             GError **error)
{
  const char *why = NULL;

  if (!(hdr[5] & BF_FLAG_SEALED))
    why = "is not sealed";
  else if (header_len(hdr) != len)
    why = "has a length that disagrees with its body";
  else if (len < BF_SEAL_TAG_LEN)
    why = "is shorter than a tag";
  if (why == NULL)
    return TRUE;
  s->broken = TRUE;
  g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_FORMAT,
              "%s frame of %zu bytes %s (keyed connection)",
              bf_frame_type_str(hdr[4]), len, why);
  return FALSE;
}

static gboolean
gcm_seal(BfSeal *s, const uint8_t *nonce, const uint8_t hdr[BF_HEADER_LEN],
         const BfSlice *parts, unsigned n_parts, uint8_t *out, GError **error)
{
  size_t done = 0;
  int n;

  if (EVP_EncryptInit_ex(s->enc, NULL, NULL, NULL, nonce) != 1 ||
      EVP_EncryptUpdate(s->enc, NULL, &n, hdr, BF_HEADER_LEN) != 1)
    return lib_fail(s, "nonce setup", error);
  for (unsigned i = 0; i < n_parts; i++) {
    /* Every body is far below INT_MAX (BF_BODY_MAX). */
    if (parts[i].len > 0 &&
        EVP_EncryptUpdate(s->enc, out + done, &n, parts[i].data,
                          (int)parts[i].len) != 1)
      return lib_fail(s, "encryption", error);
    done += parts[i].len;
  }
  if (EVP_EncryptFinal_ex(s->enc, out + done, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_GCM_GET_TAG, BF_SEAL_TAG_LEN,
                          out + done) != 1)
    return lib_fail(s, "tag", error);
  return TRUE;
}

/* libgcrypt's OCB takes whole blocks until the call after
 * gcry_cipher_final. So the parts before the last (a frame's fixed fields,
 * a few dozen bytes) and the start of the last, up to a block boundary,
 * are copied to out and sealed there; the rest of the last part (a chunk's
 * payload) is sealed from where it lies, in one call. */
static gboolean
ocb_seal(BfSeal *s, const uint8_t *nonce, const uint8_t hdr[BF_HEADER_LEN],
         const BfSlice *parts, unsigned n_parts, uint8_t *out, GError **error)
{
  const BfSlice *last = &parts[n_parts - 1];
  size_t head = 0, take, rest;

  for (unsigned i = 0; i + 1 < n_parts; i++) {
    memcpy(out + head, parts[i].data, parts[i].len);
    head += parts[i].len;
  }
  take = MIN(last->len, (OCB_BLOCK - head % OCB_BLOCK) % OCB_BLOCK);
  if (take > 0)
    memcpy(out + head, last->data, take);
  head += take;
  rest = last->len - take;
  if (gcry_cipher_setiv(s->ocb, nonce, BF_SEAL_NONCE_LEN) != 0 ||
      gcry_cipher_authenticate(s->ocb, hdr, BF_HEADER_LEN) != 0)
    return lib_fail(s, "nonce setup", error);
  /* With a rest, head is whole blocks (take filled the last one). */
  if (rest > 0 && head > 0 &&
      gcry_cipher_encrypt(s->ocb, out, head, NULL, 0) != 0)
    return lib_fail(s, "encryption", error);
  if (gcry_cipher_final(s->ocb) != 0)
    return lib_fail(s, "encryption", error);
  if (rest == 0) {
    if (gcry_cipher_encrypt(s->ocb, out, head, NULL, 0) != 0)
      return lib_fail(s, "encryption", error);
  } else if (out + head == last->data + take) {   /* sealing in place */
    if (gcry_cipher_encrypt(s->ocb, out + head, rest, NULL, 0) != 0)
      return lib_fail(s, "encryption", error);
  } else if (gcry_cipher_encrypt(s->ocb, out + head, rest, last->data + take,
                                 rest) != 0) {
    return lib_fail(s, "encryption", error);
  }
  if (gcry_cipher_gettag(s->ocb, out + head + rest, BF_SEAL_TAG_LEN) != 0)
    return lib_fail(s, "tag", error);
  return TRUE;
}

gboolean
bf_seal_frame(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN],
              const BfSlice *parts, unsigned n_parts, uint8_t *out,
              GError **error)
{
  uint8_t nonce[BF_SEAL_NONCE_LEN];
  size_t total = 0;

  g_return_val_if_fail(n_parts > 0, FALSE);
  for (unsigned i = 0; i < n_parts; i++)
    total += parts[i].len;
  if (!check_header(s, hdr, total + BF_SEAL_TAG_LEN, error) ||
      !next_nonce(s, nonce, error))
    return FALSE;
  if (s->aead == BF_AEAD_AES256_OCB)
    return ocb_seal(s, nonce, hdr, parts, n_parts, out, error);
  return gcm_seal(s, nonce, hdr, parts, n_parts, out, error);
}

/* FALSE with *lib set if the library failed, else whether the tag
 * verified. */
static gboolean
gcm_open(BfSeal *s, const uint8_t *nonce, const uint8_t hdr[BF_HEADER_LEN],
         uint8_t *body, size_t plain, gboolean *lib)
{
  int n;

  if (EVP_DecryptInit_ex(s->dec, NULL, NULL, NULL, nonce) != 1 ||
      EVP_DecryptUpdate(s->dec, NULL, &n, hdr, BF_HEADER_LEN) != 1 ||
      (plain > 0 &&
       EVP_DecryptUpdate(s->dec, body, &n, body, (int)plain) != 1) ||
      EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, BF_SEAL_TAG_LEN,
                          body + plain) != 1) {
    *lib = TRUE;
    return FALSE;
  }
  return EVP_DecryptFinal_ex(s->dec, body + plain, &n) == 1;
}

static gboolean
ocb_open(BfSeal *s, const uint8_t *nonce, const uint8_t hdr[BF_HEADER_LEN],
         uint8_t *body, size_t plain, gboolean *lib)
{
  gcry_error_t e;

  if (gcry_cipher_setiv(s->ocb, nonce, BF_SEAL_NONCE_LEN) != 0 ||
      gcry_cipher_authenticate(s->ocb, hdr, BF_HEADER_LEN) != 0 ||
      gcry_cipher_final(s->ocb) != 0 ||
      gcry_cipher_decrypt(s->ocb, body, plain, NULL, 0) != 0) {
    *lib = TRUE;
    return FALSE;
  }
  e = gcry_cipher_checktag(s->ocb, body + plain, BF_SEAL_TAG_LEN);
  if (e != 0 && gcry_err_code(e) != GPG_ERR_CHECKSUM)
    *lib = TRUE;
  return e == 0;
}

gboolean
bf_open_frame(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN], uint8_t *body,
              size_t len, GError **error)
{
  uint8_t nonce[BF_SEAL_NONCE_LEN];
  gboolean lib = FALSE, ok;
  size_t plain;

  if (!check_header(s, hdr, len, error) || !next_nonce(s, nonce, error))
    return FALSE;
  plain = len - BF_SEAL_TAG_LEN;
  ok = s->aead == BF_AEAD_AES256_OCB ? ocb_open(s, nonce, hdr, body, plain, &lib)
                                     : gcm_open(s, nonce, hdr, body, plain, &lib);
  if (ok)
    return TRUE;
  /* The plaintext is unauthenticated: nobody may use it. */
  OPENSSL_cleanse(body, plain);
  if (lib)
    return lib_fail(s, "decryption", error);
  s->broken = TRUE;
  g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_AUTH,
              "%s frame %" G_GUINT64_FORMAT " failed authentication "
              "(altered, replayed, reordered or cut short on the way)",
              bf_frame_type_str(hdr[4]), s->counter - 1);
  return FALSE;
}
