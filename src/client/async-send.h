/* delivery=async inside: a spooled file's state, the delivery's, and the
 * threads that send the files (async-send.c). Private to deliver-async.c
 * and async-send.c; the interface is deliver-async.h. */
#pragma once

#include "async-dirs.h"
#include "delivery-backend.h"
#include "delivery.h"
#include "session.h"
#include "spool.h"

/* Threads that read spooled files and send them: each seals a file and
 * takes the next without waiting for the verdict (the collector does),
 * so a small file costs its bytes, not a round trip. */
#define SENDERS 4
/* Files sent and awaiting their verdict at once (with the SENDERS being
 * sent), at most: enough for 600 ms round trips (192 kept a 2 x 50
 * Mbit/s satellite pair at 320 small files/s), below the server's
 * max_open_items (4096 by default). Their bytes are bounded by
 * inflight_max, as the chunks of any item. A server that refuses an
 * item for being one too many (an older one's 256) makes the bound a
 * quarter lower than what it had taken, never below SEALED_MIN; each
 * file stored raises it by one again; the refused file is tried again
 * after LIMIT_PAUSE_US. */
#define SEALED_MAX 1024
#define SEALED_MIN 4
#define LIMIT_PAUSE_US (G_USEC_PER_SEC / 10)
/* A file that could not be delivered now (every path down, server full)
 * is tried again after a pause that doubles up to this. */
#define RETRY_MAX_US (30 * G_USEC_PER_SEC)

typedef enum { PD_WRITING, PD_QUEUED, PD_SENDING, PD_GONE } PdState;

typedef struct BfcAsync BfcAsync;

/* One spooled file (a version). Under the delivery's lock but file, which
 * its writer (WRITING) or its sender and then the collector (SENDING) use
 * without it; the file is freed only once gone, after file was set to
 * NULL under the lock. */
typedef struct {
  BfcVersion base;
  BfcSpoolFile *file;         /* NULL once gone */
  char *name;                 /* its name, for callers */
  PdState state;
  unsigned busy;              /* header updates in progress, unlocked */
  gboolean cancelled;
  gboolean delivered;
  BfcItem *item;              /* while SENDING (referenced) */
  /* An append's base (file->base_size > 0): its digest state unfinished,
   * from the node this mount delivered, or NULL after a restart (then read
   * back from the server before it is sent). Used by its sender only. */
  BfDigest *base_state;
  uint64_t final_size;        /* its size when it left the spool */
  uint8_t final_alg;          /* ... and its digest (0: unknown) */
  uint8_t final_digest[BF_DIGEST_LEN];
  BfDigest *final_state;      /* ... unfinished, to append to, or NULL */
  unsigned tries;
  gint64 not_before;          /* monotonic time of the next attempt */
} Pending;

struct BfcAsync {
  BfcDelivery base;
  BfcSpool *spool;
  BfcAsyncDirs *dirs;         /* NULL: mkdir(2) waits for the server */
  BfMutex lock;               /* never held across I/O or a wait */
  GCond cond;                 /* queue changes and outcomes */
  GQueue queue;               /* Pending* QUEUED, oldest first */
  GPtrArray *recovered;
  GHashTable *live;           /* Pending* in the spool, not gone */
  unsigned delivered;
  unsigned failed;
  GQueue sealed;              /* Pending* SENDING, sealed, awaiting their
                                 verdict, oldest first */
  unsigned sealed_max;        /* how many at most (SEALED_MAX, lowered) */
  gboolean fewer_logged;
  GThread *senders[SENDERS];
  GThread *collector;         /* settles the sealed files */
  gboolean stopping;
  gboolean senders_gone;      /* the collector may end once sealed empties */
};

static inline BfcAsync *
as_async(BfcDelivery *d)
{
  return (BfcAsync *)d;
}

static inline Pending *
pd_of(BfcVersion *v)
{
  return (Pending *)v;
}

static inline BfcAsync *
async_of(Pending *pd)
{
  return as_async(pd->base.d);
}

static inline Pending *
pending_wrap(BfcAsync *a, BfcSpoolFile *f, PdState state)
{
  Pending *pd = g_new0(Pending, 1);

  bfc_version_init(&pd->base, &a->base);
  pd->file = f;
  pd->name = g_strdup(f->name);
  pd->state = state;
  return pd;
}

/* pd leaves the spool; returns its file, for the caller to remove or move
 * once the lock is released. */
BfcSpoolFile *bfc_async_gone_locked(BfcAsync *a, Pending *pd,
                                    gboolean delivered) BF_REQUIRES(&a->lock);
/* A sender: takes queued files and sends them, up to SEALED_MAX sealed. */
gpointer bfc_async_sender(gpointer data);
/* The collector: settles sealed files as their verdicts come. */
gpointer bfc_async_collector(gpointer data);
