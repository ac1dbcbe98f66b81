/* Text fields of the files the daemons show (status files, the event
 * stream, metrics), escaped the same way everywhere. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Appends text as one whitespace-separated field: a space, tab, newline
 * or backslash becomes \040, \011, \012, \134, as in /proc/mounts
 * (printf %b and g_strcompress undo it). */
void bf_text_append_field(GString *out, const char *text);
/* Appends text as a Prometheus label value (inside its quotes): \, " and
 * newline escaped as its text format wants. */
void bf_text_append_label(GString *out, const char *text);

G_END_DECLS
