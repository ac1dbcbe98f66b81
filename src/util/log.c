/* The daemons' log writer and its ring of recent events (see log.h). */
#include "braidfs/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "braidfs/text.h"
#include "braidfs/tsa.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define EVENTS_DEFAULT 256
#define LEVELS_KEPT (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)

/* Set by bf_log_setup before any thread logs, then only read. */
static const char *log_prog = "braidfs";
static gboolean log_debug;
/* Changed by bf_log_detach while other threads may log. */
static gint log_journal;       /* send entries to the journal */
static gint log_detached;      /* no terminal: syslog, not stderr */

static BfMutex ring_lock;
static GQueue ring BF_GUARDED_BY(ring_lock) = G_QUEUE_INIT;
static guint ring_capacity BF_GUARDED_BY(ring_lock) = EVENTS_DEFAULT;
static uint64_t ring_seq BF_GUARDED_BY(ring_lock);

/* What the writer reads from one entry's fields. */
typedef struct {
  const char *message, *domain, *file;
  const char *session, *peer, *path;
  gboolean event;
  char module[64];
} Entry;

static int
level_priority(GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return LOG_ERR;
  if (level & G_LOG_LEVEL_CRITICAL)
    return LOG_CRIT;
  if (level & G_LOG_LEVEL_WARNING)
    return LOG_WARNING;
  if (level & G_LOG_LEVEL_MESSAGE)
    return LOG_NOTICE;
  if (level & G_LOG_LEVEL_INFO)
    return LOG_INFO;
  return LOG_DEBUG;
}

static const char *
level_name(GLogLevelFlags level)
{
  static const char *const names[] = {
    [LOG_CRIT] = "critical", [LOG_ERR] = "error", [LOG_WARNING] = "warning",
    [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
  };
  return names[level_priority(level)];
}

static GLogLevelFlags
level_only(GLogLevelFlags level)
{
  static const GLogLevelFlags by_priority[] = {
    [LOG_CRIT] = G_LOG_LEVEL_CRITICAL, [LOG_ERR] = G_LOG_LEVEL_ERROR,
    [LOG_WARNING] = G_LOG_LEVEL_WARNING, [LOG_NOTICE] = G_LOG_LEVEL_MESSAGE,
    [LOG_INFO] = G_LOG_LEVEL_INFO, [LOG_DEBUG] = G_LOG_LEVEL_DEBUG,
  };
  return by_priority[level_priority(level)];
}

/* "session" for "../src/server/session.c". */
static void
module_of(const char *file, char *out, size_t size)
{
  const char *base = strrchr(file, '/');
  size_t n;

  base = base != NULL ? base + 1 : file;
  n = strcspn(base, ".");
  g_strlcpy(out, base, MIN(n + 1, size));
}

static void
entry_read(const GLogField *fields, gsize n_fields, Entry *e)
{
  memset(e, 0, sizeof *e);
  for (gsize i = 0; i < n_fields; i++) {
    const GLogField *f = &fields[i];
    const char *v = f->value;

    if (f->length >= 0)       /* binary: none of the fields read here */
      continue;
    if (strcmp(f->key, "MESSAGE") == 0)
      e->message = v;
    else if (strcmp(f->key, "GLIB_DOMAIN") == 0)
      e->domain = v;
    else if (strcmp(f->key, "CODE_FILE") == 0)
      e->file = v;
    else if (strcmp(f->key, "SESSION") == 0)
      e->session = v;
    else if (strcmp(f->key, "PEER") == 0)
      e->peer = v;
    else if (strcmp(f->key, "PATH") == 0)
      e->path = v;
    else if (strcmp(f->key, "BRAIDFS_EVENT") == 0)
      e->event = TRUE;
  }
  if (e->message == NULL)
    e->message = "";
  if (e->file != NULL)
    module_of(e->file, e->module, sizeof e->module);
}

static void ring_push(GLogLevelFlags level, const Entry *e)
  BF_EXCLUDES(&ring_lock);
static void
ring_push(GLogLevelFlags level, const Entry *e)
{
  BfLogEvent *ev = g_new0(BfLogEvent, 1);

  ev->time = g_get_real_time();
  ev->level = level_only(level);
  ev->domain = g_strdup(e->domain);
  ev->module = e->module[0] != '\0' ? g_strdup(e->module) : NULL;
  ev->message = g_strdup(e->message);
  ev->session = g_strdup(e->session);
  ev->peer = g_strdup(e->peer);
  ev->path = g_strdup(e->path);
  bf_mutex_lock(&ring_lock);
  ev->seq = ++ring_seq;
  g_queue_push_tail(&ring, ev);
  while (g_queue_get_length(&ring) > ring_capacity)
    bf_log_event_free(g_queue_pop_head(&ring));
  bf_mutex_unlock(&ring_lock);
}

/* Lines of text: a name from a peer (a newline, an escape sequence in it)
 * must not forge a line nor drive the terminal (text.h). */
static void
to_stderr(GLogLevelFlags level, const Entry *e, const char *shown)
{
  gboolean foreign = e->domain != NULL && !g_str_has_prefix(e->domain, "braidfs");
  g_autofree char *line =
    g_strdup_printf("%s: %s: %s%s%s\n", log_prog, level_name(level),
                    foreign ? e->domain : "", foreign ? ": " : "", shown);

  fputs(line, stderr);
}

/* The entry as GLib made it, with our priority and the program and
 * module added. */
static GLogWriterOutput
to_journal(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
           const Entry *e)
{
  GLogField out[48];
  char prio[2] = { (char)('0' + level_priority(level)), '\0' };
  gsize n = 0;

  for (gsize i = 0; i < n_fields && n < G_N_ELEMENTS(out) - 3; i++)
    if (strcmp(fields[i].key, "PRIORITY") != 0)
      out[n++] = fields[i];
  out[n++] = (GLogField){ "PRIORITY", prio, -1 };
  out[n++] = (GLogField){ "SYSLOG_IDENTIFIER", log_prog, -1 };
  if (e->module[0] != '\0')
    out[n++] = (GLogField){ "BRAIDFS_MODULE", e->module, -1 };
  return g_log_writer_journald(level, out, n, NULL);
}

static GLogWriterOutput
writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
       gpointer data)
{
  Entry e;

  (void)data;
  entry_read(fields, n_fields, &e);
  if ((level & G_LOG_LEVEL_DEBUG) && !log_debug &&
      g_log_writer_default_would_drop(level, e.domain))
    return G_LOG_WRITER_HANDLED;
  if ((level & LEVELS_KEPT) || e.event)
    ring_push(level, &e);
  if (g_atomic_int_get(&log_journal) &&
      to_journal(level, fields, n_fields, &e) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;
  g_autofree char *shown = bf_text_show(e.message, strlen(e.message),
                                       G_MAXSIZE);
  if (g_atomic_int_get(&log_detached))
    syslog(level_priority(level), "%s", shown);
  else
    to_stderr(level, &e, shown);
  return G_LOG_WRITER_HANDLED;
}

void
bf_log_setup(const char *prog, gboolean debug)
{
  log_prog = prog;
  log_debug = debug;
  /* A systemd unit's stderr is a stream to the journal: give it entries
   * with their fields rather than lines. */
  g_atomic_int_set(&log_journal, g_log_writer_is_journald(fileno(stderr)));
  g_log_set_writer_func(writer, NULL, NULL);
}

void
bf_log_detach(void)
{
  openlog(log_prog, LOG_PID, LOG_DAEMON);
  g_atomic_int_set(&log_journal, access(JOURNAL_SOCKET, W_OK) == 0);
  g_atomic_int_set(&log_detached, TRUE);
}

void
bf_log_full(const char *domain, GLogLevelFlags level, const char *file,
            const char *line, const char *func, const BfLogFields *fields,
            const char *format, ...)
{
  GLogField f[10];
  gsize n = 0;
  g_autofree char *message = NULL;
  va_list ap;

  va_start(ap, format);
  message = g_strdup_vprintf(format, ap);
  va_end(ap);
  f[n++] = (GLogField){ "MESSAGE", message, -1 };
  if (domain != NULL)
    f[n++] = (GLogField){ "GLIB_DOMAIN", domain, -1 };
  f[n++] = (GLogField){ "CODE_FILE", file, -1 };
  f[n++] = (GLogField){ "CODE_LINE", line, -1 };
  f[n++] = (GLogField){ "CODE_FUNC", func, -1 };
  if (fields != NULL && fields->session != NULL)
    f[n++] = (GLogField){ "SESSION", fields->session, -1 };
  if (fields != NULL && fields->peer != NULL)
    f[n++] = (GLogField){ "PEER", fields->peer, -1 };
  if (fields != NULL && fields->path != NULL)
    f[n++] = (GLogField){ "PATH", fields->path, -1 };
  if (fields != NULL && fields->event)
    f[n++] = (GLogField){ "BRAIDFS_EVENT", "1", -1 };
  g_log_structured_array(level, f, n);
}

void
bf_log_event_free(BfLogEvent *e)
{
  if (e == NULL)
    return;
  g_free(e->domain);
  g_free(e->module);
  g_free(e->message);
  g_free(e->session);
  g_free(e->peer);
  g_free(e->path);
  g_free(e);
}

void
bf_log_events_set_capacity(guint capacity)
{
  bf_mutex_lock(&ring_lock);
  ring_capacity = capacity;
  while (g_queue_get_length(&ring) > ring_capacity)
    bf_log_event_free(g_queue_pop_head(&ring));
  bf_mutex_unlock(&ring_lock);
}

static BfLogEvent *
event_copy(const BfLogEvent *e)
{
  BfLogEvent *c = g_memdup2(e, sizeof *e);

  c->domain = g_strdup(e->domain);
  c->module = g_strdup(e->module);
  c->message = g_strdup(e->message);
  c->session = g_strdup(e->session);
  c->peer = g_strdup(e->peer);
  c->path = g_strdup(e->path);
  return c;
}

GPtrArray *
bf_log_events(uint64_t after)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)bf_log_event_free);

  bf_mutex_lock(&ring_lock);
  for (GList *l = ring.head; l != NULL; l = l->next) {
    const BfLogEvent *e = l->data;
    if (e->seq > after)
      g_ptr_array_add(out, event_copy(e));
  }
  bf_mutex_unlock(&ring_lock);
  return out;
}

/* Control characters (a newline in a hostile file name) would forge
 * lines; in field values a space would forge fields. */
static void
append_escaped(GString *out, const char *s, gboolean in_field)
{
  for (; *s != '\0'; s++) {
    guchar c = (guchar)*s;
    if (c < 0x20 || c == 0x7f || c == '\\' || (in_field && c == ' '))
      g_string_append_printf(out, "\\x%02x", c);
    else
      g_string_append_c(out, (char)c);
  }
}

char *
bf_log_event_format(const BfLogEvent *e)
{
  g_autoptr(GDateTime) t =
    g_date_time_new_from_unix_utc(e->time / G_USEC_PER_SEC);
  g_autofree char *stamp = g_date_time_format(t, "%Y-%m-%dT%H:%M:%S");
  GString *out = g_string_new(NULL);
  const char *keys[] = { "session", "peer", "path" };
  const char *values[] = { e->session, e->peer, e->path };

  g_string_append_printf(out, "%s.%03dZ %s", stamp,
                         (int)(e->time % G_USEC_PER_SEC / 1000),
                         level_name(e->level));
  for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
    if (values[i] == NULL)
      continue;
    g_string_append_printf(out, " %s=", keys[i]);
    append_escaped(out, values[i], TRUE);
  }
  g_string_append(out, ": ");
  append_escaped(out, e->message, FALSE);
  return g_string_free(out, FALSE);
}
