/* braidfs client internals. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

#include "braidfs/coding.h"
#include "braidfs/conn.h"
#include "braidfs/digest.h"
#include "braidfs/key.h"
#include "braidfs/sched.h"
#include "braidfs/wire.h"

#define BFC_MAX_PATHS 64

/* FUSE threads of a mount, and how many of them (with the delivery
 * workers) may wait for the server at once: the rest answer what needs no
 * server (ls, stat, the .braidfs status files) whatever the server does. */
#define BFC_FUSE_THREADS 64
#define BFC_WAIT_SEATS (BFC_FUSE_THREADS - 8)

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
  gboolean explicit_paths;    /* from path= options, not paths=N */
  unsigned n_paths;
  uint32_t chunk_size;
  uint32_t window;            /* unacknowledged chunks per path */
  BfSchedKind sched;
  BfCodingSpec coding;        /* stripe, or shares on distinct paths */
  gboolean hide_names;        /* shamir: names go in the items' secrets */
  char *label;
  unsigned timeout_s;         /* with every path down, fail after this */
  unsigned stall_ms;          /* a path without progress this long is lost */
  const BfKey *key;           /* key_file: NULL to run in the clear */
  gboolean attach;            /* join session attach_id instead of a new one */
  uint8_t attach_id[BF_ID_LEN];
  uint8_t attach_token[BF_ID_LEN];
} BfcConfig;

typedef struct BfcSession BfcSession;
typedef struct BfcItem BfcItem;

typedef enum {
  BFC_ITEM_OPENING,   /* ITEM_OPEN sent, OPENED not yet received */
  BFC_ITEM_OPEN,
  BFC_ITEM_STORED,
  BFC_ITEM_FAILED,
} BfcItemState;

/* One file being written into the outbox. The writer side (buf, fill,
 * next_chunk, size, digest, mode, mtime) is protected by wlock; state,
 * status and error by the session lock. Only writers change size (under
 * wlock), and it is atomic so that getattr reads it without waiting for
 * wlock, which a close holds until the server's verdict. */
struct BfcItem {
  gint refs;
  BfcSession *sess;
  uint64_t id;
  char *name;                 /* relative path on the server */
  GMutex wlock;
  uint8_t *buf;               /* the chunk being filled */
  uint32_t fill;
  uint32_t next_chunk;        /* index of the chunk in buf */
  _Atomic uint64_t size;
  BfDigest *digest;           /* of the chunks emitted so far */
  uint32_t mode;
  struct timespec mtime;
  gboolean closed;            /* this version sealed: ITEM_CLOSE sent */
  gboolean cancelled;
  int result;                 /* 0 or -errno of the last sealed version */
  /* under the session lock: */
  BfcItemState state;
  uint8_t status;             /* BfStatus of a failure */
  char *error;                /* server's or our message on failure */
  gboolean open_sent;         /* ITEM_OPEN went out on the control path */
  gboolean resuming;          /* the server restarted: OPENED tells whether
                                 it kept the item */
  unsigned open_epoch;        /* ... of this control epoch */
  gboolean close_sent;        /* close_msg is set and went out (or will
                                 with the next resync) */
  BfItemClose close_msg;
  BfItemOpen open_msg;        /* as announced (its name is name's) */
  gint64 last_ack;            /* when a chunk of it was last acknowledged */
  /* delivery=async (under wlock): */
  uint64_t replay_id;         /* announce under this earlier mount's id */
  gboolean replayed;          /* ... and it was: STORED may come at once */
  void (*note_id)(void *data, uint64_t id);  /* told every id it gets */
  void *note_data;
  char *final_name;           /* renamed while open: moved once stored */
};

/* Parses "ADDR:PORT[@SRCADDR|%IFACE]". */
gboolean bfc_path_spec_parse(const char *text, uint16_t default_port,
                             BfcPathSpec *out, GError **error);
void bfc_path_spec_clear(BfcPathSpec *spec);

/* sender.c: the session and its paths. */
BfcSession *bfc_session_connect(const BfcConfig *cfg, GError **error);
void bfc_session_start(BfcSession *s);
void bfc_session_stop(BfcSession *s);
const BfcConfig *bfc_session_config(BfcSession *s);
/* The text of the outbox's .braidfs/paths file: one line per path. */
char *bfc_session_describe_paths(BfcSession *s);
char *bfc_session_server(BfcSession *s);

BfcItem *bfc_item_new(BfcSession *s, const char *name, uint32_t mode);
BfcItem *bfc_item_ref(BfcItem *it);
void bfc_item_unref(BfcItem *it);
/* Writes len bytes at off (data NULL writes zeros). Returns 0 or -errno. */
int bfc_item_write(BfcItem *it, const void *data, size_t len, uint64_t off);
int bfc_item_truncate(BfcItem *it, uint64_t size);
/* Sends the rest and waits until the server stored the item durably.
 * Returns 0 or -errno. Every close(2) of a descriptor lands here, so a
 * second call without writes in between returns the first one's result,
 * and writes after it start a new version (see bfc_item_write). */
int bfc_item_close(BfcItem *it);
void bfc_item_cancel(BfcItem *it);
uint64_t bfc_item_size(BfcItem *it);
/* A file renamed while open: 0 if the new name applies once it is stored,
 * 1 if it is stored already (the caller renames it on the server). */
int bfc_item_rename(BfcItem *it, const char *name);

/* For delivery=async: an item announced under replay_id (an earlier
 * mount's, 0 for a fresh one); note_id(data, id) hears every id it is
 * announced under, before the server does. */
BfcItem *bfc_item_new_spooled(BfcSession *s, const char *name, uint32_t mode,
                              uint64_t replay_id,
                              void (*note_id)(void *data, uint64_t id),
                              void *data);
/* Waits for the answer to the item's ITEM_OPEN: 0 opened, 1 stored already,
 * or -errno (-ENOENT: the server does not know that id). */
int bfc_item_await_open(BfcItem *it);
/* Forgets an item without cancelling it on the server. */
void bfc_item_discard(BfcItem *it);
void bfc_item_set_final_attrs(BfcItem *it, uint32_t mode,
                              const struct timespec *mtime);

/* Makes every wait on the server give up (the mount is ending). */
void bfc_session_abort(BfcSession *s);
/* Item and op ids of this mount start above floor. */
void bfc_session_set_id_floor(BfcSession *s, uint64_t floor);
void bfc_session_ids(BfcSession *s, uint8_t id[BF_ID_LEN],
                     uint8_t token[BF_ID_LEN]);

/* Runs a directory operation on the server and waits for its answer. */
int bfc_op(BfcSession *s, BfOpKind op, const char *name, const char *name2,
           uint32_t mode);

/* Sets mode (BF_SETATTR_MODE) and/or mtime (BF_SETATTR_MTIME) of a
 * delivered file or directory on the server. */
int bfc_setattr(BfcSession *s, const char *name, uint8_t flags, uint32_t mode,
                const struct timespec *mtime);

int bfc_status_errno(uint8_t status);

/* outbox.c; d (delivery=async) may be NULL, and is owned by the outbox */
typedef struct BfcDelivery BfcDelivery;
const struct fuse_operations *bfc_outbox_ops(void);
void *bfc_outbox_new(BfcSession *s, BfcDelivery *d);
void bfc_outbox_free(void *outbox);
