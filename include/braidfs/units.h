/* Numbers as people write them in options: sizes with binary suffixes and
 * durations in seconds. Errors are G_OPTION_ERROR_BAD_VALUE with a message
 * that quotes the text and shows the accepted form. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* "4096", "64K", "1M", "2G", "1T" (binary multiples; an optional B or iB
 * after the suffix) into bytes. */
gboolean bf_parse_size(const char *text, uint64_t *out, GError **error);
/* The shortest exact form of bytes: 262144 -> "256K", 1000 -> "1000". */
char *bf_format_size(uint64_t bytes);

/* "10", "0.25", "1.5" seconds (at most three decimals) into milliseconds. */
gboolean bf_parse_seconds(const char *text, uint64_t *ms, GError **error);
/* The shortest exact form of ms in seconds: 2000 -> "2", 250 -> "0.25". */
char *bf_format_seconds(uint64_t ms);

G_END_DECLS
