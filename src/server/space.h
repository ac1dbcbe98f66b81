/* STATFS frames: the size and free space of the file system that holds
 * the session's store, so that df on the client's outbox shows a full
 * server coming. */
#pragma once

#include <glib.h>

#include "braidfs/wire.h"
#include "path.h"

/* A frame handler of a path's thread: FALSE when the path must close. */
gboolean bfd_space_on_statfs(BfdPath *p, const BfStatfs *m);
