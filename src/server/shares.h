/* Chunks of coded items (shamir, rs) waiting for their k-th share, and a
 * session's budget for buffering them. */
#pragma once

#include <glib.h>
#include <stddef.h>

#include "braidfs/coding.h"
#include "braidfs/wire.h"

typedef struct BfdShares BfdShares;
typedef struct BfdShareBudget BfdShareBudget;

typedef enum {
  BFD_SHARE_ERROR,    /* *error set (BFD_ERROR: PROTOCOL, LIMIT) */
  BFD_SHARE_KEPT,     /* buffered: fewer than k so far */
  BFD_SHARE_AGAIN,    /* an identical repeat of a buffered share */
  BFD_SHARE_REBUILT,  /* the k-th: out holds the chunk */
} BfdShareResult;

/* A session's budget of buffered shares (BF_CODING_PARTIAL_BYTES), charged
 * with what its items' partial chunks allocate. Its lock is a leaf. */
BfdShareBudget *bfd_share_budget_new(void);
void bfd_share_budget_free(BfdShareBudget *b);
/* Frees the spare buffers it keeps for reuse (the session is idle). */
void bfd_share_budget_trim(BfdShareBudget *b);

/* An item's partial chunks; budget must outlive them (the session outlives
 * its items). Not thread-safe: the item's lock guards them. */
BfdShares *bfd_shares_new(const BfCodingSpec *spec, BfdShareBudget *budget);
void bfd_shares_free(BfdShares *sh);
/* A share of a chunk the caller checked against the item (not rebuilt
 * yet, chunk_len from the share's length and pad, at most a full chunk),
 * or of a SHAMIR item's secret; out has room for chunk_len bytes. After
 * BFD_SHARE_KEPT the caller tells the item's assembler the chunk is
 * expected (bf_assembler_expect). */
BfdShareResult bfd_shares_add(BfdShares *sh, const BfChunk *c,
                              size_t chunk_len, uint8_t *out, GError **error);
