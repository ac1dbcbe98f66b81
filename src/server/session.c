/* A session in memory (session.h): its tables, its paths, its totals.
 * Nothing here does disk or network I/O under the session's lock, except
 * that posting is allowed (conn.h: it never blocks). */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "braidfs/parse.h"
#include "status.h"

/* Verdicts of finished items are kept so that a client that re-sends an
 * ITEM_OPEN or ITEM_CLOSE after losing the path that carried the answer
 * gets the same answer again. A client only repeats frames of items it is
 * still waiting for (a few per open file), so the table is small and
 * bounded (~0.4 MB per session at most): the oldest are forgotten. As many
 * as the journal keeps (journal.c). */
#define VERDICTS_MAX 4096
/* Results of recent OPs by id: an OP re-sent after the loss of the path
 * that carried it (or its answer) is answered, not run twice. */
#define OPS_DONE_MAX 1024

static void
op_result_free(gpointer p)
{
  bfd_op_result_clear(p);
  g_free(p);
}

void
bfd_op_result_clear(BfdOpResult *r)
{
  g_clear_pointer(&r->message, g_free);
}

static GHashTable *
id_set_new(void)
{
  return g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
}

static void
id_set_add(GHashTable *set, uint64_t id)
{
  g_hash_table_add(set, g_memdup2(&id, sizeof id));
}

BfdSession *
bfd_session_new(BfdServer *srv, BfdSessionDir *dir)
{
  BfdSession *s = g_new0(BfdSession, 1);

  s->refs = 1;
  s->srv = srv;
  s->dir = *dir;
  *dir = (BfdSessionDir)BFD_SESSION_DIR_INIT;
  s->journal = bfd_journal_open(s->dir.tmp_fd, s->dir.name);
  s->share_budget = bfd_share_budget_new();
  bf_mutex_init(&s->lock);
  bf_mutex_init(&s->rest_lock);
  g_cond_init(&s->changed);
  s->items = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                   (GDestroyNotify)bfd_item_unref);
  s->opening = id_set_new();
  s->verdicts = bf_fifo_map_new(VERDICTS_MAX, NULL);
  s->proofs = bf_fifo_map_new(VERDICTS_MAX, g_free);
  s->ops_done = bf_fifo_map_new(OPS_DONE_MAX, op_result_free);
  s->ops_running = id_set_new();
  s->reopened = id_set_new();
  s->ops_doubt = id_set_new();
  s->clients = g_ptr_array_new();
  s->last_activity = s->dir.started;
  return s;
}

BfdSession *
bfd_session_ref(BfdSession *s)
{
  g_atomic_int_inc(&s->refs);
  return s;
}

void
bfd_session_unref(BfdSession *s)
{
  if (s == NULL || !g_atomic_int_dec_and_test(&s->refs))
    return;
  g_hash_table_unref(s->items);
  g_hash_table_unref(s->opening);
  bf_fifo_map_free(s->verdicts);
  bf_fifo_map_free(s->proofs);
  bf_fifo_map_free(s->ops_done);
  g_hash_table_unref(s->ops_running);
  g_hash_table_unref(s->reopened);
  g_hash_table_unref(s->ops_doubt);
  g_ptr_array_unref(s->clients);
  bfd_share_budget_free(s->share_budget);
  bfd_journal_free(s->journal);
  bfd_session_dir_clear(&s->dir);
  g_cond_clear(&s->changed);
  bf_mutex_clear(&s->lock);
  bf_mutex_clear(&s->rest_lock);
  g_free(s);
}

/* ---- items -------------------------------------------------------------- */

BfdItem *
bfd_session_item_locked(BfdSession *s, uint64_t id, gboolean *gone)
{
  BfdItem *it;

  while (g_hash_table_contains(s->opening, &id))
    bf_cond_wait(&s->changed, &s->lock);
  it = g_hash_table_lookup(s->items, &id);
  if (gone != NULL)
    *gone = it == NULL && id != 0 && id <= s->max_item_id;
  return it != NULL ? bfd_item_ref(it) : NULL;
}

BfdItem *
bfd_session_item(BfdSession *s, uint64_t id, gboolean *gone)
{
  BfdItem *it;

  bf_mutex_lock(&s->lock);
  it = bfd_session_item_locked(s, id, gone);
  bf_mutex_unlock(&s->lock);
  return it;
}

gboolean
bfd_session_may_reopen_locked(BfdSession *s, uint64_t id)
{
  if (id > s->reopen_floor || g_hash_table_contains(s->items, &id) ||
      bf_fifo_map_contains(s->verdicts, id) ||
      g_hash_table_contains(s->reopened, &id) ||
      g_hash_table_size(s->reopened) >= VERDICTS_MAX)
    return FALSE;
  id_set_add(s->reopened, id);
  return TRUE;
}

void
bfd_session_opening_locked(BfdSession *s, uint64_t id)
{
  id_set_add(s->opening, id);
}

void
bfd_session_opened_locked(BfdSession *s, uint64_t id)
{
  g_hash_table_remove(s->opening, &id);
  g_cond_broadcast(&s->changed);
}

gboolean
bfd_session_holds_locked(BfdSession *s, const BfdItem *it)
{
  return g_hash_table_lookup(s->items, &it->id) == it;
}

gboolean
bfd_session_retire_locked(BfdSession *s, BfdItem *it, uint8_t stage,
                          uint8_t status)
{
  gboolean fresh = bfd_session_remember_verdict_locked(s, it->id, stage,
                                                       status);

  if (bfd_session_holds_locked(s, it)) {
    g_hash_table_remove(s->items, &it->id);
    /* nothing in flight: the spare share buffers go (a session may stay
     * idle for long) */
    if (g_hash_table_size(s->items) == 0)
      bfd_share_budget_trim(s->share_budget);
  }
  return fresh;
}

GPtrArray *
bfd_session_items_locked(BfdSession *s)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)bfd_item_unref);
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    g_ptr_array_add(out, bfd_item_ref(v));
  return out;
}

/* ---- answers given -------------------------------------------------------- */

gboolean
bfd_session_remember_verdict_locked(BfdSession *s, uint64_t id, uint8_t stage,
                                    uint8_t status)
{
  return bf_fifo_map_insert(s->verdicts, id,
                            GUINT_TO_POINTER((guint)stage << 8 | status));
}

gboolean
bfd_session_verdict_locked(BfdSession *s, uint64_t id, uint8_t *stage,
                           uint8_t *status, uint8_t proof[BF_PROOF_LEN])
{
  gpointer v, kept;

  if (!bf_fifo_map_lookup(s->verdicts, id, &v))
    return FALSE;
  if (bf_fifo_map_lookup(s->proofs, id, &kept))
    memcpy(proof, kept, BF_PROOF_LEN);
  else
    memset(proof, 0, BF_PROOF_LEN);
  *stage = (uint8_t)(GPOINTER_TO_UINT(v) >> 8);
  *status = (uint8_t)GPOINTER_TO_UINT(v);
  return TRUE;
}

void
bfd_session_remember_proof_locked(BfdSession *s, uint64_t id,
                                  const uint8_t proof[BF_PROOF_LEN])
{
  uint8_t *copy = g_memdup2(proof, BF_PROOF_LEN);

  if (!bf_fifo_map_insert(s->proofs, id, copy))
    g_free(copy);
}

void
bfd_session_note_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                         uint8_t status)
{
  bfd_journal_note_verdict(s->journal, id, stage, status);
}

gboolean
bfd_session_op_claim(BfdSession *s, uint64_t op_id, BfdOpResult *result,
                     gboolean *doubt)
{
  gpointer v = NULL;
  gboolean run;

  *doubt = FALSE;
  if (op_id == 0)
    return TRUE;
  bf_mutex_lock(&s->lock);
  while (g_hash_table_contains(s->ops_running, &op_id))
    bf_cond_wait(&s->changed, &s->lock);
  run = !bf_fifo_map_lookup(s->ops_done, op_id, &v);
  if (run) {
    id_set_add(s->ops_running, op_id);
    *doubt = g_hash_table_remove(s->ops_doubt, &op_id);
  } else {
    const BfdOpResult *r = v;
    result->status = r->status;
    result->message = g_strdup(r->message);
  }
  bf_mutex_unlock(&s->lock);
  return run;
}

void
bfd_session_op_done(BfdSession *s, uint64_t op_id, const BfdOpResult *result)
{
  BfdOpResult *r;

  if (op_id == 0)
    return;
  r = g_new(BfdOpResult, 1);
  r->status = result->status;
  r->message = g_strdup(result->message);
  bf_mutex_lock(&s->lock);
  if (!bf_fifo_map_insert(s->ops_done, op_id, r))
    op_result_free(r);
  g_hash_table_remove(s->ops_running, &op_id);
  g_cond_broadcast(&s->changed);
  bf_mutex_unlock(&s->lock);
}

/* ---- paths ------------------------------------------------------------- */

gboolean
bfd_session_add_path(BfdSession *s, BfdPath *p, unsigned index,
                     gboolean replace, GError **error)
{
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
  gboolean ok = FALSE;

  g_free(p->session_name);
  p->session_name = g_strdup(s->dir.name);
  bf_mutex_lock(&s->lock);
  if (s->removed) {
    g_set_error(error, BFD_ERROR, BF_ST_AUTH,
                "unknown session or wrong attach token");
  } else if (s->removing) {
    g_set_error(error, BFD_ERROR, BF_ST_LIMIT,
                "the session is being removed: try again later");
  } else {
    /* A client re-attaches a path it lost, often before this side has
     * noticed (a silent cut): the new connection replaces the old one. */
    guint replaced = 0;
    for (guint i = 0; replace && i < s->clients->len; i++) {
      BfdPath *old = s->clients->pdata[i];
      if (old->index == index) {
        g_ptr_array_add(gone, g_strdup(old->conn->peer));
        bf_conn_shutdown(old->conn);
        replaced++;
      }
    }
    if (s->clients->len - replaced >= s->srv->limits.max_paths) {
      g_set_error(error, BFD_ERROR, BF_ST_LIMIT,
                  "too many paths in this session (max_paths)");
    } else {
      p->index = index;
      if (s->clients->len == 0)
        g_atomic_int_inc(&s->srv->sessions_connected);
      g_ptr_array_add(s->clients, p);
      s->last_activity = g_get_real_time() / G_USEC_PER_SEC;
      ok = TRUE;
    }
  }
  bf_mutex_unlock(&s->lock);
  for (guint i = 0; i < gone->len; i++)
    bf_log(G_LOG_LEVEL_MESSAGE, BFD_PATH_LOG(p),
           "session %s: path %u from %s replaces the one from %s", s->dir.name,
           index, p->conn->peer, (char *)gone->pdata[i]);
  return ok;
}

gboolean
bfd_session_remove_path(BfdSession *s, BfdPath *p)
{
  gboolean last;

  bf_mutex_lock(&s->lock);
  gboolean was = g_ptr_array_remove(s->clients, p);
  last = s->clients->len == 0;
  if (was && last)
    g_atomic_int_add(&s->srv->sessions_connected, -1);
  if (last)
    s->detached_at = g_get_monotonic_time();
  bf_mutex_unlock(&s->lock);
  return last;
}

gboolean
bfd_session_connected_locked(BfdSession *s)
{
  return s->clients->len > 0;
}

gboolean
bfd_session_rest(BfdSession *s, gint64 idle_since)
{
  gboolean idle;

  bf_mutex_lock(&s->rest_lock);
  bf_mutex_lock(&s->lock);
  idle = !s->resting && s->clients->len == 0 &&
         g_hash_table_size(s->items) == 0 && !s->removing && !s->removed &&
         s->detached_at < idle_since;
  bf_mutex_unlock(&s->lock);
  if (idle) {
    /* Nothing uses them without a path or an item. */
    g_clear_pointer(&s->journal, bfd_journal_free);
    close(s->dir.tmp_fd);
    s->dir.tmp_fd = -1;
    s->resting = TRUE;
  }
  bf_mutex_unlock(&s->rest_lock);
  return idle;
}

gboolean
bfd_session_wake(BfdSession *s, GError **error)
{
  bf_mutex_lock(&s->rest_lock);
  if (!s->resting)
    return TRUE;
  /* checked when the session was loaded; never through a link */
  s->dir.tmp_fd = bfd_store_openat(s->dir.dir_fd, "tmp",
                                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dir.tmp_fd < 0)
    return bfd_set_error_errno(error, errno, "session %s: tmp/", s->dir.name);
  s->journal = bfd_journal_open(s->dir.tmp_fd, s->dir.name);
  s->resting = FALSE;
  return TRUE;
}

void
bfd_session_wake_done(BfdSession *s)
{
  bf_mutex_unlock(&s->rest_lock);
}

gboolean
bfd_session_lingered(BfdSession *s, gint64 now, gint64 linger_us)
{
  gboolean over;

  bf_mutex_lock(&s->lock);
  over = s->clients->len == 0 && g_hash_table_size(s->items) > 0 &&
         now - s->detached_at >= linger_us;
  bf_mutex_unlock(&s->lock);
  return over;
}

BfdPath *
bfd_session_reply_path_locked(BfdSession *s, const void *preferred)
{
  for (guint i = 0; i < s->clients->len; i++)
    if (s->clients->pdata[i] == preferred)
      return bfd_path_ref(s->clients->pdata[i]);
  return s->clients->len > 0 ? bfd_path_ref(s->clients->pdata[0]) : NULL;
}

void
bfd_session_note_frame(BfdSession *s, BfdPath *p, const BfMsg *m)
{
  bf_mutex_lock(&s->lock);
  s->last_activity = g_get_real_time() / G_USEC_PER_SEC;
  if (m->type == BF_FRAME_CHUNK) {
    s->bytes_received += m->u.chunk.payload_len;
    p->bytes += m->u.chunk.payload_len;
    p->chunks++;
  }
  bf_mutex_unlock(&s->lock);
}

/* ---- totals and status --------------------------------------------------- */

void
bfd_session_note_stored_locked(BfdSession *s, uint64_t size)
{
  s->items_stored++;
  s->versions_stored++;
  s->bytes_stored += size;
}

void
bfd_session_note_removed(BfdSession *s, uint64_t bytes)
{
  bf_mutex_lock(&s->lock);
  if (s->items_stored > 0)
    s->items_stored--;
  s->bytes_stored -= MIN(bytes, s->bytes_stored);
  bf_mutex_unlock(&s->lock);
}

gint64
bfd_session_last_activity(BfdSession *s)
{
  gint64 t;

  bf_mutex_lock(&s->lock);
  t = s->last_activity;
  bf_mutex_unlock(&s->lock);
  return t;
}

static char *
iso_time(gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);

  return dt ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
}

char *
bfd_session_describe(BfdSession *s)
{
  g_autofree char *id = bf_hex(s->dir.id, BF_ID_LEN);
  g_autofree char *started = iso_time(s->dir.started);
  g_autoptr(GString) clients = g_string_new(NULL);
  g_autoptr(GString) paths = g_string_new(NULL);
  GString *out = g_string_new(NULL);

  bf_mutex_lock(&s->lock);
  g_autofree char *last = iso_time(s->last_activity);
  for (guint i = 0; i < s->clients->len; i++) {
    BfdPath *p = s->clients->pdata[i];
    g_string_append_printf(clients, "%s%s", i ? ", " : "", p->conn->peer);
    g_string_append_printf(paths, "path: %u %s -> %s bytes=%" G_GUINT64_FORMAT
                           " chunks=%" G_GUINT64_FORMAT "\n", p->index,
                           p->conn->peer, p->local, p->bytes, p->chunks);
  }
  g_string_append_printf(out, "id: %s\nlabel: %s\n", id, s->dir.label);
  if (s->dir.client[0] != '\0')
    g_string_append_printf(out, "client: %s\n", s->dir.client);
  g_string_append_printf(out,
      "clients: %s\npaths: %u\nitems: %" G_GUINT64_FORMAT
      "\nversions: %" G_GUINT64_FORMAT "\nbytes: %" G_GUINT64_FORMAT
      "\nreceived: %" G_GUINT64_FORMAT "\nfailed: %" G_GUINT64_FORMAT
      "\nin_flight: %u\nstarted: %s\nlast_activity: %s\nstate: %s\n",
      clients->str, s->clients->len, s->items_stored,
      s->versions_stored, s->bytes_stored, s->bytes_received, s->items_failed,
      g_hash_table_size(s->items),
      started, last, s->clients->len > 0 ? "connected" : "disconnected");
  g_string_append(out, paths->str);
  bf_mutex_unlock(&s->lock);
  return g_string_free(out, FALSE);
}
