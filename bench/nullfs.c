/* bench/nullfs — a FUSE filesystem that discards what is written to it:
 * the ceiling of `cp` into a FUSE mount on this machine, for
 * bench/fast-bench.sh (one large file) and bench/wan-bench.sh (a tree of
 * small files: what FUSE's requests alone cost per file).
 *
 *   nullfs MOUNTPOINT [-o blksize=BYTES] [FUSE options] [-f]
 *
 * It is set up the way the braidfs outbox is (high-level libfuse API,
 * direct_io on every file, no writeback cache, the same attribute
 * timeouts), so the difference between the two is braidfs's own work.
 * Files are names with a size: create, write (counted, then dropped),
 * getattr, readdir, truncate, unlink; reads return zeros. Directories are
 * names: mkdir, and their files and directories. getattr reports
 * st_blksize = blksize (default 1 MiB), which is what coreutils cp sizes
 * its writes by. */
#include <errno.h>
#include <fuse.h>
#include <glib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  GMutex lock;
  GHashTable *files;          /* "/name" -> guint64 * size; under lock */
  GHashTable *dirs;           /* "/name": the directories; under lock */
  unsigned blksize;
} NullFs;

static NullFs *
nullfs(void)
{
  return fuse_get_context()->private_data;
}

static int
nf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
  NullFs *fs = nullfs();
  guint64 *size;
  int rc = 0;

  (void)fi;
  memset(st, 0, sizeof *st);
  st->st_uid = getuid();
  st->st_gid = getgid();
  st->st_blksize = fs->blksize;
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  g_mutex_lock(&fs->lock);
  size = g_hash_table_lookup(fs->files, path);
  if (g_hash_table_contains(fs->dirs, path)) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else if (size == NULL) {
    rc = -ENOENT;
  } else {
    st->st_mode = S_IFREG | 0644;
    st->st_nlink = 1;
    st->st_size = (off_t)*size;
  }
  g_mutex_unlock(&fs->lock);
  return rc;
}

/* Whether path ("/a/b") is "/" or a directory made; under lock. */
static gboolean
is_dir_locked(NullFs *fs, const char *path)
{
  return strcmp(path, "/") == 0 || g_hash_table_contains(fs->dirs, path);
}

/* Whether path's parent directory exists; under lock. */
static gboolean
parent_exists_locked(NullFs *fs, const char *path)
{
  g_autofree char *parent = g_path_get_dirname(path);

  return is_dir_locked(fs, parent);
}

/* The entries of table whose parent is dir; under lock. */
static void
fill_children_locked(GHashTable *table, const char *dir, void *buf,
                     fuse_fill_dir_t fill)
{
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init(&iter, table);
  while (g_hash_table_iter_next(&iter, &name, NULL)) {
    g_autofree char *parent = g_path_get_dirname(name);
    if (strcmp(parent, dir) == 0)
      fill(buf, strrchr(name, '/') + 1, NULL, 0, 0);
  }
}

static int
nf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
           struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  NullFs *fs = nullfs();
  int rc = 0;

  (void)off;
  (void)fi;
  (void)flags;
  g_mutex_lock(&fs->lock);
  if (!is_dir_locked(fs, path)) {
    rc = -ENOTDIR;
  } else {
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill_children_locked(fs->dirs, path, buf, fill);
    fill_children_locked(fs->files, path, buf, fill);
  }
  g_mutex_unlock(&fs->lock);
  return rc;
}

static int
nf_mkdir(const char *path, mode_t mode)
{
  NullFs *fs = nullfs();
  int rc = 0;

  (void)mode;
  g_mutex_lock(&fs->lock);
  if (!parent_exists_locked(fs, path))
    rc = -ENOENT;
  else if (is_dir_locked(fs, path) || g_hash_table_contains(fs->files, path))
    rc = -EEXIST;
  else
    g_hash_table_add(fs->dirs, g_strdup(path));
  g_mutex_unlock(&fs->lock);
  return rc;
}

static int
nf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  NullFs *fs = nullfs();
  int rc = 0;

  (void)mode;
  g_mutex_lock(&fs->lock);
  if (!parent_exists_locked(fs, path))
    rc = -ENOENT;
  else
    g_hash_table_replace(fs->files, g_strdup(path), g_new0(guint64, 1));
  g_mutex_unlock(&fs->lock);
  fi->direct_io = 1;   /* as the braidfs outbox does */
  return rc;
}

static int
nf_open(const char *path, struct fuse_file_info *fi)
{
  NullFs *fs = nullfs();
  gboolean found;

  g_mutex_lock(&fs->lock);
  found = g_hash_table_contains(fs->files, path);
  g_mutex_unlock(&fs->lock);
  fi->direct_io = 1;
  return found ? 0 : -ENOENT;
}

/* Sets the size to at least (grow) or exactly (!grow) size. */
static int
set_size(const char *path, guint64 size, gboolean grow)
{
  NullFs *fs = nullfs();
  guint64 *cur;

  g_mutex_lock(&fs->lock);
  cur = g_hash_table_lookup(fs->files, path);
  if (cur != NULL && (!grow || size > *cur))
    *cur = size;
  g_mutex_unlock(&fs->lock);
  return cur != NULL ? 0 : -ENOENT;
}

static int
nf_write(const char *path, const char *buf, size_t len, off_t off,
         struct fuse_file_info *fi)
{
  int rc = set_size(path, (guint64)off + len, TRUE);

  (void)buf;
  (void)fi;
  return rc < 0 ? rc : (int)len;
}

static int
nf_read(const char *path, char *buf, size_t len, off_t off,
        struct fuse_file_info *fi)
{
  NullFs *fs = nullfs();
  guint64 *size, left = 0;

  (void)fi;
  g_mutex_lock(&fs->lock);
  size = g_hash_table_lookup(fs->files, path);
  if (size != NULL && (guint64)off < *size)
    left = *size - (guint64)off;
  g_mutex_unlock(&fs->lock);
  if (size == NULL)
    return -ENOENT;
  len = (size_t)MIN((guint64)len, left);
  memset(buf, 0, len);
  return (int)len;
}

static int
nf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
  (void)fi;
  return set_size(path, (guint64)size, FALSE);
}

static int
nf_unlink(const char *path)
{
  NullFs *fs = nullfs();
  gboolean gone;

  g_mutex_lock(&fs->lock);
  gone = g_hash_table_remove(fs->files, path);
  g_mutex_unlock(&fs->lock);
  return gone ? 0 : -ENOENT;
}

/* cp -p and touch: accepted, nothing kept */
static int
nf_utimens(const char *path, const struct timespec tv[2],
           struct fuse_file_info *fi)
{
  (void)tv;
  (void)fi;
  return set_size(path, 0, TRUE);
}

static void *
nf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  /* the outbox's settings (src/client/outbox.c, ob_init) */
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  cfg->attr_timeout = 1.0;
  cfg->entry_timeout = 1.0;
  cfg->negative_timeout = 0;
  return fuse_get_context()->private_data;
}

static const struct fuse_operations nullfs_ops = {
  .init = nf_init,
  .getattr = nf_getattr,
  .readdir = nf_readdir,
  .create = nf_create,
  .mkdir = nf_mkdir,
  .open = nf_open,
  .write = nf_write,
  .read = nf_read,
  .truncate = nf_truncate,
  .unlink = nf_unlink,
  .utimens = nf_utimens,
};

static const struct fuse_opt nullfs_opts[] = {
  { "blksize=%u", offsetof(NullFs, blksize), 0 },
  FUSE_OPT_END
};

int
main(int argc, char **argv)
{
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  NullFs fs = { .blksize = 1 << 20 };
  int rc;

  if (fuse_opt_parse(&args, &fs, nullfs_opts, NULL) < 0)
    return 1;
  if (fs.blksize < 512 || fs.blksize > (1u << 30)) {
    fprintf(stderr, "nullfs: blksize=%u is out of range (512 to 1G)\n",
            fs.blksize);
    return 1;
  }
  g_mutex_init(&fs.lock);
  fs.files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  fs.dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  /* libfuse 3.14's default thread limit is an invalid -1 and warns. */
  fuse_opt_add_arg(&args, "-omax_threads=32");
  fuse_opt_add_arg(&args, "-osubtype=nullfs,fsname=nullfs");
  rc = fuse_main(args.argc, args.argv, &nullfs_ops, &fs);
  g_hash_table_unref(fs.files);
  g_hash_table_unref(fs.dirs);
  g_mutex_clear(&fs.lock);
  fuse_opt_free_args(&args);
  return rc;
}
