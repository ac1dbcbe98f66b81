/* Opening for reading (reader.h). */
#include "reader.h"

#include <errno.h>
#include <string.h>

#include "readback.h"
#include "session.h"

/* What a reader of the stored file checks it against: the digest of the
 * version this mount delivered (alg 0: none known) and its size. */
typedef struct {
  uint8_t alg;
  uint8_t digest[BF_DIGEST_LEN];
  uint64_t size;
} Expected;

/* Whether path can be read back: 0, -errno, or 1 when a version of it is
 * still on its way (to wait for). *local (if asked) is given a version
 * being written that keeps a local copy, which is read instead; else *want
 * (if asked) what the stored file should be. */
static int
readable(BfcTree *t, const char *path, BfcVersion **local, Expected *want)
{
  BfcNode *n;
  int rc;

  bf_mutex_lock(&t->lock);
  n = bfc_tree_lookup_locked(t, path);
  rc = n == NULL ? -ENOENT : n->children ? -EISDIR : n->kind ? -ENXIO
       : bfc_node_writing(n) ? -EBUSY
       : n->ver != NULL ? 1 : 0;
  /* A read of nothing asks only whether the version has a copy (takes no
   * lock but the delivery's). */
  if (rc == -EBUSY && local != NULL && !n->starting &&
      bfc_version_read(n->ver, NULL, 0, 0, NULL) == 0) {
    *local = bfc_version_ref(n->ver);
    rc = 0;
  } else if (rc == 0 && want != NULL) {
    want->alg = n->digest_alg;
    memcpy(want->digest, n->digest, BF_DIGEST_LEN);
    want->size = n->size;
  }
  bf_mutex_unlock(&t->lock);
  return rc;
}

static int
open_checked(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path,
             BfcVersion **local, Expected *want)
{
  GError *error = NULL;
  int rc;

  if (bfc_session_config(s)->coding.kind == BF_CODING_SHAMIR) {
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, NULL, path + 1), "'%s': not read "
           "back under coding=shamir, whose files never travel whole on one "
           "path (EACCES)", path + 1);
    return -EACCES;
  }
  rc = readable(t, path, local, want);
  if (rc == 1 && !bfc_delivery_wait_prefix(d, path + 1, &error)) {
    rc = -bfc_error_errno(error);
    g_clear_error(&error);
    return rc;
  }
  if (rc == 1)
    rc = readable(t, path, local, want);
  return rc == 1 ? -EBUSY : rc;
}

int
bfc_reader_open(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path)
{
  return open_checked(t, s, d, path, NULL, NULL);
}

#define COPY_STEP (1024u * 1024)

/* The digest (unfinished, of algorithm alg) of the stored file's first
 * keep bytes, read back, or NULL with error. */
static BfDigest *
hash_stored(BfcSession *s, const char *name, uint64_t keep, uint8_t alg,
            GError **error)
{
  g_autofree uint8_t *buf = g_malloc(COPY_STEP);
  g_autoptr(BfDigest) d = bf_digest_new(alg);

  for (uint64_t off = 0; off < keep;) {
    gssize n = bfc_readback(s, name, buf, (size_t)MIN((uint64_t)COPY_STEP,
                                                       keep - off), off, error);
    if (n <= 0) {
      if (n == 0)
        bfc_set_status_error(error, BF_ST_IO, "'%s' on server %s is shorter "
                             "than it was delivered", name,
                             bfc_session_server(s));
      return NULL;
    }
    bf_digest_update(d, buf, (size_t)n);
    off += (uint64_t)n;
  }
  return g_steal_pointer(&d);
}

int
bfc_reader_open_copy(BfcTree *t, BfcSession *s, BfcDelivery *d,
                     const char *path, uint64_t upto, gboolean append,
                     uint64_t cut_at, uint64_t *size, BfcBase *base)
{
  g_autoptr(GError) error = NULL;
  int rc = bfc_reader_open(t, s, d, path);
  gboolean known = FALSE, unkept = FALSE;
  uint8_t alg = 0;
  BfDigest *kept;

  if (rc < 0)
    return rc;
  bf_mutex_lock(&t->lock);
  BfcNode *n = bfc_tree_lookup_locked(t, path);
  uint64_t stored = n ? bfc_node_size_locked(t, n) : 0;
  *size = MIN(upto, stored);
  if (!append && !bfc_delivery_cuts(d))
    cut_at = UINT64_MAX;   /* the copy up reads it all anyway */
  if ((append || cut_at < stored) && n != NULL) {
    known = bfc_node_base_locked(t, n, base);
    unkept = !known && bfc_node_base_unkept_locked(t, n, base, &alg);
  }
  bf_mutex_unlock(&t->lock);
  if (known)
    alg = bf_digest_alg(base->state);
  if ((append && known) || (!known && !unkept))
    return 0;
  /* Read back once, to hash them, and not sent again: a cut's kept bytes,
   * or the whole of a small file appended to, whose state the tree did not
   * keep (tree.h). If that fails, the copy up reads them (and says why). */
  if ((kept = hash_stored(s, path + 1, append ? base->size : cut_at, alg,
                          &error)) == NULL) {
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, NULL, path + 1), "'%s': %s; "
           "copying it up whole", path + 1, error->message);
    g_clear_pointer(&base->state, bf_digest_free);
    return 0;
  }
  bf_digest_free(base->state);
  base->state = kept;
  base->cut = !append;
  base->keep = append ? 0 : cut_at;
  return 0;
}

/* Pieces read past the bytes hashed so far wait, copied, up to this; a
 * reader that jumps further is not checked as a whole (each piece still
 * is, by its CRC32C). The kernel's readahead asks a few hundred KiB ahead,
 * and not always in order. */
#define AHEAD_MAX (8u * 1024 * 1024)

struct BfcReader {
  BfcVersion *local;          /* read instead of the server, or NULL */
  Expected want;
  BfMutex lock;               /* the fields below, never across I/O */
  BfDigest *digest;           /* of [0, next) of the stored file; NULL once
                                 the check is over or given up */
  uint64_t next;
  GTree *ahead;               /* offset -> GBytes read past next */
  size_t ahead_bytes;
  gboolean corrupt;           /* the file is not the version delivered */
  gboolean told;              /* ... and the log said so */
};

static gint
cmp_off(gconstpointer a, gconstpointer b, gpointer data)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

  (void)data;
  return x < y ? -1 : x > y;
}

int
bfc_reader_new(BfcTree *t, BfcSession *s, BfcDelivery *d, const char *path,
               BfcReader **out)
{
  BfcVersion *local = NULL;
  Expected want = { 0 };
  int rc = open_checked(t, s, d, path, &local, &want);
  BfcReader *r;

  *out = NULL;
  if (rc < 0)
    return rc;
  r = g_new0(BfcReader, 1);
  r->local = local;
  r->want = want;
  bf_mutex_init(&r->lock);
  r->ahead = g_tree_new_full(cmp_off, NULL, g_free,
                             (GDestroyNotify)g_bytes_unref);
  if (local == NULL && want.alg != 0)
    r->digest = bf_digest_new(want.alg);
  *out = r;
  return 0;
}

static void
stop_check_locked(BfcReader *r) BF_REQUIRES(&r->lock)
{
  g_clear_pointer(&r->digest, bf_digest_free);
  g_tree_remove_all(r->ahead);
  r->ahead_bytes = 0;
}

/* Hashes what of [off, off + n) lies past next. */
static void
feed_locked(BfcReader *r, const uint8_t *p, size_t n, uint64_t off)
  BF_REQUIRES(&r->lock)
{
  if (off + n <= r->next || off > r->next)
    return;
  bf_digest_update(r->digest, p + (r->next - off),
                   (size_t)(off + n - r->next));
  r->next = off + n;
}

/* Takes a piece read at off (n bytes of len asked) into the check. */
static void
check_locked(BfcReader *r, const uint8_t *p, size_t n, size_t len,
             uint64_t off) BF_REQUIRES(&r->lock)
{
  uint8_t got[BF_DIGEST_LEN];

  if (n < len && off + n < r->want.size)
    r->corrupt = TRUE;          /* shorter than the version delivered */
  else if (off > r->next && r->ahead_bytes + n > AHEAD_MAX)
    stop_check_locked(r);
  else if (off > r->next && g_tree_lookup(r->ahead, &off) == NULL) {
    uint64_t *key = g_memdup2(&off, sizeof off);

    g_tree_insert(r->ahead, key, g_bytes_new(p, n));
    r->ahead_bytes += n;
  } else if (off <= r->next) {
    GTreeNode *first;

    feed_locked(r, p, n, off);
    while ((first = g_tree_node_first(r->ahead)) != NULL) {
      uint64_t at = *(uint64_t *)g_tree_node_key(first);
      size_t bn;
      const uint8_t *bp = g_bytes_get_data(g_tree_node_value(first), &bn);

      if (at > r->next)
        break;
      feed_locked(r, bp, bn, at);
      r->ahead_bytes -= bn;
      g_tree_remove(r->ahead, &at);
    }
  }
  if (r->digest != NULL && !r->corrupt && r->next >= r->want.size) {
    bf_digest_final(r->digest, got);
    r->corrupt = r->next != r->want.size ||
                 memcmp(got, r->want.digest, BF_DIGEST_LEN) != 0;
    stop_check_locked(r);
  }
}

gssize
bfc_reader_read(BfcReader *r, BfcSession *s, const char *name, void *buf,
                size_t len, uint64_t off, GError **error)
{
  gssize n;
  gboolean corrupt, tell;

  if (r->local != NULL)
    return bfc_version_read(r->local, buf, len, off, error);
  n = bfc_readback(s, name, buf, len, off, error);
  if (n < 0)
    return -1;
  bf_mutex_lock(&r->lock);
  if (r->digest != NULL)
    check_locked(r, buf, (size_t)n, len, off);
  corrupt = r->corrupt;
  tell = corrupt && !r->told;
  r->told = r->told || corrupt;
  bf_mutex_unlock(&r->lock);
  if (tell)
    bf_log(G_LOG_LEVEL_WARNING, BFC_LOG(s, s->server, name), "'%s' read back "
           "from server %s is not the version this mount delivered (its "
           "digest or size differs): changed on the server, or damaged "
           "there (EIO)", name, s->server);
  if (corrupt) {
    bfc_set_status_error(error, BF_ST_CORRUPT, "'%s' on server %s is not "
                         "the version delivered", name, s->server);
    return -1;
  }
  return n;
}

void
bfc_reader_free(BfcReader *r)
{
  if (r->local != NULL)
    bfc_version_unref(r->local);
  bf_digest_free(r->digest);
  g_tree_unref(r->ahead);
  bf_mutex_clear(&r->lock);
  g_free(r);
}

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
