/* Unit tests for the format of the client's status files
 * (src/client/report.c): the header names the columns, fields are
 * separated by one space and escaped as in /proc/mounts, none is "-". */
#include "report.h"

#include <glib.h>

static void
test_table(void)
{
  static const char *const columns[] = { "path", "source", "state", NULL };
  BfcReport r;

  bfc_report_init(&r, columns);
  bfc_report_fieldf(&r, "%u", 0u);
  bfc_report_field(&r, NULL);
  bfc_report_field(&r, "up");
  bfc_report_end(&r);
  bfc_report_field(&r, "1");
  bfc_report_field(&r, "%wlan0");
  bfc_report_field(&r, "");
  bfc_report_end(&r);
  g_autofree char *text = bfc_report_finish(&r);
  g_assert_cmpstr(text, ==, "# path source state\n0 - up\n1 %wlan0 -\n");
}

/* What would split a field or a line is escaped, and only that. */
static void
test_escapes(void)
{
  static const char *const columns[] = { "key", "value", NULL };
  BfcReport r;

  bfc_report_init(&r, columns);
  bfc_report_pair(&r, "spool", "%s", "/var/spool/my files\\x\tand\nmore");
  bfc_report_pair(&r, "pending", "%u", 3u);
  g_autofree char *text = bfc_report_finish(&r);
  g_assert_cmpstr(text, ==, "# key value\n"
                            "spool /var/spool/my\\040files\\134x\\011and\\012more\n"
                            "pending 3\n");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/report/table", test_table);
  g_test_add_func("/report/escapes", test_escapes);
  return g_test_run();
}
