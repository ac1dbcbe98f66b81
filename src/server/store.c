/* The store is the truth. Layout:
 *
 *   STORE/<session-dir>/session   key file: id, token, label, client (its
 *                                 key's name, client_keys), source (the
 *                                 address it was made from), started
 *   STORE/<session-dir>/data/     complete, verified items only
 *   STORE/<session-dir>/tmp/      items being rebuilt (never shown), and
 *                                 the session's journal (journal.c)
 *
 * A file enters data/ only by rename(2) from tmp/ after fsync, and the
 * directory is fsynced before the client hears about it, so whatever is in
 * data/ after a crash was acknowledged or about to be, and is whole. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "braidfs/io.h"
#include "braidfs/log.h"
#include "braidfs/parse.h"
#include "braidfs/tsa.h"
#include "crash.h"
#include "sessname.h"
#include "status.h"

/* Deeper directories in data/ than clients can make (max_depth) are not
 * counted: someone else put them there. */
#define COUNT_DEPTH_MAX 256

/* The session file is four short lines; more is not ours. */
#define SESSION_FILE_MAX 4096

void
bfd_session_dir_clear(BfdSessionDir *d)
{
  for (int *fd = (int[]){ d->dir_fd, d->data_fd, d->tmp_fd, d->owner_fd, -2 };
       *fd != -2; fd++)
    if (*fd >= 0)
      close(*fd);
  d->dir_fd = d->data_fd = d->tmp_fd = d->owner_fd = -1;
  g_clear_pointer(&d->name, g_free);
  g_clear_pointer(&d->label, g_free);
  g_clear_pointer(&d->client, g_free);
  g_clear_pointer(&d->source, g_free);
}

/* Whoever else may write a directory of the store could plant a link
 * where the server (root, often) then writes client bytes. */
static gboolean
check_dir(int fd, const char *what, const char *path, GError **error)
{
  struct stat st;

  if (fstat(fd, &st) < 0)
    return bfd_set_error_errno(error, errno, "%s %s", what, path);
  if (st.st_uid != geteuid()) {
    g_set_error(error, BFD_ERROR, BF_ST_IO, "%s %s belongs to uid %u, not to "
                "braidfsd's user (uid %u): chown it to braidfsd's user",
                what, path, (unsigned)st.st_uid, (unsigned)geteuid());
    return FALSE;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    g_set_error(error, BFD_ERROR, BF_ST_IO, "%s %s is writable by group or "
                "others (mode %04o), who could plant links in it: run chmod "
                "go-w %s", what, path, (unsigned)(st.st_mode & 07777), path);
    return FALSE;
  }
  return TRUE;
}

gboolean
bfd_store_open(const char *path, int *store_fd, GError **error)
{
  if (g_mkdir_with_parents(path, 0700) < 0 ||
      (*store_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return bfd_set_error_errno(error, errno, "cannot open store %s", path);
  if (!check_dir(*store_fd, "store", path, error)) {
    close(*store_fd);
    *store_fd = -1;
    return FALSE;
  }
  return TRUE;
}

int
bfd_store_open_file(int dirfd, const char *name, int flags, mode_t mode)
{
  int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                  mode);
  struct stat st;
  int err;

  if (fd < 0)
    return -1;
  if (fstat(fd, &st) < 0)
    err = errno;
  else if (!S_ISREG(st.st_mode))
    err = EINVAL;
  else if (st.st_nlink > 1)
    err = EMLINK;   /* a hard link: the same file has a name elsewhere */
  else
    return fd;
  close(fd);
  errno = err;
  return -1;
}

int
bfd_store_create_file(int dirfd, const char *name, int flags)
{
  int fd = bfd_store_open_file(dirfd, name, flags | O_CREAT | O_EXCL, 0600);

  /* What a crash left (or anyone planted) goes: it was truncated before. */
  if (fd < 0 && errno == EEXIST && unlinkat(dirfd, name, 0) == 0)
    fd = bfd_store_open_file(dirfd, name, flags | O_CREAT | O_EXCL, 0600);
  return fd;
}

static gboolean
sync_fd(int fd, const char *what, GError **error)
{
  if (fsync(fd) < 0)
    return bfd_set_error_errno(error, errno, "fsync %s", what);
  return TRUE;
}

static gboolean
write_session_file(const BfdSessionDir *d, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *id = bf_hex(d->id, BF_ID_LEN);
  g_autofree char *token = bf_hex(d->token, BF_ID_LEN);
  g_autofree char *text = NULL;
  gsize len;
  int fd, rc;

  g_key_file_set_string(kf, "session", "id", id);
  g_key_file_set_string(kf, "session", "token", token);
  g_key_file_set_string(kf, "session", "label", d->label);
  g_key_file_set_string(kf, "session", "client", d->client);
  g_key_file_set_string(kf, "session", "source", d->source);
  g_key_file_set_int64(kf, "session", "started", d->started);
  text = g_key_file_to_data(kf, &len, NULL);

  fd = bfd_store_create_file(d->dir_fd, "session.tmp", O_WRONLY);
  if (fd < 0)
    return bfd_set_error_errno(error, errno, "cannot write session file in %s",
                               d->name);
  rc = bf_write_all(fd, text, len);
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  close(fd);
  if (rc < 0)
    return bfd_set_error_errno(error, -rc, "cannot write session file in %s",
                               d->name);
  if (renameat(d->dir_fd, "session.tmp", d->dir_fd, "session") < 0)
    return bfd_set_error_errno(error, errno,
                               "cannot rename session file in %s", d->name);
  return sync_fd(d->dir_fd, d->name, error);
}

gboolean
bfd_store_not_ours(int err)
{
  return err == ENOENT || err == ENOTDIR || err == ELOOP || err == EMLINK ||
         err == EINVAL;
}

/* A session directory that could not be read at start-up: G_FILE_ERROR,
 * which makes braidfsd refuse to start (recovery.h). */
static gboolean
unreadable(GError **error, int err, const char *what, const char *path)
{
  if (bfd_store_not_ours(err))
    return bfd_set_error_errno(error, err, "%s %s", what, path);
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
              "cannot read %s %s: %s", what, path, g_strerror(err));
  return FALSE;
}

static gboolean
open_session_dirs(int store_fd, const char *store_path, BfdSessionDir *d,
                  gboolean create, GError **error)
{
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  g_autofree char *path = g_build_filename(store_path, d->name, NULL);
  g_autofree char *data = g_build_filename(path, "data", NULL);
  g_autofree char *tmp = g_build_filename(path, "tmp", NULL);

  if ((create && mkdirat(store_fd, d->name, 0700) < 0) ||
      (d->dir_fd = openat(store_fd, d->name, flags)) < 0 ||
      (create && (mkdirat(d->dir_fd, "data", 0755) < 0 ||
                  mkdirat(d->dir_fd, "tmp", 0700) < 0)) ||
      (d->data_fd = openat(d->dir_fd, "data", flags)) < 0 ||
      (d->tmp_fd = openat(d->dir_fd, "tmp", flags)) < 0)
    return create ? bfd_set_error_errno(error, errno, "session directory %s",
                                        path)
                  : unreadable(error, errno, "session directory", path);
  return check_dir(d->dir_fd, "session directory", path, error) &&
         check_dir(d->data_fd, "session directory", data, error) &&
         check_dir(d->tmp_fd, "session directory", tmp, error);
}

gboolean
bfd_store_create_session(int store_fd, const char *store_path,
                         const char *label, const char *client,
                         const char *source, BfdSessionDir *out,
                         GError **error)
{
  BfdSessionDir d = BFD_SESSION_DIR_INIT;

  randombytes_buf(d.id, sizeof d.id);
  randombytes_buf(d.token, sizeof d.token);
  d.label = g_strdup(label != NULL ? label : "");
  d.client = g_strdup(client != NULL ? client : "");
  d.source = g_strdup(source != NULL ? source : "");
  d.started = g_get_real_time() / G_USEC_PER_SEC;
  d.name = bfd_session_dirname(d.id, d.client, d.label, d.started);
  if (!open_session_dirs(store_fd, store_path, &d, TRUE, error) ||
      !write_session_file(&d, error) || !sync_fd(store_fd, store_path, error)) {
    bfd_session_dir_clear(&d);
    return FALSE;
  }
  *out = d;
  return TRUE;
}

static gboolean
hex_field(GKeyFile *kf, const char *key, uint8_t out[BF_ID_LEN])
{
  g_autofree char *hex = g_key_file_get_string(kf, "session", key, NULL);
  size_t got = 0;

  return hex != NULL &&
         sodium_hex2bin(out, BF_ID_LEN, hex, strlen(hex), NULL, &got, NULL) == 0 &&
         got == BF_ID_LEN;
}

/* The session file, read through the session's own directory and never
 * through a link (one to a secret would end up in .session's label). */
static gboolean
read_session_file(const BfdSessionDir *d, GKeyFile *kf, GError **error)
{
  char buf[SESSION_FILE_MAX];
  int fd = bfd_store_open_file(d->dir_fd, "session", O_RDONLY, 0);
  ssize_t n = fd >= 0 ? bf_read_all(fd, buf, sizeof buf) : -errno;

  if (fd >= 0)
    close(fd);
  if (n < 0)
    return unreadable(error, (int)-n, "the session file of", d->name);
  if ((size_t)n == sizeof buf) {
    g_set_error(error, BFD_ERROR, BF_ST_IO, "session file too long");
    return FALSE;
  }
  return g_key_file_load_from_data(kf, buf, (gsize)n, G_KEY_FILE_NONE, error);
}

/* label, client and source: "" when missing */
static char *
optional_field(GKeyFile *kf, const char *key)
{
  char *v = g_key_file_get_string(kf, "session", key, NULL);
  return v != NULL ? v : g_strdup("");
}

BfdSessionDir *
bfd_store_session_load(int store_fd, const char *store_path, const char *name,
                       GError **unread)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) error = NULL;
  BfdSessionDir *d;

  d = g_new0(BfdSessionDir, 1);
  *d = (BfdSessionDir)BFD_SESSION_DIR_INIT;
  d->name = g_strdup(name);
  if (open_session_dirs(store_fd, store_path, d, FALSE, &error) &&
      read_session_file(d, kf, &error)) {
    d->started = g_key_file_get_int64(kf, "session", "started", NULL);
  }
  d->label = optional_field(kf, "label");
  d->client = optional_field(kf, "client");
  d->source = optional_field(kf, "source");
  if (unread != NULL && error != NULL && error->domain == G_FILE_ERROR) {
    g_propagate_error(unread, g_steal_pointer(&error));
    bfd_session_dir_clear(d);
    g_free(d);
    return NULL;
  }
  if (error != NULL || !hex_field(kf, "id", d->id) ||
      !hex_field(kf, "token", d->token)) {
    bf_log(G_LOG_LEVEL_WARNING, &(BfLogFields){ .session = name },
           "skipping %s in the store: %s", name,
           error ? error->message : "bad session file");
    bfd_session_dir_clear(d);
    g_free(d);
    return NULL;
  }
  return d;
}

static void
session_dir_free(gpointer p)
{
  bfd_session_dir_clear(p);
  g_free(p);
}

/* The session directories whose names end in suffix (NULL: all); NULL
 * if the store cannot be listed. */
static GPtrArray *
scan_sessions(int store_fd, const char *store_path, const char *suffix,
              GError **error)
{
  g_autoptr(GPtrArray) names = NULL;
  int rc = bf_dir_names(store_fd, NULL, NULL, &names);
  GPtrArray *out;

  if (rc < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
                "store %s: cannot list its sessions: %s", store_path,
                g_strerror(-rc));
    return NULL;
  }
  out = g_ptr_array_new_with_free_func(session_dir_free);
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    g_autoptr(GError) unread = NULL;
    BfdSessionDir *s;
    if (name[0] == '.' || (suffix != NULL && !g_str_has_suffix(name, suffix)))
      continue;
    /* one not named as a session is skipped, whatever made it unreadable */
    if ((s = bfd_store_session_load(store_fd, store_path, name,
                                    bfd_session_dirname_like(name)
                                      ? &unread : NULL)))
      g_ptr_array_add(out, s);
    if (unread != NULL) {
      g_set_error(error, G_FILE_ERROR, unread->code, "store %s: %s",
                  store_path, unread->message);
      g_ptr_array_unref(out);
      return NULL;
    }
  }
  return out;
}

gboolean
bfd_store_sessions(int store_fd, const char *store_path, GPtrArray **out,
                   GError **error)
{
  *out = scan_sessions(store_fd, store_path, NULL, error);
  return *out != NULL;
}

BfdSessionDir *
bfd_store_session_find(int store_fd, const char *store_path,
                       const uint8_t id[BF_ID_LEN], GError **error)
{
  g_autofree char *hex = bf_hex(id, BF_ID_LEN);
  /* The name ends in the id's first 8 hex digits (session_dirname): only
   * those directories' session files are read. */
  g_autofree char *suffix = g_strdup_printf("-%.8s", hex);
  g_autoptr(GPtrArray) found = scan_sessions(store_fd, store_path, suffix,
                                             error);

  if (found == NULL)
    return NULL;
  for (guint i = 0; i < found->len; i++) {
    BfdSessionDir *d = found->pdata[i];
    if (memcmp(d->id, id, BF_ID_LEN) == 0)
      return g_ptr_array_steal_index(found, i);
  }
  return NULL;
}

/* Counts the regular files below dir_fd (which it closes). */
static void
count_tree(int dir_fd, unsigned depth, uint64_t *files, uint64_t *bytes)
{
  DIR *d = fdopendir(dir_fd);
  struct dirent *de;
  struct stat st;

  if (d == NULL) {
    close(dir_fd);
    return;
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
        fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISREG(st.st_mode)) {
      (*files)++;
      *bytes += (uint64_t)st.st_size;
    } else if (S_ISDIR(st.st_mode) && depth < COUNT_DEPTH_MAX) {
      int sub = openat(dirfd(d), de->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0)
        count_tree(sub, depth + 1, files, bytes);
    }
  }
  closedir(d);
}

void
bfd_store_count_data(const BfdSessionDir *d, uint64_t *files, uint64_t *bytes)
{
  int fd = openat(d->data_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  *files = *bytes = 0;
  if (fd >= 0)
    count_tree(fd, 0, files, bytes);
}

/* Kernels before 5.6 have no openat2: the walk below does the same. */
static gint no_openat2;

/* One component at a time, never through a symlink: what openat2 does
 * for us where it exists. */
static int
walk_beneath(int dirfd, const char *path, int flags)
{
  g_auto(GStrv) parts = g_strsplit(path, "/", -1);
  guint n = g_strv_length(parts);
  int fd = dup(dirfd);

  for (guint i = 0; fd >= 0 && i < n; i++) {
    gboolean last = i + 1 == n;
    int next = openat(fd, parts[i], last ? flags | O_NOFOLLOW
                          : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(fd);
    errno = err;
    fd = next;
  }
  return fd;
}

int
bfd_store_openat(int dirfd, const char *path, int flags)
{
  if (!g_atomic_int_get(&no_openat2)) {
    struct open_how how = {
      .flags = (uint64_t)flags | O_CLOEXEC,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS)
      return (int)fd;
    g_atomic_int_set(&no_openat2, 1);
  }
  return walk_beneath(dirfd, path, flags | O_CLOEXEC);
}

/* Makes the missing directories of path under dirfd, one at a time (a
 * concurrent maker of the same one is fine), and opens the last. */
static int
make_dirs(int dirfd, const char *path)
{
  g_auto(GStrv) parts = g_strsplit(path, "/", -1);
  int fd = dup(dirfd);

  for (guint i = 0; fd >= 0 && parts[i] != NULL; i++) {
    int flags = O_RDONLY | O_DIRECTORY;
    int next = bfd_store_openat(fd, parts[i], flags);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(fd, parts[i], 0755) < 0 && errno != EEXIST)
        goto fail;
      /* The new entry must be durable before anything below it is. */
      fsync(fd);
      next = bfd_store_openat(fd, parts[i], flags);
    }
    if (next < 0)
      goto fail;
    close(fd);
    fd = next;
  }
  return fd;
fail:;
  int err = errno;
  close(fd);
  errno = err;
  return -1;
}

int
bfd_store_open_parent(int dirfd, const char *name, gboolean create,
                      const char **leaf)
{
  const char *slash = strrchr(name, '/');
  g_autofree char *dir = slash ? g_strndup(name, slash - name) : g_strdup(".");
  int fd = bfd_store_openat(dirfd, dir, O_RDONLY | O_DIRECTORY);

  if (fd < 0 && errno == ENOENT && create)
    fd = make_dirs(dirfd, dir);
  if (fd >= 0)
    *leaf = slash ? slash + 1 : name;
  return fd;
}

uint32_t
bfd_store_mode(uint32_t mode, gboolean dir)
{
  /* A client's setuid file would run as the store's owner (root, often)
   * for whoever may execute it; setgid likewise. Sticky means something
   * only on directories. */
  return mode & (dir ? 01777u : 0777u);
}

/* Per 8 MiB, not per chunk: started for every 256 KiB chunk, it made a
 * 1 GiB copy slower (3988f0d: 3.1 s -> 4.2 s), ext4 allocating and
 * submitting in small pieces. The wait 32 MiB behind costs little (the
 * disk has had those pages for four steps) and bounds the dirty pages. */
#define WRITEBACK_STEP (8u << 20)
#define WRITEBACK_DIRTY (32u << 20)

int
bfd_store_writeback(BfdWriteback *wb, int fd, uint64_t prefix,
                    BfFlusher *flusher)
{
  if (prefix < wb->started + WRITEBACK_STEP)
    return 0;
  /* Only starts the writes: an error here shows again in the wait or the
   * fsync. */
  (void)sync_file_range(fd, (off64_t)wb->started,
                        (off64_t)(prefix - wb->started),
                        SYNC_FILE_RANGE_WRITE);
  wb->started = prefix;
  if (prefix >= wb->flushed + BF_FLUSH_STEP && bf_flusher_offer(flusher, fd))
    wb->flushed = prefix;
  if (prefix - wb->waited < WRITEBACK_DIRTY + WRITEBACK_STEP)
    return 0;
  /* The wait reports a write error and consumes it for this open file
   * (errseq): the fsync before STORED would not see it again. */
  if (sync_file_range(fd, (off64_t)wb->waited,
                      (off64_t)(prefix - WRITEBACK_DIRTY - wb->waited),
                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                      SYNC_FILE_RANGE_WAIT_AFTER) < 0)
    return -errno;
  wb->waited = prefix - WRITEBACK_DIRTY;
  return 0;
}

static int
remove_all_at(int dirfd, const char *sub)
{
  int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *de;

  if (d == NULL) {
    if (fd >= 0)
      close(fd);
    return errno == ENOENT ? 0 : -1;
  }
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      unlinkat(fd, de->d_name, 0);
  closedir(d);
  return unlinkat(dirfd, sub, AT_REMOVEDIR);
}

int
bfd_store_remove_session(int store_fd, const BfdSessionDir *d)
{
  if (unlinkat(d->dir_fd, "data", AT_REMOVEDIR) < 0 ||
      remove_all_at(d->dir_fd, "tmp") < 0 ||
      unlinkat(d->dir_fd, "session", 0) < 0 ||
      (unlinkat(d->dir_fd, BFD_STORE_OWNER_FILE, 0) < 0 && errno != ENOENT) ||
      unlinkat(store_fd, d->name, AT_REMOVEDIR) < 0)
    return -errno;
  fsync(store_fd);
  return 0;
}
