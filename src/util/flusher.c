/* Early flushes of large files (flusher.h). */
#include "braidfs/flusher.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "braidfs/tsa.h"

struct BfFlusher {
  BfMutex lock;
  GCond wake;
  int fd;                    /* the file to flush next, or -1 */
  gboolean busy;             /* a file was taken and is not flushed yet */
  gboolean stopping;
  guint64 done;              /* flushes done */
  GThread *thread;
};

static gpointer
flusher_main(gpointer data)
{
  BfFlusher *f = data;

  bf_mutex_lock(&f->lock);
  for (;;) {
    while (f->fd < 0 && !f->stopping)
      bf_cond_wait(&f->wake, &f->lock);
    if (f->stopping)
      break;
    int fd = f->fd;
    f->fd = -1;
    bf_mutex_unlock(&f->lock);
    /* Its result is not needed: the item's own fsync reports an error. */
    (void)fdatasync(fd);
    close(fd);
    bf_mutex_lock(&f->lock);
    f->done++;
    f->busy = FALSE;
  }
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
  bf_mutex_unlock(&f->lock);
  return NULL;
}

BfFlusher *
bf_flusher_new(void)
{
  BfFlusher *f = g_new0(BfFlusher, 1);

  bf_mutex_init(&f->lock);
  g_cond_init(&f->wake);
  f->fd = -1;
  return f;
}

void
bf_flusher_free(BfFlusher *f)
{
  if (f == NULL)
    return;
  bf_mutex_lock(&f->lock);
  f->stopping = TRUE;
  g_cond_signal(&f->wake);
  bf_mutex_unlock(&f->lock);
  if (f->thread != NULL)
    g_thread_join(f->thread);
  bf_mutex_clear(&f->lock);
  g_cond_clear(&f->wake);
  g_free(f);
}

gboolean
bf_flusher_offer(BfFlusher *f, int fd)
{
  char path[32];
  gboolean taken = FALSE;
  int copy;

  if (f == NULL)
    return FALSE;
  bf_mutex_lock(&f->lock);
  gboolean busy = f->busy || f->stopping;
  f->busy = TRUE;            /* reserved while the file is reopened */
  bf_mutex_unlock(&f->lock);
  if (busy)
    return FALSE;
  g_snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  copy = open(path, O_RDONLY | O_CLOEXEC);
  bf_mutex_lock(&f->lock);
  if (copy >= 0 && !f->stopping) {
    f->fd = copy;
    taken = TRUE;
    if (f->thread == NULL)
      f->thread = g_thread_new("flusher", flusher_main, f);
    g_cond_signal(&f->wake);
  } else {
    if (copy >= 0)
      close(copy);
    f->busy = FALSE;
  }
  bf_mutex_unlock(&f->lock);
  return taken;
}

guint64
bf_flusher_done(BfFlusher *f)
{
  guint64 n = 0;

  if (f != NULL) {
    bf_mutex_lock(&f->lock);
    n = f->done;
    bf_mutex_unlock(&f->lock);
  }
  return n;
}
