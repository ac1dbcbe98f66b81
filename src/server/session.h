/* A client session in memory: its directory in the store, its items in
 * flight, its live paths, and the answers it already gave (so that a frame
 * repeated after a lost path gets the same answer and runs nothing
 * twice). What its lock guards is what the functions below take it for;
 * the *_locked ones need it held. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/fifomap.h"
#include "braidfs/tsa.h"
#include "braidfsd.h"
#include "item.h"
#include "journal.h"
#include "path.h"
#include "shares.h"
#include "store.h"

struct BfdSession {
  gint refs;
  BfdServer *srv;
  BfdSessionDir dir;         /* fixed, but for tmp_fd: -1 while resting */
  BfdJournal *journal;       /* own lock; NULL while resting (below) */
  BfdShareBudget *share_budget; /* own lock */
  BfMutex lock;              /* guards everything below */
  GCond changed;             /* an OP was done, an item opened or refused */
  GHashTable *items;         /* id (uint64 key) -> BfdItem* (a reference) */
  GHashTable *opening;       /* ids whose ITEM_OPEN is being handled */
  uint64_t max_item_id;      /* highest id ever opened in this session */
  BfFifoMap *verdicts;       /* id -> (stage << 8 | status) of recently
                                finished items */
  BfFifoMap *proofs;         /* id -> the proof (BF_PROOF_LEN bytes) of
                                recently stored items, for repeated
                                STOREDs (journaled: tmp/proofs) */
  BfFifoMap *ops_done;       /* op id -> BfdOpResult* of recent OPs */
  GHashTable *ops_running;   /* op ids a path is running */
  /* What the journal left in doubt at start-up (recovery.c). */
  uint64_t reopen_floor;     /* the highest item id then */
  GHashTable *reopened;      /* ids in doubt opened again since */
  GHashTable *ops_doubt;     /* op ids started, not known done */
  GPtrArray *clients;        /* BfdPath* of each live path (not owned) */
  gint64 detached_at;        /* monotonic time the last path left */
  gint64 last_activity;      /* unix seconds */
  uint64_t items_stored;     /* files in data/ */
  uint64_t versions_stored;  /* items stored by this process, replaced or not */
  uint64_t bytes_stored;
  uint64_t bytes_received;   /* chunk payloads, as they arrive */
  uint64_t items_failed;     /* items that ended in an error */
  gboolean removing;         /* rmdir in progress: attaches wait (LIMIT) */
  gboolean removed;          /* rmdir'ed: no new paths */
  /* An idle session (no path, no item) rests: its journal and tmp/ are
   * closed; dir/, data/ (the view's) and the owner lock stay. The rest lock
   * is taken before lock, only by the janitor (which closes them) and a
   * path attaching (which opens them again and joins while holding it);
   * it is held across that opening and closing only. */
  BfMutex rest_lock;
  gboolean resting;          /* under rest_lock */
};

/* The answer an OP got, for its repeats. */
typedef struct {
  uint8_t status;
  char *message;             /* why it failed: NULL for OK, and for an
                                answer read back from the journal */
} BfdOpResult;

/* A session for an open directory of the store (taken). */
BfdSession *bfd_session_new(BfdServer *srv, BfdSessionDir *dir);
BfdSession *bfd_session_ref(BfdSession *s);
void bfd_session_unref(BfdSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdSession, bfd_session_unref)

/* The structured fields of a log line about the session (log.h). */
#define BFD_SESSION_LOG(s) (&(BfLogFields){ .session = (s)->dir.name })

/* ---- items -------------------------------------------------------------- */

/* The open item id (a reference), or NULL; *gone (may be NULL) tells an
 * item that was opened and has since finished (stored, failed or
 * cancelled: frames still in flight on other paths are harmless) from one
 * never opened. While another path handles the item's ITEM_OPEN, waits
 * for its outcome. */
BfdItem *bfd_session_item(BfdSession *s, uint64_t id, gboolean *gone)
  BF_EXCLUDES(&s->lock);
/* The same, with the lock held (it may be let go while waiting). */
BfdItem *bfd_session_item_locked(BfdSession *s, uint64_t id, gboolean *gone)
  BF_REQUIRES(&s->lock);
/* An ITEM_OPEN of an id at or below the highest one opened: TRUE if it
 * is an item from before a restart that the store knows nothing of
 * (journal.c: it never had a chunk acknowledged), to be opened again,
 * once. */
gboolean bfd_session_may_reopen_locked(BfdSession *s, uint64_t id)
  BF_REQUIRES(&s->lock);
/* Marks id as being opened by this thread (its repeats wait), until
 * bfd_session_opened_locked: the item is in the table or refused. */
void bfd_session_opening_locked(BfdSession *s, uint64_t id)
  BF_REQUIRES(&s->lock);
void bfd_session_opened_locked(BfdSession *s, uint64_t id)
  BF_REQUIRES(&s->lock);
/* Whether it is the session's open item of its id. */
gboolean bfd_session_holds_locked(BfdSession *s, const BfdItem *it)
  BF_REQUIRES(&s->lock);
/* Remembers the item's verdict and takes it out of the table (if it is
 * still there). TRUE if the verdict is new: the caller then records it in
 * the journal (bfd_session_note_verdict) before deleting the item's
 * files. */
gboolean bfd_session_retire_locked(BfdSession *s, BfdItem *it, uint8_t stage,
                                   uint8_t status) BF_REQUIRES(&s->lock);
/* A snapshot of the items in flight (references). */
GPtrArray *bfd_session_items_locked(BfdSession *s) BF_REQUIRES(&s->lock);

/* ---- answers given -------------------------------------------------------- */

/* Remembers a verdict (the first stands): TRUE if it is new. */
gboolean bfd_session_remember_verdict_locked(BfdSession *s, uint64_t id,
                                             uint8_t stage, uint8_t status)
  BF_REQUIRES(&s->lock);
/* A verdict given: proof is the STORED OK's proof if the session still
 * has it, else zero (the client does not take that: braidfs-protocol(7),
 * ITEM_ACK). */
gboolean bfd_session_verdict_locked(BfdSession *s, uint64_t id,
                                    uint8_t *stage, uint8_t *status,
                                    uint8_t proof[BF_PROOF_LEN])
  BF_REQUIRES(&s->lock);
/* Remembers a stored item's proof for repeats of its STORED. */
void bfd_session_remember_proof_locked(BfdSession *s, uint64_t id,
                                       const uint8_t proof[BF_PROOF_LEN])
  BF_REQUIRES(&s->lock);
/* Records a verdict in the journal (outside the lock: a pwrite). */
void bfd_session_note_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                              uint8_t status) BF_EXCLUDES(&s->lock);

/* Whether this thread runs the OP op_id (0: no id, always run): not if it
 * was done (*result is then its answer, to be cleared by the caller); while
 * another path runs the same OP (a repeat sent before the answer came),
 * only once that one is done. *doubt: the OP was started before a restart
 * and may have been done. */
gboolean bfd_session_op_claim(BfdSession *s, uint64_t op_id,
                              BfdOpResult *result, gboolean *doubt)
  BF_EXCLUDES(&s->lock);
/* The claimed OP is done with result (copied); its repeats get it. */
void bfd_session_op_done(BfdSession *s, uint64_t op_id,
                         const BfdOpResult *result) BF_EXCLUDES(&s->lock);
void bfd_op_result_clear(BfdOpResult *r);

/* ---- paths ------------------------------------------------------------- */

/* Adds the path, set up by the handshake, as path number index; a live
 * path of the same number (that the client lost before we noticed) is
 * shut down and replaced when replace. Fails in BFD_ERROR: LIMIT over
 * max_paths or while the session is being removed, AUTH once removed. */
gboolean bfd_session_add_path(BfdSession *s, BfdPath *p, unsigned index,
                              gboolean replace, GError **error)
  BF_EXCLUDES(&s->lock);
/* Takes the path out: TRUE if it was the last (the session is detached). */
gboolean bfd_session_remove_path(BfdSession *s, BfdPath *p)
  BF_EXCLUDES(&s->lock);
gboolean bfd_session_connected_locked(BfdSession *s) BF_REQUIRES(&s->lock);
/* The janitor: closes the journal and tmp/ of a session with no path and
 * no item since before idle_since (monotonic). TRUE if it did. */
gboolean bfd_session_rest(BfdSession *s, gint64 idle_since)
  BF_EXCLUDES(&s->rest_lock, &s->lock);
/* A path about to join: opens them again if the session rests. Returns
 * with the rest lock held, so that the session does not rest again
 * before the path has joined (bfd_session_wake_done after add_path);
 * FALSE with error if they cannot be opened. */
gboolean bfd_session_wake(BfdSession *s, GError **error)
  BF_ACQUIRE(&s->rest_lock) BF_EXCLUDES(&s->lock);
void bfd_session_wake_done(BfdSession *s) BF_RELEASE(&s->rest_lock);
/* Unfinished items of a session without paths for linger_us: the
 * janitor abandons them. */
gboolean bfd_session_lingered(BfdSession *s, gint64 now, gint64 linger_us)
  BF_EXCLUDES(&s->lock);
/* Where to answer an item (a reference, or NULL with no path left): on
 * preferred while that is attached (the client sends the ITEM_CLOSE on the
 * path it listens to most), else on any live path, since the client takes
 * item answers on every path. */
BfdPath *bfd_session_reply_path_locked(BfdSession *s, const void *preferred)
  BF_REQUIRES(&s->lock);
/* A frame arrived on p (a CHUNK and its payload count). */
void bfd_session_note_frame(BfdSession *s, BfdPath *p, const BfMsg *m)
  BF_EXCLUDES(&s->lock);

/* ---- totals and status --------------------------------------------------- */

void bfd_session_note_stored_locked(BfdSession *s, uint64_t size)
  BF_REQUIRES(&s->lock);
/* A stored file of bytes went (removed or replaced). */
void bfd_session_note_removed(BfdSession *s, uint64_t bytes)
  BF_EXCLUDES(&s->lock);
gint64 bfd_session_last_activity(BfdSession *s) BF_EXCLUDES(&s->lock);
/* The text of its .session file. */
char *bfd_session_describe(BfdSession *s) BF_EXCLUDES(&s->lock);
