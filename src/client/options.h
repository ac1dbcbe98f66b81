/* braidfs's -o options: one table (options.c) for parsing, ranges,
 * defaults and --help (see braidfs/opts.h). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/opts.h"

typedef struct {
  unsigned paths;
  GPtrArray *path;       /* path= values, in order; replaces paths */
  GPtrArray *server;     /* server= values: other servers on the store */
  uint64_t chunk_size;
  char *scheduler;
  char *coding;
  gboolean hide_names;   /* shamir: names travel as shares */
  unsigned window;
  uint64_t inflight_max;
  char *delivery;        /* close or async; spool= implies async */
  char *spool;           /* NULL: none */
  char *label;           /* NULL: none */
  unsigned timeout_ms;
  unsigned stall_ms;
  char *key_file;        /* NULL: no key */
  gboolean insecure;     /* no key, yet a server not on loopback */
} BfcOptions;

extern const BfOptSpec bfc_options[];
