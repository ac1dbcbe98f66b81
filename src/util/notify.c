/* The service manager's notification protocol (notify.h): what
 * sd_notify(3) documents as stable, a datagram to $NOTIFY_SOCKET. */
#include "braidfs/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

gboolean
bf_notify(const char *state, GError **error)
{
  const char *name = g_getenv("NOTIFY_SOCKET");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t len;
  socklen_t salen;
  int fd, e = 0;

  if (name == NULL || *name == '\0')
    return TRUE;
  len = strlen(name);
  if ((name[0] != '/' && name[0] != '@') || len >= sizeof sa.sun_path) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "NOTIFY_SOCKET=%s is not an absolute path nor @name", name);
    return FALSE;
  }
  memcpy(sa.sun_path, name, len);
  if (name[0] == '@')
    sa.sun_path[0] = '\0';   /* the abstract namespace */
  salen = offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/');
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                       (struct sockaddr *)&sa, salen) < 0)
    e = errno;
  if (fd >= 0)
    close(fd);
  if (e != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                "cannot notify the service manager at %s: %s", name,
                g_strerror(e));
    return FALSE;
  }
  return TRUE;
}

void
bf_notifyf(const char *format, ...)
{
  g_autoptr(GError) error = NULL;
  va_list ap;

  va_start(ap, format);
  g_autofree char *state = g_strdup_vprintf(format, ap);
  va_end(ap);
  if (!bf_notify(state, &error))
    g_warning("%s", error->message);
}
