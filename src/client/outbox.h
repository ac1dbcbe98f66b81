/* The outbox: the client's FUSE mount. */
#pragma once

#include <fuse.h>

#include "session.h"

typedef struct BfcDelivery BfcDelivery;

const struct fuse_operations *bfc_outbox_ops(void);
/* d (delivery=async) may be NULL, and is owned by the outbox. */
void *bfc_outbox_new(BfcSession *s, BfcDelivery *d);
void bfc_outbox_free(void *outbox);
