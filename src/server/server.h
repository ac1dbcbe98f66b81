/* braidfsd internals shared by its modules. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "braidfs/assembler.h"
#include "braidfs/coding.h"
#include "braidfs/conn.h"
#include "braidfs/digest.h"
#include "braidfs/key.h"
#include "braidfs/wire.h"

typedef struct {
  uint64_t max_item_size;
  unsigned max_sessions;
  unsigned max_paths;
  unsigned max_open_items;   /* items in flight per session */
  unsigned handshake_timeout_ms;
  unsigned idle_timeout_ms;  /* a path silent this long is closed */
  unsigned send_timeout_ms;  /* a path that reads nothing this long is closed */
  unsigned linger_ms;        /* unfinished items outlive the last path this long */
  unsigned max_name;         /* bytes in a name (<= BF_NAME_MAX) */
  unsigned max_depth;        /* components in a name (<= BF_DEPTH_MAX) */
  unsigned max_chunk;        /* chunk_size, and so the frame a path buffers */
  unsigned max_handshakes;   /* connections not yet through the handshake */
  unsigned max_handshakes_per_addr;
  unsigned attach_rate;      /* handshakes per second per source address */
  unsigned attach_burst;
} BfdLimits;

/* Frames before the handshake is done are small (HELLO and its TLVs): a
 * peer that has proved nothing gets no large buffer. */
#define BFD_HELLO_BODY_MAX (64u * 1024)

/* Answers waiting in a path's outbox (conn.h) for its thread to send them:
 * an honest client reads them as they come, and a burst (STORED of every
 * item in flight, with messages) fits many times over. A path over it
 * does not read and is closed. */
#define BFD_OUTBOX_MAX (1024u * 1024)

typedef struct BfdServer BfdServer;
typedef struct BfdSession BfdSession;
typedef struct BfdItem BfdItem;
typedef struct BfdShares BfdShares;
typedef struct BfdShareBudget BfdShareBudget;
typedef struct BfdResume BfdResume;
typedef struct BfdGate BfdGate;

/* One accepted connection. The counters are protected by the session lock
 * once the path is attached. Only its own thread writes to its socket:
 * other threads post their frames to the connection's outbox. */
typedef struct {
  gint refs;             /* its thread's, and a reply in progress */
  gint stall_logged;     /* atomic: its not reading was logged */
  BfdServer *srv;
  BfConn *conn;
  BfdSession *sess;      /* set by the handshake, then fixed (a ref) */
  uint8_t *scratch;      /* reread buffer for hashing out-of-order chunks */
  size_t scratch_len;
  uint8_t *rebuilt;      /* a coded chunk rebuilt from its shares */
  size_t rebuilt_len;
  unsigned index;        /* the client's path number */
  char *local;           /* our address it reached */
  char *src;             /* its source, as the gate counts it (ratelimit.c) */
  uint64_t bytes;        /* chunk payload received */
  uint64_t chunks;
} BfdPath;

struct BfdServer {
  char *store_path;
  BfKey *key;                /* key_file: NULL to run in the clear */
  int store_fd;
  BfdLimits limits;
  GPtrArray *listen_fds;     /* int fds as pointers, bound before fork */
  GPtrArray *listen_names;
  GMutex lock;               /* protects the fields below */
  GHashTable *sessions;      /* dirname -> BfdSession* (ref held) */
  GHashTable *paths;         /* live connections (BfdPath*), for shutdown */
  GCond paths_gone;
  GPtrArray *accept_threads;
  /* Path threads that are done, to join: a thread's OpenSSL state is
   * freed by a destructor when it exits, so stop joins every one before
   * the process ends (else LSan sees that state lost at exit). */
  GPtrArray *ended_threads;
  uint64_t instance;          /* random, per process: clients see restarts */
  GThreadPool *finalizer;    /* fsync and rename off the path threads */
  GThread *janitor;          /* abandons items of sessions left alone */
  GCond janitor_wake;
  BfdGate *gate;             /* admission of new connections */
  gboolean stopping;
};

/* One client session: a directory in the store and its live paths. */
struct BfdSession {
  BfdServer *srv;
  gint refs;
  char *dirname;             /* immutable after creation */
  uint8_t id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];
  char *label;
  gint64 started;            /* unix seconds */
  int dir_fd, data_fd, tmp_fd;
  GMutex lock;               /* protects everything below */
  GHashTable *items;         /* item id (uint64 key) -> BfdItem* */
  uint64_t max_item_id;      /* highest id ever opened in this session */
  GHashTable *done;          /* id -> verdict of recently finished items */
  GQueue done_order;         /* their ids, oldest first, for eviction */
  gint64 detached_at;        /* monotonic time the last path left */
  GHashTable *ops_done;      /* op id -> status of recent operations */
  GHashTable *ops_running;   /* op ids a path is running: a repeat waits */
  GHashTable *opening;       /* item ids whose ITEM_OPEN is being handled:
                                their other frames wait */
  GCond changed;             /* an op is done, an item opened or refused */
  int max_id_fd;             /* tmp/max_id (see resume.c) */
  BfdResume *resume;         /* answers kept across restarts (resume.c) */
  GQueue ops_order;
  GPtrArray *clients;        /* BfdPath* of each live path (not owned) */
  uint64_t items_stored;     /* files in data/ */
  uint64_t versions_stored;  /* items stored by this process, replaced or not */
  uint64_t bytes_stored;
  gint64 last_activity;
  gboolean removed;          /* rmdir'ed: no new paths */
  BfdShareBudget *share_budget; /* shares buffered by its items (shares.c) */
};

/* An item being rebuilt in tmp/ until it is complete and verified. */
struct BfdItem {
  gint refs;
  uint64_t id;
  char *name;                /* validated relative path; NULL while a
                                SHAMIR item's secret, which holds it, has
                                not been rebuilt */
  gboolean name_hidden;      /* ITEM_OPEN left the name to the secret */
  char *label;               /* how answers and logs call it: its name, or
                                "item N" when the name was hidden (an
                                answer travels on one path) */
  char tmpname[40];
  int fd;
  int map_fd;                /* tmp/<id>.rec (see resume.c) */
  GMutex lock;               /* protects everything below */
  BfAssembler *asm_;
  BfCodingSpec coding;       /* from ITEM_OPEN */
  BfdShares *shares;         /* shamir, rs: chunks waiting for shares */
  BfDigest *digest;
  uint32_t hashed;           /* chunks [0, hashed) are in the digest */
  uint8_t want[BF_DIGEST_LEN]; /* from ITEM_CLOSE, or the secret (SHAMIR) */
  uint8_t want_alg;
  gboolean secret_done;      /* SHAMIR: the secret is rebuilt (want, name) */
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  gboolean finished;         /* stored, failed or being stored: ignore
                                further frames */
  void *close_path;          /* BfdPath that sent the latest ITEM_CLOSE (an
                                identity, valid only while in sess->clients;
                                under the session lock) */
};

/* store.c: the on-disk layout, every operation relative to a dir fd. */
gboolean bfd_store_open(BfdServer *srv, GError **error);
BfdSession *bfd_store_create_session(BfdServer *srv, const char *label,
                                     GError **error);
void bfd_store_load_sessions(BfdServer *srv);
/* Opens path (relative) under dirfd with flags, never following a
 * symlink and never leaving dirfd: openat2(2) with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or on kernels without it
 * one O_NOFOLLOW component at a time. A symlink on the way fails ELOOP. */
int bfd_store_openat(int dirfd, const char *path, int flags);
/* Opens (and with create, makes) the parent directory of name under
 * dirfd without following symlinks. *leaf points into name. */
int bfd_store_open_parent(int dirfd, const char *name, gboolean create,
                          const char **leaf, GError **error);
gboolean bfd_store_remove_session(BfdSession *s, GError **error);
void bfd_store_scan_counts(BfdSession *s);
int bfd_errno_status(int err);

/* resume.c: partial items that survive a restart. */
void bfd_resume_note_id(BfdSession *s, uint64_t id);
gboolean bfd_resume_open(BfdSession *s, BfdItem *it, const BfItemOpen *o);
/* Records a SHAMIR item's rebuilt secret (tmp/<id>.sec). */
gboolean bfd_resume_secret(BfdSession *s, BfdItem *it, const uint8_t *secret,
                           size_t len);
/* Records a chunk once its bytes are written (for a coded item: once it is
 * rebuilt, never for a share alone). */
int bfd_resume_chunk(BfdItem *it, uint32_t chunk_id, uint32_t len,
                     uint32_t total);
gboolean bfd_resume_close(BfdSession *s, BfdItem *it, const BfItemClose *c);
/* Deletes the item's files in tmp/ (its data too, if still there). */
void bfd_resume_forget(BfdSession *s, BfdItem *it);
void bfd_resume_init(BfdSession *s);
void bfd_resume_free(BfdSession *s);
void bfd_resume_load(BfdSession *s);
void bfd_resume_note_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                             uint8_t status);
gboolean bfd_resume_reopen_locked(BfdSession *s, uint64_t id);
gboolean bfd_resume_op_start(BfdSession *s, uint64_t op_id);
void bfd_resume_op_done(BfdSession *s, uint64_t op_id, int rc);
int bfd_resume_op_redone(BfdSession *s, const BfOp *o, const char *name2,
                         int rc);

/* shares.c: chunks of coded items (shamir, rs) waiting for their k-th
 * share. Called with the item's lock held. */
typedef enum {
  BFD_SHARE_ERROR,    /* *error set, its code a BfStatus (PROTOCOL, LIMIT)
                         in BFD_SHARES_ERROR, else PROTOCOL */
  BFD_SHARE_KEPT,     /* buffered: fewer than k so far */
  BFD_SHARE_AGAIN,    /* an identical repeat of a buffered share */
  BFD_SHARE_REBUILT,  /* the k-th: out holds the chunk */
} BfdShareResult;
#define BFD_SHARES_ERROR (bfd_shares_error_quark())
GQuark bfd_shares_error_quark(void);
/* A session's budget of buffered shares (BF_CODING_PARTIAL_BYTES), charged
 * with what its items' partial chunks allocate. */
BfdShareBudget *bfd_share_budget_new(void);
void bfd_share_budget_free(BfdShareBudget *b);
/* Frees the spare buffers it keeps for reuse (the session is idle). */
void bfd_share_budget_trim(BfdShareBudget *b);
/* budget must outlive the object (the session outlives its items). */
BfdShares *bfd_shares_new(const BfCodingSpec *spec, BfdShareBudget *budget);
void bfd_shares_free(BfdShares *sh);
/* A share of a chunk the caller checked against the item (not rebuilt
 * yet, chunk_len from the share's length and pad, at most a full chunk),
 * or of a SHAMIR item's secret; out has room for chunk_len bytes. After BFD_SHARE_KEPT the caller tells
 * the item's assembler the chunk is expected (bf_assembler_expect). */
BfdShareResult bfd_shares_add(BfdShares *sh, const BfChunk *c,
                              size_t chunk_len, uint8_t *out, GError **error);

/* session.c */
void bfd_item_unref(BfdItem *it);
/* Sets the item's name (len 0: hidden in its secret) and label. */
void bfd_item_set_name(BfdItem *it, const uint8_t *name, size_t len);
/* Takes a rebuilt secret (BfSecret) into the item: its digest and, if the
 * item hid it, its name. FALSE (*why set) if the secret does not fit the
 * item (*status PROTOCOL) or its name breaks the rules or the server's
 * limits (BAD_NAME). */
gboolean bfd_item_take_secret(BfdItem *it, const BfdLimits *l,
                              const uint8_t *secret, size_t len,
                              uint8_t *status, char **why);
/* Remember an answer read back from the store (memory only). */
void bfd_session_record_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                                uint8_t status);
void bfd_session_record_op(BfdSession *s, uint64_t op_id, int rc);
BfdSession *bfd_session_ref(BfdSession *s);
void bfd_session_unref(BfdSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdSession, bfd_session_unref)
BfdSession *bfd_session_new(BfdServer *srv, const char *dirname);
BfdSession *bfd_server_lookup(BfdServer *srv, const char *dirname);
char *bfd_session_describe(BfdSession *s);
void bfd_server_start(BfdServer *srv);
/* Stops accepting, closes every path and waits for their threads. */
void bfd_server_stop(BfdServer *srv);
void bfd_session_note_removed(BfdSession *s, uint64_t bytes);

/* limits.c */
size_t bfd_limits_frame_max(const BfdLimits *l);
gboolean bfd_limits_name_ok(const BfdLimits *l, const uint8_t *name,
                            size_t len, char **why);

/* ratelimit.c: connections in the handshake, handshakes per address */
struct sockaddr;
BfdGate *bfd_gate_new(const BfdLimits *limits);
void bfd_gate_free(BfdGate *g);
/* The key a source address counts under (IPv6: its /64). */
char *bfd_gate_key(const struct sockaddr *sa);
/* A connection from key was accepted: FALSE (logged) if it must be closed
 * at once. Each TRUE is paired with bfd_gate_leave. */
gboolean bfd_gate_enter(BfdGate *g, const char *key, const char *peer);
void bfd_gate_leave(BfdGate *g, const char *key);
/* Runs handshake if the path's address is within its rate, else refuses
 * it with WELCOME status LIMIT; leaves the gate either way. */
gboolean bfd_gate_handshake(BfdPath *p, gboolean (*handshake)(BfdPath *));
/* An ATTACH succeeded (its token is given back) or was refused. */
void bfd_gate_attach_result(BfdPath *p, gboolean ok);
/* Logs how many refusals were not logged one by one (once a second). */
void bfd_gate_tick(BfdGate *g);

/* crash.c: test-only fault injection (BRAIDFSD_CRASH_AFTER, braidfsd(8)) */
typedef enum {
  BFD_CRASH_FRAMES,        /* a frame read after the handshake, not acted on */
  BFD_CRASH_MAX_ID,        /* item id recorded, nothing of the item yet */
  BFD_CRASH_PART_CREATED,  /* tmp/<id>.part made, no record */
  BFD_CRASH_REC_TORN,      /* half of the ITEM_OPEN record written */
  BFD_CRASH_CHUNK_DATA,    /* chunk written, not yet in the chunk map */
  BFD_CRASH_CHUNK_MAP,     /* chunk in the map, not yet acknowledged */
  BFD_CRASH_CLOSE_TORN,    /* half of the ITEM_CLOSE record written */
  BFD_CRASH_FSYNCED,       /* complete item fsynced, not renamed */
  BFD_CRASH_RENAMED,       /* renamed into data/, directory not fsynced */
  BFD_CRASH_DIR_SYNCED,    /* directory fsynced, verdict not yet recorded */
  BFD_CRASH_REC_REMOVED,   /* verdict recorded, record deleted, STORED
                              not sent */
  BFD_CRASH_STORED_SENT,   /* STORED sent */
  BFD_CRASH_OP_APPLIED,    /* an OP done, its OP_ACK not sent */
  BFD_CRASH_N
} BfdCrashPoint;
gboolean bfd_crash_setup(GError **error);
void bfd_crash_at(BfdCrashPoint pt);
/* Writes half of buf and crashes, when pt is due. */
void bfd_crash_torn(BfdCrashPoint pt, int fd, const void *buf, size_t len,
                    off_t off);

/* view.c */
const struct fuse_operations *bfd_view_ops(void);
