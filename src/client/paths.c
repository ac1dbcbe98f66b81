/* The paths of a client session (paths.h). */
#include "paths.h"

#include <string.h>

#include "braidfs/parse.h"

#include "budget.h"
#include "chunk.h"
#include "ctl.h"
#include "dial.h"
#include "failover.h"
#include "item.h"
#include "ops.h"
#include "place.h"
#include "readback.h"
#include "space.h"

#define BACKOFF_MIN_US (G_USEC_PER_SEC / 4)
#define BACKOFF_MAX_US (4 * G_USEC_PER_SEC)
#define REATTACH_TIMEOUT_MS 3000

static void
wake_all_locked(BfcSession *s) BF_REQUIRES(&s->lock)
{
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    g_cond_signal(&s->paths[i].wake);
  g_cond_broadcast(&s->cond);
}

/* Ends the session for good (a refused re-attach): every waiter fails. */
static void
session_fail_locked(BfcSession *s, const char *why) BF_REQUIRES(&s->lock)
{
  if (s->dead == NULL && !s->stopping) {
    s->dead = g_strdup(why);
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, NULL), "server %s: %s",
           s->server, why);
  }
  g_cond_broadcast(&s->cond);
}

/* ---- sending ------------------------------------------------------------ */

static void
send_ping(BfcPath *p, BfConn *conn) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  BfMsg m = { .type = BF_FRAME_PING };

  bf_mutex_lock(&s->lock);
  p->ping_due = FALSE;
  p->ping_sent = g_get_monotonic_time();
  m.u.ping.opaque = (uint64_t)p->ping_sent;
  bf_mutex_unlock(&s->lock);
  if (!bf_conn_send(conn, &m, NULL))
    bf_conn_shutdown(conn);
}

/* Writes one frame; a failure takes the path down. */
static gboolean
tx_send(BfcPath *p, BfConn *conn, const BfMsg *m) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;

  if (bf_conn_send(conn, m, &error))
    return TRUE;
  bf_mutex_lock(&s->lock);
  if (p->why_down == NULL)
    p->why_down = g_strdup(error->message);
  bf_mutex_unlock(&s->lock);
  bf_conn_shutdown(conn);
  return FALSE;
}

/* Writes the path's frames (control frames first), its chunks and PINGs
 * until the path goes down. */
static gpointer
path_tx(gpointer data)
{
  BfcPath *p = data;
  BfcSession *s = p->sess;
  BfConn *conn = p->conn;

  for (;;) {
    BfcChunk *c = NULL;
    BfcFrame *f = NULL;
    BfMsg m;
    gboolean ok;

    bf_mutex_lock(&s->lock);
    while (!s->stopping && p->state == BFC_PATH_UP && !p->ping_due &&
           (f = g_queue_pop_head(&p->frames)) == NULL &&
           (c = bfc_place_next_locked(s, p)) == NULL)
      bf_cond_wait(&p->wake, &s->lock);
    if (s->stopping || p->state != BFC_PATH_UP) {
      if (c != NULL)
        g_queue_push_head(&p->queue, c);
      bf_mutex_unlock(&s->lock);
      break;
    }
    if (f != NULL) {
      bf_mutex_unlock(&s->lock);
      ok = tx_send(p, conn, &f->msg);
      bfc_frame_free(f);
      if (!ok)
        break;
      continue;
    }
    if (c == NULL) {
      bf_mutex_unlock(&s->lock);
      send_ping(p, conn);
      continue;
    }
    /* In flight before it is written: its ack may race the return of
     * sendmsg, and then frees it only once we are done with it. */
    bfc_chunk_write_begin_locked(s, c, &m);
    bfc_budget_on_send_locked(s, p, c, c->sent_at);
    g_queue_push_tail(&p->inflight, c);
    bf_mutex_unlock(&s->lock);
    ok = tx_send(p, conn, &m);
    bf_mutex_lock(&s->lock);
    bfc_chunk_write_end_locked(s, c);
    bf_mutex_unlock(&s->lock);
    if (!ok)
      break;
  }
  return NULL;
}

/* ---- receiving ---------------------------------------------------------- */

/* The file's bytes a chunk carries: a share of a coded chunk carries
 * 1/n of the k * len (rs) or len (shamir) bytes of its chunk. */
static uint64_t
data_bytes(const BfcSession *s, const BfcChunk *c)
{
  const BfCodingSpec *cs = &s->cfg.coding;

  if (c->coded == NULL || cs->n == 0)
    return c->len;
  return (uint64_t)c->len * (cs->kind == BF_CODING_RS ? cs->k : 1) / cs->n;
}

static gboolean
on_chunk_ack(BfcPath *p, const BfChunkAck *a) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  gboolean found = FALSE;

  bf_mutex_lock(&s->lock);
  for (GList *l = p->inflight.head; l != NULL; l = l->next) {
    BfcChunk *c = l->data;
    if (bfc_chunk_matches_locked(s, c, a)) {
      gint64 now = g_get_monotonic_time();
      g_queue_delete_link(&p->inflight, l);
      bfc_path_unload_locked(s, p, c);
      p->bytes_acked += c->len;
      p->chunks_acked++;
      c->item->acked += data_bytes(s, c);
      p->last_ack = s->last_chunk_ack = now;
      bfc_budget_on_ack_locked(s, p, c, now);
      bfc_chunk_acked_locked(s, c, now);
      found = TRUE;
      break;
    }
  }
  g_cond_signal(&p->wake);
  g_cond_broadcast(&s->cond);
  bf_mutex_unlock(&s->lock);
  return found;
}

static void
on_pong(BfcPath *p, const BfPing *pong) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  gint64 now = g_get_monotonic_time();

  bf_mutex_lock(&s->lock);
  if (p->ping_sent != 0 && pong->opaque == (uint64_t)p->ping_sent) {
    double sample = (now - p->ping_sent) / (double)G_USEC_PER_SEC;
    p->rtt = p->rtt > 0 ? 0.875 * p->rtt + 0.125 * sample : sample;
    p->ping_sent = 0;
    p->ping_done = now;
  }
  bf_mutex_unlock(&s->lock);
}

/* An answer the client cannot decode is the server's protocol error on
 * this path (which then closes): the request it answered fails, for asked
 * again it would be answered the same way, for ever. */
static void
bad_answer(BfcSession *s, BfConn *conn, const GError *why)
{
  g_autofree char *text = g_strdup_printf("the server's answer could not be "
                                          "decoded: %s", why->message);
  BfBytes msg = { (const uint8_t *)text,
                  (uint16_t)MIN(strlen(text), (size_t)BF_MSG_MAX) };
  uint8_t type;
  uint64_t id;

  bf_conn_send_error(conn, BF_ST_PROTOCOL, why->message);
  if (!bf_conn_bad_answer(conn, &type, &id))
    return;
  if (type == BF_FRAME_OP_ACK) {
    BfOpAck a = { .op_id = id, .status = BF_ST_PROTOCOL, .message = msg };
    bfc_ops_on_ack(s, &a);
  } else {
    BfItemAck a = { .item_id = id, .stage = BF_ACK_STORED,
                    .status = BF_ST_PROTOCOL, .message = msg };
    bfc_items_on_ack(s, &a);
  }
}

/* Reads frames until the connection fails. Returns why. */
static char *
receive(BfcPath *p, BfConn *conn) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  BfMsg m;

  while (bf_conn_recv(conn, &m, &error)) {
    bf_mutex_lock(&s->lock);
    p->last_progress = g_get_monotonic_time();
    bf_mutex_unlock(&s->lock);
    switch (m.type) {
    case BF_FRAME_CHUNK_ACK:
      if (!on_chunk_ack(p, &m.u.chunk_ack))
        bf_log(G_LOG_LEVEL_DEBUG, BFC_LOG(s, p->name, NULL),
               "path %u: ack for a chunk not in flight", p->index);
      break;
    case BF_FRAME_ITEM_ACK:
      bfc_items_on_ack(s, &m.u.item_ack);
      break;
    case BF_FRAME_OP_ACK:
      bfc_ops_on_ack(s, &m.u.op_ack);
      break;
    case BF_FRAME_STATFS_ACK:
      bfc_space_on_ack(s, &m.u.statfs_ack);
      break;
    case BF_FRAME_READ_DATA:
      bfc_readback_on_data(s, &m.u.read_data);
      break;
    case BF_FRAME_PING: {
      /* The sender writes it: a receiver that blocks on a full socket
       * would stop reading acknowledgements. */
      BfMsg pong = { .type = BF_FRAME_PONG, .u.ping = m.u.ping };
      bf_mutex_lock(&s->lock);
      bfc_frame_queue_locked(s, p, &pong);
      bf_mutex_unlock(&s->lock);
      break;
    }
    case BF_FRAME_PONG:
      on_pong(p, &m.u.ping);
      break;
    case BF_FRAME_ERROR: {
      g_autofree char *text = bfc_server_text(&m.u.error.message);
      return g_strdup_printf("server error (%s): %s",
                             bf_status_str(m.u.error.status), text);
    }
    default: {
      char *why = g_strdup_printf("unexpected %s frame from the server",
                                  bf_frame_type_str(m.type));
      bf_conn_send_error(conn, BF_ST_PROTOCOL, why);
      return why;
    }
    }
  }
  if (error->domain == BF_WIRE_ERROR)
    bad_answer(s, conn, error);
  return g_strdup(error->message);
}

/* ---- a path's life ------------------------------------------------------ */

/* Returns how long no path was up (microseconds) if this one ends such
 * an outage, else 0. */
static gint64
path_up_locked(BfcSession *s, BfcPath *p, BfConn *conn) BF_REQUIRES(&s->lock)
{
  gint64 now = g_get_monotonic_time();
  gint64 outage = s->down_since != 0 ? MAX(now - s->down_since, 1) : 0;

  p->conn = conn;
  p->state = BFC_PATH_UP;
  p->load.alive = TRUE;
  p->last_progress = now;
  p->tcp_acked = 0;
  p->ping_sent = 0;
  p->ping_done = now;
  p->last_ack = now;
  p->load.rate = 0;   /* unknown: measured afresh */
  bfc_budget_reset_locked(s, p);
  if (s->down_since != 0)
    s->back_at = now;
  s->down_since = 0;
  wake_all_locked(s);
  return outage;
}

/* Takes the path out of service after its connection failed: the control
 * path moves if it was this one and unanswered control frames are queued
 * again (failover.h), and once its sender is gone its chunks go to the
 * resend queue. */
static void
path_down(BfcPath *p, BfConn *conn, const char *why) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  BfcChunk *c;
  unsigned moved = 0;
  gboolean outage;

  bf_mutex_lock(&s->lock);
  bfc_path_lost_locked(s, p, why);
  bf_mutex_unlock(&s->lock);
  bf_conn_shutdown(conn);
  g_thread_join(p->tx);
  p->tx = NULL;

  bf_mutex_lock(&s->lock);
  p->conn = NULL;
  /* Frames not written went again with the resync. */
  bfc_frames_drop_locked(s, p);
  while ((c = g_queue_pop_head(&p->inflight)) != NULL ||
         (c = g_queue_pop_head(&p->queue)) != NULL) {
    if (bfc_chunk_lost_locked(s, c)) {
      g_queue_push_tail(&s->resend, c);
      moved++;
    }
  }
  p->load.inflight = 0;
  p->load.inflight_bytes = 0;
  p->ping_sent = 0;
  outage = s->ctl < 0 && s->down_since == 0 && !s->stopping;
  if (s->ctl < 0 && s->down_since == 0)
    s->down_since = g_get_monotonic_time();
  wake_all_locked(s);
  if (!s->stopping)
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, p->name, NULL),
           "path %u (%s) lost: %s; %u chunks go on the other paths%s",
           p->index, p->name, p->why_down, moved,
           s->ctl < 0 ? " once one is back (all paths down)" : "");
  /* The line an operator looks for: the moment the server is out of
   * reach, kept in .braidfs/events whatever its level. */
  if (outage)
    bf_log(G_LOG_LEVEL_WARNING, &(BfLogFields){ .session = s->sid,
                                                .peer = s->server,
                                                .event = TRUE },
           "outage: no path to server %s is up (the last, path %u, %s); "
           "writes wait for one up to timeout=%u s, then fail with EIO",
           s->server, p->index, p->why_down, s->cfg.timeout_s);
  bf_mutex_unlock(&s->lock);
  bf_conn_free(conn);
}

/* Sleeps until the next attempt. FALSE when the session stops. */
static gboolean
backoff_wait(BfcPath *p, gint64 delay) BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  gint64 until = g_get_monotonic_time() + delay;
  gboolean stopping;

  bf_mutex_lock(&s->lock);
  while (!s->stopping && bf_cond_wait_until(&p->wake, &s->lock, until))
    ;
  stopping = s->stopping || s->dead != NULL;
  if (!stopping)
    p->state = BFC_PATH_CONNECTING;
  bf_mutex_unlock(&s->lock);
  return !stopping;
}

/* Re-attaches the path to the session. NULL on failure, logged once per
 * cause and outage, not per attempt: told holds the causes logged since
 * the path went down, so a cause that changes (the server was down, now
 * it refuses the key) is told too. With server=, a path that fails (its
 * server unreachable, or refusing: another owns the session) tries the
 * next server the next time: the session's owner may have died, and
 * another server on its store takes it over at the first ATTACH. */
static BfConn *
reattach(BfcPath *p, unsigned attempt, GHashTable *told)
  BF_EXCLUDES(&p->sess->lock)
{
  BfcSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  uint8_t status;
  uint64_t instance = 0;
  gint64 outage = 0;
  BfcPathSpec spec = s->cfg.specs[p->index];
  if (p->server > 0) {
    spec.host = s->cfg.alts[p->server - 1].host;
    spec.port = s->cfg.alts[p->server - 1].port;
  }
  BfConn *conn = bfc_dial(s, &spec, p->index, BF_HELLO_ATTACH,
                          MIN(s->cfg.timeout_s * 1000, REATTACH_TIMEOUT_MS),
                          &status, &instance, &error);
  if (conn == NULL && status != BF_ST_AUTH)
    p->server = (p->server + 1) % (s->cfg.n_alts + 1);

  bf_mutex_lock(&s->lock);
  if (conn == NULL) {
    p->state = BFC_PATH_DOWN;
    if (status == BF_ST_AUTH) {
      /* Only a restarted server or a removed session forgets a session. */
      g_autofree char *why = g_strdup_printf("the server no longer knows this "
          "session (restarted, or its directory was removed): %s",
          error->message);
      session_fail_locked(s, why);
    } else if (g_hash_table_add(told, g_strdup(error->message))) {
      bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, p->name, NULL),
             "path %u (%s): cannot re-attach yet: %s; retrying", p->index,
             p->name, error->message);
    }
  } else {
    g_free(p->addr);
    p->addr = bf_format_hostport(spec.host, spec.port);
    if (p->server > 0)
      bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, p->name, NULL), "path %u (%s) "
             "re-attached at another server of the store, %s (server=)",
             p->index, p->name, p->addr);
    p->retries++;
    g_clear_pointer(&p->why_down, g_free);
    if (instance != 0 && s->instance != 0 && instance != s->instance)
      bfc_server_restarted_locked(s, instance);
    else if (s->instance == 0)
      s->instance = instance;
    outage = path_up_locked(s, p, conn);
    if (s->stopping)
      bf_conn_shutdown(conn);
    /* This path may be the first up after an outage: it becomes the
     * control path and unanswered control frames go out on it. */
    bfc_resync_locked(s);
  }
  bf_mutex_unlock(&s->lock);
  if (conn != NULL)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, p->name, NULL),
           "path %u (%s) re-attached after %u attempts", p->index, p->name,
           attempt);
  if (outage > 0)
    bf_log(G_LOG_LEVEL_MESSAGE, &(BfLogFields){ .session = s->sid,
                                                .peer = s->server,
                                                .event = TRUE },
           "outage over: server %s reachable again on path %u (%s) after "
           "%.1f s without any path", s->server, p->index, p->name,
           outage / (double)G_USEC_PER_SEC);
  return conn;
}

static gpointer
path_main(gpointer data)
{
  BfcPath *p = data;
  BfcSession *s = p->sess;
  gint64 delay = BACKOFF_MIN_US;
  unsigned attempt = 0;
  g_autoptr(GHashTable) told = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                     g_free, NULL);

  for (;;) {
    bf_mutex_lock(&s->lock);
    BfConn *conn = p->conn;
    bf_mutex_unlock(&s->lock);
    if (conn == NULL) {
      if (!backoff_wait(p, delay))
        break;
      conn = reattach(p, ++attempt, told);
      if (conn == NULL) {
        delay = MIN(delay * 2, BACKOFF_MAX_US);
        continue;
      }
    }
    delay = BACKOFF_MIN_US;
    attempt = 0;
    g_hash_table_remove_all(told);
    p->tx = g_thread_new("path-tx", path_tx, p);
    g_autofree char *why = receive(p, conn);
    path_down(p, conn, why);
    bf_mutex_lock(&s->lock);
    gboolean stop = s->stopping;
    bf_mutex_unlock(&s->lock);
    if (stop)
      break;
  }
  return NULL;
}

/* ---- the session's paths ------------------------------------------------ */

/* Creates the session (or, with attach, joins s->id) and attaches every
 * path once. *refused is the status of a refused handshake. */
static gboolean
connect_all(BfcSession *s, gboolean attach, uint8_t *refused, GError **error)
  BF_EXCLUDES(&s->lock)
{
  const BfcConfig *cfg = &s->cfg;
  BfcPathSpec home = { cfg->host, cfg->port, NULL, NULL };
  unsigned ms = cfg->timeout_s * 1000, up = 0;
  uint8_t status;
  g_autoptr(GError) first = NULL;

  /* With explicit paths the session is created at HOST:PORT and every
   * listed path attaches to it, so the paths are exactly the list. The
   * creating connection (not a path: index BFC_NO_PATH) stays open until
   * they have, so the session never looks abandoned to the server. */
  g_autoptr(BfConn) creator = NULL;
  if (cfg->explicit_paths && !attach) {
    creator = bfc_dial(s, &home, BFC_NO_PATH, BF_HELLO_NEW, ms, refused,
                       &s->instance, error);
    if (creator == NULL)
      return FALSE;
  }
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    BfHelloKind kind = (i == 0 && !cfg->explicit_paths && !attach)
                       ? BF_HELLO_NEW : BF_HELLO_ATTACH;
    g_autoptr(GError) err = NULL;
    uint64_t instance = 0;
    BfConn *c = bfc_dial(s, &cfg->specs[i], i, kind, ms, &status, &instance,
                         &err);
    if (c == NULL && kind == BF_HELLO_NEW) {
      *refused = status;
      g_propagate_error(error, g_steal_pointer(&err));
      return FALSE;
    }
    bf_mutex_lock(&s->lock);
    if (c != NULL) {
      if (s->instance == 0)
        s->instance = instance;
      path_up_locked(s, &s->paths[i], c);
      up++;
    } else {
      s->paths[i].state = BFC_PATH_DOWN;
      g_free(s->paths[i].why_down);
      s->paths[i].why_down = g_strdup(err->message);
    }
    bf_mutex_unlock(&s->lock);
    if (c == NULL) {
      if (status != BF_ST_OK)
        *refused = status;
      if (attach && up == 0 && status == BF_ST_AUTH) {
        g_propagate_error(error, g_steal_pointer(&err));
        return FALSE;   /* the session is gone: no use trying the rest */
      }
      bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->paths[i].name, NULL),
             "path %u (%s) not attached: %s; retrying in the background",
             i, s->paths[i].name, err->message);
      if (first == NULL)
        first = g_steal_pointer(&err);
    }
  }
  if (up == 0) {
    g_propagate_error(error, g_steal_pointer(&first));
    return FALSE;
  }
  bf_mutex_lock(&s->lock);
  bfc_ctl_pick_locked(s);
  bf_mutex_unlock(&s->lock);
  return TRUE;
}

gboolean
bfc_paths_connect(BfcSession *s, GError **error)
{
  g_autoptr(GError) err = NULL;
  uint8_t refused = BF_ST_OK;

  if (!s->cfg.attach)
    return connect_all(s, FALSE, &refused, error);
  memcpy(s->id, s->cfg.attach_id, BF_ID_LEN);
  memcpy(s->token, s->cfg.attach_token, BF_ID_LEN);
  if (connect_all(s, TRUE, &refused, &err))
    return TRUE;
  if (refused != BF_ST_AUTH) {
    g_propagate_error(error, g_steal_pointer(&err));
    return FALSE;
  }
  g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
  bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, NULL),
         "server %s does not know session %.8s any more (%s); starting a "
         "new session", s->server, id, err->message);
  bf_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    s->paths[i].state = BFC_PATH_CONNECTING;
    g_clear_pointer(&s->paths[i].why_down, g_free);
  }
  bf_mutex_unlock(&s->lock);
  s->cfg.attach = FALSE;
  return connect_all(s, FALSE, &refused, error);
}

void
bfc_paths_start(BfcSession *s)
{
  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    s->paths[i].thread = g_thread_new("path", path_main, &s->paths[i]);
}

void
bfc_paths_stop(BfcSession *s)
{
  bf_mutex_lock(&s->lock);
  s->stopping = TRUE;
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    g_cond_broadcast(&s->paths[i].wake);
    if (s->paths[i].conn != NULL)
      bf_conn_shutdown(s->paths[i].conn);
  }
  g_cond_broadcast(&s->cond);
  g_cond_broadcast(&s->tick);
  bf_mutex_unlock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    BfcPath *p = &s->paths[i];
    if (p->thread != NULL) {
      g_thread_join(g_steal_pointer(&p->thread));
    } else if (p->conn != NULL) {
      /* connected but never started (a failed mount) */
      bf_conn_free(p->conn);
      p->conn = NULL;
    }
  }
  bf_mutex_lock(&s->lock);
  for (unsigned i = 0; i < s->cfg.n_paths; i++) {
    bfc_chunks_drain_locked(s, &s->paths[i].queue);
    bfc_chunks_drain_locked(s, &s->paths[i].inflight);
    bfc_frames_drop_locked(s, &s->paths[i]);
  }
  bfc_chunks_drain_locked(s, &s->resend);
  bfc_coded_clear_locked(s);
  bf_mutex_unlock(&s->lock);
}
