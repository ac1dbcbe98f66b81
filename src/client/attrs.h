/* Mode and mtime of the outbox's entries (chmod, touch, utimensat): of a
 * version not yet delivered they go with it (in its ITEM_CLOSE, or its
 * spooled copy); of delivered files, symlinks and directories they are
 * set on the server at once (tar, rsync and cp -a set them after
 * closing), a directory's mtime once the files in it are delivered. A
 * FUSE operation: 0 or -errno. */
#pragma once

#include "state.h"
#include "tree.h"

/* v: the version a descriptor writes, or NULL. */
int bfc_attrs_set(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path,
                  BfcVersion *v, uint8_t flags, uint32_t mode,
                  const struct timespec *mtime);
