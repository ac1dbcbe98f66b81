/* The state of a client session that its modules share: the session and
 * its paths, all under the session lock (client.h, LOCKING) unless a field
 * says otherwise. Only the structs: each module's functions are in its own
 * header, and the types of the other modules (items, chunks, frames) are
 * opaque here, so that this header depends on none of them. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "client.h"

#include "braidfs/conn.h"
#include "braidfs/log.h"
#include "braidfs/tsa.h"

typedef struct BfcSession BfcSession;
typedef struct BfcItem BfcItem;
typedef struct BfcChunk BfcChunk;

typedef enum {
  BFC_PATH_CONNECTING,
  BFC_PATH_UP,
  BFC_PATH_DOWN,
} BfcPathState;

/* A file that got its verdict, as .braidfs/status shows it. */
#define BFC_DONE_KEPT 16
typedef struct {
  char *name;
  uint64_t size;
  uint64_t acked;             /* bytes of its chunks acknowledged */
  gboolean stored;            /* else failed */
  double seconds;             /* from creation to verdict */
  gint64 at;                  /* real time of the verdict (microseconds) */
} BfcFileDone;
/* What a path's acknowledgements tell of its link (budget.h). */
typedef struct {
  double bw;                  /* bytes/s: the largest recent sample */
  double bw_now, bw_last;     /* the largest of this period and the last */
  gint64 slot_at;             /* when this period began */
  double min_rtt;             /* seconds: the least recent chunk round trip */
  double rtt_now, rtt_last;   /* the least of this period and the last */
  gint64 rtt_slot_at;         /* when this period began */
  gint64 delivered_at;        /* the last acknowledgement, or when the path
                                 got work after it was idle */
} BfcPathEstimate;

typedef struct {
  BfcSession *sess;
  unsigned index;
  char *name;                 /* "addr:port" of its spec: its name in logs
                                 (constant) */
  char *addr;                 /* "addr:port" it is attached to, or was last:
                                 name, or a server= it moved to; set by its
                                 thread under the session lock */
  BfcPathState state;
  /* The live connection, or NULL. Set and cleared by the path's thread
   * under the session lock; only its own threads (tx, the receiver) write
   * to it. */
  BfConn *conn;
  GThread *thread;            /* connects, receives, reconnects */
  GThread *tx;                /* writes the current connection's frames */
  GCond wake;                 /* tx waits for work; the thread for backoff */
  GQueue frames;              /* BfcFrame* to write before any chunk (ctl.h) */
  GQueue queue;               /* BfcChunk* assigned, not yet written */
  GQueue inflight;            /* BfcChunk* written, not yet acknowledged */
  BfPathLoad load;            /* load.alive is state == UP; load.budget and
                                 load.rtt come from est (budget.h) */
  BfcPathEstimate est;
  uint64_t bytes_acked;
  uint64_t chunks_acked;
  gint64 last_ack;            /* when the last chunk acknowledgement came */
  gint64 last_progress;       /* last frame received or TCP bytes acked */
  uint64_t tcp_acked;         /* tcpi_bytes_acked at the last look */
  gboolean ping_due;          /* the ticker asks tx to send a PING */
  gint64 ping_sent;           /* monotonic time of the PING in flight, or 0 */
  gint64 ping_done;           /* when the last PONG came back */
  double rtt;                 /* smoothed PING round trip, seconds; 0 = none */
  double rate_avg;            /* acknowledged bytes per second over the
                                 last seconds of wall time, idle or not
                                 (the rate users see; load.rate is the
                                 scheduler's estimate of its capacity) */
  unsigned retries;           /* re-attached after a failure */
  unsigned duplicates;        /* tail chunks it carried twice */
  unsigned resent;            /* chunks it carried for a lost path */
  char *why_down;             /* the last failure */
  unsigned server;            /* where it re-attaches: 0 its own spec's
                                 address, i cfg.alts[i - 1] (server=); only
                                 its thread uses it */
} BfcPath;

struct BfcSession {
  /* Set before the paths' threads start, constant after: */
  BfcConfig cfg;
  uint8_t id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];
  char sid[9];                /* the id's first 8 hex digits, for logs */
  char *server;               /* "host:port" for messages */
  BfcPath *paths;             /* cfg.n_paths */
  gint proto;                 /* atomic: the protocol version paths speak
                                 (dial.h); lowered for an older server */

  BfMutex lock;
  GCond cond;                 /* any ack, state change or failure */
  /* The control path, -1 while none is up. Whenever it is not -1 that
   * path is UP: the path that goes down picks the next and resyncs in the
   * same hold of the lock (failover.h). */
  int ctl;
  unsigned ctl_epoch;         /* bumped whenever ctl changes */
  gint64 down_since;          /* monotonic time since no path is up, or 0 */
  gint64 back_at;             /* when a path came up after none was */
  gint64 short_since;         /* since fewer paths are up than coding's k */
  gint64 last_chunk_ack;      /* monotonic time of the last chunk ack */
  unsigned waiting;           /* threads waiting for the server (seats) */
  uint64_t instance;          /* the server process's id from WELCOME */

  /* chunks (chunk.h) */
  GQueue resend;              /* BfcChunk* of lost paths, any path takes */
  GQueue coded_open;          /* BfcCoded* not done, oldest first */
  uint64_t partial_bytes;     /* sum of their cost */
  GPtrArray *pool;            /* free chunk buffers */

  /* items (item.h) and operations (ops.h) awaiting answers */
  GHashTable *items;          /* id -> BfcItem* */
  GQueue announcing;          /* BfcItem* with an id whose ITEM_OPEN waits
                                 for an earlier id's, in id order */
  GHashTable *ops;            /* op id -> BfcOpWait* */
  GHashTable *reads;          /* op id -> a piece waiting (readback.c) */
  uint64_t next_item_id;
  uint64_t next_op_id;
  uint64_t next_seq;          /* the order ITEM_OPENs, ITEM_CLOSEs and OPs
                                 were first queued in (ctl.h BfcResend) */

  /* files with a verdict, for .braidfs/status (progress.h) */
  GQueue done;                /* BfcFileDone*, the last BFC_DONE_KEPT */
  uint64_t files_stored;
  uint64_t files_failed;

  /* the store's space (space.h) */
  BfStatfsAck space;          /* the newest answer; op_id 0: none yet */
  gint64 space_at;            /* monotonic time it came */

  GThread *ticker;            /* ticker.h */
  GCond tick;                 /* wakes the ticker to stop */
  gboolean stopping;
  char *dead;                 /* why the session cannot continue */
};

/* The structured fields of a log line (braidfs/log.h) about the session
 * s (SESSION=, its short id), the other end of one of its paths (PEER=,
 * "addr:port") and a file (PATH=, its name in the session); peer and path
 * may be NULL. The text still says what it is about. */
#define BFC_LOG(s, peer_, path_)                                            \
  (&(BfLogFields){ .session = (s)->sid[0] ? (s)->sid : NULL,                 \
                   .peer = (peer_), .path = (path_) })

/* How many paths are up. */
static inline unsigned
bfc_paths_up_locked(const BfcSession *s) BF_REQUIRES(&s->lock);
static inline unsigned
bfc_paths_up_locked(const BfcSession *s)
{
  unsigned up = 0;

  for (unsigned i = 0; i < s->cfg.n_paths; i++)
    up += s->paths[i].state == BFC_PATH_UP;
  return up;
}
