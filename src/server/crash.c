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
static const char *hold_op_fifo;   /* BRAIDFSD_HOLD_OP, or NULL */
static gint op_held;            /* the first OP was held */

static const char *
hook_env(const char *name)
{
  const char *v = g_getenv(name);

  if (v == NULL || v[0] == '\0')
    return NULL;
  g_warning("test hook armed: %s=%s", name, v);
  return v;
}

gboolean
bfd_crash_setup(GError **error)
{
  const char *spec = g_getenv("BRAIDFSD_CRASH_AFTER");
  const char *colon;
  guint64 n;

  hold_fifo = hook_env("BRAIDFSD_HOLD_BASE_COPY");
  hold_op_fifo = hook_env("BRAIDFSD_HOLD_OP");
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

/* Waits until a writer opens fifo and closes it. */
static void
hold(const char *fifo)
{
  char buf[64];
  int fd;

  do
    fd = open(fifo, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    g_warning("test hook: cannot open %s: %s", fifo, g_strerror(errno));
    return;
  }
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR))
      break;
  }
  close(fd);
}

void
bfd_hold_base_copy(void)
{
  if (G_LIKELY(hold_fifo == NULL))
    return;
  g_warning("test hook: holding the base copy until %s is written",
            hold_fifo);
  hold(hold_fifo);
  g_warning("test hook: the base copy goes on");
}

gboolean
bfd_hold_op_armed(void)
{
  return hold_op_fifo != NULL && g_atomic_int_get(&op_held) == 0;
}

void
bfd_hold_op(const char *name, guint items_open)
{
  if (!g_atomic_int_compare_and_exchange(&op_held, 0, 1))
    return;
  g_warning("test hook: holding the operation on '%s' (%u items open) "
            "until %s is written", name, items_open, hold_op_fifo);
  hold(hold_op_fifo);
  g_warning("test hook: the operation on '%s' goes on", name);
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
