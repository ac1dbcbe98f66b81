/* Sessions other servers own, read from the store (others.h). */
#include "others.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/io.h"
#include "braidfs/parse.h"
#include "owner.h"

/* A session's directory once its session file is in place (the last step
 * of bfd_store_create_session before its owner takes it): one being made
 * is not a session yet, and is not shown half made. One that its server
 * would skip (a link, or others may write it: store.h) is not shown
 * either, and costs no log line at each ls. */
static gboolean
is_session_dir(int store_fd, const char *name)
{
  g_autofree char *file = g_build_filename(name, "session", NULL);
  struct stat st;

  return name[0] != '.' && name[0] != '\0' && strchr(name, '/') == NULL &&
         fstatat(store_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 &&
         fstatat(store_fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

static gboolean
keep_session_dir(int store_fd, const char *name, gpointer data)
{
  (void)data;
  return is_session_dir(store_fd, name);
}

GPtrArray *
bfd_others_names(int store_fd)
{
  GPtrArray *names;

  /* A store that cannot be read now shows only this server's sessions
   * (the caller adds them); the next ls reads it again. */
  if (bf_dir_names(store_fd, keep_session_dir, NULL, &names) < 0)
    return g_ptr_array_new_with_free_func(g_free);
  return names;
}

BfdSessionDir *
bfd_others_open(int store_fd, const char *store_path, const char *name)
{
  if (!is_session_dir(store_fd, name))
    return NULL;
  return bfd_store_session_load(store_fd, store_path, name, NULL);
}

char *
bfd_others_describe(const BfdSessionDir *d)
{
  g_autofree char *id = bf_hex(d->id, BF_ID_LEN);
  g_autofree char *owner = bfd_owner_describe(d->dir_fd);
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(d->started);
  g_autofree char *started = dt ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ")
                                : g_strdup("?");
  GString *out = g_string_new(NULL);
  uint64_t files, bytes;

  /* Its counters are its owner's, in memory there: only what the store
   * holds is known here. */
  bfd_store_count_data(d, &files, &bytes);
  g_string_append_printf(out, "id: %s\nlabel: %s\n", id, d->label);
  if (d->client[0] != '\0')
    g_string_append_printf(out, "client: %s\n", d->client);
  g_string_append_printf(out, "items: %" G_GUINT64_FORMAT "\nbytes: %"
                         G_GUINT64_FORMAT "\nstarted: %s\nstate: elsewhere\n"
                         "owner: %s\n", files, bytes, started, owner);
  return g_string_free(out, FALSE);
}
