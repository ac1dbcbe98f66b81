/* braidfs: the client. Mounts an outbox whose files are sent to a braidfsd
 * server over several TCP connections of one session. */
#include "client.h"
#include "deliver.h"
#include "spool.h"

#include <fuse.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "braidfs/log.h"
#include "braidfs/parse.h"

#define DEFAULT_PORT 7411

typedef struct {
  char *server;
  GPtrArray *path_list;       /* path= values, in order */
  unsigned paths;
  char *chunk_size;
  char *scheduler;
  unsigned window;
  char *delivery;
  char *label;
  unsigned timeout;
  char *stall;
  char *key_file;
  char *spool;
  char *coding;
  int show_help, show_version, debug, foreground;
} Opts;

enum { KEY_HELP, KEY_VERSION, KEY_DEBUG, KEY_FG, KEY_PATH };

#define OPT(t, p) { t, offsetof(Opts, p), 1 }
static const struct fuse_opt opt_spec[] = {
  OPT("paths=%u", paths),
  OPT("chunk_size=%s", chunk_size),
  OPT("scheduler=%s", scheduler),
  OPT("window=%u", window),
  OPT("delivery=%s", delivery),
  OPT("label=%s", label),
  OPT("timeout=%u", timeout),
  OPT("stall=%s", stall),
  OPT("key_file=%s", key_file),
  OPT("spool=%s", spool),
  OPT("coding=%s", coding),
  FUSE_OPT_KEY("-h", KEY_HELP),
  FUSE_OPT_KEY("--help", KEY_HELP),
  FUSE_OPT_KEY("-V", KEY_VERSION),
  FUSE_OPT_KEY("--version", KEY_VERSION),
  FUSE_OPT_KEY("-d", KEY_DEBUG),
  FUSE_OPT_KEY("-f", KEY_FG),
  FUSE_OPT_KEY("path=", KEY_PATH),
  FUSE_OPT_END
};

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
  Opts *o = data;

  switch (key) {
  case FUSE_OPT_KEY_NONOPT:
    if (o->server == NULL) {
      o->server = g_strdup(arg);
      return 0;
    }
    return 1;
  case KEY_HELP:
    o->show_help = 1;
    return 0;
  case KEY_VERSION:
    o->show_version = 1;
    return 0;
  case KEY_FG:
    o->foreground = 1;
    return 1;
  case KEY_PATH:
    g_ptr_array_add(o->path_list, g_strdup(arg + strlen("path=")));
    return 0;
  case KEY_DEBUG:
    o->debug = o->foreground = 1;
    return fuse_opt_add_arg(out, "-f") == 0 ? 0 : -1;
  default:
    return 1;
  }
}

static void
usage(void)
{
  printf("usage: braidfs HOST[:PORT] MOUNTPOINT [-o OPTIONS] [-f] [-d]\n"
         "       braidfs keygen FILE\n\n"
         "Mounts an outbox: files written into MOUNTPOINT are delivered to the\n"
         "braidfsd server at HOST:PORT (default port %d) over several TCP paths.\n\n"
         "options:\n"
         "    -o paths=N             TCP connections (1..%d, default 4)\n"
         "    -o path=ADDR:PORT[@SRCADDR|%%IFACE]  one path to its own address,\n"
         "                           from a source address or interface;\n"
         "                           repeatable, replaces paths=N\n"
         "    -o chunk_size=SIZE     bytes per chunk (4K..16M, default 256K)\n"
         "    -o scheduler=dynamic|rr  chunk placement (default dynamic)\n"
         "    -o coding=stripe|shamir:K/N|rs:K/N  each chunk whole on one path\n"
         "                           (default), or as N shares on N distinct paths,\n"
         "                           any K of which rebuild it (shamir: fewer than\n"
         "                           K reveal nothing; rs: N-K paths may die)\n"
         "    -o window=N            unacknowledged chunks per path (default 4)\n"
         "    -o delivery=close      close(2) returns once the server stored the file\n"
         "    -o delivery=async      close(2) returns once the spool holds the file;\n"
         "                           it is delivered in the background (needs spool=)\n"
         "    -o spool=DIR           keeps files until the server stored them, and\n"
         "                           the session, across crashes (implies async)\n"
         "    -o label=TEXT          label shown in the server's session directory\n"
         "    -o timeout=SECONDS     with every path down, fail waiting writes and\n"
         "                           closes after this long (default 60)\n"
         "    -o stall=SECONDS       a path that makes no progress this long is\n"
         "                           dropped and re-attached (default 2)\n"
         "    -o key_file=FILE       pre-shared key (32 bytes, or 64 hex digits;\n"
         "                           mode 600): authenticate and encrypt every\n"
         "                           path; the server needs the same key\n"
         "    -f                     stay in the foreground\n"
         "    -d                     debug log (implies -f)\n"
         "    -h, --help             this help\n"
         "    -V, --version          version\n"
         "FUSE options (-o allow_other, ...) are passed to libfuse.\n"
         "keygen FILE writes a new random key to FILE (mode 600).\n"
         "See braidfs(1).\n", DEFAULT_PORT, BFC_MAX_PATHS);
}

static gboolean
build_config(Opts *o, BfcConfig *cfg, GError **error)
{
  uint64_t cs = BF_CHUNK_DEFAULT;

  if (o->server == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                "missing HOST[:PORT] (see braidfs -h)");
    return FALSE;
  }
  if (!bf_parse_hostport(o->server, DEFAULT_PORT, &cfg->host, &cfg->port, error))
    return FALSE;
  cfg->explicit_paths = o->path_list->len > 0;
  cfg->n_paths = cfg->explicit_paths ? o->path_list->len : o->paths;
  if (cfg->n_paths < 1 || cfg->n_paths > BFC_MAX_PATHS) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%u paths: must be 1..%d", cfg->n_paths, BFC_MAX_PATHS);
    return FALSE;
  }
  cfg->specs = g_new0(BfcPathSpec, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    if (!cfg->explicit_paths) {
      cfg->specs[i].host = g_strdup(cfg->host);
      cfg->specs[i].port = cfg->port;
    } else if (!bfc_path_spec_parse(o->path_list->pdata[i], DEFAULT_PORT,
                                    &cfg->specs[i], error)) {
      return FALSE;
    }
  }
  if (o->chunk_size) {
    if (!bf_parse_size(o->chunk_size, &cs, error))
      return FALSE;
    if (cs < BF_CHUNK_MIN || cs > BF_CHUNK_MAX) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "chunk_size=%s: must be 4K..16M", o->chunk_size);
      return FALSE;
    }
  }
  cfg->chunk_size = (uint32_t)cs;
  if (o->scheduler && !bf_sched_parse(o->scheduler, &cfg->sched)) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "scheduler=%s: use dynamic or rr", o->scheduler);
    return FALSE;
  }
  cfg->coding = (BfCodingSpec){ BF_CODING_STRIPE, 1, 1 };
  if (o->coding && !bf_coding_parse(o->coding, &cfg->coding, error))
    return FALSE;
  if (cfg->coding.n > cfg->n_paths) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "coding=%s sends every chunk as %u shares on %u distinct "
                "paths, and there are %u (use paths=%u or more, or one path= "
                "per link)", o->coding, cfg->coding.n, cfg->coding.n,
                cfg->n_paths, cfg->coding.n);
    return FALSE;
  }
  if (o->delivery && strcmp(o->delivery, "close") != 0 &&
      strcmp(o->delivery, "async") != 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "delivery=%s: use close or async", o->delivery);
    return FALSE;
  }
  if (o->delivery && strcmp(o->delivery, "async") == 0 && o->spool == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "delivery=async needs spool=DIR, a directory on a local disk "
                "that keeps files until the server has them");
    return FALSE;
  }
  if (o->spool && o->delivery && strcmp(o->delivery, "close") == 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "spool=%s is for delivery=async; drop delivery=close", o->spool);
    return FALSE;
  }
  if (o->label && strlen(o->label) > BF_LABEL_MAX) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "label is longer than %d bytes", BF_LABEL_MAX);
    return FALSE;
  }
  if (o->key_file != NULL && (cfg->key = bf_key_load(o->key_file, error)) == NULL)
    return FALSE;
  cfg->label = o->label;
  cfg->window = MAX(o->window, 1u);
  cfg->timeout_s = MAX(o->timeout, 1u);
  cfg->stall_ms = 2000;
  if (o->stall) {
    char *end;
    double secs = g_ascii_strtod(o->stall, &end);
    if (*end != '\0' || end == o->stall || !(secs >= 0.2 && secs <= 600)) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "stall=%s: must be 0.2..600 seconds", o->stall);
      return FALSE;
    }
    cfg->stall_ms = (unsigned)(secs * 1000);
  }
  return TRUE;
}

static void
config_clear(BfcConfig *cfg)
{
  for (unsigned i = 0; cfg->specs != NULL && i < cfg->n_paths; i++)
    bfc_path_spec_clear(&cfg->specs[i]);
  g_free(cfg->specs);
  g_free(cfg->host);
  bf_key_free((BfKey *)cfg->key);
}

static void
opts_clear(Opts *o)
{
  g_ptr_array_unref(o->path_list);
  g_free(o->server);
  g_free(o->chunk_size);
  g_free(o->scheduler);
  g_free(o->delivery);
  g_free(o->label);
  g_free(o->stall);
  g_free(o->key_file);
  g_free(o->spool);
  g_free(o->coding);
}

/* braidfs keygen FILE */
static int
keygen(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;

  if (argc != 3) {
    g_printerr("usage: braidfs keygen FILE\n");
    return 2;
  }
  bf_crypto_init();
  if (!bf_key_generate(argv[2], &error)) {
    g_printerr("braidfs: keygen: %s\n", error->message);
    return 1;
  }
  printf("braidfs: wrote a new key to %s; copy it to the server over a "
         "secure channel and use -o key_file=%s on both sides\n", argv[2],
         argv[2]);
  return 0;
}

/* delivery=async: the spool says which session to join, if any. */
static BfcSpool *
open_spool(const char *dir, BfcConfig *cfg, BfcSpoolSession *ss, GError **error)
{
  BfcSpool *sp = bfc_spool_open(dir, error);
  g_autofree char *server = bf_format_hostport(cfg->host, cfg->port);

  if (sp == NULL)
    return NULL;
  if (!bfc_spool_load_session(sp, ss, error)) {
    if (*error != NULL) {
      bfc_spool_close(sp);
      return NULL;
    }
    return sp;
  }
  if (strcmp(ss->server, server) != 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                "spool %s belongs to server %s; use another spool for %s",
                dir, ss->server, server);
    bfc_spool_close(sp);
    return NULL;
  }
  cfg->attach = TRUE;
  memcpy(cfg->attach_id, ss->id, BF_ID_LEN);
  memcpy(cfg->attach_token, ss->token, BF_ID_LEN);
  return sp;
}

/* Records the session in the spool, and reserves this mount's ids: each
 * mount takes the next 2^32, so that ids keep increasing for the server
 * across crashes without a write per id. */
static BfcDelivery *
start_delivery(BfcSession *s, BfcSpool *sp, BfcSpoolSession *ss, GError **error)
{
  uint64_t floor = ss->id_floor;

  g_free(ss->server);
  ss->server = bfc_session_server(s);
  bfc_session_ids(s, ss->id, ss->token);
  ss->id_floor = floor + ((uint64_t)1 << 32);
  if (!bfc_spool_save_session(sp, ss, error))
    return NULL;
  bfc_session_set_id_floor(s, floor);
  return bfc_delivery_new(s, sp);
}

int
main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  Opts o = { .paths = 4, .window = 4, .timeout = 60 };
  BfcConfig cfg = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *names = NULL;
  g_autofree char *server = NULL;
  BfcSession *s = NULL;
  BfcSpool *sp = NULL;
  BfcDelivery *d = NULL;
  BfcSpoolSession ss = { 0 };
  int rc = 1;

  if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
    return keygen(argc, argv);
  o.path_list = g_ptr_array_new_with_free_func(g_free);
  if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) < 0)
    goto out;
  if (o.show_help || o.show_version) {
    if (o.show_help)
      usage();
    else
      printf("braidfs %s (protocol %d, libfuse %s)\n", BRAIDFS_VERSION,
             BF_PROTOCOL_VERSION, fuse_pkgversion());
    rc = 0;
    goto out;
  }
  bf_log_setup("braidfs", o.debug);
  bf_crypto_init();
  signal(SIGPIPE, SIG_IGN);
  if (!build_config(&o, &cfg, &error)) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  if (o.spool != NULL && (sp = open_spool(o.spool, &cfg, &ss, &error)) == NULL) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  /* Connect before mounting: an unreachable server must fail the command,
   * not leave a mount whose every write fails. */
  s = bfc_session_connect(&cfg, &error);
  if (s == NULL) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  if (sp != NULL && (d = start_delivery(s, sp, &ss, &error)) == NULL) {
    g_printerr("braidfs: %s\n", error->message);
    bfc_session_stop(s);
    goto out;
  }
  sp = NULL;   /* owned by the delivery now */
  server = bfc_session_server(s);
  names = g_strdup_printf("-osubtype=braidfs,fsname=%s", server);
  fuse_opt_add_arg(&args, names);
  /* libfuse 3.14's default thread limit is an invalid -1 and warns. Some
   * of them always stay free of waits for the server (BFC_WAIT_SEATS). */
  fuse_opt_add_arg(&args, "-omax_threads=" G_STRINGIFY(BFC_FUSE_THREADS));
  if (!o.foreground)
    bf_log_to_syslog();
  void *outbox = bfc_outbox_new(s, d);
  rc = fuse_main(args.argc, args.argv, bfc_outbox_ops(), outbox);
  /* The outbox stops the session when the mount ends (or never started). */
  bfc_outbox_free(outbox);
out:
  bfc_spool_close(sp);
  bfc_spool_session_clear(&ss);
  fuse_opt_free_args(&args);
  opts_clear(&o);
  config_clear(&cfg);
  return rc;
}
