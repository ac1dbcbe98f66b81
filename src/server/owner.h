/* Which braidfsd owns a session, when several share one store (a
 * distributed file system mounted on several hosts): the one that holds
 * the write lock on the session's owner file. The lock is an OFD lock
 * (fcntl F_OFD_SETLK), which the file system enforces across hosts
 * (GlusterFS and CephFS do; a local file system across processes) and
 * lets go when its open file description closes: when the owner drops
 * the session or dies, however it dies. A session that a server does not
 * own, it does not load, attach to, write or clean up. */
#pragma once

#include <glib.h>

#include "store.h"

/* Takes the lock of d's session (d->owner_fd holds it until
 * bfd_session_dir_clear) and writes who (one line: which server) into
 * the owner file. FALSE with BF_ST_LIMIT when another open file
 * description holds it (another server: its message says so), or with
 * another status when the lock cannot be taken at all (a file system
 * without OFD locks). */
gboolean bfd_owner_take(BfdSessionDir *d, const char *who, GError **error);
/* Who owns the session of the directory dir_fd, for a view that shows it
 * read-only: the one line its owner wrote (who), or that no one holds
 * the lock now, or "another braidfsd on this store". */
char *bfd_owner_describe(int dir_fd);
