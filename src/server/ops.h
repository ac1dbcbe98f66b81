/* OP frames: directory operations on a session's data/ (mkdir, rmdir,
 * unlink, rename, setattr) and the cancel of an item, each run once
 * whatever the client repeats. */
#pragma once

#include <glib.h>

#include "braidfs/wire.h"
#include "path.h"

/* A frame handler of a path's thread: FALSE when the path must close. */
gboolean bfd_ops_on_op(BfdPath *p, const BfOp *o);
