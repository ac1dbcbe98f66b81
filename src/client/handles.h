/* The outbox's open descriptors (fi->fh values): the kernel sends RELEASE
 * after close(2) returns, and an unmount right after a close can make the
 * FUSE loop end before it is read. What was never released is released
 * when the outbox is freed, so nothing a descriptor holds (a version, its
 * chunk buffer) outlives the mount unfreed. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/tsa.h"

typedef enum {
  BFC_HANDLE_FILE = 1,     /* outbox.c's: a version, a reader or a pending */
  BFC_HANDLE_STATUS = 2,   /* status.c's */
} BfcHandleKind;

typedef struct {
  BfMutex lock;        /* guards open */
  GHashTable *open;    /* fh → kind */
  gulong release_delay_us;   /* test hook BRAIDFS_TEST_RELEASE_DELAY_MS */
} BfcHandles;

typedef void (*BfcHandleFn)(uint64_t fh, BfcHandleKind kind, void *data);

void bfc_handles_init(BfcHandles *h);
void bfc_handles_add(BfcHandles *h, uint64_t fh, BfcHandleKind kind)
  BF_EXCLUDES(&h->lock);
/* The kernel released fh: called first by RELEASE (which the test hook
 * BRAIDFS_TEST_RELEASE_DELAY_MS delays, braidfs(1): a late RELEASE). */
void bfc_handles_released(BfcHandles *h, uint64_t fh) BF_EXCLUDES(&h->lock);
/* Calls fn for each descriptor still open (no lock held), then frees h.
 * Only once no FUSE request can arrive any more. */
void bfc_handles_clear(BfcHandles *h, BfcHandleFn fn, void *data)
  BF_EXCLUDES(&h->lock);
