/* braidfs, the client: what every module of it shares. Private to the
 * client; HACKING.md lists its modules and what each does.
 *
 * LOCKING
 *
 * Every lock is a BfMutex (braidfs/tsa.h): clang's -Wthread-safety checks
 * that a function declared BF_REQUIRES(lock) (named *_locked) is called
 * with it held, and that one declared BF_EXCLUDES(lock) (it blocks on the
 * network or the disk, or takes the lock itself) is not. The order below
 * is not checked by the compiler: a lock may be taken while holding only
 * locks above it in this table.
 *
 *   lock                  guards                             held across
 *   BfcTree.lock          the outbox's nodes                 nothing slow:
 *     (tree.h)                                               no I/O, no wait
 *   BfcAsync.lock         spooled files' states, the queue,  nothing slow
 *     (async-send.h)      the sealed files, the counts of
 *                         .braidfs/spool
 *   BfcItem.wlock         an item's writer side: its chunk   waits for the
 *     (item.h)            buffer, digest, version, attrs     server, each
 *                                                            bounded by
 *                                                            timeout
 *   BfcSpoolFile.lock     one spooled file's descriptors     that file's own
 *     (spoolfmt.h)        and header fields                  disk I/O
 *   BfcSpool.lock         the spool's next file numbers      nothing slow
 *     (spoolint.h)
 *   BfcSpoolLog.lock      the log's current segment and      one record's
 *     (spoollog.c)        the segments' live counts          append and
 *                                                            fdatasync
 *   BfcSession.lock       the session: paths, queues,        nothing slow
 *     (state.h)           chunks, the items and ops awaiting
 *                         answers, waits and seats
 *   BfConn.send_lock      one connection's writes            the write of one
 *     (braidfs/conn.h)                                       frame
 *
 * Nesting that happens: BfcTree.lock -> BfcAsync.lock (a spooled file's
 * state and size, for stat and ls); BfcAsync.lock -> BfcSession.lock (a
 * seat for a wait); BfcItem.wlock -> BfcSession.lock; BfcSpoolFile.lock ->
 * BfcSpool.lock (a file taken from the batch made ahead); BfcSpoolFile.lock
 * -> BfcSpoolLog.lock (a commit appends its record, a synced header
 * releases it); BfcSpoolFile.lock -> the spool's flusher's lock
 * (braidfs/flusher.h: a leaf, held across no I/O). Nothing is taken
 * under the session lock but a connection's shutdown(2), which does not
 * block. A thread that waits for the server (on a condition variable of
 * the session) holds no lock but possibly its item's wlock; versions are
 * opened (items announced, spooled files made) with no lock held.
 *
 * So no lock that serves a FUSE request is held across network or disk
 * I/O, with two exceptions that only requests on the same file wait for:
 * an item's wlock, held by its close(2) until the server's verdict (or
 * the timeout), and a spooled file's lock, held by its own pwrite, commit
 * or header update. A request that may wait behind either takes a seat
 * (BFC_WAIT_SEATS, wait.h) like any wait for the server, so the mount
 * always keeps threads for requests that need no server. Sockets are
 * written only by each path's own threads (paths.c): FUSE requests and
 * delivery workers queue control frames (ctl.h) and wait on the session's
 * condition variable, never on a socket.
 *
 * ERRORS
 *
 * One convention per layer:
 *  - inside (session, items, operations, delivery, spool): gboolean (or a
 *    pointer) and GError **. What the server decided is a BFC_ERROR whose
 *    code is the protocol status (BfStatus) and whose message is the
 *    server's, or ours: a wait that gave up is BF_ST_IO (BF_ST_LIMIT when
 *    every seat was taken), a cancelled item BF_ST_IO, a directory whose
 *    files are still being delivered BFC_ERROR_BUSY. Failures of the
 *    local disk are G_FILE_ERROR with a message that names the file;
 *  - the protocol status is kept up to where permanence is decided:
 *    bfc_error_is_permanent (delivery=async gives up on such a file);
 *  - at the FUSE boundary (outbox.c) bfc_error_errno, the one mapping from
 *    an error to an errno, and FUSE operations return -errno;
 *  - the disk helpers of braidfs/io.h return -errno as documented there,
 *    and are wrapped into G_FILE_ERROR by their callers;
 *  - a programmer's error is a g_return_if_fail / g_assert, never
 *    anything a peer controls. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/coding.h"
#include "braidfs/key.h"
#include "braidfs/sched.h"
#include "braidfs/wire.h"

#define BFC_MAX_PATHS 64
#define BFC_DEFAULT_PORT 7411

/* FUSE threads of a mount, and how many of them (with the delivery
 * workers) may wait for the server at once: the rest answer what needs no
 * server (ls, stat, the .braidfs status files) whatever the server does. */
#define BFC_FUSE_THREADS 64
#define BFC_WAIT_SEATS (BFC_FUSE_THREADS - 8)

/* The kernel sends a descriptor's RELEASE after close(2) has returned:
 * what must see a file closed (an open for writing, a directory's mtime
 * under delivery=async) waits that long at most for a RELEASE to come. */
#define BFC_RELEASE_WAIT_US (2 * G_TIME_SPAN_SECOND)

/* One path: where it connects to and where it leaves from. */
typedef struct {
  char *host;
  uint16_t port;
  char *bind_addr;            /* "@SRCADDR", or NULL */
  char *iface;                /* "%IFACE", or NULL */
} BfcPathSpec;

typedef struct {
  char *host;                 /* HOST:PORT: where the session is created */
  uint16_t port;
  BfcPathSpec *specs;         /* n_paths entries */
  BfcPathSpec *alts;          /* server=: other servers on the session's
                                 store (host and port only), n_alts */
  unsigned n_alts;
  gboolean explicit_paths;    /* from path= options, not paths=N */
  unsigned n_paths;
  uint32_t chunk_size;
  uint32_t window;            /* unacknowledged chunks a path may always
                                 hold (its budget's floor) */
  uint64_t inflight_max;      /* unacknowledged bytes of all paths */
  BfSchedKind sched;
  BfCodingSpec coding;        /* stripe, or shares on distinct paths */
  gboolean hide_names;        /* shamir: names go in the items' secrets */
  char *label;
  unsigned timeout_s;         /* with every path down, fail after this */
  unsigned stall_ms;          /* a path without progress this long is lost */
  const BfKey *key;           /* key_file: NULL to run in the clear */
  gboolean insecure;          /* without a key, servers not on loopback too */
  gboolean attach;            /* join session attach_id instead of a new one */
  uint8_t attach_id[BF_ID_LEN];
  uint8_t attach_token[BF_ID_LEN];
} BfcConfig;

/* Parses "ADDR:PORT[@SRCADDR|%IFACE]". */
gboolean bfc_path_spec_parse(const char *text, uint16_t default_port,
                             BfcPathSpec *out, GError **error);
void bfc_path_spec_clear(BfcPathSpec *spec);

/* ---- errors (see ERRORS above) ---------------------------------------- */

#define BFC_ERROR (bfc_error_quark())
GQuark bfc_error_quark(void);
/* A BFC_ERROR code that is no protocol status but the client's own: a
 * directory whose files are still being delivered (EBUSY). */
#define BFC_ERROR_BUSY 0x100

/* A BFC_ERROR with a protocol status as its code. */
void bfc_set_status_error(GError **error, uint8_t status, const char *format,
                          ...) G_GNUC_PRINTF(3, 4);
/* A version that continues a base of base bytes (an append; with cut, a
 * change from offset base on) is written at file offsets: *off becomes
 * the version's own offset. FALSE with error if it lies in the base,
 * which this descriptor cannot change. */
gboolean bfc_offset_after_base(const char *name, uint64_t base,
                               gboolean cut, uint64_t *off, GError **error);
/* The errno an error means to a FUSE caller (positive; EIO if unknown). */
int bfc_error_errno(const GError *error);
/* Whether no retry can change the outcome: the server refused the name or
 * the size, or the name is taken by a directory. */
gboolean bfc_error_is_permanent(const GError *error);

/* A text the server sent (a WELCOME, ERROR, ITEM_ACK or OP_ACK message),
 * fit for the terminal and the log: control characters escaped
 * (braidfs/text.h). */
char *bfc_server_text(const BfBytes *text);
