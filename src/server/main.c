/* braidfsd: receives sessions of braidfs clients, rebuilds their items in
 * a store and shows them through a read-only FUSE mount. */
#include "server.h"

#include <fuse.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "braidfs/log.h"
#include "braidfs/parse.h"

#define DEFAULT_LISTEN "127.0.0.1:7411"
#define DEFAULT_STORE "/var/lib/braidfs"

typedef struct {
  char *store;
  char *max_item_size;
  unsigned max_sessions;
  unsigned max_paths;
  unsigned max_open_items;
  unsigned idle_timeout;
  unsigned send_timeout;
  unsigned linger;
  char *key_file;
  char *max_chunk;
  BfdLimits l;               /* the plain numeric limits, parsed in place */
  GPtrArray *listen;
  int show_help, show_version, foreground, debug;
} Opts;

enum { KEY_LISTEN, KEY_HELP, KEY_VERSION, KEY_FG, KEY_DEBUG };

#define OPT(t, p) { t, offsetof(Opts, p), 1 }
static const struct fuse_opt opt_spec[] = {
  OPT("store=%s", store),
  OPT("max_item_size=%s", max_item_size),
  OPT("max_sessions=%u", max_sessions),
  OPT("max_paths=%u", max_paths),
  OPT("max_open_items=%u", max_open_items),
  OPT("idle_timeout=%u", idle_timeout),
  OPT("send_timeout=%u", send_timeout),
  OPT("linger=%u", linger),
  OPT("key_file=%s", key_file),
  OPT("max_chunk=%s", max_chunk),
  OPT("max_name=%u", l.max_name),
  OPT("max_depth=%u", l.max_depth),
  OPT("handshake_timeout=%u", l.handshake_timeout_ms),
  OPT("max_handshakes=%u", l.max_handshakes),
  OPT("max_handshakes_per_addr=%u", l.max_handshakes_per_addr),
  OPT("attach_rate=%u", l.attach_rate),
  OPT("attach_burst=%u", l.attach_burst),
  FUSE_OPT_KEY("listen=", KEY_LISTEN),
  FUSE_OPT_KEY("-h", KEY_HELP),
  FUSE_OPT_KEY("--help", KEY_HELP),
  FUSE_OPT_KEY("-V", KEY_VERSION),
  FUSE_OPT_KEY("--version", KEY_VERSION),
  FUSE_OPT_KEY("-f", KEY_FG),
  FUSE_OPT_KEY("-d", KEY_DEBUG),
  FUSE_OPT_END
};

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
  Opts *o = data;

  (void)out;
  switch (key) {
  case KEY_LISTEN:
    g_ptr_array_add(o->listen, g_strdup(arg + strlen("listen=")));
    return 0;
  case KEY_HELP:
    o->show_help = 1;
    return 0;
  case KEY_VERSION:
    o->show_version = 1;
    return 0;
  case KEY_FG:
    o->foreground = 1;
    return 1;
  case KEY_DEBUG:
    /* libfuse's -d dumps every request; ours logs protocol events. */
    o->debug = 1;
    o->foreground = 1;
    return fuse_opt_add_arg(out, "-f") == 0 ? 0 : -1;
  default:
    return 1;
  }
}

static void
usage(void)
{
  printf("usage: braidfsd MOUNTPOINT [-o OPTIONS] [-f] [-d]\n\n"
         "Receives braidfs sessions and shows their files under MOUNTPOINT.\n\n"
         "options:\n"
         "    -o listen=ADDR:PORT    address to listen on, repeatable (default %s)\n"
         "    -o store=DIR           where items are kept (default %s)\n"
         "    -o max_sessions=N      connected sessions at once (default 64)\n"
         "    -o max_paths=N         paths per session (default 64)\n"
         "    -o max_open_items=N    items in flight per session (default 256)\n"
         "    -o idle_timeout=SECONDS  close paths silent this long (default 60)\n"
         "    -o send_timeout=SECONDS  close paths that read nothing of what the\n"
         "                           server sends this long (default 30)\n"
         "    -o linger=SECONDS      keep unfinished items of a session with no\n"
         "                           path for its return this long (default 120)\n"
         "    -o max_item_size=SIZE  largest item accepted (default 1T)\n"
         "    -o key_file=FILE       pre-shared key (32 bytes, or 64 hex digits;\n"
         "                           mode 600): refuse clients without it and\n"
         "                           encrypt every path (braidfs keygen FILE)\n"
         "    -o max_name=BYTES      longest name accepted (default 4096)\n"
         "    -o max_depth=N         most components in a name (default 64)\n"
         "    -o max_chunk=SIZE      largest chunk_size, and so the largest frame\n"
         "                           a connection buffers (default 16M)\n"
         "    -o handshake_timeout=SECONDS  time to complete the handshake (default 10)\n"
         "    -o max_handshakes=N    connections still in the handshake (default 64)\n"
         "    -o max_handshakes_per_addr=N  of those, from one address (default 8)\n"
         "    -o attach_rate=N       handshakes per second per address (default 20)\n"
         "    -o attach_burst=N      ... in a burst (default 40)\n"
         "    -f                     stay in the foreground\n"
         "    -d                     debug log (implies -f)\n"
         "    -h, --help             this help\n"
         "    -V, --version          version\n"
         "FUSE options (-o allow_other, ...) are passed to libfuse.\n"
         "See braidfsd(8).\n", DEFAULT_LISTEN, DEFAULT_STORE);
}

static gboolean
open_listeners(BfdServer *srv, GPtrArray *specs)
{
  for (guint i = 0; i < specs->len; i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *host = NULL;
    uint16_t port;
    int fd;

    if (!bf_parse_hostport(specs->pdata[i], 7411, &host, &port, &error) ||
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

/* Every item in flight holds a descriptor: take all the kernel allows us,
 * the per-session limits then keep one session from starving the rest. */
static void
raise_fd_limit(void)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static gboolean
non_loopback(const char *name)
{
  return !g_str_has_prefix(name, "127.") && !g_str_has_prefix(name, "[::1]");
}

static void
server_clear(BfdServer *srv)
{
  if (srv->accept_threads != NULL)
    bfd_server_stop(srv);
  for (guint i = 0; srv->listen_fds && i < srv->listen_fds->len; i++)
    close(GPOINTER_TO_INT(srv->listen_fds->pdata[i]));
  g_clear_pointer(&srv->listen_fds, g_ptr_array_unref);
  g_clear_pointer(&srv->listen_names, g_ptr_array_unref);
  g_clear_pointer(&srv->accept_threads, g_ptr_array_unref);
  g_clear_pointer(&srv->sessions, g_hash_table_unref);
  g_clear_pointer(&srv->paths, g_hash_table_unref);
  g_clear_pointer(&srv->key, bf_key_free);
  if (srv->store_fd >= 0)
    close(srv->store_fd);
  bfd_gate_free(srv->gate);
  g_free(srv->store_path);
}

int
main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  Opts o = { .max_sessions = 64, .max_paths = 64, .max_open_items = 256,
             .idle_timeout = 60, .send_timeout = 30, .linger = 120,
             .l = { .max_name = BF_NAME_MAX, .max_depth = BF_DEPTH_MAX,
                    .handshake_timeout_ms = 10, .max_handshakes = 64,
                    .max_handshakes_per_addr = 8, .attach_rate = 20,
                    .attach_burst = 40 } };
  uint64_t max_chunk = BF_CHUNK_MAX;
  BfdServer srv = { .store_fd = -1 };
  g_autoptr(GError) error = NULL;
  int rc = 1;

  o.listen = g_ptr_array_new_with_free_func(g_free);
  if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) < 0)
    goto out;
  if (o.show_help || o.show_version) {
    if (o.show_help)
      usage();
    else
      printf("braidfsd %s (protocol %d, libfuse %s)\n", BRAIDFS_VERSION,
             BF_PROTOCOL_VERSION, fuse_pkgversion());
    rc = 0;
    goto out;
  }
  bf_log_setup("braidfsd", o.debug);
  if (!bfd_crash_setup(&error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  bf_crypto_init();
  signal(SIGPIPE, SIG_IGN);

  srv.store_path = g_strdup(o.store ? o.store : DEFAULT_STORE);
  if (o.max_chunk && !bf_parse_size(o.max_chunk, &max_chunk, &error)) {
    g_printerr("braidfsd: max_chunk: %s\n", error->message);
    goto out;
  }
  srv.limits = o.l;
  srv.limits.max_chunk = (unsigned)MIN(max_chunk, (uint64_t)G_MAXUINT);
  /* given in seconds */
  srv.limits.handshake_timeout_ms = o.l.handshake_timeout_ms * 1000;
  if (o.l.handshake_timeout_ms < 1 || o.l.handshake_timeout_ms > 3600) {
    g_printerr("braidfsd: handshake_timeout=%u is out of range (1 to 3600)\n",
               o.l.handshake_timeout_ms);
    goto out;
  }
  if (!bfd_limits_check(&srv.limits, &error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  srv.gate = bfd_gate_new(&srv.limits);
  srv.limits.max_sessions = o.max_sessions;
  srv.limits.max_paths = o.max_paths;
  srv.limits.max_open_items = MAX(o.max_open_items, 1u);
  raise_fd_limit();
  srv.limits.max_item_size = (uint64_t)1 << 40;
  srv.limits.idle_timeout_ms = MAX(o.idle_timeout, 2u) * 1000;
  if (o.send_timeout < 1 || o.send_timeout > 3600) {
    g_printerr("braidfsd: send_timeout=%u is out of range (1 to 3600)\n",
               o.send_timeout);
    goto out;
  }
  srv.limits.send_timeout_ms = o.send_timeout * 1000;
  srv.limits.linger_ms = o.linger * 1000;
  if (o.max_item_size &&
      !bf_parse_size(o.max_item_size, &srv.limits.max_item_size, &error)) {
    g_printerr("braidfsd: max_item_size: %s\n", error->message);
    goto out;
  }
  if (o.key_file != NULL && (srv.key = bf_key_load(o.key_file, &error)) == NULL) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  if (o.listen->len == 0)
    g_ptr_array_add(o.listen, g_strdup(DEFAULT_LISTEN));
  srv.sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                       (GDestroyNotify)bfd_session_unref);
  srv.paths = g_hash_table_new(NULL, NULL);
  g_mutex_init(&srv.lock);
  g_cond_init(&srv.paths_gone);
  srv.listen_fds = g_ptr_array_new();
  srv.listen_names = g_ptr_array_new_with_free_func(g_free);

  if (!bfd_store_open(&srv, &error)) {
    g_printerr("braidfsd: %s\n", error->message);
    goto out;
  }
  bfd_store_load_sessions(&srv);
  /* Bind before daemonizing so a busy port fails the command, not a log. */
  if (!open_listeners(&srv, o.listen))
    goto out;
  for (guint i = 0; srv.key == NULL && i < srv.listen_names->len; i++)
    if (non_loopback(srv.listen_names->pdata[i]))
      g_warning("listening on %s without a key: anyone who can reach it can "
                "send files, and paths are not encrypted",
                (char *)srv.listen_names->pdata[i]);
  g_message("store %s: %u sessions; listening on %s%s", srv.store_path,
            g_hash_table_size(srv.sessions), (char *)srv.listen_names->pdata[0],
            srv.key != NULL ? " (key_file: every path authenticated and "
                              "encrypted)" : "");
  if (!o.foreground)
    bf_log_to_syslog();

  /* libfuse 3.14's default thread limit is an invalid -1 and warns. */
  fuse_opt_add_arg(&args, "-omax_threads=32");
  rc = fuse_main(args.argc, args.argv, bfd_view_ops(), &srv);
out:
  server_clear(&srv);
  fuse_opt_free_args(&args);
  g_ptr_array_unref(o.listen);
  g_free(o.store);
  g_free(o.max_item_size);
  g_free(o.key_file);
  g_free(o.max_chunk);
  return rc;
}
