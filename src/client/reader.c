/* Opening for reading (reader.h). */
#include "reader.h"

#include <errno.h>

#include "readback.h"
#include "session.h"

/* Whether path can be read back: 0, -errno, or 1 when a version of it is
 * still on its way (to wait for). *local (if asked) is given a version
 * being written that keeps a local copy, which is read instead. */
static int
readable(BfcTree *t, const char *path, BfcVersion **local)
{
  BfcNode *n;
  int rc;

  bf_mutex_lock(&t->lock);
  n = bfc_tree_lookup_locked(t, path);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR : n->kind ? -ENXIO
       : n->starting || (n->ver && bfc_version_is_open(n->ver)) ? -EBUSY
       : n->ver != NULL ? 1 : 0;
  /* A read of nothing asks only whether the version has a copy (takes no
   * lock but the delivery's). */
  if (rc == -EBUSY && local != NULL && !n->starting &&
      bfc_version_read(n->ver, NULL, 0, 0, NULL) == 0) {
    *local = bfc_version_ref(n->ver);
    rc = 0;
  }
  bf_mutex_unlock(&t->lock);
  return rc;
}

static int
open_checked(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path,
             BfcVersion **local)
{
  GError *error = NULL;
  int rc;

  if (bfc_session_config(s)->coding.kind == BF_CODING_SHAMIR) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, NULL, path + 1), "'%s': not read "
           "back under coding=shamir, whose files never travel whole on one "
           "path (EACCES)", path + 1);
    return -EACCES;
  }
  rc = readable(t, path, local);
  if (rc == 1 && !bfc_delivery_wait_prefix(d, path + 1, &error)) {
    rc = -bfc_error_errno(error);
    g_clear_error(&error);
    return rc;
  }
  if (rc == 1)
    rc = readable(t, path, local);
  return rc == 1 ? -EBUSY : rc;
}

int
bfc_reader_open(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path)
{
  return open_checked(t, s, d, path, NULL);
}

struct BfcReader {
  BfcVersion *local;          /* read instead of the server, or NULL */
};

int
bfc_reader_new(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path,
               BfcReader **out)
{
  BfcVersion *local = NULL;
  int rc = open_checked(t, s, d, path, &local);

  *out = NULL;
  if (rc == 0) {
    *out = g_new0(BfcReader, 1);
    (*out)->local = local;
  }
  return rc;
}

gssize
bfc_reader_read(BfcReader *r, BfcSession *s, const char *name, void *buf,
                size_t len, uint64_t off, GError **error)
{
  if (r->local != NULL)
    return bfc_version_read(r->local, buf, len, off, error);
  return bfc_readback(s, name, buf, len, off, error);
}

void
bfc_reader_free(BfcReader *r)
{
  if (r->local != NULL)
    bfc_version_unref(r->local);
  g_free(r);
}

#define COPY_STEP (1024u * 1024)

/* What a version still needs of the stored file: [cursor, size). */
typedef struct {
  uint64_t cursor;
  uint64_t size;
} BfcCopyUp;

void
bfc_copy_ups_init(BfcCopyUps *c)
{
  bf_mutex_init(&c->lock);
  c->todo = g_hash_table_new_full(NULL, NULL, NULL, g_free);
}

void
bfc_copy_ups_clear(BfcCopyUps *c)
{
  g_hash_table_unref(c->todo);
  bf_mutex_clear(&c->lock);
}

void
bfc_copy_ups_defer(BfcCopyUps *c, BfcVersion *v, uint64_t size)
{
  BfcCopyUp *u = g_new0(BfcCopyUp, 1);

  u->size = size;
  bf_mutex_lock(&c->lock);
  g_hash_table_insert(c->todo, v, u);
  bf_mutex_unlock(&c->lock);
}

void
bfc_copy_ups_drop(BfcCopyUps *c, BfcVersion *v)
{
  bf_mutex_lock(&c->lock);
  g_hash_table_remove(c->todo, v);
  bf_mutex_unlock(&c->lock);
}

/* Moves v's cursor to at least to, or its end down to at most size. */
static void
update(BfcCopyUps *c, BfcVersion *v, uint64_t to, uint64_t size)
{
  BfcCopyUp *u;

  bf_mutex_lock(&c->lock);
  if ((u = g_hash_table_lookup(c->todo, v)) != NULL) {
    u->cursor = MAX(u->cursor, to);
    u->size = MIN(u->size, size);
    if (u->cursor >= u->size)
      g_hash_table_remove(c->todo, v);
  }
  bf_mutex_unlock(&c->lock);
}

void
bfc_copy_ups_written(BfcCopyUps *c, BfcVersion *v, uint64_t end)
{
  update(c, v, end, UINT64_MAX);
}

void
bfc_copy_ups_cut(BfcCopyUps *c, BfcVersion *v, uint64_t size)
{
  update(c, v, 0, size);
}

/* Writes bytes [from, to) of the stored file name, read back, into v. */
static gboolean
copy(BfcSession *s, const char *name, BfcVersion *v, uint64_t from,
     uint64_t to, GError **error)
{
  g_autofree uint8_t *buf = g_malloc(COPY_STEP);

  while (from < to) {
    gssize n = bfc_readback(s, name, buf, (size_t)MIN((uint64_t)COPY_STEP,
                                                       to - from), from, error);
    if (n < 0)
      return FALSE;
    if (n == 0) {
      bfc_set_status_error(error, BF_ST_IO, "'%s' on server %s is shorter "
                           "than it was delivered; not appended to", name,
                           bfc_session_server(s));
      return FALSE;
    }
    if (!bfc_version_write(v, buf, (size_t)n, from, error))
      return FALSE;
    from += (uint64_t)n;
  }
  return TRUE;
}

gboolean
bfc_copy_ups_settle(BfcCopyUps *c, BfcSession *s, const char *name,
                    BfcVersion *v, uint64_t upto, GError **error)
{
  uint64_t from = 0, to = 0;
  BfcCopyUp *u;

  /* The copy runs unlocked: a version is written by one writer at a time
   * (its descriptor's), which is what moves the cursor. */
  bf_mutex_lock(&c->lock);
  if ((u = g_hash_table_lookup(c->todo, v)) != NULL) {
    from = u->cursor;
    to = MIN(u->size, upto);
  }
  bf_mutex_unlock(&c->lock);
  if (from >= to)
    return TRUE;
  if (!copy(s, name, v, from, to, error))
    return FALSE;
  update(c, v, to, UINT64_MAX);
  return TRUE;
}

gssize
bfc_copy_ups_read(BfcCopyUps *c, BfcSession *s, const char *name,
                  BfcVersion *v, void *buf, size_t len, uint64_t off,
                  GError **error)
{
  uint64_t upto = len > UINT64_MAX - off ? UINT64_MAX : off + len;

  if (!bfc_copy_ups_settle(c, s, name, v, upto, error))
    return -1;
  return bfc_version_read(v, buf, len, off, error);
}
