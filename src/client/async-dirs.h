/* delivery=async's mkdir(2): the directory is recorded in the spool
 * (spoolmkdir.h) and its MKDIR sent without waiting for the answer, so a
 * copy of a tree pays no round trip per directory. The MKDIR leaves on
 * the control path ahead of the ITEM_OPENs of the files later written in
 * it (ctl.h), so the server makes it first; rmdir(2) and renames of
 * directories still wait for the server, behind it. What the server did
 * not confirm is made again by the next mount on the spool. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "session.h"
#include "spooldir.h"

typedef struct BfcAsyncDirs BfcAsyncDirs;

/* Reads what an earlier mount left unconfirmed in d. NULL with error if
 * the record cannot be read. */
BfcAsyncDirs *bfc_async_dirs_new(BfcSession *s, const BfcSpoolDir *d,
                                 GError **error);
/* Sends the MKDIRs an earlier mount left: before any file is sent. */
void bfc_async_dirs_start(BfcAsyncDirs *ad);
/* Records name (mode) durably and sends its MKDIR. FALSE with error when
 * the spool could not record it. */
gboolean bfc_async_dirs_mkdir(BfcAsyncDirs *ad, const char *name,
                              uint32_t mode, GError **error);
/* Directories recorded and not yet confirmed by the server. */
unsigned bfc_async_dirs_pending(BfcAsyncDirs *ad);
/* After the session stopped (no answer can come any more). */
void bfc_async_dirs_free(BfcAsyncDirs *ad);
