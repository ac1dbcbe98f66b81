#include "braidfs/log.h"

#include <stdio.h>
#include <syslog.h>

static const char *log_prog = "braidfs";
static gboolean log_debug;
static gboolean log_syslog;

static void
log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message,
            gpointer data)
{
  (void)domain;
  (void)data;
  if ((level & G_LOG_LEVEL_DEBUG) && !log_debug)
    return;
  if (log_syslog) {
    int prio = LOG_INFO;
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
      prio = LOG_ERR;
    else if (level & G_LOG_LEVEL_WARNING)
      prio = LOG_WARNING;
    else if (level & G_LOG_LEVEL_DEBUG)
      prio = LOG_DEBUG;
    syslog(prio, "%s", message);
    return;
  }
  fprintf(stderr, "%s: %s\n", log_prog, message);
}

void
bf_log_setup(const char *prog, gboolean debug)
{
  log_prog = prog;
  log_debug = debug;
  g_log_set_default_handler(log_handler, NULL);
}

void
bf_log_to_syslog(void)
{
  openlog(log_prog, LOG_PID, LOG_DAEMON);
  log_syslog = TRUE;
}
