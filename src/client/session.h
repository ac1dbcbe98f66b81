/* A client session: its paths and items, from connect to stop. What the
 * outbox and the mount's set-up use; the session's state is state.h. */
#pragma once

#include "state.h"

/* Connects (creates the session, or joins cfg->attach_id) before the
 * mount: an unreachable server fails the command. */
BfcSession *bfc_session_connect(const BfcConfig *cfg, GError **error);
/* Starts the paths' threads and the ticker. */
void bfc_session_start(BfcSession *s) BF_EXCLUDES(&s->lock);
/* Stops every thread and frees the session. */
void bfc_session_stop(BfcSession *s) BF_EXCLUDES(&s->lock);
/* Makes every wait on the server give up (the mount is ending). */
void bfc_session_abort(BfcSession *s) BF_EXCLUDES(&s->lock);

const BfcConfig *bfc_session_config(BfcSession *s);
/* "host:port" of the server, for messages. */
const char *bfc_session_server(BfcSession *s);
void bfc_session_ids(BfcSession *s, uint8_t id[BF_ID_LEN],
                     uint8_t token[BF_ID_LEN]);
/* Item and op ids of this mount start above floor. */
void bfc_session_set_id_floor(BfcSession *s, uint64_t floor)
  BF_EXCLUDES(&s->lock);
/* The text of the outbox's .braidfs/paths file: one line per path. */
char *bfc_session_describe_paths(BfcSession *s) BF_EXCLUDES(&s->lock);
/* "up", "connecting" or "down", as the status files write it. */
const char *bfc_path_state_name(BfcPathState st);
