/* Ranged reads of stored files (readback.h). */
#include "readback.h"

#include <string.h>

#include "ctl.h"
#include "wait.h"

/* Pieces are at most this (the server serves 256 KiB, see
 * braidfs-protocol(7)) and at least the smaller, so that a read of a
 * few pages is not split into pieces that cost more than they carry. */
#define PIECE_MAX (256u * 1024)
#define PIECE_MIN (16u * 1024)
#define RESEND_US (2 * G_USEC_PER_SEC)

/* One READ waiting for its READ_DATA. It lives in the reader's array;
 * others touch it only under the session lock while it is in s->reads. */
typedef struct {
  uint64_t op_id;
  uint64_t off;
  uint32_t len;
  uint8_t *dest;              /* where its bytes go in the reader's buffer */
  gboolean done;
  uint8_t status;
  uint32_t got;
  gint64 asked;               /* monotonic time it was last asked */
} Piece;

static void
ask_locked(BfcSession *s, const char *name, Piece *pc) BF_REQUIRES(&s->lock)
{
  BfMsg m = { .type = BF_FRAME_READ };

  m.u.read.op_id = pc->op_id;
  m.u.read.offset = pc->off;
  m.u.read.length = pc->len;
  m.u.read.name.data = (const uint8_t *)name;
  m.u.read.name.len = (uint16_t)strlen(name);
  bfc_queue_soonest_locked(s, &m);
  pc->asked = g_get_monotonic_time();
}

/* As many pieces as paths are up, each PIECE_MIN..PIECE_MAX. */
static uint32_t
piece_len_locked(BfcSession *s, size_t len) BF_REQUIRES(&s->lock)
{
  size_t up = MAX(1u, bfc_paths_up_locked(s));
  size_t each = (len + up - 1) / up;

  each = (each + 4095) & ~(size_t)4095;
  return (uint32_t)CLAMP(each, PIECE_MIN, PIECE_MAX);
}

/* Asks again for what did not come within RESEND_US (its path may be
 * gone, or its answer failed its CRC). TRUE when every piece is done. */
static gboolean
resend_locked(BfcSession *s, const char *name, Piece *pcs, guint n)
  BF_REQUIRES(&s->lock)
{
  gint64 now = g_get_monotonic_time();
  gboolean all = TRUE;

  for (guint i = 0; i < n; i++) {
    if (pcs[i].done)
      continue;
    all = FALSE;
    if (now - pcs[i].asked >= RESEND_US)
      ask_locked(s, name, &pcs[i]);
  }
  return all;
}

/* The bytes read, up to the first short piece (the end of the file). */
static gssize
assemble(BfcSession *s, const char *name, const Piece *pcs, guint n,
         GError **error)
{
  gssize total = 0;

  for (guint i = 0; i < n; i++) {
    if (pcs[i].status != BF_ST_OK) {
      bfc_set_status_error(error, pcs[i].status, "server %s cannot read "
                           "'%s' back: %s", s->server, name,
                           bf_status_str(pcs[i].status));
      return -1;
    }
    total += pcs[i].got;
    if (pcs[i].got < pcs[i].len)
      break;
  }
  return total;
}

gssize
bfc_readback(BfcSession *s, const char *name, void *buf, size_t len,
             uint64_t off, GError **error)
{
  g_autoptr(GError) err = NULL;
  g_autofree Piece *pcs = NULL;
  gboolean all = FALSE;
  uint32_t each;
  guint n;
  BfcWait w;

  if (len == 0)
    return 0;
  bf_mutex_lock(&s->lock);
  each = piece_len_locked(s, len);
  n = (guint)((len + each - 1) / each);
  pcs = g_new0(Piece, n);
  for (guint i = 0; i < n; i++) {
    pcs[i].op_id = ++s->next_op_id;
    pcs[i].off = off + (uint64_t)i * each;
    pcs[i].len = (uint32_t)MIN((size_t)each, len - (size_t)i * each);
    pcs[i].dest = (uint8_t *)buf + (size_t)i * each;
    g_hash_table_insert(s->reads, &pcs[i].op_id, &pcs[i]);
    ask_locked(s, name, &pcs[i]);
  }
  bfc_wait_init(&w, "answered READ");
  while (!(all = resend_locked(s, name, pcs, n)) &&
         bfc_wait_locked(s, &w, &err))
    ;
  bfc_wait_done_locked(s, &w);
  /* Out of the table, nobody else touches pcs (see Piece). */
  for (guint i = 0; i < n; i++)
    g_hash_table_remove(s->reads, &pcs[i].op_id);
  bf_mutex_unlock(&s->lock);
  if (!all) {
    g_propagate_error(error, g_steal_pointer(&err));
    return -1;
  }
  return assemble(s, name, pcs, n, error);
}

void
bfc_readback_on_data(BfcSession *s, const BfReadData *d)
{
  Piece *pc;

  bf_mutex_lock(&s->lock);
  pc = g_hash_table_lookup(s->reads, &d->op_id);
  if (pc == NULL || pc->done) {
    bf_mutex_unlock(&s->lock);
    return;   /* a late or repeated answer */
  }
  if (d->status == BF_ST_OK &&
      (d->payload_len > pc->len ||
       bf_crc32c(d->payload, d->payload_len) != d->crc32c)) {
    /* Asked again after RESEND_US; the wait gives up if this goes on. */
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, NULL), "server %s: "
           "a piece read back at %" G_GUINT64_FORMAT " failed its CRC32C or "
           "length check; asking again", s->server, pc->off);
  } else {
    pc->done = TRUE;
    pc->status = d->status;
    pc->got = d->status == BF_ST_OK ? d->payload_len : 0;
    if (pc->got > 0)
      memcpy(pc->dest, d->payload, pc->got);
  }
  g_cond_broadcast(&s->cond);
  bf_mutex_unlock(&s->lock);
}
