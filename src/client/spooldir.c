/* Opening the spool directory without trusting it (see spooldir.h). */
#include "spooldir.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/io.h"

#define KEY_SUFFIX ".key"

static gboolean
fail_errno(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail_errno(GError **error, int err, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, G_FILE_ERROR, g_file_error_from_errno(err), text);
  return FALSE;
}

/* A directory above the spool: whoever may change it could put another
 * directory (or a symlink) in the spool's place. Root and the mounting
 * user may; others only through a sticky directory (such as /tmp), where
 * they cannot rename or remove what is not theirs, and the next component
 * is checked to be ours or root's. */
static gboolean
check_ancestor(const char *path, const struct stat *st, GError **error)
{
  uid_t me = geteuid();

  if (st->st_uid != 0 && st->st_uid != me)
    return fail_errno(error, EPERM, "spool: %s belongs to uid %u, who could "
                      "replace the spool; use a spool whose parent "
                      "directories belong to root or to you", path,
                      (unsigned)st->st_uid);
  if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
    return fail_errno(error, EPERM, "spool: %s is writable by group or others "
                      "(mode %04o), who could replace the spool; run chmod "
                      "go-w %s, or use a spool whose parent directories only "
                      "root and you can write", path,
                      (unsigned)(st->st_mode & 07777), path);
  return TRUE;
}

static gboolean
check_spool(const char *path, const struct stat *st, GError **error)
{
  if (st->st_uid != geteuid())
    return fail_errno(error, EPERM, "spool %s belongs to uid %u, not to you "
                      "(uid %u): it must be yours alone (chown it, or use "
                      "another spool)", path, (unsigned)st->st_uid,
                      (unsigned)geteuid());
  if (st->st_mode & (S_IRWXG | S_IRWXO))
    return fail_errno(error, EPERM, "spool %s is open to group or others "
                      "(mode %04o): it holds your files and the session's "
                      "secret; run chmod 700 %s", path,
                      (unsigned)(st->st_mode & 07777), path);
  return TRUE;
}

/* Opens the canonical path `real` one component at a time from /, never
 * through a symlink, checking each (see check_ancestor). *parent gets an
 * O_PATH descriptor of the spool's parent; returns the spool's, or -1. */
static int
open_walk(const char *real, int *parent, GError **error)
{
  g_auto(GStrv) parts = g_strsplit(real + 1, "/", -1);
  g_autoptr(GString) at = g_string_new("");
  int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;

  *parent = -1;
  if (fd < 0 || fstat(fd, &st) < 0 || !check_ancestor("/", &st, error))
    goto fail;
  for (char **p = parts; *p != NULL; p++) {
    gboolean last = p[1] == NULL;
    g_string_append_printf(at, "/%s", *p);
    int next = openat(fd, *p, (last ? O_RDONLY : O_PATH) | O_DIRECTORY |
                      O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      fail_errno(error, errno, "spool: cannot open %s: %s", at->str,
                 errno == ELOOP || errno == ENOTDIR
                 ? "it changed into a symlink or a file while braidfs opened it"
                 : g_strerror(errno));
      goto fail;
    }
    if (fstat(next, &st) < 0 ||
        !(last ? check_spool(at->str, &st, error)
               : check_ancestor(at->str, &st, error))) {
      close(next);
      goto fail;
    }
    if (last) {
      *parent = fd;
      return next;
    }
    close(fd);
    fd = next;
  }
  fail_errno(error, EINVAL, "spool: / cannot be a spool");
fail:
  if (fd >= 0)
    close(fd);
  return -1;
}

/* items/ or failed/ below the spool: made if missing, never followed if a
 * symlink stands in its place. */
static int
open_subdir(const BfcSpoolDir *d, const char *name, GError **error)
{
  struct stat st;
  int fd;

  if (mkdirat(d->dir_fd, name, 0700) < 0 && errno != EEXIST) {
    fail_errno(error, errno, "spool %s: cannot create %s/: %s", d->path, name,
               g_strerror(errno));
    return -1;
  }
  fd = openat(d->dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    fail_errno(error, errno, "spool %s: %s/ %s; remove it (braidfs makes the "
               "directory)", d->path, name, errno == ELOOP || errno == ENOTDIR
               ? "is a symlink or not a directory" : g_strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) < 0 || st.st_uid != geteuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH))) {
    fail_errno(error, EPERM, "spool %s: %s/ is not yours alone; run chown and "
               "chmod 700 on it", d->path, name);
    close(fd);
    return -1;
  }
  return fd;
}

/* Opens a regular file below dirfd without following a symlink and without
 * blocking on a FIFO; it must be the user's. -1 with errno set (ELOOP for
 * anything that is not a regular file of ours). */
int
bfc_spool_open_file(int dirfd, const char *name, int flags, mode_t mode)
{
  struct stat st;
  int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                  mode);

  if (fd < 0)
    return -1;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    close(fd);
    errno = ELOOP;
    return -1;
  }
  /* Back to blocking I/O for what follows. */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

char *
bfc_spool_read_file(int dirfd, const char *name, size_t max, size_t *len,
                    int *err)
{
  int fd = bfc_spool_open_file(dirfd, name, O_RDONLY, 0);
  g_autofree char *buf = NULL;
  ssize_t got;

  if (fd < 0) {
    *err = errno;
    return NULL;
  }
  buf = g_malloc(max + 1);
  got = bf_read_all(fd, buf, max + 1);
  close(fd);
  if (got < 0 || (size_t)got > max) {
    *err = got < 0 ? (int)-got : EFBIG;
    return NULL;
  }
  buf[got] = '\0';
  *len = (size_t)got;
  return g_steal_pointer(&buf);
}

gboolean
bfc_spool_write_file(int dirfd, const char *name, const void *data, size_t len,
                     GError **error)
{
  g_autofree char *tmp = g_strconcat(name, ".tmp", NULL);
  int fd, rc;

  unlinkat(dirfd, tmp, 0);
  fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
  if (fd < 0)
    return fail_errno(error, errno, "cannot create %s: %s", tmp,
                      g_strerror(errno));
  if ((rc = bf_write_all(fd, data, len)) == 0 && fsync(fd) < 0)
    rc = -errno;
  if (rc < 0) {
    close(fd);
    unlinkat(dirfd, tmp, 0);
    return fail_errno(error, -rc, "cannot write %s: %s", tmp, g_strerror(-rc));
  }
  close(fd);
  /* rename(2) replaces whatever stands at name, a symlink included, and
   * follows nothing. */
  if (renameat(dirfd, tmp, dirfd, name) < 0 || fsync(dirfd) < 0)
    return fail_errno(error, errno, "cannot replace %s: %s", name,
                      g_strerror(errno));
  return TRUE;
}

GPtrArray *
bfc_spool_names(const BfcSpoolDir *d, int dirfd, const char *sub,
                GError **error)
{
  GPtrArray *names;
  int rc = bf_dir_names(dirfd, NULL, NULL, &names);

  if (rc < 0) {
    fail_errno(error, -rc, "spool %s: cannot list %s/%s: %s", d->path,
               d->path, sub, g_strerror(-rc));
    return NULL;
  }
  return names;
}

void
bfc_spool_refuse_mount(GError **error)
{
  if (error == NULL || *error == NULL)
    return;
  g_autofree char *why = (*error)->message;
  (*error)->message = g_strconcat(why, "; not mounting: this mount would "
                                  "not deliver what the spool holds. "
                                  "Nothing was removed: make the spool "
                                  "readable (its owner and modes, the "
                                  "open-files limit, the disk) and mount "
                                  "again", NULL);
}

/* The spool's key, in SPOOL.key beside the spool: see spooldir.h. */
static gboolean
load_key(BfcSpoolDir *d, gboolean *no_key, GError **error)
{
  g_autofree char *base = g_path_get_basename(d->path);
  g_autofree char *name = g_strconcat(base, KEY_SUFFIX, NULL);
  g_autofree char *path = g_strconcat(d->path, KEY_SUFFIX, NULL);
  int fd = bfc_spool_open_file(d->parent_fd, name, O_RDONLY, 0);
  struct stat st;

  if (fd >= 0) {
    /* One byte more than a key tells a longer file. */
    uint8_t buf[BFC_SPOOL_KEY_LEN + 1] = { 0 };
    gboolean ok = fstat(fd, &st) == 0 && !(st.st_mode & (S_IRWXG | S_IRWXO)) &&
                  bf_read_all(fd, buf, sizeof buf) == sizeof d->key;
    close(fd);
    memcpy(d->key, buf, sizeof d->key);
    sodium_memzero(buf, sizeof buf);
    if (!ok)
      return fail_errno(error, EINVAL, "spool key %s is not %zu bytes that "
                        "only you can read (mode 600)", path, sizeof d->key);
    return TRUE;
  }
  if (errno != ENOENT)
    return fail_errno(error, errno, "spool key %s: %s", path,
                      errno == ELOOP ? "not a regular file of yours (a "
                      "symlink?)" : g_strerror(errno));
  *no_key = TRUE;
  return TRUE;
}

gboolean
bfc_spool_dir_make_key(BfcSpoolDir *d, unsigned waiting, GError **error)
{
  g_autofree char *base = g_path_get_basename(d->path);
  g_autofree char *name = g_strconcat(base, KEY_SUFFIX, NULL);
  g_autofree char *path = g_strconcat(d->path, KEY_SUFFIX, NULL);
  int fd, rc;

  if (waiting > 0)
    return fail_errno(error, ENOENT, "spool %s: %u files wait in it, but its "
                      "key %s is missing, so none of them can be "
                      "authenticated (and "
                      "braidfs delivers nothing it cannot authenticate): "
                      "restore %s, or move %s/items away to start afresh",
                      d->path, waiting, path, path, d->path);
  randombytes_buf(d->key, sizeof d->key);
  fd = openat(d->parent_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
              O_CLOEXEC, 0600);
  rc = fd < 0 ? -errno : bf_write_all(fd, d->key, sizeof d->key);
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  if (rc < 0) {
    if (fd >= 0) {
      close(fd);
      unlinkat(d->parent_fd, name, 0);
    }
    return fail_errno(error, -rc, "cannot create the spool key %s: %s (it "
                      "lives beside the spool, so braidfs must be able to "
                      "write there)", path, g_strerror(-rc));
  }
  close(fd);
  /* Best effort: an O_PATH descriptor cannot be fsync'd. */
  int pfd = openat(d->parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd >= 0) {
    fsync(pfd);
    close(pfd);
  }
  g_message("spool %s: made its key %s", d->path, path);
  return TRUE;
}

gboolean
bfc_spool_dir_open(const char *dir, BfcSpoolDir *d, gboolean *no_key,
                   GError **error)
{
  g_autofree char *real = NULL;

  memset(d, 0, sizeof *d);
  *no_key = FALSE;
  d->dir_fd = d->parent_fd = d->items_fd = d->failed_fd = d->lock_fd = -1;
  d->flusher = bf_flusher_new();
  if (g_mkdir_with_parents(dir, 0700) < 0)
    return fail_errno(error, errno, "spool %s: cannot create it: %s", dir,
                      g_strerror(errno));
  if ((real = realpath(dir, NULL)) == NULL)
    return fail_errno(error, errno, "spool %s: %s", dir, g_strerror(errno));
  d->path = g_strdup(real);
  if ((d->dir_fd = open_walk(real, &d->parent_fd, error)) < 0 ||
      (d->items_fd = open_subdir(d, "items", error)) < 0 ||
      (d->failed_fd = open_subdir(d, "failed", error)) < 0)
    return FALSE;
  d->lock_fd = bfc_spool_open_file(d->dir_fd, "lock", O_RDWR | O_CREAT, 0600);
  if (d->lock_fd < 0)
    return fail_errno(error, errno, "spool %s: lock: %s; remove it", d->path,
                      errno == ELOOP ? "not a regular file of yours (a "
                      "symlink?)" : g_strerror(errno));
  if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
    return fail_errno(error, errno, "spool %s is in use by another braidfs "
                      "mount (one spool per mount)", d->path);
  return load_key(d, no_key, error);
}

void
bfc_spool_dir_close(BfcSpoolDir *d)
{
  for (int *fd = (int[]){ d->dir_fd, d->parent_fd, d->items_fd, d->failed_fd,
                          d->lock_fd, -2 }; *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  sodium_memzero(d->key, sizeof d->key);
  g_clear_pointer(&d->path, g_free);
  g_clear_pointer(&d->flusher, bf_flusher_free);
}

void
bfc_spool_mac_init(const BfcSpoolDir *d, crypto_generichash_state *st,
                   const char *purpose)
{
  crypto_generichash_init(st, d->key, sizeof d->key, BFC_SPOOL_MAC_LEN);
  crypto_generichash_update(st, (const uint8_t *)purpose, strlen(purpose) + 1);
}

char *
bfc_spool_default_dir(const char *server, const char *mountpoint,
                      GError **error)
{
  g_autofree char *base = NULL;
  g_autofree char *mount = realpath(mountpoint, NULL);

  if (mount == NULL) {
    fail_errno(error, errno, "mountpoint %s: %s", mountpoint,
               g_strerror(errno));
    return NULL;
  }
  const char *xdg = g_getenv("XDG_STATE_HOME");

  if (geteuid() == 0 && (xdg == NULL || !g_path_is_absolute(xdg)))
    base = g_strdup("/var/lib/braidfs-client");
  else
    base = g_build_filename(g_get_user_state_dir(), "braidfs", NULL);
  if (g_mkdir_with_parents(base, 0700) < 0) {
    fail_errno(error, errno, "cannot make %s for the default spool: %s; give "
               "spool=DIR", base, g_strerror(errno));
    return NULL;
  }
  g_autofree char *key = g_strconcat(server, mount, NULL);
  g_autofree char *name = g_uri_escape_string(key, ":@", FALSE);
  if (strlen(name) > 200) {
    /* too long for a file name: a digest of it keeps it one per mount */
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
                                                         key, -1);
    name[100] = '\0';
    g_autofree char *short_name = g_strconcat(name, "-", sum, NULL);
    return g_build_filename(base, short_name, NULL);
  }
  return g_build_filename(base, name, NULL);
}
