/* braidfsd: receives sessions of braidfs clients, rebuilds their items in
 * a store and shows them through a read-only FUSE mount. */
#include <fuse.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "braidfs/conn.h"
#include "braidfs/log.h"
#include "braidfs/parse.h"
#include "crash.h"
#include "options.h"
#include "recovery.h"
#include "server.h"
#include "sessions.h"
#include "store.h"
#include "view.h"

static void
usage(const BfOpts *o)
{
  g_autoptr(GString) text = g_string_new(NULL);

  bf_opts_help(o, text);
  printf("usage: braidfsd MOUNTPOINT [-o OPTIONS] [-f] [-d]\n\n"
         "Receives braidfs sessions and shows their files under MOUNTPOINT.\n\n"
         "options:\n"
         "%s"
         "    -f                     stay in the foreground\n"
         "    -d                     debug log (implies -f)\n"
         "    -h, --help             this help\n"
         "    -V, --version          version\n"
         "FUSE options (-o allow_other, ...) are passed to libfuse.\n"
         "Sizes take K, M, G, T (powers of 1024); durations are in seconds\n"
         "(0.5 for half of one).\n"
         "See braidfsd(8).\n", text->str);
}

static gboolean
open_listeners(BfdServer *srv, GPtrArray *specs)
{
  for (guint i = 0; i < specs->len; i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *host = NULL;
    uint16_t port;
    int fd;

    if (!bf_parse_hostport(specs->pdata[i], BFD_DEFAULT_PORT, &host, &port,
                           &error) ||
        (fd = bf_tcp_listen(host, port, &error)) < 0) {
      g_printerr("braidfsd: listen=%s: %s\n", (char *)specs->pdata[i],
                 error->message);
      return FALSE;
    }
    g_ptr_array_add(srv->listen_fds, GINT_TO_POINTER(fd));
    g_ptr_array_add(srv->listen_names, bf_format_hostport(host, port));
  }
  return TRUE;
}

/* Descriptors kept for everything but items: listeners, paths, session
 * directories, the view, the journal's files. */
#define FD_RESERVE 1024

/* Every item in flight holds two descriptors: take all the kernel allows
 * us, and keep the items of all sessions together within it (the
 * per-session limit keeps one session from starving the rest). */
static guint
raise_fd_limit(void)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
      getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur <= 2 * FD_RESERVE)
    return (guint)MAX(rl.rlim_cur / 4, 1);
  return (guint)MIN((rl.rlim_cur - FD_RESERVE) / 2, G_MAXINT / 2);
}

static gboolean
non_loopback(const char *name)
{
  return !g_str_has_prefix(name, "127.") && !g_str_has_prefix(name, "[::1]");
}

int
main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  BfdOptions opt = { 0 };
  g_autoptr(BfOpts) o = bf_opts_new(bfd_options, &opt, 0);
  BfOptsFlags flags;
  BfdServer srv = { .store_fd = -1 };
  g_autoptr(GError) error = NULL;
  int rc = 1;

  if (!bf_opts_parse(o, &args, &flags, &error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (flags.help || flags.version) {
    if (flags.help)
      usage(o);
    else
      printf("braidfsd %s (protocol %d, libfuse %s)\n", BRAIDFS_VERSION,
             BF_PROTOCOL_VERSION, fuse_pkgversion());
    rc = 0;
    goto out;
  }
  bf_log_setup("braidfsd", flags.debug);
  if (!bfd_crash_setup(&error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  bf_crypto_init();
  signal(SIGPIPE, SIG_IGN);

  opt.limits.max_chunk = (unsigned)opt.max_chunk;   /* <= BF_CHUNK_MAX */
  bfd_server_init(&srv, &opt.limits);
  srv.store_path = g_strdup(opt.store);
  srv.items_max = raise_fd_limit();
  if (opt.key_file != NULL &&
      (srv.key = bf_key_load(opt.key_file, &error)) == NULL) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (!bfd_store_open(srv.store_path, &srv.store_fd, &error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  bfd_recover_sessions(&srv);
  /* Bind before daemonizing so a busy port fails the command, not a log. */
  if (!open_listeners(&srv, opt.listen))
    goto out;
  for (guint i = 0; srv.key == NULL && i < srv.listen_names->len; i++)
    if (non_loopback(srv.listen_names->pdata[i]))
      g_warning("listening on %s without a key: anyone who can reach it can "
                "send files, and paths are not encrypted",
                (char *)srv.listen_names->pdata[i]);
  g_message("store %s: %u sessions; listening on %s%s", srv.store_path,
            bfd_sessions_count(srv.sessions), (char *)srv.listen_names->pdata[0],
            srv.key != NULL ? " (key_file: every path authenticated and "
                              "encrypted)" : "");
  if (!flags.foreground)
    bf_log_detach();

  /* libfuse 3.14's default thread limit is an invalid -1 and warns. */
  fuse_opt_add_arg(&args, "-omax_threads=32");
  rc = fuse_main(args.argc, args.argv, bfd_view_ops(), &srv);
out:
  bfd_server_clear(&srv);
  fuse_opt_free_args(&args);
  return rc;
}
