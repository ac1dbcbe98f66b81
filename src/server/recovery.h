/* Start-up: every session of the store, rebuilt with what its journal
 * kept (its partial items, its answers), into the server's index. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/wire.h"
#include "braidfsd.h"
#include "session.h"

/* Once, before any path can attach: the sessions this server can own
 * (owner.h); those another server owns are logged and left alone. FALSE
 * (G_FILE_ERROR) if the store or a session's journal cannot be read: the
 * server must not start without them; nothing of them was removed. */
gboolean bfd_recover_sessions(BfdServer *srv, GError **error);
/* A session that is in the store but not in the index (its owner was
 * another server, which is gone): taken over and loaded, a reference
 * returned. NULL with BF_ST_AUTH if the store has no session of that id
 * and token, BF_ST_LIMIT if its owner is alive or it cannot be read now
 * (left as it is: its client tries again). */
BfdSession *bfd_recover_session(BfdServer *srv, const uint8_t id[BF_ID_LEN],
                                const uint8_t token[BF_ID_LEN],
                                GError **error);
