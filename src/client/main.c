/* braidfs: the client. Mounts an outbox whose files are sent to a braidfsd
 * server over several TCP connections of one session. */
#include "client.h"
#include "deliver-async.h"
#include "deliver-close.h"
#include "options.h"
#include "outbox.h"
#include "session.h"
#include "spool.h"
#include "spooldir.h"
#include "statuscmd.h"

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "braidfs/digest.h"
#include "braidfs/log.h"
#include "braidfs/mount.h"
#include "braidfs/notify.h"
#include "braidfs/parse.h"

static void
usage(const BfOpts *o)
{
  g_autoptr(GString) text = g_string_new(NULL);

  bf_opts_help(o, text);
  printf("usage: braidfs HOST[:PORT] MOUNTPOINT [-o OPTIONS] [-f] [-d]\n"
         "       braidfs keygen FILE\n"
         "       braidfs status [--json] [--watch SECS] [MOUNT...]\n\n"
         "Mounts an outbox: files written into MOUNTPOINT are delivered to the\n"
         "braidfsd server at HOST:PORT (default port %d) over several TCP paths.\n\n"
         "options:\n"
         "%s"
         "    -f                     stay in the foreground\n"
         "    -d                     debug log (implies -f)\n"
         "    -h, --help             this help\n"
         "    -V, --version          version\n"
         "FUSE options (-o allow_other, ...) are passed to libfuse.\n"
         "Sizes take K, M, G (powers of 1024); durations are in seconds\n"
         "(0.5 for half of one).\n"
         "keygen FILE writes a new random key to FILE (mode 600).\n"
         "status shows what mounted outboxes are doing (--help for more).\n"
         "See braidfs(1).\n", BFC_DEFAULT_PORT, text->str);
}

static gboolean
build_paths(const BfcOptions *opt, BfcConfig *cfg, GError **error)
{
  cfg->explicit_paths = opt->path->len > 0;
  cfg->n_paths = cfg->explicit_paths ? opt->path->len : opt->paths;
  if (cfg->n_paths > BFC_MAX_PATHS) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "%u paths: must be 1..%d", cfg->n_paths, BFC_MAX_PATHS);
    return FALSE;
  }
  cfg->specs = g_new0(BfcPathSpec, cfg->n_paths);
  for (unsigned i = 0; i < cfg->n_paths; i++) {
    if (!cfg->explicit_paths) {
      cfg->specs[i].host = g_strdup(cfg->host);
      cfg->specs[i].port = cfg->port;
    } else if (!bfc_path_spec_parse(opt->path->pdata[i], BFC_DEFAULT_PORT,
                                    &cfg->specs[i], error)) {
      return FALSE;
    }
  }
  cfg->n_alts = opt->server->len;
  cfg->alts = g_new0(BfcPathSpec, cfg->n_alts);
  for (unsigned i = 0; i < cfg->n_alts; i++) {
    BfcPathSpec *a = &cfg->alts[i];
    if (!bfc_path_spec_parse(opt->server->pdata[i], BFC_DEFAULT_PORT, a,
                             error))
      return FALSE;
    if (a->bind_addr != NULL || a->iface != NULL) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "server=%s: only ADDR:PORT (each path keeps its own source)",
                  (char *)opt->server->pdata[i]);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
build_coding(const BfcOptions *opt, BfcConfig *cfg, GError **error)
{
  if (!bf_coding_parse(opt->coding, &cfg->coding, error))
    return FALSE;
  if (cfg->coding.n > cfg->n_paths) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "coding=%s sends every chunk as %u shares on %u distinct "
                "paths, and there are %u (use paths=%u or more, or one path= "
                "per link)", opt->coding, cfg->coding.n, cfg->coding.n,
                cfg->n_paths, cfg->coding.n);
    return FALSE;
  }
  if (opt->hide_names && cfg->coding.kind != BF_CODING_SHAMIR) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "hide_names needs coding=shamir:K/N: names are hidden by "
                "sending them as shares, one per path");
    return FALSE;
  }
  cfg->hide_names = opt->hide_names;
  return TRUE;
}

/* A spool means async (delivery=async without spool= gets the default
 * one, default_spool). */
static gboolean
check_delivery(const BfOpts *o, const BfcOptions *opt, GError **error)
{
  gboolean async = strcmp(opt->delivery, "async") == 0;

  if (opt->spool != NULL && !async && bf_opts_given(o, "delivery")) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "spool=%s is for delivery=async; drop delivery=close",
                opt->spool);
    return FALSE;
  }
  return TRUE;
}

static gboolean
build_config(const BfOpts *o, const BfcOptions *opt, BfcConfig *cfg,
             GError **error)
{
  const char *server = bf_opts_positional(o, 0);

  if (server == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                "missing HOST[:PORT] (see braidfs -h)");
    return FALSE;
  }
  if (!bf_parse_hostport(server, BFC_DEFAULT_PORT, &cfg->host, &cfg->port,
                         error) ||
      !build_paths(opt, cfg, error) || !build_coding(opt, cfg, error) ||
      !check_delivery(o, opt, error))
    return FALSE;
  if (opt->key_file != NULL &&
      (cfg->key = bf_key_load(opt->key_file, error)) == NULL)
    return FALSE;
  cfg->chunk_size = (uint32_t)opt->chunk_size;   /* <= BF_CHUNK_MAX */
  bf_sched_parse(opt->scheduler, &cfg->sched);   /* a word of the table */
  cfg->label = opt->label;
  cfg->window = opt->window;
  cfg->inflight_max = opt->inflight_max;
  cfg->timeout_s = (opt->timeout_ms + 999) / 1000;
  cfg->stall_ms = opt->stall_ms;
  cfg->insecure = opt->insecure;
  return TRUE;
}

static void
config_clear(BfcConfig *cfg)
{
  for (unsigned i = 0; cfg->specs != NULL && i < cfg->n_paths; i++)
    bfc_path_spec_clear(&cfg->specs[i]);
  g_free(cfg->specs);
  for (unsigned i = 0; cfg->alts != NULL && i < cfg->n_alts; i++)
    bfc_path_spec_clear(&cfg->alts[i]);
  g_free(cfg->alts);
  g_free(cfg->host);
  bf_key_free((BfKey *)cfg->key);
}

/* The outbox serves: a mount unit of Type=notify may go on. */
static void
ready(void *data)
{
  (void)data;
  bf_notifyf("READY=1\nSTATUS=outbox mounted");
}

/* braidfs keygen FILE */
static int
keygen(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;

  if (argc != 3) {
    g_printerr("usage: braidfs keygen FILE\n");
    return 1;
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

/* The mountpoint among what is left for libfuse. */
static char *
mountpoint(const struct fuse_args *args)
{
  struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
  struct fuse_cmdline_opts fo = { 0 };
  char *mp = NULL;

  for (int i = 0; i < args->argc; i++)
    fuse_opt_add_arg(&copy, args->argv[i]);
  if (fuse_parse_cmdline(&copy, &fo) == 0 && fo.mountpoint != NULL)
    mp = g_strdup(fo.mountpoint);
  free(fo.mountpoint);
  fuse_opt_free_args(&copy);
  return mp;
}

/* delivery=async without spool=: the default spool of this server and
 * mountpoint (bfc_spool_default_dir). */
static char *
default_spool(const BfcConfig *cfg, const struct fuse_args *args,
              GError **error)
{
  g_autofree char *mp = mountpoint(args);
  g_autofree char *server = bf_format_hostport(cfg->host, cfg->port);

  if (mp == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                "no mountpoint given (see braidfs -h)");
    return NULL;
  }
  return bfc_spool_default_dir(server, mp, error);
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
static gboolean
start_delivery(BfcSession *s, BfcDelivery *d, BfcSpool *sp,
               BfcSpoolSession *ss, GError **error)
{
  uint64_t floor = ss->id_floor;

  g_free(ss->server);
  ss->server = g_strdup(bfc_session_server(s));
  bfc_session_ids(s, ss->id, ss->token);
  ss->id_floor = floor + ((uint64_t)1 << 32);
  if (!bfc_spool_save_session(sp, ss, error))
    return FALSE;
  bfc_session_set_id_floor(s, floor);
  bfc_deliver_async_attach(d, s);
  return TRUE;
}

int
main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  BfcOptions opt = { 0 };
  g_autoptr(BfOpts) o = NULL;
  BfOptsFlags flags;
  BfcConfig cfg = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *names = NULL;
  g_autofree char *server = NULL;
  BfcSession *s = NULL;
  BfcSpool *sp = NULL;
  BfcDelivery *d = NULL;
  BfcSpoolSession ss = { 0 };
  BfMount *m = NULL;
  int rc = 1;

  if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
    return keygen(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "status") == 0)
    return bfc_status_command(argc, argv);
  o = bf_opts_new(bfc_options, &opt, 1);
  if (!bf_opts_parse(o, &args, &flags, &error)) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  if (flags.help || flags.version) {
    if (flags.help)
      usage(o);
    else
      bf_opts_print_version("braidfs");
    rc = 0;
    goto out;
  }
  bf_log_setup("braidfs", flags.debug);
  bf_crypto_init();
  signal(SIGPIPE, SIG_IGN);
  if (!build_config(o, &opt, &cfg, &error)) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  if (opt.spool == NULL && strcmp(opt.delivery, "async") == 0 &&
      (opt.spool = default_spool(&cfg, &args, &error)) == NULL) {
    g_printerr("braidfs: delivery=async: %s\n", error->message);
    goto out;
  }
  /* What the spool holds is read before the mount: one it cannot read
   * leaves no session on the server. */
  if (opt.spool != NULL &&
      ((sp = open_spool(opt.spool, &cfg, &ss, &error)) == NULL ||
       (d = bfc_deliver_async_new(sp, &error)) == NULL)) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  /* Mount first, so that a bad mountpoint or FUSE option fails before
   * the server makes a session; then connect, so that an unreachable
   * server fails the command instead of leaving a mount whose every
   * write fails. */
  server = bf_format_hostport(cfg.host, cfg.port);
  names = g_strdup_printf("-osubtype=braidfs,fsname=%s", server);
  fuse_opt_add_arg(&args, names);
  /* The kernel checks each node's mode against its owner, the mounting
   * user: with allow_other, others write only where modes let them. */
  fuse_opt_add_arg(&args, "-odefault_permissions");
  if ((m = bf_mount_new(&args, bfc_outbox_ops(), NULL, &error)) == NULL) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  s = bfc_session_connect(&cfg, &error);
  if (s == NULL) {
    g_printerr("braidfs: %s\n", error->message);
    goto out;
  }
  if (d != NULL && !start_delivery(s, d, sp, &ss, &error)) {
    g_printerr("braidfs: %s\n", error->message);
    bfc_session_stop(s);
    goto out;
  }
  if (d == NULL)
    d = bfc_deliver_close_new(s);
  sp = NULL;   /* owned by the delivery */
  if (!flags.foreground)
    bf_log_detach();
  void *outbox = bfc_outbox_new(s, g_steal_pointer(&d));
  bf_mount_set_data(m, outbox);
  /* Some FUSE threads always stay free of waits for the server
   * (BFC_WAIT_SEATS). */
  rc = bf_mount_serve(m, flags.foreground, BFC_FUSE_THREADS, ready, NULL);
  bf_notifyf("STOPPING=1");
  bf_mount_free(g_steal_pointer(&m));
  /* The outbox stops the session when the mount ends (or never started). */
  bfc_outbox_free(outbox);
out:
  bf_mount_free(m);
  if (d != NULL)
    sp = NULL;   /* the delivery's */
  bfc_delivery_free(d);
  bfc_spool_close(sp);
  bfc_spool_session_clear(&ss);
  fuse_opt_free_args(&args);
  config_clear(&cfg);
  return rc;
}
