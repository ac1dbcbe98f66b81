/* Frames waiting for a path's sender, and the control path.
 *
 * Senders of control frames (FUSE requests, delivery workers) never write
 * to a socket: they queue a copy here, with its names, and the path's
 * sender thread writes it before its next chunk. So none of them waits on
 * the network holding a lock, and what a waiter queued stays valid after
 * it returns. Control frames (ITEM_OPEN, ITEM_CLOSE, OP) go on one control
 * path, so the server sees an item opened before anything that refers to
 * it by name; when that path is lost the next takes over and what is
 * unanswered is queued again (failover.h). */
#pragma once

#include "state.h"

/* A frame waiting for a path's sender; its names point into name, name2. */
typedef struct {
  BfMsg msg;
  char *name;
  char *name2;
} BfcFrame;

void bfc_frame_free(BfcFrame *f);
/* Queues a copy of m for path p's sender (a frame already queued and not
 * yet written is not queued twice). */
void bfc_frame_queue_locked(BfcSession *s, BfcPath *p, const BfMsg *m)
  BF_REQUIRES(&s->lock);
void bfc_frames_drop_locked(BfcSession *s, BfcPath *p) BF_REQUIRES(&s->lock);

/* A control frame to queue again at a resync (failover.h), with when it
 * was first queued (BfcSession.next_seq): resyncs keep that order. Its
 * names point into its owner, valid while the session lock is held. */
typedef struct {
  uint64_t seq;
  BfMsg msg;
} BfcResend;

/* Keeps the control path while it is up, else makes the lowest live path
 * the control path, in a new epoch; TRUE if it changed. The caller then
 * resyncs in the same hold of the lock (failover.h). */
gboolean bfc_ctl_pick_locked(BfcSession *s) BF_REQUIRES(&s->lock);
/* Queues a control frame on the control path. FALSE when no path is up:
 * the frame goes out with the resync that follows the next path up. */
gboolean bfc_ctl_queue_locked(BfcSession *s, const BfMsg *m)
  BF_REQUIRES(&s->lock);
/* Queues a frame that needs no ordering for the path that will deliver it
 * soonest. FALSE when no path is up. */
gboolean bfc_queue_soonest_locked(BfcSession *s, const BfMsg *m)
  BF_REQUIRES(&s->lock);
