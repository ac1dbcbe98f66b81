/* Group commit (commit.h): a batch of complete files made durable in
 * their data/ directories, the fsyncs of each phase run at once on a pool
 * of threads. */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "braidfs/tsa.h"
#include "crash.h"
#include "status.h"
#include "store.h"

/* Starts the writeback of fd's dirty pages without waiting for it: the
 * data of every file of a batch goes to the disk at once, and the fsyncs
 * after that mostly wait for writes already under way. (Started chunk by
 * chunk as a large file arrives, it made a 1 GiB copy slower here:
 * bench/commit-bench.sh -n 1 -s 1G -m close, 3.1 s -> 4.2 s. Setting
 * mode and mtime on the fsync threads instead of here, without this,
 * made 1000 pipelined items slower too.) */
static void
start_writeback(int fd)
{
  (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* ---- fsyncs at once ------------------------------------------------------ */

/* The fsyncs of one call to sync_fds, and who waits for them. */
typedef struct {
  BfMutex lock;
  GCond done;
  guint left;                /* guarded by lock */
} SyncGroup;

typedef struct {
  int fd;
  int *err;
  BfdCrashPoint after;
  SyncGroup *group;
} SyncJob;

struct BfdSyncer {
  GThreadPool *pool;
};

static void
sync_job(gpointer data, gpointer user_data)
{
  SyncJob *j = data;
  SyncGroup *g = j->group;

  (void)user_data;
  *j->err = fsync(j->fd) < 0 ? errno : 0;
  bfd_crash_at(j->after);
  bf_mutex_lock(&g->lock);
  if (--g->left == 0)
    g_cond_signal(&g->done);
  bf_mutex_unlock(&g->lock);
}

BfdSyncer *
bfd_syncer_new(guint threads)
{
  BfdSyncer *sy = g_new0(BfdSyncer, 1);

  sy->pool = g_thread_pool_new(sync_job, NULL, (gint)threads, FALSE, NULL);
  return sy;
}

void
bfd_syncer_free(BfdSyncer *sy)
{
  if (sy == NULL)
    return;
  g_thread_pool_free(sy->pool, FALSE, TRUE);
  g_free(sy);
}

/* fsyncs fds[0..n) together, on the syncer's threads: a journaling file
 * system (ext4's jbd2) then commits them in one transaction instead of
 * one after the other. errs[i]: 0 or the errno of fds[i]'s fsync; after
 * each fsync the crash point after is reached (BFD_CRASH_N: none). */
static void
sync_fds(BfdSyncer *sy, const int *fds, int *errs, guint n, BfdCrashPoint after)
{
  g_autofree SyncJob *jobs = g_new(SyncJob, n);
  SyncGroup g = { .left = n };

  if (n == 0)
    return;
  bf_mutex_init(&g.lock);
  g_cond_init(&g.done);
  for (guint i = 0; i < n; i++) {
    jobs[i] = (SyncJob){ fds[i], &errs[i], after, &g };
    g_thread_pool_push(sy->pool, &jobs[i], NULL);
  }
  bf_mutex_lock(&g.lock);
  while (g.left > 0)
    bf_cond_wait(&g.done, &g.lock);
  bf_mutex_unlock(&g.lock);
  bf_mutex_clear(&g.lock);
  g_cond_clear(&g.done);
}

/* ---- group commit -------------------------------------------------------- */

/* Phase 1: mode and mtime set, the data on disk. */
static void
sync_data(BfdSyncer *sy, BfdCommitFile *files, guint n)
{
  g_autofree int *fds = g_new(int, n);
  g_autofree int *errs = g_new0(int, n);
  g_autofree guint *which = g_new(guint, n);
  guint m = 0;

  for (guint i = 0; i < n; i++) {
    BfdCommitFile *f = &files[i];
    struct timespec ts[2] = { { f->mtime_sec, f->mtime_nsec },
                              { f->mtime_sec, f->mtime_nsec } };
    if (fchmod(f->fd, bfd_store_mode(f->mode, FALSE)) < 0 || futimens(f->fd, ts) < 0)
      bfd_set_error_errno(&f->error, errno, "cannot store %s", f->what);
    else if (n > 1)       /* a lone file's fsync starts its writeback */
      start_writeback(f->fd);
  }
  for (guint i = 0; i < n; i++)
    if (files[i].error == NULL) {
      which[m] = i;
      fds[m++] = files[i].fd;
    }
  sync_fds(sy, fds, errs, m, BFD_CRASH_FSYNCED);
  for (guint k = 0; k < m; k++)
    if (errs[k] != 0)
      bfd_set_error_errno(&files[which[k]].error, errs[k], "cannot store %s",
                          files[which[k]].what);
  bfd_crash_at(BFD_CRASH_BATCH_SYNCED);
}

/* The batch's parent directories, each opened once: "data_fd/dir" ->
 * Parent. */
typedef struct {
  int fd;
  int err;                    /* of its fsync */
  gboolean renamed_into;
} Parent;

static void
parent_free(gpointer p)
{
  Parent *d = p;

  if (d->fd >= 0)
    close(d->fd);
  g_free(d);
}

static Parent *
parent_of(GHashTable *parents, int data_fd, const char *name,
          const char **leaf)
{
  const char *slash = strrchr(name, '/');
  g_autofree char *key = g_strdup_printf("%d/%.*s", data_fd,
                                         slash ? (int)(slash - name) : 0,
                                         name);
  Parent *d = g_hash_table_lookup(parents, key);

  if (d == NULL) {
    d = g_new0(Parent, 1);
    d->fd = bfd_store_open_parent(data_fd, name, TRUE, leaf);
    d->err = d->fd < 0 ? errno : 0;
    g_hash_table_insert(parents, g_steal_pointer(&key), d);
  }
  *leaf = slash ? slash + 1 : name;
  return d;
}

/* Set once a file system refuses RENAME_NOREPLACE: then look first. */
static gint no_noreplace;

/* Renames f's file to leaf in dirfd, noting what it replaces (which no
 * longer counts in the session totals): a new name, the common case,
 * needs no look first. FALSE with errno set if it failed. */
static gboolean
rename_in(BfdCommitFile *f, int dirfd, const char *leaf)
{
  struct stat old;

  f->replaced.replaced = FALSE;
  if (!g_atomic_int_get(&no_noreplace)) {
    if (renameat2(f->tmp_fd, f->tmpname, dirfd, leaf, RENAME_NOREPLACE) == 0)
      return TRUE;
    if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
      g_atomic_int_set(&no_noreplace, 1);
    else if (errno != EEXIST)
      return FALSE;
  }
  if (fstatat(dirfd, leaf, &old, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(old.st_mode)) {
    f->replaced.replaced = TRUE;
    f->replaced.old_size = (uint64_t)old.st_size;
  }
  return renameat(f->tmp_fd, f->tmpname, dirfd, leaf) == 0;
}

/* Phase 2: each file renamed into place, in the batch's order (a later
 * version of a name replaces an earlier one). */
static void
rename_all(BfdCommitFile *files, guint n, GHashTable *parents)
{
  for (guint i = 0; i < n; i++) {
    BfdCommitFile *f = &files[i];
    const char *leaf;
    Parent *d;
    if (f->error != NULL)
      continue;
    d = parent_of(parents, f->data_fd, f->name, &leaf);
    if (d->fd < 0) {
      bfd_set_error_errno(&f->error, d->err, "cannot store %s", f->what);
      continue;
    }
    if (!rename_in(f, d->fd, leaf)) {
      bfd_set_error_errno(&f->error, errno, "cannot store %s", f->what);
      continue;
    }
    d->renamed_into = TRUE;
    bfd_crash_at(BFD_CRASH_RENAMED);
  }
  bfd_crash_at(BFD_CRASH_BATCH_RENAMED);
}

/* Phase 3: each directory that received a file fsynced once, all at
 * once. */
static void
sync_parents(BfdSyncer *sy, GHashTable *parents)
{
  guint n = g_hash_table_size(parents), m = 0;
  g_autofree int *fds = g_new(int, n);
  g_autofree int *errs = g_new0(int, n);
  g_autofree Parent **which = g_new(Parent *, n);
  GHashTableIter iter;
  gpointer v;

  g_hash_table_iter_init(&iter, parents);
  while (g_hash_table_iter_next(&iter, NULL, &v)) {
    Parent *d = v;
    if (d->renamed_into) {
      which[m] = d;
      fds[m++] = d->fd;
    }
  }
  sync_fds(sy, fds, errs, m, BFD_CRASH_N);
  for (guint k = 0; k < m; k++)
    which[k]->err = errs[k];
}

void
bfd_commit_batch(BfdSyncer *sy, BfdCommitFile *files, guint n,
                 const BfdRenameTurn *turn)
{
  g_autoptr(GHashTable) parents =
    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, parent_free);

  sync_data(sy, files, n);
  turn->wait(turn->user);
  rename_all(files, n, parents);
  turn->done(turn->user);
  sync_parents(sy, parents);
  for (guint i = 0; i < n; i++) {
    BfdCommitFile *f = &files[i];
    const char *leaf;
    Parent *d;
    if (f->error != NULL)
      continue;
    d = parent_of(parents, f->data_fd, f->name, &leaf);
    if (d->err != 0)
      bfd_set_error_errno(&f->error, d->err, "cannot store %s", f->what);
  }
}
