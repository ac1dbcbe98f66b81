/* CHUNK frames: a stripe item's chunks written in place, a coded item's
 * shares rebuilt into chunks (shares.h) or into a SHAMIR item's secret. */
#pragma once

#include <glib.h>

#include "braidfs/wire.h"
#include "path.h"

/* A frame handler of a path's thread: FALSE when the path must close (an
 * ERROR was posted). */
gboolean bfd_chunks_on_chunk(BfdPath *p, const BfChunk *c);
