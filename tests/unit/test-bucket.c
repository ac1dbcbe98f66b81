/* Unit tests for the token bucket behind braidfsd's handshake rate limit
 * (src/server/bucket.c): pure arithmetic on a clock passed in. */
#include "bucket.h"

#define SEC ((gint64)G_USEC_PER_SEC)
#define RATE 20.0
#define BURST 40.0

/* A full bucket gives exactly its burst, then nothing at the same instant. */
static void
test_burst(void)
{
  BfdBucket b;
  int n = 0;

  bfd_bucket_init(&b, BURST, 1000);
  while (bfd_bucket_take(&b, RATE, BURST, 1.0, 1000))
    n++;
  g_assert_cmpint(n, ==, 40);
  g_assert_false(bfd_bucket_take(&b, RATE, BURST, 1.0, 1000));
}

/* Empty, it refills at the rate: 0.5 s later 10 tokens, not 11. */
static void
test_refill(void)
{
  BfdBucket b;
  int n = 0;

  bfd_bucket_init(&b, BURST, 0);
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, BURST, 0));
  g_assert_false(bfd_bucket_take(&b, RATE, BURST, 1.0, SEC / 20 - 1));
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, 1.0, SEC / 20));
  while (bfd_bucket_take(&b, RATE, BURST, 1.0, SEC / 20 + SEC / 2))
    n++;
  g_assert_cmpint(n, ==, 10);
}

/* Refilling never goes over the burst, however long the bucket rests. */
static void
test_cap(void)
{
  BfdBucket b;
  int n = 0;

  bfd_bucket_init(&b, BURST, 0);
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, 1.0, 0));
  while (bfd_bucket_take(&b, RATE, BURST, 1.0, 3600 * SEC))
    n++;
  g_assert_cmpint(n, ==, 40);
  g_assert_true(bfd_bucket_full(&b, RATE, BURST, 3602 * SEC));
}

/* A penalty drives the bucket below zero (down to -burst at most), which
 * delays the next take by the time it takes to earn that back. */
static void
test_penalty(void)
{
  BfdBucket b;

  bfd_bucket_init(&b, BURST, 0);
  bfd_bucket_charge(&b, RATE, BURST, 1000.0, 0);
  g_assert_cmpfloat(b.tokens, ==, -BURST);
  /* 41 tokens at 20/s: 2.05 s until the next take */
  g_assert_false(bfd_bucket_take(&b, RATE, BURST, 1.0, 2 * SEC));
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, 1.0, 2 * SEC + SEC / 20));
}

/* A refund gives a token back, never beyond the burst. */
static void
test_refund(void)
{
  BfdBucket b;

  bfd_bucket_init(&b, BURST, 0);
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, 1.0, 0));
  g_assert_false(bfd_bucket_full(&b, RATE, BURST, 0));
  bfd_bucket_charge(&b, RATE, BURST, -1.0, 0);
  g_assert_true(bfd_bucket_full(&b, RATE, BURST, 0));
  bfd_bucket_charge(&b, RATE, BURST, -5.0, 0);
  g_assert_cmpfloat(b.tokens, ==, BURST);
}

/* A clock that goes back (it should not, but) earns nothing. */
static void
test_clock_back(void)
{
  BfdBucket b;

  bfd_bucket_init(&b, BURST, 10 * SEC);
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, BURST, 10 * SEC));
  g_assert_false(bfd_bucket_take(&b, RATE, BURST, 1.0, 5 * SEC));
  g_assert_false(bfd_bucket_take(&b, RATE, BURST, 1.0, 10 * SEC));
  g_assert_true(bfd_bucket_take(&b, RATE, BURST, 1.0, 10 * SEC + SEC / 20));
}

/* The defaults against token guessing: a wrong ATTACH costs 1 + 4, and a
 * good one gives its token back; after the burst a guesser gets 4 tries a
 * second while a client re-attaching its paths is never held back. */
static void
test_guessing(void)
{
  BfdBucket b;
  int tries = 0;

  bfd_bucket_init(&b, BURST, 0);
  while (bfd_bucket_take(&b, RATE, BURST, 1.0, 0)) {
    bfd_bucket_charge(&b, RATE, BURST, 4.0, 0);
    tries++;
  }
  g_assert_cmpint(tries, ==, 8);
  tries = 0;
  for (gint64 t = 0; t < 10 * SEC; t += SEC / 100)
    if (bfd_bucket_take(&b, RATE, BURST, 1.0, t)) {
      bfd_bucket_charge(&b, RATE, BURST, 4.0, t);
      tries++;
    }
  g_assert_cmpint(tries, >=, 36);
  g_assert_cmpint(tries, <=, 41);

  bfd_bucket_init(&b, BURST, 0);
  for (int i = 0; i < 1000; i++) {
    g_assert_true(bfd_bucket_take(&b, RATE, BURST, 1.0, 0));
    bfd_bucket_charge(&b, RATE, BURST, -1.0, 0);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/bucket/burst", test_burst);
  g_test_add_func("/bucket/refill", test_refill);
  g_test_add_func("/bucket/cap", test_cap);
  g_test_add_func("/bucket/penalty", test_penalty);
  g_test_add_func("/bucket/refund", test_refund);
  g_test_add_func("/bucket/clock-back", test_clock_back);
  g_test_add_func("/bucket/guessing", test_guessing);
  return g_test_run();
}
