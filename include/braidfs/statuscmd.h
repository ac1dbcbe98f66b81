/* What `braidfs status` and `braidfsd status` share: the options
 * (--json, --watch SECS, the mounts), pretty JSON, and the loop that
 * prints a round and, with --watch, clears the terminal and redraws it.
 * Each command reads and lays out its own files. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  gboolean json;    /* --json */
  double watch;     /* --watch SECS; 0: print once */
  char **rest;      /* the mounts named, or NULL */
} BfStatusArgs;

/* Parses what follows argv[1] ("status"); argv[1] is overwritten.
 * params and json_help are for --help. On failure *a holds nothing. */
gboolean bf_status_args_parse(int argc, char **argv, const char *params,
                              const char *summary, const char *json_help,
                              BfStatusArgs *a, GError **error);
void bf_status_args_clear(BfStatusArgs *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(BfStatusArgs, bf_status_args_clear)

/* root as indented JSON text, newly allocated. */
char *bf_status_json(JsonNode *root);

typedef enum {
  BF_STATUS_SHOWN,      /* all of it in out */
  BF_STATUS_PARTIAL,    /* some could not be read (said on stderr): out
                         * holds the rest; exit status 1 */
  BF_STATUS_FAILED,     /* nothing to show (said on stderr): exit 1 now,
                         * even under --watch */
} BfStatusRound;

/* Runs round(out, data) once, or every watch seconds until interrupted,
 * printing out each time; returns the exit status. */
int bf_status_run(double watch, BfStatusRound (*round)(GString *out,
                                                       gpointer data),
                  gpointer data);

G_END_DECLS
