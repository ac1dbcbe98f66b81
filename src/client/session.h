/* The client session's internals, shared by sender.c (items, operations)
 * and paths.c (connections, failover). Private to the client. */
#pragma once

#include "client.h"

#include "braidfs/coding.h"

typedef struct BfcChunk BfcChunk;
typedef struct BfcCoded BfcCoded;

/* What the shares of one chunk (coding shamir or rs) have in common. The
 * chunk is done once k distinct shares are acknowledged (the server has
 * rebuilt it); until then the acknowledged shares are held, because a
 * restarted server forgets shares of chunks it had not rebuilt. */
struct BfcCoded {
  unsigned refs;              /* its shares still alive */
  uint8_t k;
  unsigned acked;             /* distinct shares acknowledged */
  uint32_t acked_mask;
  gboolean done;
  uint64_t cost;              /* (k - 1) x share length: what the server may
                                 buffer for it (see coding.h) */
  GList *link;                /* in the session's coded_open while !done */
  /* The shares each path has carried: a path never carries two different
   * shares of a chunk, not even after a failover, so an observer of fewer
   * than k paths never sees k shares. */
  uint16_t seen[BFC_MAX_PATHS];
  BfcChunk *held[BF_CODING_N_MAX];
};

/* One chunk on its way. Owned by exactly one queue: a path's queue (not
 * yet written), a path's in-flight list (written, not acknowledged) or the
 * session's resend queue (its path was lost). A chunk goes on the in-flight
 * list before its sender writes it (its acknowledgement may race the end of
 * the write), so it may be acknowledged, and freed, while a sender still
 * reads it: bfc_chunk_free_locked then leaves its memory (and its buffer)
 * to the last of its writers. */
struct BfcChunk {
  BfcItem *item;              /* referenced */
  uint32_t id;
  uint32_t total;             /* 0 unless this is the known last chunk */
  uint32_t len;
  uint32_t crc;
  uint8_t *data;              /* a pool buffer of chunk_size bytes */
  gint64 sent_at;             /* monotonic time it was written, 0 = not yet */
  BfcChunk *twin;             /* a copy on another path (tail duplicate) */
  gboolean settled;           /* its twin was acknowledged: never re-send */
  gboolean from_lost;         /* taken from a lost path (counts as resent) */
  BfcCoded *coded;            /* a share of a coded chunk, else NULL */
  uint8_t share;              /* share_index */
  uint8_t pad;                /* rs padding of the last data share */
  unsigned writers;           /* path senders writing it now */
  gboolean freed;             /* freed while written: the last writer frees it */
};

/* A frame waiting for a path's sender, with its names copied: senders of
 * control frames (FUSE requests, delivery workers) never write to a socket
 * themselves, so none of them waits on the network holding a lock, and
 * what a waiter queued stays valid after it returns. */
typedef struct {
  BfMsg msg;                  /* its names point into name and name2 */
  char *name;
  char *name2;
} BfcFrame;

typedef enum {
  BFC_PATH_CONNECTING,
  BFC_PATH_UP,
  BFC_PATH_DOWN,
} BfcPathState;

typedef struct {
  BfcSession *sess;
  unsigned index;
  char *name;                 /* "addr:port" it connects to */
  BfcPathState state;
  /* The live connection, or NULL. Set and cleared by the path's thread
   * under the session lock; only its own threads (tx, the receiver) write
   * to it. */
  BfConn *conn;
  GThread *thread;            /* connects, receives, reconnects */
  GThread *tx;                /* writes the current connection's chunks */
  GCond wake;                 /* tx waits for work; the thread for backoff */
  GQueue frames;              /* BfcFrame* to write before any chunk */
  GQueue queue;               /* BfcChunk* assigned, not yet written */
  GQueue inflight;            /* BfcChunk* written, not yet acknowledged */
  BfPathLoad load;            /* load.alive is state == UP */
  /* statistics and liveness, under the session lock */
  uint64_t bytes_acked;
  uint64_t chunks_acked;
  gint64 last_ack;            /* when the last chunk acknowledgement came */
  gint64 last_progress;       /* last frame received or TCP bytes acked */
  uint64_t tcp_acked;         /* tcpi_bytes_acked at the last look */
  gboolean ping_due;          /* the ticker asks tx to send a PING */
  gint64 ping_sent;           /* monotonic time of the PING in flight, or 0 */
  gint64 ping_done;           /* when the last PONG came back */
  double rtt;                 /* smoothed PING round trip, seconds; 0 = none */
  unsigned retries;           /* re-attached after a failure */
  unsigned duplicates;        /* tail chunks it carried twice */
  unsigned resent;            /* chunks it carried for a lost path */
  char *why_down;             /* the last failure */
} BfcPath;

/* An operation waiting for its OP_ACK. It lives on the waiter's stack:
 * only the waiter reads op (whose names point into its caller), and others
 * touch it only under the session lock while it is in the table. */
typedef struct {
  BfOp op;
  gboolean done;
  uint8_t status;
  char *message;
} BfcOpWait;

struct BfcSession {
  BfcConfig cfg;
  uint8_t id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];
  char *server;               /* "host:port" for messages */
  BfcPath *paths;
  GMutex lock;
  GCond cond;                 /* any ack, state change or failure */
  int ctl;                    /* the control path, -1 while none is up */
  unsigned ctl_epoch;         /* bumped whenever ctl changes */
  gint64 down_since;          /* monotonic time since no path is up, or 0 */
  gint64 back_at;             /* when a path came up after none was */
  gint64 last_chunk_ack;      /* monotonic time of the last chunk ack */
  unsigned waiting;           /* threads waiting for the server (seats) */
  uint64_t instance;          /* the server process's id from WELCOME */
  GQueue resend;              /* BfcChunk* of lost paths, any path takes */
  GQueue coded_open;          /* BfcCoded* not done, oldest first */
  uint64_t partial_bytes;     /* sum of their cost */
  gint64 short_since;         /* since fewer paths are up than coding's k */
  GHashTable *items;          /* id -> BfcItem* awaiting answers */
  GHashTable *ops;            /* op id -> BfcOpWait* */
  uint64_t next_item_id;
  uint64_t next_op_id;
  GPtrArray *pool;            /* free chunk buffers */
  GThread *ticker;
  GCond tick;                 /* wakes the ticker to stop */
  gboolean stopping;
  char *dead;                 /* why the session cannot continue */
};

/* sender.c */
void bfc_pool_put_locked(BfcSession *s, uint8_t *buf);
void bfc_chunk_free_locked(BfcSession *s, BfcChunk *c);
void bfc_item_fail_locked(BfcItem *it, uint8_t status, const char *why);
/* Queues the item's ITEM_OPEN on the control path. Lock held. */
void bfc_item_send_open_locked(BfcSession *s, BfcItem *it);
void bfc_on_item_ack(BfcSession *s, const BfItemAck *a);
void bfc_on_op_ack(BfcSession *s, const BfOpAck *a);
/* Ends the session for good (a refused re-attach): every waiter fails. */
void bfc_session_fail_locked(BfcSession *s, const char *why);

/* paths.c */
gboolean bfc_paths_connect(BfcSession *s, GError **error);
void bfc_paths_start(BfcSession *s);
void bfc_paths_stop(BfcSession *s);
/* Queues a copy of a control frame for the control path's sender, which
 * writes it before its next chunk; first resyncs a new control path if the
 * old one was lost. FALSE when no path is up: the frame goes out with the
 * resync that follows a change of control path. Lock held. */
gboolean bfc_ctl_queue_locked(BfcSession *s, const BfMsg *m);
/* Queues a frame that needs no ordering for the path that will deliver it
 * soonest. FALSE when no path is up. Lock held. */
gboolean bfc_queue_soonest_locked(BfcSession *s, const BfMsg *m);
/* Whether a chunk of this item may be queued on path p now: before the
 * server's OPENED, only on the control path that carried its ITEM_OPEN.
 * Called with the session lock held. */
gboolean bfc_chunk_allowed_locked(BfcSession *s, const BfcItem *it, unsigned p);
/* One wait for the server by a FUSE request or a delivery worker. Every
 * such wait has a bound: the caller moves progress forward whenever the
 * server shows progress on what it waits for, and gives up after timeout
 * seconds without any. */
typedef struct {
  const char *what;           /* "acknowledged a chunk", ... (for messages) */
  gint64 progress;            /* monotonic time of the start or last progress */
  gboolean seated;            /* counted in s->waiting */
  gboolean busy;              /* refused: every seat was taken (EAGAIN) */
} BfcWait;

void bfc_wait_init(BfcWait *w, const char *what);
/* Waits on s->cond for a quarter second at most. NULL to go on waiting,
 * or why the caller gives up (to free): the session ended, every path has
 * been down for the timeout, no progress for the timeout, or w->busy.
 * Lock held. */
char *bfc_session_wait_locked(BfcSession *s, BfcWait *w);
/* Ends a wait (gives its seat back). Lock held. */
void bfc_wait_done_locked(BfcSession *s, BfcWait *w);
/* Queues a chunk on a path and counts it in the path's load. */
void bfc_path_queue_locked(BfcPath *p, BfcChunk *c);
/* Whether share c may travel on path p: p carried no other share of its
 * chunk. Always TRUE for a chunk that is not coded. */
gboolean bfc_share_fits(const BfcChunk *c, unsigned p);
/* A coded chunk's k-th share was acknowledged. Lock held. */
void bfc_coded_done_locked(BfcSession *s, BfcCoded *cd);
unsigned bfc_paths_up_locked(BfcSession *s);
