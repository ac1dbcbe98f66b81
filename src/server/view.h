/* The read-only FUSE view of the store: the FUSE boundary, where failures
 * are errno values (libfuse's convention). */
#pragma once

struct fuse_operations;

/* fuse_main's private_data is the BfdServer; its init starts the server
 * (server.h). */
const struct fuse_operations *bfd_view_ops(void);
