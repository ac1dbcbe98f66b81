/* Table-driven command-line options for both daemons.
 *
 * Each daemon describes its -o options once, in a table of BfOptSpec
 * (name, type, where the value goes, default, range, one line of help);
 * that table drives parsing, range checks, defaults and the --help text,
 * so none of them is written twice. Parsing goes through libfuse's
 * fuse_opt: it takes the table's options and the common flags (-h, -V, -f,
 * -d) out of the arguments and leaves the rest (the mountpoint, FUSE's own
 * -o options) for fuse_main.
 *
 *   static const BfOptSpec table[] = {
 *     { "paths", BF_OPT_UINT, offsetof(Options, paths), "4", 1, 64,
 *       "N", "TCP connections" },
 *     { "chunk_size", BF_OPT_SIZE, offsetof(Options, chunk_size), "256K",
 *       4096, 16 << 20, NULL, "bytes per chunk" },
 *     BF_OPT_END
 *   };
 *
 *   Options values;
 *   g_autoptr(BfOpts) o = bf_opts_new(table, &values, 1);  // defaults set
 *   if (!bf_opts_parse(o, &args, &flags, &error)) ...      // -o name=... 
 *
 * Errors (G_OPTION_ERROR_BAD_VALUE) name the option, the value given and
 * the accepted form or range: "paths=0 is out of range (1 to 64)". A
 * broken table (a default that does not parse or is out of its own range,
 * a name twice) is a programming error: bf_opts_new aborts naming it, so
 * every daemon's unit test that builds its table catches it.
 */
#pragma once

#include <fuse_opt.h>
#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

G_BEGIN_DECLS

/* The field each type writes, and what min and max bound. */
typedef enum {
  BF_OPT_UINT,     /* unsigned: decimal; the value in [min, max] */
  BF_OPT_SIZE,     /* uint64_t bytes: 4096, 64K, 1M, 2G, 1T; in [min, max] */
  BF_OPT_SECONDS,  /* unsigned milliseconds, written in seconds (10, 0.25);
                      min and max in milliseconds, max <= UINT_MAX */
  BF_OPT_STRING,   /* char *: any text; max > 0 bounds its length in bytes */
  BF_OPT_PATH,     /* char *: a file or directory name, not empty (kept as
                      given: the daemons open every path before detaching) */
  BF_OPT_CHOICE,   /* char *: one of the words of metavar ("dynamic|rr") */
  BF_OPT_BOOL,     /* gboolean: "name" alone, or name=yes|no|true|false|1|0 */
  BF_OPT_LIST,     /* GPtrArray * of char *: repeatable, kept in order; the
                      default (one entry) applies when none is given */
} BfOptType;

typedef struct {
  const char *name;     /* as in -o name=value */
  BfOptType type;
  size_t offset;        /* of its field in the daemon's values struct */
  const char *def;      /* default as a user would write it; NULL: none
                           (the field stays 0 / NULL / empty) */
  uint64_t min, max;    /* see BfOptType; max 0: no upper bound (SIZE,
                           STRING only: UINT and SECONDS need one) */
  const char *metavar;  /* "N", "DIR", ...; NULL: by type. CHOICE: the
                           choices, separated by '|' */
  const char *help;     /* one line; the range and default are added */
} BfOptSpec;

#define BF_OPT_END { NULL, 0, 0, NULL, 0, 0, NULL, NULL }

/* The flags every daemon takes besides its table. -d implies -f. */
typedef struct {
  gboolean help;        /* -h, --help */
  gboolean version;     /* -V, --version */
  gboolean foreground;  /* -f (also left for libfuse) or -d */
  gboolean debug;       /* -d (given to libfuse as -f: its own -d would
                           dump every request) */
} BfOptsFlags;

typedef struct BfOpts BfOpts;

/* Sets every field the table names in values to its default (or to 0,
 * NULL, an empty list without one). n_positional:
 * how many leading non-option arguments the daemon takes itself (the
 * client's HOST); later ones stay for libfuse. The table and values must
 * outlive the BfOpts, which owns the strings and lists it puts in values. */
BfOpts *bf_opts_new(const BfOptSpec *table, void *values, guint n_positional);
/* Frees the strings and lists in values too. */
void bf_opts_free(BfOpts *o);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfOpts, bf_opts_free)

/* Takes the table's options and the common flags out of args, checks
 * each value and stores it. Several -o are merged; for all but lists the
 * last value given wins. FALSE with error at the first bad value. */
gboolean bf_opts_parse(BfOpts *o, struct fuse_args *args, BfOptsFlags *flags,
                       GError **error);
/* The i-th positional argument taken, or NULL. */
const char *bf_opts_positional(const BfOpts *o, guint i);
/* Whether the user gave option name (as opposed to its default). */
gboolean bf_opts_given(const BfOpts *o, const char *name);

/* The table as --help lines, one option each, wrapped at 79 columns:
 *   "    -o chunk_size=SIZE     bytes per chunk (4K to 16M, default 256K)" */
void bf_opts_help(const BfOpts *o, GString *out);
/* What -V prints on stdout: "PROG VERSION (protocol N, libfuse V)". */
void bf_opts_print_version(const char *prog);

G_END_DECLS
