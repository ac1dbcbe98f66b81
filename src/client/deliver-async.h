/* delivery=async: files are written into the spool, close(2) returns once
 * the spool holds them durably, and background threads deliver them over
 * the session, many at once (async-send.h).
 *
 * A spooled file is WRITING while a descriptor is open, QUEUED once the
 * last one is released, SENDING from when a sender takes it until its
 * verdict came (it is sealed meanwhile, awaiting it), and gone once
 * the server stored it (or it was cancelled, or refused for good and moved
 * to SPOOL/failed). Renames and attribute changes of a file not yet sent
 * edit its spooled copy; those of a file being sent wait for the outcome.
 * No lock is held across the spool's disk I/O but a spooled file's own
 * (client.h, LOCKING): a request that waits for a file being sent holds a
 * seat (wait.h). */
#pragma once

#include "delivery.h"
#include "session.h"
#include "spool.h"

/* Recovers what an earlier mount left in sp, before the mount connects:
 * NULL with an error (sp still the caller's) if its files or its record
 * of directories cannot be listed or read (bfc_spool_refuse_mount); else
 * it owns sp. */
BfcDelivery *bfc_deliver_async_new(BfcSpool *sp, GError **error);
/* The session it delivers to, once connected (before the outbox starts
 * it). */
void bfc_deliver_async_attach(BfcDelivery *d, BfcSession *s);
