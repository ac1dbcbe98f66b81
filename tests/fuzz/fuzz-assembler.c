/* fuzz-assembler: one BfAssembler (include/braidfs/assembler.h) driven by a
 * sequence of operations, against a shadow model.
 *
 * Input layout (big-endian):
 *
 *   u16 cs      chunk_size = 4096 + cs % 61441   (4 KiB .. 64 KiB)
 *   u32 max     max_size = max                   (0 .. 4 GiB - 1: at most
 *                                                 2^20 chunks, so bounded)
 *   records, until the input ends:
 *     u8 op     bits 0-1: 0 CHUNK (check, then mark unless dup)
 *                         1 CHUNK, check only (the write failed); with
 *                           bit 4, then expect (a first share of a coded
 *                           chunk: announced, not written)
 *                         2 CLOSE
 *                         3 CHUNK resent: the id of an earlier mark
 *               bit 2:    lengths follow the item geometry (len = the
 *                         chunk's length from a size, see below)
 *               bit 3:    ids, totals and sizes are u32 (else u16)
 *     CHUNK:    id, total, len  (u16 each, or u32 with bit 3; with bit 2
 *                                len is chunk_size, or len % chunk_size + 1
 *                                when its top bit is set: a short chunk)
 *     CLOSE:    total, size     (u16 each, or u32 and u64 with bit 3; with
 *                                bit 2 the size is made to fit total:
 *                                (total - 1) * chunk_size + size % chunk_size
 *                                + 1, or 0 for total 0)
 *
 * The shadow model remembers every accepted, marked chunk (id -> len), every
 * expected one, and the close. Checked after each operation (the walks over
 * all marked chunks only at the end, after a close and on completion, to
 * stay linear):
 *   - received() is the number of distinct marked ids; has() and
 *     chunk_len() agree with the model for each of them;
 *   - complete() is exactly closed() && received() == total;
 *   - every accepted chunk: offset == id * chunk_size, 1 <= len <= chunk
 *     size, a dup exactly when the id was marked before, with the length it
 *     had then, and it lies within max_size (offset + len <= max_size);
 *   - at most one marked or expected chunk is short, and it is the highest
 *     marked or expected id; after a close, expected chunks fit it too;
 *   - a close is accepted only for size <= max_size, total == ceil(size /
 *     chunk_size), and no marked chunk contradicts it; a second close must
 *     repeat the first;
 *   - once complete, every id < total is has()-true and the marked lengths
 *     add up to size.
 * Refusals must set a BF_ASM_ERROR and leave the model's state unchanged. */
#include "fuzz.h"

#include <string.h>

#include "braidfs/assembler.h"

typedef struct {
  BfAssembler *a;
  uint32_t cs;
  uint64_t max_size;
  GHashTable *marked;   /* chunk id -> accepted len, both as GUINT_TO_POINTER */
  GHashTable *expected; /* chunk id -> len of chunks expected, not marked */
  GArray *ids;          /* marked ids in marking order, for resends */
  uint64_t sum;         /* sum of marked lengths */
  gboolean closed;
  uint32_t total;       /* from the accepted close */
  uint64_t size;
  gboolean seen_complete;
} Model;

static uint32_t
model_len(const Model *m, uint32_t id, gboolean *found)
{
  gpointer v;

  *found = g_hash_table_lookup_extended(m->marked, GUINT_TO_POINTER(id), NULL,
                                        &v);
  return *found ? GPOINTER_TO_UINT(v) : 0;
}

/* The length of chunk id in an item of size bytes. */
static uint32_t
geometry_len(uint32_t cs, uint64_t size, uint32_t id)
{
  uint64_t start = (uint64_t)id * cs;

  if (start >= size)
    return 0;
  return (uint32_t)MIN((uint64_t)cs, size - start);
}

/* Cheap checks after every operation; the walk over every marked chunk
 * only when full is set (at the end of the input, after an accepted close,
 * and when the item becomes complete), so a long input stays linear. */
static void
check_state(Model *m, gboolean full)
{
  GHashTableIter it;
  gpointer k, v;
  uint32_t shorts = 0, short_id = 0, highest = 0;
  uint64_t sum = 0;
  gboolean any = FALSE, complete = bf_assembler_complete(m->a);

  FUZZ_CHECK(bf_assembler_chunk_size(m->a) == m->cs);
  FUZZ_CHECK(bf_assembler_received(m->a) == g_hash_table_size(m->marked));
  FUZZ_CHECK(bf_assembler_closed(m->a) == m->closed);
  FUZZ_CHECK(bf_assembler_size(m->a) == (m->closed ? m->size : 0));
  FUZZ_CHECK(complete ==
             (m->closed && g_hash_table_size(m->marked) == m->total));
  if (complete && !m->seen_complete) {
    m->seen_complete = TRUE;
    full = TRUE;
  }
  if (!full)
    return;

  g_hash_table_iter_init(&it, m->marked);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    uint32_t id = GPOINTER_TO_UINT(k), len = GPOINTER_TO_UINT(v);

    FUZZ_CHECK(bf_assembler_has(m->a, id));
    FUZZ_CHECK(bf_assembler_chunk_len(m->a, id) == len);
    FUZZ_CHECK((uint64_t)id * m->cs < m->max_size);
    FUZZ_CHECK((uint64_t)id * m->cs + len <= m->max_size);
    sum += len;
  }
  for (int pass = 0; pass < 2; pass++) {
    g_hash_table_iter_init(&it, pass ? m->expected : m->marked);
    while (g_hash_table_iter_next(&it, &k, &v)) {
      uint32_t id = GPOINTER_TO_UINT(k), len = GPOINTER_TO_UINT(v);

      if (m->closed) {
        FUZZ_CHECK(id < m->total);
        FUZZ_CHECK(len == geometry_len(m->cs, m->size, id));
      }
      if (len < m->cs) {
        shorts++;
        short_id = id;
      }
      if (!any || id > highest)
        highest = id;
      any = TRUE;
    }
  }
  FUZZ_CHECK(sum == m->sum);
  FUZZ_CHECK(shorts <= 1);
  if (shorts == 1)
    FUZZ_CHECK(short_id == highest);

  if (complete) {
    FUZZ_CHECK(m->sum == m->size);
    for (uint32_t id = 0; id < m->total; id++)
      FUZZ_CHECK(bf_assembler_has(m->a, id));
    FUZZ_CHECK(!bf_assembler_has(m->a, m->total));
  }
}

typedef enum { MARK, CHECK_ONLY, EXPECT } Then;

static void
do_chunk(Model *m, uint32_t id, uint32_t total, uint32_t len, Then then)
{
  g_autoptr(GError) error = NULL;
  uint64_t off = G_MAXUINT64;
  gboolean dup = 2, found;
  uint32_t had_len = model_len(m, id, &found);

  FUZZ_CHECK(bf_assembler_has(m->a, id) == found);
  if (!bf_assembler_check(m->a, id, total, len, &off, &dup, &error)) {
    FUZZ_CHECK(error != NULL && error->domain == BF_ASM_ERROR);
    return;
  }
  FUZZ_CHECK(error == NULL);
  FUZZ_CHECK(off == (uint64_t)id * m->cs);
  FUZZ_CHECK(dup == found);
  FUZZ_CHECK(len >= 1 && len <= m->cs);
  /* The assembler decides where bytes are written: never past the item
   * size limit (regress-chunk-beyond-max-size). */
  FUZZ_CHECK(off < m->max_size);
  FUZZ_CHECK(off + len <= m->max_size);
  /* The protocol acknowledges a resent chunk only if it is identical, so
   * of the same length (regress-dup-shorter-length). */
  if (dup) {
    FUZZ_CHECK(len <= had_len);
    FUZZ_CHECK(len == had_len);
  }
  if (total != 0)
    FUZZ_CHECK(id < total);
  if (m->closed) {
    FUZZ_CHECK(id < m->total);
    FUZZ_CHECK(total == 0 || total == m->total);
    FUZZ_CHECK(len == geometry_len(m->cs, m->size, id));
  }
  if (then == CHECK_ONLY || dup)
    return;
  if (then == EXPECT) {
    bf_assembler_expect(m->a, id, len);
    g_hash_table_insert(m->expected, GUINT_TO_POINTER(id),
                        GUINT_TO_POINTER(len));
    FUZZ_CHECK(!bf_assembler_has(m->a, id));
    return;
  }
  g_hash_table_remove(m->expected, GUINT_TO_POINTER(id));
  bf_assembler_mark(m->a, id, len);
  g_hash_table_insert(m->marked, GUINT_TO_POINTER(id), GUINT_TO_POINTER(len));
  g_array_append_val(m->ids, id);
  m->sum += len;
  FUZZ_CHECK(bf_assembler_has(m->a, id));
  FUZZ_CHECK(bf_assembler_chunk_len(m->a, id) == len);
}

/* Returns TRUE when the close was accepted for the first time. */
static gboolean
do_close(Model *m, uint32_t total, uint64_t size)
{
  g_autoptr(GError) error = NULL;
  gboolean was_complete = bf_assembler_complete(m->a);

  if (!bf_assembler_close(m->a, total, size, &error)) {
    FUZZ_CHECK(error != NULL && error->domain == BF_ASM_ERROR);
    FUZZ_CHECK(bf_assembler_complete(m->a) == was_complete);
    return FALSE;
  }
  FUZZ_CHECK(error == NULL);
  if (m->closed) {
    FUZZ_CHECK(total == m->total && size == m->size);
    return FALSE;
  }
  FUZZ_CHECK(size <= m->max_size);
  FUZZ_CHECK((uint64_t)total == size / m->cs + (size % m->cs != 0));
  m->closed = TRUE;
  m->total = total;
  m->size = size;
  return TRUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  FuzzReader r = { data, size };
  uint64_t cs_sel, max;
  Model m = { 0 };

  fuzz_init();
  if (!fuzz_rd(&r, 2, &cs_sel) || !fuzz_rd(&r, 4, &max))
    return 0;
  m.cs = 4096 + (uint32_t)(cs_sel % 61441);
  m.max_size = max;
  m.a = bf_assembler_new(m.cs, m.max_size);
  m.marked = g_hash_table_new(g_direct_hash, g_direct_equal);
  m.expected = g_hash_table_new(g_direct_hash, g_direct_equal);
  m.ids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
  check_state(&m, TRUE);

  for (;;) {
    uint64_t op, id = 0, total, len, sz;
    gboolean full = FALSE;
    size_t w;

    if (!fuzz_rd(&r, 1, &op))
      break;
    w = (op & 8) ? 4 : 2;
    switch (op & 3) {
    case 0:
    case 1:
    case 3:
      if ((op & 3) == 3) {
        uint64_t pick;
        if (m.ids->len == 0 || !fuzz_rd(&r, 2, &pick))
          goto out;
        id = g_array_index(m.ids, uint32_t, pick % m.ids->len);
      } else if (!fuzz_rd(&r, w, &id)) {
        goto out;
      }
      if (!fuzz_rd(&r, w, &total) || !fuzz_rd(&r, w, &len))
        goto out;
      if (op & 4) {
        uint64_t top = (uint64_t)1 << (w * 8 - 1);
        len = (len & top) ? len % m.cs + 1 : m.cs;
      }
      do_chunk(&m, (uint32_t)id, (uint32_t)total, (uint32_t)len,
               (op & 3) != 1 ? MARK : (op & 16) ? EXPECT : CHECK_ONLY);
      break;
    case 2:
      if (!fuzz_rd(&r, w, &total) || !fuzz_rd(&r, w == 4 ? 8 : 2, &sz))
        goto out;
      if (op & 4)
        sz = total == 0 ? 0 : (total - 1) * m.cs + sz % m.cs + 1;
      full = do_close(&m, (uint32_t)total, sz);
      break;
    }
    check_state(&m, full);
  }
out:
  check_state(&m, TRUE);
  bf_assembler_free(m.a);
  g_hash_table_destroy(m.marked);
  g_hash_table_destroy(m.expected);
  g_array_free(m.ids, TRUE);
  return 0;
}
