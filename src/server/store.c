/* The store is the truth. Layout:
 *
 *   STORE/<session-dir>/session   key file: id, token, label, started
 *   STORE/<session-dir>/data/     complete, verified items only
 *   STORE/<session-dir>/tmp/      items being rebuilt (never shown)
 *
 * A file enters data/ only by rename(2) from tmp/ after fsync, and the
 * directory is fsynced before the client hears about it, so whatever is in
 * data/ after a crash was acknowledged or about to be, and is whole. */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "braidfs/parse.h"

int
bfd_errno_status(int err)
{
  switch (err) {
  case ENOSPC:
  case EDQUOT:
    return BF_ST_NO_SPACE;
  case ENOENT:
    return BF_ST_NOT_FOUND;
  case EEXIST:
  case EISDIR:
  case ENOTDIR:
    return BF_ST_EXISTS;
  case ENOTEMPTY:
    return BF_ST_NOT_EMPTY;
  case ENAMETOOLONG:
  case ELOOP:      /* a symlink in the store: never followed */
  case EXDEV:      /* a path that would leave the store */
    return BF_ST_BAD_NAME;
  case EFBIG:
    return BF_ST_TOO_BIG;
  case EMFILE:
  case ENFILE:
    return BF_ST_LIMIT;
  default:
    return BF_ST_IO;
  }
}

gboolean
bfd_store_open(BfdServer *srv, GError **error)
{
  if (g_mkdir_with_parents(srv->store_path, 0700) < 0 ||
      (srv->store_fd = open(srv->store_path,
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "cannot open store %s: %s", srv->store_path, g_strerror(err));
    return FALSE;
  }
  return TRUE;
}

static gboolean
sync_fd(int fd, const char *what, GError **error)
{
  if (fsync(fd) < 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "fsync %s: %s", what, g_strerror(err));
    return FALSE;
  }
  return TRUE;
}

/* Makes a label safe and readable as part of a directory name. */
static char *
label_slug(const char *label)
{
  GString *s = g_string_new(NULL);

  for (const char *p = label; *p && s->len < BF_LABEL_MAX; p++)
    g_string_append_c(s, (g_ascii_isalnum(*p) || *p == '.' || *p == '_')
                             ? *p : '_');
  return g_string_free(s, FALSE);
}

static char *
session_dirname(const uint8_t id[BF_ID_LEN], const char *label, gint64 started)
{
  g_autofree char *hex = bf_hex(id, BF_ID_LEN);
  g_autofree char *slug = label_slug(label ? label : "");
  struct tm tm;
  time_t t = (time_t)started;
  char when[32];

  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
  if (slug[0] == '\0')
    return g_strdup_printf("%s-%.8s", when, hex);
  return g_strdup_printf("%s-%s-%.8s", when, slug, hex);
}

static gboolean
write_session_file(BfdSession *s, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *id = bf_hex(s->id, BF_ID_LEN);
  g_autofree char *token = bf_hex(s->token, BF_ID_LEN);
  g_autofree char *text = NULL;
  gsize len;
  int fd;

  g_key_file_set_string(kf, "session", "id", id);
  g_key_file_set_string(kf, "session", "token", token);
  g_key_file_set_string(kf, "session", "label", s->label);
  g_key_file_set_int64(kf, "session", "started", s->started);
  text = g_key_file_to_data(kf, &len, NULL);

  fd = openat(s->dir_fd, "session.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
              0600);
  if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
    int err = errno;
    if (fd >= 0)
      close(fd);
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "cannot write session file in %s: %s", s->dirname,
                g_strerror(err));
    return FALSE;
  }
  close(fd);
  if (renameat(s->dir_fd, "session.tmp", s->dir_fd, "session") < 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "cannot rename session file in %s: %s", s->dirname,
                g_strerror(err));
    return FALSE;
  }
  return sync_fd(s->dir_fd, s->dirname, error);
}

static gboolean
open_session_dirs(BfdSession *s, gboolean create, GError **error)
{
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

  if (create && mkdirat(s->srv->store_fd, s->dirname, 0700) < 0)
    goto fail;
  if ((s->dir_fd = openat(s->srv->store_fd, s->dirname, flags)) < 0)
    goto fail;
  if (create && (mkdirat(s->dir_fd, "data", 0755) < 0 ||
                 mkdirat(s->dir_fd, "tmp", 0700) < 0))
    goto fail;
  if ((s->data_fd = openat(s->dir_fd, "data", flags)) < 0 ||
      (s->tmp_fd = openat(s->dir_fd, "tmp", flags)) < 0)
    goto fail;
  return TRUE;
fail:;
  int err = errno;
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
              "session directory %s/%s: %s", s->srv->store_path, s->dirname,
              g_strerror(err));
  return FALSE;
}

BfdSession *
bfd_store_create_session(BfdServer *srv, const char *label, GError **error)
{
  uint8_t id[BF_ID_LEN];
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;

  randombytes_buf(id, sizeof id);
  g_autofree char *dirname = session_dirname(id, label, now);
  BfdSession *s = bfd_session_new(srv, dirname);

  memcpy(s->id, id, sizeof id);
  randombytes_buf(s->token, sizeof s->token);
  s->label = g_strdup(label ? label : "");
  s->started = now;
  s->last_activity = now;
  if (open_session_dirs(s, TRUE, error))
    bfd_resume_init(s);
  if (s->resume == NULL || !write_session_file(s, error) ||
      !sync_fd(srv->store_fd, srv->store_path, error)) {
    bfd_session_unref(s);
    return NULL;
  }
  return s;
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

static BfdSession *
load_session(BfdServer *srv, const char *dirname)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename(srv->store_path, dirname, "session",
                                           NULL);
  BfdSession *s;

  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error))
    return NULL;
  s = bfd_session_new(srv, dirname);
  s->label = g_key_file_get_string(kf, "session", "label", NULL);
  if (s->label == NULL)
    s->label = g_strdup("");
  s->started = g_key_file_get_int64(kf, "session", "started", NULL);
  s->last_activity = s->started;
  if (!hex_field(kf, "id", s->id) || !hex_field(kf, "token", s->token) ||
      !open_session_dirs(s, FALSE, &error)) {
    g_warning("skipping %s in the store: %s", dirname,
              error ? error->message : "bad session file");
    bfd_session_unref(s);
    return NULL;
  }
  bfd_resume_load(s);
  bfd_store_scan_counts(s);
  return s;
}

void
bfd_store_load_sessions(BfdServer *srv)
{
  int fd = dup(srv->store_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    BfdSession *s = load_session(srv, de->d_name);
    if (s != NULL)
      g_hash_table_insert(srv->sessions, s->dirname, s);
  }
  closedir(d);
}

static uint64_t scan_items, scan_bytes;

static int
count_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode)) {
    scan_items++;
    scan_bytes += st->st_size;
  }
  return 0;
}

void
bfd_store_scan_counts(BfdSession *s)
{
  static GMutex scan_lock;
  g_autofree char *data = g_build_filename(s->srv->store_path, s->dirname,
                                           "data", NULL);

  /* nftw has no user pointer; the scan happens once per session at start. */
  g_mutex_lock(&scan_lock);
  scan_items = scan_bytes = 0;
  nftw(data, count_entry, 16, FTW_PHYS);
  s->items_stored = s->versions_stored = scan_items;
  s->bytes_stored = scan_bytes;
  g_mutex_unlock(&scan_lock);
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
                      const char **leaf, GError **error)
{
  const char *slash = strrchr(name, '/');
  g_autofree char *dir = slash ? g_strndup(name, slash - name) : g_strdup(".");
  int fd = bfd_store_openat(dirfd, dir, O_RDONLY | O_DIRECTORY);

  if (fd < 0 && errno == ENOENT && create)
    fd = make_dirs(dirfd, dir);
  if (fd < 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "parent of %s: %s", name, g_strerror(err));
    errno = err;
    return -1;
  }
  *leaf = slash ? slash + 1 : name;
  return fd;
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

gboolean
bfd_store_remove_session(BfdSession *s, GError **error)
{
  BfdServer *srv = s->srv;

  if (unlinkat(s->dir_fd, "data", AT_REMOVEDIR) < 0 ||
      remove_all_at(s->dir_fd, "tmp") < 0 ||
      unlinkat(s->dir_fd, "session", 0) < 0 ||
      unlinkat(srv->store_fd, s->dirname, AT_REMOVEDIR) < 0) {
    int err = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "%s", g_strerror(err));
    errno = err;
    return FALSE;
  }
  fsync(srv->store_fd);
  return TRUE;
}
