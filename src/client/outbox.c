/* The outbox: the client's FUSE mount. Every regular file written here is
 * an item sent to the server; directories are made there too. The tree
 * below is only what this mount has sent (names, sizes, modes, times):
 * file contents are not kept, so reading back is refused with EACCES. */
#include "outbox.h"

#include "deliver.h"
#include "ops.h"
#include "session.h"
#include "writer.h"

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
  BfcPending *pending;        /* delivery=async: its spooled version */
  gboolean on_server;         /* a version of it was delivered */
};

typedef struct {
  BfcSession *sess;
  BfcDelivery *delivery;      /* delivery=async, else NULL */
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

/* The FUSE boundary (client.h, ERRORS): 0 or -errno. */
static int
result(gboolean ok, GError *error)
{
  int rc = ok ? 0 : -bfc_error_errno(error);

  g_clear_error(&error);
  return rc;
}

static int
run_op(Outbox *o, BfOpKind op, const char *name, const char *name2,
       uint32_t mode)
{
  GError *error = NULL;
  gboolean ok = bfc_op(o->sess, op, name, name2, mode, &error);

  return result(ok, error);
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
  if (n->pending)
    bfc_pending_unref(n->pending);
  g_free(n->name);
  g_free(n);
}

/* A spooled file that has left the spool: delivered, it is a plain file
 * on the server; refused for good (see SPOOL/failed), it is gone. FALSE
 * when the node goes. Called with the lock held. */
static gboolean
settle_pending(Node *n)
{
  gboolean delivered;

  if (n->pending == NULL || !bfc_pending_gone(n->pending, &delivered))
    return TRUE;
  if (delivered)
    n->size = bfc_pending_size(n->pending);
  g_clear_pointer(&n->pending, bfc_pending_unref);
  n->on_server = n->on_server || delivered;
  return delivered || n->on_server;
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
  if (n != NULL && n->parent != NULL && !settle_pending(n)) {
    g_hash_table_remove(n->parent->children, n->name);
    n = NULL;
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
  st->st_size = n->item ? bfc_item_size(n->item)
                : n->pending ? bfc_pending_size(n->pending) : n->size;
  /* cp sizes its writes by st_blksize: one chunk per write(2). */
  st->st_blksize = cfg->chunk_size;
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_mtim = st->st_ctim = st->st_atim = n->mtime;
}

/* The status directory: reachable by name, never listed, so that cp -r of
 * the outbox does not pick it up. */
#define STATUS_DIR "/.braidfs"
#define STATUS_PATHS STATUS_DIR "/paths"
#define STATUS_SPOOL STATUS_DIR "/spool"

static gboolean
is_status(const char *path)
{
  return g_str_has_prefix(path, STATUS_DIR) &&
         (path[sizeof STATUS_DIR - 1] == '\0' || path[sizeof STATUS_DIR - 1] == '/');
}

/* The text of a status file, or NULL if there is none by that name. */
static char *
status_text(Outbox *o, const char *path)
{
  if (strcmp(path, STATUS_PATHS) == 0)
    return bfc_session_describe_paths(o->sess);
  if (strcmp(path, STATUS_SPOOL) == 0 && o->delivery != NULL)
    return bfc_delivery_describe(o->delivery);
  return NULL;
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
  g_autofree char *text = status_text(o, path);
  if (text == NULL)
    return -ENOENT;
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
    if (o->delivery != NULL)
      fill(buf, "spool", NULL, 0, 0);
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
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    if (settle_pending(v))
      fill(buf, ((Node *)v)->name, NULL, 0, 0);
    else
      g_hash_table_iter_remove(&iter);
  }
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
    rc = run_op(o, BF_OP_MKDIR, path + 1, NULL, mode);
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
    rc = run_op(o, BF_OP_RMDIR, path + 1, NULL, 0);
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

/* delivery=async: a new version of path goes into the spool. One that
 * was spooled before and not yet sent is replaced. */
static int
start_pending(Outbox *o, const char *path, uint32_t mode,
              struct fuse_file_info *fi)
{
  const char *leaf;
  Node *parent, *n;
  BfcPending *old = NULL, *pd;
  int err = 0;

  g_mutex_lock(&o->lock);
  parent = lookup_parent(o, path, &leaf);
  n = parent ? g_hash_table_lookup(parent->children, leaf) : NULL;
  if (parent == NULL || (n && n->children) ||
      (n && n->pending && bfc_pending_is_open(n->pending))) {
    g_mutex_unlock(&o->lock);
    return parent == NULL ? -ENOENT : (n->children ? -EISDIR : -EBUSY);
  }
  if (n == NULL) {
    n = node_new(leaf, FALSE, mode);
    node_attach(parent, n);
  }
  n->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &n->mtime);
  old = g_steal_pointer(&n->pending);
  g_mutex_unlock(&o->lock);
  if (old != NULL) {
    bfc_pending_cancel(o->delivery, old);
    bfc_pending_unref(old);
  }
  pd = bfc_pending_new(o->delivery, path + 1, mode, &err);
  if (pd == NULL)
    return -err;
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n != NULL && n->children == NULL && n->pending == NULL)
    n->pending = bfc_pending_ref(pd);
  g_mutex_unlock(&o->lock);
  fi->fh = (uint64_t)(uintptr_t)pd;
  fi->direct_io = 1;
  return 0;
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
  if (o->delivery != NULL)
    return start_pending(o, path, mode, fi);
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
  char *text = status_text(o, path);

  if (text == NULL)
    return strcmp(path, STATUS_DIR) == 0 ? -EISDIR : -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    g_free(text);
    return -EACCES;
  }
  sf = g_new0(StatusFile, 1);
  sf->magic = STATUS_MAGIC;
  sf->text = text;
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
  int rc;

  (void)path;
  if (outbox()->delivery != NULL)
    rc = bfc_pending_write((BfcPending *)(uintptr_t)fi->fh, buf, size, (uint64_t)off);
  else
  {
    GError *error = NULL;
    gboolean ok = bfc_item_write((BfcItem *)(uintptr_t)fi->fh, buf, size,
                                 (uint64_t)off, &error);
    rc = result(ok, error);
  }
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
  gboolean stored = bfc_item_stored(it);
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
 * server holds the item durably, so cp sees a failure as a failed close;
 * delivery=async, once the spool holds it durably. */
static int
ob_flush(const char *path, struct fuse_file_info *fi)
{
  Outbox *o = outbox();

  if (is_status(path))
    return 0;
  if (o->delivery != NULL)
    return bfc_pending_commit(o->delivery, (BfcPending *)(uintptr_t)fi->fh);
  GError *error = NULL;
  gboolean ok = bfc_item_close((BfcItem *)(uintptr_t)fi->fh, &error);
  return result(ok, error);
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
  if (outbox()->delivery != NULL) {
    BfcPending *pd = (BfcPending *)(uintptr_t)fi->fh;
    bfc_pending_release(outbox()->delivery, pd);
    bfc_pending_unref(pd);
    return 0;
  }

  /* Without a flush (the writer was killed mid-way) nothing is stored. */
  if (!g_atomic_int_get(&it->closed))
    bfc_item_cancel(it);
  settle(path, it);
  bfc_item_unref(it);
  return 0;
}

static int
truncate_pending(Outbox *o, const char *path, off_t size,
                 struct fuse_file_info *fi)
{
  BfcPending *pd = fi ? bfc_pending_ref((BfcPending *)(uintptr_t)fi->fh) : NULL;
  Node *n;
  int rc = 0;

  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (pd == NULL && n != NULL && n->pending && bfc_pending_is_open(n->pending))
    pd = bfc_pending_ref(n->pending);
  else if (pd == NULL && n == NULL)
    rc = -ENOENT;
  else if (pd == NULL && (uint64_t)size != (n->pending ? bfc_pending_size(n->pending)
                                                        : n->size))
    rc = -EACCES;     /* closed: write a new version */
  g_mutex_unlock(&o->lock);
  if (pd != NULL) {
    rc = bfc_pending_truncate(pd, (uint64_t)size);
    bfc_pending_unref(pd);
  }
  return rc;
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
  if (o->delivery != NULL)
    return truncate_pending(o, path, size, fi);
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
    GError *error = NULL;
    gboolean ok = bfc_item_truncate(it, (uint64_t)size, &error);
    rc = result(ok, error);
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
  BfcPending *pd = NULL;
  int rc;

  if (is_status(path))
    return -EPERM;   /* the status files are read-only */
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n && !n->children && n->item)
    it = bfc_item_ref(n->item);
  if (n && !n->children && n->pending)
    pd = g_steal_pointer(&n->pending);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR : 0;
  g_mutex_unlock(&o->lock);
  if (rc < 0)
    return rc;
  if (pd != NULL) {
    /* A spooled version is never delivered (or, caught while being sent,
     * removed by the UNLINK below). */
    bfc_pending_cancel(o->delivery, pd);
    bfc_pending_unref(pd);
  }
  if (it != NULL) {
    /* A version still being written is abandoned; nothing of it stays. */
    bfc_item_cancel(it);
    bfc_item_unref(it);
  }
  /* Whatever version was delivered before goes too (CANCEL and UNLINK
   * travel in order on the control path). */
  rc = run_op(o, BF_OP_UNLINK, path + 1, NULL, 0);
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

/* Moves the node from `from` to `to` in the tree. */
static void
move_node(Outbox *o, const char *from, const char *to)
{
  const char *leaf;
  Node *n, *parent;

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

/* The version of `from` still to be delivered takes the new name: the
 * spooled copy (async) or the item being written (renamed on the server
 * once stored). 1 if there is none (or it was delivered meanwhile), so
 * the server's copy is renamed; 0 if done; -errno. */
static int
rename_undelivered(Outbox *o, const char *from, const char *to,
                   BfcItem *it, BfcPending *pd, gboolean from_on_server)
{
  int rc;

  if (it != NULL) {
    GError *error = NULL;
    gboolean later;
    gboolean ok = bfc_item_rename(it, to + 1, &later, &error);
    return ok ? !later : result(ok, error);
  }
  if (pd == NULL)
    return 1;
  rc = bfc_pending_rename(o->delivery, pd, to + 1);
  /* An older delivered version under the old name must not stay. */
  if (rc == 0 && from_on_server) {
    rc = run_op(o, BF_OP_UNLINK, from + 1, NULL, 0);
    rc = rc == -ENOENT ? 0 : rc;
  }
  return rc;
}

static int
ob_rename(const char *from, const char *to, unsigned int flags)
{
  Outbox *o = outbox();
  const char *leaf;
  Node *n, *parent, *old;
  BfcItem *it = NULL;
  BfcPending *pd = NULL, *replaced = NULL;
  gboolean dir = FALSE, on_server = FALSE;
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
  else if (old == n)
    rc = 1;           /* rename to itself: nothing to do */
  else if ((old && old->item) ||
           (old && old->pending && bfc_pending_is_open(old->pending)))
    rc = -EBUSY;      /* the target is being written */
  else if (old && (flags & RENAME_NOREPLACE))
    rc = -EEXIST;
  else if (old && old->children && !n->children)
    rc = -EISDIR;
  else if (old && old->children && g_hash_table_size(old->children))
    rc = -ENOTEMPTY;
  if (rc == 0) {
    dir = n->children != NULL;
    on_server = n->on_server;
    it = n->item ? bfc_item_ref(n->item) : NULL;
    pd = n->pending ? bfc_pending_ref(n->pending) : NULL;
    replaced = old && old->pending ? g_steal_pointer(&old->pending) : NULL;
  }
  g_mutex_unlock(&o->lock);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  /* A spooled version of the target would land after the rename. */
  if (replaced != NULL) {
    bfc_pending_cancel(o->delivery, replaced);
    bfc_pending_unref(replaced);
  }
  if (dir && o->delivery != NULL) {
    g_autofree char *prefix = g_strconcat(from + 1, "/", NULL);
    rc = bfc_delivery_wait_prefix(o->delivery, prefix);
  }
  if (rc == 0)
    rc = rename_undelivered(o, from, to, it, pd, on_server);
  if (rc == 1)
    rc = run_op(o, BF_OP_RENAME, from + 1, to + 1, 0);
  if (rc == 0)
    move_node(o, from, to);
  if (it != NULL)
    bfc_item_unref(it);
  if (pd != NULL)
    bfc_pending_unref(pd);
  return rc;
}

static void
node_set_attr(Outbox *o, const char *path, uint8_t flags, uint32_t mode,
              const struct timespec *mtime)
{
  Node *n;

  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (n != NULL && (flags & BF_SETATTR_MODE))
    n->mode = mode;
  if (n != NULL && (flags & BF_SETATTR_MTIME))
    n->mtime = *mtime;
  g_mutex_unlock(&o->lock);
}

/* delivery=async: the attributes of a file still in the spool go with it.
 * 1 when there is none (the server's copy changes), else 0 or -errno. */
static int
set_attr_pending(Outbox *o, const char *path, struct fuse_file_info *fi,
                 uint8_t flags, uint32_t mode, const struct timespec *mtime)
{
  BfcPending *pd = fi ? bfc_pending_ref((BfcPending *)(uintptr_t)fi->fh) : NULL;
  Node *n;
  int rc;

  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (pd == NULL && n != NULL && n->pending != NULL)
    pd = bfc_pending_ref(n->pending);
  g_mutex_unlock(&o->lock);
  if (pd == NULL)
    return 1;
  rc = bfc_pending_setattr(o->delivery, pd, flags, mode, mtime);
  bfc_pending_unref(pd);
  if (rc == 0)
    node_set_attr(o, path, flags, mode, mtime);
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
  if (o->delivery != NULL && (rc = set_attr_pending(o, path, fi, flags, mode,
                                                    mtime)) <= 0)
    return rc;
  if (o->delivery != NULL)
    it = NULL;        /* fi holds a spooled file, delivered meanwhile */
  g_mutex_lock(&o->lock);
  n = lookup(o, path);
  if (it == NULL && n != NULL)
    it = n->item;
  if (it != NULL)
    bfc_item_ref(it);
  g_mutex_unlock(&o->lock);
  if (n == NULL && it == NULL)
    return -ENOENT;
  if (it != NULL) {
    GError *error = NULL;
    gboolean applied;
    gboolean ok = bfc_item_set_attrs(it, flags, mode, mtime, &applied, &error);
    if (!ok || applied) {
      bfc_item_unref(it);
      return result(ok, error);
    }
  }
  if (it != NULL)
    bfc_item_unref(it);
  if (strcmp(path, "/") == 0)
    return -EPERM;
  GError *error = NULL;
  gboolean ok = bfc_setattr(o->sess, path + 1, flags, mode, mtime, &error);
  rc = result(ok, error);
  if (rc == 0)
    node_set_attr(o, path, flags, mode, mtime);
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
  if (o->delivery != NULL)
    bfc_delivery_start(o->delivery);
  return o;
}

static void
ob_destroy(void *data)
{
  Outbox *o = data;

  if (o->delivery != NULL)
    bfc_delivery_stop(o->delivery);
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
  bfc_delivery_free(o->delivery);
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

/* A file left in the spool by an earlier mount shows where it was
 * written, with the directories above it. */
static void
show_recovered(Outbox *o, BfcPending *pd)
{
  g_auto(GStrv) parts = g_strsplit(bfc_pending_name(pd), "/", -1);
  Node *dir = o->root, *n;

  for (char **p = parts; p[0] != NULL && p[1] != NULL; p++) {
    n = g_hash_table_lookup(dir->children, *p);
    if (n == NULL) {
      n = node_new(*p, TRUE, 0755);
      node_attach(dir, n);
    }
    if (n->children == NULL)
      return;   /* a file where a directory should be: not shown */
    dir = n;
  }
  n = g_hash_table_lookup(dir->children, parts[g_strv_length(parts) - 1]);
  if (n == NULL) {
    n = node_new(parts[g_strv_length(parts) - 1], FALSE, 0644);
    node_attach(dir, n);
  }
  if (n->children == NULL) {
    g_clear_pointer(&n->pending, bfc_pending_unref);
    n->pending = bfc_pending_ref(pd);
  }
}

void *
bfc_outbox_new(BfcSession *s, BfcDelivery *d)
{
  Outbox *o = g_new0(Outbox, 1);

  o->sess = s;
  o->delivery = d;
  g_mutex_init(&o->lock);
  o->root = node_new("", TRUE, 0755);
  o->uid = getuid();
  o->gid = getgid();
  if (d != NULL) {
    GPtrArray *rec = bfc_delivery_recovered(d);
    for (guint i = 0; i < rec->len; i++)
      show_recovered(o, rec->pdata[i]);
  }
  return o;
}
