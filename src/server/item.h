/* An item being rebuilt in tmp/ until it is complete and verified: its
 * state, what the frame handlers (items.c, chunks.c) and the recovery
 * share about it. Knows no session and no path. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/assembler.h"
#include "braidfs/coding.h"
#include "braidfs/digest.h"
#include "braidfs/key.h"
#include "braidfs/tsa.h"
#include "braidfs/wire.h"
#include "journal.h"
#include "limit.h"
#include "shares.h"
#include "store.h"

typedef struct BfdItem {
  gint refs;
  /* Fixed once the item is in its session's table. */
  uint64_t id;
  gboolean name_hidden;      /* ITEM_OPEN left the name to the secret */
  char *label;               /* how answers and logs call it: its name, or
                                "item N" when the name is hidden (an answer
                                travels on one path) */
  char tmpname[BFD_ITEM_FILE_LEN];  /* tmp/<id>.part */
  int map_fd;                /* its record (journal.h) */
  guint rec_slot;            /* map_fd's record file, BFD_REC_BY_ID if
                                none (journal.h) */
  gint *live;                /* counts the item while it lives, or NULL
                                (BfdServer.items_live) */
  BfMutex lock;              /* guards everything below */
  char *name;                /* validated relative path; NULL while a
                                SHAMIR item's secret, which holds it, has
                                not been rebuilt */
  int fd;                    /* tmp/<id>.part; -1 once stored */
  BfAssembler *asm_;
  BfCodingSpec coding;       /* from ITEM_OPEN */
  uint64_t base_size;        /* an append: the part file's first bytes,
                                copied from the stored file; chunks come
                                after them (braidfs-protocol(7)) */
  BfdShares *shares;         /* shamir, rs: chunks waiting for shares */
  BfDigest *digest;
  uint32_t hashed;           /* chunks [0, hashed) are in the digest */
  BfdWriteback wb;           /* of [0, hashed) */
  uint8_t want[BF_DIGEST_LEN]; /* from ITEM_CLOSE, or the secret (SHAMIR) */
  uint8_t want_alg;
  gboolean secret_done;      /* SHAMIR: the secret is rebuilt (want, name,
                                key) */
  uint8_t key[BF_ITEM_KEY_LEN]; /* SHAMIR: the secret's key, which keys the
                                   proof of STORED (proof.h) */
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  /* An append while its base is being copied (items.c): it has no record
   * yet, so its chunks are written (after the base) but not answered, and
   * its ITEM_CLOSE is not recorded; all of that waits here until the copy
   * ends (bfd_item_base_copied_locked). */
  gboolean copying;
  GArray *held;              /* BfdHeldChunk, in arrival order */
  guint held_dups;           /* resent copies among them (at most
                                BFD_HELD_DUPS_MAX) */
  gboolean close_held;       /* held_close arrived meanwhile */
  BfItemClose held_close;
  struct BfdPath *open_reply; /* a reference: where OPENED goes */
  gboolean finished;         /* stored, failed or being stored: ignore
                                further frames; from then on only the one
                                who set it touches the item's files */
  /* Guarded by the session's lock, not the item's. */
  const void *close_path;    /* the BfdPath of the latest ITEM_CLOSE, as an
                                identity (valid while among its session's
                                clients) */
} BfdItem;

/* Chunks resent during one base copy before their path is refused: a
 * client resends only after a lost path. */
#define BFD_HELD_DUPS_MAX 4096u

/* A chunk written while its item's base was copied, not yet answered:
 * its header (payload NULL) and a reference to its path. */
typedef struct {
  struct BfdPath *path;
  BfChunk c;
} BfdHeldChunk;

/* An item from its ITEM_OPEN (name_len 0: the name is in its secret); its
 * files are made by bfd_item_create_files. */
BfdItem *bfd_item_new(const BfItemOpen *o, uint64_t max_size,
                      BfdShareBudget *budget);
BfdItem *bfd_item_ref(BfdItem *it);
void bfd_item_unref(BfdItem *it);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdItem, bfd_item_unref)

/* Makes tmp/<id>.part and the record of the ITEM_OPEN o. An append gets
 * its part only and is copying (its open_reply set to reply): its record
 * waits for bfd_item_copy_base and bfd_item_base_copied_locked, so a
 * crash meanwhile leaves an item the client opens again. */
gboolean bfd_item_create_files(BfdItem *it, BfdJournal *j, int tmp_fd,
                               const BfItemOpen *o, struct BfdPath *reply,
                               GError **error);
/* Copies the first base_size bytes of the stored file it->name (data_fd,
 * of stored bytes, all hashed and checked against want) into the part
 * file; *base: the digest of the bytes copied. Takes no lock: chunks
 * meanwhile are written after them. STALE if the stored file is not that
 * base. */
gboolean bfd_item_copy_base(BfdItem *it, int data_fd, uint64_t stored,
                            const uint8_t want[BF_DIGEST_LEN], BfDigest **base,
                            GError **error);
/* The base is copied (base: its digest, taken): writes the record of o,
 * records the chunks and the ITEM_CLOSE held meanwhile, hashes the chunks
 * after the base; the caller answers the held chunks (*held, taken) and
 * OPENED. */
gboolean bfd_item_base_copied_locked(BfdItem *it, BfdJournal *j, int tmp_fd,
                                     const BfItemOpen *o, BfDigest *base,
                                     GArray **held, GError **error)
  BF_REQUIRES(&it->lock);
/* A chunk of a copying item, written: answered once the base is copied. */
void bfd_item_hold_chunk_locked(BfdItem *it, struct BfdPath *p,
                                const BfChunk *c) BF_REQUIRES(&it->lock);
/* Answers the held chunks on their paths and lets them go. */
void bfd_item_held_free(GArray *held);
/* The item's whole size once closed: its base and its chunks. */
uint64_t bfd_item_size(BfdItem *it);
/* Every chunk, the ITEM_CLOSE and a SHAMIR item's secret are here. */
gboolean bfd_item_ready_locked(BfdItem *it) BF_REQUIRES(&it->lock);
/* Feeds the digest with every chunk that now extends the contiguous
 * prefix: chunk just (data, may be NULL) from memory, the ones that
 * arrived early reread from the file (the page cache) into buf, so that
 * memory stays at one chunk; and sends that prefix on to the disk
 * (bfd_store_writeback, with flusher or NULL: a write error there fails
 * the item). */
gboolean bfd_item_hash_forward_locked(BfdItem *it, uint32_t just,
                                      const uint8_t *data, GByteArray *buf,
                                      BfFlusher *flusher, GError **error)
  BF_REQUIRES(&it->lock);
/* The proof for STORED OK of the item, stored with size bytes (proof.h):
 * keyed with its secret's key (SHAMIR) and the session's key, each where
 * there is one. Takes the item's lock. */
void bfd_item_proof(BfdItem *it, const BfKey *key,
                    const uint8_t session_id[BF_ID_LEN], uint64_t size,
                    uint8_t out[BF_PROOF_LEN]) BF_EXCLUDES(&it->lock);
/* Takes a rebuilt secret (BfSecret): its digest and, if the item hid it,
 * its name. Fails in BFD_ERROR with PROTOCOL if the secret does not fit
 * the item (the frames were wrong), BAD_NAME if its name breaks the rules
 * or the server's limits (the item fails; the message does not quote the
 * name, which travels on one path). */
gboolean bfd_item_take_secret_locked(BfdItem *it, const BfdLimits *l,
                                     const uint8_t *secret, size_t len,
                                     GError **error) BF_REQUIRES(&it->lock);
/* An item kept in the journal, rebuilt as it was (recovery); takes the
 * record's descriptor. NULL with G_FILE_ERROR if its file could not be
 * opened or read (it is not known to be bad), else with BFD_ERROR. */
BfdItem *bfd_item_restore(BfdItemRecord *rec, int tmp_fd, const BfdLimits *l,
                          BfdShareBudget *budget, GError **error);
