/* braidfsd's threads (server.h): accepting connections, a thread per
 * path (dispatch.h), the janitor that abandons the items of sessions left
 * alone, start and stop. The server's lock guards the registry of live
 * paths, the threads that ended and the stopping flag. */
#include "server.h"

#include <errno.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clientkeys.h"
#include "dispatch.h"
#include "braidfs/flusher.h"
#include "hook.h"
#include "items.h"
#include "path.h"
#include "ratelimit.h"
#include "session.h"
#include "sessions.h"

typedef struct {
  BfdServer *srv;
  int fd;
  const char *name;
} Listener;

void
bfd_server_init(BfdServer *srv, const BfdLimits *limits)
{
  srv->limits = *limits;
  srv->store_fd = -1;
  srv->events_fd = -1;
  srv->items_max = G_MAXINT / 2;   /* main sets it from the descriptor limit */
  srv->gate = bfd_gate_new(&srv->limits);
  srv->sessions = bfd_sessions_new();
  bf_mutex_init(&srv->lock);
  srv->paths = g_hash_table_new(NULL, NULL);
  g_cond_init(&srv->paths_gone);
  g_cond_init(&srv->janitor_wake);
  srv->listen_fds = g_ptr_array_new();
  srv->listen_names = g_ptr_array_new_with_free_func(g_free);
}

static gboolean
stopping(BfdServer *srv)
{
  gboolean stop;

  bf_mutex_lock(&srv->lock);
  stop = srv->stopping;
  bf_mutex_unlock(&srv->lock);
  return stop;
}

static gpointer
path_main(gpointer data)
{
  BfdPath *p = data;
  BfdServer *srv = p->srv;

  bfd_dispatch_run(p);
  bf_mutex_lock(&srv->lock);
  g_hash_table_remove(srv->paths, p);
  /* The accept thread's reference is the one a join takes. */
  g_ptr_array_add(srv->ended_threads, g_thread_self());
  g_cond_broadcast(&srv->paths_gone);
  bf_mutex_unlock(&srv->lock);
  bfd_path_unref(p);
  return NULL;
}

/* A thread for the accepted connection fd, if the gate lets it in. */
static void
spawn_path(BfdServer *srv, int fd, const struct sockaddr *from)
{
  g_autofree char *src = bfd_gate_key(from);
  BfdPath *p = bfd_path_new(srv, fd, src);
  GThread *t;

  p->seat = bfd_gate_enter(srv->gate, p->src, p->conn->peer);
  if (p->seat == BFD_GATE_REFUSED) {
    bfd_path_unref(p);
    return;
  }
  bf_mutex_lock(&srv->lock);
  g_hash_table_add(srv->paths, p);
  t = g_thread_try_new("path", path_main, p, NULL);
  if (t == NULL)
    g_hash_table_remove(srv->paths, p);
  bf_mutex_unlock(&srv->lock);
  if (t == NULL) {
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "no thread for connection "
           "from %s", p->conn->peer);
    bfd_gate_leave(srv->gate, p->src, p->seat);
    bfd_path_unref(p);
  }
}

static gpointer
accept_main(gpointer data)
{
  Listener *l = data;

  for (;;) {
    struct sockaddr_storage from;
    socklen_t from_len = sizeof from;
    int fd = accept4(l->fd, (struct sockaddr *)&from, &from_len, SOCK_CLOEXEC);

    if (stopping(l->srv)) {
      if (fd >= 0)
        close(fd);
      break;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      g_warning("accept on %s: %s", l->name, g_strerror(errno));
      /* Out of descriptors: back off instead of spinning. */
      g_usleep(100 * 1000);
      continue;
    }
    spawn_path(l->srv, fd, (struct sockaddr *)&from);
  }
  g_free(l);
  return NULL;
}

/* Joins the path threads that are done (they are at most a few
 * instructions from their end), with the lock let go meanwhile. */
static void join_ended_locked(BfdServer *srv) BF_REQUIRES(&srv->lock);

static void
join_ended_locked(BfdServer *srv)
{
  g_autoptr(GPtrArray) ended = g_steal_pointer(&srv->ended_threads);

  srv->ended_threads = g_ptr_array_new();
  bf_mutex_unlock(&srv->lock);
  for (guint i = 0; i < ended->len; i++)
    g_thread_join(ended->pdata[i]);
  bf_mutex_lock(&srv->lock);
}

/* Abandons the unfinished items of every session whose last path left
 * more than linger ago. */
/* A session idle this long rests (session.h): its journal and tmp/
 * are closed until a path attaches. */
/* Appends' base copies at once: each is one file's sequential copy. */
#define BASE_COPIERS 2
#define REST_AFTER_US (2 * G_USEC_PER_SEC)

static void
abandon_lingered(BfdServer *srv, gint64 now)
{
  g_autoptr(GPtrArray) all = bfd_sessions_list(srv->sessions);
  gint64 linger = (gint64)srv->limits.linger_ms * 1000;

  for (guint i = 0; i < all->len; i++) {
    if (bfd_session_lingered(all->pdata[i], now, linger))
      bfd_items_abandon(all->pdata[i]);
    bfd_session_rest(all->pdata[i], now - REST_AFTER_US);
  }
}

static gpointer
janitor_main(gpointer data)
{
  BfdServer *srv = data;

  bf_mutex_lock(&srv->lock);
  while (!srv->stopping) {
    gint64 now = g_get_monotonic_time();
    bf_mutex_unlock(&srv->lock);
    abandon_lingered(srv, now);
    bfd_gate_tick(srv->gate);
    bf_mutex_lock(&srv->lock);
    join_ended_locked(srv);
    bf_cond_wait_until(&srv->janitor_wake, &srv->lock, now + G_USEC_PER_SEC);
  }
  bf_mutex_unlock(&srv->lock);
  return NULL;
}

void
bfd_server_start(BfdServer *srv)
{
  srv->committer = bfd_items_committer_new();
  srv->copiers = g_thread_pool_new(bfd_items_copy_base, NULL, BASE_COPIERS,
                                   FALSE, NULL);
  srv->flusher = bf_flusher_new();
  srv->ended_threads = g_ptr_array_new();
  srv->accept_threads = g_ptr_array_new();
  /* Tells a client that re-attaches whether this is still the process that
   * holds its items. */
  do
    randombytes_buf(&srv->instance, sizeof srv->instance);
  while (srv->instance == 0);
  srv->janitor = g_thread_new("janitor", janitor_main, srv);
  for (guint i = 0; i < srv->listen_fds->len; i++) {
    Listener *l = g_new0(Listener, 1);
    l->srv = srv;
    l->fd = GPOINTER_TO_INT(srv->listen_fds->pdata[i]);
    l->name = srv->listen_names->pdata[i];
    g_ptr_array_add(srv->accept_threads,
                    g_thread_new("accept", accept_main, l));
  }
}

void
bfd_server_stop(BfdServer *srv)
{
  GHashTableIter iter;
  gpointer v;

  bf_mutex_lock(&srv->lock);
  srv->stopping = TRUE;
  g_cond_broadcast(&srv->janitor_wake);
  bf_mutex_unlock(&srv->lock);
  g_thread_join(srv->janitor);
  srv->janitor = NULL;
  for (guint i = 0; i < srv->listen_fds->len; i++)
    shutdown(GPOINTER_TO_INT(srv->listen_fds->pdata[i]), SHUT_RDWR);
  for (guint i = 0; i < srv->accept_threads->len; i++)
    g_thread_join(srv->accept_threads->pdata[i]);
  g_ptr_array_set_size(srv->accept_threads, 0);

  bf_mutex_lock(&srv->lock);
  g_hash_table_iter_init(&iter, srv->paths);
  while (g_hash_table_iter_next(&iter, &v, NULL))
    bf_conn_shutdown(((BfdPath *)v)->conn);
  while (g_hash_table_size(srv->paths) > 0)
    bf_cond_wait(&srv->paths_gone, &srv->lock);
  join_ended_locked(srv);
  bf_mutex_unlock(&srv->lock);
  g_clear_pointer(&srv->ended_threads, g_ptr_array_unref);
  /* Copies under way end (and may hand their items to the committer). */
  g_thread_pool_free(g_steal_pointer(&srv->copiers), FALSE, TRUE);
  g_clear_pointer(&srv->flusher, bf_flusher_free);
  /* Items already complete are still made durable. */
  g_clear_pointer(&srv->committer, bfd_items_committer_free);
}

void
bfd_server_clear(BfdServer *srv)
{
  if (srv->accept_threads != NULL)
    bfd_server_stop(srv);
  for (guint i = 0; srv->listen_fds && i < srv->listen_fds->len; i++)
    close(GPOINTER_TO_INT(srv->listen_fds->pdata[i]));
  g_clear_pointer(&srv->listen_fds, g_ptr_array_unref);
  g_clear_pointer(&srv->listen_names, g_ptr_array_unref);
  g_clear_pointer(&srv->owner_who, g_free);
  g_clear_pointer(&srv->accept_threads, g_ptr_array_unref);
  g_clear_pointer(&srv->sessions, bfd_sessions_free);
  g_clear_pointer(&srv->paths, g_hash_table_unref);
  g_clear_pointer(&srv->key, bf_key_free);
  g_clear_pointer(&srv->client_keys, bfd_client_keys_free);
  g_clear_pointer(&srv->gate, bfd_gate_free);
  if (srv->store_fd >= 0)
    close(srv->store_fd);
  if (srv->events_fd >= 0)
    close(srv->events_fd);
  bfd_hook_free(g_steal_pointer(&srv->hook));
  srv->events_fd = -1;
  srv->store_fd = -1;
  g_clear_pointer(&srv->store_path, g_free);
}
