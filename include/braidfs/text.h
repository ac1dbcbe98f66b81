/* Text from a peer (a file name, a server's message), made fit for a
 * terminal, a log line or a frame's message field. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The first len bytes of s (any bytes; a NUL ends them early) as valid
 * UTF-8 with nothing a terminal or a log reader would act on: control
 * characters (C0, DEL, C1) and bytes that are not UTF-8 become \xNN, line
 * and paragraph separators and bidirectional overrides \u{NNNN}. At most
 * max bytes, cut between characters (never inside one, nor inside an
 * escape). For showing, not reversing: a backslash stays as it is, so that
 * showing shown text changes nothing. */
char *bf_text_show(const char *s, size_t len, size_t max);

G_END_DECLS
