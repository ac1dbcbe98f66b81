/* The writing side of an item: its bytes become chunks on the paths, and
 * its close waits for the server's verdict.
 *
 * How chunks on many connections become one item: the writer fills one
 * chunk buffer per item, in file order, and hashes it as it leaves, so the
 * digest is computed once and in order. The placement (place.h) hands the
 * chunk to a path whose window has room; the path's sender writes it, and
 * its receiver frees it when the server acknowledges it. Order across
 * paths does not matter: every chunk carries its index, and the server
 * writes it at index * chunk_size. Memory is bounded by inflight_max
 * in flight plus one chunk per open file.
 *
 * Each of these holds the item's wlock, waiting for it seated (item.h). */
#pragma once

#include "item.h"
#include "wait.h"

/* Writes len bytes at off (data NULL writes zeros). Forward writes only:
 * what left cannot be changed. */
gboolean bfc_item_write(BfcItem *it, const void *data, size_t len,
                        uint64_t off, GError **error) BF_EXCLUDES(&it->wlock);
gboolean bfc_item_truncate(BfcItem *it, uint64_t size, GError **error)
  BF_EXCLUDES(&it->wlock);
/* Sends the rest and waits until the server stored the item durably.
 * Every close(2) of a descriptor lands here, so a second call without
 * writes in between returns the first one's result, and writes after it
 * start a new version. */
gboolean bfc_item_close(BfcItem *it, GError **error) BF_EXCLUDES(&it->wlock);
/* delivery=async, where nothing else writes the item: sends the rest and
 * its ITEM_CLOSE, and returns without waiting for the verdict (a file
 * costs bytes, not a round trip: many are sealed and await theirs at
 * once). FALSE, with error, when it could not be sent; the item is
 * settled then. */
gboolean bfc_item_seal(BfcItem *it, GError **error) BF_EXCLUDES(&it->wlock);
/* One wait (a quarter second at most, one seat, w across calls) for a
 * verdict on any of the n sealed items; returns at once if one has it.
 * Sends the ITEM_CLOSE of an item again now and then, as a close(2) does;
 * when the wait gives up (wait.h) every item of them fails. n == 0 ends
 * the wait (its seat goes back). */
void bfc_items_await_verdicts(BfcSession *s, BfcItem **items, unsigned n,
                              BfcWait *w) BF_EXCLUDES(&s->lock);
/* *done when the sealed item has its verdict: then it is settled (as a
 * close(2) would) and TRUE if it was stored, else FALSE with error. */
gboolean bfc_item_settle(BfcItem *it, gboolean *done, GError **error)
  BF_EXCLUDES(&it->sess->lock);
/* The mode and mtime its ITEM_CLOSE carries (delivery=async: the spooled
 * file's). */
void bfc_item_set_final_attrs(BfcItem *it, uint32_t mode,
                              const struct timespec *mtime)
  BF_EXCLUDES(&it->wlock);
