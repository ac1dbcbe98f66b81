#include "braidfs/handshake.h"

#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK(bf-hs-error-quark, bf_hs_error)

#define LABEL_CLIENT "braidfs v1 client proof"
#define LABEL_SERVER "braidfs v1 server proof"
#define LABEL_PATHS "braidfs v1 path keys"
#define KDF_CONTEXT "braidfsP"
/* Version 3's keys (AES-256-OCB) come from other subkey ids than version
 * 2's (AES-256-GCM): a key never serves two algorithms. */
enum { KDF_ID_C2S = 1, KDF_ID_S2C = 2, KDF_ID_C2S_OCB = 3, KDF_ID_S2C_OCB = 4 };

typedef enum {
  ST_START,        /* client: nothing sent; server: waiting for AUTH 1 */
  ST_NONCE_SENT,   /* client: AUTH 1 sent; server: AUTH 2 sent */
  ST_PROOF_SENT,   /* client: AUTH 3 sent, waiting for AUTH 4 */
  ST_DONE,
  ST_FAILED,
} State;

/* Secrets (nonces are not, but live next to the keys) in guarded memory. */
typedef struct {
  uint8_t nonce_c[BF_AUTH_VALUE_LEN];
  uint8_t nonce_s[BF_AUTH_VALUE_LEN];
  uint8_t c2s[BF_SEAL_KEY_LEN];
  uint8_t s2c[BF_SEAL_KEY_LEN];
} Secrets;

struct BfHandshake {
  BfHsRole role;
  State state;
  const BfKey *key;           /* the one in use: a server with several
                                 knows it at AUTH 3 */
  const BfKey *const *keys;   /* server: the keys a client may hold */
  guint n_keys;
  guint which;
  Secrets *sec;
  BfSeal *tx, *rx;
  BfAead aead;
  gboolean keys_ready;
};

BfHandshake *
bf_handshake_new(BfHsRole role, const BfKey *key, const uint8_t *nonce)
{
  BfHandshake *hs = g_new0(BfHandshake, 1);
  uint8_t *mine;

  hs->role = role;
  hs->aead = bf_aead_for_version(BF_PROTOCOL_VERSION);
  hs->key = key;
  hs->keys = &hs->key;
  hs->n_keys = 1;
  hs->sec = sodium_malloc(sizeof *hs->sec);
  if (hs->sec == NULL)
    g_error("sodium_malloc: out of memory for a handshake");
  sodium_memzero(hs->sec, sizeof *hs->sec);
  mine = role == BF_HS_CLIENT ? hs->sec->nonce_c : hs->sec->nonce_s;
  if (nonce != NULL)
    memcpy(mine, nonce, BF_AUTH_VALUE_LEN);
  else
    randombytes_buf(mine, BF_AUTH_VALUE_LEN);
  return hs;
}

BfHandshake *
bf_handshake_new_server(const BfKey *const *keys, guint n_keys,
                        const uint8_t *nonce)
{
  g_return_val_if_fail(n_keys > 0, NULL);
  BfHandshake *hs = bf_handshake_new(BF_HS_SERVER, keys[0], nonce);

  hs->keys = keys;
  hs->n_keys = n_keys;
  hs->key = NULL;
  return hs;
}

void
bf_handshake_set_aead(BfHandshake *hs, BfAead aead)
{
  g_return_if_fail(!hs->keys_ready);
  hs->aead = aead;
}

guint
bf_handshake_key_index(const BfHandshake *hs)
{
  return hs->which;
}

void
bf_handshake_free(BfHandshake *hs)
{
  if (hs == NULL)
    return;
  sodium_free(hs->sec);  /* wipes */
  bf_seal_free(hs->tx);
  bf_seal_free(hs->rx);
  g_free(hs);
}

/* BLAKE2b-256 keyed with key over label || nonce_c || nonce_s. */
static void
keyed_hash(const uint8_t key[BF_KEY_LEN], const char *label,
           const Secrets *sec, uint8_t out[32])
{
  crypto_generichash_state st;

  crypto_generichash_init(&st, key, BF_KEY_LEN, 32);
  crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
  crypto_generichash_update(&st, sec->nonce_c, BF_AUTH_VALUE_LEN);
  crypto_generichash_update(&st, sec->nonce_s, BF_AUTH_VALUE_LEN);
  crypto_generichash_final(&st, out, 32);
  sodium_memzero(&st, sizeof st);
}

static void
derive_keys(BfHandshake *hs)
{
  uint8_t master[32];
  gboolean ocb = hs->aead == BF_AEAD_AES256_OCB;

  keyed_hash(hs->key->paths, LABEL_PATHS, hs->sec, master);
  crypto_kdf_derive_from_key(hs->sec->c2s, BF_SEAL_KEY_LEN,
                             ocb ? KDF_ID_C2S_OCB : KDF_ID_C2S, KDF_CONTEXT,
                             master);
  crypto_kdf_derive_from_key(hs->sec->s2c, BF_SEAL_KEY_LEN,
                             ocb ? KDF_ID_S2C_OCB : KDF_ID_S2C, KDF_CONTEXT,
                             master);
  sodium_memzero(master, sizeof master);
  gboolean client = hs->role == BF_HS_CLIENT;
  hs->tx = bf_seal_new(hs->aead, client ? hs->sec->c2s : hs->sec->s2c);
  hs->rx = bf_seal_new(hs->aead, client ? hs->sec->s2c : hs->sec->c2s);
  sodium_memzero(hs->sec->c2s, BF_SEAL_KEY_LEN);
  sodium_memzero(hs->sec->s2c, BF_SEAL_KEY_LEN);
  hs->keys_ready = TRUE;
}

static void
make_proof(const BfHandshake *hs, const BfKey *key, BfHsRole who, BfAuth *out)
{
  out->step = who == BF_HS_CLIENT ? BF_AUTH_CLIENT_PROOF : BF_AUTH_SERVER_PROOF;
  keyed_hash(key->proof, who == BF_HS_CLIENT ? LABEL_CLIENT : LABEL_SERVER,
             hs->sec, out->value);
}

/* The peer's proof against every key we may use (a server's client keys:
 * all of them, whichever matches, so that the time taken tells nothing of
 * which one did); the key that matches becomes hs->key. */
static gboolean
check_proof(BfHandshake *hs, const BfAuth *in, GError **error)
{
  BfAuth want;
  BfHsRole peer = hs->role == BF_HS_CLIENT ? BF_HS_SERVER : BF_HS_CLIENT;
  guint found = 0, which = 0;

  for (guint i = 0; i < hs->n_keys; i++) {
    make_proof(hs, hs->keys[i], peer, &want);
    guint hit = sodium_memcmp(want.value, in->value, BF_AUTH_VALUE_LEN) == 0;
    /* no branch on the comparison */
    which |= (0u - (hit & !found)) & i;
    found |= hit;
  }
  sodium_memzero(&want, sizeof want);
  if (found) {
    hs->which = which;
    hs->key = hs->keys[which];
  }
  if (!found) {
    g_set_error(error, BF_HS_ERROR, BF_HS_ERROR_PROOF,
                "the %s's key proof does not match our key",
                peer == BF_HS_CLIENT ? "client" : "server");
    return FALSE;
  }
  return TRUE;
}

static gboolean
fail_seq(BfHandshake *hs, const BfAuth *in, GError **error)
{
  gboolean client = hs->role == BF_HS_CLIENT;
  unsigned want = hs->state == ST_START ? BF_AUTH_CLIENT_NONCE
                  : hs->state == ST_NONCE_SENT
                      ? (client ? BF_AUTH_SERVER_NONCE : BF_AUTH_CLIENT_PROOF)
                      : BF_AUTH_SERVER_PROOF;

  g_set_error(error, BF_HS_ERROR, BF_HS_ERROR_SEQUENCE,
              "AUTH step %u out of order (expected step %u)", in->step, want);
  return FALSE;
}

/* The peer's nonce, which must differ from ours: a peer that echoes our
 * nonce back is reflecting our messages. */
static gboolean
take_nonce(BfHandshake *hs, const BfAuth *in, GError **error)
{
  uint8_t *theirs = hs->role == BF_HS_CLIENT ? hs->sec->nonce_s
                                             : hs->sec->nonce_c;
  const uint8_t *mine = hs->role == BF_HS_CLIENT ? hs->sec->nonce_c
                                                 : hs->sec->nonce_s;

  if (sodium_memcmp(in->value, mine, BF_AUTH_VALUE_LEN) == 0) {
    g_set_error(error, BF_HS_ERROR, BF_HS_ERROR_SEQUENCE,
                "the peer's nonce equals ours (a reflected AUTH)");
    return FALSE;
  }
  memcpy(theirs, in->value, BF_AUTH_VALUE_LEN);
  return TRUE;
}

void
bf_handshake_start(BfHandshake *hs, BfAuth *out)
{
  g_return_if_fail(hs->role == BF_HS_CLIENT && hs->state == ST_START);
  out->step = BF_AUTH_CLIENT_NONCE;
  memcpy(out->value, hs->sec->nonce_c, BF_AUTH_VALUE_LEN);
  hs->state = ST_NONCE_SENT;
}

static gboolean
feed_client(BfHandshake *hs, const BfAuth *in, BfAuth *out, gboolean *send,
            GError **error)
{
  if (hs->state == ST_NONCE_SENT && in->step == BF_AUTH_SERVER_NONCE) {
    if (!take_nonce(hs, in, error))
      return FALSE;
    derive_keys(hs);
    make_proof(hs, hs->key, BF_HS_CLIENT, out);
    *send = TRUE;
    hs->state = ST_PROOF_SENT;
    return TRUE;
  }
  if (hs->state == ST_PROOF_SENT && in->step == BF_AUTH_SERVER_PROOF) {
    if (!check_proof(hs, in, error))
      return FALSE;
    hs->state = ST_DONE;
    return TRUE;
  }
  return fail_seq(hs, in, error);
}

static gboolean
feed_server(BfHandshake *hs, const BfAuth *in, BfAuth *out, gboolean *send,
            GError **error)
{
  if (hs->state == ST_START && in->step == BF_AUTH_CLIENT_NONCE) {
    if (!take_nonce(hs, in, error))
      return FALSE;
    /* Which key the client holds is known only from its proof. */
    out->step = BF_AUTH_SERVER_NONCE;
    memcpy(out->value, hs->sec->nonce_s, BF_AUTH_VALUE_LEN);
    *send = TRUE;
    hs->state = ST_NONCE_SENT;
    return TRUE;
  }
  if (hs->state == ST_NONCE_SENT && in->step == BF_AUTH_CLIENT_PROOF) {
    if (!check_proof(hs, in, error))
      return FALSE;
    derive_keys(hs);
    make_proof(hs, hs->key, BF_HS_SERVER, out);
    *send = TRUE;
    hs->state = ST_DONE;
    return TRUE;
  }
  return fail_seq(hs, in, error);
}

gboolean
bf_handshake_feed(BfHandshake *hs, const BfAuth *in, BfAuth *out,
                  gboolean *send, GError **error)
{
  gboolean ok;

  *send = FALSE;
  memset(out, 0, sizeof *out);
  if (hs->state == ST_FAILED || hs->state == ST_DONE) {
    g_set_error(error, BF_HS_ERROR, BF_HS_ERROR_SEQUENCE,
                "AUTH step %u after the handshake %s", in->step,
                hs->state == ST_DONE ? "ended" : "failed");
    hs->state = ST_FAILED;
    return FALSE;
  }
  ok = hs->role == BF_HS_CLIENT ? feed_client(hs, in, out, send, error)
                                : feed_server(hs, in, out, send, error);
  if (!ok) {
    hs->state = ST_FAILED;
    *send = FALSE;
    memset(out, 0, sizeof *out);
  }
  return ok;
}

gboolean
bf_handshake_keys_ready(const BfHandshake *hs)
{
  return hs->keys_ready && hs->state != ST_FAILED;
}

gboolean
bf_handshake_done(const BfHandshake *hs)
{
  return hs->state == ST_DONE;
}

BfSeal *
bf_handshake_take_seal(BfHandshake *hs, gboolean tx)
{
  BfSeal **slot = tx ? &hs->tx : &hs->rx;

  if (!bf_handshake_keys_ready(hs))
    return NULL;
  return g_steal_pointer(slot);
}
