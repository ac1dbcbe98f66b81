/* The outbox's tree (tree.h). */
#include "tree.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>

static void node_free(BfcNode *n);

void
bfc_tree_init(BfcTree *t)
{
  bf_mutex_init(&t->lock);
  t->root = bfc_node_new("", TRUE, 0755);
  t->tickets = 0;
  t->settled = 0;
  g_queue_init(&t->unsettled);
  g_cond_init(&t->idle);
}

void
bfc_tree_clear(BfcTree *t)
{
  BfcNode *n;

  while ((n = g_queue_pop_head(&t->unsettled)) != NULL) {
    n->queued = FALSE;
    if (n->dead)
      g_free(n);
  }
  g_clear_pointer(&t->root, node_free);
  g_cond_clear(&t->idle);
  bf_mutex_clear(&t->lock);
}

gboolean
bfc_node_writing(const BfcNode *n)
{
  return n->starting || (n->ver != NULL && !bfc_version_released(n->ver));
}

gboolean
bfc_tree_busy_locked(BfcTree *t, const char *path)
{
  BfcNode *n = bfc_tree_lookup_locked(t, path);

  return n != NULL && bfc_node_writing(n);
}

void
bfc_tree_idle_locked(BfcTree *t)
{
  g_cond_broadcast(&t->idle);
}

void
bfc_tree_await_idle_locked(BfcTree *t, const char *path, gint64 end)
{
  while (bfc_tree_busy_locked(t, path))
    if (!g_cond_wait_until(&t->idle, &t->lock.m, end))
      return;
}

BfcNode *
bfc_node_new(const char *name, gboolean dir, uint32_t mode)
{
  BfcNode *n = g_new0(BfcNode, 1);

  n->name = g_strdup(name);
  n->mode = mode & 07777;
  clock_gettime(CLOCK_REALTIME, &n->mtime);
  if (dir)
    n->children = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)node_free);
  return n;
}

BfcNode *
bfc_node_new_special(const char *name, uint32_t kind, uint32_t mode,
                     const char *target)
{
  BfcNode *n = bfc_node_new(name, FALSE, mode);

  n->kind = kind;
  n->target = g_strdup(target);
  n->on_server = TRUE;
  return n;
}

BfcNode *
bfc_node_new_link(const char *name, const BfcNode *from)
{
  BfcNode *n = bfc_node_new(name, FALSE, from->mode);

  n->mtime = from->mtime;
  n->size = from->size;
  n->digest_alg = from->digest_alg;
  memcpy(n->digest, from->digest, BF_DIGEST_LEN);
  n->unkept = from->unkept;
  n->state = from->state != NULL ? bf_digest_copy(from->state) : NULL;
  n->on_server = TRUE;
  return n;
}

void
bfc_node_make_file(BfcNode *n)
{
  n->kind = 0;
  g_clear_pointer(&n->target, g_free);
}

/* A node still in the unsettled queue keeps its struct until the sweep
 * takes it out (dead); nothing else of it stays. */
static void
node_free(BfcNode *n)
{
  g_clear_pointer(&n->children, g_hash_table_unref);
  g_clear_pointer(&n->ver, bfc_version_unref);
  g_clear_pointer(&n->state, bf_digest_free);
  g_clear_pointer(&n->target, g_free);
  g_clear_pointer(&n->name, g_free);
  if (n->queued)
    n->dead = TRUE;
  else
    g_free(n);
}

/* As on any file system, an entry made or removed changes its directory's
 * mtime: the server's directory changed too, and rsync and tar set a
 * directory's time again only if stat shows it changed. */
static void
touch_dir(BfcNode *dir)
{
  clock_gettime(CLOCK_REALTIME, &dir->mtime);
}

void
bfc_node_attach(BfcNode *parent, BfcNode *child)
{
  touch_dir(parent);
  child->parent = parent;
  g_hash_table_replace(parent->children, child->name, child);
}

void
bfc_node_remove(BfcNode *n)
{
  touch_dir(n->parent);
  g_hash_table_remove(n->parent->children, n->name);
}

void
bfc_node_free(BfcNode *n)
{
  node_free(n);
}

gboolean
bfc_node_settle_locked(BfcTree *t, BfcNode *n)
{
  gboolean delivered;
  uint64_t size;

  (void)t;
  if (n->ver == NULL || !bfc_version_gone(n->ver, &delivered, &size))
    return TRUE;
  /* A version that failed may have met a stored file changed behind
   * this mount's back (STALE): the next append copies it up. */
  g_clear_pointer(&n->state, bf_digest_free);
  n->unkept = FALSE;
  if (delivered) {
    n->size = size;
    if (!bfc_version_digest(n->ver, &n->digest_alg, n->digest))
      n->digest_alg = 0;
    if (n->digest_alg != 0)
      n->state = bfc_version_digest_state(n->ver);
    /* A small file's state would cost more than reading it back once
     * for an append (bfc_node_base_unkept_locked), unless the append is
     * to be taken while no server answers (a spool). */
    if (n->state != NULL && size <= BFC_NODE_STATE_MIN &&
        !bfc_version_spooled(n->ver)) {
      g_clear_pointer(&n->state, bf_digest_free);
      n->unkept = TRUE;
    }
  }
  g_clear_pointer(&n->ver, bfc_version_unref);
  n->on_server = n->on_server || delivered;
  return n->on_server;
}

gboolean
bfc_node_base_locked(BfcTree *t, BfcNode *n, BfcBase *out)
{
  (void)t;
  if (n->ver != NULL || n->state == NULL || n->size == 0)
    return FALSE;
  out->size = n->size;
  out->state = bf_digest_copy(n->state);
  memcpy(out->digest, n->digest, BF_DIGEST_LEN);
  return TRUE;
}

gboolean
bfc_node_base_unkept_locked(BfcTree *t, BfcNode *n, BfcBase *out,
                            uint8_t *alg)
{
  (void)t;
  if (n->ver != NULL || !n->unkept || n->size == 0)
    return FALSE;
  out->size = n->size;
  out->state = NULL;
  memcpy(out->digest, n->digest, BF_DIGEST_LEN);
  *alg = n->digest_alg;
  return TRUE;
}

/* Nodes looked at per sweep: a sweep comes with each new version, so the
 * queue holds about the versions not yet gone, a few times over. */
#define SWEEP_STEP 4
/* Versions settled between two trims. Each file's item, chunks and digest
 * states are freed between the nodes that stay, and glibc keeps such
 * pages unless told (measured: a copy of 10000 small files under
 * delivery=async left some 300 bytes per file that a trim gave back). */
#define TRIM_AFTER 1024

gboolean
bfc_tree_sweep_locked(BfcTree *t)
{
  for (int i = 0; i < SWEEP_STEP && !g_queue_is_empty(&t->unsettled); i++) {
    BfcNode *n = g_queue_pop_head(&t->unsettled);

    n->queued = FALSE;
    if (n->dead) {
      g_free(n);
      continue;
    }
    if (n->ver != NULL && n->parent != NULL && !bfc_node_settle_locked(t, n))
      bfc_node_remove(n);
    else if (n->ver != NULL) {
      n->queued = TRUE;
      g_queue_push_tail(&t->unsettled, n);
      continue;
    }
    t->settled++;
  }
  if (t->settled < TRIM_AFTER)
    return FALSE;
  t->settled = 0;
  return TRUE;
}

void
bfc_tree_trim(void)
{
  malloc_trim(0);
}

guint
bfc_tree_unsettled(BfcTree *t)
{
  guint n;

  bf_mutex_lock(&t->lock);
  n = g_queue_get_length(&t->unsettled);
  bf_mutex_unlock(&t->lock);
  return n;
}

void
bfc_node_set_version_locked(BfcTree *t, BfcNode *n, BfcVersion *v)
{
  bfc_version_unref(n->ver);
  n->ver = bfc_version_ref(v);
  if (!n->queued) {
    n->queued = TRUE;
    g_queue_push_tail(&t->unsettled, n);
  }
}

uint64_t
bfc_node_size_locked(BfcTree *t, BfcNode *n)
{
  (void)t;
  return n->ver != NULL ? bfc_version_size(n->ver) : n->size;
}

BfcNode *
bfc_tree_lookup_locked(BfcTree *t, const char *path)
{
  g_auto(GStrv) parts = g_strsplit(path + 1, "/", -1);
  BfcNode *n = t->root;

  for (char **p = parts; *p && n; p++) {
    if (**p == '\0')
      continue;
    n = n->children ? g_hash_table_lookup(n->children, *p) : NULL;
  }
  if (n != NULL && n->parent != NULL && !bfc_node_settle_locked(t, n)) {
    bfc_node_remove(n);
    n = NULL;
  }
  return n;
}

BfcNode *
bfc_tree_parent_locked(BfcTree *t, const char *path, const char **leaf)
{
  const char *slash = strrchr(path, '/');
  g_autofree char *dir = g_strndup(path, slash - path);
  BfcNode *n = bfc_tree_lookup_locked(t, dir[0] ? dir : "/");

  *leaf = slash + 1;
  return (n && n->children) ? n : NULL;
}

void
bfc_tree_move_locked(BfcTree *t, const char *from, const char *to)
{
  BfcNode *n = bfc_tree_lookup_locked(t, from);
  const char *leaf;
  BfcNode *parent = bfc_tree_parent_locked(t, to, &leaf);

  if (n && parent && n->parent) {
    touch_dir(n->parent);
    g_hash_table_steal(n->parent->children, n->name);
    g_free(n->name);
    n->name = g_strdup(leaf);
    bfc_node_attach(parent, n);
  }
}

int
bfc_tree_name_free(BfcTree *t, const char *path)
{
  const char *leaf;
  BfcNode *parent;
  int rc;

  bf_mutex_lock(&t->lock);
  parent = bfc_tree_parent_locked(t, path, &leaf);
  rc = parent == NULL ? -ENOENT
       : g_hash_table_contains(parent->children, leaf) ? -EEXIST : 0;
  bf_mutex_unlock(&t->lock);
  return rc;
}

void
bfc_tree_attach_new(BfcTree *t, const char *path, BfcNode *n)
{
  const char *leaf;
  BfcNode *parent;

  bf_mutex_lock(&t->lock);
  parent = bfc_tree_parent_locked(t, path, &leaf);
  if (parent && !g_hash_table_contains(parent->children, leaf))
    bfc_node_attach(parent, n);
  else
    node_free(n);
  bf_mutex_unlock(&t->lock);
}

void
bfc_tree_show_locked(BfcTree *t, const char *name, BfcVersion *v)
{
  g_auto(GStrv) parts = g_strsplit(name, "/", -1);
  guint last = g_strv_length(parts) - 1;
  BfcNode *dir = t->root, *n;

  for (guint i = 0; i < last; i++) {
    n = g_hash_table_lookup(dir->children, parts[i]);
    if (n == NULL) {
      n = bfc_node_new(parts[i], TRUE, 0755);
      bfc_node_attach(dir, n);
    }
    if (n->children == NULL)
      return;   /* a file where a directory should be: not shown */
    dir = n;
  }
  n = g_hash_table_lookup(dir->children, parts[last]);
  if (n == NULL) {
    n = bfc_node_new(parts[last], FALSE, 0644);
    bfc_node_attach(dir, n);
  }
  if (n->children == NULL)
    bfc_node_set_version_locked(t, n, v);
}
