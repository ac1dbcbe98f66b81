/* The handshake (handshake.h). Until it is done the path is its thread's
 * alone, so answers are sent directly (bf_conn_send), and frames are
 * small (BFD_HELLO_BODY_MAX); the whole handshake must fit in
 * handshake_timeout, or RESERVE_TIMEOUT_MS on a reserve seat, where only
 * an ATTACH is taken. */
#include "handshake.h"

#include <sodium.h>
#include <string.h>

#include "braidfs/handshake.h"
#include "clientkeys.h"
#include "owner.h"
#include "ratelimit.h"
#include "recovery.h"
#include "session.h"
#include "sessions.h"
#include "status.h"
#include "store.h"

/* A connection on a reserve seat (ratelimit.c) has this long at most: an
 * honest path's handshake takes a few round trips. */
#define RESERVE_TIMEOUT_MS 3000u

/* For log lines: a connection let in over the caps (ratelimit.h). */
static const char *
seat_note(const BfdPath *p)
{
  return p->seat == BFD_GATE_RESERVE ? " (reserve seat)" : "";
}

/* The handshake is over (an answer is about to go out): its seat is free
 * before the peer hears the answer, so that a peer that goes on at once
 * (another path, another try) finds it free. */
static void
leave_seat(BfdPath *p)
{
  if (p->seat == BFD_GATE_REFUSED)
    return;
  bfd_gate_leave(p->srv->gate, p->src, p->seat);
  p->seat = BFD_GATE_REFUSED;   /* left: bfd_handshake does not leave again */
}

static void
send_welcome(BfdPath *p, uint8_t status, const BfdSession *s, gboolean token,
             const char *text)
{
  BfMsg m = { .type = BF_FRAME_WELCOME };
  g_autofree char *shown = NULL;

  m.u.welcome.status = status;
  if (status == BF_ST_OK)
    m.u.welcome.instance = p->srv->instance;
  if (s != NULL) {
    memcpy(m.u.welcome.session_id, s->dir.id, BF_ID_LEN);
    if (token)
      memcpy(m.u.welcome.token, s->dir.token, BF_ID_LEN);
  }
  m.u.welcome.message = bfd_path_answer_text(text, &shown);
  leave_seat(p);
  bf_conn_send(p->conn, &m, NULL);
}

static gboolean
welcome_refuse(BfdPath *p, uint8_t status, const char *text)
{
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "refusing handshake from %s: %s",
         p->conn->peer, text);
  send_welcome(p, status, NULL, FALSE, text);
  return FALSE;
}

static gboolean
auth_refuse(BfdPath *p, const char *text)
{
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "refusing handshake from %s: %s",
         p->conn->peer, text);
  leave_seat(p);
  bf_conn_send_error(p->conn, BF_ST_AUTH, text);
  return FALSE;
}

/* A braidfs peer of another protocol version: its frames' layouts differ,
 * so it gets this side's preface and one ERROR it can read (the header is
 * the same in every version) saying which end to upgrade. */
static gboolean
refuse_version(BfdPath *p, uint8_t version)
{
  g_autofree char *text = g_strdup_printf(
    "the client speaks protocol %u, this braidfsd speaks %u to %u "
    "(upgrade %s)", version, BF_PROTOCOL_VERSION_MIN, BF_PROTOCOL_VERSION,
    version < BF_PROTOCOL_VERSION ? "braidfs on the client"
                                  : "braidfsd on the server");

  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "dropping connection from "
         "%s%s: %s", p->conn->peer, seat_note(p), text);
  leave_seat(p);
  if (bf_conn_send_preface(p->conn, NULL))
    bf_conn_send_error(p->conn, BF_ST_VERSION, text);
  return FALSE;
}

/* client: the client key's name, or "" (key_file, no key). */
static gboolean
hello_new(BfdPath *p, const BfHello *h, const char *client)
{
  BfdServer *srv = p->srv;
  g_autoptr(GError) error = NULL;
  g_autofree char *label = g_strndup((const char *)h->label.data, h->label.len);
  BfdSessionDir dir = BFD_SESSION_DIR_INIT;

  if (!bfd_sessions_reserve(srv->sessions, &srv->limits,
                            (unsigned)g_atomic_int_get(&srv->sessions_connected),
                            p->src, &error))
    return welcome_refuse(p, BF_ST_LIMIT, error->message);
  /* Owned (owner.h) before anyone can attach to it, here or elsewhere. */
  if (!bfd_store_create_session(srv->store_fd, srv->store_path, label, client,
                                p->src, &dir, &error) ||
      !bfd_owner_take(&dir, srv->owner_who, &error)) {
    bfd_session_dir_clear(&dir);
    bfd_sessions_unreserve(srv->sessions, p->src);
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p),
           "cannot create a session for %s: %s", p->conn->peer, error->message);
    send_welcome(p, BF_ST_IO, NULL, FALSE, error->message);
    return FALSE;
  }
  p->sess = bfd_session_new(srv, &dir);
  /* Its first path joins before anyone else can see it. */
  if (!bfd_session_add_path(p->sess, p, h->path_index, FALSE, &error)) {
    bfd_sessions_unreserve(srv->sessions, p->src);
    return welcome_refuse(p, bfd_error_status(error), error->message);
  }
  bfd_sessions_add_reserved(srv->sessions, p->sess);
  bf_log(G_LOG_LEVEL_MESSAGE, BFD_PATH_LOG(p), "new session %s from %s",
         p->session_name, p->conn->peer);
  return TRUE;
}

/* A session belongs to the key that made it: another client's key does
 * not attach to it, token or not (the same answer as an unknown session:
 * nothing tells it the session exists). */
static gboolean
hello_attach(BfdPath *p, const BfHello *h, const char *client)
{
  BfdServer *srv = p->srv;
  g_autoptr(GError) error = NULL;
  g_autoptr(BfdSession) s = bfd_sessions_by_id(srv->sessions, h->session_id);
  gboolean known, owner;

  /* Not in the index: a session of the store that another server owned
   * and that is free now (its server is gone) is taken over; one whose
   * server is alive is refused with LIMIT, and its client tries again,
   * here or at another server. */
  if (s == NULL) {
    s = bfd_recover_session(srv, h->session_id, h->token, &error);
    if (s == NULL && error->code == BF_ST_LIMIT) {
      bfd_gate_attach_result(srv->gate, p->src, TRUE);
      return welcome_refuse(p, BF_ST_LIMIT, error->message);
    }
    g_clear_error(&error);
  }
  /* The id is public; the token is the secret and is compared in constant
   * time. Both failures get the same answer. */
  known = s != NULL && sodium_memcmp(s->dir.token, h->token, BF_ID_LEN) == 0;
  owner = s != NULL && strcmp(s->dir.client, client) == 0;
  if (known && !owner)
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "%s with the key of client "
           "'%s' presented the token of session %s, which belongs to %s%s%s",
           p->conn->peer, client, s->dir.name,
           s->dir.client[0] ? "client '" : "key_file",
           s->dir.client, s->dir.client[0] ? "'" : "");
  known = known && owner;
  if (known) {
    /* a resting session's descriptors open again before the path joins */
    gboolean ok = bfd_session_wake(s, &error) &&
                  bfd_session_add_path(s, p, h->path_index, TRUE, &error);
    bfd_session_wake_done(s);
    if (ok) {
      bfd_gate_attach_result(srv->gate, p->src, TRUE);
      p->sess = g_steal_pointer(&s);
      return TRUE;
    }
  }
  /* A session being removed, or with max_paths paths, was found all
   * the same: a LIMIT costs no more than an honest handshake. */
  known = known && error->code != BF_ST_AUTH;
  bfd_gate_attach_result(srv->gate, p->src, known);
  if (!known)
    return welcome_refuse(p, BF_ST_AUTH,
                          "unknown session or wrong attach token");
  return welcome_refuse(p, bfd_error_status(error), error->message);
}

/* A frame of the handshake; a failure is logged (and answered when the
 * peer can read an answer). */
static gboolean
handshake_recv(BfdPath *p, BfMsg *m)
{
  g_autoptr(GError) error = NULL;

  if (bf_conn_recv(p->conn, m, &error))
    return TRUE;
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "dropping connection from "
         "%s%s: %s", p->conn->peer, seat_note(p), error->message);
  if (error->domain == BF_WIRE_ERROR)
    send_welcome(p, BF_ST_PROTOCOL, NULL, FALSE, error->message);
  else if (error->domain == BF_SEAL_ERROR)
    bf_conn_send_error(p->conn, BF_ST_CORRUPT, error->message);
  return FALSE;
}

/* The peer's key proof did not match. Its sealed HELLO is on its way
 * behind the proof: the path's end reads it (dispatch.c), so that closing
 * does not reset the connection before our ERROR arrives. */
static gboolean
wrong_key(BfdPath *p)
{
  const char *which = p->srv->client_keys ? "any of client_keys" : "key_file";

  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "refusing handshake from %s: "
         "wrong key (its proof does not match %s)", p->conn->peer, which);
  leave_seat(p);
  bf_conn_send_error(p->conn, BF_ST_AUTH, p->srv->client_keys
                     ? "wrong key: the proof does not match any client key "
                       "of this server"
                     : "wrong key: the proof does not match this server's "
                       "key_file");
  return FALSE;
}

/* The keys a client may hold: key_file's, or every client key. */
static GPtrArray *
server_keys(BfdServer *srv, GPtrArray **names)
{
  GPtrArray *keys = g_ptr_array_new();

  *names = srv->client_keys ? bfd_client_keys_current(srv->client_keys)
                            : NULL;
  if (*names == NULL) {
    g_ptr_array_add(keys, srv->key);
    return keys;
  }
  for (guint i = 0; i < (*names)->len; i++)
    g_ptr_array_add(keys, ((BfdClientKey *)(*names)->pdata[i])->key);
  return keys;
}

/* The key handshake (key_file, client_keys): AUTH 1 to 4 (handshake.h).
 * Afterwards every frame in both directions is sealed. *client: the
 * client key that proved itself (a reference), or NULL with key_file. */
static gboolean
key_handshake(BfdPath *p, BfdClientKey **client)
{
  g_autoptr(GPtrArray) names = NULL;
  g_autoptr(GPtrArray) keys = server_keys(p->srv, &names);
  /* With no client key at all every proof fails: one that cannot match
   * stands in, so that the handshake runs as for a wrong key. */
  g_autoptr(BfKey) none = NULL;
  BfMsg m, out = { .type = BF_FRAME_AUTH };
  gboolean send;

  if (keys->len == 0) {
    uint8_t raw[BF_KEY_LEN];
    randombytes_buf(raw, sizeof raw);
    none = bf_key_from_raw(raw);
    sodium_memzero(raw, sizeof raw);
    g_ptr_array_add(keys, none);
  }
  g_autoptr(BfHandshake) hs = bf_handshake_new_server(
    (const BfKey *const *)keys->pdata, keys->len, NULL);

  bf_handshake_set_aead(hs, bf_aead_for_version(p->conn->version));
  for (unsigned step = BF_AUTH_CLIENT_NONCE; step <= BF_AUTH_CLIENT_PROOF;
       step += 2) {
    g_autoptr(GError) error = NULL;
    if (!handshake_recv(p, &m))
      return FALSE;
    if (m.type == BF_FRAME_HELLO && step == BF_AUTH_CLIENT_NONCE)
      return welcome_refuse(p, BF_ST_AUTH,
                            "this server requires a key (key_file)");
    if (m.type != BF_FRAME_AUTH)
      return bfd_path_refuse(p, BF_ST_PROTOCOL, "expected AUTH step %u, got %s",
                             step, bf_frame_type_str(m.type));
    if (!bf_handshake_feed(hs, &m.u.auth, &out.u.auth, &send, &error)) {
      if (g_error_matches(error, BF_HS_ERROR, BF_HS_ERROR_PROOF))
        return wrong_key(p);
      return bfd_path_refuse(p, BF_ST_AUTH, "key handshake: %s",
                             error->message);
    }
    if (step == BF_AUTH_CLIENT_PROOF && names != NULL) {
      guint which = bf_handshake_key_index(hs);
      if (which >= names->len)    /* the stand-in matched: cannot happen */
        return wrong_key(p);
      BfdClientKey *k = names->pdata[which];
      /* Removed or replaced since the directory was read: refused now. */
      if (!bfd_client_keys_check(p->srv->client_keys, k, &error)) {
        leave_seat(p);
        bf_conn_send_error(p->conn, BF_ST_AUTH, error->message);
        return FALSE;
      }
      *client = bfd_client_key_ref(k);
    }
    if (step == BF_AUTH_CLIENT_PROOF)
      bf_conn_seal_rx(p->conn, bf_handshake_take_seal(hs, FALSE));
    if (send && !bf_conn_send(p->conn, &out, NULL))
      return FALSE;
  }
  bf_conn_seal_tx(p->conn, bf_handshake_take_seal(hs, TRUE));
  return TRUE;
}

/* A client of an older protocol version, which this braidfsd still
 * speaks: worth an upgrade when its paths are sealed. */
static void
older_client(BfdPath *p)
{
  gboolean sealed = p->conn->tx_seal != NULL;

  bf_log(G_LOG_LEVEL_MESSAGE, BFD_PATH_LOG(p), "session %s: path %u from %s "
         "speaks protocol %u, an older one%s%s%s", p->session_name, p->index,
         p->conn->peer, p->conn->version, sealed ? " (its frames are sealed "
         "with " : "", sealed ? bf_aead_name(bf_aead_for_version(
         p->conn->version)) : "", sealed ? ", slower: upgrade braidfs there)"
         : "");
}

static gboolean
handshake(BfdPath *p)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BfdClientKey) client = NULL;
  uint8_t version;
  BfMsg m;

  /* The whole handshake, not each read, must fit in the timeout; on a
   * reserve seat, in a shorter one. */
  bf_conn_set_deadline(p->conn, g_get_monotonic_time() + (gint64)1000 *
                       (p->seat == BFD_GATE_RESERVE
                        ? MIN(p->srv->limits.handshake_timeout_ms,
                              RESERVE_TIMEOUT_MS)
                        : p->srv->limits.handshake_timeout_ms));
  if (!bf_conn_recv_preface(p->conn, &version, &error)) {
    if (version != 0)
      return refuse_version(p, version);
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "dropping connection from "
           "%s%s: %s", p->conn->peer, seat_note(p), error->message);
    return FALSE;
  }
  /* Versions differ only in the AEAD of keyed connections (seal.h): an
   * older client is answered in its own. */
  p->conn->version = version;
  if (!bf_conn_send_preface(p->conn, NULL))
    return FALSE;
  if ((p->srv->key != NULL || p->srv->client_keys != NULL) &&
      !key_handshake(p, &client))
    return FALSE;
  if (!handshake_recv(p, &m))
    return FALSE;
  if (m.type == BF_FRAME_AUTH)
    return auth_refuse(p, "this server has no key (key_file)");
  if (m.type != BF_FRAME_HELLO)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "expected HELLO, got %s",
                           bf_frame_type_str(m.type));
  if (m.u.hello.kind == BF_HELLO_NEW && p->seat == BFD_GATE_RESERVE)
    return welcome_refuse(p, BF_ST_LIMIT, "too many connections in the "
                          "handshake: only paths of known sessions are taken "
                          "now; try again later");
  const char *name = client != NULL ? client->name : "";
  if (!(m.u.hello.kind == BF_HELLO_NEW ? hello_new(p, &m.u.hello, name)
                                       : hello_attach(p, &m.u.hello, name)))
    return FALSE;
  /* Said before the WELCOME: a client that is up has been logged. */
  if (p->conn->version < BF_PROTOCOL_VERSION)
    older_client(p);
  send_welcome(p, BF_ST_OK, p->sess, m.u.hello.kind == BF_HELLO_NEW, NULL);
  bf_conn_set_deadline(p->conn, 0);
  p->conn->max_body = bfd_limits_frame_max(&p->srv->limits);
  /* Clients PING every second; a path silent for the idle timeout belongs
   * to a client that is gone (or never meant to send). */
  bf_conn_set_recv_timeout(p->conn, p->srv->limits.idle_timeout_ms);
  bf_log(G_LOG_LEVEL_DEBUG, BFD_PATH_LOG(p), "session %s: path %u from %s "
         "attached", p->session_name, p->index, p->conn->peer);
  return TRUE;
}

/* Over the rate: the handshake is read (within the handshake timeout) so
 * that the refusal reaches a real client, which then retries later. */
static gboolean
refuse_rate(BfdPath *p)
{
  const char *text = "too many handshakes from this address: try again later";
  BfMsg m;

  bf_conn_set_deadline(p->conn, g_get_monotonic_time() +
                       (gint64)p->srv->limits.handshake_timeout_ms * 1000);
  if (!bf_conn_recv_preface(p->conn, NULL, NULL))
    return FALSE;
  p->conn->version = p->conn->peer_version;
  if (!bf_conn_send_preface(p->conn, NULL) || !bf_conn_recv(p->conn, &m, NULL))
    return FALSE;
  m = (BfMsg){ .type = BF_FRAME_WELCOME };
  m.u.welcome.status = BF_ST_LIMIT;
  m.u.welcome.message.data = (const uint8_t *)text;
  m.u.welcome.message.len = (uint16_t)strlen(text);
  bf_conn_send(p->conn, &m, NULL);
  return FALSE;
}

gboolean
bfd_handshake(BfdPath *p)
{
  BfdGate *gate = p->srv->gate;
  gboolean ok = bfd_gate_attempt(gate, p->src, p->conn->peer) ? handshake(p)
                                                              : refuse_rate(p);

  if (p->seat != BFD_GATE_REFUSED)   /* not left already (handshake) */
    bfd_gate_leave(gate, p->src, p->seat);
  return ok;
}
