/* A token bucket: pure arithmetic on a clock the caller passes in, so it
 * is unit-tested alone (tests/unit/test-bucket.c). */
#pragma once

#include <glib.h>

typedef struct {
  double tokens;
  gint64 stamp;    /* microseconds of the last refill */
} BfdBucket;

/* A full bucket. */
void bfd_bucket_init(BfdBucket *b, double burst, gint64 now);

/* Takes cost tokens if the bucket (refilled at rate per second, up to
 * burst) holds that many. */
gboolean bfd_bucket_take(BfdBucket *b, double rate, double burst, double cost,
                         gint64 now);

/* Charges cost unconditionally (a penalty: the bucket may go below zero,
 * down to -burst, which delays the next take) or, negative, refunds it
 * (up to burst). */
void bfd_bucket_charge(BfdBucket *b, double rate, double burst, double cost,
                       gint64 now);

/* Whether the bucket is back to burst: it then remembers nothing. */
gboolean bfd_bucket_full(BfdBucket *b, double rate, double burst, gint64 now);
