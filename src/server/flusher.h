/* Early flushes of large items. The writeback (store.h) puts an item's
 * data on its way to the disk while the rest arrives, but what the fsync
 * before STORED then waits for is the journal's commit and the disk's own
 * cache flush, whose cost grows with what was written since the last one:
 * 0.52 s of a 1.69 s copy of 1 GiB here (bench/README, "Measured after:
 * early flushes"). The flusher pays that while the chunks still arrive:
 * one thread, one fdatasync at a time for the whole server, of an item
 * whose prefix grew by BFD_FLUSH_STEP since its last one. The fsync before
 * STORED stays: a flush only moves work earlier.
 *
 * It never sees the item's own descriptor. It flushes a new open file
 * description of the same file (reopened through /proc/self/fd), so that
 * a write error it meets is not consumed for the item's descriptor
 * (errseq: each open file reports an error once), whose fsync still
 * reports it and fails the item. Without /proc nothing is flushed early. */
#pragma once

#include <glib.h>

#define BFD_FLUSH_STEP (64u << 20)

typedef struct BfdFlusher BfdFlusher;

BfdFlusher *bfd_flusher_new(void);
/* Waits for a flush under way; one offered and not started is dropped. */
void bfd_flusher_free(BfdFlusher *f);
/* Hands fd's file over to be flushed, unless a flush is under way (or fd
 * cannot be reopened): TRUE if taken. f may be NULL (nothing is taken). */
gboolean bfd_flusher_offer(BfdFlusher *f, int fd);
/* Flushes done since the start (status and tests). */
guint64 bfd_flusher_done(BfdFlusher *f);
