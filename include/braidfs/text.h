/* Text made fit to show: text from a peer (a file name, a server's
 * message) for a terminal, a log line or a frame's message field, and the
 * text fields of the files the daemons show (status files, the event
 * stream, metrics), escaped the same way everywhere. */
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
/* Appends text as one whitespace-separated field: a space, tab, newline
 * or backslash becomes \040, \011, \012, \134, as in /proc/mounts
 * (printf %b and g_strcompress undo it). */
void bf_text_append_field(GString *out, const char *text);
/* Appends text as a Prometheus label value (inside its quotes): \, " and
 * newline escaped as its text format wants. */
void bf_text_append_label(GString *out, const char *text);

G_END_DECLS
