/* AES-256-GCM through OpenSSL's EVP interface: measured 2.5x libsodium's
 * AES-256-GCM and 3.5x its ChaCha20-Poly1305 on this project's machines
 * (bench/aead-bench.sh, numbers in README.md). The key schedule is set
 * once per direction; each frame only sets its nonce. */
#include "braidfs/seal.h"

#include <openssl/evp.h>
#include <string.h>

#include "braidfs/bytes.h"

G_DEFINE_QUARK(bf-seal-error-quark, bf_seal_error)

struct BfSeal {
  /* The key lives only in these (OpenSSL cleanses them on free). A
   * direction only seals or only opens; both are ready so that a BfSeal
   * needs no role. */
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  uint64_t counter;      /* the low 64 bits of the 96-bit nonce */
  gboolean broken;
};

BfSeal *
bf_seal_new(const uint8_t key[BF_SEAL_KEY_LEN])
{
  BfSeal *s = g_new0(BfSeal, 1);

  s->enc = EVP_CIPHER_CTX_new();
  s->dec = EVP_CIPHER_CTX_new();
  if (s->enc == NULL || s->dec == NULL ||
      EVP_EncryptInit_ex(s->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(s->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
    g_error("libcrypto cannot set up AES-256-GCM");
  return s;
}

void
bf_seal_free(BfSeal *s)
{
  if (s == NULL)
    return;
  EVP_CIPHER_CTX_free(s->enc);  /* cleanses the key schedule */
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
  g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_LIBRARY,
              "AES-256-GCM %s failed in libcrypto", what);
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

gboolean
bf_seal_frame(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN],
              const BfSlice *parts, unsigned n_parts, uint8_t *out,
              GError **error)
{
  uint8_t nonce[BF_SEAL_NONCE_LEN];
  size_t total = 0, done = 0;
  int n;

  for (unsigned i = 0; i < n_parts; i++)
    total += parts[i].len;
  if (!check_header(s, hdr, total + BF_SEAL_TAG_LEN, error) ||
      !next_nonce(s, nonce, error))
    return FALSE;
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

gboolean
bf_open_frame(BfSeal *s, const uint8_t hdr[BF_HEADER_LEN], uint8_t *body,
              size_t len, GError **error)
{
  uint8_t nonce[BF_SEAL_NONCE_LEN];
  size_t plain;
  int n;

  if (!check_header(s, hdr, len, error) || !next_nonce(s, nonce, error))
    return FALSE;
  plain = len - BF_SEAL_TAG_LEN;
  if (EVP_DecryptInit_ex(s->dec, NULL, NULL, NULL, nonce) != 1 ||
      EVP_DecryptUpdate(s->dec, NULL, &n, hdr, BF_HEADER_LEN) != 1 ||
      (plain > 0 &&
       EVP_DecryptUpdate(s->dec, body, &n, body, (int)plain) != 1) ||
      EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_GCM_SET_TAG, BF_SEAL_TAG_LEN,
                          body + plain) != 1)
    return lib_fail(s, "decryption", error);
  if (EVP_DecryptFinal_ex(s->dec, body + plain, &n) != 1) {
    /* The plaintext is unauthenticated: nobody may use it. */
    OPENSSL_cleanse(body, plain);
    s->broken = TRUE;
    g_set_error(error, BF_SEAL_ERROR, BF_SEAL_ERROR_AUTH,
                "%s frame %" G_GUINT64_FORMAT " failed authentication "
                "(altered, replayed, reordered or cut short on the way)",
                bf_frame_type_str(hdr[4]), s->counter - 1);
    return FALSE;
  }
  return TRUE;
}
