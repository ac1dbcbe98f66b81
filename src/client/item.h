/* Items: the files a session delivers, one version at a time, and what
 * the server answered about them. The writing side (bytes into chunks,
 * close) is writer.h.
 *
 * An item is announced under an id (ITEM_OPEN on the control path), is
 * OPENED by the server, and ends STORED or FAILED. Ids reach the server in
 * increasing order (braidfs-protocol(7)): an item whose id must first be
 * recorded (delivery=async: in its spooled file's header) waits in
 * s->announcing, and so do the later ones, so that no lock is held across
 * that write. What paths need of items is below "for the paths". */
#pragma once

#include <time.h>

#include "state.h"

#include "braidfs/digest.h"

typedef enum {
  BFC_ITEM_OPENING,   /* announced, OPENED not yet received */
  BFC_ITEM_OPEN,
  BFC_ITEM_STORED,
  BFC_ITEM_FAILED,
} BfcItemState;

/* One version of a file. Fields are guarded as their blocks say; size is
 * atomic so that getattr reads it without waiting for wlock, which a
 * close holds until the server's verdict. */
struct BfcItem {
  gint refs;
  BfcSession *sess;
  BfMutex wlock;
  /* under wlock (the writer's side; name and mode are read by others only
   * through the frames copied from open_msg and close_msg): */
  char *name;                 /* relative path on the server */
  uint8_t *buf;               /* the chunk being filled (a pool buffer) */
  uint32_t fill;
  uint32_t next_chunk;        /* index of the chunk in buf */
  BfDigest *digest;           /* of the chunks emitted so far (after the
                                 base, continuing its state) */
  /* An append (braidfs-protocol(7)): the server makes the first base
   * bytes from its stored file; writes and chunks follow them. Fixed at
   * creation. */
  uint64_t base;
  BfDigest *base_state;       /* digest of the base, unfinished, or NULL */
  uint8_t base_digest[BF_DIGEST_LEN];
  /* A cut (a truncate, a write inside the file): the stored file is
   * stored bytes long, base_digest its digest, and the item keeps its
   * first base bytes only (base_state their digest). */
  gboolean cut;
  uint64_t stored;
  uint32_t mode;
  struct timespec mtime;
  gboolean closed;            /* this version sealed: ITEM_CLOSE sent (set
                                 atomically: others peek without wlock) */
  gboolean cancelled;
  GError *result;             /* why the last sealed version failed */
  uint64_t replay_id;         /* announce under this earlier mount's id */
  void (*note_id)(void *data, uint64_t id);  /* told every id, unlocked */
  void *note_data;
  char *final_name;           /* renamed while open: moved once stored */
  _Atomic uint64_t size;      /* written by writers under wlock; after
                                 the base */
  /* under the session lock: */
  uint64_t id;                /* also read by its writer under wlock */
  BfcItemState state;
  uint8_t status;             /* BfStatus of a failure */
  char *error;                /* server's or our message on failure */
  gboolean announcing;        /* in s->announcing: nothing sent yet */
  gboolean noted;             /* note_id has recorded the id */
  gboolean replayed;          /* announced under replay_id: STORED may come
                                 at once */
  gboolean open_sent;         /* ITEM_OPEN went out on the control path */
  gboolean resuming;          /* the server restarted: OPENED tells whether
                                 it kept the item */
  unsigned open_epoch;        /* ... of this control epoch */
  uint64_t open_seq;          /* when its ITEM_OPEN and ITEM_CLOSE were */
  uint64_t close_seq;         /* first queued (s->next_seq), or 0 */
  gboolean close_sent;        /* close_msg is set and went out (or will
                                 with the next resync) */
  BfItemClose close_msg;
  uint8_t digest_sent[BF_DIGEST_LEN]; /* of the bytes sent (close_msg's is
                                     zero under shamir): with item_key, what
                                     STORED must prove (proof.h) */
  uint8_t item_key[BF_ITEM_KEY_LEN];  /* shamir: its secret's key */
  gboolean has_item_key;
  gboolean proof_known;       /* digest_sent, close_msg's size and alg are
                                 set: a STORED OK can be checked */
  BfDigest *whole;            /* of the file close_msg closes, unfinished:
                                 what a next append continues */
  gint64 close_due;           /* a sealed item's ITEM_CLOSE goes again then */
  BfItemOpen open_msg;        /* as announced (its name is name's) */
  gint64 last_ack;            /* when a chunk of it was last acknowledged */
  /* for .braidfs/status (progress.h), under the session lock: */
  char *shown;                /* its name when created (constant) */
  uint64_t acked;             /* bytes of its chunks acknowledged */
  gint64 opened_at;           /* monotonic time it was created */
};

/* A new item, announced. */
BfcItem *bfc_item_new(BfcSession *s, const char *name, uint32_t mode)
  BF_EXCLUDES(&s->lock);
/* An earlier mount's announcement of a spooled version: its id, and its
 * size and digest (of the item's algorithm), which a STORED answered at
 * once must prove. */
typedef struct {
  uint64_t id;
  uint64_t size;
  const uint8_t *digest;      /* BF_DIGEST_LEN bytes */
} BfcReplay;

/* For delivery=async: an item whose digest is of alg (the spool's,
 * spoolfmt.h), announced under replay's id (NULL for a fresh one);
 * note_id(data, id) is told every id it is announced under, before the
 * server is, without any lock held. */
BfcItem *bfc_item_new_spooled(BfcSession *s, const char *name, uint32_t mode,
                              uint8_t alg, const BfcReplay *replay,
                              void (*note_id)(void *data, uint64_t id),
                              void *data) BF_EXCLUDES(&s->lock);
/* An append to the stored file name of size bytes, whose unfinished
 * digest state is base_state (copied, its algorithm kept) and digest its
 * end: announced with that base, it sends only what is written from
 * offset size on. */
BfcItem *bfc_item_new_append(BfcSession *s, const char *name, uint32_t mode,
                             uint64_t size, const BfDigest *base_state,
                             const uint8_t digest[BF_DIGEST_LEN])
  BF_EXCLUDES(&s->lock);
/* As bfc_item_new_append, of the first keep bytes of the stored file of
 * size bytes and digest (keep_state: the digest of those keep bytes,
 * unfinished): announced with base_keep (a cut), it sends only what is
 * written from offset keep on. */
BfcItem *bfc_item_new_cut(BfcSession *s, const char *name, uint32_t mode,
                          uint64_t size, const uint8_t digest[BF_DIGEST_LEN],
                          uint64_t keep, const BfDigest *keep_state)
  BF_EXCLUDES(&s->lock);
/* Both: a spooled append (delivery=async); a replay's size and digest are
 * the whole file's, base included. */
BfcItem *bfc_item_new_spooled_append(BfcSession *s, const char *name,
                                     uint32_t mode, const BfcReplay *replay,
                                     void (*note_id)(void *data, uint64_t id),
                                     void *data, uint64_t size,
                                     const BfDigest *base_state,
                                     const uint8_t digest[BF_DIGEST_LEN])
  BF_EXCLUDES(&s->lock);
BfcItem *bfc_item_ref(BfcItem *it);
void bfc_item_unref(BfcItem *it);
/* The file's size: the base and what was written after it. */
uint64_t bfc_item_size(BfcItem *it);
/* A copy of the unfinished digest state of the whole file as it was last
 * closed, or NULL. */
BfDigest *bfc_item_whole_state(BfcItem *it) BF_EXCLUDES(&it->sess->lock);
/* Whether this version ended stored (its close succeeded). */
gboolean bfc_item_stored(BfcItem *it) BF_EXCLUDES(&it->wlock);

/* Takes wlock. A caller that may wait behind a close(2) waiting for the
 * server holds a seat meanwhile (wait.h): FALSE (BF_ST_LIMIT) when every
 * seat is taken. */
gboolean bfc_item_lock(BfcItem *it, GError **error)
  BF_TRY_ACQUIRE(1, &it->wlock);
/* The same for a caller that cannot be refused (a cancel). */
void bfc_item_lock_always(BfcItem *it) BF_ACQUIRE(&it->wlock);
void bfc_item_unlock(BfcItem *it) BF_RELEASE(&it->wlock);
/* Registers the item under its next id and queues its ITEM_OPEN (see
 * s->announcing). With wlock, or before the item is shared. */
void bfc_item_announce(BfcItem *it) BF_EXCLUDES(&it->sess->lock);

/* Waits for the answer to the item's ITEM_OPEN. TRUE when the server has
 * it: *stored tells whether it stored it already (a replay). FALSE with
 * error, BF_ST_NOT_FOUND when the server does not know that id. */
gboolean bfc_item_await_open(BfcItem *it, gboolean *stored, GError **error)
  BF_EXCLUDES(&it->sess->lock);
/* Forgets an item without cancelling it on the server. */
void bfc_item_discard(BfcItem *it) BF_EXCLUDES(&it->sess->lock, &it->wlock);
/* Abandons the item: nothing of it stays on the server. Never refused:
 * it may wait (seated) for a close in progress. */
void bfc_item_cancel(BfcItem *it) BF_EXCLUDES(&it->sess->lock, &it->wlock);
/* Mode and mtime of the version being written: *applied is FALSE when it
 * is sealed already (its close began), so the caller sets them on the
 * server. */
gboolean bfc_item_set_attrs(BfcItem *it, uint8_t flags, uint32_t mode,
                            const struct timespec *mtime, gboolean *applied,
                            GError **error) BF_EXCLUDES(&it->wlock);
/* A file renamed while open: TRUE if the new name applies once it is
 * stored, FALSE if it is stored already (the caller renames it on the
 * server); waits for a close in progress. */
gboolean bfc_item_rename(BfcItem *it, const char *name, gboolean *later,
                         GError **error) BF_EXCLUDES(&it->wlock);

/* Fails the item (no effect once it has a verdict). */
void bfc_item_fail_locked(BfcSession *s, BfcItem *it, uint8_t status,
                          const char *why) BF_REQUIRES(&s->lock);
/* Its verdict as an error (it failed). */
void bfc_item_error_locked(BfcSession *s, BfcItem *it, GError **error)
  BF_REQUIRES(&s->lock);
void bfc_file_done_free(BfcFileDone *d);
/* Takes it out of the table of items awaiting answers. */
void bfc_item_forget_locked(BfcSession *s, BfcItem *it) BF_REQUIRES(&s->lock);
/* Queues ITEM_CLOSE: on the control path, or once the server has OPENED
 * it on the path that delivers soonest. */
void bfc_item_send_close_locked(BfcSession *s, BfcItem *it)
  BF_REQUIRES(&s->lock);
/* Queues OP CANCEL for the item if the server heard of it. */
void bfc_item_send_cancel_locked(BfcSession *s, BfcItem *it)
  BF_REQUIRES(&s->lock);

/* ---- for the paths ------------------------------------------------------ */

/* Whether a chunk of the item may be queued on path p now: before the
 * server's OPENED, only on the control path that carried its ITEM_OPEN. */
gboolean bfc_item_chunk_allowed_locked(BfcSession *s, const BfcItem *it,
                                       unsigned p) BF_REQUIRES(&s->lock);
/* An ITEM_ACK came. */
void bfc_items_on_ack(BfcSession *s, const BfItemAck *a) BF_EXCLUDES(&s->lock);
/* Adds to out (BfcResend) every ITEM_OPEN and ITEM_CLOSE the server has
 * not answered, for the control path's resync (failover.h), which queues
 * them in the same hold of the lock. Returns how many items. */
unsigned bfc_items_resync_locked(BfcSession *s, GArray *out)
  BF_REQUIRES(&s->lock);
/* The server process changed: every item in flight is opened again and
 * its chunks wait for OPENED. Returns how many. */
unsigned bfc_items_restart_locked(BfcSession *s) BF_REQUIRES(&s->lock);
/* Unreferences every item left (the session ends). */
void bfc_items_clear_locked(BfcSession *s) BF_REQUIRES(&s->lock);
