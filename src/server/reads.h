/* READ frames: ranged reads of a session's stored files, so that the
 * client's outbox can read back what it delivered. Each READ is answered
 * on its own path by one READ_DATA with the bytes and their CRC32C; the
 * client stripes a file's reads across its paths. */
#pragma once

#include <glib.h>

#include "braidfs/wire.h"
#include "path.h"

/* A frame handler of a path's thread: FALSE when the path must close. */
gboolean bfd_reads_on_read(BfdPath *p, const BfRead *r);
