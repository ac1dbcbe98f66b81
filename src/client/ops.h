/* Directory operations on the server (OP, answered by OP_ACK): each waits
 * for its answer, bounded (wait.h), and sends itself again now and then in
 * case the answer was lost with a path; the server runs each op id once
 * and answers repeats from memory. */
#pragma once

#include "state.h"

/* Runs op (MKDIR, RMDIR, UNLINK, RENAME, LINK, SYMLINK) on name (and
 * name2: the new name, or a symlink's target). FALSE with error: the
 * server's status (BFC_ERROR), or why the wait gave up. */
gboolean bfc_op(BfcSession *s, BfOpKind op, const char *name,
                const char *name2, uint32_t mode, GError **error)
  BF_EXCLUDES(&s->lock);
/* Sets mode (BF_SETATTR_MODE) and/or mtime (BF_SETATTR_MTIME) of a
 * delivered file or directory on the server. */
gboolean bfc_setattr(BfcSession *s, const char *name, uint8_t flags,
                     uint32_t mode, const struct timespec *mtime,
                     GError **error) BF_EXCLUDES(&s->lock);
/* Makes name a FIFO or socket (kind BF_MKNOD_*) on the server. */
gboolean bfc_mknod(BfcSession *s, const char *name, uint8_t kind,
                   uint32_t mode, GError **error) BF_EXCLUDES(&s->lock);

/* How a posted op ended: status BF_ST_OK or the server's, with its text
 * (NULL if none). Runs on a path's thread, without the session lock. */
typedef void (*BfcOpDone)(gpointer user, uint64_t tag, const char *name,
                          uint8_t status, const char *message);
/* Sends op (MKDIR or SETATTR, on op->name; op_id is given here) without
 * waiting: done(user, tag, ...) runs once it is answered,
 * and never if the session ends first (bfc_ops_clear_posted). Sent again
 * with every resync until then. */
void bfc_op_post(BfcSession *s, const BfOp *op, BfcOpDone done, gpointer user,
                 uint64_t tag) BF_EXCLUDES(&s->lock);
/* Forgets the posted ops still unanswered (their done never runs): at the
 * end of the session. */
void bfc_ops_clear_posted(BfcSession *s) BF_EXCLUDES(&s->lock);

/* ---- for the paths ------------------------------------------------------ */

void bfc_ops_on_ack(BfcSession *s, const BfOpAck *a) BF_EXCLUDES(&s->lock);
/* Adds to out (BfcResend) every unanswered op, for the control path's
 * resync (failover.h). Returns how many. */
unsigned bfc_ops_resync_locked(BfcSession *s, GArray *out)
  BF_REQUIRES(&s->lock);
