/* A session's journal in its tmp/: what a restarted braidfsd needs to go
 * on with the items in flight and to answer the frames a client repeats.
 * Written while running, read back once at start-up (recovery.c). Knows
 * files, not sessions or items in memory. The format and the invariant it
 * keeps are at the top of journal.c. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/coding.h"
#include "braidfs/wire.h"

/* The per-session files: tmp/max_id, tmp/verdicts, tmp/proofs, tmp/ops. */
typedef struct BfdJournal BfdJournal;

/* Opens them (a ring that cannot be opened is logged: the answers it
 * would keep do not survive a restart then). */
BfdJournal *bfd_journal_open(int tmp_fd, const char *session_name);
void bfd_journal_free(BfdJournal *j);

/* Records id as the highest item id the session ever opened (never
 * lowered): before the item exists. */
void bfd_journal_note_id(BfdJournal *j, uint64_t id);
/* Records an item's verdict (ITEM_ACK stage and status): before its
 * record is deleted. */
void bfd_journal_note_verdict(BfdJournal *j, uint64_t id, uint8_t stage,
                              uint8_t status);
/* Records the proof (BF_PROOF_LEN bytes) of a stored item's STORED
 * (proof.h): before the item enters data/, so that a STORED repeated
 * after a restart proves it too. */
void bfd_journal_note_proof(BfdJournal *j, uint64_t id, const uint8_t *proof);
/* Records that an OP starts, then that it is done with status. */
void bfd_journal_op_started(BfdJournal *j, uint64_t op_id);
void bfd_journal_op_done(BfdJournal *j, uint64_t op_id, uint8_t status);

/* An item's files: tmp/<16 hex digits of id>.EXT ("part", "sec"; "rec":
 * the record as a server before record files kept it). */
#define BFD_ITEM_FILE_LEN 40
void bfd_journal_item_file(char out[BFD_ITEM_FILE_LEN], uint64_t id,
                           const char *ext);
/* An item's record is in the record file tmp/rec.N (N its slot), reused
 * by later items; or, read back from an older server's store (or none
 * made), tmp/<id>.rec: slot BFD_REC_BY_ID. */
#define BFD_REC_BY_ID G_MAXUINT
void bfd_journal_record_file(char out[BFD_ITEM_FILE_LEN], uint64_t id,
                             guint slot);
/* Writes the item's record (its id, ITEM_OPEN's fields and name, "" when
 * a SHAMIR item hides it) in a free record file if the session has one,
 * else a new one: the open record (its slot in *slot), or -1 (error
 * set; nothing of it left). */
int bfd_journal_item_open(BfdJournal *j, int tmp_fd, uint64_t id,
                          const BfItemOpen *o, const char *name, guint *slot,
                          GError **error);
/* Records a chunk once its bytes are written (a coded one once rebuilt,
 * never a share alone). */
gboolean bfd_journal_item_chunk(int rec_fd, uint32_t chunk_id, uint32_t len,
                                uint32_t total, GError **error);
gboolean bfd_journal_item_close(int rec_fd, const BfItemClose *c,
                                GError **error);
/* Records a SHAMIR item's rebuilt secret (tmp/<id>.sec). */
gboolean bfd_journal_item_secret(int tmp_fd, uint64_t id,
                                 const uint8_t *secret, size_t len,
                                 GError **error);
/* Deletes the item's files in tmp/ (its data too, if still there; its
 * record, in slot). */
void bfd_journal_item_forget(int tmp_fd, uint64_t id, guint slot);
/* The same for an item that ended, once its verdict is recorded: its
 * record (open as *rec_fd in *slot, or -1) is emptied for a later item,
 * which may take the descriptor too; the item lets go of both (-1,
 * BFD_REC_BY_ID). Its data and secret are deleted if data, secret say
 * they may be there (a stored item's data is in data/ already). */
void bfd_journal_item_done(BfdJournal *j, int tmp_fd, uint64_t id,
                           int *rec_fd, guint *slot, gboolean data,
                           gboolean secret);

/* ---- read back at start-up ----------------------------------------- */

typedef struct {
  uint64_t id;
  uint8_t stage, status;      /* a verdict; an OP's result is in status */
} BfdJournalAnswer;

typedef struct {
  uint64_t id;
  uint8_t proof[BF_PROOF_LEN];
} BfdJournalProof;

typedef struct {
  uint32_t chunk_id, len, total;
} BfdJournalChunk;

/* An item kept for its client: its record, its chunks on disk, under
 * SHAMIR its secret if it was rebuilt. */
typedef struct {
  uint64_t id;
  int rec_fd;                 /* open: the item goes on writing it */
  guint slot;                 /* its record file (BFD_REC_BY_ID: <id>.rec) */
  uint32_t chunk_size;
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint8_t digest_alg;
  BfCodingSpec coding;
  uint64_t base_size;         /* an append's base, 0 if none */
  char *name;                 /* "" when the secret holds it */
  gboolean closed;            /* ITEM_CLOSE was recorded: close is valid */
  BfItemClose close;
  GArray *chunks;             /* BfdJournalChunk, by chunk id */
  uint8_t *secret;            /* NULL if not rebuilt */
  size_t secret_len;
} BfdItemRecord;

typedef struct {
  uint64_t max_id;
  GArray *verdicts;           /* BfdJournalAnswer, oldest first */
  GArray *proofs;             /* BfdJournalProof */
  GArray *ops_done;           /* BfdJournalAnswer */
  GArray *ops_started;        /* uint64_t: started, not known done */
  GPtrArray *items;           /* BfdItemRecord* */
} BfdJournalState;

/* Everything the journal holds. A record whose data is gone but which was
 * closed is an item stored just before the end (its verdict, STORED OK, is
 * added); one that does not read back whole is deleted. NULL (G_FILE_ERROR,
 * naming the file) if tmp/ cannot be listed or a file of it read: what
 * cannot be read is not known to be torn, and nothing is deleted for it. */
BfdJournalState *bfd_journal_read(int tmp_fd, GError **error);
void bfd_journal_state_free(BfdJournalState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdJournalState, bfd_journal_state_free)
/* Deletes what belongs to no item kept (ids: a set of uint64_t) and is not
 * the journal's own (its record files: the reading deleted those of items
 * not kept; the empty ones are free): files of items that could not be
 * rebuilt, anything else. */
void bfd_journal_remove_strays(int tmp_fd, GHashTable *kept);
