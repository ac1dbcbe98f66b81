/* df on the outbox: the size and free space of the server's store
 * (STATFS, answered by STATFS_ACK), asked on any path, kept a second so
 * that a df of many mounts or a polling monitor costs one round trip a
 * second at most. */
#pragma once

#include <sys/statvfs.h>

#include "state.h"

/* The store's figures. Bounded: a server that does not answer within
 * a few seconds gets the last figures known (if any) reported instead;
 * FALSE with error when there are none (BFC_ERROR). */
gboolean bfc_space_query(BfcSession *s, BfStatfsAck *out, GError **error)
  BF_EXCLUDES(&s->lock);

/* What df shows: the store's figures, and with local (the spool's file
 * system, or NULL) its free space where that is smaller, since new files
 * stop there first. FALSE with error as bfc_space_query. */
gboolean bfc_space_statfs(BfcSession *s, const struct statvfs *local,
                          struct statvfs *st, GError **error)
  BF_EXCLUDES(&s->lock);

/* ---- for the paths ------------------------------------------------------ */

void bfc_space_on_ack(BfcSession *s, const BfStatfsAck *a)
  BF_EXCLUDES(&s->lock);
