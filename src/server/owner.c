/* The owner lock of a session (owner.h). */
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "braidfs/io.h"
#include "status.h"

/* What the owner file tells the other servers' views; more is not ours. */
#define OWNER_TEXT_MAX 512

/* Who owns the session, for the other servers' views: advice only (the
 * lock decides), so a failed write costs nothing but that line. */
static void
write_who(int fd, const char *who)
{
  if (who == NULL)
    return;
  if (ftruncate(fd, 0) < 0 || bf_write_all(fd, who, strlen(who)) < 0)
    g_debug("owner file: cannot write who owns it: %s", g_strerror(errno));
}

gboolean
bfd_owner_take(BfdSessionDir *d, const char *who, GError **error)
{
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
  int fd;

  g_return_val_if_fail(d->owner_fd < 0, FALSE);
  /* Never through a link: the store's own file, made once and kept. */
  fd = bfd_store_open_file(d->dir_fd, BFD_STORE_OWNER_FILE,
                           O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return bfd_set_error_errno(error, errno, "session %s: owner file",
                               d->name);
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
    write_who(fd, who);
    d->owner_fd = fd;
    return TRUE;
  }
  if (errno == EAGAIN || errno == EACCES) {
    g_set_error(error, BFD_ERROR, BF_ST_LIMIT, "session %s is owned by "
                "another braidfsd on this store: attach to that server, or "
                "try again once it is gone", d->name);
  } else {
    bfd_set_error_errno(error, errno, "session %s: cannot lock its owner "
                        "file (a store shared by several servers needs a "
                        "file system with OFD locks)", d->name);
  }
  close(fd);
  return FALSE;
}

char *
bfd_owner_describe(int dir_fd)
{
  /* A read lock's test, which a read-only description may make. */
  struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
  char buf[OWNER_TEXT_MAX];
  int fd = bfd_store_open_file(dir_fd, BFD_STORE_OWNER_FILE,
                               O_RDONLY | O_CLOEXEC, 0);
  ssize_t n;

  if (fd < 0)
    return g_strdup("another braidfsd on this store");
  if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_UNLCK) {
    close(fd);
    return g_strdup("none (its owner is gone: the next braidfsd its client "
                    "reaches takes it over)");
  }
  n = bf_read_all(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0 || memchr(buf, '\0', (size_t)n) != NULL ||
      !g_utf8_validate(buf, n, NULL))
    return g_strdup("another braidfsd on this store");
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  return g_strdup(g_strstrip(buf));
}
