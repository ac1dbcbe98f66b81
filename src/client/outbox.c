/* The outbox: the client's FUSE mount (outbox.h). Every regular file
 * written here is a version handed to the delivery (delivery.h);
 * directories are made on the server at once. The tree (tree.h) is only
 * what this mount has sent, not the contents: a delivered file is read
 * back from the server, one being written from the client's copy
 * (reader.h). Operations on names rather than contents (attributes,
 * listings, directories, links, df) are in outbox-names.c; the open
 * descriptors are counted in handles.h. The FUSE boundary of the error
 * convention: errors become -errno here (client.h, ERRORS). */
#include "outbox.h"
#include "outbox-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrs.h"
#include "ops.h"
#include "reader.h"
#include "status.h"
#include "tree.h"
#include "wait.h"

/* A descriptor that opened a delivered file for writing (O_WRONLY, no
 * O_TRUNC: `>>`, `exec 3>>f`) and has not written yet: its version is
 * started by its first write or truncate, so a close without one stores
 * nothing again (braidfs(1), Appending). */
typedef struct {
  GMutex lock;
  int flags;
  BfcVersion *ver;   /* NULL until started */
  BfcReader *reader; /* O_RDWR: its reads until then, or NULL */
} Pending;

/* fi->fh of a descriptor reading is its BfcReader (reader.h) with the low
 * bit set, of one not written yet its Pending with bit 1 set (all are heap
 * pointers, so both bits are free); any other fh is the version a
 * descriptor writes. */
#define FH_READER 1u
#define FH_PENDING 2u

static gboolean
is_reader(const struct fuse_file_info *fi)
{
  return fi != NULL && (fi->fh & FH_READER) != 0;
}

static BfcReader *
reader_of(const struct fuse_file_info *fi)
{
  return (BfcReader *)(uintptr_t)(fi->fh & ~(uint64_t)FH_READER);
}

static Pending *
pending_of(const struct fuse_file_info *fi)
{
  return fi != NULL && (fi->fh & FH_PENDING) != 0
         ? (Pending *)(uintptr_t)(fi->fh & ~(uint64_t)FH_PENDING) : NULL;
}

/* The version fi writes, or NULL (no fi, a reader, or nothing written
 * yet). */
static BfcVersion *
version_of(struct fuse_file_info *fi)
{
  Pending *p = pending_of(fi);
  BfcVersion *v;

  if (p == NULL)
    return fi == NULL || is_reader(fi) ? NULL
           : (BfcVersion *)(uintptr_t)fi->fh;
  g_mutex_lock(&p->lock);
  v = p->ver;
  g_mutex_unlock(&p->lock);
  return v;   /* lives until the descriptor's release */
}

/* 0, or -errno for error (which it frees). */
int
bfc_ob_result(gboolean ok, GError *error)
{
  int rc = ok ? 0 : -bfc_error_errno(error);

  g_clear_error(&error);
  return rc;
}

int
bfc_ob_run_op(Outbox *o, BfOpKind op, const char *name, const char *name2,
              uint32_t mode, gboolean gone_is_ok)
{
  GError *error = NULL;
  gboolean ok = bfc_op(o->sess, op, name, name2, mode, &error);

  if (!ok && gone_is_ok && g_error_matches(error, BFC_ERROR, BF_ST_NOT_FOUND))
    ok = TRUE;
  return bfc_ob_result(ok, error);
}

/* close(2) returns before the kernel sends the descriptor's RELEASE (in
 * the background), so the second open of `echo a >> f; echo b >> f` (or
 * `>`) can reach f while the version just closed is still open here.
 * Before an open for writing refuses a node being written (EBUSY), it
 * waits for that RELEASE, holding a seat; a descriptor another process
 * really keeps open gets its EBUSY after BFC_RELEASE_WAIT_US. */
static void
await_release(Outbox *o, const char *path)
{
  gboolean busy;

  bf_mutex_lock(&o->tree.lock);
  busy = bfc_tree_busy_locked(&o->tree, path);
  bf_mutex_unlock(&o->tree.lock);
  if (!busy || !bfc_seat_take(o->sess, TRUE, NULL))
    return;
  bf_mutex_lock(&o->tree.lock);
  bfc_tree_await_idle_locked(&o->tree, path,
                             g_get_monotonic_time() + BFC_RELEASE_WAIT_US);
  bf_mutex_unlock(&o->tree.lock);
  bfc_seat_give(o->sess);
}

/* Reserves path's node for a new version: 0 and a ticket, or -errno. The
 * version it replaces, not yet sent, comes back in *old (to cancel). */
static int
reserve(Outbox *o, const char *path, uint32_t mode, uint64_t *ticket,
        BfcVersion **old) BF_REQUIRES(&o->tree.lock)
{
  const char *leaf;
  BfcNode *parent = bfc_tree_parent_locked(&o->tree, path, &leaf);
  BfcNode *n = parent ? g_hash_table_lookup(parent->children, leaf) : NULL;

  if (n != NULL && !bfc_node_settle_locked(&o->tree, n)) {
    bfc_node_remove(n);
    n = NULL;
  }
  if (parent == NULL)
    return -ENOENT;
  if (n && n->children)
    return -EISDIR;
  if (n && bfc_node_writing(n))
    return -EBUSY;   /* being written */
  if (n == NULL) {
    n = bfc_node_new(leaf, FALSE, mode);
    bfc_node_attach(parent, n);
  }
  bfc_node_make_file(n);
  n->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &n->mtime);
  *old = g_steal_pointer(&n->ver);
  n->starting = *ticket = ++o->tree.tickets;
  return 0;
}

/* Starts a new version of path (with base, an append if the delivery can:
 * *appends). The delivery opens it with no lock held (delivery=async makes
 * a file in the spool); meanwhile the node is reserved. */
static int
start_version(const char *path, uint32_t mode, const BfcBase *base,
              gboolean *appends, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  GError *error = NULL;
  BfcVersion *old = NULL, *v;
  uint64_t ticket = 0;
  gboolean trim;
  BfcNode *n;
  int rc;

  if (bfc_status_reserved(path))
    return -EPERM;
  bf_mutex_lock(&o->tree.lock);
  /* Each new version settles a few delivered ones (tree.h). */
  trim = bfc_tree_sweep_locked(&o->tree);
  rc = reserve(o, path, mode, &ticket, &old);
  bf_mutex_unlock(&o->tree.lock);
  if (trim)
    bfc_tree_trim();
  if (rc < 0)
    return rc;
  if (old != NULL) {
    /* A version spooled before and not yet sent is replaced. */
    bfc_version_cancel(old);
    bfc_version_unref(old);
  }
  v = bfc_version_open_on(o->delivery, path + 1, mode, base, appends, &error);
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  if (n != NULL && n->starting == ticket) {
    n->starting = 0;
    if (v != NULL)
      bfc_node_set_version_locked(&o->tree, n, v);
  }
  bfc_tree_idle_locked(&o->tree);
  bf_mutex_unlock(&o->tree.lock);
  if (v == NULL)
    return bfc_ob_result(FALSE, error);
  /* Without a copy, its reads fail (EBUSY): said once, here. */
  if ((fi->flags & O_ACCMODE) == O_RDWR && !bfc_version_keep_local(v, &error))
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(o->sess, NULL, path + 1), "'%s': %s",
           path + 1, error->message);
  g_clear_error(&error);
  fi->fh = (uint64_t)(uintptr_t)v;
  /* The kernel's page cache would only hold a copy we never read back. */
  fi->direct_io = 1;
  return 0;
}

int
bfc_ob_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  int rc = start_version(path, mode, NULL, NULL, fi);

  if (rc == 0)
    bfc_handles_add(&outbox()->handles, fi->fh, BFC_HANDLE_FILE);
  return rc;
}

/* A delivered file is read back from the server (reader.h). */
static int
open_reader(Outbox *o, const char *path, struct fuse_file_info *fi)
{
  BfcReader *r;
  int rc = bfc_reader_new(&o->tree, o->sess, o->delivery, path, &r);

  if (rc == 0) {
    fi->fh = (uint64_t)(uintptr_t)r | 1;
    /* Every open reads what the server holds now (braidfs(1)). */
    fi->keep_cache = 0;
  }
  return rc;
}

/* Writing a delivered file without O_TRUNC (>>, an edit in place): a new
 * version that starts as the stored one: only the new bytes travel when it
 * appends (O_APPEND, delivery.h), else all, read back first (reader.h).
 * A cut at cut_at (the first byte written, a smaller size; UINT64_MAX:
 * none) sends nothing before it: those bytes are read back only to hash
 * them, those after it (up to upto) at the close, and sent. */
static int
open_copy_up(Outbox *o, const char *path, uint32_t mode, uint64_t upto,
             uint64_t cut_at, struct fuse_file_info *fi)
{
  gboolean appends = FALSE;
  BfcBase base = { 0 };
  uint64_t size;
  int rc = bfc_reader_open_copy(&o->tree, o->sess, o->delivery, path, upto,
                                (fi->flags & O_APPEND) != 0, cut_at, &size,
                                &base);

  if (rc == 0)
    rc = start_version(path, mode, base.state ? &base : NULL, &appends, fi);
  bf_digest_free(base.state);
  if (rc == 0 && (!appends || base.cut))
    bfc_copy_ups_defer(&o->copies, version_of(fi), size);
  if (rc == 0 && appends && base.cut)
    bfc_copy_ups_written(&o->copies, version_of(fi), base.keep);
  return rc;
}

/* Opening a delivered file for writing without O_TRUNC: no version yet
 * (Pending: started by the first write or truncate, so that it knows where
 * the change starts); still EBUSY at once if another descriptor writes
 * it. Opened O_RDWR, it reads the stored file until then (read_pending). */
static int
open_pending(Outbox *o, const char *path, struct fuse_file_info *fi)
{
  Pending *p;
  BfcNode *n;
  int rc;

  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR
       : bfc_node_writing(n) ? -EBUSY : 0;
  bf_mutex_unlock(&o->tree.lock);
  if (rc < 0)
    return rc;
  p = g_new0(Pending, 1);
  g_mutex_init(&p->lock);
  p->flags = fi->flags;
  fi->fh = (uint64_t)(uintptr_t)p | FH_PENDING;
  fi->direct_io = 1;   /* as start_version */
  return 0;
}

/* The version fi writes, started now if fi had written nothing yet: 0 and
 * *v, or -errno. grow_to (UINT64_MAX for a write) is the size of an
 * ftruncate that starts it: one to at least the stored size appends zeros
 * (only they travel, delivery.h); the descriptor then cannot change the
 * bytes before that size (EIO). at is where the change starts (the
 * write's offset, the ftruncate's size): below the stored size, a cut
 * there (open_copy_up). */
static int
version_start(Outbox *o, const char *path, struct fuse_file_info *fi,
              uint64_t grow_to, uint64_t at, BfcVersion **v)
{
  Pending *p = pending_of(fi);
  int rc = 0;

  if (p == NULL) {
    *v = version_of(fi);
    return 0;
  }
  g_mutex_lock(&p->lock);
  if (p->ver == NULL) {
    struct fuse_file_info started = { .flags = p->flags };
    BfcNode *n;
    uint32_t mode;

    bf_mutex_lock(&o->tree.lock);
    n = bfc_tree_lookup_locked(&o->tree, path);
    mode = n ? n->mode : 0644;
    if (n && grow_to != UINT64_MAX && grow_to >= bfc_node_size_locked(&o->tree, n))
      started.flags |= O_APPEND;
    bf_mutex_unlock(&o->tree.lock);
    rc = n == NULL ? -ENOENT
         : open_copy_up(o, path, mode, UINT64_MAX, at, &started);
    if (rc == 0)
      p->ver = version_of(&started);
  }
  *v = p->ver;
  g_mutex_unlock(&p->lock);
  return rc;
}

static int
open_file(Outbox *o, const char *path, struct fuse_file_info *fi)
{
  BfcNode *n;
  uint32_t mode;

  if ((fi->flags & O_ACCMODE) == O_RDONLY)
    return open_reader(o, path, fi);
  await_release(o, path);
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  mode = n ? n->mode : 0644;
  bf_mutex_unlock(&o->tree.lock);
  if (n == NULL)
    return -ENOENT;
  if (!(fi->flags & O_TRUNC))
    return open_pending(o, path, fi);
  return start_version(path, mode, NULL, NULL, fi);
}

int
bfc_ob_open(const char *path, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  gboolean status = bfc_status_is(path);
  int rc = status ? bfc_status_open(&o->status, path, fi)
                  : open_file(o, path, fi);

  if (rc == 0)
    bfc_handles_add(&o->handles, fi->fh,
                    status ? BFC_HANDLE_STATUS : BFC_HANDLE_FILE);
  return rc;
}

int
bfc_ob_write(const char *path, const char *buf, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  GError *error = NULL;
  BfcVersion *v;
  int rc = version_start(o, path, fi, UINT64_MAX, (uint64_t)off, &v);
  gboolean ok;

  if (rc < 0)
    return rc;
  ok = bfc_copy_ups_settle(&o->copies, o->sess, path + 1, v, (uint64_t)off,
                           &error) &&
       bfc_version_write(v, buf, size, (uint64_t)off, &error);
  if (ok)
    bfc_copy_ups_written(&o->copies, v, (uint64_t)off + size);
  return ok ? (int)size : bfc_ob_result(ok, error);
}

/* A read through a descriptor opened O_RDWR without O_TRUNC: the stored
 * file until it writes (as a reader), then its version. The count read
 * or -errno. */
static int
read_pending(Outbox *o, Pending *p, const char *path, char *buf, size_t size,
             uint64_t off)
{
  GError *error = NULL;
  BfcVersion *v;
  gssize n = 0;
  int rc = 0;

  g_mutex_lock(&p->lock);
  v = p->ver;
  if (v == NULL && p->reader == NULL)
    rc = bfc_reader_new(&o->tree, o->sess, o->delivery, path, &p->reader);
  if (rc == 0 && v == NULL)
    n = bfc_reader_read(p->reader, o->sess, path + 1, buf, size, off, &error);
  g_mutex_unlock(&p->lock);
  if (rc < 0)
    return rc;
  if (v != NULL)
    n = bfc_copy_ups_read(&o->copies, o->sess, path + 1, v, buf, size, off,
                          &error);
  return n >= 0 ? (int)n : bfc_ob_result(FALSE, error);
}

int
bfc_ob_read(const char *path, char *buf, size_t size, off_t off,
        struct fuse_file_info *fi)
{
  GError *error = NULL;
  gssize n;

  if (bfc_status_is(path))
    return bfc_status_read(fi, buf, size, off);
  if (pending_of(fi) != NULL)
    return read_pending(outbox(), pending_of(fi), path, buf, size,
                        (uint64_t)off);
  if (!is_reader(fi))   /* its own descriptor reads a version (reader.h) */
    n = bfc_copy_ups_read(&outbox()->copies, outbox()->sess, path + 1,
                          version_of(fi), buf, size, (uint64_t)off, &error);
  else
    n = bfc_reader_read(reader_of(fi), outbox()->sess, path + 1, buf, size,
                        (uint64_t)off, &error);
  return n >= 0 ? (int)n : bfc_ob_result(FALSE, error);
}

/* close(2) lands here: delivery=close means it returns only once the
 * server holds the item durably, so cp sees a failure as a failed close;
 * delivery=async, once the spool holds it durably. */
int
bfc_ob_flush(const char *path, struct fuse_file_info *fi)
{
  GError *error = NULL;

  /* Nothing written: the stored version stays, nothing is sent. */
  if (bfc_status_is(path) || is_reader(fi) || version_of(fi) == NULL)
    return 0;
  gboolean ok = bfc_copy_ups_settle(&outbox()->copies, outbox()->sess,
                                    path + 1, version_of(fi), UINT64_MAX,
                                    &error) &&
                bfc_version_flush(version_of(fi), &error);
  return bfc_ob_result(ok, error);
}

/* Lets go of what descriptor fi holds but its version's reference, which
 * it returns (NULL if none). */
static BfcVersion *
drop_handle(Outbox *o, struct fuse_file_info *fi)
{
  BfcVersion *v = version_of(fi);

  if (is_reader(fi))
    bfc_reader_free(reader_of(fi));
  if (pending_of(fi) != NULL) {
    if (pending_of(fi)->reader != NULL)
      bfc_reader_free(pending_of(fi)->reader);
    g_mutex_clear(&pending_of(fi)->lock);
    g_free(pending_of(fi));
  }
  if (v != NULL)
    bfc_copy_ups_drop(&o->copies, v);
  return v;
}

/* The last descriptor is gone: the node shows what the version ends as
 * (a delivered file its size, one never delivered disappears). */
int
bfc_ob_release(const char *path, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  BfcVersion *v;

  bfc_handles_released(&o->handles, fi->fh);
  if (bfc_status_is(path)) {
    bfc_status_release(fi);
    return 0;
  }
  if ((v = drop_handle(o, fi)) == NULL)
    return 0;
  bfc_version_release(v);
  bf_mutex_lock(&o->tree.lock);
  bfc_tree_lookup_locked(&o->tree, path);   /* settles it */
  bfc_tree_idle_locked(&o->tree);
  bf_mutex_unlock(&o->tree.lock);
  bfc_version_unref(v);
  return 0;
}

/* A descriptor whose RELEASE never came (handles.h): only its memory goes.
 * Its version is not released: the session is stopped, and a spooled one
 * is found again by the next mount as it is. */
static void
drop_left(uint64_t fh, BfcHandleKind kind, void *data)
{
  struct fuse_file_info fi = { .fh = fh };
  BfcVersion *v;

  if (kind == BFC_HANDLE_STATUS)
    bfc_status_release(&fi);
  else if ((v = drop_handle(data, &fi)) != NULL)
    bfc_version_unref(v);
}

/* truncate(2) of a delivered file: a new version of its first size bytes
 * (copied up), delivered at once; one that grows it appends zeros (only
 * they travel). */
static int
truncate_delivered(Outbox *o, const char *path, uint32_t mode, uint64_t size,
                   gboolean grows)
{
  struct fuse_file_info fi = { .flags = O_WRONLY | (grows ? O_APPEND : 0) };
  int rc = open_copy_up(o, path, mode, size, size, &fi);

  if (rc < 0)
    return rc;
  if ((rc = bfc_ob_truncate(path, (off_t)size, &fi)) == 0)
    rc = bfc_ob_flush(path, &fi);
  if (rc < 0)
    bfc_version_cancel(version_of(&fi));
  bfc_ob_release(path, &fi);
  return rc;
}

int
bfc_ob_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
  Outbox *o = outbox();
  BfcVersion *v;
  GError *error = NULL;
  uint32_t mode;
  BfcNode *n;
  int rc = 0;

  if (bfc_status_is(path))
    return -EPERM;   /* the status files are read-only */
  /* ftruncate(2) of a descriptor not written yet starts its version. */
  if ((rc = version_start(o, path, fi, (uint64_t)size, (uint64_t)size,
                          &v)) < 0)
    return rc;
  if (v != NULL)
    bfc_version_ref(v);
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  if (v == NULL && n != NULL && n->ver && !bfc_version_released(n->ver))
    v = bfc_version_ref(n->ver);
  else if (v == NULL && n == NULL)
    rc = -ENOENT;
  else if (v == NULL && (uint64_t)size != bfc_node_size_locked(&o->tree, n))
    rc = 1;           /* contents already left: a new version */
  mode = n ? n->mode : 0;
  gboolean grows = rc == 1 && (uint64_t)size > bfc_node_size_locked(&o->tree, n);
  bf_mutex_unlock(&o->tree.lock);
  if (rc == 1)
    return truncate_delivered(o, path, mode, (uint64_t)size, grows);
  if (v != NULL) {
    gboolean ok = bfc_copy_ups_settle(&o->copies, o->sess, path + 1, v,
                                      (uint64_t)size, &error) &&
                  bfc_version_truncate(v, (uint64_t)size, &error);
    bfc_copy_ups_cut(&o->copies, v, (uint64_t)size);
    rc = bfc_ob_result(ok, error);
    bfc_version_unref(v);
  }
  return rc;
}

int
bfc_ob_unlink(const char *path)
{
  Outbox *o = outbox();
  BfcVersion *v = NULL;
  BfcNode *n;
  int rc;

  if (bfc_status_is(path))
    return -EPERM;   /* the status files are read-only */
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, path);
  if (n && !n->children)
    v = g_steal_pointer(&n->ver);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR : 0;
  bf_mutex_unlock(&o->tree.lock);
  if (rc < 0)
    return rc;
  if (v != NULL) {
    /* A version not yet delivered is abandoned; nothing of it stays. */
    bfc_version_cancel(v);
    bfc_version_unref(v);
  }
  /* Whatever version was delivered before goes too (CANCEL and UNLINK
   * travel in order on the control path). */
  rc = bfc_ob_run_op(o, BF_OP_UNLINK, path + 1, NULL, 0, TRUE);
  if (rc == 0) {
    bf_mutex_lock(&o->tree.lock);
    n = bfc_tree_lookup_locked(&o->tree, path);
    if (n && n->parent)
      bfc_node_remove(n);
    bf_mutex_unlock(&o->tree.lock);
  }
  return rc;
}

/* Whether from may move onto to: 0, 1 for a rename onto itself, or
 * -errno. */
static int
rename_check(Outbox *o, BfcNode *n, BfcNode *parent, BfcNode *old,
             unsigned flags) BF_REQUIRES(&o->tree.lock)
{
  (void)o;
  if (n == NULL || parent == NULL)
    return -ENOENT;
  if (old == n)
    return 1;           /* rename to itself: nothing to do */
  if (old && bfc_node_writing(old))
    return -EBUSY;      /* the target is being written */
  if (old && (flags & RENAME_NOREPLACE))
    return -EEXIST;
  if (old && old->children && !n->children)
    return -EISDIR;
  if (old && old->children && g_hash_table_size(old->children))
    return -ENOTEMPTY;
  return 0;
}

/* The version of from still to be delivered takes the new name, else the
 * server's copy is renamed. */
static int
rename_files(Outbox *o, const char *from, const char *to, BfcVersion *v,
             gboolean from_on_server)
{
  GError *error = NULL;
  gboolean on_server = TRUE;

  if (v != NULL && !bfc_version_rename(v, from + 1, to + 1, from_on_server,
                                       &on_server, &error))
    return bfc_ob_result(FALSE, error);
  return on_server ? bfc_ob_run_op(o, BF_OP_RENAME, from + 1, to + 1, 0, FALSE)
                   : 0;
}

int
bfc_ob_rename(const char *from, const char *to, unsigned int flags)
{
  Outbox *o = outbox();
  const char *leaf;
  BfcNode *n, *parent, *old;
  BfcVersion *v = NULL, *replaced = NULL;
  gboolean dir = FALSE, on_server = FALSE;
  GError *error = NULL;
  int rc;

  if (bfc_status_is(from) || bfc_status_reserved(to))
    return -EPERM;
  if (flags & ~RENAME_NOREPLACE)
    return -EINVAL;
  bf_mutex_lock(&o->tree.lock);
  n = bfc_tree_lookup_locked(&o->tree, from);
  parent = bfc_tree_parent_locked(&o->tree, to, &leaf);
  old = parent ? g_hash_table_lookup(parent->children, leaf) : NULL;
  rc = rename_check(o, n, parent, old, flags);
  if (rc == 0) {
    dir = n->children != NULL;
    on_server = n->on_server;
    v = n->ver ? bfc_version_ref(n->ver) : NULL;
    replaced = old ? g_steal_pointer(&old->ver) : NULL;
  }
  bf_mutex_unlock(&o->tree.lock);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  /* A version of the target not yet sent would land after the rename. */
  if (replaced != NULL) {
    bfc_version_cancel(replaced);
    bfc_version_unref(replaced);
  }
  if (dir) {
    g_autofree char *prefix = g_strconcat(from + 1, "/", NULL);
    if (!bfc_delivery_wait_prefix(o->delivery, prefix, &error))
      rc = bfc_ob_result(FALSE, error);
  }
  if (rc == 0)
    rc = rename_files(o, from, to, v, on_server);
  if (rc == 0) {
    bf_mutex_lock(&o->tree.lock);
    bfc_tree_move_locked(&o->tree, from, to);
    bf_mutex_unlock(&o->tree.lock);
  }
  bfc_version_unref(v);
  return rc;
}

/* Mode and mtime (attrs.h); a reader's fi writes no version. */
static int
set_attr(const char *path, struct fuse_file_info *fi, uint8_t flags,
         uint32_t mode, const struct timespec *mtime)
{
  Outbox *o = outbox();

  if (bfc_status_is(path))
    return -EPERM;   /* the status files are read-only */
  return bfc_attrs_set(&o->tree, o->sess, o->delivery, path,
                       version_of(fi), flags, mode, mtime);
}

int
bfc_ob_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  return set_attr(path, fi, BF_SETATTR_MODE, mode & 07777, NULL);
}

int
bfc_ob_utimens(const char *path, const struct timespec tv[2],
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

void *
bfc_ob_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
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
  bfc_delivery_start(o->delivery);
  return o;
}

void
bfc_ob_destroy(void *data)
{
  Outbox *o = data;

  bfc_delivery_stop(o->delivery);
  bfc_session_stop(o->sess);
  o->sess = NULL;
}

void *
bfc_outbox_new(BfcSession *s, BfcDelivery *d)
{
  Outbox *o = g_new0(Outbox, 1);
  GPtrArray *rec = bfc_delivery_recovered(d);

  o->sess = s;
  o->delivery = d;
  bfc_tree_init(&o->tree);
  bfc_copy_ups_init(&o->copies);
  bfc_handles_init(&o->handles);
  bfc_status_init(&o->status, s, d, &o->tree);
  bf_mutex_lock(&o->tree.lock);
  for (guint i = 0; rec != NULL && i < rec->len; i++) {
    g_autofree char *name = bfc_version_name(rec->pdata[i]);
    bfc_tree_show_locked(&o->tree, name, rec->pdata[i]);
  }
  bf_mutex_unlock(&o->tree.lock);
  return o;
}

void
bfc_outbox_free(void *data)
{
  Outbox *o = data;

  /* fuse_main fails before init when the mount itself fails. */
  if (o->sess != NULL)
    bfc_session_stop(o->sess);
  bfc_handles_clear(&o->handles, drop_left, o);
  bfc_tree_clear(&o->tree);
  bfc_copy_ups_clear(&o->copies);
  bfc_delivery_free(o->delivery);
  g_free(o);
}
