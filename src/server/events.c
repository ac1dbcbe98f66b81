/* The store's event stream (events.h). */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "braidfs/digest.h"
#include "braidfs/parse.h"
#include "braidfs/text.h"
#include "braidfs/wire.h"

#include "store.h"

int
bfd_events_open(int store_fd, GError **error)
{
  /* Never through a link, a FIFO or a second name (store.h). */
  int fd = bfd_store_open_file(store_fd, BFD_EVENTS_FILE,
                               O_WRONLY | O_APPEND | O_CREAT, 0644);

  if (fd < 0)
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "cannot open the event stream %s in the store: %s",
                BFD_EVENTS_FILE, g_strerror(errno));
  return fd;
}

void
bfd_events_stored(int fd, const char *session, const char *path, uint64_t size,
                  uint8_t alg, const uint8_t digest[BF_DIGEST_LEN])
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *when = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
  g_autofree char *hex = bf_hex(digest, BF_DIGEST_LEN);
  g_autoptr(GString) line = g_string_new(NULL);
  ssize_t n;

  if (fd < 0)
    return;
  g_string_append_printf(line, "%s.%03dZ", when,
                         g_date_time_get_microsecond(now) / 1000);
  g_string_append_c(line, ' ');
  bf_text_append_field(line, session);
  g_string_append_c(line, ' ');
  bf_text_append_field(line, path);
  g_string_append_printf(line, " %" G_GUINT64_FORMAT " %s:%s\n", size,
                         bf_digest_alg_tag(alg), hex);
  /* One write with O_APPEND: lines of concurrent finalizers never mix. */
  n = write(fd, line->str, line->len);
  if (n != (ssize_t)line->len)
    g_warning("event stream %s: cannot append the line of %s/%s: %s",
              BFD_EVENTS_FILE, session, path,
              n < 0 ? g_strerror(errno) : "short write (disk full?)");
}
