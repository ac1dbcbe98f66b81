/* Shared by the fuzz targets (fuzz-*.c) and the corpus replay driver
 * (replay.c). A target is one LLVMFuzzerTestOneInput(); it is linked either
 * with libFuzzer (clang, -fsanitize=fuzzer) or with replay.c, which feeds it
 * every file of a seed corpus so that `meson test --suite fuzz` replays the
 * corpora with any compiler. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The libFuzzer entry point. Returns 0; a broken invariant aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test. Not assert(): it must hold in
 * release builds too, and its failure must be a crash libFuzzer records. */
#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (G_UNLIKELY(!(cond))) {                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                      \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* Once per process: a g_return_if_fail() in the core means a target drove
 * it against its contract, or the core broke its own; either way a finding,
 * not a line on stderr. */
static inline void
fuzz_init(void)
{
  static gboolean done;

  if (!done) {
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    done = TRUE;
  }
}

/* A target's input read front to back as big-endian numbers of n (1..8)
 * bytes: the choices that drive it. */
typedef struct {
  const uint8_t *p;
  size_t left;
} FuzzReader;

/* The next n bytes as a number in *v; FALSE when fewer are left (the
 * input is used up: the target stops). */
static inline gboolean
fuzz_rd(FuzzReader *r, size_t n, uint64_t *v)
{
  uint64_t x = 0;

  if (r->left < n)
    return FALSE;
  for (size_t i = 0; i < n; i++)
    x = x << 8 | r->p[i];
  r->p += n;
  r->left -= n;
  *v = x;
  return TRUE;
}
