/* Unit tests for the bounded FIFO map (src/util/fifomap.c): what it keeps,
 * what it forgets and in which order, and that it frees what it drops. */
#include "braidfs/fifomap.h"

/* Lookups find what was inserted, including zero and NULL values. */
static void
test_lookup(void)
{
  g_autoptr(BfFifoMap) m = bf_fifo_map_new(8, NULL);
  gpointer v = GUINT_TO_POINTER(99);

  g_assert_cmpuint(bf_fifo_map_capacity(m), ==, 8);
  g_assert_false(bf_fifo_map_lookup(m, 1, &v));
  g_assert_true(bf_fifo_map_insert(m, 1, GUINT_TO_POINTER(0)));
  g_assert_true(bf_fifo_map_insert(m, 0, GUINT_TO_POINTER(7)));
  g_assert_true(bf_fifo_map_insert(m, G_MAXUINT64, GUINT_TO_POINTER(8)));
  g_assert_true(bf_fifo_map_lookup(m, 1, &v));
  g_assert_null(v);
  g_assert_true(bf_fifo_map_lookup(m, 0, &v));
  g_assert_cmpuint(GPOINTER_TO_UINT(v), ==, 7);
  g_assert_true(bf_fifo_map_lookup(m, G_MAXUINT64, NULL));
  g_assert_true(bf_fifo_map_contains(m, G_MAXUINT64));
  g_assert_false(bf_fifo_map_contains(m, 2));
  g_assert_cmpuint(bf_fifo_map_size(m), ==, 3);
}

/* The first answer stands: inserting a key again changes nothing, and
 * does not make the entry younger. */
static void
test_first_stands(void)
{
  g_autoptr(BfFifoMap) m = bf_fifo_map_new(3, NULL);
  gpointer v;

  g_assert_true(bf_fifo_map_insert(m, 10, GUINT_TO_POINTER(1)));
  g_assert_true(bf_fifo_map_insert(m, 11, GUINT_TO_POINTER(2)));
  g_assert_false(bf_fifo_map_insert(m, 10, GUINT_TO_POINTER(3)));
  g_assert_true(bf_fifo_map_lookup(m, 10, &v));
  g_assert_cmpuint(GPOINTER_TO_UINT(v), ==, 1);
  g_assert_cmpuint(bf_fifo_map_size(m), ==, 2);
  g_assert_true(bf_fifo_map_insert(m, 12, NULL));
  g_assert_true(bf_fifo_map_insert(m, 13, NULL));   /* evicts 10, the oldest */
  g_assert_false(bf_fifo_map_contains(m, 10));
  g_assert_true(bf_fifo_map_contains(m, 11));
}

/* At capacity each new key evicts exactly the oldest: after n inserts of
 * distinct keys the last `capacity` are there and no others, through
 * several turns of the ring. */
static void
test_eviction(void)
{
  const guint cap = 5;
  g_autoptr(BfFifoMap) m = bf_fifo_map_new(cap, NULL);

  for (uint64_t k = 1; k <= 23; k++) {
    g_assert_true(bf_fifo_map_insert(m, k * 1000, GUINT_TO_POINTER((guint)k)));
    g_assert_cmpuint(bf_fifo_map_size(m), ==, MIN(k, cap));
    for (uint64_t j = 1; j <= k; j++) {
      gpointer v = NULL;
      gboolean kept = j + cap > k;
      g_assert_cmpint(bf_fifo_map_lookup(m, j * 1000, &v), ==, kept);
      if (kept)
        g_assert_cmpuint(GPOINTER_TO_UINT(v), ==, (guint)j);
    }
  }
}

/* A capacity of one keeps the last key only. */
static void
test_capacity_one(void)
{
  g_autoptr(BfFifoMap) m = bf_fifo_map_new(1, NULL);

  g_assert_true(bf_fifo_map_insert(m, 1, NULL));
  g_assert_false(bf_fifo_map_insert(m, 1, NULL));
  g_assert_true(bf_fifo_map_insert(m, 2, NULL));
  g_assert_false(bf_fifo_map_contains(m, 1));
  g_assert_true(bf_fifo_map_contains(m, 2));
  g_assert_cmpuint(bf_fifo_map_size(m), ==, 1);
}

/* Values are freed when evicted and when the map goes, never twice, and
 * a refused insert leaves the value with the caller. */
static int freed;

static void
count_free(gpointer p)
{
  freed++;
  g_free(p);
}

static void
test_ownership(void)
{
  BfFifoMap *m = bf_fifo_map_new(2, count_free);
  char *dup = g_strdup("dup");

  freed = 0;
  g_assert_true(bf_fifo_map_insert(m, 1, g_strdup("a")));
  g_assert_true(bf_fifo_map_insert(m, 2, g_strdup("b")));
  g_assert_false(bf_fifo_map_insert(m, 2, dup));
  g_assert_cmpint(freed, ==, 0);
  g_free(dup);
  g_assert_true(bf_fifo_map_insert(m, 3, g_strdup("c")));   /* evicts a */
  g_assert_cmpint(freed, ==, 1);
  bf_fifo_map_free(m);
  g_assert_cmpint(freed, ==, 3);
}

/* Random keys against a model (a list of the live keys in order). */
static void
test_model(void)
{
  const guint cap = 64;
  g_autoptr(BfFifoMap) m = bf_fifo_map_new(cap, NULL);
  g_autoptr(GArray) live = g_array_new(FALSE, FALSE, sizeof(uint64_t));

  for (int i = 0; i < 20000; i++) {
    uint64_t k = (uint64_t)g_test_rand_int_range(0, 200);
    gboolean present = FALSE;
    for (guint j = 0; j < live->len; j++)
      present |= g_array_index(live, uint64_t, j) == k;
    g_assert_cmpint(bf_fifo_map_contains(m, k), ==, present);
    g_assert_cmpint(bf_fifo_map_insert(m, k, NULL), ==, !present);
    if (!present) {
      g_array_append_val(live, k);
      if (live->len > cap)
        g_array_remove_index(live, 0);
    }
    g_assert_cmpuint(bf_fifo_map_size(m), ==, live->len);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/fifomap/lookup", test_lookup);
  g_test_add_func("/fifomap/first-stands", test_first_stands);
  g_test_add_func("/fifomap/eviction", test_eviction);
  g_test_add_func("/fifomap/capacity-one", test_capacity_one);
  g_test_add_func("/fifomap/ownership", test_ownership);
  g_test_add_func("/fifomap/model", test_model);
  return g_test_run();
}
