/* braidfsd: the server's shared context, and the rules its modules keep.
 *
 * Modules (HACKING.md has the list with their jobs): each .c has its own
 * small header; this one holds only what all of them share, BfdServer.
 * A module uses only modules of the lines above its own (no include
 * cycle: tests/layout/modules.py checks it):
 *
 *   limit status crash bucket hook            rules and tools
 *     statuscmd
 *   braidfsd store journal shares ratelimit   context, disk, admission
 *     commit owner
 *     events
 *   item path                                 one item, one path
 *   session                                   one session in memory
 *   items sessions                            items' life, the index
 *   chunks ops handshake recovery metrics     frame handlers, start-up
 *   dispatch server view main                 threads, FUSE, the daemon
 *
 * LOCKING
 *
 * Every lock, in the order a thread may take them: holding one, it takes
 * only locks further down the table, and only where "then" says so.
 *
 *   lock                    guards                          then
 *   BfdServer.lock          paths, ended_threads, stopping  -
 *     (server.c)            (janitor_wake, paths_gone wait
 *                           on it)
 *   BfdSessions.lock        the index: by name, by id, by   -
 *     (sessions.c)          source, places reserved
 *   BfdSession.rest_lock    resting (its journal and tmp/   the session's
 *     (session.h)           closed): the janitor and        lock
 *                           attaching paths; held across
 *                           that session's journal opening
 *                           and closing only
 *   BfdSession.lock         items, opening, verdicts,       leaves
 *     (session.h)           ops_done/_running, clients and
 *                           their counters, totals, flags
 *                           (changed waits on it)
 *   BfdItem.lock (item.h)   the item's rebuild state        leaves
 *   leaves: BfdShareBudget.lock (shares.c), BfdGate.lock (ratelimit.c),
 *     BfdCommitter.lock (items.c), BfdJournal.max_lock and slot_lock
 *     (journal.c; slot_lock across no I/O), BfdClientKeys.lock
 *     (clientkeys.c), BfFlusher's lock (flusher.h; across no I/O: the
 *     reopen and the fdatasync are done without it),
 *     BfConn's out_lock and send_lock
 *     (conn.h), the log's ring lock (log.c): each takes no other lock.
 *
 * A session's lock and an item's lock are never held together: a frame
 * handler looks the item up under the session's lock, lets it go, then
 * takes the item's (items.c, chunks.c).
 *
 * Held across I/O, and why that is safe:
 *   - BfConn.send_lock, by a path's own thread writing its own socket:
 *     only that path waits on a peer that does not read. Every other
 *     thread posts its answers to the path's bounded outbox (bf_conn_post
 *     never blocks, so it is allowed under any lock);
 *   - BfdItem.lock, across that item's own file I/O (a chunk's pwrite, its
 *     record, rereads for its digest): only frames of that item wait, and
 *     no FUSE request takes it. An append's base copy (a copier thread,
 *     items.c) holds no lock while it copies: the base lies before every
 *     chunk, and the item waits (copying) until it is done;
 *   - BfdJournal.max_lock, across one 8-byte pwrite of tmp/max_id;
 *   - BfdItem.lock and BfdGate.lock, across the log lines written under
 *     them (a refusal's line, a gate's count).
 * No other lock is. In particular the server, index and session locks,
 * which FUSE requests take (ls, stat, cat .session, rm, rmdir) and so do
 * the janitor and every path, are let go before any fsync, rename,
 * unlink, pwrite, network wait or log line. Functions that do such I/O
 * say BF_EXCLUDES on the locks a caller could hold, and *_locked
 * functions say BF_REQUIRES (tsa.h: clang checks both). A thread waiting
 * on a condition variable (a repeated frame waiting for the first copy's
 * answer, stop waiting for the paths) has let go of its lock meanwhile.
 *
 * Answers: only a path's own thread writes its socket. During the
 * handshake it writes directly (the path is its thread's alone then);
 * after it, every answer, whoever makes it (the path's thread, a
 * committer, a base copier, another path of the session), is posted to
 * the path's outbox (path.h), which its thread sends before reading the
 * next frame and while it waits for one.
 *
 * CONVENTIONS
 *
 * Errors: inside the daemon a failure is a GError (FALSE, NULL or -1
 * returned, *error set). A failure that becomes an answer carries its
 * protocol status as its code in BFD_ERROR (status.h); a failed system
 * call becomes one at once, through bfd_set_error_errno, the one mapping
 * from errno to a status (bfd_status_from_errno). errno itself appears
 * only in the store's path primitives, which behave as the calls they
 * wrap (store.h), and at the FUSE boundary (view.c returns -errno, as
 * libfuse wants). A frame handler returns FALSE when the path must close
 * (it posted an ERROR and logged why); an item that fails (not the path)
 * is reported with its GError as the STORED answer.
 *
 * Ownership: *_new/_unref (refcounted: sessions, items, paths) or
 * _new/_free; g_autoptr and g_steal_pointer show where a reference moves.
 *
 * Logging: a line about a session or a peer goes through bf_log() with
 * the SESSION and PEER fields (log.h), and its text still names them for
 * stderr and syslog.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/flusher.h"
#include "braidfs/key.h"
#include "braidfs/tsa.h"
#include "limit.h"

/* Frames before the handshake is done are small (HELLO and its TLVs): a
 * peer that has proved nothing gets no large buffer. */
#define BFD_HELLO_BODY_MAX (64u * 1024)

/* Answers waiting in a path's outbox (conn.h) for its thread to send them:
 * an honest client reads them as they come, and a burst (STORED of every
 * item in flight, with messages) fits many times over. A path over it
 * does not read and is closed. */
#define BFD_OUTBOX_MAX (1024u * 1024)

typedef struct BfdSession BfdSession;
typedef struct BfdSessions BfdSessions;
typedef struct BfdGate BfdGate;
typedef struct BfdHook BfdHook;
typedef struct BfdCommitter BfdCommitter;
typedef struct BfdClientKeys BfdClientKeys;

typedef struct {
  /* Set before the server starts, then only read. */
  BfdLimits limits;
  BfKey *key;                /* key_file: NULL to run in the clear */
  BfdClientKeys *client_keys; /* client_keys=DIR: one key per client (then
                                 key is NULL) */
  char *store_path;
  int store_fd;
  int events_fd;             /* STORE/.events, appended (events.h) */
  BfdHook *hook;             /* exec_on_store, or NULL (hook.h) */
  uint64_t instance;         /* random, per process: clients see restarts */
  BfdSessions *sessions;     /* every session of the store (sessions.h) */
  BfdGate *gate;             /* admission of new connections */
  /* Items holding descriptors (two each: data and record), in every
   * session; new ones are refused over items_max, set from the
   * descriptor limit, so that no number of sessions exhausts it. */
  gint items_live;           /* atomic */
  gint sessions_connected;   /* atomic: sessions with a path (session.c
                                counts them; max_sessions) */
  guint items_max;
  BfdCommitter *committer;   /* group commit of complete items, off the
                                path threads (items.h) */
  GThreadPool *copiers;      /* appends' base copies, off the path threads
                                (bfd_items_copy_base) */
  BfFlusher *flusher;        /* early flushes of large items (flusher.h) */
  GPtrArray *listen_fds;     /* int fds as pointers, bound before fork */
  GPtrArray *listen_names;
  char *owner_who;           /* written into the owner files (owner.h) */
  /* The threads (server.c). */
  BfMutex lock;              /* guards paths, ended_threads, stopping */
  GHashTable *paths;         /* live connections (BfdPath*), for stop */
  GCond paths_gone;
  GPtrArray *ended_threads;  /* path threads that are done, to join: a
                                thread's OpenSSL state is freed when it
                                exits, so stop joins every one (else LSan
                                sees it lost at exit) */
  gboolean stopping;
  GPtrArray *accept_threads; /* start and stop only */
  GThread *janitor;          /* abandons items of sessions left alone */
  GCond janitor_wake;
} BfdServer;
