/* The view's /.metrics: every session's counters in Prometheus' text
 * format (version 0.0.4), for a scrape through node_exporter's textfile
 * collector (cp it there) or any reader. Taken under each session's lock
 * in turn, which is never held across I/O. */
#pragma once

#include "braidfsd.h"

char *bfd_metrics_text(BfdServer *srv);
/* One line for systemd's STATUS=: sessions, connected ones, files. */
char *bfd_metrics_summary(BfdServer *srv);
