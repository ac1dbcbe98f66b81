/* Chunks on their way, their buffers, and the shares of coded chunks.
 *
 * A chunk is owned by exactly one queue: a path's queue (not yet written),
 * a path's in-flight list (written, not acknowledged) or the session's
 * resend queue (its path was lost), or by a coded chunk that holds its
 * acknowledged shares. A chunk goes on the in-flight list before its
 * sender writes it (its acknowledgement may race the end of the write), so
 * it may be acknowledged, and freed, while a sender still reads it: it
 * counts its writers, and the last of them frees it
 * (bfc_chunk_write_end_locked).
 * Buffers come from the session's pool, which keeps enough to refill every
 * path's budget so that steady state touches no fresh memory. All under the
 * session lock unless a function says otherwise. */
#pragma once

#include "state.h"

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

struct BfcChunk {
  BfcItem *item;              /* referenced */
  uint32_t id;
  uint32_t total;             /* 0 unless this is the known last chunk */
  uint32_t len;
  uint32_t crc;
  uint8_t *data;              /* a pool buffer */
  gint64 sent_at;             /* monotonic time it was written, 0 = not yet */
  uint64_t delivered;         /* its path's bytes_acked when it was written */
  gint64 delivered_at;        /* ... and its path's est.delivered_at */
  BfcChunk *twin;             /* a copy on another path (tail duplicate) */
  gboolean settled;           /* its twin was acknowledged: never re-send */
  gboolean from_lost;         /* taken from a lost path (counts as resent) */
  BfcCoded *coded;            /* a share of a coded chunk, else NULL */
  uint8_t share;              /* share_index */
  uint8_t pad;                /* rs padding of the last data share */
  unsigned writers;           /* path senders writing it now */
  gboolean freed;             /* freed while written: the last writer frees it */
};

/* ---- buffers ------------------------------------------------------------ */

uint8_t *bfc_pool_get(BfcSession *s) BF_EXCLUDES(&s->lock);
void bfc_pool_put(BfcSession *s, uint8_t *buf) BF_EXCLUDES(&s->lock);

/* ---- chunks ------------------------------------------------------------- */

/* Chunk id of it carrying len bytes of data (taken over). */
BfcChunk *bfc_chunk_new(BfcItem *it, uint32_t id, uint32_t total,
                        uint8_t *data, uint32_t len);
void bfc_chunk_free_locked(BfcSession *s, BfcChunk *c) BF_REQUIRES(&s->lock);
void bfc_chunks_drain_locked(BfcSession *s, GQueue *q) BF_REQUIRES(&s->lock);
/* A sender is about to write c: m becomes its CHUNK frame (pointing into
 * c's buffer, valid until bfc_chunk_write_end_locked). */
void bfc_chunk_write_begin_locked(BfcSession *s, BfcChunk *c, BfMsg *m)
  BF_REQUIRES(&s->lock);
void bfc_chunk_write_end_locked(BfcSession *s, BfcChunk *c)
  BF_REQUIRES(&s->lock);
gboolean bfc_chunk_matches_locked(BfcSession *s, const BfcChunk *c,
                                  const BfChunkAck *a) BF_REQUIRES(&s->lock);
/* The server acknowledged c (taken out of its path's list): frees it, or
 * holds it as a share of a chunk not rebuilt yet. */
void bfc_chunk_acked_locked(BfcSession *s, BfcChunk *c, gint64 now)
  BF_REQUIRES(&s->lock);
/* c no longer needs sending: its twin was acknowledged, its item ended,
 * or its coded chunk was rebuilt. */
gboolean bfc_chunk_obsolete_locked(BfcSession *s, const BfcChunk *c)
  BF_REQUIRES(&s->lock);
/* c's path was lost before its acknowledgement: TRUE if it must go again
 * (then it counts as resent), else it was freed. */
gboolean bfc_chunk_lost_locked(BfcSession *s, BfcChunk *c) BF_REQUIRES(&s->lock);
/* Whether another path may carry a copy of c (the last chunks of an item
 * whose writer is done). */
gboolean bfc_chunk_may_copy_locked(BfcSession *s, const BfcChunk *c)
  BF_REQUIRES(&s->lock);
/* A copy of c for another path; they are twins. */
BfcChunk *bfc_chunk_copy_locked(BfcSession *s, BfcChunk *c) BF_REQUIRES(&s->lock);

/* ---- coded chunks ------------------------------------------------------- */

/* Cuts len bytes of data into the n shares sh[] of chunk id of it. */
void bfc_coded_split(BfcSession *s, BfcItem *it, uint32_t id, uint32_t total,
                     const uint8_t *data, uint32_t len, BfcChunk **sh)
  BF_EXCLUDES(&s->lock);
/* Whether the server's buffer of partial chunks has room for cd. */
gboolean bfc_coded_room_locked(BfcSession *s, const BfcCoded *cd)
  BF_REQUIRES(&s->lock);
/* cd's shares are placed: it counts as partial until done. */
void bfc_coded_open_locked(BfcSession *s, BfcCoded *cd) BF_REQUIRES(&s->lock);
/* Whether share c may travel on path p: p carried no other share of its
 * chunk. Always TRUE for a chunk that is not coded. */
gboolean bfc_share_fits(const BfcChunk *c, unsigned p);
void bfc_share_placed(BfcChunk *c, unsigned p);
/* The server restarted: it kept only rebuilt chunks, so every held share
 * of the others goes again. */
void bfc_coded_restart_locked(BfcSession *s) BF_REQUIRES(&s->lock);
void bfc_coded_clear_locked(BfcSession *s) BF_REQUIRES(&s->lock);
