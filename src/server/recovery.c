/* Start-up (recovery.h): the store's session directories that this
 * server owns (owner.h), their journals read back (journal.h), their
 * items rebuilt (item.h), the sessions indexed (sessions.h). Nothing else
 * runs yet. Later, the same for one session whose owner is gone. */
#include "recovery.h"

#include <sodium.h>
#include <string.h>

#include "item.h"
#include "journal.h"
#include "owner.h"
#include "session.h"
#include "sessions.h"
#include "status.h"
#include "store.h"

/* The answers the journal kept, as if just given. */
static void
seed_answers(BfdSession *s, const BfdJournalState *st)
{
  bf_mutex_lock(&s->lock);
  s->max_item_id = st->max_id;
  for (guint i = 0; i < st->verdicts->len; i++) {
    const BfdJournalAnswer *a = &g_array_index(st->verdicts,
                                               BfdJournalAnswer, i);
    bfd_session_remember_verdict_locked(s, a->id, a->stage, a->status);
  }
  for (guint i = 0; i < st->proofs->len; i++) {
    const BfdJournalProof *pr = &g_array_index(st->proofs, BfdJournalProof, i);
    bfd_session_remember_proof_locked(s, pr->id, pr->proof);
  }
  for (guint i = 0; i < st->ops_started->len; i++) {
    uint64_t id = g_array_index(st->ops_started, uint64_t, i);
    g_hash_table_add(s->ops_doubt, g_memdup2(&id, sizeof id));
  }
  bf_mutex_unlock(&s->lock);
  for (guint i = 0; i < st->ops_done->len; i++) {
    const BfdJournalAnswer *a = &g_array_index(st->ops_done,
                                               BfdJournalAnswer, i);
    bfd_session_op_done(s, a->id, &(BfdOpResult){ a->status, NULL });
  }
}

/* The items kept for their clients: each waits, open, for its client to
 * re-attach and go on. FALSE if an item's file could not be read: then
 * nothing is deleted. */
static gboolean
restore_items(BfdSession *s, BfdJournalState *st, unsigned *n,
              GError **error)
{
  g_autoptr(GHashTable) kept = g_hash_table_new(g_int64_hash, g_int64_equal);

  *n = 0;
  for (guint i = 0; i < st->items->len; i++) {
    BfdItemRecord *rec = st->items->pdata[i];
    g_autoptr(GError) why = NULL;
    BfdItem *it = bfd_item_restore(rec, s->dir.tmp_fd, &s->srv->limits,
                                   s->share_budget, &why);
    if (it == NULL && why->domain == G_FILE_ERROR) {
      g_propagate_error(error, g_steal_pointer(&why));
      return FALSE;
    }
    if (it == NULL) {
      bf_log(G_LOG_LEVEL_WARNING, BFD_SESSION_LOG(s), "session %s: item %"
             G_GUINT64_FORMAT " is not kept: %s", s->dir.name, rec->id,
             why->message);
      bfd_journal_item_forget(s->dir.tmp_fd, rec->id, rec->slot);
      continue;
    }
    it->live = &s->srv->items_live;
    g_atomic_int_inc(it->live);
    bf_mutex_lock(&s->lock);
    s->max_item_id = MAX(s->max_item_id, it->id);
    g_hash_table_insert(s->items, &it->id, it);
    bf_mutex_unlock(&s->lock);
    g_hash_table_add(kept, &it->id);
    (*n)++;
  }
  bfd_journal_remove_strays(s->dir.tmp_fd, kept);
  return TRUE;
}

/* Loads a session whose owner lock dir holds. A journal that cannot be
 * read fails it, the store left as it was (braidfsd(8), The store). */
static gboolean
recover(BfdServer *srv, BfdSessionDir *dir, GError **error)
{
  g_autoptr(BfdSession) s = bfd_session_new(srv, dir);
  g_autoptr(BfdJournalState) st = NULL;
  g_autoptr(GError) why = NULL;
  uint64_t files, bytes;
  unsigned kept = 0;
  gboolean ok = (st = bfd_journal_read(s->dir.tmp_fd, &why)) != NULL;

  if (ok) {
    seed_answers(s, st);
    ok = restore_items(s, st, &kept, &why);
  }
  if (!ok) {
    g_set_error(error, G_FILE_ERROR, why->code, "store %s, session %s: %s",
                srv->store_path, s->dir.name, why->message);
    return FALSE;
  }
  if (kept > 0)
    bf_log(G_LOG_LEVEL_MESSAGE, BFD_SESSION_LOG(s), "session %s: %u partial "
           "items kept for their client", s->dir.name, kept);
  bfd_store_count_data(&s->dir, &files, &bytes);
  bf_mutex_lock(&s->lock);
  /* An id at or below it that the journal does not know may be opened
   * again (journal.c). */
  s->reopen_floor = s->max_item_id;
  s->detached_at = g_get_monotonic_time();
  s->items_stored = s->versions_stored = files;
  s->bytes_stored = bytes;
  bf_mutex_unlock(&s->lock);
  bfd_sessions_add(srv->sessions, s);
  return TRUE;
}

gboolean
bfd_recover_sessions(BfdServer *srv, GError **error)
{
  g_autoptr(GPtrArray) dirs = NULL;
  guint elsewhere = 0;

  if (!bfd_store_sessions(srv->store_fd, srv->store_path, &dirs, error))
    return FALSE;
  for (guint i = 0; i < dirs->len; i++) {
    BfdSessionDir *d = dirs->pdata[i];
    g_autoptr(GError) why = NULL;
    if (bfd_owner_take(d, srv->owner_who, &why)) {
      if (!recover(srv, d, error))
        return FALSE;
      continue;
    }
    /* Another server on this store has it: it is not ours to load, write
     * or clean up. Its client may come here once that server is gone. */
    if (why->code == BF_ST_LIMIT)
      elsewhere++;
    bf_log(G_LOG_LEVEL_MESSAGE, &(BfLogFields){ .session = d->name },
           "not loading %s", why->message);
  }
  if (elsewhere > 0)
    g_message("store %s: %u sessions are owned by other servers on it",
              srv->store_path, elsewhere);
  return TRUE;
}

/* A takeover that could not read the store (why): it is left as it is,
 * for when it can be read; its client tries again (LIMIT). */
static BfdSession *
unreadable_now(const GError *why, GError **error)
{
  bf_log(G_LOG_LEVEL_WARNING, NULL, "not taking over: %s; nothing of it was "
         "removed", why->message);
  g_set_error(error, BFD_ERROR, BF_ST_LIMIT, "the session cannot be read "
              "here now");
  return NULL;
}

BfdSession *
bfd_recover_session(BfdServer *srv, const uint8_t id[BF_ID_LEN],
                    const uint8_t token[BF_ID_LEN], GError **error)
{
  g_autoptr(GError) why = NULL;
  BfdSessionDir *d = bfd_store_session_find(srv->store_fd, srv->store_path,
                                            id, &why);
  BfdSession *s;

  if (d == NULL && why != NULL)
    return unreadable_now(why, error);
  /* Nothing about the session is told to a peer that does not know its
   * token. */
  if (d == NULL || sodium_memcmp(d->token, token, BF_ID_LEN) != 0) {
    if (d != NULL) {
      bfd_session_dir_clear(d);
      g_free(d);
    }
    g_set_error(error, BFD_ERROR, BF_ST_AUTH,
                "unknown session or wrong attach token");
    return NULL;
  }
  if (!bfd_owner_take(d, srv->owner_who, error)) {
    bfd_session_dir_clear(d);
    g_free(d);
    /* Another path of the same client may have taken it here meanwhile. */
    if ((s = bfd_sessions_by_id(srv->sessions, id)) != NULL)
      g_clear_error(error);
    return s;
  }
  bf_log(G_LOG_LEVEL_MESSAGE, &(BfLogFields){ .session = d->name },
         "session %s: its owner is gone; taken over from the store", d->name);
  if (!recover(srv, d, &why)) {
    g_free(d);
    return unreadable_now(why, error);
  }
  g_free(d);
  return bfd_sessions_by_id(srv->sessions, id);
}
