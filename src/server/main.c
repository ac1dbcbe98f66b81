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
#include "braidfs/mount.h"
#include "braidfs/notify.h"
#include "braidfs/parse.h"
#include "clientkeys.h"
#include "crash.h"
#include "events.h"
#include "hook.h"
#include "metrics.h"
#include "options.h"
#include "recovery.h"
#include "server.h"
#include "sessions.h"
#include "statuscmd.h"
#include "store.h"
#include "view.h"

static void
usage(const BfOpts *o)
{
  g_autoptr(GString) text = g_string_new(NULL);

  bf_opts_help(o, text);
  printf("usage: braidfsd MOUNTPOINT [-o OPTIONS] [-f] [-d]\n"
         "       braidfsd status [--json] [--watch SECS] MOUNTPOINT\n\n"
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
  /* What the other servers' views say of the sessions this one owns. */
  g_ptr_array_add(srv->listen_names, NULL);
  g_autofree char *all = g_strjoinv(", ", (char **)srv->listen_names->pdata);
  g_ptr_array_remove_index(srv->listen_names, srv->listen_names->len - 1);
  srv->owner_who = g_strdup_printf("braidfsd on %s listening on %s",
                                   g_get_host_name(), all);
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

/* Without a key, anyone who reaches a listener can write into the store
 * and read the paths: only loopback, unless the user says insecure. */
static gboolean
check_exposure(const BfdServer *srv, gboolean insecure)
{
  for (guint i = 0; srv->key == NULL && srv->client_keys == NULL &&
                   i < srv->listen_fds->len; i++) {
    const char *name = srv->listen_names->pdata[i];
    if (bf_sock_loopback(GPOINTER_TO_INT(srv->listen_fds->pdata[i]), FALSE))
      continue;
    if (!insecure) {
      g_printerr("braidfsd: listen=%s is not a loopback address and there "
                 "is no key_file: anyone who can reach it could send files, "
                 "and paths would travel in the clear; give key_file=FILE "
                 "(braidfs keygen FILE), or -o insecure on a network where "
                 "every host is trusted\n", name);
      return FALSE;
    }
    g_warning("listening on %s without a key (insecure): anyone who can "
              "reach it can send files, and paths are not encrypted", name);
  }
  return TRUE;
}

/* systemd's STATUS= line (what `systemctl status` shows), kept fresh
 * every STATUS_EVERY_S while serving under systemd. */
#define STATUS_EVERY_S 5

typedef struct {
  BfdServer *srv;
  GMutex lock;
  GCond stop_cond;
  gboolean stop;
  GThread *thread;
} StatusLine;

static void
status_send(BfdServer *srv, const char *extra)
{
  g_autofree char *summary = bfd_metrics_summary(srv);

  bf_notifyf("%sSTATUS=store %s: %s; listening on %s", extra,
             srv->store_path, summary, (char *)srv->listen_names->pdata[0]);
}

static gpointer
status_loop(gpointer data)
{
  StatusLine *sl = data;

  g_mutex_lock(&sl->lock);
  while (!sl->stop) {
    gint64 until = g_get_monotonic_time() + STATUS_EVERY_S * G_USEC_PER_SEC;
    if (g_cond_wait_until(&sl->stop_cond, &sl->lock, until) || sl->stop)
      continue;
    g_mutex_unlock(&sl->lock);
    status_send(sl->srv, "");
    g_mutex_lock(&sl->lock);
  }
  g_mutex_unlock(&sl->lock);
  return NULL;
}

/* The view is mounted and the listeners accept (view_init started them):
 * systemd's READY, with the status line. */
static void
ready(void *data)
{
  StatusLine *sl = data;

  status_send(sl->srv, "READY=1\n");
  if (g_getenv("NOTIFY_SOCKET") != NULL)
    sl->thread = g_thread_new("status", status_loop, sl);
}

static void
status_stop(StatusLine *sl)
{
  g_mutex_lock(&sl->lock);
  sl->stop = TRUE;
  g_cond_signal(&sl->stop_cond);
  g_mutex_unlock(&sl->lock);
  if (sl->thread != NULL)
    g_thread_join(sl->thread);
  g_mutex_clear(&sl->lock);
  g_cond_clear(&sl->stop_cond);
}

int
main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  BfdOptions opt = { 0 };
  g_autoptr(BfOpts) o = bf_opts_new(bfd_options, &opt, 0);
  BfOptsFlags flags;
  BfdServer srv = { .store_fd = -1 };
  BfMount *m = NULL;
  g_autoptr(GError) error = NULL;
  int rc = 1;

  if (argc >= 2 && strcmp(argv[1], "status") == 0)
    return bfd_status_command(argc, argv);
  if (!bf_opts_parse(o, &args, &flags, &error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (flags.help || flags.version) {
    if (flags.help)
      usage(o);
    else
      bf_opts_print_version("braidfsd");
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
  /* The mountpoint and FUSE's options first: a typo must not leave a
   * store made or a port bound behind it. The kernel checks each file's
   * mode and owner: with allow_other, other users read only what the modes
   * let them, and remove nothing. */
  fuse_opt_add_arg(&args, "-odefault_permissions");
  if ((m = bf_mount_new(&args, bfd_view_ops(), &srv, &error)) == NULL) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }

  opt.limits.max_chunk = (unsigned)opt.max_chunk;   /* <= BF_CHUNK_MAX */
  bfd_server_init(&srv, &opt.limits);
  srv.store_path = g_strdup(opt.store);
  srv.items_max = raise_fd_limit();
  if (opt.key_file != NULL && opt.client_keys != NULL) {
    g_printerr("braidfsd: give key_file (one key shared by every client) or "
               "client_keys (one per client), not both\n");
    goto out;
  }
  if (opt.key_file != NULL &&
      (srv.key = bf_key_load(opt.key_file, &error)) == NULL) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (opt.client_keys != NULL &&
      (srv.client_keys = bfd_client_keys_open(opt.client_keys, &error)) ==
        NULL) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (!bfd_store_open(srv.store_path, &srv.store_fd, &error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if ((srv.events_fd = bfd_events_open(srv.store_fd, &error)) < 0) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (opt.exec_on_store != NULL &&
      (srv.hook = bfd_hook_new(opt.exec_on_store, bf_mount_point(m),
                                srv.store_path, opt.exec_jobs,
                                opt.exec_timeout_ms, &error)) == NULL) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (!bfd_recover_sessions(&srv, &error)) {
    g_printerr("braidfsd: %s\nbraidfsd: not starting: the partial items kept "
               "in the store would be missed. Nothing was removed. Make the "
               "store readable and writable by the user braidfsd runs as, or "
               "free what failed (open files: ulimit -n; a failing disk: "
               "dmesg), then start braidfsd again.\n", error->message);
    goto out;
  }
  /* Bind before daemonizing so a busy port fails the command, not a log. */
  if (!open_listeners(&srv, opt.listen) || !check_exposure(&srv, opt.insecure))
    goto out;
  g_message("store %s: %u sessions; listening on %s%s", srv.store_path,
            bfd_sessions_count(srv.sessions), (char *)srv.listen_names->pdata[0],
            srv.key != NULL ? " (key_file: every path authenticated and "
                              "encrypted)"
            : srv.client_keys != NULL ? " (client_keys: every path "
                                        "authenticated and encrypted)"
            : "");
  if (!flags.foreground)
    bf_log_detach();

  StatusLine sl = { .srv = &srv };
  g_mutex_init(&sl.lock);
  g_cond_init(&sl.stop_cond);
  rc = bf_mount_serve(m, flags.foreground, 32, ready, &sl);
  bf_notifyf("STOPPING=1\nSTATUS=stopping");
  status_stop(&sl);
out:
  bf_mount_free(m);
  bfd_server_clear(&srv);
  fuse_opt_free_args(&args);
  return rc;
}
