/* Per-chunk coding across paths: Shamir K-of-N secret sharing and
 * systematic Reed–Solomon K-of-N over GF(2^8), on ISA-L's matrix kernels.
 * Pure (no I/O): the sender turns one chunk into N shares, the receiver
 * turns any K of them back into the chunk.
 *
 * Share numbering is the wire's share_index, 0 .. N-1.
 *
 *  stripe      one share, the chunk itself (K = N = 1).
 *  shamir:K/N  every share is as long as the chunk. Byte b of share i is
 *              p_b(i + 1), where p_b is a polynomial of degree K-1 over
 *              GF(2^8) (ISA-L's field, polynomial 0x11d) with p_b(0) = byte
 *              b of the chunk and its K-1 other coefficients fresh from
 *              libsodium's randombytes_buf for every byte of every chunk.
 *              Any K-1 shares are uniformly random whatever the chunk
 *              (information-theoretic secrecy); any K rebuild it.
 *              K = 1 means every share IS the chunk: no secrecy, only
 *              N-fold replication.
 *  rs:K/N      systematic Reed–Solomon with ISA-L's Cauchy matrix
 *              (gf_gen_cauchy1_matrix: every K×K submatrix is invertible,
 *              unlike gf_gen_rs_matrix's Vandermonde for some K, N).
 *              Shares 0 .. K-1 are the chunk cut into K fragments of
 *              ceil(len / K) bytes, the last one zero-padded; shares K ..
 *              N-1 are parity. No secrecy: a data share is plaintext.
 *
 * A share is share_len(len) bytes; for rs that loses the exact chunk
 * length (len is any value in (K * (share_len - 1), K * share_len]), so the
 * receiver must be told it: bf_coding_pad() is the number of padding bytes
 * the CHUNK frame carries for that (see man/braidfs-protocol.7). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "braidfs/wire.h"

G_BEGIN_DECLS

#define BF_CODING_N_MAX 16

/* What a receiver buffers of chunks it cannot rebuild yet (fewer than k
 * distinct shares received: "partial" chunks), and so what a sender stays
 * within (man/braidfs-protocol.7, "Coded chunks"): at most
 * BF_CODING_PARTIAL_CHUNKS partial chunks per item, and at most
 * BF_CODING_PARTIAL_BYTES of buffered shares per session. An item whose
 * single partial chunk could exceed the bytes ((k - 1) shares of a full
 * chunk) is refused at ITEM_OPEN. */
#define BF_CODING_PARTIAL_CHUNKS 256
#define BF_CODING_PARTIAL_BYTES (64u * 1024 * 1024)

typedef struct {
  uint8_t kind;  /* BfCoding */
  uint8_t k;     /* shares needed to rebuild a chunk */
  uint8_t n;     /* shares per chunk, one per path */
} BfCodingSpec;

typedef enum {
  BF_CODING_ERROR_PARSE,    /* not a coding the user can ask for */
  BF_CODING_ERROR_SHARES,   /* too few, duplicate or out-of-range shares */
  BF_CODING_ERROR_LENGTH,   /* share or chunk length inconsistent */
} BfCodingError;

#define BF_CODING_ERROR (bf_coding_error_quark())
GQuark bf_coding_error_quark(void);

/* Parses the value of the client's coding= option: "stripe",
 * "shamir:K/N" (1 <= K <= N, 2 <= N <= 16) or "rs:K/N" (1 <= K < N,
 * 2 <= N <= 16). rs:N/N is refused although the wire allows it: with no
 * parity share it is a stripe that stalls whenever one path dies. The
 * error message quotes the text and says what is accepted. */
gboolean bf_coding_parse(const char *text, BfCodingSpec *out, GError **error);

/* Checks a spec from the wire (ITEM_OPEN coding, coding_k, coding_n) with
 * the protocol's rules: stripe is 1/1; shamir and rs 1 <= k <= n,
 * 2 <= n <= 16 (rs k = n included). */
gboolean bf_coding_check(const BfCodingSpec *spec, GError **error);

/* "stripe", "shamir:2/3", "rs:4/6". Static storage per thread. */
const char *bf_coding_str(const BfCodingSpec *spec);

/* Bytes in each share of a chunk of chunk_len bytes. */
size_t bf_coding_share_len(const BfCodingSpec *spec, size_t chunk_len);

/* Padding bytes at the end of the last data share (rs; 0 otherwise):
 * chunk_len = k * share_len - pad, and pad < k. */
uint8_t bf_coding_pad(const BfCodingSpec *spec, size_t chunk_len);

/* The chunk length that share_len and pad describe, or FALSE with an error
 * if they do not fit the spec (pad >= k for rs, pad != 0 otherwise). */
gboolean bf_coding_chunk_len(const BfCodingSpec *spec, size_t share_len,
                             uint8_t pad, size_t *chunk_len, GError **error);

/* An encoder/decoder for one spec. It owns its matrices, GF tables and
 * scratch (random coefficients, a padded fragment), grown on first use and
 * reused, so that a chunk costs no allocation once warm. Not thread-safe:
 * one per thread. */
typedef struct BfCoder BfCoder;

/* spec must pass bf_coding_check() (asserted). */
BfCoder *bf_coder_new(const BfCodingSpec *spec);
void bf_coder_free(BfCoder *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfCoder, bf_coder_free)
const BfCodingSpec *bf_coder_spec(const BfCoder *c);

/* Encodes chunk[0 .. len) into n shares: shares[i] receives share i and
 * must have room for bf_coding_share_len(len) bytes. The caller owns the
 * share buffers: a share that has to be re-sent must be re-sent as it was
 * (a share of another encoding of the same chunk does not combine with
 * these: shamir draws fresh coefficients every time). */
void bf_coder_encode(BfCoder *c, const uint8_t *chunk, size_t len,
                     uint8_t *const *shares);

/* Rebuilds a chunk of chunk_len bytes from count shares of share_len
 * bytes: shares[j] is share number index[j]. Needs count >= k; indices
 * must be distinct and below n (checked for all count), and share_len must
 * be bf_coding_share_len(chunk_len). Uses the first k shares. out has room
 * for chunk_len bytes and must not overlap the shares. */
gboolean bf_coder_decode(BfCoder *c, const uint8_t *const *shares,
                         const uint8_t *index, unsigned count,
                         size_t share_len, uint8_t *out, size_t chunk_len,
                         GError **error);

G_END_DECLS
