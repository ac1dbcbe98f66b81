/* What spool.c shares with spoolrecover.c only: the spool's own state and
 * the steps of a file's life that recovery repeats. Private to them. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/tsa.h"
#include "spooldir.h"
#include "spoolfmt.h"
#include "spoollog.h"

/* Files are made ahead, in batches, so that creating one costs no
 * directory fsync: a close(2) then pays one fdatasync, not two.
 *
 * Seqs are handed out in the order they are taken, whether with a premade
 * file or without one (a small file, a log record): recovery delivers in
 * seq order, so a later version of a name must have a higher seq. So
 * premade files are numbered PREMADE_GAP apart, and seqs without a file
 * are taken in the gap above the last one used; a premade file whose seq
 * was passed is removed unused. */
#define PREMADE_BATCH 32
#define PREMADE_GAP ((uint64_t)1 << 20)

struct BfcSpool {
  BfcSpoolDir d;
  BfcSpoolLog *log;
  BfMutex lock;               /* the fields below; never across I/O */
  uint64_t next_seq;          /* the lowest seq not taken */
  uint64_t premade_top;       /* the highest seq given to a premade file */
  GQueue premade;             /* seq numbers (as pointers) of empty files
                                 whose directory entries are durable */
};

BfcSpoolFile *bfc_spool_file_alloc(BfcSpool *sp);
/* The next seq, for a file or record without a file made ahead. */
uint64_t bfc_spool_take_seq(BfcSpool *sp) BF_EXCLUDES(&sp->lock);
/* A premade empty file, opened: 0 or -errno. */
int bfc_spool_take_file(BfcSpool *sp, uint64_t *seq, int *fd)
  BF_EXCLUDES(&sp->lock);
/* Copies size bytes of src from from into dst after its header. */
int bfc_spool_copy_bytes(int src, uint64_t from, int dst, uint64_t size);
/* The header, durably, in the slot not holding the last one synced. */
int bfc_spool_sync_header_locked(BfcSpoolFile *f) BF_REQUIRES(&f->lock);
void bfc_spool_unlink_seq(BfcSpool *sp, uint64_t seq);
/* The digest (of alg) of len bytes of data. */
void bfc_spool_digest_buf(const void *data, size_t len, uint8_t alg,
                          uint8_t out[BF_DIGEST_LEN]);
