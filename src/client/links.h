/* The outbox's entries that are neither files nor directories: symlinks,
 * hard links, FIFOs and sockets. Each is a directory operation on the
 * server (ops.h) and a node of its kind in the tree (tree.h); no contents
 * travel. These are FUSE operations: 0 or -errno. */
#pragma once

#include <sys/types.h>

#include "state.h"
#include "tree.h"

/* path becomes a symlink to the text target (never followed by either
 * side). */
int bfc_links_symlink(BfcTree *t, BfcSession *s, const char *target,
                      const char *path);
int bfc_links_readlink(BfcTree *t, const char *path, char *buf, size_t size);
/* A FIFO or socket; a device node is refused (EPERM). */
int bfc_links_mknod(BfcTree *t, BfcSession *s, const char *path, mode_t mode);
/* to becomes a hard link of the regular file from, once it is
 * delivered. */
int bfc_links_link(BfcTree *t, BfcSession *s, BfcDelivery *d,
                   const char *from, const char *to);
