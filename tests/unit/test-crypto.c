/* key_file parsing and loading, the key handshake state machine (both
 * roles, wrong keys, replayed, reordered and altered AUTH steps) and frame
 * sealing (tampering, replay, reordering, truncation).
 *
 * The known answers come from handshake_vectors.py, a second
 * implementation of man/braidfs-protocol.7 in Python (hashlib's BLAKE2b,
 * the cryptography package's AES-GCM and AES-OCB3, on OpenSSL), so they
 * check the spec and the C code (libgcrypt's OCB) against each other.
 * Every sealing test runs under both AEADs (protocol versions 2 and 3). */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/bytes.h"
#include "braidfs/digest.h"
#include "braidfs/handshake.h"
#include "braidfs/key.h"
#include "braidfs/parse.h"
#include "braidfs/proof.h"
#include "braidfs/seal.h"
#include "braidfs/wire.h"

#define V_PSK "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define V_NONCE_C "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define V_NONCE_S "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
#define V_K_PROOF "034235fd2e1b8fb35d739329a56b10b1669a4831dc728afb058e4bf52e217f95"
#define V_K_PATHS "a3c27f5ea01a24c5fd38d196eef41b4d03251b295abbc571dcf2dedf49f28fa0"
#define V_K_STORED "77d0d8d01bf6d155bb024f1fd6f3d6aba711551489b57a5bb536a2a8ae02dc43"
#define V_STORED_PLAIN "f7035196d71bfa5b1be89042ef7e4bd3e172acb4d46dc175a36a7e83e6d1c2c8"
#define V_STORED_KEYED "e47a7b8c973d75ddadcec47c24a27054e9e7209ee120d625faacd3a306b2316c"
#define V_STORED_BOTH "636ce65cdd67e274164c86af4b4b4de7fbefff73f43007e33915a37585f4a076"
#define V_PROOF_C "f8d644481df239461839731462a631c733fb5a7a5614f21b308eb8b481ec5815"
#define V_PROOF_S "de7da319af28daa254add6716ab8bc2c118fec61698f1ebb2021accd049b5cfd"
#define V_HELLO_HDR "000000400101"
#define V_HELLO_SEALED "735b7340ec83c73fde2073c84d4f38c00d529c91490ea2575e2f23d7a365c238893b8e583fd521683ce619535c723b51652e79150338ea768926aef5f5283432"
#define V_PING1_HDR "000000183001"
#define V_PING1_SEALED "9773bf54611ddd3aafc141c64f351e66a711157181bd79c4"
#define V_HELLO_OCB "ae55625ab6b9c0bf5a5163e74da2ea122c631dc5681379fee12d84d0e6cbc4c040f4a73070cfd8bd0bfdb055f0dcecdec4e4708f11dc6cef7105e5f54a812c3e"
#define V_PING1_OCB "044ec553c50d5ece01516ac32ef30736208cf51d9661cc4d"

/* The AEAD the sealing tests run under (each is registered twice). */
static BfAead aead = BF_AEAD_AES256_OCB;

static void
set_aead(gconstpointer data)
{
  aead = (BfAead)GPOINTER_TO_INT(data);
}

static void
unhex(const char *hex, uint8_t *out, size_t len)
{
  size_t got = 0;

  g_assert_cmpint(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL),
                  ==, 0);
  g_assert_cmpuint(got, ==, len);
}

static void
assert_hex(const uint8_t *p, size_t len, const char *want)
{
  g_autofree char *hex = bf_hex(p, len);
  g_assert_cmpstr(hex, ==, want);
}

/* ---- key files --------------------------------------------------------- */

static void
test_key_parse(void)
{
  uint8_t raw[BF_KEY_LEN], in[80];
  g_autoptr(GError) error = NULL;

  unhex(V_PSK, in, 32);
  g_assert_true(bf_key_parse(in, 32, raw, &error));
  g_assert_cmpmem(raw, 32, in, 32);

  const char *hex = V_PSK;
  memset(raw, 0, sizeof raw);
  g_assert_true(bf_key_parse((const uint8_t *)hex, 64, raw, &error));
  assert_hex(raw, 32, V_PSK);
  memcpy(in, hex, 64);
  in[64] = '\n';
  g_assert_true(bf_key_parse(in, 65, raw, &error));
  assert_hex(raw, 32, V_PSK);
  /* upper case is hex too */
  g_autofree char *upper = g_ascii_strup(hex, -1);
  g_assert_true(bf_key_parse((const uint8_t *)upper, 64, raw, &error));
  assert_hex(raw, 32, V_PSK);

  static const size_t bad_lengths[] = { 0, 1, 16, 31, 33, 63, 66, 80 };
  memset(in, 'a', sizeof in);
  for (size_t i = 0; i < G_N_ELEMENTS(bad_lengths); i++) {
    g_clear_error(&error);
    g_assert_false(bf_key_parse(in, bad_lengths[i], raw, &error));
    g_assert_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT);
  }
  /* 65 bytes that do not end in a newline, two newlines, not hex */
  g_clear_error(&error);
  g_assert_false(bf_key_parse(in, 65, raw, &error));
  memcpy(in, hex, 64);
  in[63] = '\n';
  in[64] = '\n';
  g_clear_error(&error);
  g_assert_false(bf_key_parse(in, 65, raw, &error));
  memcpy(in, hex, 64);
  in[10] = 'g';
  g_clear_error(&error);
  g_assert_false(bf_key_parse(in, 64, raw, &error));
  g_assert_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT);
  /* the all-zero key is a mistake, not a key */
  memset(in, 0, 32);
  g_clear_error(&error);
  g_assert_false(bf_key_parse(in, 32, raw, &error));
  memset(in, '0', 64);
  g_clear_error(&error);
  g_assert_false(bf_key_parse(in, 64, raw, &error));
}

static void
test_key_derive(void)
{
  uint8_t raw[BF_KEY_LEN];

  unhex(V_PSK, raw, sizeof raw);
  g_autoptr(BfKey) key = bf_key_from_raw(raw);
  assert_hex(key->proof, BF_KEY_LEN, V_K_PROOF);
  assert_hex(key->paths, BF_KEY_LEN, V_K_PATHS);
  assert_hex(key->stored, BF_KEY_LEN, V_K_STORED);
}

/* STORED's proof (proof.h) against handshake_vectors.py: without a key,
 * with the key_file's, with an item's and the key_file's; and each field
 * changes it. */
static void
test_stored_proof(void)
{
  uint8_t raw[BF_KEY_LEN], sid[BF_ID_LEN], item_key[BF_ITEM_KEY_LEN];
  uint8_t digest[BF_DIGEST_LEN], p[BF_PROOF_LEN], q[BF_PROOF_LEN];
  g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_SHA256);

  unhex(V_PSK, raw, sizeof raw);
  g_autoptr(BfKey) key = bf_key_from_raw(raw);
  for (unsigned i = 0; i < BF_ID_LEN; i++)
    sid[i] = (uint8_t)(0x60 + i);
  for (unsigned i = 0; i < BF_ITEM_KEY_LEN; i++)
    item_key[i] = (uint8_t)(0x80 + i);
  bf_digest_update(d, "hello", 5);
  bf_digest_final(d, digest);

  bf_stored_proof(p, NULL, NULL, sid, 7, 5, BF_DIGEST_SHA256, digest);
  assert_hex(p, sizeof p, V_STORED_PLAIN);
  bf_stored_proof(p, key, NULL, sid, 7, 5, BF_DIGEST_SHA256, digest);
  assert_hex(p, sizeof p, V_STORED_KEYED);
  bf_stored_proof(p, key, item_key, sid, 7, 5, BF_DIGEST_SHA256, digest);
  assert_hex(p, sizeof p, V_STORED_BOTH);

  bf_stored_proof(q, key, item_key, sid, 8, 5, BF_DIGEST_SHA256, digest);
  g_assert_true(memcmp(p, q, sizeof p) != 0);
  bf_stored_proof(q, key, item_key, sid, 7, 6, BF_DIGEST_SHA256, digest);
  g_assert_true(memcmp(p, q, sizeof p) != 0);
  bf_stored_proof(q, key, item_key, sid, 7, 5, BF_DIGEST_BLAKE2B_256, digest);
  g_assert_true(memcmp(p, q, sizeof p) != 0);
  sid[0] ^= 1;
  bf_stored_proof(q, key, item_key, sid, 7, 5, BF_DIGEST_SHA256, digest);
  g_assert_true(memcmp(p, q, sizeof p) != 0);
  sid[0] ^= 1;
  digest[31] ^= 1;
  bf_stored_proof(q, key, item_key, sid, 7, 5, BF_DIGEST_SHA256, digest);
  g_assert_true(memcmp(p, q, sizeof p) != 0);
}

static char *
write_file(const char *dir, const char *name, const void *data, size_t len,
           mode_t mode)
{
  char *path = g_build_filename(dir, name, NULL);

  g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
  g_assert_cmpint(chmod(path, mode), ==, 0);
  return path;
}

static void
test_key_files(void)
{
  g_autofree char *dir = g_dir_make_tmp("test-crypto-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  uint8_t raw[BF_KEY_LEN];
  struct stat st;

  g_assert_nonnull(dir);
  unhex(V_PSK, raw, sizeof raw);
  g_autofree char *ok = write_file(dir, "raw", raw, 32, 0600);
  g_autoptr(BfKey) k1 = bf_key_load(ok, &error);
  g_assert_no_error(error);
  assert_hex(k1->proof, BF_KEY_LEN, V_K_PROOF);

  g_autofree char *hexfile = write_file(dir, "hex", V_PSK "\n", 65, 0400);
  g_autoptr(BfKey) k2 = bf_key_load(hexfile, &error);
  g_assert_no_error(error);
  assert_hex(k2->paths, BF_KEY_LEN, V_K_PATHS);

  /* group- or world-accessible: refused, like ssh */
  static const mode_t loose[] = { 0644, 0640, 0604, 0620, 0602, 0610 };
  for (size_t i = 0; i < G_N_ELEMENTS(loose); i++) {
    g_assert_cmpint(chmod(ok, loose[i]), ==, 0);
    g_assert_null(bf_key_load(ok, &error));
    g_assert_error(error, BF_KEY_ERROR, BF_KEY_ERROR_MODE);
    g_assert_nonnull(strstr(error->message, "chmod 600"));
    g_clear_error(&error);
  }
  g_autofree char *shortf = write_file(dir, "short", raw, 31, 0600);
  g_assert_null(bf_key_load(shortf, &error));
  g_assert_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT);
  g_clear_error(&error);
  g_autofree char *missing = g_build_filename(dir, "missing", NULL);
  g_assert_null(bf_key_load(missing, &error));
  g_assert_error(error, BF_KEY_ERROR, BF_KEY_ERROR_IO);
  g_clear_error(&error);
  g_assert_null(bf_key_load(dir, &error));  /* a directory */
  g_assert_nonnull(error);
  g_clear_error(&error);

  /* keygen: 32 bytes, mode 0600, never over an existing file */
  g_autofree char *gen = g_build_filename(dir, "gen", NULL);
  g_assert_true(bf_key_generate(gen, &error));
  g_assert_cmpint(stat(gen, &st), ==, 0);
  g_assert_cmpint(st.st_size, ==, 32);
  g_assert_cmpint(st.st_mode & 07777, ==, 0600);
  g_autoptr(BfKey) k3 = bf_key_load(gen, &error);
  g_assert_no_error(error);
  g_assert_nonnull(k3);
  g_autofree char *before = NULL, *after = NULL;
  g_assert_true(g_file_get_contents(gen, &before, NULL, NULL));
  g_assert_false(bf_key_generate(gen, &error));
  g_assert_nonnull(strstr(error->message, "exists"));
  g_clear_error(&error);
  g_assert_true(g_file_get_contents(gen, &after, NULL, NULL));
  g_assert_cmpmem(before, 32, after, 32);
  g_assert_false(bf_key_generate(ok, &error));  /* not even a key file */
  g_clear_error(&error);

  for (const char *n = "raw\0hex\0short\0gen\0"; *n; n += strlen(n) + 1) {
    g_autofree char *p = g_build_filename(dir, n, NULL);
    g_unlink(p);
  }
  g_rmdir(dir);
}

/* ---- the handshake ------------------------------------------------------ */

typedef struct {
  BfKey *key;
  BfHandshake *client, *server;
} Pair;

static void
pair_init(Pair *p, const char *psk_hex)
{
  uint8_t raw[BF_KEY_LEN], nc[32], ns[32];

  unhex(psk_hex, raw, sizeof raw);
  unhex(V_NONCE_C, nc, sizeof nc);
  unhex(V_NONCE_S, ns, sizeof ns);
  p->key = bf_key_from_raw(raw);
  p->client = bf_handshake_new(BF_HS_CLIENT, p->key, nc);
  p->server = bf_handshake_new(BF_HS_SERVER, p->key, ns);
  bf_handshake_set_aead(p->client, aead);
  bf_handshake_set_aead(p->server, aead);
}

static void
pair_clear(Pair *p)
{
  bf_handshake_free(p->client);
  bf_handshake_free(p->server);
  bf_key_free(p->key);
}

/* feed must succeed and produce (or not) a message */
static void
feed_ok(BfHandshake *hs, const BfAuth *in, BfAuth *out, gboolean want_send)
{
  g_autoptr(GError) error = NULL;
  gboolean send;

  g_assert_true(bf_handshake_feed(hs, in, out, &send, &error));
  g_assert_no_error(error);
  g_assert_cmpint(send, ==, want_send);
}

static void
feed_fails(BfHandshake *hs, const BfAuth *in, BfHsError code)
{
  g_autoptr(GError) error = NULL;
  BfAuth out;
  gboolean send = TRUE;

  g_assert_false(bf_handshake_feed(hs, in, &out, &send, &error));
  g_assert_error(error, BF_HS_ERROR, (int)code);
  g_assert_false(send);
  g_assert_false(bf_handshake_done(hs));
  g_assert_null(bf_handshake_take_seal(hs, TRUE));
}

/* Runs the four steps; a1..a4 receive the messages. */
static void
run_handshake(Pair *p, BfAuth *a1, BfAuth *a2, BfAuth *a3, BfAuth *a4)
{
  BfAuth none;

  bf_handshake_start(p->client, a1);
  g_assert_false(bf_handshake_keys_ready(p->client));
  feed_ok(p->server, a1, a2, TRUE);
  /* the server knows which key only from the client's proof */
  g_assert_false(bf_handshake_keys_ready(p->server));
  g_assert_false(bf_handshake_done(p->server));
  feed_ok(p->client, a2, a3, TRUE);
  g_assert_true(bf_handshake_keys_ready(p->client));
  g_assert_false(bf_handshake_done(p->client));
  feed_ok(p->server, a3, a4, TRUE);
  g_assert_true(bf_handshake_keys_ready(p->server));
  g_assert_true(bf_handshake_done(p->server));
  feed_ok(p->client, a4, &none, FALSE);
  g_assert_true(bf_handshake_done(p->client));
}

static void
test_handshake_known_answers(gconstpointer data)
{
  Pair p;
  BfAuth a1, a2, a3, a4;

  set_aead(data);
  gboolean ocb = aead == BF_AEAD_AES256_OCB;
  pair_init(&p, V_PSK);
  run_handshake(&p, &a1, &a2, &a3, &a4);
  g_assert_cmpuint(a1.step, ==, BF_AUTH_CLIENT_NONCE);
  assert_hex(a1.value, 32, V_NONCE_C);
  g_assert_cmpuint(a2.step, ==, BF_AUTH_SERVER_NONCE);
  assert_hex(a2.value, 32, V_NONCE_S);
  g_assert_cmpuint(a3.step, ==, BF_AUTH_CLIENT_PROOF);
  assert_hex(a3.value, 32, V_PROOF_C);
  g_assert_cmpuint(a4.step, ==, BF_AUTH_SERVER_PROOF);
  assert_hex(a4.value, 32, V_PROOF_S);

  /* The keys: the client's first sealed frame is the man page's HELLO. */
  g_autoptr(BfSeal) ctx = bf_handshake_take_seal(p.client, TRUE);
  g_autoptr(BfSeal) crx = bf_handshake_take_seal(p.client, FALSE);
  g_autoptr(BfSeal) stx = bf_handshake_take_seal(p.server, TRUE);
  g_autoptr(BfSeal) srx = bf_handshake_take_seal(p.server, FALSE);
  g_assert_nonnull(ctx);
  g_assert_null(bf_handshake_take_seal(p.client, TRUE));  /* taken */
  uint8_t hello[] = { 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                      1, 0, 6, 'l', 'a', 'p', 't', 'o', 'p', 4, 0, 2, 0, 0 };
  uint8_t hdr[BF_HEADER_LEN] = { 0, 0, 0, sizeof hello, BF_FRAME_HELLO, 0 };
  uint8_t out[sizeof hello + BF_SEAL_TAG_LEN];
  BfSlice part = { hello, sizeof hello };
  g_autoptr(GError) error = NULL;

  g_assert_true(bf_seal_header(hdr));
  assert_hex(hdr, sizeof hdr, V_HELLO_HDR);
  g_assert_true(bf_seal_frame(ctx, hdr, &part, 1, out, &error));
  assert_hex(out, sizeof out, ocb ? V_HELLO_OCB : V_HELLO_SEALED);
  g_assert_true(bf_open_frame(srx, hdr, out, sizeof out, &error));
  g_assert_cmpmem(out, sizeof hello, hello, sizeof hello);

  /* The server's second frame (counter 1): a PING with opaque 1. */
  uint8_t ping[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
  uint8_t phdr[BF_HEADER_LEN] = { 0, 0, 0, 8, BF_FRAME_PING, 0 };
  uint8_t pout[8 + BF_SEAL_TAG_LEN];
  BfSlice pp = { ping, sizeof ping };
  g_assert_true(bf_seal_header(phdr));
  assert_hex(phdr, sizeof phdr, V_PING1_HDR);
  g_assert_true(bf_seal_frame(stx, phdr, &pp, 1, pout, &error));
  g_assert_true(bf_open_frame(crx, phdr, pout, sizeof pout, &error));
  g_assert_true(bf_seal_frame(stx, phdr, &pp, 1, pout, &error));
  assert_hex(pout, sizeof pout, ocb ? V_PING1_OCB : V_PING1_SEALED);
  g_assert_true(bf_open_frame(crx, phdr, pout, sizeof pout, &error));
  g_assert_cmpmem(pout, 8, ping, 8);
  g_assert_cmpuint(bf_seal_counter(crx), ==, 2);
  pair_clear(&p);
}

static void
test_handshake_random_nonces(void)
{
  uint8_t raw[BF_KEY_LEN];
  BfAuth a1, a2, a3, a4, b1, b2, b3, b4, none;

  randombytes_buf(raw, sizeof raw);
  g_autoptr(BfKey) key = bf_key_from_raw(raw);
  for (int round = 0; round < 2; round++) {
    g_autoptr(BfHandshake) c = bf_handshake_new(BF_HS_CLIENT, key, NULL);
    g_autoptr(BfHandshake) s = bf_handshake_new(BF_HS_SERVER, key, NULL);
    BfAuth *x1 = round ? &b1 : &a1, *x2 = round ? &b2 : &a2;
    BfAuth *x3 = round ? &b3 : &a3, *x4 = round ? &b4 : &a4;
    bf_handshake_start(c, x1);
    feed_ok(s, x1, x2, TRUE);
    feed_ok(c, x2, x3, TRUE);
    feed_ok(s, x3, x4, TRUE);
    feed_ok(c, x4, &none, FALSE);
    g_assert_true(bf_handshake_done(c) && bf_handshake_done(s));
  }
  /* fresh nonces, fresh proofs: nothing of one connection fits another */
  g_assert_true(memcmp(a1.value, b1.value, 32) != 0);
  g_assert_true(memcmp(a2.value, b2.value, 32) != 0);
  g_assert_true(memcmp(a3.value, b3.value, 32) != 0);
}

/* A server with one key per client: each client's handshake ends with
 * the index of its own key, its sealers match the client's, and a key the
 * server does not hold is refused. */
static void
test_handshake_client_keys(void)
{
  enum { N = 5 };
  BfKey *keys[N];
  uint8_t raw[BF_KEY_LEN];

  for (guint i = 0; i < N; i++) {
    randombytes_buf(raw, sizeof raw);
    keys[i] = bf_key_from_raw(raw);
  }
  for (guint i = 0; i < N + 1; i++) {
    randombytes_buf(raw, sizeof raw);
    g_autoptr(BfKey) stranger = bf_key_from_raw(raw);
    const BfKey *mine = i < N ? keys[i] : stranger;
    g_autoptr(BfHandshake) c = bf_handshake_new(BF_HS_CLIENT, mine, NULL);
    g_autoptr(BfHandshake) s =
      bf_handshake_new_server((const BfKey *const *)keys, N, NULL);
    BfAuth a1, a2, a3, a4, none;

    bf_handshake_start(c, &a1);
    feed_ok(s, &a1, &a2, TRUE);
    feed_ok(c, &a2, &a3, TRUE);
    if (i == N) {
      feed_fails(s, &a3, BF_HS_ERROR_PROOF);
      g_assert_false(bf_handshake_keys_ready(s));
      continue;
    }
    feed_ok(s, &a3, &a4, TRUE);
    feed_ok(c, &a4, &none, FALSE);
    g_assert_true(bf_handshake_done(c) && bf_handshake_done(s));
    g_assert_cmpuint(bf_handshake_key_index(s), ==, i);

    /* the sealers agree: what the client seals the server opens */
    g_autoptr(BfSeal) ctx = bf_handshake_take_seal(c, TRUE);
    g_autoptr(BfSeal) srx = bf_handshake_take_seal(s, FALSE);
    uint8_t hdr[BF_HEADER_LEN] = { 0, 0, 0, 4, BF_FRAME_PING, 0 };
    uint8_t body[4] = { 1, 2, 3, 4 }, out[4 + BF_SEAL_TAG_LEN];
    BfSlice part = { body, sizeof body };
    g_autoptr(GError) error = NULL;
    g_assert_true(bf_seal_header(hdr));
    g_assert_true(bf_seal_frame(ctx, hdr, &part, 1, out, &error));
    g_assert_true(bf_open_frame(srx, hdr, out, sizeof out, &error));
    g_assert_no_error(error);
    g_assert_cmpmem(out, 4, body, 4);
  }
  for (guint i = 0; i < N; i++)
    bf_key_free(keys[i]);
}

static void
test_handshake_wrong_key(void)
{
  Pair good, other;
  BfAuth a1, a2, a3, x1, x2, x3, x4;

  pair_init(&good, V_PSK);
  pair_init(&other, V_NONCE_S);  /* any other key */
  /* a client with another key: the server refuses its proof */
  bf_handshake_start(other.client, &a1);
  feed_ok(good.server, &a1, &a2, TRUE);
  feed_ok(other.client, &a2, &a3, TRUE);
  feed_fails(good.server, &a3, BF_HS_ERROR_PROOF);
  /* and a failed handshake stays failed */
  feed_fails(good.server, &a3, BF_HS_ERROR_SEQUENCE);
  pair_clear(&good);
  pair_clear(&other);
  pair_init(&good, V_PSK);
  pair_init(&other, V_NONCE_S);

  /* a server with another key that answers anyway (here: with the proof
   * it made for a client with its key, over the same nonces): the client
   * refuses it */
  run_handshake(&other, &x1, &x2, &x3, &x4);
  bf_handshake_start(good.client, &a1);
  feed_ok(good.client, &x2, &a3, TRUE);
  feed_fails(good.client, &x4, BF_HS_ERROR_PROOF);
  pair_clear(&good);
  pair_clear(&other);
}

static void
test_handshake_sequence(void)
{
  Pair p, q;
  BfAuth a1, a2, a3, a4, out;

  /* a full exchange to have every message */
  pair_init(&p, V_PSK);
  run_handshake(&p, &a1, &a2, &a3, &a4);
  pair_clear(&p);

  /* server: a proof before the nonce, a repeated nonce, a server step */
  pair_init(&p, V_PSK);
  feed_fails(p.server, &a3, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);
  pair_init(&p, V_PSK);
  feed_ok(p.server, &a1, &out, TRUE);
  feed_fails(p.server, &a1, BF_HS_ERROR_SEQUENCE);  /* replayed AUTH 1 */
  pair_clear(&p);
  pair_init(&p, V_PSK);
  feed_fails(p.server, &a2, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);
  /* a server fed its own nonce back (reflection) */
  pair_init(&p, V_PSK);
  BfAuth refl = a1;
  unhex(V_NONCE_S, refl.value, 32);
  feed_fails(p.server, &refl, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);

  /* client: a proof before the nonce, the nonce twice, a client step */
  pair_init(&p, V_PSK);
  bf_handshake_start(p.client, &out);
  feed_fails(p.client, &a4, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);
  pair_init(&p, V_PSK);
  bf_handshake_start(p.client, &out);
  feed_ok(p.client, &a2, &out, TRUE);
  feed_fails(p.client, &a2, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);
  pair_init(&p, V_PSK);
  bf_handshake_start(p.client, &out);
  feed_fails(p.client, &a1, BF_HS_ERROR_SEQUENCE);  /* its own step */
  pair_clear(&p);
  pair_init(&p, V_PSK);
  bf_handshake_start(p.client, &out);
  refl = a2;
  unhex(V_NONCE_C, refl.value, 32);
  feed_fails(p.client, &refl, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);

  /* after the end: anything more is refused */
  pair_init(&p, V_PSK);
  run_handshake(&p, &a1, &a2, &a3, &a4);
  feed_fails(p.client, &a4, BF_HS_ERROR_SEQUENCE);
  feed_fails(p.server, &a3, BF_HS_ERROR_SEQUENCE);
  pair_clear(&p);

  /* altered in transit: a changed nonce_s makes the proofs disagree; a
   * changed proof is refused; a proof from another connection (same key,
   * other nonces) is refused */
  for (int bit = 0; bit < 256; bit += 37) {
    pair_init(&p, V_PSK);
    BfAuth m1, m2, m3;
    bf_handshake_start(p.client, &m1);
    feed_ok(p.server, &m1, &m2, TRUE);
    m2.value[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    feed_ok(p.client, &m2, &m3, TRUE);
    feed_fails(p.server, &m3, BF_HS_ERROR_PROOF);
    pair_clear(&p);

    pair_init(&p, V_PSK);
    bf_handshake_start(p.client, &m1);
    feed_ok(p.server, &m1, &m2, TRUE);
    feed_ok(p.client, &m2, &m3, TRUE);
    m3.value[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    feed_fails(p.server, &m3, BF_HS_ERROR_PROOF);
    pair_clear(&p);

    pair_init(&p, V_PSK);
    bf_handshake_start(p.client, &m1);
    feed_ok(p.server, &m1, &m2, TRUE);
    feed_ok(p.client, &m2, &m3, TRUE);
    feed_ok(p.server, &m3, &a4, TRUE);
    a4.value[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    feed_fails(p.client, &a4, BF_HS_ERROR_PROOF);
    pair_clear(&p);
  }
  pair_init(&q, V_PSK);
  g_autoptr(BfHandshake) s2 = bf_handshake_new(BF_HS_SERVER, q.key, NULL);
  BfAuth m1, m2, m3;
  bf_handshake_start(q.client, &m1);
  feed_ok(q.server, &m1, &m2, TRUE);
  feed_ok(q.client, &m2, &m3, TRUE);
  feed_ok(s2, &m1, &out, TRUE);             /* same AUTH 1, fresh nonce_s */
  feed_fails(s2, &m3, BF_HS_ERROR_PROOF);   /* a replayed proof */
  pair_clear(&q);
}

/* The AUTH frame: 34 bytes, step 1..4, checked like every other body. */
static void
test_auth_frame(void)
{
  BfMsg m = { .type = BF_FRAME_AUTH }, d;
  g_autoptr(GByteArray) b = g_byte_array_new();
  g_autoptr(GError) error = NULL;
  uint8_t type, flags;
  uint32_t len;

  m.u.auth.step = BF_AUTH_CLIENT_PROOF;
  unhex(V_PROOF_C, m.u.auth.value, 32);
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpuint(b->len, ==, BF_HEADER_LEN + 34);
  g_autofree char *hex = bf_hex(b->data, 8);
  g_assert_cmpstr(hex, ==, "0000002203000300");
  g_assert_true(bf_header_parse(b->data, b->len, BF_BODY_MAX, &type, &flags,
                                &len, &error));
  g_assert_true(bf_msg_decode(type, flags, b->data + BF_HEADER_LEN, len, &d,
                              &error));
  g_assert_cmpuint(d.type, ==, BF_FRAME_AUTH);
  g_assert_cmpuint(d.u.auth.step, ==, BF_AUTH_CLIENT_PROOF);
  g_assert_cmpmem(d.u.auth.value, 32, m.u.auth.value, 32);
  g_assert_cmpstr(bf_frame_type_str(BF_FRAME_AUTH), ==, "AUTH");

  uint8_t *body = b->data + BF_HEADER_LEN;
  g_assert_false(bf_msg_decode(type, flags, body, 33, &d, &error));
  g_assert_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_TRUNCATED);
  g_clear_error(&error);
  g_byte_array_append(b, (const uint8_t *)"x", 1);
  body = b->data + BF_HEADER_LEN;
  g_assert_false(bf_msg_decode(type, flags, body, 35, &d, &error));
  g_assert_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_TOO_LONG);
  g_clear_error(&error);
  for (unsigned step = 0; step < 256; step += 5) {
    body[0] = (uint8_t)step;
    gboolean ok = bf_msg_decode(type, flags, body, 34, &d, NULL);
    g_assert_cmpint(ok, ==, step >= 1 && step <= 4);
  }
  body[0] = 1;
  body[1] = 0xff;  /* reserved: ignored */
  g_assert_true(bf_msg_decode(type, flags, body, 34, &d, &error));
  g_assert_false(bf_msg_decode(type, BF_FLAG_SEALED, body, 34, &d, NULL));
  m.u.auth.step = 5;
  g_assert_false(bf_msg_encode(&m, b));
}

/* ---- sealing ------------------------------------------------------------ */

typedef struct {
  uint8_t hdr[BF_HEADER_LEN];
  uint8_t body[64 + BF_SEAL_TAG_LEN];
  size_t len;
} Frame;

static void
seal_one(BfSeal *tx, uint8_t type, const char *text, Frame *f)
{
  size_t n = strlen(text);
  BfSlice parts[2] = { { (const uint8_t *)text, n / 2 },
                       { (const uint8_t *)text + n / 2, n - n / 2 } };
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint(n, <=, 64);
  memset(f, 0, sizeof *f);
  f->hdr[3] = (uint8_t)n;
  f->hdr[4] = type;
  g_assert_true(bf_seal_header(f->hdr));
  f->len = n + BF_SEAL_TAG_LEN;
  g_assert_true(bf_seal_frame(tx, f->hdr, parts, 2, f->body, &error));
  g_assert_no_error(error);
  /* the ciphertext is not the text (a short one may match by chance:
   * 1 in 256 for one byte, so only from 8 bytes on) */
  if (n >= 8)
    g_assert_true(memcmp(f->body, text, n) != 0);
}

static void
open_ok(BfSeal *rx, Frame f, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true(bf_open_frame(rx, f.hdr, f.body, f.len, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(f.body, f.len - BF_SEAL_TAG_LEN, text, strlen(text));
}

static void
open_fails(BfSeal *rx, Frame f, BfSealError code)
{
  g_autoptr(GError) error = NULL;

  g_assert_false(bf_open_frame(rx, f.hdr, f.body, f.len, &error));
  g_assert_error(error, BF_SEAL_ERROR, (int)code);
}

static void
new_pair(BfSeal **tx, BfSeal **rx)
{
  uint8_t key[BF_SEAL_KEY_LEN];

  randombytes_buf(key, sizeof key);
  *tx = bf_seal_new(aead, key);
  *rx = bf_seal_new(aead, key);
}

static void
test_seal_round_trip(gconstpointer data)
{
  BfSeal *tx, *rx;
  Frame f;

  set_aead(data);
  new_pair(&tx, &rx);
  for (int i = 0; i < 100; i++) {
    seal_one(tx, BF_FRAME_PING, i % 2 ? "0123456789abcdef" : "x", &f);
    open_ok(rx, f, i % 2 ? "0123456789abcdef" : "x");
  }
  seal_one(tx, BF_FRAME_PONG, "", &f);  /* an empty body has a tag too */
  g_assert_cmpuint(f.len, ==, BF_SEAL_TAG_LEN);
  open_ok(rx, f, "");
  g_assert_cmpuint(bf_seal_counter(tx), ==, 101);
  g_assert_cmpuint(bf_seal_counter(rx), ==, 101);
  bf_seal_free(tx);
  bf_seal_free(rx);
}

static void
test_seal_tamper(gconstpointer data)
{
  const char *text = "ITEM_OPEN a/b.txt";
  size_t n = strlen(text);

  set_aead(data);
  /* every bit of body and tag, and of the header's length, type and flags */
  for (size_t bit = 0; bit < (n + BF_SEAL_TAG_LEN + BF_HEADER_LEN) * 8; bit++) {
    BfSeal *tx, *rx;
    Frame f;
    new_pair(&tx, &rx);
    seal_one(tx, BF_FRAME_ITEM_OPEN, text, &f);
    size_t byte = bit / 8;
    uint8_t mask = (uint8_t)(1u << (bit % 8));
    if (byte < f.len) {
      f.body[byte] ^= mask;
      open_fails(rx, f, BF_SEAL_ERROR_AUTH);
    } else {
      uint8_t *h = &f.hdr[byte - f.len];
      *h ^= mask;
      /* a changed length or a cleared SEALED flag is refused before the
       * tag is looked at; any other change fails the tag */
      gboolean format = byte - f.len < 4 ||
                        (byte - f.len == 5 && mask == BF_FLAG_SEALED);
      open_fails(rx, f, format ? BF_SEAL_ERROR_FORMAT : BF_SEAL_ERROR_AUTH);
    }
    /* the stream is out of step for good: even a good frame fails now */
    Frame g;
    seal_one(tx, BF_FRAME_PING, "next", &g);
    open_fails(rx, g, BF_SEAL_ERROR_AUTH);
    bf_seal_free(tx);
    bf_seal_free(rx);
  }
}

static void
test_seal_replay_reorder_truncate(gconstpointer data)
{
  BfSeal *tx, *rx;
  Frame f1, f2, f3;

  set_aead(data);
  /* replay: the same frame twice */
  new_pair(&tx, &rx);
  seal_one(tx, BF_FRAME_CHUNK, "chunk one", &f1);
  open_ok(rx, f1, "chunk one");
  open_fails(rx, f1, BF_SEAL_ERROR_AUTH);
  bf_seal_free(tx);
  bf_seal_free(rx);

  /* reorder: the second frame first */
  new_pair(&tx, &rx);
  seal_one(tx, BF_FRAME_CHUNK, "chunk one", &f1);
  seal_one(tx, BF_FRAME_CHUNK, "chunk two", &f2);
  open_fails(rx, f2, BF_SEAL_ERROR_AUTH);
  bf_seal_free(tx);
  bf_seal_free(rx);

  /* a dropped frame: the one after it no longer opens */
  new_pair(&tx, &rx);
  seal_one(tx, BF_FRAME_CHUNK, "chunk one", &f1);
  seal_one(tx, BF_FRAME_CHUNK, "chunk two", &f2);
  seal_one(tx, BF_FRAME_CHUNK, "chunk three", &f3);
  open_ok(rx, f1, "chunk one");
  open_fails(rx, f3, BF_SEAL_ERROR_AUTH);
  bf_seal_free(tx);
  bf_seal_free(rx);

  /* truncation: the body cut short (with the header's length adjusted, or
   * not), down to nothing */
  for (size_t cut = 1; cut <= 9 + BF_SEAL_TAG_LEN; cut++) {
    new_pair(&tx, &rx);
    seal_one(tx, BF_FRAME_CHUNK, "chunk one", &f1);
    f2 = f1;
    f2.len -= cut;
    open_fails(rx, f2, BF_SEAL_ERROR_FORMAT);  /* length disagrees */
    bf_seal_free(tx);
    bf_seal_free(rx);
  }
  for (size_t cut = 1; cut <= 9 + BF_SEAL_TAG_LEN; cut++) {
    new_pair(&tx, &rx);
    seal_one(tx, BF_FRAME_CHUNK, "chunk one", &f1);
    f1.len -= cut;
    f1.hdr[3] = (uint8_t)(f1.hdr[3] - cut);
    open_fails(rx, f1, f1.len < BF_SEAL_TAG_LEN ? BF_SEAL_ERROR_FORMAT
                                                : BF_SEAL_ERROR_AUTH);
    bf_seal_free(tx);
    bf_seal_free(rx);
  }

  /* a clear frame on a sealed stream */
  new_pair(&tx, &rx);
  seal_one(tx, BF_FRAME_PING, "12345678", &f1);
  f1.hdr[5] = 0;
  f1.hdr[3] = 8;
  f1.len = 8;
  open_fails(rx, f1, BF_SEAL_ERROR_FORMAT);
  bf_seal_free(tx);
  bf_seal_free(rx);

  /* another key (the other direction, or another connection) */
  new_pair(&tx, &rx);
  BfSeal *tx2, *rx2;
  new_pair(&tx2, &rx2);
  seal_one(tx2, BF_FRAME_PING, "12345678", &f1);
  open_fails(rx, f1, BF_SEAL_ERROR_AUTH);
  bf_seal_free(tx);
  bf_seal_free(rx);
  bf_seal_free(tx2);
  bf_seal_free(rx2);
}

/* One frame sealed from two parts split anywhere (fixed fields, then a
 * payload: OCB takes whole blocks until its last call, so the split is
 * where seal.c copies) equals the frame sealed from one part, in place
 * or not, and opens; for bodies from empty to a whole chunk. */
static void
test_seal_parts(gconstpointer data)
{
  static const size_t lens[] = { 0, 1, 15, 16, 17, 31, 33, 100, 4099,
                                 256 * 1024 + 40 };
  enum { MAX = 256 * 1024 + 40 };
  g_autofree uint8_t *text = g_malloc(MAX), *one = g_malloc(MAX + 16),
                     *two = g_malloc(MAX + 16);
  uint8_t key[BF_SEAL_KEY_LEN];
  g_autoptr(GError) error = NULL;

  set_aead(data);
  randombytes_buf(key, sizeof key);
  randombytes_buf(text, MAX);
  for (size_t i = 0; i < G_N_ELEMENTS(lens); i++) {
    size_t n = lens[i];
    uint8_t hdr[BF_HEADER_LEN] = { 0, 0, 0, 0, BF_FRAME_CHUNK, 0 };
    bf_store_be32(hdr, (uint32_t)n);
    g_assert_true(bf_seal_header(hdr));
    for (size_t a = 0; a <= MIN(n, 40); a++) {
      g_autoptr(BfSeal) t1 = bf_seal_new(aead, key);
      g_autoptr(BfSeal) t2 = bf_seal_new(aead, key);
      g_autoptr(BfSeal) t3 = bf_seal_new(aead, key);
      g_autoptr(BfSeal) rx = bf_seal_new(aead, key);
      BfSlice whole = { text, n };
      BfSlice split[2] = { { text, a }, { text + a, n - a } };
      g_assert_true(bf_seal_frame(t1, hdr, &whole, 1, one, &error));
      g_assert_true(bf_seal_frame(t2, hdr, split, 2, two, &error));
      g_assert_no_error(error);
      g_assert_cmpmem(one, n + BF_SEAL_TAG_LEN, two, n + BF_SEAL_TAG_LEN);
      memcpy(two, text, n);             /* in place */
      BfSlice here = { two, n };
      g_assert_true(bf_seal_frame(t3, hdr, &here, 1, two, &error));
      g_assert_cmpmem(one, n + BF_SEAL_TAG_LEN, two, n + BF_SEAL_TAG_LEN);
      g_assert_true(bf_open_frame(rx, hdr, two, n + BF_SEAL_TAG_LEN, &error));
      g_assert_no_error(error);
      g_assert_cmpmem(two, n, text, n);
    }
  }
}

static void
test_seal_header(void)
{
  uint8_t hdr[BF_HEADER_LEN] = { 0, 0, 0, 8, BF_FRAME_PING, 0 };

  g_assert_true(bf_seal_header(hdr));
  g_assert_cmpuint(hdr[3], ==, 8 + BF_SEAL_TAG_LEN);
  g_assert_cmpuint(hdr[5], ==, BF_FLAG_SEALED);
  /* the largest plain body that still fits the limit once sealed */
  uint32_t n = BF_BODY_MAX - BF_SEAL_TAG_LEN;
  uint8_t big[BF_HEADER_LEN] = { n >> 24, n >> 16, n >> 8, n, BF_FRAME_CHUNK, 0 };
  g_assert_true(bf_seal_header(big));
  n++;
  uint8_t over[BF_HEADER_LEN] = { n >> 24, n >> 16, n >> 8, n, BF_FRAME_CHUNK, 0 };
  g_assert_false(bf_seal_header(over));
  /* every plain CHUNK of the largest chunk size fits */
  g_assert_cmpuint(BF_CHUNK_MAX + 24 + BF_SEAL_TAG_LEN, <=, BF_BODY_MAX);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  bf_crypto_init();
  g_test_add_func("/crypto/key-parse", test_key_parse);
  g_test_add_func("/crypto/key-derive", test_key_derive);
  g_test_add_func("/crypto/key-files", test_key_files);
  g_test_add_func("/crypto/stored-proof", test_stored_proof);
  g_test_add_data_func("/crypto/handshake-known-answers/gcm",
                       GINT_TO_POINTER(BF_AEAD_AES256_GCM),
                       test_handshake_known_answers);
  g_test_add_data_func("/crypto/handshake-known-answers/ocb",
                       GINT_TO_POINTER(BF_AEAD_AES256_OCB),
                       test_handshake_known_answers);
  g_test_add_func("/crypto/handshake-random-nonces",
                  test_handshake_random_nonces);
  g_test_add_func("/crypto/handshake-wrong-key", test_handshake_wrong_key);
  g_test_add_func("/crypto/handshake-client-keys", test_handshake_client_keys);
  g_test_add_func("/crypto/handshake-sequence", test_handshake_sequence);
  g_test_add_func("/crypto/auth-frame", test_auth_frame);
  static const struct { const char *name; BfAead aead; } aeads[] = {
    { "gcm", BF_AEAD_AES256_GCM }, { "ocb", BF_AEAD_AES256_OCB } };
  for (size_t i = 0; i < G_N_ELEMENTS(aeads); i++) {
    gconstpointer a = GINT_TO_POINTER(aeads[i].aead);
    g_autofree char *rt = g_strdup_printf("/crypto/seal-round-trip/%s",
                                          aeads[i].name);
    g_autofree char *ta = g_strdup_printf("/crypto/seal-tamper/%s",
                                          aeads[i].name);
    g_autofree char *rr = g_strdup_printf(
      "/crypto/seal-replay-reorder-truncate/%s", aeads[i].name);
    g_autofree char *pa = g_strdup_printf("/crypto/seal-parts/%s",
                                          aeads[i].name);
    g_test_add_data_func(rt, a, test_seal_round_trip);
    g_test_add_data_func(ta, a, test_seal_tamper);
    g_test_add_data_func(rr, a, test_seal_replay_reorder_truncate);
    g_test_add_data_func(pa, a, test_seal_parts);
  }
  g_test_add_func("/crypto/seal-header", test_seal_header);
  return g_test_run();
}
