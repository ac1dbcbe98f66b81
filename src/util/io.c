/* Whole-buffer I/O (see io.h). */
#include "braidfs/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* The largest offset that off + len may reach without wrapping off_t. */
#define OFF_LIMIT ((uint64_t)G_MAXINT64)

static gboolean
range_ok(size_t len, uint64_t off)
{
  return off <= OFF_LIMIT && len <= OFF_LIMIT - off;
}

int
bf_write_all(int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int
bf_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
  const uint8_t *p = buf;

  if (!range_ok(len, off))
    return -EOVERFLOW;
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, (off_t)off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -EIO;
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

ssize_t
bf_read_all(int fd, void *buf, size_t len)
{
  uint8_t *p = buf;
  size_t done = 0;

  len = MIN(len, (size_t)G_MAXSSIZE);
  while (done < len) {
    ssize_t n = read(fd, p + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

ssize_t
bf_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
  uint8_t *p = buf;
  size_t done = 0;

  len = MIN(len, (size_t)G_MAXSSIZE);
  if (!range_ok(len, off))
    return -EOVERFLOW;
  while (done < len) {
    ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

static gint
name_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bf_dir_names(int dirfd, BfDirFilter filter, gpointer data, GPtrArray **out)
{
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  struct dirent *e;
  int err;

  *out = NULL;
  if (dir == NULL) {
    err = errno;
    if (fd >= 0)
      close(fd);
    return -err;
  }
  /* readdir tells an error from the end only by errno */
  for (errno = 0; (e = readdir(dir)) != NULL; errno = 0)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
        (filter == NULL || filter(dirfd, e->d_name, data)))
      g_ptr_array_add(names, g_strdup(e->d_name));
  err = errno;
  closedir(dir);
  if (err != 0)
    return -err;
  g_ptr_array_sort(names, name_cmp);
  *out = g_steal_pointer(&names);
  return 0;
}
