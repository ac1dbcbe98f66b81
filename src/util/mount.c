/* A daemon's FUSE mount, checked and made before the daemon connects or
 * opens its store (mount.h). The steps of fuse_main(), split so that the
 * daemon runs its own between mounting and serving. */
#include "braidfs/mount.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct BfMount {
  struct fuse *fuse;
  struct fuse_operations ops;   /* the daemon's, init wrapped */
  void *data;
  char *mountpoint;
  gboolean mounted;
  struct fuse_cmdline_opts cmd;
  void (*ready)(void *);
  void *ready_data;
};

/* What libfuse says while we set up: the reason a step failed. */
static GString *setup_said;

static void capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
  G_GNUC_PRINTF(2, 0);
static void route_log(enum fuse_log_level level, const char *fmt, va_list ap)
  G_GNUC_PRINTF(2, 0);

static void
capture_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
  (void)level;
  /* A message may come in pieces ("...`", "-o ", "x", "'\n"). */
  g_string_append_vprintf(setup_said, fmt, ap);
}

/* Once serving, libfuse's lines are the daemon's, at their priority. */
static void
route_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  GLogLevelFlags l = level <= FUSE_LOG_ERR ? G_LOG_LEVEL_WARNING
                   : level <= FUSE_LOG_NOTICE ? G_LOG_LEVEL_MESSAGE
                   : G_LOG_LEVEL_DEBUG;

  g_strchomp(text);
  g_log_structured(G_LOG_DOMAIN, l, "MESSAGE", "libfuse: %s", text);
}

/* What libfuse said, on one line: "fuse: " prefixes dropped, lines
 * joined by "; ". */
static char *
setup_reason(void)
{
  g_auto(GStrv) lines = g_strsplit(g_strstrip(setup_said->str), "\n", -1);

  for (char **l = lines; *l != NULL; l++)
    if (g_str_has_prefix(*l, "fuse: "))
      memmove(*l, *l + 6, strlen(*l + 6) + 1);
  return g_strjoinv("; ", lines);
}

const char *
bf_mount_point_arg(const struct fuse_args *args)
{
  for (int i = 1; i < args->argc; i++) {
    const char *a = args->argv[i];
    if (strcmp(a, "-o") == 0) {
      i++;
      continue;
    }
    if (a[0] != '-')
      return a;
  }
  return NULL;
}

gboolean
bf_mount_check(const char *path, GError **error)
{
  struct stat st;

  if (stat(path, &st) < 0) {
    int e = errno;
    if (e == ENOTCONN)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                  "mountpoint %s is a FUSE mount whose daemon is gone: run "
                  "fusermount3 -u %s", path, path);
    else if (e == ENOENT)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                  "mountpoint %s does not exist: create it with mkdir", path);
    else
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                  "mountpoint %s: %s", path, g_strerror(e));
    return FALSE;
  }
  if (!S_ISDIR(st.st_mode)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR,
                "mountpoint %s is not a directory: give a directory to mount "
                "on", path);
    return FALSE;
  }
  /* fusermount3 lets a user mount only where they may write; root may
   * mount anywhere, on a read-only file system too. */
  if (access(path, R_OK | X_OK) < 0 ||
      (getuid() != 0 && access(path, W_OK) < 0 && errno != EROFS)) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                "mountpoint %s: %s: mount on a directory you own", path,
                g_strerror(e));
    return FALSE;
  }
  return TRUE;
}

/* Gives the daemon's init the data set since fuse_new, then tells the
 * daemon it serves. */
static void *
mount_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  BfMount *m = fuse_get_context()->private_data;
  void *data = m->data;

  fuse_get_context()->private_data = m->data;
  if (m->ops.init != NULL)
    data = m->ops.init(conn, cfg);
  if (m->ready != NULL)
    m->ready(m->ready_data);
  return data;
}

static gboolean
mount_fail(GError **error, const char *what)
{
  g_autofree char *why = setup_reason();

  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", what,
              *why != '\0' ? why : "libfuse failed");
  return FALSE;
}

/* "a,x-systemd.automount,b" -> "a,b": options for mount(8) and systemd
 * (x-*, and _netdev, nofail, auto, noauto) that an fstab line carries and
 * that mount.fuse3 may pass on; libfuse would refuse them. NULL when none
 * is left. */
static char *
drop_fstab_only(const char *opts)
{
  static const char *const ignored[] = { "_netdev", "nofail", "auto",
                                         "noauto", NULL };
  g_auto(GStrv) words = g_strsplit(opts, ",", -1);
  g_autoptr(GPtrArray) kept = g_ptr_array_new();

  for (char **w = words; *w != NULL; w++)
    if (**w != '\0' && !g_str_has_prefix(*w, "x-") &&
        !g_strv_contains(ignored, *w))
      g_ptr_array_add(kept, *w);
  if (kept->len == 0)
    return NULL;
  g_ptr_array_add(kept, NULL);
  return g_strjoinv(",", (char **)kept->pdata);
}

/* args without the fstab-only options of its -o lists. */
static void
strip_fstab_only(struct fuse_args *args)
{
  struct fuse_args out = FUSE_ARGS_INIT(0, NULL);

  for (int i = 0; i < args->argc; i++) {
    const char *a = args->argv[i];
    const char *opts = strcmp(a, "-o") == 0 && i + 1 < args->argc
                       ? args->argv[++i]
                       : g_str_has_prefix(a, "-o") ? a + 2 : NULL;
    if (opts == NULL) {
      fuse_opt_add_arg(&out, a);
      continue;
    }
    g_autofree char *kept = drop_fstab_only(opts);
    if (kept != NULL) {
      fuse_opt_add_arg(&out, "-o");
      fuse_opt_add_arg(&out, kept);
    }
  }
  fuse_opt_free_args(args);
  *args = out;
}

static gboolean
mount_setup(BfMount *m, struct fuse_args *args,
            const struct fuse_operations *ops, GError **error)
{
  const char *mp = bf_mount_point_arg(args);
  struct fuse_operations wrapped = *ops;

  if (mp == NULL) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                "missing MOUNTPOINT (see -h)");
    return FALSE;
  }
  if (!bf_mount_check(mp, error))
    return FALSE;
  strip_fstab_only(args);
  if (fuse_parse_cmdline(args, &m->cmd) != 0)
    return mount_fail(error, "bad arguments");
  m->mountpoint = g_strdup(m->cmd.mountpoint);
  m->ops = *ops;
  wrapped.init = mount_init;
  m->fuse = fuse_new(args, &wrapped, sizeof wrapped, m);
  if (m->fuse == NULL)
    return mount_fail(error, "bad FUSE option");
  if (fuse_mount(m->fuse, m->mountpoint) != 0)
    return mount_fail(error, m->mountpoint);
  m->mounted = TRUE;
  return TRUE;
}

BfMount *
bf_mount_new(struct fuse_args *args, const struct fuse_operations *ops,
             void *data, GError **error)
{
  BfMount *m = g_new0(BfMount, 1);
  gboolean ok;

  m->data = data;
  setup_said = g_string_new(NULL);
  fuse_set_log_func(capture_log);
  ok = mount_setup(m, args, ops, error);
  fuse_set_log_func(route_log);
  g_string_free(g_steal_pointer(&setup_said), TRUE);
  if (!ok) {
    bf_mount_free(m);
    return NULL;
  }
  return m;
}

void
bf_mount_set_data(BfMount *m, void *data)
{
  m->data = data;
}

const char *
bf_mount_point(const BfMount *m)
{
  return m->mountpoint;
}

int
bf_mount_serve(BfMount *m, gboolean foreground, unsigned max_threads,
               void (*ready)(void *), void *ready_data)
{
  struct fuse_session *se = fuse_get_session(m->fuse);
  struct fuse_loop_config *cfg;
  int rc;

  m->ready = ready;
  m->ready_data = ready_data;
  if (fuse_daemonize(foreground) != 0 || fuse_set_signal_handlers(se) != 0)
    return 1;
  cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, max_threads);
  /* libfuse's default (-1: unset) is refused, with a warning, by its
   * own setter: keep up to libfuse's usual 10 idle threads, or what
   * -o max_idle_threads asked. */
  fuse_loop_cfg_set_idle_threads(cfg, MIN(m->cmd.max_idle_threads,
                                          MIN(10u, max_threads)));
  fuse_loop_cfg_set_clone_fd(cfg, m->cmd.clone_fd);
  rc = fuse_loop_mt(m->fuse, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_remove_signal_handlers(se);
  /* Stopped by a signal (systemctl stop, ^C) is a clean stop too: the
   * loop reports the signal's number. */
  rc = abs(rc);
  return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
}

void
bf_mount_free(BfMount *m)
{
  if (m == NULL)
    return;
  if (m->mounted)
    fuse_unmount(m->fuse);
  if (m->fuse != NULL)
    fuse_destroy(m->fuse);
  free(m->cmd.mountpoint);
  g_free(m->mountpoint);
  g_free(m);
}
