/* Early flushes of large files: a file that grew by BF_FLUSH_STEP since
 * its last flush is handed to one thread that calls fdatasync on it while
 * the writer goes on. The fsync a durability promise needs at the end
 * (braidfsd's before STORED, the client spool's at close(2)) stays; it
 * then finds little to do. What it would wait for otherwise is the
 * journal's commit and the disk's own cache flush, whose cost grows with
 * what was written since the last one: 0.52 s of a 1.69 s copy of 1 GiB
 * here (bench/README, "Measured after: early flushes"). One flush at a
 * time per flusher: an offer while one is under way is dropped (the
 * caller offers again later).
 *
 * It never sees the caller's descriptor. It flushes a new open file
 * description of the same file (reopened through /proc/self/fd), so that
 * a write error it meets is not consumed for the caller's descriptor
 * (errseq: each open file reports an error once), whose own fsync still
 * reports it. Without /proc nothing is flushed early.
 *
 * Its thread starts at the first offer, so a flusher made before a
 * daemon forks works in the child. */
#pragma once

#include <glib.h>

#define BF_FLUSH_STEP (64u << 20)

typedef struct BfFlusher BfFlusher;

BfFlusher *bf_flusher_new(void);
/* Waits for a flush under way; one offered and not started is dropped. */
void bf_flusher_free(BfFlusher *f);
/* Hands fd's file over to be flushed, unless a flush is under way (or fd
 * cannot be reopened): TRUE if taken. f may be NULL (nothing is taken). */
gboolean bf_flusher_offer(BfFlusher *f, int fd);
/* Flushes done since it was made (metrics and tests). */
guint64 bf_flusher_done(BfFlusher *f);
