/* Escaped text fields (text.h). */
#include "braidfs/text.h"

#include <string.h>

void
bf_text_append_field(GString *out, const char *text)
{
  for (const char *p = text; *p != '\0'; p++) {
    if (strchr(" \t\n\\", *p) != NULL)
      g_string_append_printf(out, "\\%03o", (unsigned char)*p);
    else
      g_string_append_c(out, *p);
  }
}

void
bf_text_append_label(GString *out, const char *text)
{
  for (const char *p = text; *p != '\0'; p++) {
    if (*p == '\\' || *p == '"')
      g_string_append_c(out, '\\');
    if (*p == '\n')
      g_string_append(out, "\\n");
    else
      g_string_append_c(out, *p);
  }
}
