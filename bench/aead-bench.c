/* aead-bench: throughput of the AEAD candidates for sealing braidfs frames,
 * on the body sizes the wire carries (a 256 KiB chunk, a 4 KiB chunk).
 *
 * seal: a buffer is sealed in place again and again with a new counter
 * nonce each time, as a frame is: set the nonce, 6 bytes of associated data
 * (the frame header), the body, the 16-byte tag.
 * open: one sealed buffer is verified and decrypted again and again into a
 * second buffer (the ciphertext stays intact, so every open succeeds).
 * Each cell runs for SECONDS and reports MB/s (10^6 bytes of body per
 * second), one thread.
 *
 * usage: aead-bench [SECONDS per cell, default 1]
 */
#include <gcrypt.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AD_LEN 6
#define TAG_LEN 16

typedef struct {
  const char *name;
  int (*available)(void);
  /* buf[0, len) is encrypted in place, the tag written at buf + len */
  int (*seal)(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf,
              size_t len);
  /* in = ciphertext || tag, out = plaintext; 0 when the tag verifies */
  int (*open)(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
              size_t len, uint8_t *out);
} Aead;

static uint8_t key[32];
static EVP_CIPHER_CTX *ossl_enc, *ossl_dec, *ocb_enc, *ocb_dec;
static gcry_cipher_hd_t gc_ocb, gc_gcm;
static crypto_aead_aes256gcm_state *sod_aes;

static int always(void) { return 1; }

/* OpenSSL: the key schedule is set once per context; each frame only sets
 * the nonce, as braidfs does. */
static int
ossl_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf, size_t len)
{
  int n;

  if (EVP_EncryptInit_ex(ossl_enc, NULL, NULL, NULL, nonce) != 1 ||
      EVP_EncryptUpdate(ossl_enc, NULL, &n, ad, AD_LEN) != 1 ||
      EVP_EncryptUpdate(ossl_enc, buf, &n, buf, (int)len) != 1 ||
      EVP_EncryptFinal_ex(ossl_enc, buf + len, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ossl_enc, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
                          buf + len) != 1)
    return -1;
  return 0;
}

static int
ossl_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
          size_t len, uint8_t *out)
{
  int n;

  if (EVP_DecryptInit_ex(ossl_dec, NULL, NULL, NULL, nonce) != 1 ||
      EVP_DecryptUpdate(ossl_dec, NULL, &n, ad, AD_LEN) != 1 ||
      EVP_DecryptUpdate(ossl_dec, out, &n, in, (int)len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ossl_dec, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                          (void *)(in + len)) != 1 ||
      EVP_DecryptFinal_ex(ossl_dec, out + len, &n) != 1)
    return -1;
  return 0;
}

/* OpenSSL's EVP interface is the same for OCB; only the contexts differ. */
static int
ossl_ocb_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf,
              size_t len)
{
  int n;

  if (EVP_EncryptInit_ex(ocb_enc, NULL, NULL, NULL, nonce) != 1 ||
      EVP_EncryptUpdate(ocb_enc, NULL, &n, ad, AD_LEN) != 1 ||
      EVP_EncryptUpdate(ocb_enc, buf, &n, buf, (int)len) != 1 ||
      EVP_EncryptFinal_ex(ocb_enc, buf + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ocb_enc, EVP_CTRL_AEAD_GET_TAG, TAG_LEN,
                          buf + len) != 1)
    return -1;
  return 0;
}

static int
ossl_ocb_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
              size_t len, uint8_t *out)
{
  int n;

  if (EVP_DecryptInit_ex(ocb_dec, NULL, NULL, NULL, nonce) != 1 ||
      EVP_DecryptUpdate(ocb_dec, NULL, &n, ad, AD_LEN) != 1 ||
      EVP_DecryptUpdate(ocb_dec, out, &n, in, (int)len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ocb_dec, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
                          (void *)(in + len)) != 1 ||
      EVP_DecryptFinal_ex(ocb_dec, out + n, &n) != 1)
    return -1;
  return 0;
}

/* libgcrypt, one handle per mode, the key set once; for OCB the body goes
 * in one call after gcry_cipher_final (src/core/seal.c does the same). */
static int
gc_seal(gcry_cipher_hd_t h, int ocb, const uint8_t *nonce,
        const uint8_t *ad, uint8_t *buf, size_t len)
{
  if (gcry_cipher_setiv(h, nonce, 12) != 0 ||
      gcry_cipher_authenticate(h, ad, AD_LEN) != 0 ||
      (ocb && gcry_cipher_final(h) != 0) ||
      gcry_cipher_encrypt(h, buf, len, NULL, 0) != 0 ||
      gcry_cipher_gettag(h, buf + len, TAG_LEN) != 0)
    return -1;
  return 0;
}

static int
gc_open(gcry_cipher_hd_t h, int ocb, const uint8_t *nonce,
        const uint8_t *ad, const uint8_t *in, size_t len, uint8_t *out)
{
  if (gcry_cipher_setiv(h, nonce, 12) != 0 ||
      gcry_cipher_authenticate(h, ad, AD_LEN) != 0 ||
      (ocb && gcry_cipher_final(h) != 0) ||
      gcry_cipher_decrypt(h, out, len, in, len) != 0 ||
      gcry_cipher_checktag(h, in + len, TAG_LEN) != 0)
    return -1;
  return 0;
}

static int
gc_ocb_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf, size_t len)
{
  return gc_seal(gc_ocb, 1, nonce, ad, buf, len);
}

static int
gc_ocb_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
            size_t len, uint8_t *out)
{
  return gc_open(gc_ocb, 1, nonce, ad, in, len, out);
}

static int
gc_gcm_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf, size_t len)
{
  return gc_seal(gc_gcm, 0, nonce, ad, buf, len);
}

static int
gc_gcm_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
            size_t len, uint8_t *out)
{
  return gc_open(gc_gcm, 0, nonce, ad, in, len, out);
}

static int
sod_aes_available(void)
{
  return crypto_aead_aes256gcm_is_available();
}

static int
sod_aes_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf, size_t len)
{
  return crypto_aead_aes256gcm_encrypt_detached_afternm(
      buf, buf + len, NULL, buf, len, ad, AD_LEN, NULL, nonce, sod_aes);
}

static int
sod_aes_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
             size_t len, uint8_t *out)
{
  return crypto_aead_aes256gcm_decrypt_detached_afternm(
      out, NULL, in, len, in + len, ad, AD_LEN, nonce, sod_aes);
}

static int
chacha_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf, size_t len)
{
  return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      buf, buf + len, NULL, buf, len, ad, AD_LEN, NULL, nonce, key);
}

static int
chacha_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
            size_t len, uint8_t *out)
{
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
      out, NULL, in, len, in + len, ad, AD_LEN, nonce, key);
}

static int
xchacha_seal(const uint8_t *nonce, const uint8_t *ad, uint8_t *buf, size_t len)
{
  return crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      buf, buf + len, NULL, buf, len, ad, AD_LEN, NULL, nonce, key);
}

static int
xchacha_open(const uint8_t *nonce, const uint8_t *ad, const uint8_t *in,
             size_t len, uint8_t *out)
{
  return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
      out, NULL, in, len, in + len, ad, AD_LEN, nonce, key);
}

static const Aead aeads[] = {
  { "gcrypt-aes-256-ocb (braidfs v3)", always, gc_ocb_seal, gc_ocb_open },
  { "openssl-aes-256-gcm (braidfs v2)", always, ossl_seal, ossl_open },
  { "gcrypt-aes-256-gcm", always, gc_gcm_seal, gc_gcm_open },
  { "openssl-aes-256-ocb", always, ossl_ocb_seal, ossl_ocb_open },
  { "sodium-aes256gcm", sod_aes_available, sod_aes_seal, sod_aes_open },
  { "sodium-chacha20poly1305-ietf", always, chacha_seal, chacha_open },
  { "sodium-xchacha20poly1305-ietf", always, xchacha_seal, xchacha_open },
};

static double
now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
bench_seal(const Aead *a, uint8_t *buf, size_t len, double secs)
{
  uint8_t nonce[24] = { 0 };
  const uint8_t ad[AD_LEN] = { 0, 0, 0, 0, 0x11, 0x01 };
  uint64_t ctr = 0, bytes = 0;
  double t0 = now(), t;

  do {
    for (int i = 0; i < 16; i++) {
      ctr++;
      memcpy(nonce + 4, &ctr, sizeof ctr);
      if (a->seal(nonce, ad, buf, len) != 0)
        return -1;
      bytes += len;
    }
    t = now();
  } while (t - t0 < secs);
  return bytes / (t - t0) / 1e6;
}

static double
bench_open(const Aead *a, uint8_t *buf, uint8_t *out, size_t len, double secs)
{
  const uint8_t nonce[24] = { 1 };
  const uint8_t ad[AD_LEN] = { 0, 0, 0, 0, 0x11, 0x01 };
  uint64_t bytes = 0;
  double t0, t;

  if (a->seal(nonce, ad, buf, len) != 0)
    return -1;
  t0 = now();
  do {
    for (int i = 0; i < 16; i++) {
      if (a->open(nonce, ad, buf, len, out) != 0)
        return -1;
      bytes += len;
    }
    t = now();
  } while (t - t0 < secs);
  return bytes / (t - t0) / 1e6;
}

int
main(int argc, char **argv)
{
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  const size_t sizes[] = { 256 * 1024, 4 * 1024 };
  const size_t max = 256 * 1024 + TAG_LEN;
  uint8_t *buf, *out;
  int rc = 0;

  if (sodium_init() < 0 || !(secs > 0))
    return 2;
  randombytes_buf(key, sizeof key);
  ossl_enc = EVP_CIPHER_CTX_new();
  ossl_dec = EVP_CIPHER_CTX_new();
  if (EVP_EncryptInit_ex(ossl_enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(ossl_dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
    return 1;
  ocb_enc = EVP_CIPHER_CTX_new();
  ocb_dec = EVP_CIPHER_CTX_new();
  if (EVP_EncryptInit_ex(ocb_enc, EVP_aes_256_ocb(), NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(ocb_dec, EVP_aes_256_ocb(), NULL, key, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(ocb_enc, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(ocb_dec, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
      EVP_EncryptInit_ex(ocb_enc, NULL, NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(ocb_dec, NULL, NULL, key, NULL) != 1)
    return 1;
  if (gcry_check_version(GCRYPT_VERSION) == NULL)
    return 1;
  gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
  gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
  if (gcry_cipher_open(&gc_ocb, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_OCB, 0) ||
      gcry_cipher_open(&gc_gcm, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0) ||
      gcry_cipher_setkey(gc_ocb, key, sizeof key) ||
      gcry_cipher_setkey(gc_gcm, key, sizeof key))
    return 1;
  if (crypto_aead_aes256gcm_is_available()) {
    sod_aes = sodium_malloc(sizeof *sod_aes);
    crypto_aead_aes256gcm_beforenm(sod_aes, key);
  }
  buf = malloc(max);
  out = malloc(max);
  randombytes_buf(buf, max);
  memset(out, 0, max);
  printf("# aead-bench: MB/s (10^6 bytes of body/s), one thread, %.2g s per "
         "cell\n", secs);
  printf("%-34s %7s %8s %8s\n", "aead", "body", "seal", "open");
  for (size_t i = 0; i < sizeof aeads / sizeof aeads[0]; i++) {
    const Aead *a = &aeads[i];
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
      if (!a->available()) {
        printf("%-34s %6zuK %8s %8s  (not available on this CPU)\n", a->name,
               sizes[j] / 1024, "-", "-");
        continue;
      }
      double s = bench_seal(a, buf, sizes[j], secs);
      double o = bench_open(a, buf, out, sizes[j], secs);
      if (s < 0 || o < 0) {
        printf("%-34s %6zuK FAILED\n", a->name, sizes[j] / 1024);
        rc = 1;
        continue;
      }
      printf("%-34s %6zuK %8.0f %8.0f\n", a->name, sizes[j] / 1024, s, o);
    }
  }
  EVP_CIPHER_CTX_free(ossl_enc);
  EVP_CIPHER_CTX_free(ossl_dec);
  EVP_CIPHER_CTX_free(ocb_enc);
  EVP_CIPHER_CTX_free(ocb_dec);
  gcry_cipher_close(gc_ocb);
  gcry_cipher_close(gc_gcm);
  sodium_free(sod_aes);
  free(buf);
  free(out);
  return rc;
}
