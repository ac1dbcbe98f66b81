/* The service manager's notification protocol (sd_notify(3)), without
 * libsystemd: one datagram "KEY=value\n..." to the unix socket named by
 * $NOTIFY_SOCKET (an absolute path, or an abstract name written "@name").
 * Nothing happens when the variable is unset (not run by systemd). Used
 * for READY=1 once a daemon serves, STATUS=one line of summary, and
 * STOPPING=1 when it starts to stop. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sends state (several lines "KEY=value" separated by '\n'). FALSE with
 * error if there is a socket and the datagram could not be sent. */
gboolean bf_notify(const char *state, GError **error);
/* bf_notify of a formatted state; a failure is logged as a warning. */
void bf_notifyf(const char *format, ...) G_GNUC_PRINTF(1, 2);

G_END_DECLS
