/* The handshake of an accepted connection, on its own thread: preface,
 * the key's AUTH frames (key_file), HELLO NEW or ATTACH, WELCOME. */
#pragma once

#include <glib.h>

#include "path.h"

/* TRUE once the path belongs to a session (p->sess set, the path among
 * its clients, WELCOME sent); FALSE when it was refused (logged, and
 * answered where the peer can read an answer). Leaves the gate
 * (ratelimit.h) either way. */
gboolean bfd_handshake(BfdPath *p);
