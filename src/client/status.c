/* The outbox's status directory (status.h). */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "braidfs/log.h"
#include "progress.h"

#define STATUS_DIR "/.braidfs"
#define STATUS_PATHS STATUS_DIR "/paths"
#define STATUS_SPOOL STATUS_DIR "/spool"
#define STATUS_JSON STATUS_DIR "/status.json"
#define STATUS_METRICS STATUS_DIR "/metrics"
#define STATUS_EVENTS STATUS_DIR "/events"

/* A handle's snapshot of a status file's text. */
typedef struct {
  char *text;
  size_t len;
} StatusFile;

void
bfc_status_init(BfcStatusDir *sd, BfcSession *s, BfcDelivery *d,
                BfcTree *tree)
{
  g_autofree char *spool = bfc_delivery_describe(d);

  sd->sess = s;
  sd->delivery = d;
  sd->tree = tree;
  sd->spool = spool != NULL;
  sd->uid = getuid();
  sd->gid = getgid();
}

gboolean
bfc_status_is(const char *path)
{
  return g_str_has_prefix(path, STATUS_DIR) &&
         (path[sizeof STATUS_DIR - 1] == '\0' || path[sizeof STATUS_DIR - 1] == '/');
}

gboolean
bfc_status_reserved(const char *path)
{
  return bfc_status_is(path) || strcmp(path, "/.session") == 0;
}

/* The log's kept events (log.h), one line each, oldest first. */
static char *
events_text(void)
{
  g_autoptr(GPtrArray) events = bf_log_events(0);
  GString *out = g_string_new(NULL);

  for (guint i = 0; i < events->len; i++) {
    g_autofree char *line = bf_log_event_format(events->pdata[i]);
    g_string_append_printf(out, "%s\n", line);
  }
  return g_string_free(out, FALSE);
}

/* The text of a status file, or NULL if there is none by that name. */
static char *
status_text(const BfcStatusDir *sd, const char *path)
{
  if (strcmp(path, STATUS_PATHS) == 0)
    return bfc_session_describe_paths(sd->sess);
  if (strcmp(path, STATUS_SPOOL) == 0 && sd->spool)
    return bfc_delivery_describe(sd->delivery);
  if (strcmp(path, STATUS_JSON) == 0)
    return bfc_progress_json(sd->sess, sd->delivery, sd->tree);
  if (strcmp(path, STATUS_METRICS) == 0)
    return bfc_progress_metrics(sd->sess, sd->delivery);
  if (strcmp(path, STATUS_EVENTS) == 0)
    return events_text();
  return NULL;
}

int
bfc_status_getattr(const BfcStatusDir *sd, const char *path, struct stat *st)
{
  memset(st, 0, sizeof *st);
  st->st_uid = sd->uid;
  st->st_gid = sd->gid;
  clock_gettime(CLOCK_REALTIME, &st->st_mtim);
  st->st_ctim = st->st_atim = st->st_mtim;
  if (strcmp(path, STATUS_DIR) == 0) {
    st->st_mode = S_IFDIR | 0500;   /* the mounting user's only (README) */
    st->st_nlink = 2;
    return 0;
  }
  g_autofree char *text = status_text(sd, path);
  if (text == NULL)
    return -ENOENT;
  /* Size 0, as /proc's files: each open takes its own snapshot, whose
   * length a size from an earlier one would cut (a reader that trusts
   * st_size, such as g_file_get_contents, read a truncated status.json).
   * Reads go to the end of the snapshot (direct_io). */
  st->st_mode = S_IFREG | 0400;
  st->st_nlink = 1;
  st->st_size = 0;
  return 0;
}

int
bfc_status_readdir(const BfcStatusDir *sd, const char *path, void *buf,
                   fuse_fill_dir_t fill)
{
  if (strcmp(path, STATUS_DIR) != 0)
    return -ENOTDIR;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  fill(buf, "paths", NULL, 0, 0);
  fill(buf, "status.json", NULL, 0, 0);
  fill(buf, "metrics", NULL, 0, 0);
  fill(buf, "events", NULL, 0, 0);
  if (sd->spool)
    fill(buf, "spool", NULL, 0, 0);
  return 0;
}

int
bfc_status_open(const BfcStatusDir *sd, const char *path,
                struct fuse_file_info *fi)
{
  StatusFile *sf;
  char *text = status_text(sd, path);

  if (text == NULL)
    return strcmp(path, STATUS_DIR) == 0 ? -EISDIR : -ENOENT;
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    g_free(text);
    return -EACCES;
  }
  sf = g_new0(StatusFile, 1);
  sf->text = text;
  sf->len = strlen(sf->text);
  fi->fh = (uint64_t)(uintptr_t)sf;
  fi->direct_io = 1;
  return 0;
}

int
bfc_status_read(struct fuse_file_info *fi, char *buf, size_t size, off_t off)
{
  StatusFile *sf = (StatusFile *)(uintptr_t)fi->fh;

  if ((size_t)off >= sf->len)
    return 0;
  size = MIN(size, sf->len - (size_t)off);
  memcpy(buf, sf->text + off, size);
  return (int)size;
}

void
bfc_status_release(struct fuse_file_info *fi)
{
  StatusFile *sf = (StatusFile *)(uintptr_t)fi->fh;

  g_free(sf->text);
  g_free(sf);
}
