/* The index of sessions (sessions.h). Its lock guards the tables and the
 * places reserved; it is never held with a session's lock. */
#include "sessions.h"

#include <errno.h>
#include <string.h>

#include "braidfs/bytes.h"
#include "status.h"

struct BfdSessions {
  BfMutex lock;              /* guards everything below */
  GHashTable *by_name;       /* dir.name -> BfdSession* (a reference) */
  GHashTable *by_id;         /* dir.id -> BfdSession* (by_name's) */
  GHashTable *by_source;     /* dir.source -> sessions and places (a
                                count, as a pointer) */
  unsigned reserved;         /* places taken for new sessions */
};

static void source_add_locked(BfdSessions *x, const char *source, gint n)
  BF_REQUIRES(&x->lock);

/* Sessions of an unknown source (made before sources were recorded) are
 * not counted. */
static void
source_add_locked(BfdSessions *x, const char *source, gint n)
{
  guint now;

  if (source[0] == '\0')
    return;
  now = GPOINTER_TO_UINT(g_hash_table_lookup(x->by_source, source));
  now = (guint)((gint)now + n);
  if (now == 0)
    g_hash_table_remove(x->by_source, source);
  else
    g_hash_table_insert(x->by_source, g_strdup(source), GUINT_TO_POINTER(now));
}

/* Ids are random: their first bytes hash them well. */
static guint
id_hash(gconstpointer key)
{
  return bf_load_be32(key);
}

static gboolean
id_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, BF_ID_LEN) == 0;
}

BfdSessions *
bfd_sessions_new(void)
{
  BfdSessions *x = g_new0(BfdSessions, 1);

  bf_mutex_init(&x->lock);
  x->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify)bfd_session_unref);
  x->by_id = g_hash_table_new(id_hash, id_equal);
  x->by_source = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  return x;
}

void
bfd_sessions_free(BfdSessions *x)
{
  if (x == NULL)
    return;
  g_hash_table_unref(x->by_source);
  g_hash_table_unref(x->by_id);
  g_hash_table_unref(x->by_name);
  bf_mutex_clear(&x->lock);
  g_free(x);
}

static void add_locked(BfdSessions *x, BfdSession *s) BF_REQUIRES(&x->lock);

static void
add_locked(BfdSessions *x, BfdSession *s)
{
  g_hash_table_insert(x->by_name, s->dir.name, bfd_session_ref(s));
  g_hash_table_insert(x->by_id, s->dir.id, s);
  source_add_locked(x, s->dir.source, 1);
}

void
bfd_sessions_add(BfdSessions *x, BfdSession *s)
{
  bf_mutex_lock(&x->lock);
  add_locked(x, s);
  bf_mutex_unlock(&x->lock);
}

static BfdSession *
ref_or_null(BfdSession *s)
{
  return s != NULL ? bfd_session_ref(s) : NULL;
}

BfdSession *
bfd_sessions_by_name(BfdSessions *x, const char *name)
{
  BfdSession *s;

  bf_mutex_lock(&x->lock);
  s = ref_or_null(g_hash_table_lookup(x->by_name, name));
  bf_mutex_unlock(&x->lock);
  return s;
}

BfdSession *
bfd_sessions_by_id(BfdSessions *x, const uint8_t id[BF_ID_LEN])
{
  BfdSession *s;

  bf_mutex_lock(&x->lock);
  s = ref_or_null(g_hash_table_lookup(x->by_id, id));
  bf_mutex_unlock(&x->lock);
  return s;
}

static gint
str_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *
bfd_sessions_names(BfdSessions *x)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  GHashTableIter iter;
  gpointer k;

  bf_mutex_lock(&x->lock);
  g_hash_table_iter_init(&iter, x->by_name);
  while (g_hash_table_iter_next(&iter, &k, NULL))
    g_ptr_array_add(names, g_strdup(k));
  bf_mutex_unlock(&x->lock);
  g_ptr_array_sort(names, str_cmp);
  return names;
}

GPtrArray *
bfd_sessions_list(BfdSessions *x)
{
  GPtrArray *all = g_ptr_array_new_with_free_func(
      (GDestroyNotify)bfd_session_unref);
  GHashTableIter iter;
  gpointer v;

  bf_mutex_lock(&x->lock);
  g_hash_table_iter_init(&iter, x->by_name);
  while (g_hash_table_iter_next(&iter, NULL, &v))
    g_ptr_array_add(all, bfd_session_ref(v));
  bf_mutex_unlock(&x->lock);
  return all;
}

guint
bfd_sessions_count(BfdSessions *x)
{
  guint n;

  bf_mutex_lock(&x->lock);
  n = g_hash_table_size(x->by_name);
  bf_mutex_unlock(&x->lock);
  return n;
}

gboolean
bfd_sessions_reserve(BfdSessions *x, const BfdLimits *l, unsigned connected,
                     const char *source, GError **error)
{
  guint total, mine;
  gboolean ok = FALSE;

  bf_mutex_lock(&x->lock);
  total = g_hash_table_size(x->by_name) + x->reserved;
  mine = GPOINTER_TO_UINT(g_hash_table_lookup(x->by_source, source));
  if (connected + x->reserved >= l->max_sessions)
    g_set_error(error, BFD_ERROR, BF_ST_LIMIT, "too many sessions connected "
                "(max_sessions %u): try again later", l->max_sessions);
  else if (total >= l->max_sessions_total)
    g_set_error(error, BFD_ERROR, BF_ST_LIMIT, "the store holds %u sessions "
                "(max_sessions_total): finished ones must be removed (rmdir "
                "on the server) before a new one is made", total);
  else if (source[0] != '\0' && mine >= l->max_sessions_per_source)
    g_set_error(error, BFD_ERROR, BF_ST_LIMIT, "%u sessions from this address "
                "already (max_sessions_per_source): re-attach to one (the "
                "same spool=, or label=) or remove finished ones", mine);
  else {
    x->reserved++;
    source_add_locked(x, source, 1);
    ok = TRUE;
  }
  bf_mutex_unlock(&x->lock);
  return ok;
}

void
bfd_sessions_unreserve(BfdSessions *x, const char *source)
{
  bf_mutex_lock(&x->lock);
  x->reserved--;
  source_add_locked(x, source, -1);
  bf_mutex_unlock(&x->lock);
}

/* The place's source count becomes the session's. */
void
bfd_sessions_add_reserved(BfdSessions *x, BfdSession *s)
{
  bf_mutex_lock(&x->lock);
  add_locked(x, s);
  source_add_locked(x, s->dir.source, -1);
  x->reserved--;
  bf_mutex_unlock(&x->lock);
}

int
bfd_sessions_remove(BfdSessions *x, BfdSession *s, int store_fd)
{
  int rc = 0;

  bf_mutex_lock(&s->lock);
  if (s->removed)
    rc = -ENOENT;
  else if (bfd_session_connected_locked(s) || s->removing)
    rc = -EBUSY;
  else
    s->removing = TRUE;
  bf_mutex_unlock(&s->lock);
  if (rc != 0)
    return rc;
  /* Its client is gone and its files were consumed (data/ must be
   * empty). */
  rc = bfd_store_remove_session(store_fd, &s->dir);
  bf_mutex_lock(&s->lock);
  s->removing = FALSE;
  s->removed = rc == 0;
  bf_mutex_unlock(&s->lock);
  if (rc == 0) {
    bf_mutex_lock(&x->lock);
    g_hash_table_remove(x->by_id, s->dir.id);
    source_add_locked(x, s->dir.source, -1);
    g_hash_table_remove(x->by_name, s->dir.name);
    bf_mutex_unlock(&x->lock);
  }
  return rc;
}
