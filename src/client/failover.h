/* What a change of paths does to the session: nothing fails because a path
 * does. A lost path's chunks go to the resend queue (paths.c); when the
 * control path is lost the lowest live path takes over, and every control
 * frame still unanswered (ITEM_OPENs of items not yet OPENED, ITEM_CLOSEs
 * of items not yet STORED, pending OPs: the answers may have been lost
 * with a path even when the frames were not) is queued again there, in the
 * order they were first queued (ctl.h BfcResend), in the same hold of the
 * session lock as the change of control path, so that no control frame
 * reaches the new control path before the ITEM_OPENs it depends on, and a
 * posted MKDIR (delivery=async) still comes before the files under it. The server answers repeats as it answered the
 * originals. Only when every path has been down for the timeout do waiting
 * callers fail (wait.h). */
#pragma once

#include "state.h"

/* Takes p out of service (DOWN, not alive), and resyncs if it was up. */
void bfc_path_lost_locked(BfcSession *s, BfcPath *p, const char *why)
  BF_REQUIRES(&s->lock);
/* Picks the control path if it changed, and queues every unanswered
 * control frame on it again. */
void bfc_resync_locked(BfcSession *s) BF_REQUIRES(&s->lock);
/* The server process changed (a new instance in WELCOME). It kept the
 * session and the items it had, but the client cannot know which: every
 * item in flight is opened again, its chunks wait for the answer, and the
 * held shares of coded chunks not rebuilt go again. OPENED means the
 * server resumed it; a refusal fails it. The resync that follows the
 * re-attach sends the ITEM_OPENs. */
void bfc_server_restarted_locked(BfcSession *s, uint64_t instance)
  BF_REQUIRES(&s->lock);
