/* Connecting one path: TCP from its source, the preface, the key handshake
 * when there is a key, and HELLO/WELCOME, which create the session or
 * attach the path to it. Blocking; the whole of it (connect, then the
 * handshake) bounded by timeout_ms each; called by the path's own thread
 * (or at mount) with no lock held. */
#pragma once

#include "state.h"

/* The status of a refused dial when the key handshake failed: not the
 * server's verdict on the session, so a re-attaching path just tries
 * again later. */
#define BFC_ST_KEY 0xff

/* The largest frame body the server may send before its WELCOME (the
 * server's own bound on HELLO is the same): AUTH, ERROR and WELCOME are
 * far smaller. */
#define BFC_HANDSHAKE_BODY_MAX (64u * 1024)

/* The protocol version a session's paths speak first (s->proto): this
 * build's, or an older one named by the test hook BRAIDFS_TEST_PROTOCOL
 * (braidfs(1)). */
int bfc_dial_first_version(void);

/* A handshaken connection for path index (BFC_NO_PATH: the connection that
 * creates the session for explicit paths) to spec. A NEW session sets
 * s->id and s->token. NULL on failure, with *status the server's refusal
 * (BF_ST_OK if it did not refuse, BFC_ST_KEY for the key handshake).
 * *instance is the server process's id from WELCOME (0 if none). A server
 * that speaks only an older version this build speaks too is dialled again
 * in it, and s->proto lowered for the paths that follow. */
BfConn *bfc_dial(BfcSession *s, const BfcPathSpec *spec, unsigned index,
                 BfHelloKind kind, unsigned timeout_ms, uint8_t *status,
                 uint64_t *instance, GError **error) BF_EXCLUDES(&s->lock);

#define BFC_NO_PATH 0xffffu
