/* Logging for both daemons, through GLib's structured log writer.
 *
 * Every g_warning()/g_message()/g_debug() of the daemons goes through one
 * writer (bf_log_setup) that sends it to:
 *  - stderr, as "braidfsd: warning: text", while the daemon has a
 *    terminal (-f, -d) — unless stderr is the systemd journal (a unit's
 *    output), which then gets the structured entry instead;
 *  - once detached (bf_log_detach): the systemd journal when its socket
 *    exists, syslog (LOG_DAEMON) otherwise.
 * Priorities follow syslog's: g_error err, g_critical crit, g_warning
 * warning, g_message notice, g_info info, g_debug debug (shown only with
 * -d, or for the domains in G_MESSAGES_DEBUG).
 *
 * Domains: each directory sets G_LOG_DOMAIN in meson ("braidfsd",
 * "braidfs", "braidfs-net", "braidfs-core", "braidfs-util"); the journal
 * also gets BRAIDFS_MODULE, the source file ("session" for session.c),
 * and SYSLOG_IDENTIFIER, the program.
 *
 * Structured fields: bf_log() attaches SESSION=, PEER= and PATH= to one
 * message (journalctl SESSION=... finds every line of a session); the
 * text should still say what it is about, since stderr and syslog show
 * only the text. There the text is shown as text.h's bf_text_show makes
 * it (control characters, bytes not UTF-8: \xNN), so a name from a peer
 * cannot forge a line; the journal and the events ring keep their own
 * framing.
 *
 * Events: every message at warning level or above, and every message
 * logged with .event set, is also kept in a bounded in-memory ring (the
 * last 256 by default) that a daemon can show in a file (the client's
 * .braidfs/events), so that nothing depends on a syslog daemon.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* Installs the writer; call once, before any thread logs. prog prefixes
 * stderr lines and names the program in the journal and syslog; debug
 * shows g_debug() of every domain. */
void bf_log_setup(const char *prog, gboolean debug);
/* The daemon is about to leave its terminal: from now on, log to the
 * journal if /run/systemd/journal/socket exists, else to syslog. */
void bf_log_detach(void);

typedef struct {
  const char *session;   /* SESSION=: the session's directory name */
  const char *peer;      /* PEER=: ADDR:PORT of the other end */
  const char *path;      /* PATH=: a file's name inside the session */
  gboolean event;        /* keep in the events ring whatever the level */
} BfLogFields;

/* bf_log(level, fields, format, ...): g_log with fields (may be NULL):
 *   bf_log(G_LOG_LEVEL_WARNING,
 *          &(BfLogFields){ .session = s->dirname, .peer = c->peer },
 *          "session %s: refusing item %" G_GUINT64_FORMAT, s->dirname, id);
 */
/* (fields, format, ... all in __VA_ARGS__: a compound literal's commas
 * would otherwise split the fields argument.) */
#define bf_log(level, ...)                                                  \
  bf_log_full(G_LOG_DOMAIN, (level), __FILE__, G_STRINGIFY(__LINE__),       \
              G_STRFUNC, __VA_ARGS__)
void bf_log_full(const char *domain, GLogLevelFlags level, const char *file,
                 const char *line, const char *func,
                 const BfLogFields *fields, const char *format, ...)
  G_GNUC_PRINTF(7, 8);

/* One kept event. Strings are NULL when the message had no such field. */
typedef struct {
  uint64_t seq;          /* 1, 2, ... in the order logged */
  gint64 time;           /* g_get_real_time(): microseconds since 1970 */
  GLogLevelFlags level;  /* one G_LOG_LEVEL_* */
  char *domain;
  char *module;          /* source file without directory and .c */
  char *message;
  char *session, *peer, *path;
} BfLogEvent;

void bf_log_event_free(BfLogEvent *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfLogEvent, bf_log_event_free)

/* Keeps the last capacity events (256 until set; 0 keeps none), dropping
 * the oldest beyond. */
void bf_log_events_set_capacity(guint capacity);
/* Copies of the kept events with seq > after, oldest first: a reader that
 * remembers the last seq it saw gets only what is new (a gap in seq means
 * the ring dropped events in between). Free with g_ptr_array_unref. */
GPtrArray *bf_log_events(uint64_t after);
/* One line, without newline, for a file such as .braidfs/events:
 *   2026-12-06T03:27:49.435Z warning session=S peer=P path=F: text */
char *bf_log_event_format(const BfLogEvent *e);

G_END_DECLS
