/* The one format of the status files under the outbox's .braidfs
 * (braidfs(1), FILES): text lines, the first of which starts with "# " and
 * names the columns; then one record per line, its fields separated by one
 * space. A field is never empty and holds no space, tab, newline or
 * backslash: those are written \040, \011, \012 and \134, as in
 * /proc/mounts, and "-" stands for none. A file of settings has the two
 * columns "key value". So `awk '$1 == "pending" { print $2 }'` and a
 * reader that takes the columns by their names both work on every file. */
#pragma once

#include <glib.h>

typedef struct {
  GString *out;
  gboolean fresh;             /* no field on the current line yet */
} BfcReport;

/* Starts a report with the columns (NULL-terminated) as its first line. */
void bfc_report_init(BfcReport *r, const char *const *columns);
/* One field of the current record, escaped; NULL or "" is "-". */
void bfc_report_field(BfcReport *r, const char *text);
void bfc_report_fieldf(BfcReport *r, const char *format, ...)
  G_GNUC_PRINTF(2, 3);
/* Ends the current record. */
void bfc_report_end(BfcReport *r);
/* A record of a "key value" report. */
void bfc_report_pair(BfcReport *r, const char *key, const char *format, ...)
  G_GNUC_PRINTF(3, 4);
/* The text (to g_free); r is spent. */
char *bfc_report_finish(BfcReport *r);
