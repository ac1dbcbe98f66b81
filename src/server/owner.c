/* The owner lock of a session (owner.h). */
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "status.h"

gboolean
bfd_owner_take(BfdSessionDir *d, GError **error)
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
