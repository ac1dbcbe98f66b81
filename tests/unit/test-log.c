/* Unit tests for the daemons' log writer (src/util/log.c): the stderr
 * lines (in subprocesses, which install the writer), the filtering of
 * debug messages, the ring of recent events and their one-line form. */
#include "braidfs/log.h"

#include <string.h>

/* GTest makes warnings fatal; the daemons do not. */
static void
setup(gboolean debug)
{
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  bf_log_setup("prog", debug);
}

/* Every stderr line names the program and the level, then the text. */
static void
test_stderr(void)
{
  if (g_test_subprocess()) {
    setup(FALSE);
    g_warning("a warning %d", 1);
    g_message("a message");
    g_debug("hidden debug");
    g_log("GLib-GIO", G_LOG_LEVEL_CRITICAL, "from a library");
    bf_log(G_LOG_LEVEL_WARNING, &(BfLogFields){ .session = "S" }, "with %s",
           "fields");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
  g_test_trap_assert_stderr("prog: warning: a warning 1\n"
                            "prog: notice: a message\n"
                            "prog: critical: GLib-GIO: from a library\n"
                            "prog: warning: with fields\n");
}

/* -d shows debug messages. */
static void
test_debug(void)
{
  if (g_test_subprocess()) {
    setup(TRUE);
    g_debug("shown debug");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
  g_test_trap_assert_stderr("prog: debug: shown debug\n");
}

/* Without -d, G_MESSAGES_DEBUG still selects domains, as in GLib. */
static void
test_debug_domains(void)
{
  if (g_test_subprocess()) {
    g_setenv("G_MESSAGES_DEBUG", "braidfsd", TRUE);
    setup(FALSE);
    g_log("braidfsd", G_LOG_LEVEL_DEBUG, "wanted");
    g_log("braidfs-net", G_LOG_LEVEL_DEBUG, "not wanted");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
  g_test_trap_assert_stderr("prog: debug: wanted\n");
}

static guint
n_events(uint64_t after)
{
  g_autoptr(GPtrArray) all = bf_log_events(after);

  return all->len;
}

static BfLogEvent *
last_event(void)
{
  g_autoptr(GPtrArray) all = bf_log_events(0);

  g_assert_cmpuint(all->len, >, 0);
  return g_ptr_array_steal_index(all, all->len - 1);
}

/* Warnings and worse are kept with their fields, module and time; notices
 * only when marked as events; debug never when not shown. */
static void
test_ring(void)
{
  if (g_test_subprocess()) {
    gint64 before = g_get_real_time();
    setup(FALSE);
    bf_log_events_set_capacity(4);
    g_message("not kept");
    g_debug("not kept either");
    g_assert_cmpuint(n_events(0), ==, 0);

    bf_log(G_LOG_LEVEL_WARNING,
           &(BfLogFields){ .session = "20261206-S", .peer = "10.0.0.1:5",
                           .path = "a/b" }, "refused %d", 7);
    g_autoptr(BfLogEvent) w = last_event();
    g_assert_cmpuint(w->seq, ==, 1);
    g_assert_cmpint(w->level, ==, G_LOG_LEVEL_WARNING);
    g_assert_cmpstr(w->message, ==, "refused 7");
    g_assert_cmpstr(w->session, ==, "20261206-S");
    g_assert_cmpstr(w->peer, ==, "10.0.0.1:5");
    g_assert_cmpstr(w->path, ==, "a/b");
    g_assert_cmpstr(w->module, ==, "test-log");
    g_assert_cmpint(w->time, >=, before);
    g_assert_cmpint(w->time, <=, g_get_real_time());

    bf_log(G_LOG_LEVEL_MESSAGE, &(BfLogFields){ .event = TRUE }, "recovered");
    g_autoptr(BfLogEvent) m = last_event();
    g_assert_cmpuint(m->seq, ==, 2);
    g_assert_cmpint(m->level, ==, G_LOG_LEVEL_MESSAGE);
    g_assert_null(m->session);

    /* A plain g_warning (GLib's own path) is kept too. */
    g_warning("plain");
    g_autoptr(BfLogEvent) p = last_event();
    g_assert_cmpstr(p->message, ==, "plain");
    g_assert_cmpstr(p->module, ==, "test-log");
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
}

/* The ring keeps the last `capacity` events in order; a reader asks for
 * what came after the last one it saw. */
static void
test_ring_bounds(void)
{
  if (g_test_subprocess()) {
    setup(FALSE);
    bf_log_events_set_capacity(3);
    for (int i = 1; i <= 10; i++)
      g_warning("w%d", i);
    g_autoptr(GPtrArray) all = bf_log_events(0);
    g_assert_cmpuint(all->len, ==, 3);
    for (guint i = 0; i < 3; i++) {
      const BfLogEvent *e = all->pdata[i];
      g_autofree char *want = g_strdup_printf("w%u", 8 + i);
      g_assert_cmpuint(e->seq, ==, 8 + i);
      g_assert_cmpstr(e->message, ==, want);
    }
    g_autoptr(GPtrArray) newer = bf_log_events(9);
    g_assert_cmpuint(newer->len, ==, 1);
    g_assert_cmpuint(((BfLogEvent *)newer->pdata[0])->seq, ==, 10);
    g_assert_cmpuint(n_events(10), ==, 0);
    bf_log_events_set_capacity(1);
    g_autoptr(GPtrArray) one = bf_log_events(0);
    g_assert_cmpuint(one->len, ==, 1);
    g_assert_cmpuint(((BfLogEvent *)one->pdata[0])->seq, ==, 10);
    bf_log_events_set_capacity(0);
    g_warning("w11");
    g_assert_cmpuint(n_events(0), ==, 0);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
}

/* Threads logging at once lose nothing and share one sequence. */
static gpointer
spam(gpointer data)
{
  for (int i = 0; i < 500; i++)
    g_warning("thread %d message %d", GPOINTER_TO_INT(data), i);
  return NULL;
}

static void
test_ring_threads(void)
{
  if (g_test_subprocess()) {
    GThread *t[4];
    setup(FALSE);
    bf_log_events_set_capacity(5000);
    for (int i = 0; i < 4; i++)
      t[i] = g_thread_new("spam", spam, GINT_TO_POINTER(i));
    for (int i = 0; i < 4; i++)
      g_thread_join(t[i]);
    g_autoptr(GPtrArray) all = bf_log_events(0);
    g_assert_cmpuint(all->len, ==, 2000);
    for (guint i = 0; i < all->len; i++)
      g_assert_cmpuint(((BfLogEvent *)all->pdata[i])->seq, ==, i + 1);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed();
}

/* The line form: UTC time to the millisecond, level, fields, text; no
 * byte of a hostile name can start a new line or a new field. */
static void
test_format(void)
{
  BfLogEvent e = {
    .seq = 3, .time = G_GINT64_CONSTANT(1796528869435123),
    .level = G_LOG_LEVEL_WARNING, .message = (char *)"two\nlines\\",
    .session = (char *)"20261206-S", .peer = (char *)"[::1]:7411",
    .path = (char *)"my file\n",
  };
  g_autofree char *line = bf_log_event_format(&e);

  g_assert_cmpstr(line, ==, "2026-12-06T03:47:49.435Z warning "
                            "session=20261206-S peer=[::1]:7411 "
                            "path=my\\x20file\\x0a: two\\x0alines\\x5c");
  e.session = e.peer = e.path = NULL;
  e.level = G_LOG_LEVEL_MESSAGE;
  e.message = (char *)"ok";
  g_free(line);
  line = bf_log_event_format(&e);
  g_assert_cmpstr(line, ==, "2026-12-06T03:47:49.435Z notice: ok");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/log/stderr", test_stderr);
  g_test_add_func("/log/debug", test_debug);
  g_test_add_func("/log/debug-domains", test_debug_domains);
  g_test_add_func("/log/ring", test_ring);
  g_test_add_func("/log/ring-bounds", test_ring_bounds);
  g_test_add_func("/log/ring-threads", test_ring_threads);
  g_test_add_func("/log/format", test_format);
  return g_test_run();
}
