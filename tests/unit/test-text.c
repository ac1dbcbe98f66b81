/* Unit tests for the escaped text fields of braidfs/text.h: what the
 * event stream, the status files and the metrics write. */
#include "braidfs/text.h"

#include <glib.h>

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
  g_test_add_func("/text/field", test_field);
  g_test_add_func("/text/label", test_label);
  return g_test_run();
}
