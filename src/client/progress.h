/* What the session is doing now, for programs: .braidfs/status.json (read
 * by `braidfs status`) and .braidfs/metrics (Prometheus' text format).
 * Both come from one snapshot taken under the session lock, which is
 * never held across I/O, so they answer at once whatever the server does.
 *
 * status.json, version 1 (braidfs(1), FILES, has the fields): an object
 * with "format": "braidfs-status", "version": 1, the session ("server",
 * "session", "state", "paths_up", "down_for_s", "rate_Bps"), "totals",
 * "paths" (one object each), "files" (in flight: bytes done, size, rate,
 * ETA), "recent" (the last files with a verdict), "spool" (null
 * without one) and "tree" (what the outbox's tree holds). A reader checks "version"; fields are only ever added
 * within a version. */
#pragma once

#include "delivery.h"
#include "session.h"
#include "tree.h"

#define BFC_STATUS_FORMAT "braidfs-status"
#define BFC_STATUS_VERSION 1

char *bfc_progress_json(BfcSession *s, BfcDelivery *d, BfcTree *t);
char *bfc_progress_metrics(BfcSession *s, BfcDelivery *d);
