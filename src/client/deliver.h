/* delivery=async: files are written into the spool, close(2) returns once
 * the spool holds them durably, and background workers deliver them over
 * the session. Private to the client.
 *
 * A spooled file is WRITING while a descriptor is open, QUEUED once the
 * last one is released, SENDING while a worker delivers it, and gone once
 * the server stored it (or it was cancelled, or refused for good and moved
 * to SPOOL/failed). Renames and attribute changes of a file not yet sent
 * edit its spooled copy; those of a file being sent wait for the outcome. */
#pragma once

#include "item.h"
#include "spool.h"

typedef struct BfcDelivery BfcDelivery;
typedef struct BfcPending BfcPending;

/* Takes ownership of sp. Recovers what an earlier mount left in it. */
BfcDelivery *bfc_delivery_new(BfcSession *s, BfcSpool *sp);
/* The files recovered from the spool (borrowed), to show in the outbox. */
GPtrArray *bfc_delivery_recovered(BfcDelivery *d);
void bfc_delivery_start(BfcDelivery *d);
/* Stops the workers; what is undelivered stays in the spool (logged). */
void bfc_delivery_stop(BfcDelivery *d);
void bfc_delivery_free(BfcDelivery *d);
/* Waits until no spooled file under prefix (a directory, "a/b/") is
 * queued or being sent, so that a directory operation cannot overtake the
 * files in it. -EBUSY when the server stored none of them for the
 * timeout; else 0. */
int bfc_delivery_wait_prefix(BfcDelivery *d, const char *prefix);
/* The text of the outbox's .braidfs/spool file. */
char *bfc_delivery_describe(BfcDelivery *d);

BfcPending *bfc_pending_new(BfcDelivery *d, const char *name, uint32_t mode,
                            int *err);
BfcPending *bfc_pending_ref(BfcPending *pd);
void bfc_pending_unref(BfcPending *pd);
const char *bfc_pending_name(BfcPending *pd);
int bfc_pending_write(BfcPending *pd, const void *buf, size_t len, uint64_t off);
int bfc_pending_truncate(BfcPending *pd, uint64_t size);
uint64_t bfc_pending_size(BfcPending *pd);
/* close(2): makes the current contents durable in the spool. */
int bfc_pending_commit(BfcDelivery *d, BfcPending *pd);
/* The last descriptor is gone: the file may be sent. */
void bfc_pending_release(BfcDelivery *d, BfcPending *pd);
/* Unlinked or replaced: never delivered (waits for a worker sending it). */
void bfc_pending_cancel(BfcDelivery *d, BfcPending *pd);
/* 0: applied to the spooled copy; 1: it was delivered meanwhile, so the
 * caller applies it on the server; or -errno. */
int bfc_pending_rename(BfcDelivery *d, BfcPending *pd, const char *name);
int bfc_pending_setattr(BfcDelivery *d, BfcPending *pd, uint8_t flags,
                        uint32_t mode, const struct timespec *mtime);
/* TRUE while a descriptor may still write it. */
gboolean bfc_pending_is_open(BfcPending *pd);
/* TRUE once it left the spool; *delivered tells whether it is on the
 * server. */
gboolean bfc_pending_gone(BfcPending *pd, gboolean *delivered);
