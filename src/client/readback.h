/* Reading back what the outbox delivered: ranged reads of a stored file
 * served by the server (READ, answered by READ_DATA), split into pieces
 * striped across the paths that are up, each checked against its CRC32C
 * (a piece that fails is asked again). A piece lost with its path is
 * asked again on another; the wait is bounded (wait.h). */
#pragma once

#include "state.h"

/* Reads up to len bytes at off of the stored file name (relative) into
 * buf: how many (fewer only at the end of the file), or -1 with error
 * (BFC_ERROR: the server's status, or why the wait gave up). */
gssize bfc_readback(BfcSession *s, const char *name, void *buf, size_t len,
                    uint64_t off, GError **error) BF_EXCLUDES(&s->lock);

/* ---- for the paths ------------------------------------------------------ */

void bfc_readback_on_data(BfcSession *s, const BfReadData *d)
  BF_EXCLUDES(&s->lock);
