/* The outbox's open descriptors (handles.h). */
#include "handles.h"

void
bfc_handles_init(BfcHandles *h)
{
  const char *delay = g_getenv("BRAIDFS_TEST_RELEASE_DELAY_MS");
  guint64 ms = 0;

  if (delay != NULL && g_ascii_string_to_unsigned(delay, 10, 1, 10000, &ms,
                                                  NULL))
    g_warning("test hook armed: BRAIDFS_TEST_RELEASE_DELAY_MS=%s", delay);
  h->release_delay_us = (gulong)ms * 1000;
  bf_mutex_init(&h->lock);
  bf_mutex_lock(&h->lock);
  h->open = g_hash_table_new(g_direct_hash, g_direct_equal);
  bf_mutex_unlock(&h->lock);
}

void
bfc_handles_add(BfcHandles *h, uint64_t fh, BfcHandleKind kind)
{
  bf_mutex_lock(&h->lock);
  g_hash_table_insert(h->open, (gpointer)(uintptr_t)fh,
                      GINT_TO_POINTER(kind));
  bf_mutex_unlock(&h->lock);
}

void
bfc_handles_released(BfcHandles *h, uint64_t fh)
{
  if (h->release_delay_us > 0)
    g_usleep(h->release_delay_us);
  bf_mutex_lock(&h->lock);
  g_hash_table_remove(h->open, (gpointer)(uintptr_t)fh);
  bf_mutex_unlock(&h->lock);
}

void
bfc_handles_clear(BfcHandles *h, BfcHandleFn fn, void *data)
{
  GHashTableIter it;
  gpointer fh, kind;
  GHashTable *open;

  bf_mutex_lock(&h->lock);
  open = g_steal_pointer(&h->open);
  bf_mutex_unlock(&h->lock);
  g_hash_table_iter_init(&it, open);
  while (g_hash_table_iter_next(&it, &fh, &kind))
    fn((uint64_t)(uintptr_t)fh, (BfcHandleKind)GPOINTER_TO_INT(kind), data);
  g_hash_table_unref(open);
  bf_mutex_clear(&h->lock);
}
