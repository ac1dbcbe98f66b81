/* Unit tests for the whole-buffer I/O helpers (src/util/io.c) on real
 * files and pipes: offsets, end of file, the error convention, and writes
 * and reads interrupted by signals. */
#include "braidfs/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static int
temp_file(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp("test-io-XXXXXX", &path, &error);

  g_assert_no_error(error);
  unlink(path);
  return fd;
}

static gboolean
no_tilde(int dirfd, const char *name, gpointer data)
{
  struct stat st;

  g_assert_cmpint(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), ==, 0);
  (*(unsigned *)data)++;
  return !g_str_has_suffix(name, "~");
}

/* Reads what is left of the directory fd from its own offset: the count
 * of bytes of entries (0 at its end). */
static long
getdents_left(int fd)
{
  char buf[8192];

  return syscall(SYS_getdents64, fd, buf, sizeof buf);
}

/* dir_names: sorted, without "." and "..", filtered; through its own
 * description, so the offset of the descriptor it is given is neither
 * used nor moved; errors as -errno. */
static void
test_dir_names(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("test-io-XXXXXX", &error);
  const char *made[] = { "b", "a~", "c", ".hidden", "a" };
  g_autoptr(GPtrArray) all = NULL, kept = NULL, none = NULL;
  unsigned seen = 0;
  int fd, file;

  g_assert_no_error(error);
  fd = open(dir, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint(fd, >=, 0);
  for (guint i = 0; i < G_N_ELEMENTS(made); i++) {
    file = openat(fd, made[i], O_CREAT | O_WRONLY, 0600);
    g_assert_cmpint(file, >=, 0);
    close(file);
  }
  /* fd's own offset at the end of the directory */
  while (getdents_left(fd) > 0)
    ;
  g_assert_cmpint(bf_dir_names(fd, NULL, NULL, &all), ==, 0);
  g_assert_cmpuint(all->len, ==, 5);
  g_assert_cmpstr(all->pdata[0], ==, ".hidden");
  g_assert_cmpstr(all->pdata[1], ==, "a");
  g_assert_cmpstr(all->pdata[2], ==, "a~");
  g_assert_cmpstr(all->pdata[3], ==, "b");
  g_assert_cmpstr(all->pdata[4], ==, "c");
  g_assert_cmpint(bf_dir_names(fd, no_tilde, &seen, &kept), ==, 0);
  g_assert_cmpuint(seen, ==, 5);
  g_assert_cmpuint(kept->len, ==, 4);
  g_assert_cmpstr(kept->pdata[2], ==, "b");
  g_assert_cmpint(getdents_left(fd), ==, 0);

  file = openat(fd, "c", O_RDONLY);
  g_assert_cmpint(bf_dir_names(file, NULL, NULL, &none), ==, -ENOTDIR);
  g_assert_null(none);
  close(file);
  for (guint i = 0; i < G_N_ELEMENTS(made); i++)
    g_assert_cmpint(unlinkat(fd, made[i], 0), ==, 0);
  g_assert_cmpint(bf_dir_names(fd, NULL, NULL, &none), ==, 0);
  g_assert_cmpuint(none->len, ==, 0);
  close(fd);
  g_assert_cmpint(rmdir(dir), ==, 0);
  g_clear_pointer(&none, g_ptr_array_unref);
  g_assert_cmpint(bf_dir_names(fd, NULL, NULL, &none), ==, -EBADF);
  g_assert_null(none);
}

/* pwrite_all lands at its offset; pread_all reads it back, and stops
 * short only at end of file. */
static void
test_positioned(void)
{
  int fd = temp_file();
  uint8_t out[100], in[200];

  for (size_t i = 0; i < sizeof out; i++)
    out[i] = (uint8_t)i;
  g_assert_cmpint(bf_pwrite_all(fd, out, sizeof out, 1000), ==, 0);
  g_assert_cmpint(bf_pread_all(fd, in, sizeof out, 1000), ==, sizeof out);
  g_assert_cmpmem(in, sizeof out, out, sizeof out);
  /* A hole reads as zeros; past the end reads short, then nothing. */
  g_assert_cmpint(bf_pread_all(fd, in, 10, 0), ==, 10);
  g_assert_cmpuint(in[0] | in[9], ==, 0);
  g_assert_cmpint(bf_pread_all(fd, in, sizeof in, 1050), ==, 50);
  g_assert_cmpmem(in, 50, out + 50, 50);
  g_assert_cmpint(bf_pread_all(fd, in, sizeof in, 5000), ==, 0);
  /* The file position was not moved by any of it. */
  g_assert_cmpint(lseek(fd, 0, SEEK_CUR), ==, 0);
  close(fd);
}

/* write_all and read_all use and move the file position. */
static void
test_sequential(void)
{
  int fd = temp_file();
  char in[16] = { 0 };

  g_assert_cmpint(bf_write_all(fd, "hello ", 6), ==, 0);
  g_assert_cmpint(bf_write_all(fd, "world", 5), ==, 0);
  g_assert_cmpint(bf_write_all(fd, "", 0), ==, 0);
  g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
  g_assert_cmpint(bf_read_all(fd, in, sizeof in), ==, 11);
  g_assert_cmpstr(in, ==, "hello world");
  g_assert_cmpint(bf_read_all(fd, in, sizeof in), ==, 0);
  close(fd);
}

/* Failures come back as a negative errno, never as a count. */
static void
test_errors(void)
{
  int fds[2];
  uint8_t b[4] = { 0 };

  g_assert_cmpint(pipe(fds), ==, 0);
  close(fds[0]);
  close(fds[1]);
  g_assert_cmpint(bf_write_all(fds[1], b, sizeof b), ==, -EBADF);
  g_assert_cmpint(bf_read_all(fds[0], b, sizeof b), ==, -EBADF);
  g_assert_cmpint(bf_pwrite_all(fds[1], b, sizeof b, 0), ==, -EBADF);
  g_assert_cmpint(bf_pread_all(fds[0], b, sizeof b, 0), ==, -EBADF);

  /* Offsets off_t cannot hold are refused before any call. */
  int fd = temp_file();
  g_assert_cmpint(bf_pwrite_all(fd, b, sizeof b, G_MAXUINT64 - 1), ==, -EOVERFLOW);
  g_assert_cmpint(bf_pwrite_all(fd, b, sizeof b, (uint64_t)G_MAXINT64 - 2), ==, -EOVERFLOW);
  g_assert_cmpint(bf_pread_all(fd, b, sizeof b, G_MAXUINT64), ==, -EOVERFLOW);
  close(fd);

  /* A pipe nobody reads: EPIPE (SIGPIPE ignored, as the daemons do). */
  signal(SIGPIPE, SIG_IGN);
  g_assert_cmpint(pipe(fds), ==, 0);
  close(fds[0]);
  g_assert_cmpint(bf_write_all(fds[1], b, sizeof b), ==, -EPIPE);
  close(fds[1]);
}

/* Signals that interrupt a large transfer (a handler without SA_RESTART,
 * as a FUSE daemon's may be) cut the read(2)s and write(2)s short or make
 * them fail with EINTR; the helpers carry on until every byte is moved. */
static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
  (void)sig;
  alarms++;
}

typedef struct {
  int fd;
  size_t len;
  uint8_t *data;
  ssize_t got;
} Reader;

static gpointer
reader_main(gpointer data)
{
  Reader *r = data;

  r->got = bf_read_all(r->fd, r->data, r->len);
  return NULL;
}

static void
test_interrupted(void)
{
  const size_t len = 32u << 20;
  g_autofree uint8_t *out = g_malloc(len);
  g_autofree uint8_t *in = g_malloc0(len);
  struct sigaction sa = { .sa_handler = on_alarm };   /* no SA_RESTART */
  struct itimerval every = { { 0, 200 }, { 0, 200 } }, off = { 0 };
  int fds[2];

  for (size_t i = 0; i < len; i++)
    out[i] = (uint8_t)(i * 131 + (i >> 12));
  sigemptyset(&sa.sa_mask);
  g_assert_cmpint(sigaction(SIGALRM, &sa, NULL), ==, 0);
  g_assert_cmpint(pipe(fds), ==, 0);

  /* The reader thread blocks SIGALRM; the writer (this thread) gets them. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  Reader r = { fds[0], len, in, -1 };
  GThread *t = g_thread_new("reader", reader_main, &r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  setitimer(ITIMER_REAL, &every, NULL);
  int rc = bf_write_all(fds[1], out, len);
  setitimer(ITIMER_REAL, &off, NULL);
  close(fds[1]);
  g_thread_join(t);
  close(fds[0]);

  g_test_message("%d signals during the transfer", (int)alarms);
  g_assert_cmpint(rc, ==, 0);
  g_assert_cmpint(r.got, ==, (ssize_t)len);
  g_assert_true(memcmp(in, out, len) == 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/io/positioned", test_positioned);
  g_test_add_func("/io/sequential", test_sequential);
  g_test_add_func("/io/errors", test_errors);
  g_test_add_func("/io/interrupted", test_interrupted);
  g_test_add_func("/io/dir-names", test_dir_names);
  return g_test_run();
}
