/* A path: one accepted connection, as the rest of the server sees it.
 * Anyone holding a reference may post it an answer (never blocks) or read
 * its counters under its session's lock; only its thread (dispatch.c)
 * reads its frames and writes its socket. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/conn.h"
#include "braidfs/log.h"
#include "braidfs/wire.h"
#include "braidfsd.h"
#include "ratelimit.h"

typedef struct BfdPath {
  gint refs;             /* its thread's, and each answer being posted */
  gint stall_logged;     /* atomic: its not reading was logged */
  BfdServer *srv;
  BfConn *conn;
  char *src;             /* its source, as the gate counts it */
  BfdGateSeat seat;      /* where the gate let it wait (set before its
                            thread starts) */
  char *local;           /* our address it reached */
  /* Set by the handshake before the path joins a session, then fixed. */
  BfdSession *sess;      /* its thread's reference: no other thread reads
                            it (dispatch.c lets it go at the end) */
  char *session_name;    /* the session's, for log lines (NULL before) */
  unsigned index;        /* the client's path number */
  /* Its thread's buffers, reused frame after frame. */
  GByteArray *scratch;   /* chunks read back */
  GByteArray *rebuilt;   /* a coded chunk rebuilt from its shares */
  /* Under the session's lock once joined: for .session. */
  uint64_t bytes;        /* chunk payload received */
  uint64_t chunks;
} BfdPath;

/* Takes fd; src is the source address's key (ratelimit.h). */
BfdPath *bfd_path_new(BfdServer *srv, int fd, const char *src);
BfdPath *bfd_path_ref(BfdPath *p);
void bfd_path_unref(BfdPath *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdPath, bfd_path_unref)

/* The structured fields of a log line about the path (log.h). */
#define BFD_PATH_LOG(p) \
  (&(BfLogFields){ .session = (p)->session_name, .peer = (p)->conn->peer })

/* Posts an answer to the path's outbox; never blocks. FALSE when the path
 * is closing because it does not read (logged once). */
gboolean bfd_path_post(BfdPath *p, const BfMsg *m);
/* text (NULL: none) as an answer's message: escaped for terminals and
 * logs and cut between characters to what the frame carries (text.h).
 * The bytes point into *shown, which the caller frees after sending. */
BfBytes bfd_path_answer_text(const char *text, char **shown);
/* proof: STORED OK's (BF_PROOF_LEN bytes), else NULL (zero on the wire). */
void bfd_path_item_ack(BfdPath *p, uint64_t id, uint8_t stage, uint8_t status,
                       const char *text, const uint8_t *proof);
gboolean bfd_path_chunk_ack(BfdPath *p, const BfChunk *c);
/* A violation: logs it, posts ERROR with status and the text, and returns
 * FALSE, so that its caller ends the path (dispatch.c closes it after the
 * ERROR is out). */
gboolean bfd_path_refuse(BfdPath *p, uint8_t status, const char *fmt, ...)
  G_GNUC_PRINTF(3, 4);
/* The path does not read what we send: said once, by whoever notices. */
void bfd_path_log_stalled(BfdPath *p, const GError *error);
/* One of the thread's buffers, with room for len bytes. */
uint8_t *bfd_path_buffer(GByteArray *buf, size_t len);
