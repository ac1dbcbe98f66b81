/* Logging for both daemons: GLib's g_log, written to stderr in the
 * foreground and to syslog once daemonized. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* prog is the name prefixed to every line; debug enables g_debug(). */
void bf_log_setup(const char *prog, gboolean debug);
/* Switches output to syslog (after the daemon detached from its tty). */
void bf_log_to_syslog(void);

G_END_DECLS
