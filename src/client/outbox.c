/* The outbox: the client's FUSE mount. Every regular file written here is
 * an item sent to the server; directories are made there too. The tree
 * below is only what this mount has sent (names, sizes, modes, times):
 * file contents are not kept, so reading back is refused with EACCES. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef struct Node Node;
struct Node {
  char *name;
  Node *parent;
  GHashTable *children;       /* name -> Node*; NULL for files */
  uint32_t mode;              /* permission bits */
  struct timespec mtime;
  uint64_t size;
  BfcItem *item;              /* the version being written, if any */
};

typedef struct {
  BfcSession *sess;
  GMutex lock;                /* protects the whole tree */
  Node *root;
  uid_t uid;
  gid_t gid;
} Outbox;

static Outbox *
outbox(void)
{
  return fuse_get_context()->private_data;
}

static void node_free(Node *n);

static Node *
node_new(const char *name, gboolean dir, uint32_t mode)
{
  Node *n = g_new0(Node, 1);

  n->name = g_strdup(name);
  n->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &n->mtime);
  if (dir)
    n->children = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)node_free);
  return n;
}

static void
node_free(Node *n)
{
  if (n->children)
    g_hash_table_unref(n->children);
  if (n->item)
    bfc_item_unref(n->item);
  g_free(n->name);
  g_free(n);
}

/* Finds the node for an absolute FUSE path. Called with the lock held. */
static Node *
lookup(Outbox *o, const char *path)
{
  g_auto(GStrv) parts = g_strsplit(path + 1, "/", -1);
  Node *n = o->root;

  for (char **p = parts; *p && n; p++) {
    if (**p == '\0')
      continue;
    n = n->children ? g_hash_table_lookup(n->children, *p) : NULL;
  }
  return n;
}

/* Finds the parent directory of path and its last component. */
static Node *
lookup_parent(Outbox *o, const char *path, const char **leaf)
{
  const char *slash = strrchr(path, '/');
  g_autofree char *dir = g_strndup(path, slash - path);
  Node *n = lookup(o, dir[0] ? dir : "/");

  *leaf = slash + 1;
  return (n && n->children) ? n : NULL;
}

static void
node_attach(Node *parent, Node *child)
{
  child->parent = parent;
  g_hash_table_replace(parent->children, child->name, child);
}

static void
fill_stat(Outbox *o, Node *n, struct stat *st)
{
  const BfcConfig *cfg = bfc_session_config(o->sess);

  memset(st, 0, sizeof *st);
  st->st_mode = (n->children ? S_IFDIR : S_IFREG) | n->mode;
  st->st_nlink = n->children ? 2 : 1;
  st->st_uid = o->uid;
  st->st_gid = o->gid;
  st->st_size = n->item ? bfc_item_size(n->item) : n->size;
  /* cp sizes its writes by st_blksize: one chunk per write(2). */
  st->st_blksize = cfg->chunk_size;
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_mtim = st->st_ctim = st->st_atim = n->mtime;
}

/* The status directory: reachable by name, never listed, so that cp -r of
 * the outbox does not pick it up. */
#define STATUS_DIR "/.braidfs"
#define STATUS_PATHS STATUS_DIR "/paths"

static gboolean
is_status(const char *path)
{
  return g_str_has_prefix(path, STATUS_DIR) &&
         (path[sizeof STATUS_DIR - 1] == '\0' || path[sizeof STATUS_DIR - 1] == '/');
}

static int
status_getattr(Outbox *o, const char *path, struct stat *st)
{
  memset(st, 0, sizeof *st);
  st->st_uid = o->uid;
  st->st_gid = o->gid;
  clock_gettime(CLOCK_REALTIME, &st->st_mtim);
  st->st_ctim = st->st_atim = st->st_mtim;
  if (strcmp(path, STATUS_DIR) == 0) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, STATUS_PATHS) != 0)
    return -ENOENT;
  g_autofree char *text = bfc_session_describe_paths(o->sess);
  st->st_mode = S_IFREG | 0444;
  st->st_nlink = 1;
  st->st_size = strlen(text);
  return 0;
}

static int
ob_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  Node *n;

  (void)fi;
  if (is_status(path))
    return status_getattr(o, path, st);
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n)
    fill_stat(o, n, st);
  g_mutex_unlock(&o->lock);
  return n ? 0 : -ENOENT;
}

static int
ob_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
           struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  Outbox *o = outbox();
  GHashTableIter iter;
  gpointer v;
  Node *n;

  (void)off;
  (void)fi;
  (void)flags;
  if (strcmp(path, STATUS_DIR) == 0) {
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, "paths", NULL, 0, 0);
    return 0;
  }
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n == NULL || n->children == NULL) {
    g_mutex_unlock(&o->lock);
    return n ? -ENOTDIR : -ENOENT;
  }
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  g_hash_table_iter_init(&iter, n->children);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    fill(buf, ((Node *)v)->name, NULL, 0, 0);
  g_mutex_unlock(&o->lock);
  return 0;
}

static int
ob_mkdir(const char *path, mode_t mode)
{
  Outbox *o = outbox();
  const char *leaf;
  Node *parent;
  int rc;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  parent = lookup_parent(o, path, &leaf);
  rc = parent == NULL ? -ENOENT
       : g_hash_table_contains(parent->children, leaf) ? -EEXIST : 0;
  g_mutex_unlock(&o->lock);
  if (rc == 0)
    rc = bfc_op(o->sess, BF_OP_MKDIR, path + 1, NULL, mode);
  if (rc == 0) {
    g_mutex_lock(&o->lock);
    parent = lookup_parent(o, path, &leaf);
    if (parent && !g_hash_table_contains(parent->children, leaf))
      node_attach(parent, node_new(leaf, TRUE, mode));
    g_mutex_unlock(&o->lock);
  }
  return rc;
}

static int
ob_rmdir(const char *path)
{
  Outbox *o = outbox();
  Node *n;
  int rc;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  rc = n == NULL ? -ENOENT : n->children == NULL ? -ENOTDIR
       : g_hash_table_size(n->children) ? -ENOTEMPTY : 0;
  g_mutex_unlock(&o->lock);
  if (rc == 0)
    rc = bfc_op(o->sess, BF_OP_RMDIR, path + 1, NULL, 0);
  if (rc == 0 || rc == -ENOENT) {
    g_mutex_lock(&o->lock);
    n = lookup(o, path);
    if (n && n->parent && n->children && !g_hash_table_size(n->children))
      g_hash_table_remove(n->parent->children, n->name);
    g_mutex_unlock(&o->lock);
    rc = 0;
  }
  return rc;
}

/* Starts a new version of path: an item on the server, a node here. */
static int
start_item(const char *path, uint32_t mode, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  const char *leaf;
  Node *parent, *n;
  BfcItem *it;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  parent = lookup_parent(o, path, &leaf);
  n = parent ? g_hash_table_lookup(parent->children, leaf) : NULL;
  if (parent == NULL || (n && n->children) || (n && n->item)) {
    g_mutex_unlock(&o->lock);
    return parent == NULL ? -ENOENT : (n->children ? -EISDIR : -EBUSY);
  }
  if (n == NULL) {
    n = node_new(leaf, FALSE, mode);
    node_attach(parent, n);
  } else {
    n->mode = mode & 07777;
  }
  it = bfc_item_new(o->sess, path + 1, mode);
  n->item = bfc_item_ref(it);
  n->size = 0;
  g_mutex_unlock(&o->lock);
  fi->fh = (uint64_t)(uintptr_t)it;
  /* The kernel's page cache would only hold a copy we never read back. */
  fi->direct_io = 1;
  return 0;
}

static int
ob_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  return start_item(path, mode, fi);
}

/* File handles of the status file carry a snapshot of its text, tagged so
 * that they are never taken for an item. */
typedef struct {
  uint32_t magic;
  char *text;
  size_t len;
} StatusFile;
#define STATUS_MAGIC 0x62667374u

static int
status_open(Outbox *o, const char *path, struct fuse_file_info *fi)
{
  StatusFile *sf;

  if (strcmp(path, STATUS_PATHS) != 0)
    return -EISDIR;
  if ((fi->flags & O_ACCMODE) != O_RDONLY)
    return -EACCES;
  sf = g_new0(StatusFile, 1);
  sf->magic = STATUS_MAGIC;
  sf->text = bfc_session_describe_paths(o->sess);
  sf->len = strlen(sf->text);
  fi->fh = (uint64_t)(uintptr_t)sf;
  fi->direct_io = 1;
  return 0;
}

static int
ob_open(const char *path, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  Node *n;
  uint32_t mode;

  if (is_status(path))
    return status_open(o, path, fi);

  if ((fi->flags & O_ACCMODE) == O_RDONLY)
    return -EACCES;
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  mode = n ? n->mode : 0644;
  g_mutex_unlock(&o->lock);
  if (n == NULL)
    return -ENOENT;
  /* Without O_TRUNC the writer would extend bytes that already left. */
  if (!(fi->flags & O_TRUNC))
    return -EACCES;
  return start_item(path, mode, fi);
}

static int
ob_write(const char *path, const char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  BfcItem *it = (BfcItem *)(uintptr_t)fi->fh;
  int rc;

  (void)path;
  rc = bfc_item_write(it, buf, size, (uint64_t)off);
  return rc < 0 ? rc : (int)size;
}

static int
ob_read(const char *path, char *buf, size_t size, off_t off,
        struct fuse_file_info *fi)
{
  StatusFile *sf = (StatusFile *)(uintptr_t)fi->fh;

  if (!is_status(path))
    return -EACCES;   /* only handles opened for writing exist otherwise */
  if ((size_t)off >= sf->len)
    return 0;
  size = MIN(size, sf->len - (size_t)off);
  memcpy(buf, sf->text + off, size);
  return (int)size;
}

/* Moves what the item ended as into the node once no descriptor is left:
 * a delivered file shows its size, one never delivered disappears. */
static void
settle(const char *path, BfcItem *it)
{
  Outbox *o = outbox();
  gboolean stored = it->closed && !it->cancelled && it->result == 0;
  Node *n;

  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n && n->item == it) {
    n->size = stored ? bfc_item_size(it) : 0;
    n->mode = it->mode;
    n->mtime = it->mtime;
    n->item = NULL;
    if (!stored && n->parent)
      g_hash_table_remove(n->parent->children, n->name);
    bfc_item_unref(it);
  }
  g_mutex_unlock(&o->lock);
}

/* close(2) lands here: delivery=close means it returns only once the
 * server holds the item durably, so cp sees a failure as a failed close. */
static int
ob_flush(const char *path, struct fuse_file_info *fi)
{
  if (is_status(path))
    return 0;
  return bfc_item_close((BfcItem *)(uintptr_t)fi->fh);
}

static int
ob_release(const char *path, struct fuse_file_info *fi)
{
  BfcItem *it = (BfcItem *)(uintptr_t)fi->fh;

  if (is_status(path)) {
    StatusFile *sf = (StatusFile *)(uintptr_t)fi->fh;
    g_free(sf->text);
    g_free(sf);
    return 0;
  }

  /* Without a flush (the writer was killed mid-way) nothing is stored. */
  if (!it->closed)
    bfc_item_cancel(it);
  settle(path, it);
  bfc_item_unref(it);
  return 0;
}

static int
ob_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  BfcItem *it = fi ? (BfcItem *)(uintptr_t)fi->fh : NULL;
  Node *n;
  int rc = 0;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (it == NULL && n != NULL && n->item != NULL)
    it = bfc_item_ref(n->item);
  else if (it != NULL)
    bfc_item_ref(it);
  else if (n == NULL)
    rc = -ENOENT;
  else if ((uint64_t)size != n->size)
    rc = -EACCES;     /* contents already left; write a new version */
  g_mutex_unlock(&o->lock);
  if (it != NULL) {
    rc = bfc_item_truncate(it, (uint64_t)size);
    bfc_item_unref(it);
  }
  return rc;
}

static int
ob_unlink(const char *path)
{
  Outbox *o = outbox();
  Node *n;
  BfcItem *it = NULL;
  int rc;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n && !n->children && n->item)
    it = bfc_item_ref(n->item);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR : 0;
  g_mutex_unlock(&o->lock);
  if (rc < 0)
    return rc;
  if (it != NULL) {
    /* A version still being written is abandoned; nothing of it stays. */
    bfc_item_cancel(it);
    bfc_item_unref(it);
  }
  /* Whatever version was delivered before goes too (CANCEL and UNLINK
   * travel in order on the control path). */
  rc = bfc_op(o->sess, BF_OP_UNLINK, path + 1, NULL, 0);
  if (rc == -ENOENT)
    rc = 0;
  if (rc == 0) {
    g_mutex_lock(&o->lock);
    n = lookup(o, path);
    if (n && n->parent)
      g_hash_table_remove(n->parent->children, n->name);
    g_mutex_unlock(&o->lock);
  }
  return rc;
}

static int
ob_rename(const char *from, const char *to, unsigned int flags)
{
  Outbox *o = outbox();
  const char *leaf;
  Node *n, *parent, *old;
  int rc = 0;

  if (is_status(from) || is_status(to))
    return -EPERM;
  if (flags & ~RENAME_NOREPLACE)
    return -EINVAL;
  g_mutex_lock(&o->lock);
  n = lookup(o, from);
  parent = lookup_parent(o, to, &leaf);
  old = parent ? g_hash_table_lookup(parent->children, leaf) : NULL;
  if (n == NULL || parent == NULL)
    rc = -ENOENT;
  else if (n->item != NULL || (old && old->item))
    rc = -EBUSY;      /* renaming an item still being written: not yet */
  else if (old && (flags & RENAME_NOREPLACE))
    rc = -EEXIST;
  else if (old && old->children && !n->children)
    rc = -EISDIR;
  else if (old && old->children && g_hash_table_size(old->children))
    rc = -ENOTEMPTY;
  g_mutex_unlock(&o->lock);
  if (rc == 0)
    rc = bfc_op(o->sess, BF_OP_RENAME, from + 1, to + 1, 0);
  if (rc == 0) {
    g_mutex_lock(&o->lock);
    n = lookup(o, from);
    parent = lookup_parent(o, to, &leaf);
    if (n && parent && n->parent) {
      g_hash_table_steal(n->parent->children, n->name);
      g_free(n->name);
      n->name = g_strdup(leaf);
      node_attach(parent, n);
    }
    g_mutex_unlock(&o->lock);
  }
  return rc;
}

/* Mode and times of a file being written travel with its ITEM_CLOSE; those
 * of delivered files and of directories are set on the server at once
 * (tar, rsync and cp -a set them after closing). */
static int
set_attr(const char *path, struct fuse_file_info *fi, uint8_t flags,
         uint32_t mode, const struct timespec *mtime)
{
  Outbox *o = outbox();
  BfcItem *it = fi ? (BfcItem *)(uintptr_t)fi->fh : NULL;
  Node *n;
  int rc;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (it == NULL && n != NULL)
    it = n->item;
  if (it != NULL)
    bfc_item_ref(it);
  g_mutex_unlock(&o->lock);
  if (n == NULL && it == NULL)
    return -ENOENT;
  if (it != NULL && !it->closed) {
    g_mutex_lock(&it->wlock);
    if (flags & BF_SETATTR_MODE)
      it->mode = mode;
    if (flags & BF_SETATTR_MTIME)
      it->mtime = *mtime;
    g_mutex_unlock(&it->wlock);
    bfc_item_unref(it);
    return 0;
  }
  if (it != NULL)
    bfc_item_unref(it);
  if (strcmp(path, "/") == 0)
    return -EPERM;
  rc = bfc_setattr(o->sess, path + 1, flags, mode, mtime);
  if (rc == 0) {
    g_mutex_lock(&o->lock);
    n = lookup(o, path);
    if (n != NULL && (flags & BF_SETATTR_MODE))
      n->mode = mode;
    if (n != NULL && (flags & BF_SETATTR_MTIME))
      n->mtime = *mtime;
    g_mutex_unlock(&o->lock);
  }
  return rc;
}

static int
ob_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  return set_attr(path, fi, BF_SETATTR_MODE, mode & 07777, NULL);
}

static int
ob_utimens(const char *path, const struct timespec tv[2],
           struct fuse_file_info *fi)
{
  struct timespec t;

  if (tv != NULL && tv[1].tv_nsec == UTIME_OMIT)
    return 0;   /* only atime changes, and atime is not transferred */
  if (tv == NULL || tv[1].tv_nsec == UTIME_NOW)
    clock_gettime(CLOCK_REALTIME, &t);
  else
    t = tv[1];
  return set_attr(path, fi, BF_SETATTR_MTIME, 0, &t);
}

static int
ob_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  (void)path;
  (void)uid;
  (void)gid;
  (void)fi;
  return 0;   /* ownership is the server's; not transferred */
}

static int
ob_statfs(const char *path, struct statvfs *st)
{
  (void)path;
  memset(st, 0, sizeof *st);
  st->f_bsize = st->f_frsize = bfc_session_config(outbox()->sess)->chunk_size;
  st->f_blocks = st->f_bfree = st->f_bavail = G_MAXUINT32;
  st->f_files = st->f_ffree = st->f_favail = G_MAXUINT32;
  st->f_namemax = BF_COMPONENT_MAX;
  return 0;
}

static void *
ob_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  Outbox *o = fuse_get_context()->private_data;

  /* open(O_TRUNC) then arrives as one call that starts a new version. */
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
    conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  cfg->attr_timeout = 1.0;
  cfg->entry_timeout = 1.0;
  cfg->negative_timeout = 0;
  bfc_session_start(o->sess);
  return o;
}

static void
ob_destroy(void *data)
{
  Outbox *o = data;

  bfc_session_stop(o->sess);
  o->sess = NULL;
}

void
bfc_outbox_free(void *data)
{
  Outbox *o = data;

  /* fuse_main fails before init when the mount itself fails. */
  if (o->sess != NULL)
    bfc_session_stop(o->sess);
  node_free(o->root);
  g_mutex_clear(&o->lock);
  g_free(o);
}

static const struct fuse_operations outbox_ops = {
  .init = ob_init,
  .destroy = ob_destroy,
  .getattr = ob_getattr,
  .readdir = ob_readdir,
  .mkdir = ob_mkdir,
  .rmdir = ob_rmdir,
  .create = ob_create,
  .open = ob_open,
  .write = ob_write,
  .read = ob_read,
  .flush = ob_flush,
  .release = ob_release,
  .truncate = ob_truncate,
  .unlink = ob_unlink,
  .rename = ob_rename,
  .chmod = ob_chmod,
  .chown = ob_chown,
  .utimens = ob_utimens,
  .statfs = ob_statfs,
};

const struct fuse_operations *
bfc_outbox_ops(void)
{
  return &outbox_ops;
}

void *
bfc_outbox_new(BfcSession *s)
{
  Outbox *o = g_new0(Outbox, 1);

  o->sess = s;
  g_mutex_init(&o->lock);
  o->root = node_new("", TRUE, 0755);
  o->uid = getuid();
  o->gid = getgid();
  return o;
}
