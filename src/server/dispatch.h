/* The body of a path's thread. */
#pragma once

#include "path.h"

/* The handshake, then every frame to its handler until the path ends;
 * then the path leaves its session and its connection is closed once the
 * last answers (an ERROR among them) are out. */
void bfd_dispatch_run(BfdPath *p);
