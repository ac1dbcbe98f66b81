/* Opening a file of the outbox for reading: what may be read back from
 * the server (readback.h), and when. A FUSE operation: 0 or -errno. */
#pragma once

#include "state.h"
#include "tree.h"

/* 0 when path is a delivered regular file; a version still on its way
 * (spooled) is waited for first; one being written is EBUSY. Under
 * coding=shamir EACCES: its files never travel whole on one path. */
int bfc_reader_open(BfcTree *t, BfcSession *s, BfcDelivery *d,
                    const char *path);
/* As bfc_reader_open, for a new version that starts as the stored file:
 * *size is what it starts with (at most upto) and, if append, *base what
 * an append continues (base->state NULL if nothing, else to be freed).
 * Not appending, a cut_at below the stored size makes *base a cut there
 * (base->cut: the first cut_at bytes read back once, to hash them) when
 * the stored version is one this mount delivered and the delivery sends
 * cuts; UINT64_MAX: no cut. */
int bfc_reader_open_copy(BfcTree *t, BfcSession *s, BfcDelivery *d,
                         const char *path, uint64_t upto, gboolean append,
                         uint64_t cut_at, uint64_t *size, BfcBase *base);

/* A descriptor open for reading: it reads the stored file back from the
 * server, or, opened while the file is being written by a descriptor
 * that keeps a local copy (O_RDWR, delivery.h), that version's bytes. */
typedef struct BfcReader BfcReader;

/* As bfc_reader_open, but a file being written is read from the writer's
 * copy if it keeps one: 0 and *out, or -errno. */
int bfc_reader_new(BfcTree *t, BfcSession *s, BfcDelivery *d,
                   const char *path, BfcReader **out);
gssize bfc_reader_read(BfcReader *r, BfcSession *s, const char *name,
                       void *buf, size_t len, uint64_t off, GError **error);
void bfc_reader_free(BfcReader *r);

/* Versions that start as a copy of the stored file (an append, an edit in
 * place, a truncate): the old bytes are copied in as the writes move
 * forward, just before the first byte written past them and at the
 * close, and only those not written anew nor cut by a truncate, since in
 * delivery=close what was written has left. */
typedef struct {
  BfMutex lock;
  GHashTable *todo;           /* BfcVersion* -> BfcCopyUp* */
} BfcCopyUps;

void bfc_copy_ups_init(BfcCopyUps *c);
void bfc_copy_ups_clear(BfcCopyUps *c);
/* v starts with the first size bytes of what the server holds. */
void bfc_copy_ups_defer(BfcCopyUps *c, BfcVersion *v, uint64_t size)
  BF_EXCLUDES(&c->lock);
/* Copies the old bytes v still lacks before offset upto from the stored
 * file name (read back from the server). FALSE with error if a read or a
 * write fails. */
gboolean bfc_copy_ups_settle(BfcCopyUps *c, BfcSession *s, const char *name,
                             BfcVersion *v, uint64_t upto, GError **error)
  BF_EXCLUDES(&c->lock);
/* v was written up to end (no old byte before it is copied anymore), or
 * truncated to size (none past it is). */
void bfc_copy_ups_written(BfcCopyUps *c, BfcVersion *v, uint64_t end)
  BF_EXCLUDES(&c->lock);
void bfc_copy_ups_cut(BfcCopyUps *c, BfcVersion *v, uint64_t size)
  BF_EXCLUDES(&c->lock);
/* Reads v through the descriptor that writes it (opened O_RDWR, see
 * bfc_version_read), from the client's copy, the old bytes it lacks before
 * off + len copied in first: how many bytes, or -1 with error. */
gssize bfc_copy_ups_read(BfcCopyUps *c, BfcSession *s, const char *name,
                         BfcVersion *v, void *buf, size_t len, uint64_t off,
                         GError **error) BF_EXCLUDES(&c->lock);
/* v goes: nothing more is copied into it. */
void bfc_copy_ups_drop(BfcCopyUps *c, BfcVersion *v) BF_EXCLUDES(&c->lock);
