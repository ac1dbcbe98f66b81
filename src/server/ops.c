/* OP frames (ops.h). An OP is run once: its id is claimed in the session
 * before it runs (a repeat arriving meanwhile on another path waits for
 * its answer) and its answer is kept for the repeats, in memory and in the
 * journal. An OP started before a restart and repeated after it may have
 * been done already: then finding its own work done is not a failure. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash.h"
#include "items.h"
#include "session.h"
#include "status.h"
#include "store.h"

/* A symlink has no mode of its own (asking for one is ELOOP, as opening
 * it is) and cannot be opened: its mtime is set through its parent,
 * which op_apply fsyncs. */
static gboolean
op_setattr_link(int parent, const char *leaf, const BfOp *o, const char *name,
                GError **error)
{
  struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
                            { o->mtime_sec, o->mtime_nsec } };

  if (o->flags & BF_SETATTR_MODE)
    return bfd_set_error_errno(error, ELOOP, "%s", name);  /* no mode */
  if ((o->flags & BF_SETATTR_MTIME) &&
      utimensat(parent, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  return TRUE;
}

/* Opens the entry itself (never a symlink's target) so that its metadata
 * change can be made durable with fsync. O_PATH: a FIFO is not opened for
 * reading; fchmod and futimens take such a descriptor only through /proc,
 * so a FIFO or socket is changed by name (never followed) instead. */
static gboolean
op_setattr(int parent, const char *leaf, const BfOp *o, const char *name,
           GError **error)
{
  struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
                            { o->mtime_sec, o->mtime_nsec } };
  struct stat st;
  gboolean ok;
  int fd;

  if (fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  if (S_ISLNK(st.st_mode))
    return op_setattr_link(parent, leaf, o, name, error);
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    ok = (!(o->flags & BF_SETATTR_MODE) ||
          fchmodat(parent, leaf, bfd_store_mode(o->mode, FALSE), 0) == 0) &&
         (!(o->flags & BF_SETATTR_MTIME) ||
          utimensat(parent, leaf, ts, AT_SYMLINK_NOFOLLOW) == 0);
    return ok || bfd_set_error_errno(error, errno, "%s", name);
  }
  fd = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  ok = (!(o->flags & BF_SETATTR_MODE) ||
        (fstat(fd, &st) == 0 &&
         fchmod(fd, bfd_store_mode(o->mode, S_ISDIR(st.st_mode))) == 0)) &&
       (!(o->flags & BF_SETATTR_MTIME) || futimens(fd, ts) == 0) &&
       fsync(fd) == 0;
  if (!ok)
    bfd_set_error_errno(error, errno, "%s", name);
  close(fd);
  return ok;
}

/* An existing directory is not a failure: the client may repeat. */
static gboolean
op_mkdir(int parent, const char *leaf, const BfOp *o, const char *name,
         GError **error)
{
  struct stat st;

  if (mkdirat(parent, leaf, bfd_store_mode(o->mode, TRUE) | 0700) == 0)
    return TRUE;
  if (errno != EEXIST || fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  return S_ISDIR(st.st_mode) || bfd_set_error_errno(error, EEXIST, "%s", name);
}

/* The target is stored as text, never resolved (only the view shows it,
 * and the store's own lookups refuse to cross a symlink). A repeat finds
 * its own link. */
static gboolean
op_symlink(int parent, const char *leaf, const char *target, const char *name,
           GError **error)
{
  char buf[BF_SYMLINK_MAX + 1];
  ssize_t n;

  if (symlinkat(target, parent, leaf) == 0)
    return TRUE;
  if (errno != EEXIST ||
      (n = readlinkat(parent, leaf, buf, sizeof buf)) < 0 ||
      (size_t)n != strlen(target) || memcmp(buf, target, (size_t)n) != 0)
    return bfd_set_error_errno(error, EEXIST, "%s", name);
  return TRUE;
}

/* Only FIFOs and sockets: a device node never enters the store (the
 * codec has no way to ask for one). A repeat finds its own node. */
static gboolean
op_mknod(int parent, const char *leaf, const BfOp *o, const char *name,
         GError **error)
{
  mode_t type = o->flags == BF_MKNOD_FIFO ? S_IFIFO : S_IFSOCK;
  struct stat st;

  if (mknodat(parent, leaf, type | (o->mode & 07777), 0) == 0)
    return TRUE;
  if (errno != EEXIST || fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
      (st.st_mode & S_IFMT) != type)
    return bfd_set_error_errno(error, EEXIST, "%s", name);
  return TRUE;
}

/* A hard link of a stored regular file (never of a directory or a
 * symlink: linkat without AT_SYMLINK_FOLLOW links the symlink itself,
 * which is refused too, so a link cannot reach outside the store). */
static gboolean
op_link(BfdSession *s, int parent, const char *leaf, const char *name,
        const char *name2, GError **error)
{
  const char *leaf2;
  struct stat st, st2;
  int parent2 = bfd_store_open_parent(s->dir.data_fd, name2, TRUE, &leaf2);
  gboolean ok;

  if (parent2 < 0)
    return bfd_set_error_errno(error, errno, "%s", name2);
  if (fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    ok = bfd_set_error_errno(error, errno, "%s", name);
  else if (S_ISLNK(st.st_mode))
    ok = bfd_set_error_errno(error, ELOOP, "%s", name);  /* never followed */
  else if (!S_ISREG(st.st_mode))
    ok = bfd_set_error_errno(error, EPERM, "%s: only regular files are "
                             "hard-linked", name);
  else if (linkat(parent, leaf, parent2, leaf2, 0) == 0)
    ok = TRUE;
  else if (errno == EEXIST && fstatat(parent2, leaf2, &st2,
                                      AT_SYMLINK_NOFOLLOW) == 0 &&
           st2.st_ino == st.st_ino && st2.st_dev == st.st_dev)
    ok = TRUE;   /* a repeat finds its own link */
  else
    ok = bfd_set_error_errno(error, errno, "%s", name2);
  if (ok)
    fsync(parent2);
  close(parent2);
  return ok;
}

static gboolean
op_unlink(BfdSession *s, int parent, const char *leaf, const char *name,
          GError **error)
{
  struct stat st;

  if (fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
      unlinkat(parent, leaf, 0) < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  if (S_ISREG(st.st_mode))
    bfd_session_note_removed(s, (uint64_t)st.st_size);
  return TRUE;
}

static gboolean
op_rename(BfdSession *s, int parent, const char *leaf, const char *name,
          const char *name2, GError **error)
{
  const char *leaf2;
  struct stat st;
  int parent2 = bfd_store_open_parent(s->dir.data_fd, name2, TRUE, &leaf2);
  gboolean over, ok;

  if (parent2 < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  over = fstatat(parent2, leaf2, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
  ok = renameat(parent, leaf, parent2, leaf2) == 0;
  if (!ok)
    bfd_set_error_errno(error, errno, "%s", name);
  if (ok && over)
    bfd_session_note_removed(s, (uint64_t)st.st_size);
  if (ok)
    fsync(parent2);
  close(parent2);
  return ok;
}

/* Runs a directory operation on data/; fails with the message
 * "NAME: strerror". */
static gboolean
op_apply(BfdSession *s, const BfOp *o, const char *name, const char *name2,
         GError **error) BF_EXCLUDES(&s->lock);

static gboolean
op_apply(BfdSession *s, const BfOp *o, const char *name, const char *name2,
         GError **error)
{
  const char *leaf;
  int parent;
  gboolean ok;

  if (o->op == BF_OP_CANCEL)
    return bfd_items_cancel(s, o->item_id) ||
           bfd_set_error_errno(error, ENOENT, "%s", name);
  parent = bfd_store_open_parent(s->dir.data_fd, name,
                                 o->op == BF_OP_MKDIR || o->op == BF_OP_SYMLINK ||
                                 o->op == BF_OP_MKNOD, &leaf);
  if (parent < 0)
    return bfd_set_error_errno(error, errno, "%s", name);
  switch (o->op) {
  case BF_OP_MKDIR:
    ok = op_mkdir(parent, leaf, o, name, error);
    break;
  case BF_OP_RMDIR:
    ok = unlinkat(parent, leaf, AT_REMOVEDIR) == 0 ||
         bfd_set_error_errno(error, errno, "%s", name);
    break;
  case BF_OP_UNLINK:
    ok = op_unlink(s, parent, leaf, name, error);
    break;
  case BF_OP_RENAME:
    ok = op_rename(s, parent, leaf, name, name2, error);
    break;
  case BF_OP_SETATTR:
    ok = op_setattr(parent, leaf, o, name, error);
    break;
  case BF_OP_SYMLINK:
    ok = op_symlink(parent, leaf, name2, name, error);
    break;
  case BF_OP_LINK:
    ok = op_link(s, parent, leaf, name, name2, error);
    break;
  case BF_OP_MKNOD:
    ok = op_mknod(parent, leaf, o, name, error);
    break;
  default:
    ok = bfd_set_error_errno(error, EINVAL, "%s", name);
  }
  if (ok)
    fsync(parent);
  close(parent);
  return ok;
}

/* An OP run again after a restart that may have done it: NOT_FOUND then
 * means the first run removed (or moved) the entry. A rename counts as
 * done when its target exists. */
static gboolean
redone(BfdSession *s, const BfOp *o, const char *name2, const GError *error)
{
  const char *leaf;
  struct stat st;
  gboolean done;
  int parent;

  if (!g_error_matches(error, BFD_ERROR, BF_ST_NOT_FOUND))
    return FALSE;
  if (o->op == BF_OP_UNLINK || o->op == BF_OP_RMDIR)
    return TRUE;
  if (o->op != BF_OP_RENAME ||
      (parent = bfd_store_open_parent(s->dir.data_fd, name2, FALSE, &leaf)) < 0)
    return FALSE;
  done = fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
  close(parent);
  if (done)
    bf_log(G_LOG_LEVEL_MESSAGE, BFD_SESSION_LOG(s), "session %s: rename to "
           "'%s' was done before the restart", s->dir.name, name2);
  return done;
}

static gboolean
names_ok(BfdPath *p, const BfOp *o, const char *name, const char *name2,
         GError **error)
{
  g_autofree char *why = NULL;
  const char *bad = name;

  /* A symlink's name2 is its target text, bounded by the codec. */
  if (bfd_limits_name_ok(&p->srv->limits, o->name.data, o->name.len, &why) &&
      (bad = name2, o->op == BF_OP_SYMLINK ||
       bfd_limits_name_ok(&p->srv->limits, o->name2.data, o->name2.len, &why)))
    return TRUE;
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "session %s: refusing an "
         "operation from %s: %s", p->session_name, p->conn->peer, why);
  g_set_error(error, BFD_ERROR, BF_ST_BAD_NAME, "%s: %s", bad, why);
  return FALSE;
}

/* Runs the claimed OP: its answer. */
static BfdOpResult
run(BfdPath *p, const BfOp *o, const char *name, const char *name2,
    gboolean doubt)
{
  BfdSession *s = p->sess;
  g_autoptr(GError) error = NULL;
  BfdOpResult r = { BF_ST_OK, NULL };

  if (o->op_id != 0)
    bfd_journal_op_started(s->journal, o->op_id);
  if (G_UNLIKELY(bfd_hold_op_armed())) {
    bf_mutex_lock(&s->lock);
    guint open = g_hash_table_size(s->items);
    bf_mutex_unlock(&s->lock);
    bfd_hold_op(name, open);
  }
  if (!(names_ok(p, o, name, name2, &error) &&
        op_apply(s, o, name, name2, &error)) &&
      !(doubt && redone(s, o, name2, error))) {
    r.status = bfd_error_status(error);
    r.message = g_strdup(error->message);
  }
  if (o->op_id != 0)
    bfd_journal_op_done(s->journal, o->op_id, r.status);
  bfd_session_op_done(s, o->op_id, &r);
  bfd_crash_at(BFD_CRASH_OP_APPLIED);
  return r;
}

gboolean
bfd_ops_on_op(BfdPath *p, const BfOp *o)
{
  g_autofree char *name = g_strndup((const char *)o->name.data, o->name.len);
  g_autofree char *name2 = g_strndup((const char *)o->name2.data,
                                     o->name2.len);
  BfMsg m = { .type = BF_FRAME_OP_ACK };
  BfdOpResult r = { BF_ST_OK, NULL };
  g_autofree char *shown = NULL;
  gboolean doubt, ok;

  if (bfd_session_op_claim(p->sess, o->op_id, &r, &doubt))
    r = run(p, o, name, name2, doubt);
  /* An answer read back from the journal has no text of its own. */
  if (r.status != BF_ST_OK && r.message == NULL)
    r.message = g_strdup_printf("%s: %s", name, bf_status_str(r.status));
  m.u.op_ack.op_id = o->op_id;
  m.u.op_ack.status = r.status;
  if (r.message != NULL)
    bf_log(G_LOG_LEVEL_DEBUG, BFD_PATH_LOG(p), "session %s: op %u failed: %s",
           p->session_name, o->op, r.message);
  m.u.op_ack.message = bfd_path_answer_text(r.message, &shown);
  ok = bfd_path_post(p, &m);
  bfd_op_result_clear(&r);
  return ok;
}
