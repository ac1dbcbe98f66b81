#include "bucket.h"

static void
refill(BfdBucket *b, double rate, double burst, gint64 now)
{
  if (now > b->stamp) {
    b->tokens = MIN(burst, b->tokens + rate * (double)(now - b->stamp) / G_USEC_PER_SEC);
    b->stamp = now;
  }
}

void
bfd_bucket_init(BfdBucket *b, double burst, gint64 now)
{
  b->tokens = burst;
  b->stamp = now;
}

gboolean
bfd_bucket_take(BfdBucket *b, double rate, double burst, double cost,
                gint64 now)
{
  refill(b, rate, burst, now);
  if (b->tokens < cost)
    return FALSE;
  b->tokens -= cost;
  return TRUE;
}

void
bfd_bucket_charge(BfdBucket *b, double rate, double burst, double cost,
                  gint64 now)
{
  refill(b, rate, burst, now);
  b->tokens = CLAMP(b->tokens - cost, -burst, burst);
}

gboolean
bfd_bucket_full(BfdBucket *b, double rate, double burst, gint64 now)
{
  refill(b, rate, burst, now);
  return b->tokens >= burst;
}
