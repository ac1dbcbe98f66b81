/* Text made fit to show (see text.h). */
#include "braidfs/text.h"

#include <string.h>

/* Characters that move the cursor, end a line or reorder what follows. */
static gboolean
unsafe(gunichar c)
{
  return c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029 ||
         (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

char *
bf_text_show(const char *s, size_t len, size_t max)
{
  const char *end = s + strnlen(s, len);
  GString *out = g_string_sized_new(MIN((size_t)(end - s), max) + 1);

  while (s < end) {
    gunichar c = g_utf8_get_char_validated(s, end - s);
    size_t adv = 1;
    char esc[16];
    const char *piece = esc;
    size_t n;

    if (c == (gunichar)-1 || c == (gunichar)-2) {
      n = (size_t)g_snprintf(esc, sizeof esc, "\\x%02x", (guchar)*s);
    } else {
      adv = (size_t)(g_utf8_next_char(s) - s);
      if (c < 0x100 && unsafe(c)) {
        n = (size_t)g_snprintf(esc, sizeof esc, "\\x%02x", c);
      } else if (unsafe(c)) {
        n = (size_t)g_snprintf(esc, sizeof esc, "\\u{%04x}", c);
      } else {
        piece = s;
        n = adv;
      }
    }
    if (n > max - out->len)
      break;
    g_string_append_len(out, piece, (gssize)n);
    s += adv;
  }
  return g_string_free(out, FALSE);
}

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
