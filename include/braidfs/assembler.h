/* Bookkeeping for one item being rebuilt from chunks that arrive in any
 * order on any path: which chunks are here, whether their lengths fit the
 * item's geometry, and when the item is complete. Pure (no I/O): the server
 * writes the bytes; this decides where and whether. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct BfAssembler BfAssembler;

typedef enum {
  BF_ASM_ERROR_RANGE,     /* index or length does not fit the item */
  BF_ASM_ERROR_CONFLICT,  /* contradicts something said earlier */
  BF_ASM_ERROR_TOO_BIG,   /* over the item size limit */
} BfAsmError;

#define BF_ASM_ERROR (bf_asm_error_quark())
GQuark bf_asm_error_quark(void);

/* max_size bounds the item (and so the number of chunks it may have). */
BfAssembler *bf_assembler_new(uint32_t chunk_size, uint64_t max_size);
void bf_assembler_free(BfAssembler *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfAssembler, bf_assembler_free)

/* Checks a chunk before its bytes are written. On success *offset is where
 * its payload belongs and *dup says whether it was already received (then
 * the caller must not count it again, only verify and re-acknowledge). */
gboolean bf_assembler_check(BfAssembler *a, uint32_t chunk_id,
                            uint32_t total_chunks, uint32_t len,
                            uint64_t *offset, gboolean *dup, GError **error);

/* Records a checked chunk as written. */
void bf_assembler_mark(BfAssembler *a, uint32_t chunk_id, uint32_t len);

/* Records that a checked chunk of len bytes is on its way without being
 * written yet (the first share of a coded chunk): later chunks are checked
 * against its length and position as if it were here, so that an item
 * holds at most one short chunk, written or not. */
void bf_assembler_expect(BfAssembler *a, uint32_t chunk_id, uint32_t len);

/* Records the item's final geometry from ITEM_CLOSE. */
gboolean bf_assembler_close(BfAssembler *a, uint32_t total_chunks,
                            uint64_t size, GError **error);

gboolean bf_assembler_has(const BfAssembler *a, uint32_t chunk_id);
gboolean bf_assembler_closed(const BfAssembler *a);
gboolean bf_assembler_complete(const BfAssembler *a);
uint32_t bf_assembler_received(const BfAssembler *a);
uint32_t bf_assembler_chunk_size(const BfAssembler *a);
/* The item size from ITEM_CLOSE (0 before the close). */
uint64_t bf_assembler_size(const BfAssembler *a);
/* Payload length of a received chunk (chunk_size except a short last one). */
uint32_t bf_assembler_chunk_len(const BfAssembler *a, uint32_t chunk_id);

G_END_DECLS
