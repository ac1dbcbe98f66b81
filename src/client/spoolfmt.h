/* A spooled file (items/<seq>.item): its fields in memory, and its form on
 * disk: its name, its header slots and the digest of its bytes. Pure
 * encoding: spool.c decides what is written when. Private to the client.
 *
 * A spooled file starts with two header slots, at 0 and SLOT_SIZE; its
 * bytes follow at HDR_SIZE, so that the longest name fits in each slot and
 * the data stays block-aligned. A header is never rewritten in the slot
 * that holds the last one synced: each write goes to the other slot with
 * the next generation, and becomes the one to keep only once fdatasync
 * returned. A power cut during a commit (a header on disk without the
 * bytes it describes, or a torn header) then leaves the older slot, whose
 * bytes were never overwritten (a change below the committed size moves
 * the writing to a copy, keep_committed_locked in spool.c), and recovery takes
 * the newest slot that authenticates and whose digest matches.
 *
 * A slot, all fields little-endian:
 *   0 magic "BFSPOOL5"   8 u32 version (5)   12 u32 generation
 *  16 u64 item_id       24 u64 size         32 u32 mode   36 u32 mtime_nsec
 *  40 i64 mtime_sec     48 digest[32]       80 u16 name_len
 *  82 mac[32]           114 name
 *  then, after the name: u64 base_size, base_digest[32], u8 base_alg,
 *  u8 alg
 * size and digest are those of the file's own bytes; alg is digest's
 * algorithm (BF_DIGEST_*: BLAKE3 for a file made by this client, the
 * cheapest per byte, digest.h), and the one a file that is not an append
 * is sent with, so that a replay's STORED proves the same value. A file
 * with a base_size is an append to the stored file of that size and
 * digest (base_alg: BF_DIGEST_*; 0 with no base): its bytes are what
 * follows the base, and the whole file's digest continues the base's, in
 * base_alg (braidfs-protocol(7), Appending to a stored file).
 * mac is the spool's MAC (spooldir.h) of the file's seq (u64, little-endian),
 * bytes [0, 82), the name and the fields after it: a header written by
 * someone without the key does not authenticate, nor does one moved to
 * another file name. (Version 4, "BFSPOOL4", is version 5 without alg: its
 * digest is a SHA-256, and stays one when its next header is written as
 * version 5. Version 3, "BFSPOOL3", is version 4 without the base fields
 * and is read as a file with no base. Version
 * 2, "BFSPOOL2", had one slot and its bytes at 8192: recovery copies such a
 * file into a new one; version 1, "BFSPOOL1", had a CRC-32C instead: such
 * files cannot be authenticated and are set aside, see bfc_spool_recover.) */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

#include "braidfs/tsa.h"
#include "braidfs/wire.h"
#include "spooldir.h"
#include "spoollog.h"

typedef struct BfcSpool BfcSpool;

/* One spooled file. Its lock serializes the file's own disk I/O (a write,
 * a commit, a header update): only requests on this file wait for it
 * (client.h, LOCKING). The header fields are changed under it; they are
 * read without it only by whoever has the file to itself (a delivery
 * worker sending it: then nobody edits it). */
typedef struct {
  BfcSpool *sp;               /* the spool it is in */
  BfMutex lock;               /* the fields up to length */
  uint64_t seq;               /* its file name in items/ */
  int fd;                     /* -1 while parked */
  gboolean committed;         /* a header was written: close(2) succeeded */
  gboolean dirty;             /* written since the last commit */
  uint64_t flushed;           /* length when last given to the spool's
                                 flusher (braidfs/flusher.h) */
  /* A write or truncate that would change bytes of the committed version
   * moves the writing to a copy (seq, fd above), so that the version a
   * close(2) promised stays whole on disk until the next commit replaces
   * it: a crash, or a release without a new commit, falls back to it.
   * -1 when there is none. Appends need no copy: recovery and delivery
   * read only the committed size. */
  int kept_fd;
  uint64_t kept_seq;
  unsigned kept_synced_slot;
  /* The header slot (0 or 1) written last and synced: never written over
   * while it is the only committed version; the generation of the last
   * header written, in either slot. */
  unsigned synced_slot;
  uint32_t gen;
  /* The log record that holds the first committed version (spoollog.h),
   * of the file seq rec_seq; rec.seg NULL once another copy is durable. */
  BfcSpoolRec rec;
  uint64_t rec_seq;
  /* No items/<seq>.item exists: a small file not yet closed, its bytes in
   * mem, or closed once, its bytes in its log record (spoollog.h). It gets
   * a file of its own (a premade one, another seq) when it needs one. */
  gboolean nofile;
  GByteArray *mem;            /* until its first commit */
  gboolean edited;            /* header fields changed since the commit */
  /* the header's fields (written by commit, edit and note_id) */
  char *name;
  uint32_t mode;
  struct timespec mtime;
  uint64_t size;              /* committed */
  /* The id of a delivery attempt whose outcome is unknown (0 = none): after
   * a crash the next mount announces the item under it again, so that the
   * server answers with what it already has instead of storing it twice. */
  uint64_t item_id;
  uint8_t digest[BF_DIGEST_LEN];
  uint8_t alg;                /* digest's: fixed when the file is made */
  /* An append (spoolfmt.h, version 4): the stored file it follows, or
   * base_size 0. Fixed when the file is made. */
  uint64_t base_size;
  uint8_t base_alg;
  uint8_t base_digest[BF_DIGEST_LEN];
  /* Its bytes now, written or not yet committed: read without the lock
   * (stat of a file being written). */
  _Atomic uint64_t length;
} BfcSpoolFile;

#define SLOT_SIZE 6144
#define HDR_SIZE (2 * SLOT_SIZE)
#define HDR_V2_SIZE 8192

typedef enum {
  HDR_NONE,           /* no header: no close(2) succeeded for these bytes */
  HDR_FORGED,         /* a header that does not authenticate (or torn) */
  HDR_OK,             /* version 3, 4 or 5 */
  HDR_V2,             /* an authentic header of version 2 */
} HdrCheck;

/* f's header into h (at least SLOT_SIZE bytes), MAC'd with d's key for f's
 * seq: its length. */
size_t bfc_spool_hdr_encode(const BfcSpoolDir *d, const BfcSpoolFile *f,
                            uint8_t *h);
/* One slot (or a version 2 header) h of got bytes into f's fields (its
 * name replaced), checked against f->seq. */
HdrCheck bfc_spool_hdr_decode(const BfcSpoolDir *d, const uint8_t *h,
                              size_t got, BfcSpoolFile *f);

/* items/<seq>.item's name (freed by the caller), and back. */
char *bfc_spool_seq_name(uint64_t seq);
gboolean bfc_spool_parse_seq(const char *name, uint64_t *seq);
/* Raises *max to the largest seq named in dirfd, d's subdirectory sub;
 * FALSE with an error if it cannot be listed. */
gboolean bfc_spool_max_seq(const BfcSpoolDir *d, int dirfd, const char *sub,
                           uint64_t *max, GError **error);

/* The digest (of alg) of size bytes of fd from from, as they are on disk
 * now: 0 or -errno (-EIO when the file is shorter). */
int bfc_spool_digest(int fd, uint64_t from, uint64_t size, uint8_t alg,
                     uint8_t out[BF_DIGEST_LEN]);

/* The bytes of fd after off, by its size on disk (0 if shorter). */
uint64_t bfc_spool_bytes_on_disk(int fd, uint64_t off);
/* c's header fields into f (c's name moves). */
void bfc_spool_take_fields(BfcSpoolFile *f, BfcSpoolFile *c);

/* What recovery found in one file. Only what is proven is acted on: a file
 * that cannot be read now (EMFILE, ENOMEM, EIO) stays for the next mount. */
typedef enum {
  FOUND_OK,           /* a committed version, in the file's fields */
  FOUND_NOTHING,      /* no close(2) succeeded for these bytes */
  FOUND_FORGED,       /* a header that does not authenticate, none that does */
  FOUND_UNKNOWN,      /* not readable now: *err */
} Found;
/* The newest slot of f's file (f->fd, f->seq) that authenticates and
 * whose bytes match its digest, into f's fields (synced_slot: that slot);
 * *v2 when it is a version 2 header, whose bytes are at HDR_V2_SIZE. */
Found bfc_spool_pick_slot(const BfcSpoolDir *d, BfcSpoolFile *f, gboolean *v2,
                          int *err);
