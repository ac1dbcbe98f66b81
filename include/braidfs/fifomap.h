/* A bounded map from 64-bit keys to values that forgets its oldest
 * entries: a cache of answers already given (the verdicts of finished
 * items, the results of directory operations), so that a request repeated
 * after a lost answer gets the same answer, in memory bounded by its
 * capacity whatever the peer does.
 *
 * Insertion order is the only order: inserting an existing key changes
 * nothing (the first answer stands, and does not become younger); once
 * capacity entries are held, each new key evicts the oldest. Values are
 * pointers (GUINT_TO_POINTER for small numbers: a stored NULL or 0 is
 * found like any other value). Not thread-safe: the caller's lock guards
 * it. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct BfFifoMap BfFifoMap;

/* capacity >= 1. value_free (may be NULL) is called on each value when
 * its entry is evicted or the map freed. */
BfFifoMap *bf_fifo_map_new(guint capacity, GDestroyNotify value_free);
void bf_fifo_map_free(BfFifoMap *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfFifoMap, bf_fifo_map_free)

/* Adds key -> value unless key is present. TRUE if added (the map then
 * owns value); FALSE if key was there (nothing changes, and the caller
 * keeps value). */
gboolean bf_fifo_map_insert(BfFifoMap *m, uint64_t key, gpointer value);
/* TRUE if key is present; *value (may be NULL) is then set to its value. */
gboolean bf_fifo_map_lookup(const BfFifoMap *m, uint64_t key,
                            gpointer *value);
gboolean bf_fifo_map_contains(const BfFifoMap *m, uint64_t key);
guint bf_fifo_map_size(const BfFifoMap *m);
guint bf_fifo_map_capacity(const BfFifoMap *m);

G_END_DECLS
