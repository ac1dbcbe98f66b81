/* Recovery of the spool at mount (spool.h, bfc_spool_recover): every
 * committed file, by its own header slots or by its record in the log. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/io.h"
#include "spoolint.h"

/* A version 2 file (one header, bytes at HDR_V2_SIZE), checked: copied
 * into a new file with this version's header, synced, before the old one
 * goes. */
static int
convert_v2(BfcSpoolFile *f)
{
  g_autofree char *old = bfc_spool_seq_name(f->seq);
  uint64_t seq;
  int fd, rc;

  if ((rc = bfc_spool_take_file(f->sp, &seq, &fd)) < 0)
    return rc;
  if ((rc = bfc_spool_copy_bytes(f->fd, HDR_V2_SIZE, fd, f->size)) < 0) {
    close(fd);
    bfc_spool_unlink_seq(f->sp, seq);
    return rc;
  }
  close(f->fd);
  f->fd = fd;
  f->seq = seq;
  f->synced_slot = 1;
  bf_mutex_lock(&f->lock);
  rc = bfc_spool_sync_header_locked(f);
  bf_mutex_unlock(&f->lock);
  if (rc < 0) {
    bfc_spool_unlink_seq(f->sp, seq);
    return rc;
  }
  unlinkat(f->sp->d.items_fd, old, 0);
  return 0;
}

/* The newest committed version in f's own file (spoolfmt.h), one of
 * version 2 rewritten in this version's form. */
static Found
pick(BfcSpoolFile *f, int *err)
{
  gboolean v2 = FALSE;
  Found found = bfc_spool_pick_slot(&f->sp->d, f, &v2, err);

  if (found == FOUND_OK && v2 && (*err = -convert_v2(f)) != 0)
    return FOUND_UNKNOWN;
  return found;
}

/* The file items/fname: committed (f, its descriptor parked), or NULL;
 * *found says why not. */
static BfcSpoolFile *
recover_one(BfcSpool *sp, const char *fname, uint64_t seq, Found *found,
            int *err)
{
  BfcSpoolFile *f = bfc_spool_file_alloc(sp);

  f->seq = seq;
  f->fd = bfc_spool_open_file(sp->d.items_fd, fname, O_RDWR, 0);
  *err = errno;
  *found = f->fd < 0 ? FOUND_UNKNOWN : pick(f, err);
  if (*found != FOUND_OK) {
    bfc_spool_file_free(f);
    return NULL;
  }
  f->committed = TRUE;
  /* Bytes past the committed size were appended after the last close(2). */
  f->length = bfc_spool_bytes_on_disk(f->fd, HDR_SIZE);
  f->dirty = f->length > f->size;
  bfc_spool_file_revert(f);
  f->length = f->size;
  bfc_spool_file_park(f);
  return f;
}

static gint
by_seq(gconstpointer a, gconstpointer b)
{
  const BfcSpoolFile *x = *(BfcSpoolFile *const *)a;
  const BfcSpoolFile *y = *(BfcSpoolFile *const *)b;

  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Recovery's view of the log (spoollog.h): the files whose committed
 * version is a record of it (seq -> file), and the seqs whose record could
 * not be checked now (seq -> NULL), which stay as they are. */
typedef struct {
  BfcSpool *sp;
  GHashTable *held;
  GError *error;              /* the first file that could not be read */
} Replay;

/* items/fname could not be checked now (err): the mount does not go on. */
static void
cannot_check(BfcSpool *sp, const char *fname, int err, GError **error)
{
  if (error != NULL && *error == NULL)
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "spool %s: cannot check %s/items/%s: %s", sp->d.path,
                sp->d.path, fname, g_strerror(err));
}

/* A record's bytes, lost from its file (a power cut), written again with
 * the record's header, synced. */
static int
restore(BfcSpoolFile *f, const uint8_t *data, size_t len)
{
  int rc = bf_pwrite_all(f->fd, data, len, HDR_SIZE);

  if (rc == 0 && ftruncate(f->fd, (off_t)(HDR_SIZE + len)) < 0)
    rc = -errno;
  bf_mutex_lock(&f->lock);
  if (rc == 0)
    rc = bfc_spool_sync_header_locked(f);
  bf_mutex_unlock(&f->lock);
  return rc;
}

/* A record whose file has no file of its own (a version 2 record's: the
 * usual case) is the file, committed as the record says, its bytes read
 * from the record. */
static void
from_record(BfcSpoolFile *f, BfcSpoolFile *c, const BfcSpoolLogEntry *e)
{
  bfc_spool_take_fields(f, c);
  f->nofile = TRUE;
  f->committed = TRUE;
  f->length = f->size;
  if (e->item_id != 0)   /* noted after the record was written */
    f->item_id = e->item_id;
  f->rec = e->rec;
  f->rec_seq = e->seq;
}

/* Are the record's bytes those its header c describes (size and digest)? */
static gboolean
record_proves(const BfcSpoolFile *c, const BfcSpoolLogEntry *e)
{
  uint8_t digest[BF_DIGEST_LEN];

  if (c->size != e->len)
    return FALSE;
  bfc_spool_digest_buf(e->data, e->len, c->alg, digest);
  return sodium_memcmp(digest, c->digest, BF_DIGEST_LEN) == 0;
}

/* A record whose file has no header of its own: the file is committed as
 * the record says; its bytes are read where they are (writing nothing, so
 * a stalled disk holds up no mount), or restored when they were lost. */
static gboolean
replay_record(const BfcSpoolLogEntry *e, gpointer user)
{
  Replay *r = user;
  BfcSpool *sp = r->sp;
  uint64_t seq = e->seq;
  size_t len = e->len;
  g_autofree char *fname = bfc_spool_seq_name(seq);
  BfcSpoolFile *f = bfc_spool_file_alloc(sp), *c = bfc_spool_file_alloc(sp);
  uint8_t digest[BF_DIGEST_LEN];
  gboolean needed = FALSE, lost;
  Found found;
  int err = 0;

  /* A kept log's old seqs must not name new files. */
  bf_mutex_lock(&sp->lock);
  sp->next_seq = MAX(sp->next_seq, seq + 1);
  bf_mutex_unlock(&sp->lock);
  if (e->dead)
    goto out;
  c->seq = f->seq = seq;
  if (bfc_spool_hdr_decode(&sp->d, e->hdr, e->hlen, c) != HDR_OK ||
      !record_proves(c, e) ||
      g_hash_table_contains(r->held, GSIZE_TO_POINTER(seq)))
    goto out;   /* torn: its close(2) never returned */
  f->fd = bfc_spool_open_file(sp->d.items_fd, fname, O_RDWR, 0);
  if (f->fd < 0 && errno == ENOENT && !e->rec.v1) {
    from_record(f, c, e);
    g_hash_table_insert(r->held, GSIZE_TO_POINTER(seq), g_steal_pointer(&f));
    needed = TRUE;
    goto out;
  }
  if (f->fd < 0) {
    err = errno;
    needed = err != ENOENT;   /* (version 1) gone: delivered or removed */
    goto unknown;
  }
  found = pick(f, &err);
  if (found == FOUND_OK)
    goto out;   /* its own header is newer */
  lost = bfc_spool_bytes_on_disk(f->fd, HDR_SIZE) < len;
  if (found == FOUND_UNKNOWN ||
      (!lost && (err = -bfc_spool_digest(f->fd, HDR_SIZE, len, c->alg, digest)) != 0)) {
    needed = TRUE;
    goto unknown;
  }
  bfc_spool_take_fields(f, c);
  f->synced_slot = 1;
  f->committed = TRUE;
  lost = lost || sodium_memcmp(digest, f->digest, BF_DIGEST_LEN) != 0;
  if (lost && (err = -restore(f, e->data, len)) != 0) {
    g_warning("spool %s: cannot rebuild items/%s from its log: %s",
              sp->d.path, fname, g_strerror(err));
    needed = TRUE;
    goto unknown;
  }
  if (!lost) {   /* the record stays its only durable copy */
    f->rec = e->rec;
    f->rec_seq = seq;
    needed = TRUE;
  }
  f->length = bfc_spool_bytes_on_disk(f->fd, HDR_SIZE);
  f->dirty = f->length > f->size;
  bfc_spool_file_revert(f);
  f->length = f->size;
  bfc_spool_file_park(f);
  g_hash_table_insert(r->held, GSIZE_TO_POINTER(seq), g_steal_pointer(&f));
  goto out;
unknown:
  if (needed) {
    g_hash_table_insert(r->held, GSIZE_TO_POINTER(seq), NULL);
    cannot_check(sp, fname, err ? err : EIO, &r->error);
  }
out:
  bfc_spool_file_free(c);
  bfc_spool_file_free(f);
  return needed;
}

/* What recovery found so far (out, and held's files not yet in out),
 * dropped: nothing of it on disk changes. */
static GPtrArray *
recover_fail(GPtrArray *out, GHashTable *held)
{
  GHashTableIter it;
  gpointer rf;

  g_hash_table_iter_init(&it, held);
  while (g_hash_table_iter_next(&it, NULL, &rf))
    bfc_spool_file_free(rf);
  g_ptr_array_set_free_func(out, (GDestroyNotify)bfc_spool_file_free);
  g_ptr_array_unref(out);
  return NULL;
}

GPtrArray *
bfc_spool_recover(BfcSpool *sp, GError **error)
{
  g_autoptr(GPtrArray) names = NULL;
  GPtrArray *out = g_ptr_array_new();
  BfcSpoolFile *f;
  g_autoptr(GHashTable) held = g_hash_table_new(NULL, NULL);
  Replay r = { .sp = sp, .held = held };
  gpointer rf;
  uint64_t seq;

  if (!bfc_spool_log_replay(sp->log, replay_record, &r, error) ||
      (names = bfc_spool_names(&sp->d, sp->d.items_fd, "items", error)) == NULL) {
    g_clear_error(&r.error);
    return recover_fail(out, held);
  }
  if (r.error != NULL) {
    g_propagate_error(error, r.error);
    return recover_fail(out, held);
  }
  for (guint i = 0; i < names->len; i++) {
    const char *name = names->pdata[i];
    Found found = FOUND_NOTHING;
    struct stat st;
    int err = EAGAIN;
    if (bfc_spool_log_is_segment(name))
      continue;
    gboolean is_item = bfc_spool_parse_seq(name, &seq);
    if (is_item && (f = g_hash_table_lookup(held, GSIZE_TO_POINTER(seq)))) {
      g_hash_table_remove(held, GSIZE_TO_POINTER(seq));   /* by its record */
      found = FOUND_OK;
    } else {
      f = is_item ? recover_one(sp, name, seq, &found, &err) : NULL;
    }
    if (f != NULL) {
      g_ptr_array_add(out, f);
      continue;
    }
    if (found == FOUND_UNKNOWN && err == ENOENT)
      continue;   /* gone since it was listed */
    if (found == FOUND_UNKNOWN) {
      cannot_check(sp, name, err, error);
      return recover_fail(out, held);
    }
    if (found == FOUND_FORGED) {
      /* Kept for a human to look at, never delivered. */
      g_warning("spool %s: items/%s does not authenticate with the spool's "
                "key (written by an older braidfs, or by someone else): not "
                "delivered; moved to failed/", sp->d.path, name);
      if (renameat(sp->d.items_fd, name, sp->d.failed_fd, name) == 0)
        continue;
      g_warning("spool %s: cannot move items/%s to failed/: %s", sp->d.path,
                name, g_strerror(errno));
    }
    /* Empty ones were made ahead and never used. */
    if (fstatat(sp->d.items_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > 0)
      g_message("spool %s: removing items/%s: no close(2) succeeded for "
                "these bytes, so nothing was promised for them", sp->d.path, name);
    unlinkat(sp->d.items_fd, name, 0);
  }
  /* Files served from their records, which have no name in items/. */
  GHashTableIter it;
  g_hash_table_iter_init(&it, held);
  while (g_hash_table_iter_next(&it, NULL, &rf))
    if (rf != NULL && ((BfcSpoolFile *)rf)->nofile)
      g_ptr_array_add(out, rf);
  /* The slots taken may have been written but not synced (note_id), and
   * the next header goes to the other slot; files whose log record is not
   * needed may have their own header unsynced too. */
  if (syncfs(sp->d.items_fd) < 0)
    g_warning("spool %s: cannot sync it after recovery: %s", sp->d.path,
              g_strerror(errno));
  else
    bfc_spool_log_prune(sp->log);   /* its records are in the files now */
  g_ptr_array_sort(out, by_seq);
  return out;
}
