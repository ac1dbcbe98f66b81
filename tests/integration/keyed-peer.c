/* keyed-peer: a hostile peer for a braidfsd with key_file, speaking the
 * real key handshake (src/core/handshake.c, src/core/seal.c: no second
 * implementation of the crypto), for hostile-key.sh.
 *
 *   keyed-peer HOST PORT KEY_FILE CASE [KEY_FILE2]
 *
 * Runs one case on one (or, for replay-handshake, two) connections and
 * prints "PASS|FAIL<TAB>case<TAB>what happened" and "port<TAB>case<TAB>N"
 * for every local port it used (the server's log line names it; the
 * legitimate connection replay-handshake records is "recorder"). Exits 0
 * when the server answered as man/braidfs-protocol.7 says.
 *
 * Cases (KEY_FILE is the server's key unless said otherwise):
 *   wrong-key          the handshake with KEY_FILE = another key: ERROR AUTH
 *   no-key             a plain HELLO, no AUTH: WELCOME status AUTH
 *   out-of-order       AUTH step 3 first: ERROR AUTH
 *   replay-handshake   a whole handshake (AUTH 1, 3 and the sealed HELLO)
 *                      recorded on one connection, replayed on another:
 *                      the server's fresh nonce makes the old proof wrong
 *   replayed-frame     after a good handshake, a sealed PING, answered, then
 *                      the very same bytes again: ERROR CORRUPT, close
 *   flipped-body       a sealed PING with one bit of ciphertext flipped
 *   flipped-header     a sealed PING whose clear type byte says PONG
 *   flipped-tag        a sealed PING with one bit of the tag flipped
 *   reordered          two sealed PINGs, the second sent first
 *   clear-frame        a PING without SEALED after the handshake
 *   short-sealed       a sealed frame shorter than its tag
 *   good               a good handshake and a PING answered by a PONG (the
 *                      control: the cases above fail for their own reason)
 *   steal-session      (client_keys) a session made with KEY_FILE, then an
 *                      ATTACH to it with its id and token on a connection
 *                      keyed with KEY_FILE2: WELCOME AUTH; the same ATTACH
 *                      keyed with KEY_FILE: WELCOME OK (the control)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "braidfs/conn.h"
#include "braidfs/digest.h"
#include "braidfs/handshake.h"
#include "braidfs/key.h"
#include "braidfs/seal.h"
#include "braidfs/wire.h"

#define TIMEOUT_MS 10000

typedef struct {
  BfConn *conn;
  BfHandshake *hs;
  BfSeal *tx;                 /* ours: we build sealed frames by hand */
  GByteArray *sent;           /* every byte written, for replays */
} Peer;

static const char *g_case;
static const char *g_port_tag;  /* the case a port line names */
static int g_fails;

static void
result(gboolean ok, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
result(gboolean ok, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  printf("%s\t%s\t%s\n", ok ? "PASS" : "FAIL", g_case, what);
  fflush(stdout);
  g_fails += !ok;
}

static gboolean
write_all(Peer *p, const uint8_t *b, size_t n)
{
  g_byte_array_append(p->sent, b, (guint)n);
  while (n > 0) {
    ssize_t w = write(p->conn->fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return FALSE;
    b += w;
    n -= (size_t)w;
  }
  return TRUE;
}

/* The bytes of msg on the wire: clear, or sealed with p->tx. */
static GByteArray *
frame_bytes(Peer *p, const BfMsg *msg, gboolean seal)
{
  GByteArray *clear = g_byte_array_new();

  g_assert(bf_msg_encode(msg, clear));
  if (!seal)
    return clear;
  GByteArray *out = g_byte_array_sized_new(clear->len + BF_SEAL_TAG_LEN);
  g_byte_array_set_size(out, clear->len + BF_SEAL_TAG_LEN);
  memcpy(out->data, clear->data, BF_HEADER_LEN);
  g_assert(bf_seal_header(out->data));
  BfSlice part = { clear->data + BF_HEADER_LEN, clear->len - BF_HEADER_LEN };
  g_assert(bf_seal_frame(p->tx, out->data, &part, 1, out->data + BF_HEADER_LEN,
                         NULL));
  g_byte_array_unref(clear);
  return out;
}

static gboolean
send_msg(Peer *p, const BfMsg *msg, gboolean seal)
{
  g_autoptr(GByteArray) b = frame_bytes(p, msg, seal);
  return write_all(p, b->data, b->len);
}

static Peer *
peer_connect(const char *host, uint16_t port)
{
  g_autoptr(GError) error = NULL;
  int fd = bf_tcp_connect(host, port, NULL, TIMEOUT_MS, &error);

  if (fd < 0) {
    result(FALSE, "connect: %s", error->message);
    return NULL;
  }
  Peer *p = g_new0(Peer, 1);
  p->conn = bf_conn_new(fd);
  p->sent = g_byte_array_new();
  bf_conn_set_recv_timeout(p->conn, TIMEOUT_MS);
  g_autofree char *local = bf_sock_name(fd, FALSE);
  printf("port\t%s\t%s\n", g_port_tag, strrchr(local, ':') + 1);
  return p;
}

static void
peer_free(Peer *p)
{
  if (p == NULL)
    return;
  bf_conn_free(p->conn);
  bf_handshake_free(p->hs);
  bf_seal_free(p->tx);
  g_byte_array_unref(p->sent);
  g_free(p);
}

static gboolean
recv_msg(Peer *p, BfMsg *m, const char *what)
{
  g_autoptr(GError) error = NULL;

  if (bf_conn_recv(p->conn, m, &error))
    return TRUE;
  result(FALSE, "%s: %s", what, error->message);
  return FALSE;
}

/* The server's answer must be status (in ERROR, or WELCOME for a refused
 * HELLO), then the end of the connection. */
static void
expect_refusal(Peer *p, uint8_t type, uint8_t status, const char *what)
{
  BfMsg m;

  if (!recv_msg(p, &m, what))
    return;
  uint8_t got = m.type == BF_FRAME_ERROR ? m.u.error.status
                : m.type == BF_FRAME_WELCOME ? m.u.welcome.status : 0xff;
  const BfBytes *t = m.type == BF_FRAME_ERROR ? &m.u.error.message
                     : &m.u.welcome.message;
  if (m.type != type || got != status) {
    result(FALSE, "%s: expected %s %s, got %s status %u", what,
           bf_frame_type_str(type), bf_status_str(status),
           bf_frame_type_str(m.type), got);
    return;
  }
  g_autofree char *text = g_strndup((const char *)t->data, t->len);
  g_autoptr(GError) error = NULL;
  /* a close with our later frames unread is a reset: closed too */
  gboolean closed = !bf_conn_recv(p->conn, &m, &error) &&
                    error->domain == BF_NET_ERROR &&
                    error->code != BF_NET_ERROR_TIMEOUT;
  result(closed, "%s: %s %s \"%s\"%s", what, bf_frame_type_str(type),
         bf_status_str(status), text,
         closed ? ", then closed" : ", but the connection stayed open");
}

/* Preface both ways and AUTH 1; the server's AUTH 2 fed to the handshake.
 * Returns our AUTH 3. */
static gboolean
auth_start(Peer *p, const BfKey *key, BfAuth *a3)
{
  BfMsg m = { .type = BF_FRAME_AUTH }, in;
  gboolean send;
  g_autoptr(GError) error = NULL;

  p->hs = bf_handshake_new(BF_HS_CLIENT, key, NULL);
  bf_handshake_start(p->hs, &m.u.auth);
  if (!write_all(p, bf_preface, BF_PREFACE_LEN) || !send_msg(p, &m, FALSE) ||
      !bf_conn_recv_preface(p->conn, NULL, &error)) {
    result(FALSE, "preface/AUTH 1: %s", error ? error->message : "write failed");
    return FALSE;
  }
  if (!recv_msg(p, &in, "AUTH 2"))
    return FALSE;
  if (in.type != BF_FRAME_AUTH ||
      !bf_handshake_feed(p->hs, &in.u.auth, a3, &send, &error)) {
    result(FALSE, "AUTH 2: got %s %s", bf_frame_type_str(in.type),
           error ? error->message : "");
    return FALSE;
  }
  p->tx = bf_handshake_take_seal(p->hs, TRUE);
  return TRUE;
}

static void
hello_new(BfMsg *m, const char *label)
{
  memset(m, 0, sizeof *m);
  m->type = BF_FRAME_HELLO;
  m->u.hello.kind = BF_HELLO_NEW;
  m->u.hello.label.data = (const uint8_t *)label;
  m->u.hello.label.len = (uint16_t)strlen(label);
  m->u.hello.path_index = 0;
}

/* A whole good handshake with hello (NULL: a NEW one) up to the WELCOME,
 * which is returned in *welcome (NULL: it must be OK). */
static Peer *
good_session_hello(const char *host, uint16_t port, const BfKey *key,
                   const BfMsg *hello_in, BfMsg *welcome)
{
  Peer *p = peer_connect(host, port);
  BfMsg m = { .type = BF_FRAME_AUTH }, in;
  gboolean send;

  if (p == NULL || !auth_start(p, key, &m.u.auth))
    goto fail;
  BfMsg hello;
  if (hello_in != NULL)
    hello = *hello_in;
  else
    hello_new(&hello, "hostile-key");
  if (!send_msg(p, &m, FALSE) || !send_msg(p, &hello, TRUE) ||
      !recv_msg(p, &in, "AUTH 4"))
    goto fail;
  if (in.type == BF_FRAME_ERROR) {
    g_autofree char *text = g_strndup((const char *)in.u.error.message.data,
                                      in.u.error.message.len);
    result(FALSE, "AUTH 4: got ERROR %s \"%s\"",
           bf_status_str(in.u.error.status), text);
    goto fail;
  }
  if (in.type != BF_FRAME_AUTH ||
      !bf_handshake_feed(p->hs, &in.u.auth, &m.u.auth, &send, NULL)) {
    result(FALSE, "AUTH 4: got %s, or a proof that does not verify",
           bf_frame_type_str(in.type));
    goto fail;
  }
  bf_conn_seal_rx(p->conn, bf_handshake_take_seal(p->hs, FALSE));
  if (!recv_msg(p, &in, "WELCOME"))
    goto fail;
  if (welcome != NULL && in.type == BF_FRAME_WELCOME) {
    *welcome = in;
    return p;
  }
  if (in.type != BF_FRAME_WELCOME || in.u.welcome.status != BF_ST_OK) {
    result(FALSE, "expected WELCOME OK, got %s", bf_frame_type_str(in.type));
    goto fail;
  }
  return p;
fail:
  peer_free(p);
  return NULL;
}

static Peer *
good_session(const char *host, uint16_t port, const BfKey *key)
{
  return good_session_hello(host, port, key, NULL, NULL);
}

/* A session made with key, attached to with its token by other. */
static void
case_steal_session(const char *host, uint16_t port, const BfKey *key,
                   const BfKey *other)
{
  BfMsg hello = { .type = BF_FRAME_HELLO }, w;
  uint8_t id[BF_ID_LEN], token[BF_ID_LEN];

  if (other == NULL) {
    result(FALSE, "steal-session needs a second key file");
    return;
  }
  Peer *owner = good_session_hello(host, port, key, NULL, &w);
  if (owner == NULL || w.u.welcome.status != BF_ST_OK) {
    result(FALSE, "the owner's session was not made");
    peer_free(owner);
    return;
  }
  memcpy(id, w.u.welcome.session_id, BF_ID_LEN);
  memcpy(token, w.u.welcome.token, BF_ID_LEN);
  hello.u.hello.kind = BF_HELLO_ATTACH;
  memcpy(hello.u.hello.session_id, id, BF_ID_LEN);
  memcpy(hello.u.hello.token, token, BF_ID_LEN);
  hello.u.hello.path_index = 1;

  Peer *thief = good_session_hello(host, port, other, &hello, &w);
  if (thief != NULL) {
    g_autofree char *text = g_strndup((const char *)w.u.welcome.message.data,
                                      w.u.welcome.message.len);
    result(w.u.welcome.status == BF_ST_AUTH, "ATTACH with another client's "
           "key and the right token: WELCOME %s \"%s\"",
           bf_status_str(w.u.welcome.status), text);
  }
  peer_free(thief);
  Peer *again = good_session_hello(host, port, key, &hello, &w);
  if (again != NULL)
    result(w.u.welcome.status == BF_ST_OK, "the same ATTACH with the "
           "owner's key: WELCOME %s", bf_status_str(w.u.welcome.status));
  peer_free(again);
  peer_free(owner);
}

static BfMsg
ping(uint64_t opaque)
{
  BfMsg m = { .type = BF_FRAME_PING };

  m.u.ping.opaque = opaque;
  return m;
}

static void
case_handshake_only(const char *host, uint16_t port, const BfKey *key)
{
  g_autoptr(GError) error = NULL;
  Peer *p = peer_connect(host, port);
  BfMsg m = { .type = BF_FRAME_AUTH }, hello;

  if (p == NULL)
    return;
  hello_new(&hello, "hostile-key");
  if (strcmp(g_case, "wrong-key") == 0) {
    /* as the real client: proof and sealed HELLO in one go */
    if (auth_start(p, key, &m.u.auth) && send_msg(p, &m, FALSE) &&
        send_msg(p, &hello, TRUE))
      expect_refusal(p, BF_FRAME_ERROR, BF_ST_AUTH, "proof with another key");
  } else if (strcmp(g_case, "no-key") == 0) {
    if (write_all(p, bf_preface, BF_PREFACE_LEN) && send_msg(p, &hello, FALSE) &&
        bf_conn_recv_preface(p->conn, NULL, &error))
      expect_refusal(p, BF_FRAME_WELCOME, BF_ST_AUTH, "HELLO without AUTH");
  } else {  /* out-of-order */
    m.u.auth.step = BF_AUTH_CLIENT_PROOF;
    if (write_all(p, bf_preface, BF_PREFACE_LEN) && send_msg(p, &m, FALSE) &&
        bf_conn_recv_preface(p->conn, NULL, &error))
      expect_refusal(p, BF_FRAME_ERROR, BF_ST_AUTH, "AUTH step 3 first");
  }
  peer_free(p);
}

/* Records a full handshake on one connection, replays its bytes on a
 * second one. */
static void
case_replay_handshake(const char *host, uint16_t port, const BfKey *key)
{
  g_port_tag = "recorder";  /* a legitimate connection: no log line due */
  Peer *first = good_session(host, port, key);
  Peer *second;

  g_port_tag = g_case;
  if (first == NULL)
    return;
  second = peer_connect(host, port);
  if (second != NULL) {
    g_autoptr(GError) error = NULL;
    /* all of it at once: preface, AUTH 1, AUTH 3, sealed HELLO */
    if (write_all(second, first->sent->data, first->sent->len) &&
        bf_conn_recv_preface(second->conn, NULL, &error)) {
      BfMsg in;
      if (recv_msg(second, &in, "AUTH 2") && in.type == BF_FRAME_AUTH)
        expect_refusal(second, BF_FRAME_ERROR, BF_ST_AUTH,
                       "replayed AUTH 1, AUTH 3 and HELLO");
      else
        result(FALSE, "no AUTH 2 for the replayed AUTH 1");
    }
  }
  peer_free(second);
  peer_free(first);
}

static void
case_sealed(const char *host, uint16_t port, const BfKey *key)
{
  Peer *p = good_session(host, port, key);
  BfMsg m = ping(42), in;

  if (p == NULL)
    return;
  g_autoptr(GByteArray) f1 = frame_bytes(p, &m, TRUE);
  if (strcmp(g_case, "good") == 0 || strcmp(g_case, "replayed-frame") == 0) {
    if (!write_all(p, f1->data, f1->len) || !recv_msg(p, &in, "PONG"))
      goto out;
    if (in.type != BF_FRAME_PONG || in.u.ping.opaque != 42) {
      result(FALSE, "expected PONG 42, got %s", bf_frame_type_str(in.type));
      goto out;
    }
    if (strcmp(g_case, "good") == 0) {
      result(TRUE, "sealed PING answered by a sealed PONG");
      goto out;
    }
    write_all(p, f1->data, f1->len);  /* the same bytes again */
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "the same sealed PING twice");
  } else if (strcmp(g_case, "flipped-body") == 0) {
    f1->data[BF_HEADER_LEN + 3] ^= 0x10;
    write_all(p, f1->data, f1->len);
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "a ciphertext bit flipped");
  } else if (strcmp(g_case, "flipped-tag") == 0) {
    f1->data[f1->len - 1] ^= 0x01;
    write_all(p, f1->data, f1->len);
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "a tag bit flipped");
  } else if (strcmp(g_case, "flipped-header") == 0) {
    f1->data[4] = BF_FRAME_PONG;
    write_all(p, f1->data, f1->len);
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "PING's clear header says PONG");
  } else if (strcmp(g_case, "reordered") == 0) {
    BfMsg m2 = ping(43);
    g_autoptr(GByteArray) f2 = frame_bytes(p, &m2, TRUE);
    write_all(p, f2->data, f2->len);
    write_all(p, f1->data, f1->len);
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "the second sealed frame first");
  } else if (strcmp(g_case, "clear-frame") == 0) {
    send_msg(p, &m, FALSE);
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "a clear PING on a keyed path");
  } else if (strcmp(g_case, "short-sealed") == 0) {
    /* header: 8 bytes, SEALED; less than a tag */
    const uint8_t f[] = { 0, 0, 0, 8, BF_FRAME_PING, BF_FLAG_SEALED,
                          1, 2, 3, 4, 5, 6, 7, 8 };
    write_all(p, f, sizeof f);
    expect_refusal(p, BF_FRAME_ERROR, BF_ST_CORRUPT, "a sealed frame shorter than its tag");
  } else {
    result(FALSE, "unknown case");
  }
out:
  peer_free(p);
}

int
main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;

  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: keyed-peer HOST PORT KEY_FILE CASE [KEY_FILE2]\n");
    return 2;
  }
  bf_crypto_init();
  g_case = g_port_tag = argv[4];
  g_autoptr(BfKey) key = bf_key_load(argv[3], &error);
  if (key == NULL) {
    fprintf(stderr, "keyed-peer: %s\n", error->message);
    return 2;
  }
  const char *host = argv[1];
  uint16_t port = (uint16_t)atoi(argv[2]);
  if (strcmp(g_case, "wrong-key") == 0 || strcmp(g_case, "no-key") == 0 ||
      strcmp(g_case, "out-of-order") == 0)
    case_handshake_only(host, port, key);
  else if (strcmp(g_case, "replay-handshake") == 0)
    case_replay_handshake(host, port, key);
  else if (strcmp(g_case, "steal-session") == 0) {
    g_autoptr(BfKey) other = argc == 6 ? bf_key_load(argv[5], &error) : NULL;
    if (argc == 6 && other == NULL)
      fprintf(stderr, "keyed-peer: %s\n", error->message);
    case_steal_session(host, port, key, other);
  }
  else
    case_sealed(host, port, key);
  return g_fails == 0 ? 0 : 1;
}
