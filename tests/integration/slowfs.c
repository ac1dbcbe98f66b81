/* slowfs: a passthrough FUSE file system whose disk can be made to stall,
 * for tests of what a slow disk under the client's spool holds up.
 *
 *   slowfs SRC MNT GATE LOG [FUSE options]
 *
 * MNT shows SRC. While the file GATE exists, every write, fsync and
 * fdatasync of a file whose path contains "/items/", and every fsync of
 * such a directory, waits until GATE is gone; each such wait is logged to
 * LOG as "held OP PATH" when it begins (tests wait on that line) and
 * "released OP PATH" when it ends. Everything else passes through at once.
 * Runs in the foreground, multithreaded, until unmounted.
 *
 * Environment: SLOWFS_MATCH replaces "/items" as the part of the path
 * that the gate holds; SLOWFS_LOG_SYNCS=1 also logs "sync OP PATH" for
 * every fsync, fdatasync and directory fsync, held or not (a test counts
 * them). */
#define FUSE_USE_VERSION 314
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static const char *src_dir;
static const char *gate;
static const char *match = "/items";
static int log_syncs;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
say(const char *what, const char *op, const char *path)
{
  pthread_mutex_lock(&log_lock);
  fprintf(log_file, "%s %s %s\n", what, op, path);
  fflush(log_file);
  pthread_mutex_unlock(&log_lock);
}

/* Holds the caller while the gate exists, for paths that contain match;
 * logs every sync with SLOWFS_LOG_SYNCS. */
static void
hold(const char *op, const char *path)
{
  struct timespec pause = { 0, 10 * 1000 * 1000 };

  if (log_syncs && strstr(op, "sync") != NULL)
    say("sync", op, path);
  if (strstr(path, match) == NULL || access(gate, F_OK) != 0)
    return;
  say("held", op, path);
  while (access(gate, F_OK) == 0)
    nanosleep(&pause, NULL);
  say("released", op, path);
}

static int
real(const char *path, char out[PATH_MAX])
{
  return snprintf(out, PATH_MAX, "%s%s", src_dir, path) < PATH_MAX ? 0
                                                                  : -ENAMETOOLONG;
}

#define REAL(p)                                                              \
  char p##_real[PATH_MAX];                                                    \
  if (real(p, p##_real) < 0)                                                  \
    return -ENAMETOOLONG;

static int
sf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
  if (fi != NULL)
    return fstat((int)fi->fh, st) < 0 ? -errno : 0;
  REAL(path);
  return lstat(path_real, st) < 0 ? -errno : 0;
}

static int
sf_readlink(const char *path, char *buf, size_t size)
{
  REAL(path);
  ssize_t n = readlink(path_real, buf, size - 1);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  return 0;
}

static int
sf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
           struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  (void)off;
  (void)fi;
  (void)flags;
  REAL(path);
  DIR *d = opendir(path_real);
  struct dirent *e;

  if (d == NULL)
    return -errno;
  while ((e = readdir(d)) != NULL)
    if (fill(buf, e->d_name, NULL, 0, 0))
      break;
  closedir(d);
  return 0;
}

static int
sf_mkdir(const char *path, mode_t mode)
{
  REAL(path);
  return mkdir(path_real, mode) < 0 ? -errno : 0;
}

static int
sf_unlink(const char *path)
{
  REAL(path);
  return unlink(path_real) < 0 ? -errno : 0;
}

static int
sf_rmdir(const char *path)
{
  REAL(path);
  return rmdir(path_real) < 0 ? -errno : 0;
}

static int
sf_symlink(const char *target, const char *path)
{
  REAL(path);
  return symlink(target, path_real) < 0 ? -errno : 0;
}

static int
sf_rename(const char *from, const char *to, unsigned int flags)
{
  REAL(from);
  REAL(to);
  return renameat2(AT_FDCWD, from_real, AT_FDCWD, to_real, flags) < 0 ? -errno
                                                                      : 0;
}

static int
sf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  if (fi != NULL)
    return fchmod((int)fi->fh, mode) < 0 ? -errno : 0;
  REAL(path);
  return chmod(path_real, mode) < 0 ? -errno : 0;
}

static int
sf_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  if (fi != NULL)
    return fchown((int)fi->fh, uid, gid) < 0 ? -errno : 0;
  REAL(path);
  return lchown(path_real, uid, gid) < 0 ? -errno : 0;
}

static int
sf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
  hold("truncate", path);
  if (fi != NULL)
    return ftruncate((int)fi->fh, size) < 0 ? -errno : 0;
  REAL(path);
  return truncate(path_real, size) < 0 ? -errno : 0;
}

static int
sf_utimens(const char *path, const struct timespec tv[2],
           struct fuse_file_info *fi)
{
  if (fi != NULL)
    return futimens((int)fi->fh, tv) < 0 ? -errno : 0;
  REAL(path);
  return utimensat(AT_FDCWD, path_real, tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno
                                                                     : 0;
}

static int
sf_open(const char *path, struct fuse_file_info *fi)
{
  REAL(path);
  int fd = open(path_real, fi->flags & ~O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  fi->fh = (uint64_t)fd;
  return 0;
}

static int
sf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  REAL(path);
  int fd = open(path_real, fi->flags | O_CREAT, mode);
  if (fd < 0)
    return -errno;
  fi->fh = (uint64_t)fd;
  return 0;
}

static int
sf_read(const char *path, char *buf, size_t size, off_t off,
        struct fuse_file_info *fi)
{
  (void)path;
  ssize_t n = pread((int)fi->fh, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int
sf_write(const char *path, const char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  hold("write", path);
  ssize_t n = pwrite((int)fi->fh, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int
sf_statfs(const char *path, struct statvfs *st)
{
  REAL(path);
  return statvfs(path_real, st) < 0 ? -errno : 0;
}

static int
sf_release(const char *path, struct fuse_file_info *fi)
{
  (void)path;
  close((int)fi->fh);
  return 0;
}

static int
sf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
  hold(datasync ? "fdatasync" : "fsync", path);
  int rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
  return rc < 0 ? -errno : 0;
}

static int
sf_opendir(const char *path, struct fuse_file_info *fi)
{
  REAL(path);
  int fd = open(path_real, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return -errno;
  fi->fh = (uint64_t)fd;
  return 0;
}

static int
sf_releasedir(const char *path, struct fuse_file_info *fi)
{
  (void)path;
  close((int)fi->fh);
  return 0;
}

static int
sf_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
  hold("fsyncdir", path);
  int rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
  return rc < 0 ? -errno : 0;
}

static void *
sf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  (void)conn;
  /* The client's checks see the real owners and modes, and every write
   * reaches this process (no page cache in between). */
  cfg->use_ino = 1;
  cfg->direct_io = 1;
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  return NULL;
}

static const struct fuse_operations ops = {
  .init = sf_init,
  .getattr = sf_getattr,
  .readlink = sf_readlink,
  .readdir = sf_readdir,
  .mkdir = sf_mkdir,
  .unlink = sf_unlink,
  .rmdir = sf_rmdir,
  .symlink = sf_symlink,
  .rename = sf_rename,
  .chmod = sf_chmod,
  .chown = sf_chown,
  .truncate = sf_truncate,
  .utimens = sf_utimens,
  .open = sf_open,
  .create = sf_create,
  .read = sf_read,
  .write = sf_write,
  .statfs = sf_statfs,
  .release = sf_release,
  .fsync = sf_fsync,
  .opendir = sf_opendir,
  .releasedir = sf_releasedir,
  .fsyncdir = sf_fsyncdir,
};

int
main(int argc, char **argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: slowfs SRC MNT GATE LOG [FUSE options]\n");
    return 2;
  }
  src_dir = realpath(argv[1], NULL);
  gate = argv[3];
  if (getenv("SLOWFS_MATCH") != NULL)
    match = getenv("SLOWFS_MATCH");
  log_syncs = getenv("SLOWFS_LOG_SYNCS") != NULL;
  log_file = fopen(argv[4], "a");
  if (src_dir == NULL || log_file == NULL) {
    perror("slowfs");
    return 1;
  }
  /* fuse_main gets: slowfs MNT -f [options] */
  char **fargs = calloc((size_t)argc, sizeof *fargs);
  int n = 0;
  fargs[n++] = argv[0];
  fargs[n++] = argv[2];
  fargs[n++] = "-f";
  for (int i = 5; i < argc; i++)
    fargs[n++] = argv[i];
  int rc = fuse_main(n, fargs, &ops, NULL);
  free(fargs);
  return rc;
}
