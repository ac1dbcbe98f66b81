/* braidfsd's life: its context set up and torn down, its threads started
 * (the committer, the janitor, one accept thread per address, one
 * thread per path) and stopped. */
#pragma once

#include "braidfsd.h"

/* Sets up srv's tables and locks for limits; the caller then opens the
 * store, recovers its sessions (recovery.h) and binds the listeners. */
void bfd_server_init(BfdServer *srv, const BfdLimits *limits);
/* From the FUSE view's init, once the daemon has detached. */
void bfd_server_start(BfdServer *srv);
/* Stops accepting, closes every path and waits for their threads; the
 * items already complete are still stored. */
void bfd_server_stop(BfdServer *srv);
/* Stops it if it was started, and frees what srv holds. */
void bfd_server_clear(BfdServer *srv);
