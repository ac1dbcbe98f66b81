/* Unit tests for the chunk scheduler (src/core/sched.c).
 *
 * bf_sched_pick() is a pure function of the per-path loads, so every test
 * here builds a BfPathLoad array by hand (or evolves one in a small
 * discrete-time simulation) and checks the decision. */
#include "braidfs/sched.h"

#include <string.h>

#define MAX_PATHS 8
#define CHUNK_LEN (64u * 1024)

/* ---- helpers ----------------------------------------------------------- */

/* n alive, idle paths, all with the same rate (0 = unknown). */
static void
paths_init(BfPathLoad *p, unsigned n, double rate)
{
  memset(p, 0, n * sizeof *p);
  for (unsigned i = 0; i < n; i++) {
    p[i].alive = TRUE;
    p[i].rate = rate;
  }
}

/* Accounts a chunk handed to path i, as the sender does. */
static void
load_chunk(BfPathLoad *p, int i, uint32_t len)
{
  g_assert_cmpint(i, >=, 0);
  p[i].inflight++;
  p[i].inflight_bytes += len;
}

/* ---- budgets (bandwidth-delay product) -------------------------------- */

/* A budget lets a path hold more bytes than window chunks, never more than
 * the budget; window stays a floor below a smaller budget. */
static void
test_budget_room(void)
{
  BfPathLoad p[1];

  paths_init(p, 1, 1e6);
  p[0].budget = 10 * CHUNK_LEN;
  for (unsigned i = 0; i < 10; i++) {
    g_assert_true(bf_sched_has_room(&p[0], 4, CHUNK_LEN));
    g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 1, 4, i, CHUNK_LEN),
                    ==, 0);
    load_chunk(p, 0, CHUNK_LEN);
  }
  g_assert_false(bf_sched_has_room(&p[0], 4, CHUNK_LEN));
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 1, 4, 10, CHUNK_LEN),
                  ==, -1);
  g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, p, 1, 4, 10, CHUNK_LEN), ==, -1);
  /* a budget below window chunks: the window still applies */
  paths_init(p, 1, 1e6);
  p[0].budget = CHUNK_LEN;
  load_chunk(p, 0, CHUNK_LEN);
  g_assert_true(bf_sched_has_room(&p[0], 4, CHUNK_LEN));
}

/* The expected acknowledgement is at least a round trip away: bytes on
 * the link already (rate x rtt) do not delay a new chunk further. */
static void
test_budget_eta_round_trip(void)
{
  BfPathLoad p[1];

  paths_init(p, 1, 1e6);
  p[0].rtt = 0.5;
  g_assert_cmpfloat_with_epsilon(bf_sched_eta(&p[0], 1, 100000), 0.6, 1e-9);
  p[0].inflight_bytes = 400000;   /* less than rate x rtt */
  g_assert_cmpfloat_with_epsilon(bf_sched_eta(&p[0], 1, 100000), 0.6, 1e-9);
  p[0].inflight_bytes = 700000;   /* 0.2 s queued beyond the link */
  g_assert_cmpfloat_with_epsilon(bf_sched_eta(&p[0], 1, 100000), 0.8, 1e-9);
}

/* Two equal rates, round trips of 10 and 80 ms: a chunk goes on the short
 * path until what it has queued would take longer than the long path's
 * round trip; the long path still takes chunks then (the stream fills both),
 * and no path takes more than its budget. */
static void
test_budget_unequal_round_trips(void)
{
  BfPathLoad p[2];
  unsigned count[2] = { 0 };

  paths_init(p, 2, 12.5e6);                /* 100 Mbit/s each */
  p[0].rtt = 0.010;
  p[1].rtt = 0.080;
  p[0].budget = 2 * 125000 + CHUNK_LEN;    /* 2 x BDP, 10 ms */
  p[1].budget = 2 * 1000000;               /* 2 x BDP, 80 ms */
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 2, 1, 0, CHUNK_LEN), ==,
                  0);
  for (uint32_t chunk = 0; chunk < 100; chunk++) {
    int got = bf_sched_pick(BF_SCHED_DYNAMIC, p, 2, 1, chunk, CHUNK_LEN);
    if (got < 0)
      break;
    load_chunk(p, got, CHUNK_LEN);
    count[got]++;
  }
  g_assert_cmpuint(count[0], >=, 2);
  g_assert_cmpuint(count[1], >=, 2);
  g_assert_cmpuint(p[0].inflight_bytes, <=, p[0].budget);
  g_assert_cmpuint(p[1].inflight_bytes, <=, p[1].budget);
  /* both full now */
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 2, 1, 100, CHUNK_LEN),
                  ==, -1);
}

/* ---- round robin ------------------------------------------------------- */

/* Acceptance criterion: "rr puts chunk i on path i mod N". With every path
 * alive and every window empty, chunk i goes to path i % N for any N. */
static void
test_rr_chunk_i_on_path_i_mod_n(void)
{
  BfPathLoad paths[MAX_PATHS];

  for (unsigned n = 1; n <= MAX_PATHS; n++) {
    paths_init(paths, n, 0);
    for (uint32_t chunk = 0; chunk <= 10 * n; chunk++) {
      int got = bf_sched_pick(BF_SCHED_RR, paths, n, 4, chunk, CHUNK_LEN);
      g_assert_cmpint(got, ==, (int)(chunk % n));
    }
  }
}

/* The rule holds whatever the other paths' loads and rates are: rr does not
 * look at them. */
static void
test_rr_ignores_other_paths_load(void)
{
  BfPathLoad paths[MAX_PATHS];
  const uint32_t window = 4;

  for (unsigned n = 1; n <= MAX_PATHS; n++) {
    paths_init(paths, n, 0);
    for (unsigned i = 0; i < n; i++) {
      paths[i].rate = 1000.0 * (i + 1);
      paths[i].inflight = window - 1; /* one slot left everywhere */
      paths[i].inflight_bytes = (uint64_t)(window - 1) * CHUNK_LEN * (n - i);
    }
    for (uint32_t chunk = 0; chunk <= 10 * n; chunk++)
      g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, paths, n, window, chunk,
                                    CHUNK_LEN), ==, (int)(chunk % n));
  }
}

/* When path i mod N has a full window, rr returns -1 and never hands the
 * chunk to another, idle, path; a dead path's turn goes to the next live
 * path (in index order), so a lost path does not stop a transfer. */
static void
test_rr_full_or_dead_path_holds_chunk(void)
{
  BfPathLoad paths[MAX_PATHS];
  const uint32_t window = 3;

  for (unsigned n = 1; n <= MAX_PATHS; n++) {
    for (unsigned blocked = 0; blocked < n; blocked++) {
      for (int how = 0; how < 3; how++) {
        paths_init(paths, n, 1e6);
        if (how == 0)
          paths[blocked].inflight = window;       /* exactly full */
        else if (how == 1)
          paths[blocked].inflight = window + 5;   /* over full */
        else
          paths[blocked].alive = FALSE;           /* dead, empty window */

        for (uint32_t chunk = 0; chunk <= 10 * n; chunk++) {
          int got = bf_sched_pick(BF_SCHED_RR, paths, n, window, chunk,
                                  CHUNK_LEN);
          if (chunk % n != blocked)
            g_assert_cmpint(got, ==, (int)(chunk % n));
          else if (how < 2 || n == 1)
            g_assert_cmpint(got, ==, -1);
          else  /* a dead path's turn goes to the next live one */
            g_assert_cmpint(got, ==, (int)((blocked + 1) % n));
        }
      }
    }
  }
}

/* One free slot is enough: inflight == window - 1 still takes the chunk. */
static void
test_rr_window_boundary(void)
{
  BfPathLoad paths[2];

  paths_init(paths, 2, 0);
  paths[1].inflight = 7;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, paths, 2, 8, 1, CHUNK_LEN), ==, 1);
  paths[1].inflight = 8;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, paths, 2, 8, 1, CHUNK_LEN), ==, -1);
  paths[1].inflight = 0;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, paths, 2, 1, 3, CHUNK_LEN), ==, 1);
  paths[1].inflight = 1;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, paths, 2, 1, 3, CHUNK_LEN), ==, -1);
}

/* Large chunk ids wrap the same way (no signed overflow in the modulo). */
static void
test_rr_large_chunk_ids(void)
{
  BfPathLoad paths[MAX_PATHS];
  const uint32_t ids[] = { G_MAXUINT32, G_MAXUINT32 - 1, 1u << 31,
                           (1u << 31) - 1, 1000003 };

  for (unsigned n = 1; n <= MAX_PATHS; n++) {
    paths_init(paths, n, 0);
    for (size_t k = 0; k < G_N_ELEMENTS(ids); k++)
      g_assert_cmpint(bf_sched_pick(BF_SCHED_RR, paths, n, 4, ids[k],
                                    CHUNK_LEN), ==, (int)(ids[k] % n));
  }
}

/* ---- dynamic ----------------------------------------------------------- */

/* Equal (unknown, or equal known) rates: the least loaded path wins, for
 * each possible position of the least loaded path. */
static void
test_dynamic_least_loaded(void)
{
  const double rates[] = { 0, 5e6 };
  BfPathLoad paths[MAX_PATHS];

  for (size_t r = 0; r < G_N_ELEMENTS(rates); r++) {
    for (unsigned n = 1; n <= MAX_PATHS; n++) {
      for (unsigned least = 0; least < n; least++) {
        paths_init(paths, n, rates[r]);
        for (unsigned i = 0; i < n; i++) {
          paths[i].inflight = 2;
          paths[i].inflight_bytes = 2 * CHUNK_LEN + 1000 * (i + 1);
        }
        paths[least].inflight = 1;
        paths[least].inflight_bytes = CHUNK_LEN;
        g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, n, 8, 0,
                                      CHUNK_LEN), ==, (int)least);
      }
    }
  }
}

/* Handing out chunks one after another with no acknowledgements spreads
 * them evenly over equal paths: the counts never differ by more than one. */
static void
test_dynamic_even_spread(void)
{
  BfPathLoad paths[MAX_PATHS];
  unsigned count[MAX_PATHS];

  for (unsigned n = 1; n <= MAX_PATHS; n++) {
    paths_init(paths, n, 0);
    memset(count, 0, sizeof count);
    for (uint32_t chunk = 0; chunk < 10 * n; chunk++) {
      int got = bf_sched_pick(BF_SCHED_DYNAMIC, paths, n, 1000, chunk,
                              CHUNK_LEN);
      g_assert_cmpint(got, >=, 0);
      g_assert_cmpint(got, <, (int)n);
      load_chunk(paths, got, CHUNK_LEN);
      count[got]++;
      unsigned lo = G_MAXUINT, hi = 0;
      for (unsigned i = 0; i < n; i++) {
        lo = MIN(lo, count[i]);
        hi = MAX(hi, count[i]);
      }
      g_assert_cmpuint(hi - lo, <=, 1);
    }
  }
}

/* The least loaded path is skipped when it is dead or its window is full;
 * the next least loaded one is chosen instead. */
static void
test_dynamic_skips_dead_and_full(void)
{
  BfPathLoad paths[4];
  const uint32_t window = 4;

  for (int how = 0; how < 2; how++) {
    paths_init(paths, 4, 0);
    /* loads: path 2 < path 0 < path 3 < path 1 */
    paths[0].inflight = 2; paths[0].inflight_bytes = 2 * CHUNK_LEN;
    paths[1].inflight = 3; paths[1].inflight_bytes = 3 * CHUNK_LEN + 10;
    paths[2].inflight = 1; paths[2].inflight_bytes = 1;
    paths[3].inflight = 3; paths[3].inflight_bytes = 3 * CHUNK_LEN;
    g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 4, window, 0,
                                  CHUNK_LEN), ==, 2);
    if (how == 0) {
      paths[2].alive = FALSE;
    } else {
      /* full by count even though few bytes are in flight */
      paths[2].inflight = window;
    }
    g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 4, window, 0,
                                  CHUNK_LEN), ==, 0);
    paths[0].alive = FALSE;
    g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 4, window, 0,
                                  CHUNK_LEN), ==, 3);
    paths[3].inflight = window;
    g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 4, window, 0,
                                  CHUNK_LEN), ==, 1);
  }
}

/* A dead path is never chosen, however idle and fast it looks. */
static void
test_dynamic_never_dead(void)
{
  BfPathLoad paths[3];

  paths_init(paths, 3, 1e6);
  paths[1].alive = FALSE;
  paths[1].rate = 1e12;
  paths[0].inflight = 5;
  paths[0].inflight_bytes = 5 * CHUNK_LEN;
  paths[2].inflight = 6;
  paths[2].inflight_bytes = 6 * CHUNK_LEN;
  for (uint32_t chunk = 0; chunk < 50; chunk++) {
    int got = bf_sched_pick(BF_SCHED_DYNAMIC, paths, 3, 1000, chunk,
                            CHUNK_LEN);
    g_assert_cmpint(got, !=, 1);
    g_assert_cmpint(got, >=, 0);
    load_chunk(paths, got, CHUNK_LEN);
  }
  g_assert_cmpuint(paths[1].inflight, ==, 0);
}

/* Every path dead or full (in any mix): -1. */
static void
test_dynamic_none_available(void)
{
  BfPathLoad paths[MAX_PATHS];
  const uint32_t window = 2;

  for (unsigned n = 1; n <= MAX_PATHS; n++) {
    /* each bit of mask picks dead (1) or full (0) for one path */
    for (unsigned mask = 0; mask < (1u << n); mask++) {
      paths_init(paths, n, 1e6);
      for (unsigned i = 0; i < n; i++) {
        if (mask & (1u << i))
          paths[i].alive = FALSE;
        else {
          paths[i].inflight = window;
          paths[i].inflight_bytes = window * CHUNK_LEN;
        }
      }
      g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, n, window, 0,
                                    CHUNK_LEN), ==, -1);
    }
  }
}

/* No path queues more than the fastest path delivers in a full window
 * (beyond two chunks, which any path may hold): a slow link never builds a
 * backlog that the end of an item would wait for. */
static void
test_dynamic_slow_path_backlog_bounded(void)
{
  BfPathLoad paths[2];
  const uint32_t window = 4;

  paths_init(paths, 2, 0);
  paths[0].rate = 8e6;                  /* full: a window is 32.8 ms */
  paths[0].inflight = window;
  paths[0].inflight_bytes = window * CHUNK_LEN;
  paths[1].rate = 1e6;                  /* 65.5 ms per chunk */
  paths[1].inflight = 1;
  paths[1].inflight_bytes = CHUNK_LEN;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 2, window, 0,
                                CHUNK_LEN), ==, 1);  /* a second chunk: yes */
  paths[1].inflight = 2;
  paths[1].inflight_bytes = 2 * CHUNK_LEN;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 2, window, 0,
                                CHUNK_LEN), ==, -1); /* a third: 197 ms, no */
  paths[1].rate = 7e6;                  /* fast enough: 28 ms for three */
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 2, window, 0,
                                CHUNK_LEN), ==, 1);
}

/* With rates 1:2:4 and room in every window, a burst of chunks is split in
 * proportion to the rates: each chunk goes where it would finish first. */
static void
test_dynamic_burst_split_by_rate(void)
{
  BfPathLoad paths[3];
  unsigned count[3] = { 0 };
  const unsigned total = 700;

  paths_init(paths, 3, 0);
  paths[0].rate = 1e6;
  paths[1].rate = 2e6;
  paths[2].rate = 4e6;
  for (uint32_t chunk = 0; chunk < total; chunk++) {
    int got = bf_sched_pick(BF_SCHED_DYNAMIC, paths, 3, 100000, chunk,
                            CHUNK_LEN);
    g_assert_cmpint(got, >=, 0);
    load_chunk(paths, got, CHUNK_LEN);
    count[got]++;
  }
  /* Ideal 100/200/400; greedy earliest-finish is off by at most one each. */
  g_assert_cmpuint(count[0], >=, 99);
  g_assert_cmpuint(count[0], <=, 101);
  g_assert_cmpuint(count[1], >=, 199);
  g_assert_cmpuint(count[1], <=, 201);
  g_assert_cmpuint(count[2], >=, 399);
  g_assert_cmpuint(count[2], <=, 401);
}

/* Discrete-time simulation of a saturated sender. Each path acknowledges
 * bytes at its true rate: every tick it drains rate*dt bytes from the front
 * of its queue and an acknowledged chunk leaves its window. Whenever
 * bf_sched_pick() returns a path, a chunk is submitted there; -1 means wait
 * for the next tick. The scheduler sees `seen_rate` (0 = unknown). Returns
 * the number of chunks each path carried in count[]. */
static void
simulate(unsigned n, const double *true_rate, const double *seen_rate,
         uint32_t window, double seconds, unsigned *count)
{
  BfPathLoad paths[MAX_PATHS];
  double head_left[MAX_PATHS]; /* unacknowledged bytes of the oldest chunk */
  const double dt = 0.001;
  uint32_t chunk = 0;

  g_assert_cmpuint(n, <=, MAX_PATHS);
  paths_init(paths, n, 0);
  for (unsigned i = 0; i < n; i++) {
    paths[i].rate = seen_rate[i];
    head_left[i] = CHUNK_LEN;
    count[i] = 0;
  }
  for (double t = 0; t < seconds; t += dt) {
    /* acknowledgements */
    for (unsigned i = 0; i < n; i++) {
      double budget = true_rate[i] * dt;
      while (paths[i].inflight > 0 && budget > 0) {
        double used = MIN(budget, head_left[i]);
        budget -= used;
        head_left[i] -= used;
        if (head_left[i] <= 0) {
          paths[i].inflight--;
          paths[i].inflight_bytes -= CHUNK_LEN;
          head_left[i] = CHUNK_LEN;
        }
      }
    }
    /* submissions */
    for (;;) {
      int got = bf_sched_pick(BF_SCHED_DYNAMIC, paths, n, window, chunk,
                              CHUNK_LEN);
      if (got < 0)
        break;
      g_assert_cmpint(got, <, (int)n);
      g_assert_true(paths[got].alive);
      g_assert_cmpuint(paths[got].inflight, <, window);
      load_chunk(paths, got, CHUNK_LEN);
      count[got]++;
      chunk++;
    }
  }
}

static void
assert_shares(unsigned n, const unsigned *count, const double *rate)
{
  double rate_sum = 0, count_sum = 0;

  for (unsigned i = 0; i < n; i++) {
    rate_sum += rate[i];
    count_sum += count[i];
  }
  g_assert_cmpfloat(count_sum, >, 500);
  for (unsigned i = 0; i < n; i++) {
    double want = rate[i] / rate_sum;
    double got = count[i] / count_sum;
    if (g_test_verbose())
      g_test_message("path %u: %u chunks, share %.3f, rate share %.3f",
                     i, count[i], got, want);
    g_assert_cmpfloat(got, >=, want * 0.75);
    g_assert_cmpfloat(got, <=, want * 1.25);
  }
}

/* Rates 1:2:4: each path's share of the chunks is within +-25% of its share
 * of the total rate, for small and large windows. */
static void
test_dynamic_sim_rates_1_2_4(void)
{
  const double rate[3] = { 1e6, 2e6, 4e6 };
  const uint32_t windows[] = { 1, 2, 4, 8, 32 };
  unsigned count[3];

  for (size_t w = 0; w < G_N_ELEMENTS(windows); w++) {
    simulate(3, rate, rate, windows[w], 10.0, count);
    assert_shares(3, count, rate);
  }
}

/* Paths whose rate is not known yet are still given chunks (probing) and,
 * in a saturated sender, carry their fair share by their true rate. */
static void
test_dynamic_sim_unknown_rates(void)
{
  const double rate[3] = { 1e6, 2e6, 4e6 };
  const double unknown[3] = { 0, 0, 0 };
  const double partly[3] = { 1e6, 0, 4e6 };
  unsigned count[3];

  simulate(3, rate, unknown, 8, 10.0, count);
  assert_shares(3, count, rate);
  simulate(3, rate, partly, 8, 10.0, count);
  assert_shares(3, count, rate);
}

/* A path with rate 0 (no estimate yet) gets picked even though the others
 * have known, high rates: it is treated as average, not as infinitely slow. */
static void
test_dynamic_probes_unknown_rate(void)
{
  BfPathLoad paths[3];

  /* idle unknown path vs busy known ones: picked at once */
  paths_init(paths, 3, 0);
  paths[0].rate = 50e6;
  paths[0].inflight = 1;
  paths[0].inflight_bytes = CHUNK_LEN;
  paths[1].rate = 80e6;
  paths[1].inflight = 1;
  paths[1].inflight_bytes = CHUNK_LEN;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 3, 8, 0,
                                CHUNK_LEN), ==, 2);

  /* all idle, the unknown one among much faster known ones: it still gets
   * a chunk within a burst of a few chunks */
  for (unsigned pos = 0; pos < 3; pos++) {
    gboolean probed = FALSE;
    paths_init(paths, 3, 100e6);
    paths[1].rate = 400e6;
    paths[pos].rate = 0;
    for (uint32_t chunk = 0; chunk < 12 && !probed; chunk++) {
      int got = bf_sched_pick(BF_SCHED_DYNAMIC, paths, 3, 1000, chunk,
                              CHUNK_LEN);
      g_assert_cmpint(got, >=, 0);
      load_chunk(paths, got, CHUNK_LEN);
      probed = got == (int)pos;
    }
    g_assert_true(probed);
  }

  /* the only path, unknown rate */
  paths_init(paths, 1, 0);
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, paths, 1, 1, 0,
                                CHUNK_LEN), ==, 0);
}

/* One path: it takes chunks until its window is full, then -1; dead: -1. */
static void
test_dynamic_single_path(void)
{
  BfPathLoad p[1];

  paths_init(p, 1, 3e6);
  for (uint32_t i = 0; i < 5; i++) {
    g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 1, 5, i, CHUNK_LEN),
                    ==, 0);
    load_chunk(p, 0, CHUNK_LEN);
  }
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 1, 5, 5, CHUNK_LEN),
                  ==, -1);
  p[0].inflight = 0;
  p[0].alive = FALSE;
  g_assert_cmpint(bf_sched_pick(BF_SCHED_DYNAMIC, p, 1, 5, 5, CHUNK_LEN),
                  ==, -1);
}

/* ---- parse / name ------------------------------------------------------ */

static void
test_parse_name_round_trip(void)
{
  const BfSchedKind kinds[] = { BF_SCHED_DYNAMIC, BF_SCHED_RR };

  g_assert_cmpstr(bf_sched_name(BF_SCHED_DYNAMIC), ==, "dynamic");
  g_assert_cmpstr(bf_sched_name(BF_SCHED_RR), ==, "rr");
  for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
    BfSchedKind out = kinds[i] == BF_SCHED_RR ? BF_SCHED_DYNAMIC : BF_SCHED_RR;
    g_assert_true(bf_sched_parse(bf_sched_name(kinds[i]), &out));
    g_assert_cmpint(out, ==, kinds[i]);
  }
}

static void
test_parse_rejects_junk(void)
{
  const char *junk[] = {
    "", "r", "RR", "Rr", "rr ", " rr", "rr\n", "rrr", "round-robin",
    "roundrobin", "d", "dyn", "Dynamic", "DYNAMIC", "dynamic ", " dynamic",
    "dynamicx", "dynamic\n", "0", "1", "rr,dynamic", "\xe2\x9c\x93",
  };

  for (size_t i = 0; i < G_N_ELEMENTS(junk); i++) {
    BfSchedKind out = BF_SCHED_RR;
    g_assert_false(bf_sched_parse(junk[i], &out));
  }
  {
    BfSchedKind out = BF_SCHED_RR;
    g_assert_false(bf_sched_parse(NULL, &out));
  }
  /* an embedded NUL ends the string: "rr\0x" is just "rr" to a C API */
  {
    static const char nul[] = { 'r', 'r', '\0', 'x', '\0' };
    BfSchedKind out = BF_SCHED_DYNAMIC;
    g_assert_true(bf_sched_parse(nul, &out));
    g_assert_cmpint(out, ==, BF_SCHED_RR);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  g_test_add_func("/sched/dynamic/slow-path-backlog-bounded",
                  test_dynamic_slow_path_backlog_bounded);
  g_test_add_func("/sched/rr/chunk-i-on-path-i-mod-n",
                  test_rr_chunk_i_on_path_i_mod_n);
  g_test_add_func("/sched/rr/ignores-other-paths-load",
                  test_rr_ignores_other_paths_load);
  g_test_add_func("/sched/rr/full-or-dead-path-holds-chunk",
                  test_rr_full_or_dead_path_holds_chunk);
  g_test_add_func("/sched/rr/window-boundary", test_rr_window_boundary);
  g_test_add_func("/sched/rr/large-chunk-ids", test_rr_large_chunk_ids);

  g_test_add_func("/sched/dynamic/least-loaded", test_dynamic_least_loaded);
  g_test_add_func("/sched/dynamic/even-spread", test_dynamic_even_spread);
  g_test_add_func("/sched/dynamic/skips-dead-and-full",
                  test_dynamic_skips_dead_and_full);
  g_test_add_func("/sched/dynamic/never-dead", test_dynamic_never_dead);
  g_test_add_func("/sched/dynamic/none-available",
                  test_dynamic_none_available);
  g_test_add_func("/sched/dynamic/single-path", test_dynamic_single_path);
  g_test_add_func("/sched/dynamic/burst-split-by-rate",
                  test_dynamic_burst_split_by_rate);
  g_test_add_func("/sched/dynamic/sim-rates-1-2-4",
                  test_dynamic_sim_rates_1_2_4);
  g_test_add_func("/sched/dynamic/sim-unknown-rates",
                  test_dynamic_sim_unknown_rates);
  g_test_add_func("/sched/dynamic/probes-unknown-rate",
                  test_dynamic_probes_unknown_rate);

  g_test_add_func("/sched/budget/room", test_budget_room);
  g_test_add_func("/sched/budget/eta-round-trip", test_budget_eta_round_trip);
  g_test_add_func("/sched/budget/unequal-round-trips",
                  test_budget_unequal_round_trips);

  g_test_add_func("/sched/parse/name-round-trip", test_parse_name_round_trip);
  g_test_add_func("/sched/parse/rejects-junk", test_parse_rejects_junk);

  return g_test_run();
}
