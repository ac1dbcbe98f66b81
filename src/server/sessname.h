/* The name of a session's directory in the store:
 * YYYYMMDD-HHMMSS[-CLIENT][-LABEL]-SHORTID (braidfsd(8)). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/wire.h"

/* client (a client key's name, clientkeys.h: safe as it is) and label
 * may be empty; the label is shown with every character outside
 * [A-Za-z0-9._] as '_'. */
char *bfd_session_dirname(const uint8_t id[BF_ID_LEN], const char *client,
                          const char *label, gint64 started);
/* Whether name has that shape (YYYYMMDD-HHMMSS-...-8 hex digits): an
 * entry of the store that has not (lost+found) is no session. */
gboolean bfd_session_dirname_like(const char *name);
