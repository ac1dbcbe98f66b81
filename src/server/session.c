/* Sessions, paths and the rebuilding of items.
 *
 * Each accepted connection gets a thread that does the handshake and then
 * reads frames until the connection ends. A session is the set of paths
 * that presented its id and token; items belong to the session, not to a
 * path, because their chunks arrive on all of them in any order. Lock
 * order: server lock, then session lock, then item lock; a thread holding
 * an item lock takes no session or server lock.
 *
 * Only a path's own thread writes to its socket, so a peer that stops
 * reading can hold up nothing but its own path: every answer after the
 * handshake, whoever makes it (the path's thread, a finalizer, another
 * path's thread of the session), is posted to the path's bounded outbox
 * (conn.h), which the path's thread sends before it reads the next frame
 * and while it waits for one. A path that does not read is closed when a
 * send blocks for send_timeout or its outbox overflows. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "braidfs/handshake.h"
#include "braidfs/parse.h"

/* ---- sessions and items ---------------------------------------------- */


BfdSession *
bfd_session_new(BfdServer *srv, const char *dirname)
{
  BfdSession *s = g_new0(BfdSession, 1);

  s->srv = srv;
  s->refs = 1;
  s->dirname = g_strdup(dirname);
  s->dir_fd = s->data_fd = s->tmp_fd = s->max_id_fd = -1;
  g_mutex_init(&s->lock);
  s->items = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                   (GDestroyNotify)bfd_item_unref);
  s->clients = g_ptr_array_new();
  s->done = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  g_queue_init(&s->done_order);
  s->ops_done = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  g_queue_init(&s->ops_order);
  s->ops_running = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                         NULL);
  s->opening = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  g_cond_init(&s->changed);
  s->share_budget = bfd_share_budget_new();
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
  g_hash_table_unref(s->done);
  g_queue_clear(&s->done_order);
  g_hash_table_unref(s->ops_done);
  g_queue_clear(&s->ops_order);
  g_hash_table_unref(s->ops_running);
  g_hash_table_unref(s->opening);
  g_cond_clear(&s->changed);
  g_ptr_array_unref(s->clients);
  bfd_share_budget_free(s->share_budget);
  bfd_resume_free(s);
  for (int *fd = (int[]){ s->dir_fd, s->data_fd, s->tmp_fd, s->max_id_fd, -2 };
       *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  g_mutex_clear(&s->lock);
  g_free(s->dirname);
  g_free(s->label);
  g_free(s);
}

BfdSession *
bfd_server_lookup(BfdServer *srv, const char *dirname)
{
  BfdSession *s;

  g_mutex_lock(&srv->lock);
  s = g_hash_table_lookup(srv->sessions, dirname);
  if (s != NULL)
    bfd_session_ref(s);
  g_mutex_unlock(&srv->lock);
  return s;
}

static BfdItem *
item_ref(BfdItem *it)
{
  g_atomic_int_inc(&it->refs);
  return it;
}

void
bfd_item_unref(BfdItem *it)
{
  if (it == NULL || !g_atomic_int_dec_and_test(&it->refs))
    return;
  if (it->fd >= 0)
    close(it->fd);
  if (it->map_fd >= 0)
    close(it->map_fd);
  bf_assembler_free(it->asm_);
  bfd_shares_free(it->shares);
  bf_digest_free(it->digest);
  g_mutex_clear(&it->lock);
  g_free(it->name);
  g_free(it->label);
  g_free(it);
}

void
bfd_item_set_name(BfdItem *it, const uint8_t *name, size_t len)
{
  it->name_hidden = len == 0;
  if (len > 0) {
    it->name = g_strndup((const char *)name, len);
    it->label = g_strdup(it->name);
  } else {
    it->label = g_strdup_printf("item %" G_GUINT64_FORMAT, it->id);
  }
}

gboolean
bfd_item_take_secret(BfdItem *it, const BfdLimits *l, const uint8_t *secret,
                     size_t len, uint8_t *status, char **why)
{
  g_autoptr(GError) error = NULL;
  BfSecret sec;

  /* The frames were sound: a bad name in the secret fails the item, with
   * an answer that does not quote it (it travels on one path). */
  *status = BF_ST_PROTOCOL;
  if (!bf_secret_decode(secret, len, &sec, &error) &&
      g_error_matches(error, BF_WIRE_ERROR, BF_WIRE_ERROR_NAME)) {
    g_warning("%s: the name in its secret is refused: %s", it->label,
              error->message);
    *status = BF_ST_BAD_NAME;
    *why = g_strdup("the name in its secret breaks the rules of names "
                    "(braidfs-protocol(7), NAMES)");
    return FALSE;
  }
  if (error != NULL) {
    *why = g_strdup(error->message);
    return FALSE;
  }
  if ((sec.name.len > 0) != it->name_hidden) {
    *why = g_strdup_printf("secret %s a name, ITEM_OPEN %s",
                           sec.name.len ? "with" : "without",
                           it->name_hidden ? "had none" : "had one");
    return FALSE;
  }
  *status = BF_ST_BAD_NAME;
  if (sec.name.len > 0 &&
      !bfd_limits_name_ok(l, sec.name.data, sec.name.len, why))
    return FALSE;
  memcpy(it->want, sec.digest, sizeof it->want);
  if (sec.name.len > 0)
    it->name = g_strndup((const char *)sec.name.data, sec.name.len);
  it->secret_done = TRUE;
  return TRUE;
}

/* Every chunk and the ITEM_CLOSE are here, and a SHAMIR item's secret. */
static gboolean
item_ready(const BfdItem *it)
{
  return bf_assembler_complete(it->asm_) &&
         (it->coding.kind != BF_CODING_SHAMIR || it->secret_done);
}

/* Waits while another path handles the ITEM_OPEN of id (the same frame,
 * repeated: it gets the first one's answer). Called with s->lock held. */
static void
wait_opened_locked(BfdSession *s, uint64_t id)
{
  while (g_hash_table_contains(s->opening, &id))
    g_cond_wait(&s->changed, &s->lock);
}

/* Looks up an open item. *gone tells an item that was opened and has
 * since finished (stored, failed or cancelled: frames still in flight on
 * other paths are harmless) from one that was never opened (a violation). */
static BfdItem *
session_item(BfdSession *s, uint64_t id, gboolean *gone)
{
  BfdItem *it;

  g_mutex_lock(&s->lock);
  wait_opened_locked(s, id);
  it = g_hash_table_lookup(s->items, &id);
  if (it != NULL)
    item_ref(it);
  *gone = it == NULL && id != 0 && id <= s->max_item_id;
  g_mutex_unlock(&s->lock);
  return it;
}

/* Verdicts of finished items are kept so that a client that re-sends an
 * ITEM_OPEN or ITEM_CLOSE after losing the path that carried the answer
 * gets the same answer again. A client only repeats frames of items it is
 * still waiting for (a few per open file), so the table is small and
 * bounded (~0.4 MB per session at most): the oldest are forgotten. */
#define BFD_DONE_MAX 4096

static void
done_insert_locked(BfdSession *s, uint64_t id, uint8_t stage, uint8_t status)
{
  uint64_t *key;

  if (g_hash_table_contains(s->done, &id))
    return;
  key = g_memdup2(&id, sizeof id);
  g_hash_table_insert(s->done, key,
                      GUINT_TO_POINTER(0x10000u | (guint)stage << 8 | status));
  g_queue_push_tail(&s->done_order, key);
  if (g_queue_get_length(&s->done_order) > BFD_DONE_MAX)
    g_hash_table_remove(s->done, g_queue_pop_head(&s->done_order));
}

/* Remembers a verdict, in the store too (resume.c) */
static void
done_record_locked(BfdSession *s, uint64_t id, uint8_t stage, uint8_t status)
{
  if (!g_hash_table_contains(s->done, &id))
    bfd_resume_note_verdict(s, id, stage, status);
  done_insert_locked(s, id, stage, status);
}

static gboolean
done_lookup_locked(BfdSession *s, uint64_t id, uint8_t *stage, uint8_t *status)
{
  guint v = GPOINTER_TO_UINT(g_hash_table_lookup(s->done, &id));

  *stage = (uint8_t)(v >> 8);
  *status = (uint8_t)v;
  return v != 0;
}

void
bfd_session_record_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                           uint8_t status)
{
  g_mutex_lock(&s->lock);
  done_insert_locked(s, id, stage, status);
  g_mutex_unlock(&s->lock);
}

/* Removes a finished item from the session and records its verdict.
 * Called with s->lock held. */
static void
item_retire_locked(BfdSession *s, BfdItem *it, uint8_t stage, uint8_t status)
{
  done_record_locked(s, it->id, stage, status);
  g_hash_table_remove(s->items, &it->id);
  /* nothing in flight: the spare share buffers go (a session may stay idle
   * for long) */
  if (g_hash_table_size(s->items) == 0)
    bfd_share_budget_trim(s->share_budget);
}

static BfdPath *
path_ref(BfdPath *p)
{
  g_atomic_int_inc(&p->refs);
  return p;
}

static void
path_unref(BfdPath *p)
{
  if (p == NULL || !g_atomic_int_dec_and_test(&p->refs))
    return;
  bfd_session_unref(p->sess);
  bf_conn_free(p->conn);
  g_free(p->scratch);
  g_free(p->rebuilt);
  g_free(p->local);
  g_free(p->src);
  g_free(p);
}

/* Where to answer an item: on the path its latest ITEM_CLOSE came on while
 * that is attached (the client sends it on the path it listens to most),
 * else on any live path of the session, since the client takes item
 * answers on every path. Called with s->lock held; returns a reference. */
static BfdPath *
reply_path_locked(BfdSession *s, const void *preferred)
{
  for (guint i = 0; i < s->clients->len; i++)
    if (s->clients->pdata[i] == preferred)
      return path_ref(s->clients->pdata[i]);
  return s->clients->len > 0 ? path_ref(s->clients->pdata[0]) : NULL;
}

void
bfd_session_note_removed(BfdSession *s, uint64_t bytes)
{
  g_mutex_lock(&s->lock);
  if (s->items_stored > 0)
    s->items_stored--;
  s->bytes_stored -= MIN(bytes, s->bytes_stored);
  g_mutex_unlock(&s->lock);
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
  g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
  g_autofree char *started = iso_time(s->started);
  GString *out = g_string_new(NULL);

  g_mutex_lock(&s->lock);
  g_autofree char *last = iso_time(s->last_activity);
  GString *clients = g_string_new(NULL);
  GString *paths = g_string_new(NULL);
  for (guint i = 0; i < s->clients->len; i++) {
    BfdPath *p = s->clients->pdata[i];
    g_string_append_printf(clients, "%s%s", i ? ", " : "", p->conn->peer);
    g_string_append_printf(paths, "path: %u %s -> %s bytes=%" G_GUINT64_FORMAT
                           " chunks=%" G_GUINT64_FORMAT "\n", p->index,
                           p->conn->peer, p->local, p->bytes, p->chunks);
  }
  g_string_append_printf(out,
      "id: %s\nlabel: %s\nclients: %s\npaths: %u\nitems: %" G_GUINT64_FORMAT
      "\nversions: %" G_GUINT64_FORMAT "\nbytes: %" G_GUINT64_FORMAT
      "\nin_flight: %u\nstarted: %s\n"
      "last_activity: %s\nstate: %s\n",
      id, s->label, clients->str, s->clients->len, s->items_stored,
      s->versions_stored, s->bytes_stored, g_hash_table_size(s->items), started, last,
      s->clients->len > 0 ? "connected" : "disconnected");
  g_string_append(out, paths->str);
  g_mutex_unlock(&s->lock);
  g_string_free(clients, TRUE);
  g_string_free(paths, TRUE);
  return g_string_free(out, FALSE);
}

/* ---- replies ------------------------------------------------------------ */

/* The path does not read what we send: said once, in whichever thread
 * notices first. */
static void
log_stalled(BfdPath *p, const GError *error)
{
  BfdSession *s = p->sess;

  if (!g_atomic_int_compare_and_exchange(&p->stall_logged, 0, 1))
    return;
  g_warning("closing path %u from %s%s%s: %s; send_timeout %u s, answers "
            "queued at most %u bytes", p->index, p->conn->peer,
            s ? " of session " : "", s ? s->dirname : "", error->message,
            p->srv->limits.send_timeout_ms / 1000, BFD_OUTBOX_MAX);
}

/* Posts an answer to the path's outbox; never blocks. FALSE when the path
 * is closing because it does not read. */
static gboolean
path_post(BfdPath *p, const BfMsg *m)
{
  g_autoptr(GError) error = NULL;

  if (bf_conn_post(p->conn, m, &error))
    return TRUE;
  if (g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_STALLED))
    log_stalled(p, error);
  else
    g_warning("path from %s: %s", p->conn->peer, error->message);
  return FALSE;
}

static void
send_item_ack(BfdPath *p, uint64_t id, uint8_t stage, uint8_t status,
              const char *text)
{
  BfMsg m = { .type = BF_FRAME_ITEM_ACK };

  m.u.item_ack.item_id = id;
  m.u.item_ack.stage = stage;
  m.u.item_ack.status = status;
  if (text != NULL) {
    m.u.item_ack.message.data = (const uint8_t *)text;
    m.u.item_ack.message.len = (uint16_t)MIN(strlen(text), (size_t)BF_MSG_MAX);
  }
  path_post(p, &m);
}

/* Answers a protocol violation: ERROR frame, log line, end of this path. */
static gboolean
refuse(BfdPath *p, uint8_t status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
refuse(BfdPath *p, uint8_t status, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  BfMsg m = { .type = BF_FRAME_ERROR };

  g_warning("closing path from %s%s%s: %s", p->conn->peer,
            p->sess ? " of session " : "", p->sess ? p->sess->dirname : "",
            msg);
  m.u.error.status = status;
  m.u.error.message.data = (const uint8_t *)msg;
  m.u.error.message.len = (uint16_t)MIN(strlen(msg), (size_t)BF_MSG_MAX);
  path_post(p, &m);   /* sent before the path closes (path_thread) */
  return FALSE;
}

/* ---- item rebuilding ---------------------------------------------------- */

/* An ITEM_OPEN for an id already used: the client lost the path that
 * carried our answer (or its ITEM_OPEN) and sends it again. The same answer
 * goes back; an item already stored is answered with STORED. */
static gboolean
open_again(BfdPath *p, uint64_t id)
{
  BfdSession *s = p->sess;
  uint8_t stage, status;
  gboolean open, done;

  g_mutex_lock(&s->lock);
  wait_opened_locked(s, id);
  open = g_hash_table_contains(s->items, &id);
  done = !open && done_lookup_locked(s, id, &stage, &status);
  g_mutex_unlock(&s->lock);
  if (open)
    send_item_ack(p, id, BF_ACK_OPENED, BF_ST_OK, NULL);
  else if (done)
    send_item_ack(p, id, stage, status, NULL);
  else {
    g_warning("session %s: refusing an ITEM_OPEN from %s: item id %"
              G_GUINT64_FORMAT " is not known to this session (ids must "
              "increase)", s->dirname, p->conn->peer, id);
    /* NOT_FOUND lets a client that replays an id from before its own crash
     * (delivery=async) announce the item afresh. */
    send_item_ack(p, id, BF_ACK_OPENED, BF_ST_NOT_FOUND, "item id not known "
                  "to this session (ids must increase)");
  }
  return TRUE;
}

/* The ITEM_OPEN of id is handled: its repeats may look. Called with
 * s->lock held. */
static void
opened_locked(BfdSession *s, uint64_t id)
{
  g_hash_table_remove(s->opening, &id);
  g_cond_broadcast(&s->changed);
}

/* Refuses one item (not the path) and remembers the verdict. */
static gboolean
open_refused(BfdPath *p, uint64_t id, uint8_t status, const char *msg)
{
  g_mutex_lock(&p->sess->lock);
  done_record_locked(p->sess, id, BF_ACK_OPENED, status);
  opened_locked(p->sess, id);
  g_mutex_unlock(&p->sess->lock);
  send_item_ack(p, id, BF_ACK_OPENED, status, msg);
  return TRUE;
}

/* The server's own bounds on names and chunks (limits.c): over them the
 * item is refused, not the path. */
static gboolean
open_within_limits(BfdPath *p, const BfItemOpen *o)
{
  const BfdLimits *l = &p->srv->limits;
  g_autofree char *why = NULL;
  uint8_t status = BF_ST_BAD_NAME;

  if (o->chunk_size > l->max_chunk) {
    why = g_strdup_printf("chunk_size %u is larger than the server's "
                          "max_chunk (%u)", o->chunk_size, l->max_chunk);
    status = BF_ST_TOO_BIG;
  } else if (bfd_limits_name_ok(l, o->name.data, o->name.len, &why)) {
    return TRUE;
  }
  g_warning("session %s: refusing item %" G_GUINT64_FORMAT " from %s: %s",
            p->sess->dirname, o->item_id, p->conn->peer, why);
  open_refused(p, o->item_id, status, why);
  return FALSE;
}

static gboolean
on_item_open(BfdPath *p, const BfItemOpen *o)
{
  BfdSession *s = p->sess;
  BfdItem *it;
  int fd, err;

  if (o->item_id == 0)
    return refuse(p, BF_ST_PROTOCOL, "ITEM_OPEN with item id 0");
  g_mutex_lock(&s->lock);
  /* Increasing ids let the server tell a late or repeated frame of an item
   * it has seen from one naming an item never opened. Even a refused id
   * counts as used: the chunks sent after it are acknowledged and dropped. */
  if (o->item_id <= s->max_item_id &&
      !bfd_resume_reopen_locked(s, o->item_id)) {
    g_mutex_unlock(&s->lock);
    return open_again(p, o->item_id);
  }
  /* Recorded before the item exists: after a restart, an id at or below
   * it is an item that was opened, never a new one. */
  if (o->item_id > s->max_item_id)
    bfd_resume_note_id(s, s->max_item_id = o->item_id);
  /* Until it is created or refused, a repeat of this frame on another
   * path waits for its answer (it would find the id used, no item). */
  g_hash_table_add(s->opening, g_memdup2(&o->item_id, sizeof o->item_id));
  bfd_crash_at(BFD_CRASH_MAX_ID);
  guint open_items = g_hash_table_size(s->items);
  g_mutex_unlock(&s->lock);

  BfCodingSpec coding = { o->coding, o->coding_k, o->coding_n };
  /* One partial chunk must fit the session's share buffer (coding.h). */
  if ((size_t)(coding.k - 1) * bf_coding_share_len(&coding, o->chunk_size) >
      BF_CODING_PARTIAL_BYTES)
    return open_refused(p, o->item_id, BF_ST_LIMIT, "chunk_size too large "
                        "for this coding: (coding_k - 1) shares of a chunk "
                        "must fit in 64 MiB");
  if (!open_within_limits(p, o))
    return TRUE;
  if (open_items >= p->srv->limits.max_open_items) {
    g_warning("session %s: refusing item %" G_GUINT64_FORMAT ": %u items in "
              "flight (max_open_items)", s->dirname, o->item_id,
              p->srv->limits.max_open_items);
    return open_refused(p, o->item_id, BF_ST_LIMIT, "too many items in "
                        "flight in this session (max_open_items)");
  }
  it = g_new0(BfdItem, 1);
  it->refs = 1;
  it->map_fd = -1;
  it->id = o->item_id;
  bfd_item_set_name(it, o->name.data, o->name.len);
  it->mode = o->mode;
  it->mtime_sec = o->mtime_sec;
  it->mtime_nsec = o->mtime_nsec;
  g_mutex_init(&it->lock);
  g_snprintf(it->tmpname, sizeof it->tmpname, "%016" G_GINT64_MODIFIER "x.part",
             o->item_id);
  it->asm_ = bf_assembler_new(o->chunk_size, p->srv->limits.max_item_size);
  it->coding = coding;
  if (coding.kind != BF_CODING_STRIPE)
    it->shares = bfd_shares_new(&coding, s->share_budget);
  it->digest = bf_digest_new(o->digest_alg);
  it->fd = fd = openat(s->tmp_fd, it->tmpname,
                       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || !bfd_resume_open(s, it, o)) {
    err = errno ? errno : EIO;
    bfd_resume_forget(s, it);
    g_autofree char *msg = g_strdup_printf("cannot create %s: %s", it->label,
                                           g_strerror(err));
    g_warning("session %s: %s", s->dirname, msg);
    bfd_item_unref(it);
    return open_refused(p, o->item_id, (uint8_t)bfd_errno_status(err), msg);
  }
  g_mutex_lock(&s->lock);
  g_hash_table_insert(s->items, &it->id, it);
  opened_locked(s, it->id);
  g_mutex_unlock(&s->lock);
  g_debug("session %s: item %" G_GUINT64_FORMAT " '%s' opened", s->dirname,
          it->id, it->label);
  send_item_ack(p, it->id, BF_ACK_OPENED, BF_ST_OK, NULL);
  return TRUE;
}

static uint8_t *
scratch(BfdPath *p, size_t len)
{
  if (p->scratch_len < len) {
    g_free(p->scratch);
    p->scratch = g_malloc(len);
    p->scratch_len = len;
  }
  return p->scratch;
}

static gboolean
pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    done += n;
  }
  return TRUE;
}

static int
pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    done += n;
  }
  return 0;
}

/* Feeds the digest with every chunk that now extends the contiguous prefix.
 * The chunk just received is hashed from memory; chunks that arrived early
 * are reread (from the page cache) so memory stays at one chunk per path. */
static gboolean
hash_forward(BfdPath *p, BfdItem *it, uint32_t just, const uint8_t *data)
{
  uint32_t cs = bf_assembler_chunk_size(it->asm_);

  while (bf_assembler_has(it->asm_, it->hashed)) {
    uint32_t len = bf_assembler_chunk_len(it->asm_, it->hashed);
    const uint8_t *buf = data;
    if (it->hashed != just) {
      uint8_t *tmp = scratch(p, cs);
      if (!pread_full(it->fd, tmp, len, (uint64_t)it->hashed * cs))
        return FALSE;
      buf = tmp;
    }
    bf_digest_update(it->digest, buf, len);
    it->hashed++;
  }
  return TRUE;
}

/* Verifies and moves a complete item into data/. Runs on the finalizer
 * pool once the item is marked finished, so nothing else touches it.
 * Returns the status for ITEM_ACK STORED and sets *msg on failure;
 * *replaced is 1 + the size of a file the item replaced, else 0. */
static uint8_t
finalize(BfdSession *s, BfdItem *it, char **msg, uint64_t *replaced)
{
  struct stat old;
  uint8_t got[BF_DIGEST_LEN];
  struct timespec ts[2];
  const char *leaf;
  g_autoptr(GError) error = NULL;
  int parent, err;

  bf_digest_final(it->digest, got);
  if (sodium_memcmp(got, it->want, sizeof got) != 0) {
    *msg = g_strdup_printf("%s: %s digest mismatch, item discarded", it->label,
                           it->want_alg == BF_DIGEST_SHA256 ? "SHA-256"
                                                            : "BLAKE2b-256");
    return BF_ST_CORRUPT;
  }
  ts[0].tv_sec = ts[1].tv_sec = it->mtime_sec;
  ts[0].tv_nsec = ts[1].tv_nsec = it->mtime_nsec;
  if (fchmod(it->fd, it->mode & 07777) < 0 || futimens(it->fd, ts) < 0 ||
      fsync(it->fd) < 0)
    goto fail_errno;
  bfd_crash_at(BFD_CRASH_FSYNCED);
  parent = bfd_store_open_parent(s->data_fd, it->name, TRUE, &leaf, &error);
  if (parent < 0)
    goto fail_errno;
  /* What the rename replaces no longer counts in the session totals. */
  if (fstatat(parent, leaf, &old, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(old.st_mode))
    *replaced = old.st_size + 1;
  if (renameat(s->tmp_fd, it->tmpname, parent, leaf) < 0 ||
      (bfd_crash_at(BFD_CRASH_RENAMED), fsync(parent) < 0)) {
    err = errno;
    close(parent);
    errno = err;
    goto fail_errno;
  }
  close(parent);
  close(it->fd);
  it->fd = -1;
  bfd_crash_at(BFD_CRASH_DIR_SYNCED);
  return BF_ST_OK;
fail_errno:
  err = errno;
  *msg = g_strdup_printf("cannot store %s: %s", it->label, g_strerror(err));
  return (uint8_t)bfd_errno_status(err);
}

/* Answers a chunk or close the assembler refused. Going over max_item_size
 * is a limit, not a violation: only the item fails (*done, *status, *msg
 * for ITEM_ACK STORED). Anything else ends the path. Called with it->lock
 * held; returns FALSE when the path must close. */
static gboolean
asm_failure(BfdPath *p, BfdItem *it, const GError *error, gboolean *done,
            uint8_t *status, char **msg)
{
  if (!g_error_matches(error, BF_ASM_ERROR, BF_ASM_ERROR_TOO_BIG))
    return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": %s", it->id,
                  error->message);
  it->finished = *done = TRUE;
  *msg = g_strdup_printf("%s is larger than the server's max_item_size "
                         "(%" G_GUINT64_FORMAT " bytes)", it->label,
                         p->srv->limits.max_item_size);
  *status = BF_ST_TOO_BIG;
  return TRUE;
}

/* Ends an item: counts it, remembers its verdict, deletes its files in
 * tmp/ (the verdict is in the store first: see resume.c) and answers it. */
static void
report_stored(BfdSession *s, BfdItem *it, uint8_t status, const char *msg,
              uint64_t size, uint64_t replaced)
{
  BfdPath *to;

  if (status == BF_ST_OK && replaced > 0)
    bfd_session_note_removed(s, replaced - 1);
  if (status == BF_ST_OK)
    g_debug("session %s: stored '%s' (%" G_GUINT64_FORMAT " bytes)",
            s->dirname, it->label, size);
  else
    g_warning("session %s: %s", s->dirname, msg);
  g_mutex_lock(&s->lock);
  if (status == BF_ST_OK) {
    s->items_stored++;
    s->versions_stored++;
    s->bytes_stored += size;
  }
  item_retire_locked(s, it, BF_ACK_STORED, status);
  to = reply_path_locked(s, it->close_path);
  g_mutex_unlock(&s->lock);
  bfd_resume_forget(s, it);
  bfd_crash_at(BFD_CRASH_REC_REMOVED);
  if (to != NULL)
    send_item_ack(to, it->id, BF_ACK_STORED, status, msg);
  path_unref(to);
}

typedef struct {
  BfdSession *sess;
  BfdItem *item;
} BfdFinal;

static void
finalize_job(gpointer data, gpointer user_data)
{
  BfdFinal *f = data;
  g_autofree char *msg = NULL;
  uint64_t replaced = 0;
  uint8_t status = finalize(f->sess, f->item, &msg, &replaced);

  (void)user_data;
  report_stored(f->sess, f->item, status, msg,
                bf_assembler_size(f->item->asm_), replaced);
  bfd_crash_at(BFD_CRASH_STORED_SENT);
  bfd_item_unref(f->item);
  bfd_session_unref(f->sess);
  g_free(f);
}

/* The item is complete: its fsyncs and rename run on the finalizer pool, so
 * this path keeps reading (and answering PINGs) meanwhile. Called with
 * it->lock held; from here on only the finalizer touches the item's file. */
static void
hand_to_finalizer(BfdSession *s, BfdItem *it)
{
  BfdFinal *f = g_new(BfdFinal, 1);

  it->finished = TRUE;
  f->sess = bfd_session_ref(s);
  f->item = item_ref(it);
  g_thread_pool_push(s->srv->finalizer, f, NULL);
}

static gboolean
send_chunk_ack(BfdPath *p, const BfChunk *c)
{
  BfMsg m = { .type = BF_FRAME_CHUNK_ACK };

  m.u.chunk_ack.item_id = c->item_id;
  m.u.chunk_ack.chunk_id = c->chunk_id;
  m.u.chunk_ack.share_index = c->share_index;
  return path_post(p, &m);
}

static uint8_t *
rebuilt_buf(BfdPath *p, size_t len)
{
  if (p->rebuilt_len < len) {
    g_free(p->rebuilt);
    p->rebuilt = g_malloc(len);
    p->rebuilt_len = len;
  }
  return p->rebuilt;
}

/* Writes a new chunk (checked against the item) at off, records it for a
 * restart, feeds the digest and hands a complete item over. Called with
 * it->lock held; an I/O error fails the item (*failed, *status, *msg). */
static void
store_chunk(BfdPath *p, BfdItem *it, const BfChunk *c, const uint8_t *data,
            uint32_t len, uint64_t off, gboolean *failed, uint8_t *status,
            char **msg)
{
  int err = pwrite_full(it->fd, data, len, off);

  if (err == 0)
    err = bfd_resume_chunk(it, c->chunk_id, len, c->total_chunks);
  if (err == 0) {
    bf_assembler_mark(it->asm_, c->chunk_id, len);
    if (!hash_forward(p, it, c->chunk_id, data))
      err = errno ? errno : EIO;
  }
  if (err != 0) {
    it->finished = *failed = TRUE;
    *status = (uint8_t)bfd_errno_status(err);
    *msg = g_strdup_printf("cannot write %s: %s", it->label, g_strerror(err));
  } else if (item_ready(it)) {
    hand_to_finalizer(p->sess, it);
  }
}

/* A CHUNK of a stripe item: the chunk itself. Called with it->lock held;
 * FALSE when the path must close. */
static gboolean
on_plain_locked(BfdPath *p, BfdItem *it, const BfChunk *c, gboolean *failed,
                uint8_t *status, char **msg)
{
  g_autoptr(GError) error = NULL;
  uint64_t off;
  gboolean dup;

  if (c->share_index != 0 || c->pad != 0)
    return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": chunk %u "
                  "with share_index %u, pad %u under coding stripe", it->id,
                  c->chunk_id, c->share_index, c->pad);
  if (c->chunk_id == BF_SECRET_CHUNK)
    return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": chunk %u "
                  "(the secret of a shamir item) under coding stripe", it->id,
                  c->chunk_id);
  if (!bf_assembler_check(it->asm_, c->chunk_id, c->total_chunks,
                          c->payload_len, &off, &dup, &error))
    return asm_failure(p, it, error, failed, status, msg);
  if (dup) {
    uint8_t *old = scratch(p, c->payload_len);
    if (!pread_full(it->fd, old, c->payload_len, off) ||
        bf_crc32c(old, c->payload_len) != c->crc32c)
      return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                    ": chunk %u resent with different bytes", c->item_id,
                    c->chunk_id);
    return TRUE;
  }
  store_chunk(p, it, c, c->payload, c->payload_len, off, failed, status, msg);
  return TRUE;
}

/* A share of a SHAMIR item's secret (chunk BF_SECRET_CHUNK), checked
 * before it is buffered: its length says whether the name is in it, and
 * must agree with ITEM_OPEN. */
static gboolean
secret_share_ok(BfdPath *p, BfdItem *it, const BfChunk *c)
{
  gboolean hidden = it->name_hidden;

  if (it->coding.kind != BF_CODING_SHAMIR)
    return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": chunk %u "
                  "(the secret) under coding %s", it->id, c->chunk_id,
                  bf_coding_str(&it->coding));
  if (c->total_chunks != 0 || c->pad != 0 ||
      (hidden ? c->payload_len <= BF_SECRET_FIXED
              : c->payload_len != BF_SECRET_FIXED) ||
      c->payload_len > BF_SECRET_FIXED + p->srv->limits.max_name)
    return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": share of "
                  "its secret with total_chunks %u, pad %u, %u bytes (%s)",
                  it->id, c->total_chunks, c->pad, c->payload_len,
                  hidden ? "ITEM_OPEN had no name: over 64 bytes and at most "
                           "64 + max_name"
                         : "ITEM_OPEN had the name: 64 bytes");
  return TRUE;
}

/* The secret is rebuilt: recorded (like a rebuilt chunk) before its k-th
 * share is acknowledged, then taken. A name the server refuses fails the
 * item, not the path. Called with it->lock held. */
static gboolean
take_secret(BfdPath *p, BfdItem *it, const uint8_t *secret, size_t len,
            gboolean *failed, uint8_t *status, char **msg)
{
  g_autofree char *why = NULL;

  if (!bfd_item_take_secret(it, &p->srv->limits, secret, len, status, &why)) {
    if (*status == BF_ST_PROTOCOL)
      return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": %s",
                    it->id, why);
    it->finished = *failed = TRUE;
    *msg = g_strdup_printf("%s: %s", it->label, why);
    return TRUE;
  }
  if (!bfd_resume_secret(p->sess, it, secret, len)) {
    int err = errno ? errno : EIO;
    it->finished = *failed = TRUE;
    *status = (uint8_t)bfd_errno_status(err);
    *msg = g_strdup_printf("cannot record the secret of %s: %s", it->label,
                           g_strerror(err));
    return TRUE;
  }
  if (item_ready(it))
    hand_to_finalizer(p->sess, it);
  return TRUE;
}

/* A CHUNK of a shamir or rs item: one share of a chunk, or of a SHAMIR
 * item's secret. The k-th distinct share rebuilds it; a chunk is then
 * stored like a stripe chunk; shares after that are acknowledged and
 * ignored. Called with it->lock held; FALSE when the path must close. */
static gboolean
on_share_locked(BfdPath *p, BfdItem *it, const BfChunk *c, gboolean *failed,
                uint8_t *status, char **msg)
{
  g_autoptr(GError) error = NULL;
  gboolean secret = c->chunk_id == BF_SECRET_CHUNK;
  size_t len = c->payload_len;
  uint64_t off = 0;
  gboolean dup;

  if (secret && !secret_share_ok(p, it, c))
    return FALSE;
  if (secret && it->secret_done)
    return TRUE;
  if (!secret &&
      !bf_coding_chunk_len(&it->coding, c->payload_len, c->pad, &len, &error))
    return refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": chunk %u: "
                  "%s", it->id, c->chunk_id, error->message);
  /* The rebuilt length is checked before anything is buffered; len stays
   * below 2^32 (16 shares of at most BF_CHUNK_MAX). */
  if (!secret && !bf_assembler_check(it->asm_, c->chunk_id, c->total_chunks,
                                     (uint32_t)len, &off, &dup, &error))
    return asm_failure(p, it, error, failed, status, msg);
  if (!secret && dup)
    return TRUE;
  uint8_t *out = rebuilt_buf(p, len);
  switch (bfd_shares_add(it->shares, c, len, out, &error)) {
  case BFD_SHARE_ERROR:
    return refuse(p, error->domain == BFD_SHARES_ERROR ? (uint8_t)error->code
                                                       : BF_ST_PROTOCOL,
                  "item %" G_GUINT64_FORMAT ": %s", it->id, error->message);
  case BFD_SHARE_KEPT:
    if (!secret)
      bf_assembler_expect(it->asm_, c->chunk_id, (uint32_t)len);
    return TRUE;
  case BFD_SHARE_REBUILT:
    if (secret)
      return take_secret(p, it, out, len, failed, status, msg);
    store_chunk(p, it, c, out, (uint32_t)len, off, failed, status, msg);
    return TRUE;
  default:
    return TRUE;
  }
}

static gboolean
on_chunk(BfdPath *p, const BfChunk *c)
{
  gboolean gone;
  BfdItem *it = session_item(p->sess, c->item_id, &gone);
  gboolean ok = TRUE, failed = FALSE;
  uint8_t status = BF_ST_OK;
  g_autofree char *msg = NULL;

  if (it == NULL && gone)
    return send_chunk_ack(p, c);
  if (it == NULL)
    return refuse(p, BF_ST_NOT_FOUND, "CHUNK for unknown item %" G_GUINT64_FORMAT,
                  c->item_id);
  if (bf_crc32c(c->payload, c->payload_len) != c->crc32c) {
    bfd_item_unref(it);
    return refuse(p, BF_ST_CORRUPT, "CHUNK %u of item %" G_GUINT64_FORMAT
                  ": CRC32C mismatch", c->chunk_id, c->item_id);
  }
  g_mutex_lock(&it->lock);
  /* A finished item (failed and reported, or being stored) takes any
   * re-sent copy silently. */
  if (!it->finished)
    ok = it->shares != NULL
             ? on_share_locked(p, it, c, &failed, &status, &msg)
             : on_plain_locked(p, it, c, &failed, &status, &msg);
  g_mutex_unlock(&it->lock);
  if (ok)
    ok = send_chunk_ack(p, c);
  if (failed)
    report_stored(p->sess, it, status, msg, 0, 0);
  bfd_item_unref(it);
  return ok;
}

/* An ITEM_CLOSE for an item no longer open: a repeat after a lost path, so
 * the verdict is sent again; or a late frame of an item forgotten. */
static gboolean
close_again(BfdPath *p, uint64_t id, gboolean gone)
{
  BfdSession *s = p->sess;
  uint8_t stage, status;
  gboolean done;

  g_mutex_lock(&s->lock);
  done = done_lookup_locked(s, id, &stage, &status);
  g_mutex_unlock(&s->lock);
  if (done)
    send_item_ack(p, id, stage, status, NULL);
  else if (!gone)
    return refuse(p, BF_ST_NOT_FOUND,
                  "ITEM_CLOSE for unknown item %" G_GUINT64_FORMAT, id);
  return TRUE;
}

/* Directs the item's answer to this path. FALSE if the item was retired
 * meanwhile (its verdict is then in the done table). */
static gboolean
aim_reply(BfdPath *p, BfdItem *it)
{
  BfdSession *s = p->sess;
  gboolean open;

  g_mutex_lock(&s->lock);
  open = g_hash_table_lookup(s->items, &it->id) == it;
  if (open)
    it->close_path = p;
  g_mutex_unlock(&s->lock);
  return open;
}

static gboolean
on_item_close(BfdPath *p, const BfItemClose *c)
{
  g_autoptr(GError) error = NULL;
  gboolean gone;
  BfdItem *it = session_item(p->sess, c->item_id, &gone);
  gboolean failed = FALSE, ok = TRUE;
  uint8_t status = BF_ST_OK;
  g_autofree char *msg = NULL;

  if (it == NULL || !aim_reply(p, it)) {
    bfd_item_unref(it);
    return close_again(p, c->item_id, gone || it != NULL);
  }
  g_mutex_lock(&it->lock);
  if (it->finished) {
    /* failed and reported, or being stored: the answer comes here */
  } else if (c->digest_alg != bf_digest_alg(it->digest)) {
    ok = refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": ITEM_CLOSE "
                "digest_alg %u differs from ITEM_OPEN's", c->item_id,
                c->digest_alg);
  } else if (it->coding.kind == BF_CODING_SHAMIR &&
             !sodium_is_zero(c->digest, sizeof c->digest)) {
    ok = refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": ITEM_CLOSE "
                "with a digest under coding shamir (it travels only in the "
                "item's secret)", c->item_id);
  } else if (!bf_assembler_close(it->asm_, c->total_chunks, c->size, &error)) {
    ok = asm_failure(p, it, error, &failed, &status, &msg);
  } else {
    if (it->coding.kind != BF_CODING_SHAMIR)
      memcpy(it->want, c->digest, sizeof it->want);
    it->want_alg = c->digest_alg;
    it->mode = c->mode;
    it->mtime_sec = c->mtime_sec;
    it->mtime_nsec = c->mtime_nsec;
    if (!bfd_resume_close(p->sess, it, c))
      g_warning("session %s: item '%s' will not survive a restart: cannot "
                "record its ITEM_CLOSE", p->sess->dirname, it->label);
    if (item_ready(it))
      hand_to_finalizer(p->sess, it);
  }
  g_mutex_unlock(&it->lock);
  if (failed)
    report_stored(p->sess, it, status, msg, c->size, 0);
  bfd_item_unref(it);
  return ok;
}

/* ---- directory operations ---------------------------------------------- */

/* Opens the entry itself (never a symlink's target) so that its metadata
 * change can be made durable with fsync. */
static int
op_setattr(int parent, const char *leaf, const BfOp *o)
{
  int fd = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
                            { o->mtime_sec, o->mtime_nsec } };
  int rc = 0;

  if (fd < 0)
    return errno;
  if ((o->flags & BF_SETATTR_MODE) && fchmod(fd, o->mode & 07777) < 0)
    rc = errno;
  if (rc == 0 && (o->flags & BF_SETATTR_MTIME) && futimens(fd, ts) < 0)
    rc = errno;
  if (rc == 0 && fsync(fd) < 0)
    rc = errno;
  close(fd);
  return rc;
}

static int
op_apply(BfdSession *s, const BfOp *o, const char *name, const char *name2)
{
  const char *leaf, *leaf2;
  int parent, parent2, rc = 0;
  struct stat st;

  if (o->op == BF_OP_CANCEL) {
    gboolean gone;
    BfdItem *it = session_item(s, o->item_id, &gone);
    if (it == NULL)
      return gone ? 0 : ENOENT;
    /* An item already finished failed (and was retired) or is being stored
     * (and will be): the cancel came too late to matter. */
    g_mutex_lock(&it->lock);
    gboolean cancel = !it->finished;
    it->finished = TRUE;
    g_mutex_unlock(&it->lock);
    g_mutex_lock(&s->lock);
    if (cancel)
      item_retire_locked(s, it, BF_ACK_STORED, BF_ST_IO);
    g_mutex_unlock(&s->lock);
    if (cancel)
      bfd_resume_forget(s, it);
    bfd_item_unref(it);
    return 0;
  }
  parent = bfd_store_open_parent(s->data_fd, name,
                                 o->op == BF_OP_MKDIR, &leaf, NULL);
  if (parent < 0)
    return errno;
  switch (o->op) {
  case BF_OP_MKDIR:
    if (mkdirat(parent, leaf, (o->mode & 07777) | 0700) < 0) {
      if (errno != EEXIST ||
          fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
          !S_ISDIR(st.st_mode))
        rc = errno == EEXIST ? EEXIST : errno;
    }
    break;
  case BF_OP_RMDIR:
    rc = unlinkat(parent, leaf, AT_REMOVEDIR) < 0 ? errno : 0;
    break;
  case BF_OP_UNLINK:
    if (fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
      rc = errno;
    else if ((rc = unlinkat(parent, leaf, 0) < 0 ? errno : 0) == 0 &&
             S_ISREG(st.st_mode))
      bfd_session_note_removed(s, st.st_size);
    break;
  case BF_OP_RENAME:
    parent2 = bfd_store_open_parent(s->data_fd, name2, TRUE, &leaf2, NULL);
    if (parent2 < 0) {
      rc = errno;
      break;
    }
    gboolean over = fstatat(parent2, leaf2, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(st.st_mode);
    rc = renameat(parent, leaf, parent2, leaf2) < 0 ? errno : 0;
    if (rc == 0 && over)
      bfd_session_note_removed(s, st.st_size);
    if (rc == 0)
      fsync(parent2);
    close(parent2);
    break;
  case BF_OP_SETATTR:
    rc = op_setattr(parent, leaf, o);
    break;
  default:
    rc = EINVAL;
  }
  if (rc == 0)
    fsync(parent);
  close(parent);
  return rc;
}

/* Results of recent operations by id: an OP re-sent after the loss of
 * the path that carried it (or its answer) is answered, not run twice. */
#define BFD_OPS_DONE_MAX 1024

/* Whether this thread runs the OP (then bfd_session_record_op gives its
 * result): not if it was done (*rc is its result), and, while another
 * path runs the same OP (a repeat sent before its answer came), only once
 * that one is done. */
static gboolean
op_claim(BfdSession *s, uint64_t id, int *rc)
{
  gpointer v;

  if (id == 0)
    return TRUE;
  g_mutex_lock(&s->lock);
  while (g_hash_table_contains(s->ops_running, &id))
    g_cond_wait(&s->changed, &s->lock);
  v = g_hash_table_lookup(s->ops_done, &id);
  if (v == NULL)
    g_hash_table_add(s->ops_running, g_memdup2(&id, sizeof id));
  g_mutex_unlock(&s->lock);
  *rc = GPOINTER_TO_INT(v) - 1;
  return v == NULL;
}

void
bfd_session_record_op(BfdSession *s, uint64_t id, int rc)
{
  uint64_t *key;

  if (id == 0)
    return;
  g_mutex_lock(&s->lock);
  if (!g_hash_table_contains(s->ops_done, &id)) {
    key = g_memdup2(&id, sizeof id);
    g_hash_table_insert(s->ops_done, key, GINT_TO_POINTER(rc + 1));
    g_queue_push_tail(&s->ops_order, key);
    if (g_queue_get_length(&s->ops_order) > BFD_OPS_DONE_MAX)
      g_hash_table_remove(s->ops_done, g_queue_pop_head(&s->ops_order));
  }
  if (g_hash_table_remove(s->ops_running, &id))
    g_cond_broadcast(&s->changed);
  g_mutex_unlock(&s->lock);
}

static gboolean
op_names_ok(BfdPath *p, const BfOp *o)
{
  g_autofree char *why = NULL;

  if (bfd_limits_name_ok(&p->srv->limits, o->name.data, o->name.len, &why) &&
      bfd_limits_name_ok(&p->srv->limits, o->name2.data, o->name2.len, &why))
    return TRUE;
  g_warning("session %s: refusing an operation from %s: %s", p->sess->dirname,
            p->conn->peer, why);
  return FALSE;
}

static gboolean
on_op(BfdPath *p, const BfOp *o)
{
  g_autofree char *name = g_strndup((const char *)o->name.data, o->name.len);
  g_autofree char *name2 = g_strndup((const char *)o->name2.data, o->name2.len);
  int rc;

  if (op_claim(p->sess, o->op_id, &rc)) {
    gboolean again = bfd_resume_op_start(p->sess, o->op_id);
    rc = op_names_ok(p, o) ? op_apply(p->sess, o, name, name2) : ENAMETOOLONG;
    if (again)
      rc = bfd_resume_op_redone(p->sess, o, name2, rc);
    bfd_resume_op_done(p->sess, o->op_id, rc);
    bfd_session_record_op(p->sess, o->op_id, rc);
    bfd_crash_at(BFD_CRASH_OP_APPLIED);
  }
  g_autofree char *msg = rc ? g_strdup_printf("%s: %s", name, g_strerror(rc))
                            : NULL;
  BfMsg m = { .type = BF_FRAME_OP_ACK };

  m.u.op_ack.op_id = o->op_id;
  m.u.op_ack.status = rc ? (uint8_t)bfd_errno_status(rc) : BF_ST_OK;
  if (msg != NULL) {
    g_debug("session %s: op %u failed: %s", p->sess->dirname, o->op, msg);
    m.u.op_ack.message.data = (const uint8_t *)msg;
    m.u.op_ack.message.len = (uint16_t)MIN(strlen(msg), (size_t)BF_MSG_MAX);
  }
  return path_post(p, &m);
}

/* ---- the path thread ---------------------------------------------------- */

static gboolean
dispatch(BfdPath *p, const BfMsg *m)
{
  bfd_crash_at(BFD_CRASH_FRAMES);
  g_mutex_lock(&p->sess->lock);
  p->sess->last_activity = g_get_real_time() / G_USEC_PER_SEC;
  if (m->type == BF_FRAME_CHUNK) {
    p->bytes += m->u.chunk.payload_len;
    p->chunks++;
  }
  g_mutex_unlock(&p->sess->lock);
  switch (m->type) {
  case BF_FRAME_ITEM_OPEN:
    return on_item_open(p, &m->u.item_open);
  case BF_FRAME_CHUNK:
    return on_chunk(p, &m->u.chunk);
  case BF_FRAME_ITEM_CLOSE:
    return on_item_close(p, &m->u.item_close);
  case BF_FRAME_OP:
    return on_op(p, &m->u.op);
  case BF_FRAME_PING: {
    BfMsg pong = { .type = BF_FRAME_PONG, .u.ping = m->u.ping };
    return path_post(p, &pong);
  }
  case BF_FRAME_PONG:
    return TRUE;
  case BF_FRAME_ERROR:
    g_warning("session %s: client %s reported: %.*s", p->sess->dirname,
              p->conn->peer, m->u.error.message.len,
              (const char *)m->u.error.message.data);
    return FALSE;
  default:
    return refuse(p, BF_ST_PROTOCOL, "unexpected %s frame after the handshake",
                  bf_frame_type_str(m->type));
  }
}

static void
send_welcome(BfdPath *p, uint8_t status, const BfdSession *s, gboolean token,
             const char *text)
{
  BfMsg m = { .type = BF_FRAME_WELCOME };

  m.u.welcome.status = status;
  if (status == BF_ST_OK)
    m.u.welcome.instance = p->srv->instance;
  if (s != NULL) {
    memcpy(m.u.welcome.session_id, s->id, BF_ID_LEN);
    if (token)
      memcpy(m.u.welcome.token, s->token, BF_ID_LEN);
  }
  if (text != NULL) {
    m.u.welcome.message.data = (const uint8_t *)text;
    m.u.welcome.message.len = (uint16_t)MIN(strlen(text), (size_t)BF_MSG_MAX);
  }
  bf_conn_send(p->conn, &m, NULL);
}

static gboolean
welcome_refuse(BfdPath *p, uint8_t status, const char *text)
{
  g_warning("refusing handshake from %s: %s", p->conn->peer, text);
  send_welcome(p, status, NULL, FALSE, text);
  return FALSE;
}

static unsigned
live_sessions(BfdServer *srv)
{
  GHashTableIter iter;
  gpointer v;
  unsigned n = 0;

  g_hash_table_iter_init(&iter, srv->sessions);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    BfdSession *s = v;
    g_mutex_lock(&s->lock);
    n += s->clients->len > 0;
    g_mutex_unlock(&s->lock);
  }
  return n;
}

static gboolean
hello_new(BfdPath *p, const BfHello *h)
{
  BfdServer *srv = p->srv;
  g_autoptr(GError) error = NULL;
  g_autofree char *label = g_strndup((const char *)h->label.data, h->label.len);

  g_mutex_lock(&srv->lock);
  if (live_sessions(srv) >= srv->limits.max_sessions) {
    g_mutex_unlock(&srv->lock);
    return welcome_refuse(p, BF_ST_LIMIT, "too many sessions (max_sessions)");
  }
  p->sess = bfd_store_create_session(srv, label, &error);
  if (p->sess != NULL)
    g_hash_table_insert(srv->sessions, p->sess->dirname,
                        bfd_session_ref(p->sess));
  g_mutex_unlock(&srv->lock);
  if (p->sess == NULL) {
    g_warning("cannot create a session for %s: %s", p->conn->peer,
              error->message);
    send_welcome(p, BF_ST_IO, NULL, FALSE, error->message);
    return FALSE;
  }
  g_message("new session %s from %s", p->sess->dirname, p->conn->peer);
  return TRUE;
}

static gboolean
hello_attach(BfdPath *p, const BfHello *h)
{
  BfdServer *srv = p->srv;
  GHashTableIter iter;
  gpointer v;
  BfdSession *found = NULL;

  g_mutex_lock(&srv->lock);
  g_hash_table_iter_init(&iter, srv->sessions);
  while (found == NULL && g_hash_table_iter_next(&iter, NULL, &v)) {
    BfdSession *s = v;
    if (memcmp(s->id, h->session_id, BF_ID_LEN) == 0 && !s->removed)
      found = bfd_session_ref(s);
  }
  g_mutex_unlock(&srv->lock);
  /* The id is public; the token is the secret and is compared in constant
   * time. Both failures get the same answer. */
  if (found == NULL || sodium_memcmp(found->token, h->token, BF_ID_LEN) != 0) {
    bfd_session_unref(found);
    bfd_gate_attach_result(p, FALSE);
    return welcome_refuse(p, BF_ST_AUTH, "unknown session or wrong attach token");
  }
  bfd_gate_attach_result(p, TRUE);
  p->sess = found;
  return TRUE;
}

/* A frame of the handshake; a failure is logged (and answered when the
 * peer can read an answer). */
static gboolean
handshake_recv(BfdPath *p, BfMsg *m)
{
  g_autoptr(GError) error = NULL;

  if (bf_conn_recv(p->conn, m, &error))
    return TRUE;
  g_warning("dropping connection from %s: %s", p->conn->peer, error->message);
  if (error->domain == BF_WIRE_ERROR)
    send_welcome(p, BF_ST_PROTOCOL, NULL, FALSE, error->message);
  else if (error->domain == BF_SEAL_ERROR)
    bf_conn_send_error(p->conn, BF_ST_CORRUPT, error->message);
  return FALSE;
}

static gboolean
auth_refuse(BfdPath *p, const char *text)
{
  g_warning("refusing handshake from %s: %s", p->conn->peer, text);
  bf_conn_send_error(p->conn, BF_ST_AUTH, text);
  return FALSE;
}

/* The peer's key proof did not match. Its sealed HELLO is on its way
 * behind the proof: read it (briefly) so that closing does not reset the
 * connection before our ERROR arrives. */
static gboolean
wrong_key(BfdPath *p)
{
  gint64 soon = g_get_monotonic_time() + G_USEC_PER_SEC;

  g_warning("refusing handshake from %s: wrong key (its proof does not "
            "match key_file)", p->conn->peer);
  if (p->conn->deadline == 0 || p->conn->deadline > soon)
    bf_conn_set_deadline(p->conn, soon);
  bf_conn_skip(p->conn, NULL);
  bf_conn_send_error(p->conn, BF_ST_AUTH, "wrong key: the proof does not "
                     "match this server's key_file");
  return FALSE;
}

/* The key handshake (key_file): AUTH 1 to 4 (handshake.h). Afterwards
 * every frame in both directions is sealed. */
static gboolean
key_handshake(BfdPath *p)
{
  g_autoptr(BfHandshake) hs = bf_handshake_new(BF_HS_SERVER, p->srv->key,
                                                NULL);
  BfMsg m, out = { .type = BF_FRAME_AUTH };
  gboolean send;

  for (unsigned step = BF_AUTH_CLIENT_NONCE; step <= BF_AUTH_CLIENT_PROOF;
       step += 2) {
    g_autoptr(GError) error = NULL;
    if (!handshake_recv(p, &m))
      return FALSE;
    if (m.type == BF_FRAME_HELLO && step == BF_AUTH_CLIENT_NONCE)
      return welcome_refuse(p, BF_ST_AUTH,
                            "this server requires a key (key_file)");
    if (m.type != BF_FRAME_AUTH)
      return refuse(p, BF_ST_PROTOCOL, "expected AUTH step %u, got %s", step,
                    bf_frame_type_str(m.type));
    if (!bf_handshake_feed(hs, &m.u.auth, &out.u.auth, &send, &error)) {
      if (g_error_matches(error, BF_HS_ERROR, BF_HS_ERROR_PROOF))
        return wrong_key(p);
      return refuse(p, BF_ST_AUTH, "key handshake: %s", error->message);
    }
    if (step == BF_AUTH_CLIENT_PROOF)
      bf_conn_seal_rx(p->conn, bf_handshake_take_seal(hs, FALSE));
    if (send && !bf_conn_send(p->conn, &out, NULL))
      return FALSE;
  }
  bf_conn_seal_tx(p->conn, bf_handshake_take_seal(hs, TRUE));
  return TRUE;
}

static gboolean
handshake(BfdPath *p)
{
  g_autoptr(GError) error = NULL;
  BfMsg m;

  uint8_t version;

  /* The whole handshake, not each read, must fit in the timeout. */
  bf_conn_set_deadline(p->conn, g_get_monotonic_time() +
                       (gint64)p->srv->limits.handshake_timeout_ms * 1000);
  if (!bf_conn_recv_preface(p->conn, &version, &error)) {
    g_warning("dropping connection from %s: %s", p->conn->peer, error->message);
    if (version != 0 && bf_conn_send_preface(p->conn, NULL))
      bf_conn_send_error(p->conn, BF_ST_VERSION, error->message);
    return FALSE;
  }
  if (!bf_conn_send_preface(p->conn, NULL))
    return FALSE;
  if (p->srv->key != NULL && !key_handshake(p))
    return FALSE;
  if (!handshake_recv(p, &m))
    return FALSE;
  if (m.type == BF_FRAME_AUTH)
    return auth_refuse(p, "this server has no key (key_file)");
  if (m.type != BF_FRAME_HELLO)
    return refuse(p, BF_ST_PROTOCOL, "expected HELLO, got %s",
                  bf_frame_type_str(m.type));
  if (!(m.u.hello.kind == BF_HELLO_NEW ? hello_new(p, &m.u.hello)
                                       : hello_attach(p, &m.u.hello)))
    return FALSE;

  g_mutex_lock(&p->sess->lock);
  /* A client re-attaches a path it lost, often before this side has
   * noticed (a silent cut): the new connection replaces the old one. */
  guint replaced = 0;
  for (guint i = 0; i < p->sess->clients->len; i++) {
    BfdPath *old = p->sess->clients->pdata[i];
    if (old->index == m.u.hello.path_index && m.u.hello.kind == BF_HELLO_ATTACH) {
      g_message("session %s: path %u from %s replaces the one from %s",
                p->sess->dirname, old->index, p->conn->peer, old->conn->peer);
      bf_conn_shutdown(old->conn);
      replaced++;
    }
  }
  if (p->sess->clients->len - replaced >= p->srv->limits.max_paths) {
    g_mutex_unlock(&p->sess->lock);
    return welcome_refuse(p, BF_ST_LIMIT, "too many paths in this session (max_paths)");
  }
  p->index = m.u.hello.path_index;
  g_ptr_array_add(p->sess->clients, p);
  p->sess->last_activity = g_get_real_time() / G_USEC_PER_SEC;
  g_mutex_unlock(&p->sess->lock);
  send_welcome(p, BF_ST_OK, p->sess, m.u.hello.kind == BF_HELLO_NEW, NULL);
  bf_conn_set_deadline(p->conn, 0);
  p->conn->max_body = bfd_limits_frame_max(&p->srv->limits);
  /* Clients PING every second; a path silent for the idle timeout belongs
   * to a client that is gone (or never meant to send). */
  bf_conn_set_recv_timeout(p->conn, p->srv->limits.idle_timeout_ms);
  g_debug("session %s: path %u from %s attached", p->sess->dirname,
          m.u.hello.path_index, p->conn->peer);
  return TRUE;
}

/* Deletes the partial data of every unfinished item. Called with s->lock
 * held. Items being stored are left to the finalizer. */
static void
abandon_items_locked(BfdSession *s)
{
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init(&iter, s->items);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    BfdItem *it = v;
    g_mutex_lock(&it->lock);
    gboolean abandon = !it->finished;
    if (abandon) {
      it->finished = TRUE;
      g_warning("session %s: item '%s' abandoned incomplete", s->dirname,
                it->label);
    }
    g_mutex_unlock(&it->lock);
    if (abandon) {
      done_record_locked(s, it->id, BF_ACK_STORED, BF_ST_IO);
      bfd_resume_forget(s, it);
      g_hash_table_iter_remove(&iter);
    }
  }
  if (g_hash_table_size(s->items) == 0)
    bfd_share_budget_trim(s->share_budget);
}

/* A session whose last path went keeps its unfinished items for the linger
 * time: its client may be re-attaching after losing every path at once.
 * The janitor abandons them after that. */
static void
path_detach(BfdPath *p)
{
  BfdSession *s = p->sess;
  gboolean last;

  g_mutex_lock(&s->lock);
  g_ptr_array_remove(s->clients, p);
  last = s->clients->len == 0;
  if (last) {
    s->detached_at = g_get_monotonic_time();
    if (p->srv->limits.linger_ms == 0)
      abandon_items_locked(s);
  }
  g_mutex_unlock(&s->lock);
  if (last)
    g_message("session %s: last path from %s closed", s->dirname, p->conn->peer);
}

/* Joins the path threads that are done (they are at most a few
 * instructions from their end). Takes srv->lock off while joining. */
static void
join_ended_locked(BfdServer *srv)
{
  g_autoptr(GPtrArray) ended = g_steal_pointer(&srv->ended_threads);

  srv->ended_threads = g_ptr_array_new();
  g_mutex_unlock(&srv->lock);
  for (guint i = 0; i < ended->len; i++)
    g_thread_join(ended->pdata[i]);
  g_mutex_lock(&srv->lock);
}

static gpointer
janitor(gpointer data)
{
  BfdServer *srv = data;
  gint64 linger = (gint64)srv->limits.linger_ms * 1000;

  g_mutex_lock(&srv->lock);
  while (!srv->stopping) {
    GHashTableIter iter;
    gpointer v;
    gint64 now = g_get_monotonic_time();

    /* Server lock, then session lock: the documented order. */
    g_hash_table_iter_init(&iter, srv->sessions);
    while (g_hash_table_iter_next(&iter, NULL, &v)) {
      BfdSession *s = v;
      g_mutex_lock(&s->lock);
      if (s->clients->len == 0 && g_hash_table_size(s->items) > 0 &&
          now - s->detached_at >= linger)
        abandon_items_locked(s);
      g_mutex_unlock(&s->lock);
    }
    bfd_gate_tick(srv->gate);
    join_ended_locked(srv);
    g_cond_wait_until(&srv->janitor_wake, &srv->lock, now + G_USEC_PER_SEC);
  }
  g_mutex_unlock(&srv->lock);
  return NULL;
}

/* The status an ERROR frame gives for a frame that could not be read. */
static uint8_t
wire_status(const GError *error)
{
  if (error->domain == BF_SEAL_ERROR)
    return BF_ST_CORRUPT;
  if (error->domain != BF_WIRE_ERROR)
    return BF_ST_IO;
  switch (error->code) {
  case BF_WIRE_ERROR_TOO_LONG:
    return BF_ST_TOO_BIG;
  case BF_WIRE_ERROR_NAME:
    return BF_ST_BAD_NAME;
  default:
    return BF_ST_PROTOCOL;
  }
}

static gpointer
path_thread(gpointer data)
{
  BfdPath *p = data;
  g_autoptr(GError) error = NULL;
  BfMsg m;

  if (bfd_gate_handshake(p, handshake)) {
    while (bf_conn_recv(p->conn, &m, &error) && dispatch(p, &m))
      ;
    if (g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_STALLED))
      log_stalled(p, error);
    else if (g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_TIMEOUT))
      refuse(p, BF_ST_LIMIT, "no frame for %u s (idle timeout)",
             p->srv->limits.idle_timeout_ms / 1000);
    else if (error != NULL && !g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_CLOSED))
      refuse(p, wire_status(error), "%s", error->message);
    path_detach(p);
  }
  /* The last answers, an ERROR among them, unless the peer does not read:
   * they would only wait for send_timeout again. */
  if (!g_atomic_int_get(&p->stall_logged))
    bf_conn_flush(p->conn, NULL);
  g_mutex_lock(&p->srv->lock);
  g_hash_table_remove(p->srv->paths, p);
  /* The accept thread's reference is the one a join takes. */
  g_ptr_array_add(p->srv->ended_threads, g_thread_self());
  g_cond_broadcast(&p->srv->paths_gone);
  g_mutex_unlock(&p->srv->lock);
  path_unref(p);
  return NULL;
}

typedef struct {
  BfdServer *srv;
  int fd;
  char *name;
} BfdListener;

static gpointer
accept_thread(gpointer data)
{
  BfdListener *l = data;

  for (;;) {
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    int fd = accept4(l->fd, (struct sockaddr *)&from, &from_len, SOCK_CLOEXEC);
    gboolean stopping;

    g_mutex_lock(&l->srv->lock);
    stopping = l->srv->stopping;
    g_mutex_unlock(&l->srv->lock);
    if (stopping) {
      if (fd >= 0)
        close(fd);
      break;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      g_warning("accept on %s: %s", l->name, g_strerror(errno));
      /* Out of descriptors: back off instead of spinning. */
      g_usleep(100 * 1000);
      continue;
    }
    BfdPath *p = g_new0(BfdPath, 1);
    p->refs = 1;
    p->srv = l->srv;
    p->conn = bf_conn_new(fd);
    p->conn->max_body = BFD_HELLO_BODY_MAX;
    bf_conn_outbox(p->conn, BFD_OUTBOX_MAX);
    bf_conn_set_send_timeout(p->conn, l->srv->limits.send_timeout_ms);
    p->src = bfd_gate_key((struct sockaddr *)&from);
    if (!bfd_gate_enter(l->srv->gate, p->src, p->conn->peer)) {
      path_unref(p);
      continue;
    }
    p->local = bf_sock_name(fd, FALSE);
    g_mutex_lock(&l->srv->lock);
    g_hash_table_add(l->srv->paths, p);
    GThread *t = g_thread_try_new("path", path_thread, p, NULL);
    if (t == NULL)
      g_hash_table_remove(l->srv->paths, p);
    g_mutex_unlock(&l->srv->lock);
    if (t == NULL) {
      g_warning("no thread for connection from %s", p->conn->peer);
      bfd_gate_leave(l->srv->gate, p->src);
      path_unref(p);
      continue;
    }
  }
  g_free(l);
  return NULL;
}

void
bfd_server_start(BfdServer *srv)
{
  /* fsync is the slow part of storing; a few in parallel keep the disk
   * busy without a thread per item. */
  srv->finalizer = g_thread_pool_new(finalize_job, NULL, 4, FALSE, NULL);
  srv->ended_threads = g_ptr_array_new();
  /* Tells a client that re-attaches whether this is still the process that
   * holds its items (this version does not resume them after a restart). */
  do
    randombytes_buf(&srv->instance, sizeof srv->instance);
  while (srv->instance == 0);
  g_cond_init(&srv->janitor_wake);
  srv->janitor = g_thread_new("janitor", janitor, srv);
  for (guint i = 0; i < srv->listen_fds->len; i++) {
    BfdListener *l = g_new0(BfdListener, 1);
    l->srv = srv;
    l->fd = GPOINTER_TO_INT(srv->listen_fds->pdata[i]);
    l->name = srv->listen_names->pdata[i];
    g_ptr_array_add(srv->accept_threads, g_thread_new("accept", accept_thread, l));
  }
}

void
bfd_server_stop(BfdServer *srv)
{
  GHashTableIter iter;
  gpointer v;

  g_mutex_lock(&srv->lock);
  srv->stopping = TRUE;
  g_cond_broadcast(&srv->janitor_wake);
  g_mutex_unlock(&srv->lock);
  g_thread_join(srv->janitor);
  srv->janitor = NULL;
  for (guint i = 0; i < srv->listen_fds->len; i++)
    shutdown(GPOINTER_TO_INT(srv->listen_fds->pdata[i]), SHUT_RDWR);
  for (guint i = 0; i < srv->accept_threads->len; i++)
    g_thread_join(srv->accept_threads->pdata[i]);
  g_ptr_array_set_size(srv->accept_threads, 0);

  g_mutex_lock(&srv->lock);
  g_hash_table_iter_init(&iter, srv->paths);
  while (g_hash_table_iter_next(&iter, &v, NULL))
    bf_conn_shutdown(((BfdPath *)v)->conn);
  while (g_hash_table_size(srv->paths) > 0)
    g_cond_wait(&srv->paths_gone, &srv->lock);
  join_ended_locked(srv);
  g_mutex_unlock(&srv->lock);
  g_clear_pointer(&srv->ended_threads, g_ptr_array_unref);
  /* Items already complete are still made durable. */
  g_thread_pool_free(srv->finalizer, FALSE, TRUE);
  srv->finalizer = NULL;
}
