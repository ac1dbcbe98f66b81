/* Reading and making key files (see key.h). */
#include "braidfs/key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/io.h"

/* A valid file is at most 65 bytes; read one more to tell a longer one. */
#define KEY_FILE_READ_MAX 66

/* err: a positive errno. */
static gboolean
key_io_fail(const char *path, const char *what, int err, GError **error)
{
  g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_IO, "key_file %s: %s: %s",
              path, what, g_strerror(err));
  return FALSE;
}

static gboolean
check_mode(int fd, const char *path, GError **error)
{
  struct stat st;

  if (fstat(fd, &st) != 0)
    return key_io_fail(path, "fstat", errno, error);
  if (!S_ISREG(st.st_mode)) {
    g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_FORMAT,
                "key_file %s: not a regular file", path);
    return FALSE;
  }
  /* Whoever owns the key can change it, and so pose as either side. */
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_MODE,
                "key_file %s belongs to uid %u, not to you (uid %u) nor to "
                "root: chown it", path, (unsigned)st.st_uid,
                (unsigned)geteuid());
    return FALSE;
  }
  /* Like ssh with a private key: a key others can read is no secret, and
   * one others can write is not ours. */
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_MODE,
                "key_file %s is accessible by group or others (mode %04o): "
                "run chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
    return FALSE;
  }
  return TRUE;
}

BfKey *
bf_key_load(const char *path, GError **error)
{
  /* Never through a symlink (whoever may change the link chooses the
   * key), and never waiting on a FIFO: fstat refuses what is no file. */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  uint8_t *buf = NULL, *raw = NULL;
  size_t len;
  ssize_t n;
  BfKey *key = NULL;

  if (fd < 0 && errno == ELOOP) {
    g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_MODE, "key_file %s is a "
                "symbolic link: name the key file itself", path);
    return NULL;
  }
  if (fd < 0) {
    key_io_fail(path, "cannot open", errno, error);
    return NULL;
  }
  if (!check_mode(fd, path, error))
    goto out;
  buf = sodium_malloc(KEY_FILE_READ_MAX);
  raw = sodium_malloc(BF_KEY_LEN);
  if (buf == NULL || raw == NULL)
    g_error("sodium_malloc: out of memory for the key");
  n = bf_read_all(fd, buf, KEY_FILE_READ_MAX);
  if (n < 0) {
    key_io_fail(path, "read", (int)-n, error);
    goto out;
  }
  len = (size_t)n;
  if (!bf_key_parse(buf, len, raw, error)) {
    g_prefix_error(error, "key_file %s: ", path);
    goto out;
  }
  key = bf_key_from_raw(raw);
out:
  if (buf != NULL)
    sodium_free(buf);  /* wipes */
  if (raw != NULL)
    sodium_free(raw);
  close(fd);
  return key;
}

gboolean
bf_key_generate(const char *path, GError **error)
{
  uint8_t raw[BF_KEY_LEN];
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                0600);
  gboolean ok = FALSE;
  int rc;

  if (fd < 0) {
    if (errno == EEXIST)
      g_set_error(error, BF_KEY_ERROR, BF_KEY_ERROR_IO,
                  "%s exists: not replacing a key (remove it first)", path);
    else
      key_io_fail(path, "cannot create", errno, error);
    return FALSE;
  }
  randombytes_buf(raw, sizeof raw);
  if ((rc = bf_write_all(fd, raw, sizeof raw)) < 0) {
    key_io_fail(path, "write", -rc, error);
    goto out;
  }
  if (fsync(fd) != 0) {
    key_io_fail(path, "fsync", errno, error);
    goto out;
  }
  ok = TRUE;
out:
  sodium_memzero(raw, sizeof raw);
  if (close(fd) != 0 && ok)
    ok = key_io_fail(path, "close", errno, error);
  if (!ok)
    unlink(path);
  return ok;
}
