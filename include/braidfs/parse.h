/* Parsing of addresses shared by both daemons (sizes and durations:
 * units.h). */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* "host", "host:port", "[v6addr]:port", "[v6addr]" into a host (newly
 * allocated, without brackets) and a port (default_port when absent). */
gboolean bf_parse_hostport(const char *text, uint16_t default_port,
                           char **host, uint16_t *port, GError **error);

/* Formats host and port as "host:port" or "[v6]:port". */
char *bf_format_hostport(const char *host, uint16_t port);

/* Lowercase hex of a binary buffer. */
char *bf_hex(const uint8_t *data, size_t len);

G_END_DECLS
