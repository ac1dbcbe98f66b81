/* The spool's session file, SPOOL/session (spool.h): a key file with the
 * server, the session id, its attach token and the id floor, and their MAC
 * under the spool's key. Private to the client; spool.c's
 * bfc_spool_load_session and bfc_spool_save_session are its callers. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/wire.h"
#include "spooldir.h"

typedef struct {
  char *server;               /* "host:port" it was made with */
  uint8_t id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];
  uint64_t id_floor;          /* item and op ids start above this */
} BfcSpoolSession;

gboolean bfc_spool_session_load(const BfcSpoolDir *d, BfcSpoolSession *out,
                                GError **error);
gboolean bfc_spool_session_save(const BfcSpoolDir *d, const BfcSpoolSession *ss,
                                GError **error);
void bfc_spool_session_clear(BfcSpoolSession *ss);
