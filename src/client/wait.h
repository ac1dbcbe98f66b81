/* Waiting for the server: every wait of a FUSE request or a delivery
 * worker is bounded, and only BFC_WAIT_SEATS of them happen at once.
 *
 * A waiter moves w->progress forward whenever the server shows progress on
 * what it waits for, and gives up after the timeout without any, or once
 * every path has been down for the timeout, or the session ended. While
 * it waits it holds a seat: a FUSE request that waits for the server holds
 * one of the mount's threads, and some must stay free for requests that
 * need no server (ls, stat, the status files), however many wait. */
#pragma once

#include "state.h"

typedef struct {
  const char *what;           /* "acknowledged a chunk", ... (for messages) */
  gint64 progress;            /* monotonic time of the start or last progress */
  gboolean seated;            /* counted in s->waiting */
} BfcWait;

void bfc_wait_init(BfcWait *w, const char *what);
/* Waits on s->cond for a quarter second at most. TRUE to go on waiting;
 * FALSE when the caller gives up, with error: BFC_ERROR BF_ST_IO (the
 * session ended, every path has been down for the timeout, no progress
 * for the timeout) or BF_ST_LIMIT (every seat is taken: EAGAIN). */
gboolean bfc_wait_locked(BfcSession *s, BfcWait *w, GError **error)
  BF_REQUIRES(&s->lock);
/* Ends a wait (gives its seat back). */
void bfc_wait_done_locked(BfcSession *s, BfcWait *w) BF_REQUIRES(&s->lock);

/* A seat for a wait that is not on s->cond: behind an item's write lock
 * held by a close(2) waiting for the server, or behind a spooled file that
 * a worker delivers. FALSE (BF_ST_LIMIT) when every seat is taken, unless
 * the wait cannot be refused (a cancel): then it is counted all the
 * same. */
gboolean bfc_seat_take(BfcSession *s, gboolean refusable, GError **error)
  BF_EXCLUDES(&s->lock);
void bfc_seat_give(BfcSession *s) BF_EXCLUDES(&s->lock);
