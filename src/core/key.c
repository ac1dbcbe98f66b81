#include "braidfs/key.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "braidfs/tsa.h"

G_DEFINE_QUARK(bf-key-error-quark, bf_key_error)

#define KDF_CONTEXT "braidfsK"
enum { KDF_ID_PROOF = 1, KDF_ID_PATHS = 2, KDF_ID_STORED = 3 };

gboolean
bf_key_parse(const uint8_t *data, size_t len, uint8_t raw[BF_KEY_LEN],
             GError **error)
{
  static const uint8_t zero[BF_KEY_LEN];
  size_t hex_len = len, bin_len = 0;

  if (len > 0 && data[len - 1] == '\n')
    hex_len = len - 1;
  if (len == BF_KEY_LEN) {
    memcpy(raw, data, BF_KEY_LEN);
  } else if (hex_len == 2 * BF_KEY_LEN) {
    if (sodium_hex2bin(raw, BF_KEY_LEN, (const char *)data, hex_len, NULL,
                       &bin_len, NULL) != 0 || bin_len != BF_KEY_LEN) {
      sodium_memzero(raw, BF_KEY_LEN);
      g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT,
                  "%zu bytes but not 64 hexadecimal digits", len);
      return FALSE;
    }
  } else {
    g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT,
                "%zu bytes: a key is 32 raw bytes or 64 hexadecimal digits "
                "(make one with: braidfs keygen FILE)", len);
    return FALSE;
  }
  if (sodium_memcmp(raw, zero, BF_KEY_LEN) == 0) {
    g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT,
                "the key is all zeros (make one with: braidfs keygen FILE)");
    return FALSE;
  }
  return TRUE;
}

/* Memory locks are not inherited across fork(), and both programs load the
 * key before libfuse daemonizes them: the child locks the live keys again.
 * The lock is held across fork so that the list is consistent in the
 * child. */
static BfMutex live_lock;
static GSList *live_keys BF_GUARDED_BY(live_lock);

static void atfork_prepare(void) BF_ACQUIRE(&live_lock);
static void
atfork_prepare(void)
{
  bf_mutex_lock(&live_lock);
}

static void atfork_parent(void) BF_RELEASE(&live_lock);
static void
atfork_parent(void)
{
  bf_mutex_unlock(&live_lock);
}

static void atfork_child(void) BF_RELEASE(&live_lock);
static void
atfork_child(void)
{
  for (GSList *l = live_keys; l != NULL; l = l->next)
    sodium_mlock(l->data, sizeof(BfKey));
  bf_mutex_unlock(&live_lock);
}

static void
track(BfKey *key, gboolean live)
{
  static gsize once;

  if (g_once_init_enter(&once)) {
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    g_once_init_leave(&once, 1);
  }
  bf_mutex_lock(&live_lock);
  live_keys = live ? g_slist_prepend(live_keys, key)
                   : g_slist_remove(live_keys, key);
  bf_mutex_unlock(&live_lock);
}

BfKey *
bf_key_from_raw(const uint8_t raw[BF_KEY_LEN])
{
  BfKey *key = sodium_malloc(sizeof *key);

  if (key == NULL)
    g_error("sodium_malloc: out of memory for the key");
  crypto_kdf_derive_from_key(key->proof, sizeof key->proof, KDF_ID_PROOF,
                             KDF_CONTEXT, raw);
  crypto_kdf_derive_from_key(key->paths, sizeof key->paths, KDF_ID_PATHS,
                             KDF_CONTEXT, raw);
  crypto_kdf_derive_from_key(key->stored, sizeof key->stored, KDF_ID_STORED,
                             KDF_CONTEXT, raw);
  sodium_mprotect_readonly(key);
  track(key, TRUE);
  return key;
}

void
bf_key_free(BfKey *key)
{
  /* sodium_free makes the region writable, wipes and unlocks it. */
  if (key != NULL) {
    track(key, FALSE);
    sodium_free(key);
  }
}
