/* delivery=async's directories: a mkdir(2), and a chmod(2) or
 * utimensat(2) of a directory, return once the spool has recorded them
 * (spoolmkdir.h), so a copy of a tree pays no round trip per directory.
 *
 * A MKDIR is posted at once: it leaves on the control path ahead of the
 * ITEM_OPENs of the files later written in the directory (ctl.h), so the
 * server makes it first. A SETATTR of a directory waits in a queue until
 * no file under it is on its way (their arrival would change its mtime on
 * the server afterwards: cp -a and rsync -a set it right after its
 * files), then is posted by a thread of its own, in the order they were
 * made. rmdir(2) and renames of directories wait for those under them
 * (bfc_async_dirs_waiting_under), then for the server. What the server
 * did not confirm is done again by the next mount on the spool. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

#include "session.h"
#include "spooldir.h"

typedef struct BfcAsyncDirs BfcAsyncDirs;

/* Whether a file under prefix ("a/b/") is still on its way. */
typedef gboolean (*BfcAsyncBusyFn)(gpointer user, const char *prefix);
/* A queued SETATTR was posted: waiters on waiting_under look again. */
typedef void (*BfcAsyncPostedFn)(gpointer user);

/* Reads what an earlier mount left unconfirmed in d, before the session
 * exists. NULL with error if the record cannot be read. */
BfcAsyncDirs *bfc_async_dirs_new(const BfcSpoolDir *d, BfcAsyncBusyFn busy,
                                 BfcAsyncPostedFn posted, gpointer user,
                                 GError **error);
/* The session the operations go to, before bfc_async_dirs_start. */
void bfc_async_dirs_attach(BfcAsyncDirs *ad, BfcSession *s);
/* Sends the MKDIRs an earlier mount left (before any file is sent), queues
 * its SETATTRs, and starts the thread that posts them. */
void bfc_async_dirs_start(BfcAsyncDirs *ad);
/* Stops that thread: what is queued stays recorded for the next mount. */
void bfc_async_dirs_stop(BfcAsyncDirs *ad);
/* Records name (mode) durably and sends its MKDIR. FALSE with error when
 * the spool could not record it. */
gboolean bfc_async_dirs_mkdir(BfcAsyncDirs *ad, const char *name,
                              uint32_t mode, GError **error);
/* Records the SETATTR of directory name (flags BF_SETATTR_*) durably and
 * queues it. FALSE with error when the spool could not record it. */
gboolean bfc_async_dirs_setattr(BfcAsyncDirs *ad, const char *name,
                                uint8_t flags, uint32_t mode,
                                const struct timespec *mtime, GError **error);
/* Whether a queued SETATTR is for prefix ("a/b/") or under it. */
gboolean bfc_async_dirs_waiting_under(BfcAsyncDirs *ad, const char *prefix);
/* A file was settled: the queue's first may go now. */
void bfc_async_dirs_kick(BfcAsyncDirs *ad);
/* Operations recorded and not yet confirmed by the server. */
unsigned bfc_async_dirs_pending(BfcAsyncDirs *ad);
/* After the session stopped (no answer can come any more). */
void bfc_async_dirs_free(BfcAsyncDirs *ad);
