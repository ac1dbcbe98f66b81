/* BfFifoMap (see fifomap.h): a ring of keys in insertion order and a hash
 * table from key to value. The table's keys point into the ring, so an
 * entry costs no allocation of its own, and the oldest entry is the ring
 * slot the next key overwrites. */
#include "braidfs/fifomap.h"

struct BfFifoMap {
  uint64_t *ring;        /* keys, oldest at head once full */
  guint capacity;
  guint len;             /* entries held, <= capacity */
  guint head;            /* the next slot to fill (the oldest, once full) */
  GHashTable *table;     /* uint64_t* (into ring) -> value; frees values */
};

BfFifoMap *
bf_fifo_map_new(guint capacity, GDestroyNotify value_free)
{
  BfFifoMap *m;

  g_return_val_if_fail(capacity >= 1, NULL);
  m = g_new0(BfFifoMap, 1);
  m->ring = g_new(uint64_t, capacity);
  m->capacity = capacity;
  m->table = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                   value_free);
  return m;
}

void
bf_fifo_map_free(BfFifoMap *m)
{
  if (m == NULL)
    return;
  g_hash_table_unref(m->table);
  g_free(m->ring);
  g_free(m);
}

gboolean
bf_fifo_map_insert(BfFifoMap *m, uint64_t key, gpointer value)
{
  uint64_t *slot = &m->ring[m->head];

  if (g_hash_table_contains(m->table, &key))
    return FALSE;
  if (m->len == m->capacity)
    g_hash_table_remove(m->table, slot);   /* the oldest; frees its value */
  else
    m->len++;
  *slot = key;
  g_hash_table_insert(m->table, slot, value);
  m->head = (m->head + 1) % m->capacity;
  return TRUE;
}

gboolean
bf_fifo_map_lookup(const BfFifoMap *m, uint64_t key, gpointer *value)
{
  return g_hash_table_lookup_extended(m->table, &key, NULL, value);
}

gboolean
bf_fifo_map_contains(const BfFifoMap *m, uint64_t key)
{
  return g_hash_table_contains(m->table, &key);
}

guint
bf_fifo_map_size(const BfFifoMap *m)
{
  return m->len;
}

guint
bf_fifo_map_capacity(const BfFifoMap *m)
{
  return m->capacity;
}
