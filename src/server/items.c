/* Items from ITEM_OPEN to STORED (items.h).
 *
 * An item belongs to its session, not to a path: its chunks arrive on all
 * of them in any order (chunks.c), its ITEM_CLOSE on one, and its STORED
 * answer goes back on the path of its latest ITEM_CLOSE. Once complete it
 * is handed to the committer (fsync and rename are the slow part of
 * storing), which commits the items complete meanwhile together, sharing
 * their fsyncs (group commit), and answers each once it is durable. */
#include "items.h"

#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "clientkeys.h"
#include "crash.h"
#include "events.h"
#include "hook.h"
#include "status.h"
#include "store.h"

/* ---- opening ------------------------------------------------------------ */

/* An ITEM_OPEN for an id already used: the client lost the path that
 * carried our answer (or its ITEM_OPEN) and sends it again. The same answer
 * goes back; an item already stored is answered with STORED. */
static gboolean
open_again(BfdPath *p, uint64_t id)
{
  BfdSession *s = p->sess;
  uint8_t stage, status, proof[BF_PROOF_LEN];
  gboolean done;
  BfdItem *it;

  bf_mutex_lock(&s->lock);
  it = bfd_session_item_locked(s, id, NULL);
  done = it == NULL &&
         bfd_session_verdict_locked(s, id, &stage, &status, proof);
  bf_mutex_unlock(&s->lock);
  if (it != NULL) {
    /* An append whose base is still copied is answered when it is, here. */
    bf_mutex_lock(&it->lock);
    done = it->copying;
    if (done) {
      bfd_path_unref(it->open_reply);
      it->open_reply = bfd_path_ref(p);
    }
    bf_mutex_unlock(&it->lock);
    if (!done)
      bfd_path_item_ack(p, id, BF_ACK_OPENED, BF_ST_OK, NULL, NULL);
    bfd_item_unref(it);
  } else if (done) {
    bfd_path_item_ack(p, id, stage, status, NULL, proof);
  } else {
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p),
           "session %s: refusing an ITEM_OPEN from %s: item id %"
           G_GUINT64_FORMAT " is not known to this session (ids must "
           "increase)", s->dir.name, p->conn->peer, id);
    /* NOT_FOUND lets a client that replays an id from before its own
     * crash (delivery=async) announce the item afresh. */
    bfd_path_item_ack(p, id, BF_ACK_OPENED, BF_ST_NOT_FOUND, "item id not "
                      "known to this session (ids must increase)", NULL);
  }
  return TRUE;
}

/* Refuses one item (not the path) and remembers the verdict. */
static gboolean
open_refused(BfdPath *p, uint64_t id, uint8_t status, const char *msg)
{
  BfdSession *s = p->sess;
  gboolean fresh;

  bf_mutex_lock(&s->lock);
  fresh = bfd_session_remember_verdict_locked(s, id, BF_ACK_OPENED, status);
  bfd_session_opened_locked(s, id);
  bf_mutex_unlock(&s->lock);
  if (fresh)
    bfd_session_note_verdict(s, id, BF_ACK_OPENED, status);
  bfd_path_item_ack(p, id, BF_ACK_OPENED, status, msg, NULL);
  return TRUE;
}

/* The server's own bounds on items: over them the item is refused, not
 * the path. FALSE (answered) if it is refused. */
static gboolean
open_within_limits(BfdPath *p, const BfItemOpen *o, guint open_items)
{
  const BfdLimits *l = &p->srv->limits;
  BfCodingSpec coding = { o->coding, o->coding_k, o->coding_n };
  g_autofree char *why = NULL;
  uint8_t status = BF_ST_BAD_NAME;

  if (bf_item_open_kept(o) >= l->max_item_size && o->has_base)
    return !open_refused(p, o->item_id, BF_ST_TOO_BIG, "the file appended "
                         "to is already as large as the server's "
                         "max_item_size");
  /* One partial chunk must fit the session's share buffer (coding.h). */
  if ((size_t)(coding.k - 1) * bf_coding_share_len(&coding, o->chunk_size) >
      BF_CODING_PARTIAL_BYTES)
    return !open_refused(p, o->item_id, BF_ST_LIMIT, "chunk_size too large "
                         "for this coding: (coding_k - 1) shares of a chunk "
                         "must fit in 64 MiB");
  if (o->chunk_size > l->max_chunk) {
    why = g_strdup_printf("chunk_size %u is larger than the server's "
                          "max_chunk (%u)", o->chunk_size, l->max_chunk);
    status = BF_ST_TOO_BIG;
  } else if (bfd_limits_name_ok(l, o->name.data, o->name.len, &why)) {
    if (open_items < l->max_open_items)
      return TRUE;
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p),
           "session %s: refusing item %" G_GUINT64_FORMAT ": %u items in "
           "flight (max_open_items)", p->session_name, o->item_id,
           l->max_open_items);
    return !open_refused(p, o->item_id, BF_ST_LIMIT, "too many items in "
                         "flight in this session (max_open_items)");
  }
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p),
         "session %s: refusing item %" G_GUINT64_FORMAT " from %s: %s",
         p->session_name, o->item_id, p->conn->peer, why);
  return !open_refused(p, o->item_id, status, why);
}

/* Counts a new item among the server's items holding descriptors; FALSE
 * (answered) when the server holds all its descriptors allow. */
static gboolean
reserve_live(BfdPath *p, uint64_t id)
{
  BfdServer *srv = p->srv;

  if ((guint)g_atomic_int_add(&srv->items_live, 1) < srv->items_max)
    return TRUE;
  g_atomic_int_add(&srv->items_live, -1);
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "session %s: refusing item %"
         G_GUINT64_FORMAT ": the server has %u items in flight in all, as "
         "many as its descriptor limit allows (raise the limit: ulimit -n, "
         "LimitNOFILE=)", p->session_name, id, srv->items_max);
  return !open_refused(p, id, BF_ST_LIMIT, "too many items in flight on "
                       "this server");
}

static void copy_base_later(BfdSession *s, BfdItem *it, const BfItemOpen *o);

gboolean
bfd_items_on_open(BfdPath *p, const BfItemOpen *o)
{
  BfdSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  gboolean again, reopen = FALSE;
  guint open_items;
  BfdItem *it;

  if (o->item_id == 0)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "ITEM_OPEN with item id 0");
  bf_mutex_lock(&s->lock);
  /* Increasing ids let the server tell a late or repeated frame of an item
   * it has seen from one naming an item never opened. Even a refused id
   * counts as used: the chunks sent after it are acknowledged and dropped. */
  again = o->item_id <= s->max_item_id &&
          !(reopen = bfd_session_may_reopen_locked(s, o->item_id));
  if (!again) {
    s->max_item_id = MAX(s->max_item_id, o->item_id);
    /* Until it is created or refused, a repeat of this frame on another
     * path waits for its answer (it would find the id used, no item). */
    bfd_session_opening_locked(s, o->item_id);
  }
  open_items = g_hash_table_size(s->items);
  bf_mutex_unlock(&s->lock);
  if (again)
    return open_again(p, o->item_id);
  if (reopen)
    bf_log(G_LOG_LEVEL_MESSAGE, BFD_PATH_LOG(p),
           "session %s: item %" G_GUINT64_FORMAT " was opened before the "
           "restart and did not get far enough to be kept: opening it again",
           s->dir.name, o->item_id);
  /* Recorded before the item exists: after a restart, an id at or below
   * it is an item that was opened, never a new one. */
  bfd_journal_note_id(s->journal, o->item_id);
  bfd_crash_at(BFD_CRASH_MAX_ID);
  if (!open_within_limits(p, o, open_items) || !reserve_live(p, o->item_id))
    return TRUE;
  it = bfd_item_new(o, p->srv->limits.max_item_size, s->share_budget);
  it->live = &p->srv->items_live;
  if (!bfd_item_create_files(it, s->journal, s->dir.tmp_fd, o, p, &error)) {
    bfd_journal_item_forget(s->dir.tmp_fd, it->id, BFD_REC_BY_ID);
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "session %s: %s", s->dir.name,
           error->message);
    bfd_item_unref(it);
    return open_refused(p, o->item_id, bfd_error_status(error),
                        error->message);
  }
  bf_mutex_lock(&s->lock);
  g_hash_table_insert(s->items, &it->id, it);
  bfd_session_opened_locked(s, it->id);
  bf_mutex_unlock(&s->lock);
  if (o->has_base) {
    copy_base_later(s, it, o);
    return TRUE;
  }
  bf_log(G_LOG_LEVEL_DEBUG, BFD_PATH_LOG(p), "session %s: item %"
         G_GUINT64_FORMAT " '%s' opened", s->dir.name, it->id, it->label);
  bfd_path_item_ack(p, it->id, BF_ACK_OPENED, BF_ST_OK, NULL, NULL);
  return TRUE;
}

/* ---- an append's base, copied by a worker ------------------------------- */

/* A base copy waiting for or running on a worker (BfdServer.copiers). */
typedef struct {
  BfdSession *sess;
  BfdItem *item;
  BfItemOpen open;           /* its ITEM_OPEN, without the name (the item
                                holds it) */
} BaseJob;

/* Queues the copy of an append's base: the path goes on meanwhile (a
 * 64 MiB copy would hold every frame behind it); OPENED comes from the
 * worker. */
static void
copy_base_later(BfdSession *s, BfdItem *it, const BfItemOpen *o)
{
  BaseJob *job = g_new0(BaseJob, 1);

  job->sess = bfd_session_ref(s);
  job->item = bfd_item_ref(it);
  job->open = *o;
  job->open.name = (BfBytes){ NULL, 0 };
  g_thread_pool_push(s->srv->copiers, job, NULL);
}

/* The base could not be made: the item is refused at OPENED (STALE when
 * the stored file is not the base), as if its ITEM_OPEN had been. */
static void
base_refused(BfdSession *s, BfdItem *it, const GError *error,
             BfdPath *reply) BF_EXCLUDES(&s->lock);

static void
base_refused(BfdSession *s, BfdItem *it, const GError *error, BfdPath *reply)
{
  uint8_t status = bfd_error_status(error);
  gboolean fresh;

  bf_log(G_LOG_LEVEL_WARNING, BFD_SESSION_LOG(s), "session %s: %s",
         s->dir.name, error->message);
  bfd_journal_item_forget(s->dir.tmp_fd, it->id,
                          it->map_fd >= 0 ? it->rec_slot : BFD_REC_BY_ID);
  bf_mutex_lock(&s->lock);
  fresh = bfd_session_retire_locked(s, it, BF_ACK_OPENED, status);
  bf_mutex_unlock(&s->lock);
  if (fresh)
    bfd_session_note_verdict(s, it->id, BF_ACK_OPENED, status);
  bfd_path_item_ack(reply, it->id, BF_ACK_OPENED, status, error->message,
                    NULL);
}

void
bfd_items_copy_base(gpointer data, gpointer user)
{
  BaseJob *job = data;
  BfdSession *s = job->sess;
  BfdItem *it = job->item;
  g_autoptr(GError) error = NULL;
  g_autoptr(BfdPath) reply = NULL;
  GArray *held = NULL;
  BfDigest *base = NULL;
  gboolean copied, finished;

  (void)user;
  copied = bfd_item_copy_base(it, s->dir.data_fd, job->open.base_size,
                              job->open.base_digest, &base, &error);
  bf_mutex_lock(&it->lock);
  /* cancelled or abandoned meanwhile: retired already */
  finished = it->finished;
  reply = g_steal_pointer(&it->open_reply);
  if (!finished && copied &&
      !bfd_item_base_copied_locked(it, s->journal, s->dir.tmp_fd, &job->open,
                                   g_steal_pointer(&base), &held, &error))
    copied = FALSE;
  if (!finished && !copied)
    it->finished = TRUE;
  if (!finished && copied) {
    bf_log(G_LOG_LEVEL_DEBUG, BFD_SESSION_LOG(s), "session %s: item %"
           G_GUINT64_FORMAT " '%s' opened, its base of %" G_GUINT64_FORMAT
           " bytes copied", s->dir.name, it->id, it->label, it->base_size);
    bfd_path_item_ack(reply, it->id, BF_ACK_OPENED, BF_ST_OK, NULL, NULL);
  }
  /* Answered under the item's lock and before it goes to the committer:
   * CHUNK_ACKs before STORED (chunks.c). */
  bfd_item_held_free(held != NULL ? held : g_steal_pointer(&it->held));
  if (!finished && copied && bfd_item_ready_locked(it))
    bfd_items_finalize_locked(s, it);
  bf_mutex_unlock(&it->lock);
  if (!finished && !copied)
    base_refused(s, it, error, reply);
  bf_digest_free(base);
  bfd_item_unref(it);
  bfd_session_unref(s);
  g_free(job);
}

/* ---- storing and failing -------------------------------------------------- */

/* The proof of STORED for the item stored with size bytes, keyed with the
 * key of the client the session belongs to (clientkeys.h), else
 * key_file's. */
static void
item_proof(BfdSession *s, BfdItem *it, uint64_t size, uint8_t out[BF_PROOF_LEN])
{
  g_autoptr(BfdClientKey) owner =
    bfd_client_keys_lookup(s->srv->client_keys, s->dir.client);

  bfd_item_proof(it, owner != NULL ? owner->key : s->srv->key, s->dir.id,
                 size, out);
}

void
bfd_items_report(BfdSession *s, BfdItem *it, const GError *failure,
                 uint64_t size, const BfdReplaced *replaced,
                 const uint8_t *proof)
{
  uint8_t status = failure != NULL ? bfd_error_status(failure) : BF_ST_OK;
  gboolean fresh;
  BfdPath *to;

  g_return_if_fail((failure == NULL) == (proof != NULL));
  if (failure == NULL && replaced != NULL && replaced->replaced)
    bfd_session_note_removed(s, replaced->old_size);
  if (failure == NULL)
    bf_log(G_LOG_LEVEL_DEBUG, BFD_SESSION_LOG(s), "session %s: stored '%s' "
           "(%" G_GUINT64_FORMAT " bytes)", s->dir.name, it->label, size);
  else
    bf_log(G_LOG_LEVEL_WARNING, BFD_SESSION_LOG(s), "session %s: %s",
           s->dir.name, failure->message);
  bf_mutex_lock(&s->lock);
  if (failure == NULL) {
    bfd_session_note_stored_locked(s, size);
    bfd_session_remember_proof_locked(s, it->id, proof);
  }
  fresh = bfd_session_retire_locked(s, it, BF_ACK_STORED, status);
  if (fresh && failure != NULL)
    s->items_failed++;
  to = bfd_session_reply_path_locked(s, it->close_path);
  bf_mutex_unlock(&s->lock);
  /* The verdict is in the store before the record goes (journal.c). */
  if (fresh)
    bfd_session_note_verdict(s, it->id, BF_ACK_STORED, status);
  /* Finished: nobody else writes its record any more. */
  bfd_journal_item_done(s->journal, s->dir.tmp_fd, it->id, &it->map_fd,
                        &it->rec_slot, failure != NULL,
                        it->coding.kind == BF_CODING_SHAMIR);
  bfd_crash_at(BFD_CRASH_REC_REMOVED);
  if (to != NULL)
    bfd_path_item_ack(to, it->id, BF_ACK_STORED, status,
                      failure != NULL ? failure->message : NULL,
                      failure != NULL ? NULL : proof);
  bfd_path_unref(to);
}

/* ---- group commit -------------------------------------------------------- */

/* A batch is what was complete when a committer thread got free, up to
 * these bounds: a batch's fsyncs wait for all of its data, so a large
 * file does not wait behind more than this, nor the small ones behind
 * more than one large file. */
#define BATCH_ITEMS 1024
#define BATCH_BYTES ((uint64_t)64 << 20)
/* fsyncs of a batch run at once on this many threads: the file system
 * commits concurrent fsyncs together. */
#define SYNC_THREADS 8
/* Batches committed at once: while one waits for its fsyncs, the next
 * one's begin (a client that waits for STOREDs before it sends more
 * would otherwise leave the disk idle between batches). */
#define COMMIT_THREADS 2

/* The committer threads serve the whole server. Batches grow by
 * themselves while the disk is busy, with no timer: a lone item is
 * committed at once. Their renames take turns in the order the batches
 * were taken, so items enter data/ in the order they were complete (a
 * later version of a name wins). */
struct BfdCommitter {
  BfMutex lock;              /* a leaf: guards everything below but the
                                threads and the syncer */
  GCond wake;
  GQueue queue;              /* Final*, complete items in order */
  gboolean stopping;
  uint64_t taken;            /* batches taken so far */
  uint64_t renaming;         /* the batch whose renames may run */
  GCond turn;                /* renaming moved on */
  GThread *threads[COMMIT_THREADS];
  BfdSyncer *syncer;
};

typedef struct {
  BfdSession *sess;
  BfdItem *item;
} Final;

/* The next batch and its number, waiting for one; NULL once stopping
 * and drained. */
static GPtrArray *
take_batch(BfdCommitter *c, uint64_t *number) BF_EXCLUDES(&c->lock);

static GPtrArray *
take_batch(BfdCommitter *c, uint64_t *number)
{
  GPtrArray *batch = NULL;
  uint64_t bytes = 0;
  Final *f;

  bf_mutex_lock(&c->lock);
  while (g_queue_is_empty(&c->queue) && !c->stopping)
    bf_cond_wait(&c->wake, &c->lock);
  while ((f = g_queue_peek_head(&c->queue)) != NULL &&
         (batch == NULL || (batch->len < BATCH_ITEMS && bytes < BATCH_BYTES))) {
    if (batch == NULL)
      batch = g_ptr_array_new();
    g_ptr_array_add(batch, g_queue_pop_head(&c->queue));
    bytes += bfd_item_size(f->item);
  }
  if (batch != NULL)
    *number = c->taken++;
  bf_mutex_unlock(&c->lock);
  return batch;
}

typedef struct {
  BfdCommitter *c;
  uint64_t number;
} Turn;

static void
turn_wait(gpointer user)
{
  Turn *t = user;

  bf_mutex_lock(&t->c->lock);
  while (t->c->renaming != t->number)
    bf_cond_wait(&t->c->turn, &t->c->lock);
  bf_mutex_unlock(&t->c->lock);
}

static void
turn_done(gpointer user)
{
  Turn *t = user;

  bf_mutex_lock(&t->c->lock);
  t->c->renaming++;
  g_cond_broadcast(&t->c->turn);
  bf_mutex_unlock(&t->c->lock);
}

/* The item's file as the store commits it, or its error if its bytes are
 * not what its client sent. */
static void
prepare(BfdItem *it, BfdCommitFile *f, int tmp_fd, int data_fd)
{
  uint8_t got[BF_DIGEST_LEN];

  *f = (BfdCommitFile){ .tmp_fd = tmp_fd, .data_fd = data_fd,
                        .tmpname = it->tmpname, .fd = it->fd,
                        .name = it->name, .mode = it->mode,
                        .mtime_sec = it->mtime_sec,
                        .mtime_nsec = it->mtime_nsec, .what = it->label };
  bf_digest_final(it->digest, got);
  if (sodium_memcmp(got, it->want, sizeof got) != 0)
    g_set_error(&f->error, BFD_ERROR, BF_ST_CORRUPT, "%s: %s digest "
                "mismatch, item discarded", it->label,
                bf_digest_alg_name(it->want_alg));
}

/* A stored item's line in the event stream, and the exec_on_store job. */
static void
stored_hooks(BfdSession *sess, BfdItem *it)
{
  uint64_t size = bfd_item_size(it);

  bfd_events_stored(sess->srv->events_fd, sess->dir.name, it->name, size,
                    it->want_alg, it->want);
  bfd_hook_stored(sess->srv->hook, sess->dir.name, it->name, size,
                  it->want_alg, it->want);
}

/* Verifies and moves a batch of complete items into data/ with shared
 * fsyncs (store.h), then answers each: STORED only once the commit that
 * covers it is done. Nothing else touches the items' files meanwhile:
 * they are finished. */
static void
commit_batch(BfdCommitter *c, GPtrArray *batch, uint64_t number)
{
  g_autofree BfdCommitFile *files = g_new0(BfdCommitFile, batch->len);
  g_autofree uint8_t (*proofs)[BF_PROOF_LEN] =
    g_malloc_n(batch->len, BF_PROOF_LEN);
  Turn t = { c, number };
  BfdRenameTurn turn = { turn_wait, turn_done, &t };

  for (guint i = 0; i < batch->len; i++) {
    Final *f = batch->pdata[i];
    prepare(f->item, &files[i], f->sess->dir.tmp_fd, f->sess->dir.data_fd);
    /* Once per item, over the whole file (a base included): journalled
     * before the rename, so that a restart that finds the item stored
     * answers with the very proof sent below. */
    if (files[i].error == NULL) {
      item_proof(f->sess, f->item, bfd_item_size(f->item), proofs[i]);
      bfd_journal_note_proof(f->sess->journal, f->item->id, proofs[i]);
    }
  }
  bfd_commit_batch(c->syncer, files, batch->len, &turn);
  for (guint i = 0; i < batch->len; i++) {
    Final *f = batch->pdata[i];
    if (files[i].error == NULL) {
      close(f->item->fd);
      f->item->fd = -1;
      bfd_crash_at(BFD_CRASH_DIR_SYNCED);
      stored_hooks(f->sess, f->item);
    }
    bfd_items_report(f->sess, f->item, files[i].error,
                     bfd_item_size(f->item), &files[i].replaced,
                     files[i].error == NULL ? proofs[i] : NULL);
    bfd_crash_at(BFD_CRASH_STORED_SENT);
    g_clear_error(&files[i].error);
    bfd_item_unref(f->item);
    bfd_session_unref(f->sess);
    g_free(f);
  }
}

static gpointer
committer_main(gpointer data)
{
  BfdCommitter *c = data;
  GPtrArray *batch;
  uint64_t number;

  while ((batch = take_batch(c, &number)) != NULL) {
    commit_batch(c, batch, number);
    g_ptr_array_unref(batch);
  }
  return NULL;
}

BfdCommitter *
bfd_items_committer_new(void)
{
  BfdCommitter *c = g_new0(BfdCommitter, 1);

  bf_mutex_init(&c->lock);
  g_cond_init(&c->wake);
  g_cond_init(&c->turn);
  g_queue_init(&c->queue);
  c->syncer = bfd_syncer_new(SYNC_THREADS);
  for (guint i = 0; i < COMMIT_THREADS; i++)
    c->threads[i] = g_thread_new("commit", committer_main, c);
  return c;
}

void
bfd_items_committer_free(BfdCommitter *c)
{
  if (c == NULL)
    return;
  bf_mutex_lock(&c->lock);
  c->stopping = TRUE;
  g_cond_broadcast(&c->wake);
  bf_mutex_unlock(&c->lock);
  for (guint i = 0; i < COMMIT_THREADS; i++)
    g_thread_join(c->threads[i]);
  bfd_syncer_free(c->syncer);
  bf_mutex_clear(&c->lock);
  g_cond_clear(&c->wake);
  g_cond_clear(&c->turn);
  g_free(c);
}

void
bfd_items_finalize_locked(BfdSession *s, BfdItem *it)
{
  BfdCommitter *c = s->srv->committer;
  Final *f = g_new(Final, 1);

  it->finished = TRUE;
  f->sess = bfd_session_ref(s);
  f->item = bfd_item_ref(it);
  bf_mutex_lock(&c->lock);
  g_queue_push_tail(&c->queue, f);
  g_cond_signal(&c->wake);
  bf_mutex_unlock(&c->lock);
}

gboolean
bfd_items_assembler_refused_locked(BfdPath *p, BfdItem *it,
                                   const GError *error, GError **failure)
{
  if (!g_error_matches(error, BF_ASM_ERROR, BF_ASM_ERROR_TOO_BIG))
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT ": %s",
                           it->id, error->message);
  it->finished = TRUE;
  g_set_error(failure, BFD_ERROR, BF_ST_TOO_BIG, "%s is larger than the "
              "server's max_item_size (%" G_GUINT64_FORMAT " bytes)",
              it->label, p->srv->limits.max_item_size);
  return TRUE;
}

/* ---- closing ------------------------------------------------------------ */

/* An ITEM_CLOSE for an item no longer open: a repeat after a lost path, so
 * the verdict is sent again; or a late frame of an item forgotten. */
static gboolean
close_again(BfdPath *p, uint64_t id, gboolean gone)
{
  BfdSession *s = p->sess;
  uint8_t stage, status, proof[BF_PROOF_LEN];
  gboolean done;

  bf_mutex_lock(&s->lock);
  done = bfd_session_verdict_locked(s, id, &stage, &status, proof);
  bf_mutex_unlock(&s->lock);
  if (done)
    bfd_path_item_ack(p, id, stage, status, NULL, proof);
  else if (!gone)
    return bfd_path_refuse(p, BF_ST_NOT_FOUND, "ITEM_CLOSE for unknown item %"
                           G_GUINT64_FORMAT, id);
  return TRUE;
}

/* Directs the item's answer to this path. FALSE if the item was retired
 * meanwhile (its verdict is then remembered). */
static gboolean
aim_reply(BfdPath *p, BfdItem *it)
{
  BfdSession *s = p->sess;
  gboolean open;

  bf_mutex_lock(&s->lock);
  open = bfd_session_holds_locked(s, it);
  if (open)
    it->close_path = p;
  bf_mutex_unlock(&s->lock);
  return open;
}

/* The ITEM_CLOSE of an unfinished item. */
static gboolean
close_locked(BfdPath *p, BfdItem *it, const BfItemClose *c, GError **failure)
  BF_REQUIRES(&it->lock);

static gboolean
close_locked(BfdPath *p, BfdItem *it, const BfItemClose *c, GError **failure)
{
  g_autoptr(GError) error = NULL;

  if (c->digest_alg != bf_digest_alg(it->digest))
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": ITEM_CLOSE digest_alg %u differs from "
                           "ITEM_OPEN's", c->item_id, c->digest_alg);
  if (it->coding.kind == BF_CODING_SHAMIR &&
      !sodium_is_zero(c->digest, sizeof c->digest))
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": ITEM_CLOSE with a digest under coding shamir "
                           "(it travels only in the item's secret)",
                           c->item_id);
  if (c->size < it->base_size)
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "item %" G_GUINT64_FORMAT
                           ": ITEM_CLOSE size %" G_GUINT64_FORMAT " is below "
                           "the %" G_GUINT64_FORMAT " bytes of its base it "
                           "keeps", c->item_id, c->size, it->base_size);
  if (!bf_assembler_close(it->asm_, c->total_chunks, c->size - it->base_size,
                          &error))
    return bfd_items_assembler_refused_locked(p, it, error, failure);
  if (it->coding.kind != BF_CODING_SHAMIR)
    memcpy(it->want, c->digest, sizeof it->want);
  it->want_alg = c->digest_alg;
  it->mode = c->mode;
  it->mtime_sec = c->mtime_sec;
  it->mtime_nsec = c->mtime_nsec;
  if (it->copying) {
    /* recorded with the record, once the base is copied (item.h) */
    it->held_close = *c;
    it->close_held = TRUE;
  } else if (!bfd_journal_item_close(it->map_fd, c, &error))
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "session %s: item '%s' will "
           "not survive a restart: cannot record its ITEM_CLOSE: %s",
           p->session_name, it->label, error->message);
  if (bfd_item_ready_locked(it))
    bfd_items_finalize_locked(p->sess, it);
  return TRUE;
}

gboolean
bfd_items_on_close(BfdPath *p, const BfItemClose *c)
{
  g_autoptr(GError) failure = NULL;
  gboolean gone, ok = TRUE;
  BfdItem *it = bfd_session_item(p->sess, c->item_id, &gone);

  if (it == NULL || !aim_reply(p, it)) {
    bfd_item_unref(it);
    return close_again(p, c->item_id, gone || it != NULL);
  }
  bf_mutex_lock(&it->lock);
  /* A finished item (failed and reported, or being stored): the answer
   * comes here. */
  if (!it->finished)
    ok = close_locked(p, it, c, &failure);
  bf_mutex_unlock(&it->lock);
  if (failure != NULL)
    bfd_items_report(p->sess, it, failure, c->size, NULL, NULL);
  bfd_item_unref(it);
  return ok;
}

/* ---- cancelling and abandoning ------------------------------------------- */

/* Fails an item that nobody is told about (its verdict answers repeats). */
static void
retire_quietly(BfdSession *s, BfdItem *it) BF_EXCLUDES(&s->lock);

static void
retire_quietly(BfdSession *s, BfdItem *it)
{
  gboolean fresh;

  bf_mutex_lock(&s->lock);
  fresh = bfd_session_retire_locked(s, it, BF_ACK_STORED, BF_ST_IO);
  bf_mutex_unlock(&s->lock);
  if (fresh)
    bfd_session_note_verdict(s, it->id, BF_ACK_STORED, BF_ST_IO);
  bfd_journal_item_done(s->journal, s->dir.tmp_fd, it->id, &it->map_fd,
                        &it->rec_slot, TRUE,
                        it->coding.kind == BF_CODING_SHAMIR);
}

/* Marks the item finished: TRUE if this call did. */
static gboolean
finish(BfdItem *it)
{
  gboolean was;

  bf_mutex_lock(&it->lock);
  was = it->finished;
  it->finished = TRUE;
  bf_mutex_unlock(&it->lock);
  return !was;
}

gboolean
bfd_items_cancel(BfdSession *s, uint64_t id)
{
  gboolean gone;
  g_autoptr(BfdItem) it = bfd_session_item(s, id, &gone);

  if (it == NULL && !gone)
    return FALSE;
  /* An item already finished failed (and was retired) or is being stored
   * (and will be): the cancel came too late to matter. */
  if (it != NULL && finish(it))
    retire_quietly(s, it);
  return TRUE;
}

void
bfd_items_abandon(BfdSession *s)
{
  g_autoptr(GPtrArray) items = NULL;

  /* A path that came back meanwhile goes on with them. */
  bf_mutex_lock(&s->lock);
  if (!bfd_session_connected_locked(s))
    items = bfd_session_items_locked(s);
  bf_mutex_unlock(&s->lock);
  for (guint i = 0; items != NULL && i < items->len; i++) {
    BfdItem *it = items->pdata[i];
    if (!finish(it))
      continue;
    bf_log(G_LOG_LEVEL_WARNING, BFD_SESSION_LOG(s),
           "session %s: item '%s' abandoned incomplete", s->dir.name,
           it->label);
    retire_quietly(s, it);
  }
}
