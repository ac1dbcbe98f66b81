/* The paths of a client session: connecting, sending, receiving, and
 * surviving their loss.
 *
 * Each path has a thread that owns its connection: it attaches, starts a
 * sender thread, receives until the connection ends, then cleans up and
 * re-attaches with backoff. A path is lost when a read or write fails
 * (loud: RST, unreachable) or when the ticker sees no progress for `stall`
 * while something is outstanding (silent: packets vanish, ticker.h).
 * Progress is read from the kernel (tcpi_bytes_acked) as well as from our
 * frames, so a slow link that is draining a full window is never taken for
 * a dead one. A lost path's unacknowledged chunks go to the session's
 * resend queue, which every live path drains before taking new work
 * (place.h); what the session does about it is failover.h.
 *
 * Only a path's own threads write to its connection: its sender writes
 * the frames queued for it (control frames, PONGs) before its chunks, so
 * that no thread serving a FUSE request ever waits on a socket. The
 * session lock is never held across network I/O; a connection's send lock
 * is held only by the write of one frame. */
#pragma once

#include "state.h"

/* Creates the session (or, with cfg.attach, joins it) and attaches every
 * path once; a path that cannot attach now is retried in the background,
 * the mount needs one. Before any thread runs. */
gboolean bfc_paths_connect(BfcSession *s, GError **error) BF_EXCLUDES(&s->lock);
void bfc_paths_start(BfcSession *s) BF_EXCLUDES(&s->lock);
/* Sets s->stopping, ends every path's threads and frees what they held. */
void bfc_paths_stop(BfcSession *s) BF_EXCLUDES(&s->lock);
