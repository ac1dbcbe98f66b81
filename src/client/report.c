/* The format of the status files (report.h). */
#include "report.h"

#include "braidfs/text.h"

void
bfc_report_init(BfcReport *r, const char *const *columns)
{
  r->out = g_string_new("#");
  for (; *columns != NULL; columns++)
    g_string_append_printf(r->out, " %s", *columns);
  g_string_append_c(r->out, '\n');
  r->fresh = TRUE;
}

void
bfc_report_field(BfcReport *r, const char *text)
{
  if (!r->fresh)
    g_string_append_c(r->out, ' ');
  r->fresh = FALSE;
  if (text == NULL || *text == '\0') {
    g_string_append_c(r->out, '-');
    return;
  }
  bf_text_append_field(r->out, text);
}

void
bfc_report_fieldf(BfcReport *r, const char *format, ...)
{
  va_list ap;

  va_start(ap, format);
  g_autofree char *text = g_strdup_vprintf(format, ap);
  va_end(ap);
  bfc_report_field(r, text);
}

void
bfc_report_end(BfcReport *r)
{
  g_string_append_c(r->out, '\n');
  r->fresh = TRUE;
}

void
bfc_report_pair(BfcReport *r, const char *key, const char *format, ...)
{
  va_list ap;

  va_start(ap, format);
  g_autofree char *text = g_strdup_vprintf(format, ap);
  va_end(ap);
  bfc_report_field(r, key);
  bfc_report_field(r, text);
  bfc_report_end(r);
}

char *
bfc_report_finish(BfcReport *r)
{
  return g_string_free(g_steal_pointer(&r->out), FALSE);
}
