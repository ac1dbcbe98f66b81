/* The read-only FUSE view of the store: one directory per session, the
 * session's data/ tree inside it, and a synthesized .session file. Only
 * rm and rmdir change anything, so a consumer can clear what it processed,
 * and only in this server's sessions: those other servers on the store
 * own are shown from the store, read-only (others.h).
 * Every operation answers from the store and the session's counters: none
 * waits on a path, and none holds a lock across disk I/O (braidfsd.h). */
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "braidfsd.h"
#include "events.h"
#include "limit.h"
#include "metrics.h"
#include "others.h"
#include "server.h"
#include "session.h"
#include "sessions.h"
#include "store.h"

/* At the root, beside the sessions (ls hides them; recovery skips
 * dotfiles): the event stream (events.h) and the metrics (metrics.h). */
#define EVENTS_PATH "/" BFD_EVENTS_FILE
#define METRICS_FILE ".metrics"
#define METRICS_PATH "/" METRICS_FILE

static BfdServer *
server(void)
{
  return fuse_get_context()->private_data;
}

/* What a path names: one of this server's sessions, or one that another
 * server on the store owns, read from the store (never written: no
 * journal, no janitor, no removal here). */
typedef struct {
  BfdSession *s;              /* ours (a reference), or NULL */
  BfdSessionDir *other;       /* another server's, opened to read, or NULL */
  int data_fd;                /* the session's data/ (either's) */
  const char *rest;           /* below the session directory ("." itself) */
} Target;

static void
target_clear(Target *t)
{
  g_clear_pointer(&t->s, bfd_session_unref);
  if (t->other != NULL) {
    bfd_session_dir_clear(t->other);
    g_clear_pointer(&t->other, g_free);
  }
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Target, target_clear)

/* Splits "/S/rest" into the session and "rest". FALSE for the root, and
 * with *err ENOENT for a name that is no session. */
static gboolean
split(const char *path, Target *t, int *err)
{
  const char *p = path + 1;
  const char *slash = strchr(p, '/');
  g_autofree char *dir = slash ? g_strndup(p, slash - p) : g_strdup(p);
  BfdServer *srv = server();

  *err = 0;
  if (*p == '\0')
    return FALSE;
  t->rest = (slash && slash[1]) ? slash + 1 : ".";
  if ((t->s = bfd_sessions_by_name(srv->sessions, dir)) != NULL)
    t->data_fd = t->s->dir.data_fd;
  else if ((t->other = bfd_others_open(srv->store_fd, srv->store_path,
                                       dir)) != NULL)
    t->data_fd = t->other->data_fd;
  else
    *err = ENOENT;
  return *err == 0;
}

static const BfdSessionDir *
target_dir(const Target *t)
{
  return t->s != NULL ? &t->s->dir : t->other;
}

/* A session's files are reached from its data/ without following a
 * symlink anywhere on the way (store.c): the view never shows or removes
 * anything outside the store, whatever was planted in it. Calls fn on the
 * entry's parent and name. */
static int
at_leaf(int data_fd, const char *rest, int (*fn)(int, const char *, void *),
        void *arg)
{
  const char *leaf;
  int parent = bfd_store_open_parent(data_fd, rest, FALSE, &leaf);
  int rc;

  if (parent < 0)
    return -errno;
  rc = fn(parent, leaf, arg);
  close(parent);
  return rc;
}

static int
stat_at(int dir, const char *leaf, void *st)
{
  return fstatat(dir, leaf, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

typedef struct {
  char *buf;
  size_t size;
} LinkBuf;

/* The target text as the client sent it, never resolved here. */
static int
readlink_at(int dir, const char *leaf, void *arg)
{
  LinkBuf *b = arg;
  ssize_t n = readlinkat(dir, leaf, b->buf, b->size - 1);

  if (n < 0)
    return -errno;
  b->buf[n] = '\0';
  return 0;
}

static int
unlink_at(int dir, const char *leaf, void *flags)
{
  return unlinkat(dir, leaf, *(int *)flags) < 0 ? -errno : 0;
}

static gint
str_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The root lists every session of the store: this server's and, read
 * from the store at each listing (one directory read: no cache to go
 * stale), those of the other servers on it. Sorted, each once. */
static GPtrArray *
root_names(BfdServer *srv)
{
  g_autoptr(GPtrArray) ours = bfd_sessions_names(srv->sessions);
  GPtrArray *all = bfd_others_names(srv->store_fd);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

  for (guint i = 0; i < all->len; i++)
    g_hash_table_add(seen, all->pdata[i]);
  for (guint i = 0; i < ours->len; i++)
    if (!g_hash_table_contains(seen, ours->pdata[i]))
      g_ptr_array_add(all, g_strdup(ours->pdata[i]));
  g_ptr_array_sort(all, str_cmp);
  return all;
}

static int
view_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
  int err;
  g_auto(Target) t = { 0 };
  gboolean in = split(path, &t, &err);

  (void)fi;
  memset(st, 0, sizeof *st);
  /* What the view makes up is braidfsd's, as the store is: only its user
   * (and root) may remove a session. */
  st->st_uid = geteuid();
  st->st_gid = getegid();
  if (strcmp(path, EVENTS_PATH) == 0) {
    if (fstatat(server()->store_fd, BFD_EVENTS_FILE, st, AT_SYMLINK_NOFOLLOW) < 0)
      return -errno;
    st->st_mode = S_IFREG | 0444;
    return 0;
  }
  /* Generated files have size 0, as /proc's: each open takes its own
   * snapshot, which a size from another would cut for a reader that
   * trusts st_size; reads go to its end (direct_io). */
  if (strcmp(path, METRICS_PATH) == 0) {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_mtime = time(NULL);
    return 0;
  }
  if (!in && err == 0) {
    /* The store's own times: a new session changes them. */
    if (fstat(server()->store_fd, st) < 0)
      return -errno;
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    st->st_ino = 1;   /* use_ino: FUSE's root id; the others are the store's */
    return 0;
  }
  if (!in)
    return -err;
  if (strcmp(t.rest, BFD_SESSION_FILE) == 0) {
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_mtime = t.s != NULL ? bfd_session_last_activity(t.s)
                               : t.other->started;
    return 0;
  }
  if ((err = at_leaf(t.data_fd, t.rest, stat_at, st)) < 0)
    return err;
  /* data/'s own time changes as items arrive; it is never older than
   * the session. */
  if (strcmp(t.rest, ".") == 0 && st->st_mtime < target_dir(&t)->started) {
    st->st_mtime = target_dir(&t)->started;
    st->st_mtim.tv_nsec = 0;
  }
  st->st_blksize = BF_CHUNK_DEFAULT;
  return 0;
}

static int
view_readlink(const char *path, char *buf, size_t size)
{
  int err;
  g_auto(Target) t = { 0 };
  LinkBuf b = { buf, size };

  if (!split(path, &t, &err))
    return err ? -err : -EINVAL;
  if (size == 0)
    return -EINVAL;
  return at_leaf(t.data_fd, t.rest, readlink_at, &b);
}

static int
view_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
             struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  int err, fd;
  g_auto(Target) t = { 0 };
  gboolean in = split(path, &t, &err);
  DIR *d;
  struct dirent *de;

  (void)off;
  (void)fi;
  (void)flags;
  if (!in && err != 0)
    return -err;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  if (!in) {
    g_autoptr(GPtrArray) names = root_names(server());
    fill(buf, BFD_EVENTS_FILE, NULL, 0, 0);
    fill(buf, METRICS_FILE, NULL, 0, 0);
    for (guint i = 0; i < names->len; i++)
      fill(buf, names->pdata[i], NULL, 0, 0);
    return 0;
  }
  fd = bfd_store_openat(t.data_fd, t.rest, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return -errno;
  d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return -ENOMEM;
  }
  if (strcmp(t.rest, ".") == 0)
    fill(buf, BFD_SESSION_FILE, NULL, 0, 0);
  /* A .session in data/ (from a server before the name was reserved) is
   * hidden by the generated one. */
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
        !(strcmp(t.rest, ".") == 0 && strcmp(de->d_name, BFD_SESSION_FILE) == 0))
      fill(buf, de->d_name, NULL, 0, 0);
  closedir(d);
  return 0;
}

/* File handles: an fd for stored items; the .session text is snapshotted at
 * open so a reader sees one consistent version. */
typedef struct {
  int fd;
  char *text;
  size_t len;
} ViewFile;

static int
view_open(const char *path, struct fuse_file_info *fi)
{
  int err;
  g_auto(Target) t = { 0 };
  gboolean in = split(path, &t, &err);
  ViewFile *vf;

  if ((fi->flags & O_ACCMODE) != O_RDONLY &&
      (in || strcmp(path, EVENTS_PATH) == 0 ||
       strcmp(path, METRICS_PATH) == 0))
    return -EROFS;
  vf = g_new0(ViewFile, 1);
  vf->fd = -1;
  if (strcmp(path, EVENTS_PATH) == 0) {
    /* Read through, uncached: tail -f sees each line as it is added. */
    vf->fd = bfd_store_open_file(server()->store_fd, BFD_EVENTS_FILE,
                                 O_RDONLY, 0);
    if (vf->fd < 0) {
      err = errno;
      g_free(vf);
      return -err;
    }
    fi->direct_io = 1;
  } else if (strcmp(path, METRICS_PATH) == 0) {
    vf->text = bfd_metrics_text(server());
    vf->len = strlen(vf->text);
    fi->direct_io = 1;
  } else if (!in) {
    g_free(vf);
    return err ? -err : -EISDIR;
  } else if (strcmp(t.rest, BFD_SESSION_FILE) == 0) {
    vf->text = t.s != NULL ? bfd_session_describe(t.s)
                           : bfd_others_describe(t.other);
    vf->len = strlen(vf->text);
    fi->direct_io = 1;
  } else {
    /* O_NONBLOCK: a FIFO must not hold this thread; only regular files
     * have contents here (a FIFO or socket of the store is a name). */
    struct stat st;
    vf->fd = bfd_store_openat(t.data_fd, t.rest, O_RDONLY | O_NONBLOCK);
    err = vf->fd < 0 ? errno : fstat(vf->fd, &st) < 0 ? errno
          : S_ISREG(st.st_mode) ? 0 : ENXIO;
    if (err != 0) {
      if (vf->fd >= 0)
        close(vf->fd);
      g_free(vf);
      return -err;
    }
  }
  fi->fh = (uint64_t)(uintptr_t)vf;
  return 0;
}

static int
view_read(const char *path, char *buf, size_t size, off_t off,
          struct fuse_file_info *fi)
{
  ViewFile *vf = (ViewFile *)(uintptr_t)fi->fh;
  ssize_t n;

  (void)path;
  if (vf->fd < 0) {
    if ((size_t)off >= vf->len)
      return 0;
    n = MIN(size, vf->len - (size_t)off);
    memcpy(buf, vf->text + off, n);
    return (int)n;
  }
  n = pread(vf->fd, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int
view_release(const char *path, struct fuse_file_info *fi)
{
  ViewFile *vf = (ViewFile *)(uintptr_t)fi->fh;

  (void)path;
  if (vf->fd >= 0)
    close(vf->fd);
  g_free(vf->text);
  g_free(vf);
  return 0;
}

static int
view_unlink(const char *path)
{
  int err;
  g_auto(Target) t = { 0 };
  struct stat st;

  if (!split(path, &t, &err))
    return err ? -err : -EPERM;
  /* Only its owner changes a session (its totals, its removal). */
  if (t.s == NULL)
    return -EROFS;
  /* .session goes with its session; accepting the unlink lets rm -r
   * clear a whole session directory. */
  if (strcmp(t.rest, BFD_SESSION_FILE) == 0)
    return 0;
  int flags = 0;
  if ((err = at_leaf(t.data_fd, t.rest, stat_at, &st)) < 0 ||
      (err = at_leaf(t.data_fd, t.rest, unlink_at, &flags)) < 0)
    return err;
  if (S_ISREG(st.st_mode) && st.st_nlink <= 1)
    bfd_session_note_removed(t.s, st.st_size);
  return 0;
}

static int
view_rmdir(const char *path)
{
  int err;
  g_auto(Target) t = { 0 };

  if (!split(path, &t, &err))
    return err ? -err : -EBUSY;
  if (t.s == NULL)
    return -EROFS;
  if (strcmp(t.rest, ".") != 0) {
    int flags = AT_REMOVEDIR;
    return at_leaf(t.data_fd, t.rest, unlink_at, &flags);
  }
  /* Removing a whole session: only once its client is gone and its files
   * were consumed. */
  return bfd_sessions_remove(server()->sessions, t.s, server()->store_fd);
}

static int
view_rofs(void)
{
  return -EROFS;
}

static int view_mkdir(const char *p, mode_t m) { (void)p; (void)m; return view_rofs(); }
static int view_create(const char *p, mode_t m, struct fuse_file_info *fi)
{ (void)p; (void)m; (void)fi; return view_rofs(); }
static int view_rename(const char *a, const char *b, unsigned int f)
{ (void)a; (void)b; (void)f; return view_rofs(); }
static int view_chmod(const char *p, mode_t m, struct fuse_file_info *fi)
{ (void)p; (void)m; (void)fi; return view_rofs(); }
static int view_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi)
{ (void)p; (void)u; (void)g; (void)fi; return view_rofs(); }
static int view_truncate(const char *p, off_t o, struct fuse_file_info *fi)
{ (void)p; (void)o; (void)fi; return view_rofs(); }
static int view_utimens(const char *p, const struct timespec tv[2], struct fuse_file_info *fi)
{ (void)p; (void)tv; (void)fi; return view_rofs(); }

static void *
view_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  BfdServer *srv = fuse_get_context()->private_data;

  (void)conn;
  /* Files appear and vanish as items arrive and consumers remove them. */
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  /* Hard links show as one inode with its link count. */
  cfg->use_ino = 1;
  bfd_server_start(srv);
  return srv;
}

static const struct fuse_operations view_ops = {
  .init = view_init,
  .getattr = view_getattr,
  .readlink = view_readlink,
  .readdir = view_readdir,
  .open = view_open,
  .read = view_read,
  .release = view_release,
  .unlink = view_unlink,
  .rmdir = view_rmdir,
  .mkdir = view_mkdir,
  .create = view_create,
  .rename = view_rename,
  .chmod = view_chmod,
  .chown = view_chown,
  .truncate = view_truncate,
  .utimens = view_utimens,
};

const struct fuse_operations *
bfd_view_ops(void)
{
  return &view_ops;
}
