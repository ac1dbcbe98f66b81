#include "braidfs/assembler.h"

#include <string.h>

#define NO_CHUNK G_MAXUINT32
#define PAGE_BYTES 4096u
#define PAGE_CHUNKS (PAGE_BYTES * 8u)

struct BfAssembler {
  uint32_t chunk_size;
  uint32_t max_chunks;   /* from the item size limit */
  uint64_t max_size;
  uint32_t total;        /* 0 while unknown */
  uint64_t size;         /* valid once closed */
  gboolean closed;
  uint32_t received;     /* distinct chunks marked */
  uint32_t highest;      /* highest chunk id marked or expected, NO_CHUNK
                            if none */
  uint32_t short_id;     /* the one chunk shorter than chunk_size, if any
                            (marked or expected) */
  uint32_t short_len;
  /* Received bitmap in pages allocated on first use: memory follows the
   * chunks that arrived, so a peer naming a chunk near the size limit
   * costs one page, not a bitmap up to that index. */
  GHashTable *pages;     /* page index -> uint8_t[PAGE_BYTES] */
};

G_DEFINE_QUARK(bf-asm-error-quark, bf_asm_error)

BfAssembler *
bf_assembler_new(uint32_t chunk_size, uint64_t max_size)
{
  g_return_val_if_fail(chunk_size > 0, NULL);
  BfAssembler *a = g_new0(BfAssembler, 1);
  uint64_t max_chunks = max_size / chunk_size + (max_size % chunk_size != 0);

  a->chunk_size = chunk_size;
  a->max_size = max_size;
  a->max_chunks = (uint32_t)MIN(max_chunks, (uint64_t)G_MAXUINT32);
  a->highest = NO_CHUNK;
  a->short_id = NO_CHUNK;
  a->pages = g_hash_table_new_full(NULL, NULL, NULL, g_free);
  return a;
}

void
bf_assembler_free(BfAssembler *a)
{
  if (a == NULL)
    return;
  g_hash_table_unref(a->pages);
  g_free(a);
}

static uint8_t *
page_of(const BfAssembler *a, uint32_t chunk_id)
{
  return g_hash_table_lookup(a->pages, GUINT_TO_POINTER(chunk_id / PAGE_CHUNKS));
}

gboolean
bf_assembler_has(const BfAssembler *a, uint32_t chunk_id)
{
  const uint8_t *page = page_of(a, chunk_id);
  uint32_t bit = chunk_id % PAGE_CHUNKS;

  return page != NULL && ((page[bit / 8] >> (bit % 8)) & 1);
}

/* Length the close said chunk_id must have; 0 if the item is not closed. */
static uint32_t
expected_len(const BfAssembler *a, uint32_t chunk_id)
{
  if (!a->closed)
    return 0;
  if (chunk_id + 1 < a->total)
    return a->chunk_size;
  return (uint32_t)(a->size - (uint64_t)(a->total - 1) * a->chunk_size);
}

static gboolean
fail(GError **error, BfAsmError code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail(GError **error, BfAsmError code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, BF_ASM_ERROR, code, msg);
  return FALSE;
}

static gboolean
check_total(BfAssembler *a, uint32_t total, GError **error)
{
  if (total == 0)
    return TRUE;
  if (a->total != 0 && total != a->total)
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "total_chunks %u contradicts earlier %u", total, a->total);
  if (total > a->max_chunks)
    return fail(error, BF_ASM_ERROR_TOO_BIG,
                "total_chunks %u is over the item size limit", total);
  if (a->highest != NO_CHUNK && a->highest >= total)
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "total_chunks %u but chunk %u exists", total, a->highest);
  if (a->short_id != NO_CHUNK && a->short_id != total - 1)
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "short chunk %u is not the last of %u", a->short_id, total);
  return TRUE;
}

static gboolean
check_len(const BfAssembler *a, uint32_t id, uint32_t total, uint32_t len,
          GError **error)
{
  uint32_t want = expected_len(a, id);
  uint32_t known = total ? total : a->total;

  if (len == 0 || len > a->chunk_size)
    return fail(error, BF_ASM_ERROR_RANGE,
                "chunk %u has %u bytes (chunk size %u)", id, len, a->chunk_size);
  if (want != 0 && len != want)
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "chunk %u has %u bytes, the item needs %u", id, len, want);
  if (len < a->chunk_size) {
    /* Only the last chunk may be short, so there is at most one. */
    if (known != 0 && id != known - 1)
      return fail(error, BF_ASM_ERROR_CONFLICT,
                  "chunk %u is short but not the last of %u", id, known);
    if (a->short_id != NO_CHUNK && a->short_id != id)
      return fail(error, BF_ASM_ERROR_CONFLICT,
                  "chunk %u is short but chunk %u already was", id, a->short_id);
    if (a->short_id == id && a->short_len != len)
      return fail(error, BF_ASM_ERROR_CONFLICT,
                  "chunk %u of %u bytes, of %u bytes before", id, len,
                  a->short_len);
    if (a->highest != NO_CHUNK && a->highest > id)
      return fail(error, BF_ASM_ERROR_CONFLICT,
                  "short chunk %u before chunk %u", id, a->highest);
  } else if (a->short_id != NO_CHUNK && id >= a->short_id) {
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "chunk %u after the short last chunk %u", id, a->short_id);
  }
  return TRUE;
}

gboolean
bf_assembler_check(BfAssembler *a, uint32_t chunk_id, uint32_t total_chunks,
                   uint32_t len, uint64_t *offset, gboolean *dup,
                   GError **error)
{
  if (chunk_id >= a->max_chunks)
    return fail(error, BF_ASM_ERROR_TOO_BIG,
                "chunk %u is beyond the item size limit", chunk_id);
  if (total_chunks != 0 && chunk_id >= total_chunks)
    return fail(error, BF_ASM_ERROR_RANGE, "chunk %u >= total_chunks %u",
                chunk_id, total_chunks);
  if (!check_total(a, total_chunks, error))
    return FALSE;
  /* Once closed, total 0 means an empty item, not an unknown count. */
  if ((a->total != 0 || a->closed) && chunk_id >= a->total)
    return fail(error, BF_ASM_ERROR_RANGE, "chunk %u >= total_chunks %u",
                chunk_id, a->total);
  if (!check_len(a, chunk_id, total_chunks, len, error))
    return FALSE;
  if ((uint64_t)chunk_id * a->chunk_size + len > a->max_size)
    return fail(error, BF_ASM_ERROR_TOO_BIG,
                "chunk %u ends past the item size limit", chunk_id);
  /* A resend must be the same chunk: same length (the caller compares the
   * bytes). */
  if (bf_assembler_has(a, chunk_id) && len != bf_assembler_chunk_len(a, chunk_id))
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "chunk %u resent with %u bytes instead of %u", chunk_id, len,
                bf_assembler_chunk_len(a, chunk_id));
  if (total_chunks != 0)
    a->total = total_chunks;
  *offset = (uint64_t)chunk_id * a->chunk_size;
  *dup = bf_assembler_has(a, chunk_id);
  return TRUE;
}

void
bf_assembler_expect(BfAssembler *a, uint32_t chunk_id, uint32_t len)
{
  g_return_if_fail(chunk_id < a->max_chunks);
  if (a->highest == NO_CHUNK || chunk_id > a->highest)
    a->highest = chunk_id;
  if (len < a->chunk_size) {
    a->short_id = chunk_id;
    a->short_len = len;
  }
}

void
bf_assembler_mark(BfAssembler *a, uint32_t chunk_id, uint32_t len)
{
  uint8_t *page = page_of(a, chunk_id);
  uint32_t bit = chunk_id % PAGE_CHUNKS;

  g_return_if_fail(chunk_id < a->max_chunks);
  if (bf_assembler_has(a, chunk_id))
    return;
  if (page == NULL) {
    page = g_malloc0(PAGE_BYTES);
    g_hash_table_insert(a->pages, GUINT_TO_POINTER(chunk_id / PAGE_CHUNKS), page);
  }
  page[bit / 8] |= (uint8_t)(1u << (bit % 8));
  a->received++;
  bf_assembler_expect(a, chunk_id, len);
}

gboolean
bf_assembler_close(BfAssembler *a, uint32_t total, uint64_t size,
                   GError **error)
{
  uint64_t need = size / a->chunk_size + (size % a->chunk_size != 0);

  if (a->closed) {
    if (total != a->total || size != a->size)
      return fail(error, BF_ASM_ERROR_CONFLICT, "item closed twice differently");
    return TRUE;
  }
  if (size > a->max_size || need > a->max_chunks)
    return fail(error, BF_ASM_ERROR_TOO_BIG,
                "item of %" G_GUINT64_FORMAT " bytes is over the limit", size);
  if (need != total)
    return fail(error, BF_ASM_ERROR_RANGE,
                "%" G_GUINT64_FORMAT " bytes need %" G_GUINT64_FORMAT
                " chunks of %u, not %u", size, need, a->chunk_size, total);
  if (total == 0 && (a->total != 0 || a->highest != NO_CHUNK))
    return fail(error, BF_ASM_ERROR_CONFLICT,
                "item closed empty after chunks of it arrived");
  if (!check_total(a, total, error))
    return FALSE;
  if (total > 0) {
    uint32_t last_len = (uint32_t)(size - (uint64_t)(total - 1) * a->chunk_size);
    if (a->short_id != NO_CHUNK && a->short_len != last_len)
      return fail(error, BF_ASM_ERROR_CONFLICT,
                  "last chunk has %u bytes, size says %u", a->short_len, last_len);
    /* highest < total here: chunk total - 1 is here or expected, full */
    if (last_len < a->chunk_size && a->short_id == NO_CHUNK &&
        a->highest == total - 1)
      return fail(error, BF_ASM_ERROR_CONFLICT,
                  "last chunk was full, size says %u bytes", last_len);
  }
  a->total = total;
  a->size = size;
  a->closed = TRUE;
  return TRUE;
}

gboolean
bf_assembler_closed(const BfAssembler *a)
{
  return a->closed;
}

gboolean
bf_assembler_complete(const BfAssembler *a)
{
  return a->closed && a->received == a->total;
}

uint32_t
bf_assembler_received(const BfAssembler *a)
{
  return a->received;
}

uint32_t
bf_assembler_chunk_size(const BfAssembler *a)
{
  return a->chunk_size;
}

uint32_t
bf_assembler_chunk_len(const BfAssembler *a, uint32_t chunk_id)
{
  if (chunk_id == a->short_id)
    return a->short_len;
  return a->chunk_size;
}

uint64_t
bf_assembler_size(const BfAssembler *a)
{
  return a->closed ? a->size : 0;
}
