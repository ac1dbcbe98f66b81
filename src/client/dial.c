/* Connecting one path (dial.h). */
#include "dial.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "braidfs/handshake.h"
#include "braidfs/parse.h"

static char *
append_hint(char *a, const char *b)
{
  char *r = g_strconcat(a, b, NULL);

  g_free(a);
  return r;
}

static gboolean
key_fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
key_fail(GError **error, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, BF_NET_ERROR, BF_NET_ERROR_IO, text);
  return FALSE;
}

/* What the server sent instead of the AUTH step we wait for: its refusal,
 * in the words the user needs. */
static gboolean
auth_refused(const BfMsg *m, const char *where, uint8_t step, GError **error)
{
  uint8_t status = m->type == BF_FRAME_ERROR ? m->u.error.status
                   : m->type == BF_FRAME_WELCOME ? m->u.welcome.status
                   : BF_ST_PROTOCOL;
  const BfBytes *text = m->type == BF_FRAME_ERROR ? &m->u.error.message
                        : m->type == BF_FRAME_WELCOME ? &m->u.welcome.message
                        : NULL;
  g_autofree char *td = text ? bfc_server_text(text) : g_strdup("");

  if (m->type != BF_FRAME_ERROR && m->type != BF_FRAME_WELCOME)
    return key_fail(error, "server %s answered the key handshake with %s",
                    where, bf_frame_type_str(m->type));
  if (step == BF_AUTH_SERVER_NONCE && status == BF_ST_AUTH)
    return key_fail(error, "server %s has no key but key_file is set", where);
  /* A server that cannot parse AUTH answers as to a malformed HELLO. */
  if (step == BF_AUTH_SERVER_NONCE && status == BF_ST_PROTOCOL)
    return key_fail(error, "server %s does not know the key handshake (an "
                    "older braidfsd without key_file?): %s", where, td);
  if (step == BF_AUTH_SERVER_PROOF && status == BF_ST_AUTH)
    return key_fail(error, "server %s refused the key (wrong key_file?)",
                    where);
  return key_fail(error, "server %s refused the key handshake (%s): %s",
                  where, bf_status_str(status), td);
}

/* Receives the AUTH of the given step and feeds it to hs. */
static gboolean
auth_recv(BfConn *c, BfHandshake *hs, const char *where, uint8_t step,
          BfAuth *out, gboolean *send, GError **error)
{
  g_autoptr(GError) err = NULL;
  BfMsg m;

  if (!bf_conn_recv(c, &m, error))
    return FALSE;
  if (m.type != BF_FRAME_AUTH || m.u.auth.step != step)
    return auth_refused(&m, where, step, error);
  if (bf_handshake_feed(hs, &m.u.auth, out, send, &err))
    return TRUE;
  if (g_error_matches(err, BF_HS_ERROR, BF_HS_ERROR_PROOF))
    return key_fail(error, "server %s could not prove it knows the key "
                    "(not the braidfsd you meant, or an attacker in the "
                    "way)", where);
  return key_fail(error, "server %s: key handshake: %s", where, err->message);
}

/* The key handshake, up to and including the sealed HELLO: AUTH 1 went
 * out with the preface. Once this returns TRUE every frame is sealed. */
static gboolean
key_handshake(BfConn *c, BfHandshake *hs, const char *where,
              const BfMsg *hello, GError **error)
{
  BfMsg m = { .type = BF_FRAME_AUTH };
  gboolean send;

  if (!auth_recv(c, hs, where, BF_AUTH_SERVER_NONCE, &m.u.auth, &send, error))
    return FALSE;
  if (!bf_conn_send(c, &m, error))
    return FALSE;
  /* The HELLO goes right behind our proof, sealed: only a holder of the
   * key can read its attach token, so it need not wait for the server's
   * proof. */
  bf_conn_seal_tx(c, bf_handshake_take_seal(hs, TRUE));
  if (!bf_conn_send(c, hello, error))
    return FALSE;
  if (!auth_recv(c, hs, where, BF_AUTH_SERVER_PROOF, &m.u.auth, &send, error))
    return FALSE;
  bf_conn_seal_rx(c, bf_handshake_take_seal(hs, FALSE));
  return TRUE;
}

/* What the server sent in the handshake could not be read: not braidfs,
 * too slow for the handshake's deadline, or a frame too large. */
static gboolean
recv_failed(const char *where, unsigned timeout_ms, GError **error)
{
  if (g_error_matches(*error, BF_NET_ERROR, BF_NET_ERROR_TIMEOUT))
    g_prefix_error(error, "server %s did not complete the handshake within "
                   "%.3g s (timeout=): ", where, timeout_ms / 1000.0);
  else if ((*error)->domain == BF_NET_ERROR)
    g_prefix_error(error, "server %s: handshake: ", where);
  else
    g_prefix_error(error, "server %s is not a braidfs server: ", where);
  return FALSE;
}

/* The server's preface, which must be of the version we spoke. One of
 * another is no use (the frames' layouts differ): the user is told which
 * end to upgrade, unless bfc_dial can speak the older one. */
static gboolean
recv_server_preface(BfConn *c, const char *where, unsigned timeout_ms,
                    uint8_t *status, GError **error)
{
  uint8_t version;

  if (bf_conn_recv_preface(c, &version, error) && version == c->version)
    return TRUE;
  if (version == 0)
    return recv_failed(where, timeout_ms, error);
  *status = BF_ST_VERSION;
  g_clear_error(error);
  g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO, "server %s speaks "
              "protocol %u, this braidfs speaks %u to %u (upgrade %s)", where,
              version, BF_PROTOCOL_VERSION_MIN, BF_PROTOCOL_VERSION,
              version < BF_PROTOCOL_VERSION ? "braidfsd on the server"
                                            : "this braidfs");
  return FALSE;
}

int
bfc_dial_first_version(void)
{
  const char *v = g_getenv("BRAIDFS_TEST_PROTOCOL");
  guint64 n;

  if (v != NULL && g_ascii_string_to_unsigned(v, 10, BF_PROTOCOL_VERSION_MIN,
                                              BF_PROTOCOL_VERSION, &n, NULL)) {
    g_warning("test hook armed: BRAIDFS_TEST_PROTOCOL=%s", v);
    return (int)n;
  }
  return BF_PROTOCOL_VERSION;
}

/* On a refusal, *status says why (else BF_ST_OK; BFC_ST_KEY for the key
 * handshake). *instance is the server process's id from its WELCOME (0 if
 * it sent none). */
static gboolean
handshake(BfcSession *s, BfConn *c, const char *where, unsigned index,
          BfHelloKind kind, unsigned timeout_ms, uint8_t *status,
          uint64_t *instance, GError **error)
{
  BfMsg m = { .type = BF_FRAME_HELLO };
  BfHello *h = &m.u.hello;
  g_autoptr(BfHandshake) hs = NULL;

  *status = BF_ST_OK;
  /* The whole handshake, not each read: a server trickling a byte at a
   * time would hold a mount or a re-attach for ever. Nothing before the
   * WELCOME needs a large frame. */
  bf_conn_set_recv_timeout(c, timeout_ms);
  bf_conn_set_deadline(c, g_get_monotonic_time() + (gint64)timeout_ms * 1000);
  c->max_body = BFC_HANDSHAKE_BODY_MAX;
  h->kind = kind;
  h->path_index = (uint16_t)index;
  if (kind == BF_HELLO_NEW) {
    h->label.data = (const uint8_t *)s->cfg.label;
    h->label.len = s->cfg.label ? (uint16_t)strlen(s->cfg.label) : 0;
  } else {
    memcpy(h->session_id, s->id, BF_ID_LEN);
    memcpy(h->token, s->token, BF_ID_LEN);
  }
  c->version = (uint8_t)g_atomic_int_get(&s->proto);
  if (!bf_conn_send_preface(c, error))
    return FALSE;
  if (s->cfg.key != NULL) {
    BfMsg a = { .type = BF_FRAME_AUTH };
    hs = bf_handshake_new(BF_HS_CLIENT, s->cfg.key, NULL);
    bf_handshake_set_aead(hs, bf_aead_for_version(c->version));
    bf_handshake_start(hs, &a.u.auth);
    if (!bf_conn_send(c, &a, error))
      return FALSE;
  } else if (!bf_conn_send(c, &m, error)) {
    return FALSE;
  }
  if (!recv_server_preface(c, where, timeout_ms, status, error))
    return FALSE;
  if (hs != NULL && !key_handshake(c, hs, where, &m, error)) {
    *status = BFC_ST_KEY;
    return FALSE;
  }
  if (!bf_conn_recv(c, &m, error))
    return recv_failed(where, timeout_ms, error);
  if (m.type == BF_FRAME_ERROR) {
    g_autofree char *text = bfc_server_text(&m.u.error.message);
    *status = m.u.error.status;
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s refused the handshake (%s): %s", where,
                bf_status_str(m.u.error.status), text);
    return FALSE;
  }
  if (m.type != BF_FRAME_WELCOME) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s answered the handshake with %s", where,
                bf_frame_type_str(m.type));
    return FALSE;
  }
  if (m.u.welcome.status != BF_ST_OK) {
    g_autofree char *text = bfc_server_text(&m.u.welcome.message);
    *status = m.u.welcome.status;
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "server %s refused the session (%s): %s", where,
                bf_status_str(m.u.welcome.status), text);
    return FALSE;
  }
  if (kind == BF_HELLO_NEW) {
    memcpy(s->id, m.u.welcome.session_id, BF_ID_LEN);
    memcpy(s->token, m.u.welcome.token, BF_ID_LEN);
  }
  *instance = m.u.welcome.instance;
  bf_conn_set_recv_timeout(c, 0);
  bf_conn_set_deadline(c, 0);
  c->max_body = BF_BODY_MAX;
  return TRUE;
}

/* *older: on a refusal of our version, the server's when it is an older
 * one this build speaks too, else 0. */
static BfConn *
dial_once(BfcSession *s, const BfcPathSpec *spec, unsigned index,
          BfHelloKind kind, unsigned timeout_ms, uint8_t *status,
          uint64_t *instance, uint8_t *older, GError **error)
{
  BfSource src = { spec->bind_addr, spec->iface };
  int fd = bf_tcp_connect(spec->host, spec->port, &src, timeout_ms, error);
  BfConn *c;

  *status = BF_ST_OK;
  if (fd < 0) {
    /* A name that does not resolve says so; the hint is for a host
     * where nothing answers. */
    if (kind == BF_HELLO_NEW) {
      if (!g_error_matches(*error, BF_NET_ERROR, BF_NET_ERROR_RESOLVE))
        (*error)->message = append_hint((*error)->message,
                                        " (is braidfsd running there?)");
    } else
      g_prefix_error(error, "path %u: ", index);
    return NULL;
  }
  /* The kernel keeps at most a chunk that has not left: the rest waits in
   * the path's queue, where placement can still move it to another path
   * (place.h) and a lost path's chunks are ours to send again, and a
   * chunk's round trip measures the link, not the socket's buffer. */
  int lowat = (int)s->cfg.chunk_size;
  setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  g_autofree char *where = bf_format_hostport(spec->host, spec->port);
  if (s->cfg.key == NULL && !s->cfg.insecure && !bf_sock_loopback(fd, TRUE)) {
    close(fd);
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO, "server %s is not a "
                "loopback address and there is no key_file: the paths would "
                "travel in the clear to a server nobody authenticated; give "
                "key_file=FILE (the server's key), or -o insecure on a "
                "network where every host is trusted", where);
    return NULL;
  }
  c = bf_conn_new(fd);
  if (!handshake(s, c, where, index, kind, timeout_ms, status, instance,
                 error)) {
    if (*status == BF_ST_VERSION && c->peer_version >= BF_PROTOCOL_VERSION_MIN
        && c->peer_version < c->version)
      *older = c->peer_version;
    bf_conn_free(c);
    return NULL;
  }
  return c;
}

/* An older server refused our version: the session's paths speak its
 * version from now on (the first path to learn it says so). */
static void
speak_older(BfcSession *s, uint8_t older)
{
  int cur = g_atomic_int_get(&s->proto);

  if (older < cur && g_atomic_int_compare_and_exchange(&s->proto, cur, older))
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, s->server, NULL), "server %s "
           "speaks protocol %u, an older one: speaking it%s%s%s", s->server,
           older, s->cfg.key == NULL ? "" : " (paths sealed with ",
           s->cfg.key == NULL ? "" : bf_aead_name(bf_aead_for_version(older)),
           s->cfg.key == NULL ? "" : ", slower: upgrade braidfsd)");
}

BfConn *
bfc_dial(BfcSession *s, const BfcPathSpec *spec, unsigned index,
         BfHelloKind kind, unsigned timeout_ms, uint8_t *status,
         uint64_t *instance, GError **error)
{
  uint8_t older = 0;
  BfConn *c = dial_once(s, spec, index, kind, timeout_ms, status, instance,
                        &older, error);

  if (c != NULL || older == 0)
    return c;
  speak_older(s, older);
  g_clear_error(error);
  return dial_once(s, spec, index, kind, timeout_ms, status, instance, &older,
                   error);
}
