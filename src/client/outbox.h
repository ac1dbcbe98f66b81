/* The outbox: the client's FUSE mount, the FUSE boundary of the error
 * convention (client.h, ERRORS). */
#pragma once

#include <fuse.h>

#include "delivery.h"
#include "session.h"

const struct fuse_operations *bfc_outbox_ops(void);
/* Takes ownership of d. */
void *bfc_outbox_new(BfcSession *s, BfcDelivery *d);
void bfc_outbox_free(void *outbox);
