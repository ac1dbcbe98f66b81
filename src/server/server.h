/* braidfsd internals shared by its modules. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "braidfs/assembler.h"
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
  unsigned linger_ms;        /* unfinished items outlive the last path this long */
} BfdLimits;

typedef struct BfdServer BfdServer;
typedef struct BfdSession BfdSession;
typedef struct BfdItem BfdItem;

/* One accepted connection. The counters are protected by the session lock
 * once the path is attached. */
typedef struct {
  gint refs;             /* its thread's, and a reply in progress */
  BfdServer *srv;
  BfConn *conn;
  BfdSession *sess;
  uint8_t *scratch;      /* reread buffer for hashing out-of-order chunks */
  size_t scratch_len;
  unsigned index;        /* the client's path number */
  char *local;           /* our address it reached */
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
  uint64_t instance;          /* random, per process: clients see restarts */
  GThreadPool *finalizer;    /* fsync and rename off the path threads */
  GThread *janitor;          /* abandons items of sessions left alone */
  GCond janitor_wake;
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
  int max_id_fd;             /* tmp/max_id (see resume.c) */
  GQueue ops_order;
  GPtrArray *clients;        /* BfdPath* of each live path (not owned) */
  uint64_t items_stored;
  uint64_t bytes_stored;
  gint64 last_activity;
  gboolean removed;          /* rmdir'ed: no new paths */
};

/* An item being rebuilt in tmp/ until it is complete and verified. */
struct BfdItem {
  gint refs;
  uint64_t id;
  char *name;                /* validated relative path */
  char tmpname[40];
  int fd;
  int map_fd;                /* tmp/<id>.rec (see resume.c) */
  GMutex lock;               /* protects everything below */
  BfAssembler *asm_;
  BfDigest *digest;
  uint32_t hashed;           /* chunks [0, hashed) are in the digest */
  uint8_t want[BF_DIGEST_LEN];
  uint8_t want_alg;
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
int bfd_resume_chunk(BfdItem *it, uint32_t chunk_id, uint32_t len,
                     uint32_t total);
gboolean bfd_resume_close(BfdSession *s, BfdItem *it, const BfItemClose *c);
/* Deletes the item's files in tmp/ (its data too, if still there). */
void bfd_resume_forget(BfdSession *s, BfdItem *it);
void bfd_resume_load(BfdSession *s);

/* session.c */
void bfd_item_unref(BfdItem *it);
void bfd_session_record_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                                uint8_t status);
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

/* view.c */
const struct fuse_operations *bfd_view_ops(void);
