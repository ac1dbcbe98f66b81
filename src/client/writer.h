/* The writing side of an item: its bytes become chunks on the paths, and
 * its close waits for the server's verdict.
 *
 * How chunks on many connections become one item: the writer fills one
 * chunk buffer per item, in file order, and hashes it as it leaves, so the
 * digest is computed once and in order. The placement (place.h) hands the
 * chunk to a path whose window has room; the path's sender writes it, and
 * its receiver frees it when the server acknowledges it. Order across
 * paths does not matter: every chunk carries its index, and the server
 * writes it at index * chunk_size. Memory is bounded by paths x window
 * chunks in flight plus one chunk per open file.
 *
 * Each of these holds the item's wlock, waiting for it seated (item.h). */
#pragma once

#include "item.h"

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
/* The mode and mtime its ITEM_CLOSE carries (delivery=async: the spooled
 * file's). */
void bfc_item_set_final_attrs(BfcItem *it, uint32_t mode,
                              const struct timespec *mtime)
  BF_EXCLUDES(&it->wlock);
