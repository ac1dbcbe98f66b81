/* exec_on_store (hook.h). */
#include "hook.h"

#include <gio/gio.h>
#include <signal.h>
#include <unistd.h>

#include "braidfs/digest.h"
#include "braidfs/parse.h"
#include "braidfs/wire.h"

struct BfdHook {
  char *program;
  char *view_root, *store_root;
  unsigned timeout_ms;
  GThreadPool *pool;          /* its own threads: at most jobs run */
};

typedef struct {
  char *session, *path, *digest;
  uint64_t size;
} Run;

static void
run_free(Run *r)
{
  g_free(r->session);
  g_free(r->path);
  g_free(r->digest);
  g_free(r);
}

typedef struct {
  gboolean done, killed;
  GError *error;
} Wait;

static void
exited(GObject *src, GAsyncResult *res, gpointer data)
{
  Wait *w = data;

  g_subprocess_wait_finish(G_SUBPROCESS(src), res, &w->error);
  w->done = TRUE;
}

/* The run leads its own process group, so that a timeout kills what it
 * started too (a shell script's children). */
static void
own_group(gpointer data)
{
  (void)data;
  setpgid(0, 0);
}

static gboolean
too_long(gpointer data)
{
  GSubprocess *sp = data;
  const char *id = g_subprocess_get_identifier(sp);

  if (id != NULL)
    kill(-(pid_t)g_ascii_strtoll(id, NULL, 10), SIGKILL);
  g_subprocess_force_exit(sp);
  g_object_set_data(G_OBJECT(sp), "killed", GINT_TO_POINTER(1));
  return G_SOURCE_REMOVE;
}

static GSubprocess *
spawn(BfdHook *h, const Run *r, GError **error)
{
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *view = g_build_filename(h->view_root, r->session, r->path,
                                           NULL);
  g_autofree char *stored = g_build_filename(h->store_root, r->session,
                                             "data", r->path, NULL);
  g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, r->size);
  const char *const env[] = { NULL };

  g_subprocess_launcher_set_environ(l, (char **)env);
  g_subprocess_launcher_setenv(l, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", TRUE);
  g_subprocess_launcher_setenv(l, "LANG", "C", TRUE);
  g_subprocess_launcher_setenv(l, "BRAIDFS_SESSION", r->session, TRUE);
  g_subprocess_launcher_setenv(l, "BRAIDFS_PATH", r->path, TRUE);
  g_subprocess_launcher_setenv(l, "BRAIDFS_SIZE", size, TRUE);
  g_subprocess_launcher_setenv(l, "BRAIDFS_DIGEST", r->digest, TRUE);
  g_subprocess_launcher_setenv(l, "BRAIDFS_STORE_FILE", stored, TRUE);
  g_subprocess_launcher_set_cwd(l, "/");
  g_subprocess_launcher_set_child_setup(l, own_group, NULL, NULL);
  return g_subprocess_launcher_spawn(l, error, h->program, view, NULL);
}

/* One run on a pool thread: its own main context waits for the exit or
 * the timeout, whichever comes first. */
static void
run_job(gpointer data, gpointer user_data)
{
  Run *r = data;
  BfdHook *h = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) ctx = g_main_context_new();
  Wait w = { 0 };

  g_main_context_push_thread_default(ctx);
  g_autoptr(GSubprocess) sp = spawn(h, r, &error);
  if (sp != NULL) {
    GSource *t = g_timeout_source_new(h->timeout_ms);
    g_source_set_callback(t, too_long, sp, NULL);
    g_source_attach(t, ctx);
    g_subprocess_wait_async(sp, NULL, exited, &w);
    while (!w.done)
      g_main_context_iteration(ctx, TRUE);
    g_source_destroy(t);
    g_source_unref(t);
    error = w.error;
  }
  g_main_context_pop_thread_default(ctx);
  if (error != NULL)
    g_warning("exec_on_store %s for %s/%s: %s", h->program, r->session,
              r->path, error->message);
  else if (g_object_get_data(G_OBJECT(sp), "killed") != NULL)
    g_warning("exec_on_store %s for %s/%s: killed after exec_timeout "
              "(%.1f s)", h->program, r->session, r->path,
              h->timeout_ms / 1000.0);
  else if (!g_subprocess_get_successful(sp))
    g_warning("exec_on_store %s for %s/%s: %s %d", h->program, r->session,
              r->path, g_subprocess_get_if_exited(sp) ? "exit status"
                                                       : "killed by signal",
              g_subprocess_get_if_exited(sp) ? g_subprocess_get_exit_status(sp)
                                             : g_subprocess_get_term_sig(sp));
  run_free(r);
}

BfdHook *
bfd_hook_new(const char *program, const char *view_root,
             const char *store_root, unsigned jobs, unsigned timeout_ms,
             GError **error)
{
  BfdHook *h;

  if (!g_path_is_absolute(program) ||
      !g_file_test(program, G_FILE_TEST_IS_REGULAR) ||
      access(program, X_OK) != 0) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "exec_on_store=%s must be the absolute path of an executable "
                "file (it is run without a shell)", program);
    return NULL;
  }
  h = g_new0(BfdHook, 1);
  h->program = g_strdup(program);
  h->view_root = g_strdup(view_root);
  h->store_root = g_strdup(store_root);
  h->timeout_ms = timeout_ms;
  /* Not exclusive: its threads start with the first run, after the
   * daemon has forked away from its terminal (threads do not survive a
   * fork); max_threads still bounds this pool's runs. */
  h->pool = g_thread_pool_new(run_job, h, (gint)jobs, FALSE, NULL);
  return h;
}

void
bfd_hook_free(BfdHook *h)
{
  if (h == NULL)
    return;
  g_thread_pool_free(h->pool, TRUE, TRUE);
  g_free(h->program);
  g_free(h->view_root);
  g_free(h->store_root);
  g_free(h);
}

void
bfd_hook_stored(BfdHook *h, const char *session, const char *path,
                uint64_t size, uint8_t alg, const uint8_t digest[BF_DIGEST_LEN])
{
  g_autofree char *hex = NULL;
  Run *r;

  if (h == NULL)
    return;
  if (g_thread_pool_unprocessed(h->pool) >= BFD_HOOK_QUEUE_MAX) {
    g_warning("exec_on_store: %u runs already wait; not running it for "
              "%s/%s (its line is in .events)", BFD_HOOK_QUEUE_MAX, session,
              path);
    return;
  }
  hex = bf_hex(digest, BF_DIGEST_LEN);
  r = g_new0(Run, 1);
  r->session = g_strdup(session);
  r->path = g_strdup(path);
  r->size = size;
  r->digest = g_strdup_printf("%s:%s", bf_digest_alg_tag(alg), hex);
  g_thread_pool_push(h->pool, r, NULL);
}
