/* Unit tests for the loads and stores of include/braidfs/bytes.h, big- and
 * little-endian: known byte patterns, at unaligned addresses, and round
 * trips. */
#include "braidfs/bytes.h"

#include <glib.h>
#include <string.h>

static const uint8_t pattern[8] = { 0x01, 0x23, 0x45, 0x67,
                                    0x89, 0xab, 0xcd, 0xef };

/* Loads read the most significant byte first, wherever the bytes are. */
static void
test_load(void)
{
  uint8_t buf[9];

  for (size_t off = 0; off <= 1; off++) {
    memset(buf, 0, sizeof buf);
    memcpy(buf + off, pattern, sizeof pattern);
    g_assert_cmphex(bf_load_be16(buf + off), ==, 0x0123);
    g_assert_cmphex(bf_load_be32(buf + off), ==, 0x01234567);
    g_assert_cmphex(bf_load_be64(buf + off), ==, G_GUINT64_CONSTANT(0x0123456789abcdef));
  }
}

/* Stores write exactly their width, most significant byte first, and
 * touch nothing around it. */
static void
test_store(void)
{
  uint8_t buf[10];

  for (size_t off = 0; off <= 1; off++) {
    memset(buf, 0x5a, sizeof buf);
    bf_store_be64(buf + off, G_GUINT64_CONSTANT(0x0123456789abcdef));
    g_assert_cmpmem(buf + off, 8, pattern, 8);
    g_assert_cmpuint(buf[off + 8], ==, 0x5a);
    if (off > 0)
      g_assert_cmpuint(buf[off - 1], ==, 0x5a);

    memset(buf, 0x5a, sizeof buf);
    bf_store_be32(buf + off, 0x01234567);
    g_assert_cmpmem(buf + off, 4, pattern, 4);
    g_assert_cmpuint(buf[off + 4], ==, 0x5a);

    memset(buf, 0x5a, sizeof buf);
    bf_store_be16(buf + off, 0x0123);
    g_assert_cmpmem(buf + off, 2, pattern, 2);
    g_assert_cmpuint(buf[off + 2], ==, 0x5a);
  }
}

/* The extremes and random values survive a store and a load. */
static void
test_round_trip(void)
{
  static const uint64_t edge[] = { 0, 1, 0x80, 0xff, 0x8000, 0xffff,
                                   0x80000000u, 0xffffffffu,
                                   G_GUINT64_CONSTANT(0x8000000000000000),
                                   G_MAXUINT64 };
  uint8_t buf[8];

  for (size_t i = 0; i < G_N_ELEMENTS(edge); i++) {
    bf_store_be64(buf, edge[i]);
    g_assert_cmphex(bf_load_be64(buf), ==, edge[i]);
    bf_store_be32(buf, (uint32_t)edge[i]);
    g_assert_cmphex(bf_load_be32(buf), ==, (uint32_t)edge[i]);
    bf_store_be16(buf, (uint16_t)edge[i]);
    g_assert_cmphex(bf_load_be16(buf), ==, (uint16_t)edge[i]);
  }
  for (int i = 0; i < 1000; i++) {
    uint64_t v = (uint64_t)g_test_rand_int() << 32 | (uint32_t)g_test_rand_int();
    bf_store_be64(buf, v);
    g_assert_cmphex(bf_load_be64(buf), ==, v);
  }
}

/* Little-endian: the least significant byte first, wherever the bytes
 * are; stores touch nothing around their width. */
static void
test_little_endian(void)
{
  uint8_t buf[10];

  for (size_t off = 0; off <= 1; off++) {
    memset(buf, 0, sizeof buf);
    memcpy(buf + off, pattern, sizeof pattern);
    g_assert_cmphex(bf_load_le16(buf + off), ==, 0x2301);
    g_assert_cmphex(bf_load_le32(buf + off), ==, 0x67452301);
    g_assert_cmphex(bf_load_le64(buf + off), ==, G_GUINT64_CONSTANT(0xefcdab8967452301));

    memset(buf, 0x5a, sizeof buf);
    bf_store_le64(buf + off, G_GUINT64_CONSTANT(0xefcdab8967452301));
    g_assert_cmpmem(buf + off, 8, pattern, 8);
    g_assert_cmpuint(buf[off + 8], ==, 0x5a);
    if (off > 0)
      g_assert_cmpuint(buf[off - 1], ==, 0x5a);
    memset(buf, 0x5a, sizeof buf);
    bf_store_le32(buf + off, 0x67452301);
    g_assert_cmpmem(buf + off, 4, pattern, 4);
    g_assert_cmpuint(buf[off + 4], ==, 0x5a);
    memset(buf, 0x5a, sizeof buf);
    bf_store_le16(buf + off, 0x2301);
    g_assert_cmpmem(buf + off, 2, pattern, 2);
    g_assert_cmpuint(buf[off + 2], ==, 0x5a);
  }
  for (int i = 0; i < 1000; i++) {
    uint64_t v = (uint64_t)g_test_rand_int() << 32 | (uint32_t)g_test_rand_int();
    bf_store_le64(buf, v);
    g_assert_cmphex(bf_load_le64(buf), ==, v);
    g_assert_cmphex(bf_load_le32(buf), ==, (uint32_t)v);
    g_assert_cmphex(bf_load_le16(buf), ==, (uint16_t)v);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/bytes/load", test_load);
  g_test_add_func("/bytes/store", test_store);
  g_test_add_func("/bytes/round-trip", test_round_trip);
  g_test_add_func("/bytes/little-endian", test_little_endian);
  return g_test_run();
}
