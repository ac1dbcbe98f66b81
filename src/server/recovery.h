/* Start-up: every session of the store, rebuilt with what its journal
 * kept (its partial items, its answers), into the server's index. */
#pragma once

#include "braidfsd.h"

/* Once, before any path can attach. */
void bfd_recover_sessions(BfdServer *srv);
