/* braidfsd's -o options: one table (options.c) for parsing, ranges,
 * defaults and --help (see braidfs/opts.h). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/opts.h"
#include "braidfs/wire.h"
#include "limit.h"

typedef struct {
  BfdLimits limits;      /* the numeric limits, parsed in place, except: */
  uint64_t max_chunk;    /* limits.max_chunk, as a size */
  GPtrArray *listen;     /* ADDR:PORT, in order */
  char *store;
  char *key_file;        /* NULL: no key */
  char *client_keys;     /* NULL: none (clientkeys.h) */
  gboolean insecure;     /* no key, yet other than loopback */
  char *exec_on_store;   /* NULL: none (hook.h) */
  unsigned exec_jobs;
  unsigned exec_timeout_ms;
} BfdOptions;

#define BFD_DEFAULT_PORT 7411

extern const BfOptSpec bfd_options[];
