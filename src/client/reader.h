/* Opening a file of the outbox for reading: what may be read back from
 * the server (readback.h), and when. A FUSE operation: 0 or -errno. */
#pragma once

#include "state.h"
#include "tree.h"

/* 0 when path is a delivered regular file; a version still on its way
 * (spooled) is waited for first; one being written is EBUSY. Under
 * coding=shamir EACCES: its files never travel whole on one path. */
int bfc_reader_open(BfcTree *t, BfcSession *s, BfcDelivery *d,
                    const char *path);
