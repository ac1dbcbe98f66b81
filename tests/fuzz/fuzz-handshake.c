/* fuzz-handshake: the key handshake state machine (handshake.h) and frame
 * sealing (seal.h).
 *
 * Input layout (missing bytes read as zero):
 *   byte 0       mode: bit 0 = the server has another key than the client;
 *                bits 1-3 = which message a man in the middle alters in
 *                part 2 (0 none, 1..4 = AUTH step 1..4, 5..7 none)
 *   bytes 1-2    what he alters: byte 1 = position in the message (mod 33:
 *                0 the step, 1..32 the value), byte 2 = XOR mask (0 -> 1)
 *   bytes 3-34   nonce_c, bytes 35-66 nonce_s (both sides' own nonces)
 *   bytes 67..   a stream of frames (6-byte header + body, as on the wire)
 *
 * Part 1, peers that lie: the frames are decoded (bf_header_parse,
 * bf_msg_decode); client steps (1, 3) go to a fresh server, server steps
 * (2, 4) to a started client, as a hostile peer would send them (a step
 * sent the wrong way is the unit tests' business). Oracles: the server accepts a
 * client proof only if it equals what an honest client with the same key
 * computes over the nonces that server saw; the client accepts a server
 * proof only if it equals what an honest server computes; neither is done
 * before its peer's proof, nor gives out sealers before both nonces.
 * Part 2, a man in the middle: an honest client and server run the four
 * steps through him. Oracle: both are done exactly when he altered
 * nothing and the keys are equal; otherwise one of them refuses.
 * Part 3, sealing: when part 2 succeeded, the frames of the stream (their
 * raw bytes, header included) are sealed by the client and opened by the
 * server, each altered in one bit when the frame's first body byte is odd
 * (the bit chosen by its second). Oracles: an unaltered frame opens to its
 * bytes until the first altered one; an altered frame and everything after
 * it fails; the server's frames open at the client.
 */
#include "fuzz.h"

#include <string.h>

#include "braidfs/digest.h"
#include "braidfs/handshake.h"
#include "braidfs/key.h"
#include "braidfs/seal.h"
#include "braidfs/wire.h"

#define HEAD 67

static const uint8_t key_a[BF_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t key_b[BF_KEY_LEN] = { 11, 12, 13, 14, 15, 16, 17, 18 };

typedef struct {
  BfKey *a, *b;
} Keys;

static Keys *
keys(void)
{
  static Keys k;

  if (k.a == NULL) {
    fuzz_init();
    bf_crypto_init();
    k.a = bf_key_from_raw(key_a);
    k.b = bf_key_from_raw(key_b);
  }
  return &k;
}

static gboolean
feed(BfHandshake *hs, const BfAuth *in, BfAuth *out, gboolean *send)
{
  g_autoptr(GError) e = NULL;
  gboolean ok = bf_handshake_feed(hs, in, out, send, &e);

  FUZZ_CHECK(ok == (e == NULL));
  FUZZ_CHECK(ok || (e->domain == BF_HS_ERROR && !*send));
  if (!ok)
    FUZZ_CHECK(!bf_handshake_done(hs) && !bf_handshake_keys_ready(hs));
  return ok;
}

/* What an honest client with key would send as AUTH 3 after nonce_c (its
 * own) and the server's AUTH 2. */
static gboolean
honest_client_proof(const BfKey *key, const uint8_t *nonce_c,
                    const BfAuth *a2, BfAuth *a3)
{
  g_autoptr(BfHandshake) c = bf_handshake_new(BF_HS_CLIENT, key, nonce_c);
  BfAuth a1;
  gboolean send;

  bf_handshake_start(c, &a1);
  return feed(c, a2, a3, &send);
}

/* What an honest server with key would send as AUTH 4, given the client's
 * AUTH 1 and AUTH 3 and the server nonce. */
static gboolean
honest_server_proof(const BfKey *key, const BfAuth *a1, const uint8_t *nonce_s,
                    const BfAuth *a3, BfAuth *a4)
{
  g_autoptr(BfHandshake) s = bf_handshake_new(BF_HS_SERVER, key, nonce_s);
  BfAuth a2;
  gboolean send;

  return feed(s, a1, &a2, &send) && feed(s, a3, a4, &send);
}

/* ---- part 1 ------------------------------------------------------------- */

typedef struct {
  BfHandshake *server, *client;
  BfAuth srv_in1, srv_out2;   /* what the server saw and said */
  gboolean srv_has1;
  BfAuth cli_out1, cli_in2, cli_out3;
  gboolean cli_has2;
} Liars;

static void
to_server(Liars *l, const BfKey *key, const uint8_t *nonce_s, const BfAuth *in)
{
  BfAuth out;
  gboolean send;
  gboolean was_ready = bf_handshake_keys_ready(l->server);

  if (!feed(l->server, in, &out, &send))
    return;
  FUZZ_CHECK(send);
  if (in->step == BF_AUTH_CLIENT_NONCE) {
    FUZZ_CHECK(!was_ready && !bf_handshake_keys_ready(l->server));
    FUZZ_CHECK(out.step == BF_AUTH_SERVER_NONCE);
    FUZZ_CHECK(memcmp(out.value, nonce_s, BF_AUTH_VALUE_LEN) == 0);
    l->srv_in1 = *in;
    l->srv_out2 = out;
    l->srv_has1 = TRUE;
    return;
  }
  /* accepted a proof: it must be the honest one */
  BfAuth want;
  FUZZ_CHECK(in->step == BF_AUTH_CLIENT_PROOF && l->srv_has1);
  FUZZ_CHECK(bf_handshake_done(l->server) && out.step == BF_AUTH_SERVER_PROOF);
  FUZZ_CHECK(bf_handshake_keys_ready(l->server));
  FUZZ_CHECK(honest_client_proof(key, l->srv_in1.value, &l->srv_out2, &want));
  FUZZ_CHECK(memcmp(want.value, in->value, BF_AUTH_VALUE_LEN) == 0);
}

static void
to_client(Liars *l, const BfKey *key, const BfAuth *in)
{
  BfAuth out;
  gboolean send;

  if (!feed(l->client, in, &out, &send))
    return;
  if (in->step == BF_AUTH_SERVER_NONCE) {
    FUZZ_CHECK(send && out.step == BF_AUTH_CLIENT_PROOF);
    FUZZ_CHECK(bf_handshake_keys_ready(l->client));
    FUZZ_CHECK(!bf_handshake_done(l->client));
    l->cli_in2 = *in;
    l->cli_out3 = out;
    l->cli_has2 = TRUE;
    return;
  }
  BfAuth want;
  FUZZ_CHECK(!send && in->step == BF_AUTH_SERVER_PROOF && l->cli_has2);
  FUZZ_CHECK(bf_handshake_done(l->client));
  FUZZ_CHECK(honest_server_proof(key, &l->cli_out1, l->cli_in2.value,
                                 &l->cli_out3, &want));
  FUZZ_CHECK(memcmp(want.value, in->value, BF_AUTH_VALUE_LEN) == 0);
}

static void
part1(const uint8_t *nc, const uint8_t *ns, const uint8_t *data, size_t size)
{
  const BfKey *key = keys()->a;
  Liars l = { 0 };

  l.server = bf_handshake_new(BF_HS_SERVER, key, ns);
  l.client = bf_handshake_new(BF_HS_CLIENT, key, nc);
  bf_handshake_start(l.client, &l.cli_out1);
  FUZZ_CHECK(bf_handshake_take_seal(l.client, TRUE) == NULL);
  while (size >= BF_HEADER_LEN) {
    uint8_t type, flags;
    uint32_t len;
    BfMsg m;
    if (!bf_header_parse(data, size, BF_BODY_MAX, &type, &flags, &len, NULL) ||
        len > size - BF_HEADER_LEN)
      break;
    g_autofree uint8_t *body = g_memdup2(data + BF_HEADER_LEN, len);
    data += BF_HEADER_LEN + len;
    size -= BF_HEADER_LEN + len;
    if (!bf_msg_decode(type, flags, body, len, &m, NULL) ||
        m.type != BF_FRAME_AUTH)
      continue;
    if (m.u.auth.step % 2 == 1)
      to_server(&l, key, ns, &m.u.auth);
    else
      to_client(&l, key, &m.u.auth);
  }
  bf_handshake_free(l.server);
  bf_handshake_free(l.client);
}

/* ---- part 2 ------------------------------------------------------------- */

static void
alter(BfAuth *a, unsigned which, const uint8_t *how, unsigned step)
{
  if (which != step)
    return;
  unsigned pos = how[0] % (BF_AUTH_VALUE_LEN + 1);
  uint8_t mask = how[1] ? how[1] : 1;
  if (pos == 0)
    a->step ^= mask;
  else
    a->value[pos - 1] ^= mask;
}

/* Passes the message to hs unless an earlier step failed. */
static gboolean
relay(gboolean ok, BfHandshake *hs, const BfAuth *in, BfAuth *out,
      gboolean *send)
{
  return ok && feed(hs, in, out, send);
}

static gboolean
part2(const uint8_t *head, BfHandshake **pc, BfHandshake **ps)
{
  Keys *k = keys();
  unsigned which = (head[0] >> 1) & 7;
  gboolean other = head[0] & 1;
  BfHandshake *c = bf_handshake_new(BF_HS_CLIENT, k->a, head + 3);
  BfHandshake *s = bf_handshake_new(BF_HS_SERVER, other ? k->b : k->a,
                                    head + 35);
  BfAuth a1, a2, a3, a4, none;
  gboolean send, ok = TRUE;

  bf_handshake_start(c, &a1);
  alter(&a1, which, head + 1, 1);
  ok = relay(ok, s, &a1, &a2, &send);
  alter(&a2, which, head + 1, 2);
  ok = relay(ok, c, &a2, &a3, &send);
  alter(&a3, which, head + 1, 3);
  ok = relay(ok, s, &a3, &a4, &send);
  alter(&a4, which, head + 1, 4);
  ok = relay(ok, c, &a4, &none, &send);
  gboolean honest = !other && (which == 0 || which > 4);
  /* equal nonces on both sides are refused as a reflection */
  if (memcmp(head + 3, head + 35, BF_AUTH_VALUE_LEN) == 0)
    honest = FALSE;
  FUZZ_CHECK(ok == honest);
  FUZZ_CHECK(ok == (bf_handshake_done(c) && bf_handshake_done(s)));
  *pc = c;
  *ps = s;
  return ok;
}

/* ---- part 3 ------------------------------------------------------------- */

static void
part3(BfHandshake *c, BfHandshake *s, const uint8_t *data, size_t size)
{
  g_autoptr(BfSeal) tx = bf_handshake_take_seal(c, TRUE);
  g_autoptr(BfSeal) rx = bf_handshake_take_seal(s, FALSE);
  g_autoptr(BfSeal) back_tx = bf_handshake_take_seal(s, TRUE);
  g_autoptr(BfSeal) back_rx = bf_handshake_take_seal(c, FALSE);
  gboolean broken = FALSE;
  unsigned frames = 0;

  FUZZ_CHECK(tx && rx && back_tx && back_rx);
  while (size >= BF_HEADER_LEN && frames++ < 64) {
    uint32_t len = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                   (uint32_t)data[2] << 8 | data[3];
    if (len > size - BF_HEADER_LEN || len > 4096)
      break;
    uint8_t hdr[BF_HEADER_LEN];
    memcpy(hdr, data, BF_HEADER_LEN);
    hdr[5] &= (uint8_t)~BF_FLAG_SEALED;
    FUZZ_CHECK(bf_seal_header(hdr));
    const uint8_t *plain = data + BF_HEADER_LEN;
    g_autofree uint8_t *buf = g_malloc(len + BF_SEAL_TAG_LEN);
    BfSlice parts[2] = { { plain, len / 3 }, { plain + len / 3, len - len / 3 } };
    FUZZ_CHECK(bf_seal_frame(tx, hdr, parts, 2, buf, NULL));
    gboolean tamper = len >= 1 && (plain[0] & 1);
    if (tamper) {
      size_t bits = (BF_HEADER_LEN + len + BF_SEAL_TAG_LEN) * 8;
      size_t bit = (len >= 2 ? plain[1] * 131u + len : len) % bits;
      if (bit < BF_HEADER_LEN * 8)
        hdr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      else
        buf[bit / 8 - BF_HEADER_LEN] ^= (uint8_t)(1u << (bit % 8));
    }
    /* a length bit flipped makes the header disagree with what follows:
     * a receiver reads a different amount; open the bytes as sent */
    gboolean ok = bf_open_frame(rx, hdr, buf, len + BF_SEAL_TAG_LEN, NULL);
    FUZZ_CHECK(ok == (!tamper && !broken));
    if (ok)
      FUZZ_CHECK(len == 0 || memcmp(buf, plain, len) == 0);
    broken = broken || tamper;
    data += BF_HEADER_LEN + len;
    size -= BF_HEADER_LEN + len;
  }
  /* the other direction is independent of this one's failures */
  static const uint8_t pong[8] = { 7 };
  uint8_t hdr[BF_HEADER_LEN] = { 0, 0, 0, 8, BF_FRAME_PONG, 0 };
  uint8_t buf[8 + BF_SEAL_TAG_LEN];
  BfSlice part = { pong, 8 };
  FUZZ_CHECK(bf_seal_header(hdr));
  FUZZ_CHECK(bf_seal_frame(back_tx, hdr, &part, 1, buf, NULL));
  FUZZ_CHECK(bf_open_frame(back_rx, hdr, buf, sizeof buf, NULL));
  FUZZ_CHECK(memcmp(buf, pong, 8) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint8_t head[HEAD] = { 0 };
  BfHandshake *c = NULL, *s = NULL;

  keys();
  memcpy(head, data, MIN(size, (size_t)HEAD));
  const uint8_t *rest = size > HEAD ? data + HEAD : data;
  size_t rest_len = size > HEAD ? size - HEAD : 0;
  part1(head + 3, head + 35, rest, rest_len);
  if (part2(head, &c, &s))
    part3(c, s, rest, rest_len);
  bf_handshake_free(c);
  bf_handshake_free(s);
  return 0;
}
