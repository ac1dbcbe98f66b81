/* Items of a session from ITEM_OPEN to STORED: opening, closing, storing
 * (group commit, on the committer's threads), failing, cancelling and
 * abandoning them. The chunks in between are chunks.c's. */
#pragma once

#include <glib.h>

#include "braidfs/tsa.h"
#include "braidfs/wire.h"
#include "commit.h"
#include "item.h"
#include "path.h"
#include "session.h"

/* Frame handlers of a path's thread: FALSE when the path must close (an
 * ERROR was posted). */
gboolean bfd_items_on_open(BfdPath *p, const BfItemOpen *o);
gboolean bfd_items_on_close(BfdPath *p, const BfItemClose *c);
/* A worker of BfdServer.copiers (a GThreadPool): copies an append's base
 * queued by bfd_items_on_open, then answers OPENED (or the refusal, STALE
 * when the stored file is not the base) and the chunks held meanwhile. */
void bfd_items_copy_base(gpointer job, gpointer user);

/* The threads that make complete items durable in groups and answer
 * them (fsync and rename off the path threads). Freeing them stores the
 * items already complete first. */
BfdCommitter *bfd_items_committer_new(void);
void bfd_items_committer_free(BfdCommitter *c);
/* The item is complete: from here on only the committer touches its
 * files. Never blocks (the committer's lock is a leaf). */
void bfd_items_finalize_locked(BfdSession *s, BfdItem *it)
  BF_REQUIRES(&it->lock);

/* Ends an item: counts it if stored (failure NULL), remembers its verdict
 * (in the journal first), deletes its files in tmp/ and answers STORED on
 * the path of its latest ITEM_CLOSE (or any). size and replaced: what it
 * stored; proof: its STORED's (BF_PROOF_LEN bytes, the one journalled)
 * when stored, else NULL. */
void bfd_items_report(BfdSession *s, BfdItem *it, const GError *failure,
                      uint64_t size, const BfdReplaced *replaced,
                      const uint8_t *proof)
  BF_EXCLUDES(&s->lock, &it->lock);

/* The assembler refused a chunk or a close of it. Going over
 * max_item_size is a limit, not a violation: only the item fails
 * (*failure set, the item finished). Anything else refuses the path:
 * FALSE. */
gboolean bfd_items_assembler_refused_locked(BfdPath *p, BfdItem *it,
                                            const GError *error,
                                            GError **failure)
  BF_REQUIRES(&it->lock);

/* OP CANCEL: the item fails (STORED IO, no answer) unless it is finished;
 * FALSE for an id never opened. */
gboolean bfd_items_cancel(BfdSession *s, uint64_t id) BF_EXCLUDES(&s->lock);
/* Fails every unfinished item of a session without paths (the janitor,
 * after linger); items being stored are left to the committer. */
void bfd_items_abandon(BfdSession *s) BF_EXCLUDES(&s->lock);
