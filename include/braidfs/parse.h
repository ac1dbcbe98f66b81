/* Parsing of option values shared by both daemons. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* "4096", "64K", "1M", "2G", "1T" (binary multiples) into bytes. */
gboolean bf_parse_size(const char *text, uint64_t *out, GError **error);

/* "host", "host:port", "[v6addr]:port", "[v6addr]" into a host (newly
 * allocated, without brackets) and a port (default_port when absent). */
gboolean bf_parse_hostport(const char *text, uint16_t default_port,
                           char **host, uint16_t *port, GError **error);

/* Formats host and port as "host:port" or "[v6]:port". */
char *bf_format_hostport(const char *host, uint16_t port);

/* Lowercase hex of a binary buffer. */
char *bf_hex(const uint8_t *data, size_t len);

G_END_DECLS
