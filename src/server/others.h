/* The sessions of the store that other servers on it own, as the view
 * shows them: read from the store, never written (no journal, no janitor,
 * no removal: only the owner changes a session, owner.h). */
#pragma once

#include <glib.h>

#include "store.h"

/* The names of the store's session directories (char*, freed with the
 * array): one read of the store's directory and a stat per session. */
GPtrArray *bfd_others_names(int store_fd);
/* The session directory name, opened to read (freed with
 * bfd_session_dir_clear and g_free), or NULL when it is not one (yet). */
BfdSessionDir *bfd_others_open(int store_fd, const char *store_path,
                               const char *name);
/* Its .session text: what the store says, and its owner (owner.h). */
char *bfd_others_describe(const BfdSessionDir *d);
