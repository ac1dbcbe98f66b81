/* Unit tests for sizes and durations as written in options
 * (src/util/units.c). */
#include "braidfs/units.h"

static void
test_size(void)
{
  static const struct { const char *text; uint64_t v; } ok[] = {
    { "0", 0 }, { "4096", 4096 }, { "64K", 64 << 10 }, { "64k", 64 << 10 },
    { "1M", 1 << 20 }, { "1MiB", 1 << 20 }, { "1MB", 1 << 20 },
    { "2G", (uint64_t)2 << 30 }, { "1T", (uint64_t)1 << 40 },
    { "16777215T", (uint64_t)16777215 << 40 },
    { "18446744073709551615", G_MAXUINT64 },
  };
  static const char *const bad[] = {
    "", "K", "-1", "+1", " 1", "1 ", "1X", "1KK", "1.5M", "0x10",
    "16777216T", "18446744073709551616", "1Mi",
  };

  for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
    g_autoptr(GError) error = NULL;
    uint64_t v = 1;
    g_assert_true(bf_parse_size(ok[i].text, &v, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(v, ==, ok[i].v);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    uint64_t v = 7;
    g_assert_false(bf_parse_size(bad[i], &v, &error));
    g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
    g_assert_nonnull(strstr(error->message, bad[i]));
    g_assert_cmpuint(v, ==, 7);
  }
}

static void
test_format_size(void)
{
  static const struct { uint64_t v; const char *text; } cases[] = {
    { 0, "0" }, { 1000, "1000" }, { 4096, "4K" }, { 262144, "256K" },
    { 1536 << 10, "1536K" }, { 16 << 20, "16M" }, { (uint64_t)1 << 40, "1T" },
    { (uint64_t)1 << 50, "1024T" },
  };

  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *s = bf_format_size(cases[i].v);
    uint64_t back;
    g_assert_cmpstr(s, ==, cases[i].text);
    g_assert_true(bf_parse_size(s, &back, NULL));
    g_assert_cmpuint(back, ==, cases[i].v);
  }
}

static void
test_seconds(void)
{
  static const struct { const char *text; uint64_t ms; } ok[] = {
    { "0", 0 }, { "2", 2000 }, { "0.2", 200 }, { "0.25", 250 },
    { "1.5", 1500 }, { "600", 600000 }, { "0.001", 1 }, { "10.000", 10000 },
    { "18446744073709551", G_GUINT64_CONSTANT(18446744073709551000) },
    { "18446744073709551.615", G_MAXUINT64 },
  };
  static const char *const bad[] = {
    "", ".5", "1.", "-1", "+1", "1e3", "inf", "nan", "0x10", "1s", " 1",
    "0.0001", "1,5", "18446744073709551.616", "18446744073709552",
    "99999999999999999999",
  };

  for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
    g_autoptr(GError) error = NULL;
    uint64_t ms = 1;
    g_assert_true(bf_parse_seconds(ok[i].text, &ms, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(ms, ==, ok[i].ms);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    uint64_t ms = 7;
    g_assert_false(bf_parse_seconds(bad[i], &ms, &error));
    g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
    g_assert_cmpuint(ms, ==, 7);
  }
}

static void
test_format_seconds(void)
{
  static const struct { uint64_t ms; const char *text; } cases[] = {
    { 0, "0" }, { 2000, "2" }, { 200, "0.2" }, { 250, "0.25" },
    { 1, "0.001" }, { 60500, "60.5" },
  };

  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *s = bf_format_seconds(cases[i].ms);
    uint64_t back;
    g_assert_cmpstr(s, ==, cases[i].text);
    g_assert_true(bf_parse_seconds(s, &back, NULL));
    g_assert_cmpuint(back, ==, cases[i].ms);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/units/size", test_size);
  g_test_add_func("/units/format-size", test_format_size);
  g_test_add_func("/units/seconds", test_seconds);
  g_test_add_func("/units/format-seconds", test_format_seconds);
  return g_test_run();
}
