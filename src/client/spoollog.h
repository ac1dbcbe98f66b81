/* The spool's log: where each close(2) of a small file makes it
 * durable. Each such commit appends one record (the file's header, as in
 * its own slots, and its bytes) to a segment that was written full of
 * zeros and synced when it was made, and fdatasyncs it: an overwrite of
 * written blocks, with no metadata to journal, which costs a fraction of a
 * new file's fdatasync (bench/README.md, spool-sync-bench.py). Such a file
 * gets no file of its own in items/: its bytes are kept in memory until
 * its close(2), and read from its record to be sent (after a restart as
 * well). A later version (written again, renamed, its mode or time
 * changed) is a new record, under a new seq; the file becomes a file of
 * its own (spool.c, materialize_locked) only when it grows past
 * BFC_SPOOL_LOG_MAX or is set aside in failed/.
 *
 *   SPOOL/items/<n>.log   a segment: records from offset 0, zeros after
 *
 * A record (version 2): "BFSLOGR2", u32 header length, u32 byte count,
 * u64 seq, u64 item_id, mac[32] (all little-endian), the header, the
 * bytes; the next one starts at the next multiple of 8. It proves itself:
 * the header's MAC (for that seq) and the digest of the bytes in it; a
 * torn one does neither. item_id and its mac (the spool's MAC of seq and
 * item_id) are the file's delivery attempt, noted later in place,
 * unsynced, as a file's own header notes it; a torn or unset one reads as
 * none. A record is marked dead, "BFSLOGD2" over its magic (8 aligned
 * bytes: never torn), unsynced, once it is no longer needed: its file was
 * delivered or removed, or has a newer record or a synced header of its
 * own; recovery skips it. (A mark lost in a power cut delivers that
 * version once more, before any later one: as a lost unlink of a
 * delivered file did.)
 * (Version 1, "BFSLOGR1", 32 bytes of head with a reserved u64 in place of
 * item_id and mac, was written by older clients, whose file always had its
 * own copy in items/: a version 1 record whose file is gone was delivered.)
 *
 * A segment is removed once no record in it is needed. Private to the
 * client. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "spooldir.h"

/* Files up to this size are committed into the log. */
#define BFC_SPOOL_LOG_MAX (64 * 1024)

typedef struct BfcSpoolLog BfcSpoolLog;
typedef struct BfcSpoolSeg BfcSpoolSeg;

/* Where one record is: its segment (NULL: none), its head's offset in it,
 * its header's length (its bytes follow it); v1 for an older client's. */
typedef struct {
  BfcSpoolSeg *seg;
  uint64_t off;
  uint32_t hlen;
  gboolean v1;
} BfcSpoolRec;

/* The log of the spool d (which outlives it); segments are made when
 * needed. NULL with an error if its segments cannot be listed. */
BfcSpoolLog *bfc_spool_log_new(const BfcSpoolDir *d, GError **error);
/* Closes the segments; what they hold stays for the next mount. */
void bfc_spool_log_free(BfcSpoolLog *lg);
/* Appends a record for seq and syncs it: 0 or -errno. *rec: where it is,
 * to release once the record is no longer needed. */
int bfc_spool_log_append(BfcSpoolLog *lg, uint64_t seq, const uint8_t *hdr,
                         size_t hlen, const void *data, size_t len,
                         BfcSpoolRec *rec);
/* The record is no longer needed (a version 2 one is marked dead); rec is
 * cleared. */
void bfc_spool_log_release(BfcSpoolLog *lg, BfcSpoolRec *rec);
/* Reads len bytes of the record's bytes from off (the caller keeps within
 * them): the count, or -errno. */
gssize bfc_spool_log_read(const BfcSpoolRec *rec, void *buf, size_t len,
                          uint64_t off);
/* Notes the delivery attempt item_id of the record's file seq, unsynced:
 * 0 or -errno. */
int bfc_spool_log_note(BfcSpoolLog *lg, const BfcSpoolRec *rec, uint64_t seq,
                       uint64_t item_id);

/* One record, as replay finds it. */
typedef struct {
  uint64_t seq;
  const uint8_t *hdr;
  size_t hlen;
  const uint8_t *data;
  size_t len;
  uint64_t item_id;           /* a noted attempt that authenticates, or 0 */
  gboolean dead;              /* no longer needed (only its seq counts) */
  BfcSpoolRec rec;            /* for the file that holds it, released later */
} BfcSpoolLogEntry;

/* fn checks a record itself, and says whether it is still needed: its
 * file has no other durable copy, or it could not be checked now. */
typedef gboolean (*BfcSpoolLogFn)(const BfcSpoolLogEntry *e, gpointer user);
/* At mount, before any append: fn for every record whose head is whole,
 * segment by segment, oldest first. FALSE with an error naming it if the
 * segments cannot be listed, or one of them opened or read (then the
 * caller does not mount: nothing of the log is removed). */
gboolean bfc_spool_log_replay(BfcSpoolLog *lg, BfcSpoolLogFn fn, gpointer user,
                              GError **error);
/* Removes the segments none of whose records was needed: once what made
 * them unneeded (the files' own headers) is durable. */
void bfc_spool_log_prune(BfcSpoolLog *lg);
/* How many files wait in d's spool, into *n, for a message when the key
 * is missing: the .item files with bytes in them (premade ones are empty)
 * and the records of small files in the log not marked dead, which have
 * no file of their own; at least 1 with an older client's record (an
 * empty file committed there has no bytes of its own). FALSE with an
 * error if items/ or a segment cannot be listed or read. */
gboolean bfc_spool_waiting(const BfcSpoolDir *d, unsigned *n, GError **error);
/* Is name a segment's? */
gboolean bfc_spool_log_is_segment(const char *name);
