/* The one delivery interface behind the outbox. A file written into the
 * outbox is a *version* of it; the delivery takes the version's bytes to
 * the server: delivery=close (deliver-close.h) while close(2) waits,
 * delivery=async (deliver-async.h) from a spool in the background. The
 * outbox holds versions and asks them what became of them; it never asks
 * which delivery it has. As wireguard-tools' ipc.c over its backends,
 * delivery.c only dispatches to the backend's table (delivery-backend.h).
 *
 * A version is *open* while a descriptor may write it (from create until
 * the last release), then *pending* until it is *gone*: delivered (a plain
 * file on the server now) or not (cancelled, refused: nothing of it
 * stays). Every function here is called without the outbox's lock, but
 * bfc_version_size, bfc_version_released and bfc_version_gone, which only
 * take the delivery's own lock (client.h, LOCKING) and never wait. */
#pragma once

#include <sys/statvfs.h>
#include <time.h>

#include "client.h"

#include "braidfs/digest.h"

typedef struct BfcDelivery BfcDelivery;
typedef struct BfcVersion BfcVersion;

/* ---- the delivery ------------------------------------------------------- */

void bfc_delivery_start(BfcDelivery *d);
/* Stops its threads; what is not delivered is logged (and stays in the
 * spool). */
void bfc_delivery_stop(BfcDelivery *d);
void bfc_delivery_free(BfcDelivery *d);
/* Versions an earlier mount left (borrowed), to show in the outbox. */
GPtrArray *bfc_delivery_recovered(BfcDelivery *d);
/* Waits until no version under prefix (a directory, "a/b/") is pending,
 * so that a directory operation cannot overtake the files in it. */
gboolean bfc_delivery_wait_prefix(BfcDelivery *d, const char *prefix,
                                  GError **error);
/* Makes directory name (mode) on the server: delivery=close waits for its
 * answer, delivery=async only for the spool's record of it (async-dirs.h).
 * FALSE with error (the server's status, BFC_ERROR, or the spool's). */
gboolean bfc_delivery_mkdir(BfcDelivery *d, const char *name, uint32_t mode,
                            GError **error);
/* Sets the mode and/or mtime (flags BF_SETATTR_*) of directory name on
 * the server: delivery=close waits for its answer, delivery=async only
 * for the spool's record of it (async-dirs.h). */
gboolean bfc_delivery_dir_setattr(BfcDelivery *d, const char *name,
                                  uint8_t flags, uint32_t mode,
                                  const struct timespec *mtime,
                                  GError **error);
/* The same, waiting for the files under it (a new mtime would not hold
 * otherwise) and then for the server's answer. */
gboolean bfc_delivery_dir_setattr_now(BfcDelivery *d, const char *name,
                                      uint8_t flags, uint32_t mode,
                                      const struct timespec *mtime,
                                      GError **error);
/* The free space of what the delivery keeps on the client's disk (the
 * spool): FALSE if it keeps nothing there, or cannot tell. */
gboolean bfc_delivery_local_space(BfcDelivery *d, struct statvfs *st);
/* The text of the outbox's .braidfs/spool file, or NULL if it has none. */
char *bfc_delivery_describe(BfcDelivery *d);

/* ---- versions ----------------------------------------------------------- */

/* A new version of name (relative to the session), open. */
BfcVersion *bfc_version_open(BfcDelivery *d, const char *name, uint32_t mode,
                             GError **error);
/* What an append continues: the size bytes this mount delivered, their
 * digest and their digest unfinished (state). */
typedef struct {
  uint64_t size;
  BfDigest *state;
  uint8_t digest[BF_DIGEST_LEN];
  /* A cut: the version keeps the first keep bytes only, and state is
   * their digest (unfinished). */
  gboolean cut;
  uint64_t keep;
} BfcBase;

/* Whether the delivery sends a cut (BfcBase.cut) as one (delivery=close)
 * rather than whole. */
gboolean bfc_delivery_cuts(BfcDelivery *d);
/* As bfc_version_open; with base (may be NULL), a version that appends to
 * it if this delivery can: only what is written from offset base->size on
 * travels, the server copies the rest (braidfs-protocol(7), Appending to
 * a stored file). *appends (may be NULL) says whether it does; if not,
 * the caller copies the old bytes in. */
BfcVersion *bfc_version_open_on(BfcDelivery *d, const char *name,
                                uint32_t mode, const BfcBase *base,
                                gboolean *appends, GError **error);
BfcVersion *bfc_version_ref(BfcVersion *v);
void bfc_version_unref(BfcVersion *v);
/* Its name now (a copy). */
char *bfc_version_name(BfcVersion *v);
gboolean bfc_version_write(BfcVersion *v, const void *buf, size_t len,
                           uint64_t off, GError **error);
gboolean bfc_version_truncate(BfcVersion *v, uint64_t size, GError **error);
/* An open version may be read back by the descriptor that writes it (one
 * opened O_RDWR: git's index-pack reads its pack as it writes it), from
 * the client's own copy, never the server's: keep_local, called before
 * the first write, makes the delivery keep that copy (delivery=close keeps
 * none otherwise; the spool is one). read returns up to len bytes at off
 * (fewer at the end), or -1 with error. */
gboolean bfc_version_keep_local(BfcVersion *v, GError **error);
gssize bfc_version_read(BfcVersion *v, void *buf, size_t len, uint64_t off,
                        GError **error);
/* What stat shows: the bytes written so far, or delivered. */
uint64_t bfc_version_size(BfcVersion *v);
/* close(2) of a descriptor: delivered (close), or durable (async). */
gboolean bfc_version_flush(BfcVersion *v, GError **error);
/* The last descriptor is gone: what a close(2) promised is delivered,
 * nothing else. */
void bfc_version_release(BfcVersion *v);
/* Unlinked or replaced: never delivered (what was is not undone). */
void bfc_version_cancel(BfcVersion *v);
/* Whether the RELEASE of its last descriptor came (it is then no longer
 * open). The kernel sends it after close(2) returns: a version whose
 * close(2) returned may not be released yet for a moment (client.h,
 * BFC_RELEASE_WAIT_US); every "being written" test asks this. */
gboolean bfc_version_released(BfcVersion *v);
/* Whether v's delivery keeps it on the client's disk (a spool): such a
 * delivery takes an append to its file while no server answers, from the
 * digest state the tree kept (tree.h). */
gboolean bfc_version_spooled(BfcVersion *v);
/* TRUE once gone; then *delivered says whether it is on the server and
 * *size is its size. */
gboolean bfc_version_gone(BfcVersion *v, gboolean *delivered, uint64_t *size);
/* The digest of what was delivered (*alg: BF_DIGEST_*): TRUE once it is
 * gone delivered with a digest the client knows (none under shamir). */
gboolean bfc_version_digest(BfcVersion *v, uint8_t *alg,
                            uint8_t out[BF_DIGEST_LEN]);
/* Once gone delivered: the unfinished digest state of all its bytes (a
 * copy, to append to it), or NULL. */
BfDigest *bfc_version_digest_state(BfcVersion *v);
/* The version takes the name to (relative): *on_server is FALSE when
 * that is done (the version will be delivered under it), TRUE when it was
 * delivered already and the caller renames it on the server. An older
 * version under from that is on the server already (older_on_server) does
 * not stay there. */
gboolean bfc_version_rename(BfcVersion *v, const char *from, const char *to,
                            gboolean older_on_server, gboolean *on_server,
                            GError **error);
/* Mode (BF_SETATTR_MODE) and mtime (BF_SETATTR_MTIME) go with the version;
 * *on_server as above. */
gboolean bfc_version_setattr(BfcVersion *v, uint8_t flags, uint32_t mode,
                             const struct timespec *mtime, gboolean *on_server,
                             GError **error);
