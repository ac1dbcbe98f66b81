/* delivery=async's mkdir(2) (async-dirs.h). */
#include "async-dirs.h"

#include "ops.h"
#include "spoolmkdir.h"

typedef struct {
  char *name;
  uint32_t mode;
  uint64_t rec;
} Left;

struct BfcAsyncDirs {
  BfcSession *sess;
  const BfcSpoolDir *d;
  BfcSpoolDirs *ds;
  GArray *left;               /* Left: an earlier mount's, until start */
};

static void
left_clear(gpointer p)
{
  g_free(((Left *)p)->name);
}

static void
found(const char *name, uint32_t mode, uint64_t rec, gpointer user)
{
  Left l = { g_strdup(name), mode, rec };

  g_array_append_val(((BfcAsyncDirs *)user)->left, l);
}

BfcAsyncDirs *
bfc_async_dirs_new(BfcSession *s, const BfcSpoolDir *d, GError **error)
{
  BfcAsyncDirs *ad = g_new0(BfcAsyncDirs, 1);

  ad->sess = s;
  ad->d = d;
  ad->left = g_array_new(FALSE, FALSE, sizeof(Left));
  g_array_set_clear_func(ad->left, left_clear);
  ad->ds = bfc_spool_dirs_open(d, found, ad, error);
  if (ad->ds == NULL) {
    bfc_async_dirs_free(ad);
    return NULL;
  }
  if (ad->left->len > 0)
    bf_log(G_LOG_LEVEL_MESSAGE, BFC_LOG(s, NULL, NULL),
           "spool %s: %u directories from an earlier mount to make", d->path,
           ad->left->len);
  return ad;
}

/* The server's answer: the record goes either way. A refusal is for good
 * (a file of that name is there, the store is full...): the files later
 * written under the name meet the same refusal, and are kept in the
 * spool's failed/ (spool.h). */
static void
answered(gpointer user, uint64_t rec, const char *name, uint8_t status,
         const char *message)
{
  BfcAsyncDirs *ad = user;

  if (status != BF_ST_OK)
    bf_log(G_LOG_LEVEL_WARNING,
           BFC_LOG(ad->sess, bfc_session_server(ad->sess), name),
           "server %s did not make directory '%s': %s",
           bfc_session_server(ad->sess), name,
           message ? message : bf_status_str(status));
  bfc_spool_dirs_done(ad->ds, rec);
}

void
bfc_async_dirs_start(BfcAsyncDirs *ad)
{
  for (guint i = 0; i < ad->left->len; i++) {
    Left *l = &g_array_index(ad->left, Left, i);
    bfc_op_post(ad->sess, BF_OP_MKDIR, l->name, l->mode, answered, ad, l->rec);
  }
  g_array_set_size(ad->left, 0);
}

gboolean
bfc_async_dirs_mkdir(BfcAsyncDirs *ad, const char *name, uint32_t mode,
                     GError **error)
{
  uint64_t rec;

  if (!bfc_spool_dirs_add(ad->ds, name, mode, &rec, error))
    return FALSE;
  bfc_op_post(ad->sess, BF_OP_MKDIR, name, mode, answered, ad, rec);
  return TRUE;
}

unsigned
bfc_async_dirs_pending(BfcAsyncDirs *ad)
{
  return bfc_spool_dirs_live(ad->ds);
}

void
bfc_async_dirs_free(BfcAsyncDirs *ad)
{
  if (ad == NULL)
    return;
  bfc_spool_dirs_free(ad->ds);
  g_array_unref(ad->left);
  g_free(ad);
}
