/* The spool's log: where the first close(2) of a small file makes it
 * durable. Each such commit appends one record (the file's header, as in
 * its own slots, and its bytes) to a segment that was written full of
 * zeros and synced when it was made, and fdatasyncs it: an overwrite of
 * written blocks, with no metadata to journal, which costs a fraction of a
 * new file's fdatasync (bench/README.md, spool-sync-bench.py). The file's
 * own copy in items/ is written but not synced; recovery rebuilds it from
 * its record when it lacks a header of its own.
 *
 *   SPOOL/items/<n>.log   a segment: records from offset 0, zeros after
 *
 * A record: "BFSLOGR1", u32 header length, u32 byte count, u64 seq,
 * u64 reserved (all little-endian), the header, the bytes; the next one
 * starts at the next multiple of 8. It proves itself: the header's MAC
 * (for that seq) and the digest of the bytes in it; a torn one does
 * neither.
 *
 * A segment is removed once no record in it is needed: its file was
 * delivered or removed, or has a synced header of its own. Private to the
 * client. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "spooldir.h"

/* Files up to this size are committed into the log. */
#define BFC_SPOOL_LOG_MAX (64 * 1024)

typedef struct BfcSpoolLog BfcSpoolLog;
typedef struct BfcSpoolSeg BfcSpoolSeg;

/* The log of the spool d (which outlives it); segments are made when
 * needed. */
BfcSpoolLog *bfc_spool_log_new(const BfcSpoolDir *d);
/* Closes the segments; what they hold stays for the next mount. */
void bfc_spool_log_free(BfcSpoolLog *lg);
/* Appends a record for seq and syncs it: 0 or -errno. *seg: its segment,
 * to release once the record is no longer needed. */
int bfc_spool_log_append(BfcSpoolLog *lg, uint64_t seq, const uint8_t *hdr,
                         size_t hlen, const void *data, size_t len,
                         BfcSpoolSeg **seg);
void bfc_spool_log_release(BfcSpoolLog *lg, BfcSpoolSeg *seg);

/* fn checks a record itself, and says whether it is still needed: its
 * file (now holding seg, released later) has no other durable copy, or it
 * could not be checked now. */
typedef gboolean (*BfcSpoolLogFn)(uint64_t seq, const uint8_t *hdr,
                                  size_t hlen, const uint8_t *data, size_t len,
                                  BfcSpoolSeg *seg, gpointer user);
/* At mount, before any append: fn for every record whose head is whole,
 * segment by segment, oldest first. FALSE if a segment could not be read
 * (it stays). */
gboolean bfc_spool_log_replay(BfcSpoolLog *lg, BfcSpoolLogFn fn, gpointer user);
/* Removes the segments none of whose records was needed: once what made
 * them unneeded (the files' own headers) is durable. */
void bfc_spool_log_prune(BfcSpoolLog *lg);
/* Is name a segment's? */
gboolean bfc_spool_log_is_segment(const char *name);
