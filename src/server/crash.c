/* Test-only fault injection: BRAIDFSD_CRASH_AFTER=POINT:N makes braidfsd
 * kill itself (SIGKILL, as kill -9 or a power cut of the process would)
 * the N-th time it reaches POINT, so that a test can crash it at exact
 * places of a transfer and check what the store holds afterwards (in the
 * spirit of SQLite's crash tests). Unset, every hook is one compare. */
#include "crash.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const point_names[BFD_CRASH_N] = {
  [BFD_CRASH_FRAMES] = "frames",
  [BFD_CRASH_MAX_ID] = "max-id",
  [BFD_CRASH_PART_CREATED] = "part-created",
  [BFD_CRASH_REC_TORN] = "rec-torn",
  [BFD_CRASH_CHUNK_DATA] = "chunk-data",
  [BFD_CRASH_CHUNK_MAP] = "chunk-map",
  [BFD_CRASH_CLOSE_TORN] = "close-torn",
  [BFD_CRASH_FSYNCED] = "fsynced",
  [BFD_CRASH_BATCH_SYNCED] = "batch-synced",
  [BFD_CRASH_RENAMED] = "renamed",
  [BFD_CRASH_BATCH_RENAMED] = "batch-renamed",
  [BFD_CRASH_DIR_SYNCED] = "dir-synced",
  [BFD_CRASH_REC_REMOVED] = "rec-removed",
  [BFD_CRASH_STORED_SENT] = "stored-sent",
  [BFD_CRASH_OP_APPLIED] = "op-applied",
  [BFD_CRASH_BASE_COPY] = "base-copy",
};

static int armed = -1;      /* the point, or -1 */
static gint hits_left;
static const char *hold_fifo;   /* BRAIDFSD_HOLD_BASE_COPY, or NULL */

gboolean
bfd_crash_setup(GError **error)
{
  const char *spec = g_getenv("BRAIDFSD_CRASH_AFTER");
  const char *colon;
  guint64 n;

  hold_fifo = g_getenv("BRAIDFSD_HOLD_BASE_COPY");
  if (hold_fifo != NULL && hold_fifo[0] == '\0')
    hold_fifo = NULL;
  if (hold_fifo != NULL)
    g_warning("test hook armed: BRAIDFSD_HOLD_BASE_COPY=%s", hold_fifo);
  if (spec == NULL || spec[0] == '\0')
    return TRUE;
  colon = strrchr(spec, ':');
  for (int i = 0; colon != NULL && i < BFD_CRASH_N; i++) {
    if (strlen(point_names[i]) == (size_t)(colon - spec) &&
        strncmp(spec, point_names[i], colon - spec) == 0 &&
        g_ascii_string_to_unsigned(colon + 1, 10, 1, G_MAXINT, &n, NULL)) {
      armed = i;
      hits_left = (gint)n;
      g_warning("test hook armed: BRAIDFSD_CRASH_AFTER=%s", spec);
      return TRUE;
    }
  }
  g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
              "BRAIDFSD_CRASH_AFTER=%s: expected POINT:N with N >= 1 and POINT "
              "one of frames, max-id, part-created, rec-torn, chunk-data, "
              "chunk-map, close-torn, fsynced, batch-synced, renamed, "
              "batch-renamed, dir-synced, "
              "rec-removed, stored-sent, op-applied, base-copy (a test hook, see "
              "braidfsd(8))", spec);
  return FALSE;
}

static gboolean
hit(BfdCrashPoint pt)
{
  return armed == (int)pt && g_atomic_int_dec_and_test(&hits_left);
}

static G_NORETURN void
die(BfdCrashPoint pt)
{
  char line[96];
  int len = g_snprintf(line, sizeof line, "braidfsd: test hook: crashing at "
                       "%s\n", point_names[pt]);

  /* One write, no lock: other threads may hold the log's. */
  if (write(STDERR_FILENO, line, (size_t)len) < 0)
    abort();
  raise(SIGKILL);
  abort();
}

void
bfd_crash_at(BfdCrashPoint pt)
{
  if (G_UNLIKELY(armed >= 0) && hit(pt))
    die(pt);
}

void
bfd_hold_base_copy(void)
{
  char buf[64];
  int fd;

  if (G_LIKELY(hold_fifo == NULL))
    return;
  g_warning("test hook: holding the base copy until %s is written",
            hold_fifo);
  do
    fd = open(hold_fifo, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    g_warning("test hook: cannot open %s: %s", hold_fifo, g_strerror(errno));
    return;
  }
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR))
      break;
  }
  close(fd);
  g_warning("test hook: the base copy goes on");
}

void
bfd_crash_torn(BfdCrashPoint pt, int fd, const void *buf, size_t len,
               off_t off)
{
  if (G_LIKELY(armed < 0) || !hit(pt))
    return;
  if (pwrite(fd, buf, len / 2, off) < 0)
    abort();
  die(pt);
}
