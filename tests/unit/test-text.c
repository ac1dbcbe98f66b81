/* Unit tests for braidfs/text.h: peer text made safe to show, and the
 * escaped fields of the files the daemons show. */
#include "braidfs/text.h"

#include <string.h>

static void
check(const char *in, size_t len, size_t max, const char *want)
{
  g_autofree char *got = bf_text_show(in, len, max);

  g_assert_cmpstr(got, ==, want);
  g_assert_true(g_utf8_validate(got, -1, NULL));
  g_assert_cmpuint(strlen(got), <=, max);
}

static void
test_escapes(void)
{
  check("plain name.txt", 14, G_MAXSIZE, "plain name.txt");
  check("a\nb\rc\x1b[31m", 10, G_MAXSIZE, "a\\x0ab\\x0dc\\x1b[31m");
  check("del\x7f", 4, G_MAXSIZE, "del\\x7f");
  check("caf\xc3\xa9", 5, G_MAXSIZE, "caf\xc3\xa9");           /* é stays */
  check("caf\xe9 \xff", 6, G_MAXSIZE, "caf\\xe9 \\xff");       /* Latin-1 */
  check("c1 \xc2\x9b" "2J", 7, G_MAXSIZE, "c1 \\x9b2J");      /* U+009B CSI */
  check("\xe2\x80\xa8" "x", 4, G_MAXSIZE, "\\u{2028}x");
  check("\xe2\x80\xae" "txt", 6, G_MAXSIZE, "\\u{202e}txt");
  check("back\\slash", 10, G_MAXSIZE, "back\\slash");
  check("stops\0here", 10, G_MAXSIZE, "stops");
  check("", 0, G_MAXSIZE, "");
}

static void
test_idempotent(void)
{
  const char *in = "x\x1b\n\xff\xe2\x80\xae\xc3\xa9";
  g_autofree char *once = bf_text_show(in, strlen(in), G_MAXSIZE);
  g_autofree char *twice = bf_text_show(once, strlen(once), G_MAXSIZE);

  g_assert_cmpstr(once, ==, twice);
}

static void
test_cut(void)
{
  /* never inside a character nor inside an escape */
  check("ab\xc3\xa9", 4, 3, "ab");
  check("ab\xc3\xa9", 4, 4, "ab\xc3\xa9");
  check("a\x1b", 2, 4, "a");
  check("a\x1b", 2, 5, "a\\x1b");
  check("\xe2\x82\xac\xe2\x82\xac", 6, 5, "\xe2\x82\xac");
  check("abc", 3, 0, "");
}

/* The escaped text fields: what the event stream, the status files and
 * the metrics write. */

static void
test_field(void)
{
  g_autoptr(GString) out = g_string_new(NULL);

  bf_text_append_field(out, "a b\tc\nd\\e$'\"f");
  g_assert_cmpstr(out->str, ==, "a\\040b\\011c\\012d\\134e$'\"f");
  /* g_strcompress (and printf %b) gives the name back */
  g_autofree char *back = g_strcompress(out->str);
  g_assert_cmpstr(back, ==, "a b\tc\nd\\e$'\"f");
}

static void
test_label(void)
{
  g_autoptr(GString) out = g_string_new(NULL);

  bf_text_append_label(out, "a \"b\"\\c\nd");
  g_assert_cmpstr(out->str, ==, "a \\\"b\\\"\\\\c\\nd");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/text/escapes", test_escapes);
  g_test_add_func("/text/idempotent", test_idempotent);
  g_test_add_func("/text/cut", test_cut);
  g_test_add_func("/text/field", test_field);
  g_test_add_func("/text/label", test_label);
  return g_test_run();
}
