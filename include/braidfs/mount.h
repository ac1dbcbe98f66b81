/* A daemon's FUSE mount, made before it touches the network or its store.
 *
 * fuse_main() checks the mountpoint and libfuse's options only once the
 * daemon has connected (the client: a session on the server) or opened its
 * store and bound its ports (the server), so a typo left litter behind and
 * exited with libfuse's own codes. Here the same steps are split:
 *
 *   m = bf_mount_new(&args, ops, data, &error);   // checks, then mounts
 *   ... connect, open the store, listen ...        // fail: bf_mount_free
 *   rc = bf_mount_serve(m, foreground, 64, ready, srv);  // 0 or 1
 *   bf_mount_free(m);                              // unmounts
 *
 * bf_mount_new refuses, with a message that says what to do, a missing
 * mountpoint, one that is not a directory, a stale FUSE mount, one we may
 * not use, and options libfuse does not know, all before mounting.
 * libfuse's own messages go through the daemon's log (g_warning etc.).
 * Options only mount(8) and systemd read (x-*, _netdev, nofail, auto,
 * noauto), which an fstab line carries, are dropped, not refused. */
#pragma once

#include <fuse.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct BfMount BfMount;

/* The first argument left in args that is not an option (libfuse takes
 * it as the mountpoint), or NULL. */
const char *bf_mount_point_arg(const struct fuse_args *args);
/* Whether path can be a mountpoint: an existing directory we can enter,
 * not a dead FUSE mount. */
gboolean bf_mount_check(const char *path, GError **error);

/* Parses libfuse's options in args, checks the mountpoint and mounts ops
 * there. data reaches the operations as fuse_get_context()->private_data
 * from ops->init on, even when set later (bf_mount_set_data). */
BfMount *bf_mount_new(struct fuse_args *args,
                      const struct fuse_operations *ops, void *data,
                      GError **error);
void bf_mount_set_data(BfMount *m, void *data);
const char *bf_mount_point(const BfMount *m);
/* Detaches unless foreground, then serves requests with up to max_threads
 * threads until unmounted or signalled. ready(ready_data) runs once ops'
 * init has run (the daemon is then up: systemd's READY). Returns the exit
 * status: 0 after a clean unmount, else 1. */
int bf_mount_serve(BfMount *m, gboolean foreground, unsigned max_threads,
                   void (*ready)(void *), void *ready_data);
/* Unmounts (if still mounted) and frees. */
void bf_mount_free(BfMount *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfMount, bf_mount_free)

G_END_DECLS
