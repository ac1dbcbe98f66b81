/* The client keys' directory (clientkeys.h). */
#include "clientkeys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/log.h"
#include "braidfs/wire.h"
#include "status.h"

struct BfdClientKeys {
  char *dir;
  BfMutex lock;               /* guards the fields below */
  GPtrArray *keys;            /* BfdClientKey*, by name */
  struct timespec stamp;      /* the directory's mtime when read */
  ino_t ino;
};

BfdClientKey *
bfd_client_key_ref(BfdClientKey *k)
{
  g_atomic_int_inc(&k->refs);
  return k;
}

void
bfd_client_key_unref(BfdClientKey *k)
{
  if (k == NULL || !g_atomic_int_dec_and_test(&k->refs))
    return;
  bf_key_free(k->key);
  g_free(k->name);
  g_free(k);
}

gboolean
bfd_client_name_ok(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > BFD_CLIENT_NAME_MAX || name[0] == '.')
    return FALSE;
  for (size_t i = 0; i < n; i++)
    if (!g_ascii_isalnum(name[i]) && name[i] != '.' && name[i] != '_' &&
        name[i] != '-')
      return FALSE;
  return TRUE;
}

/* Whoever may write the directory may add a client. */
static gboolean
check_dir(int fd, const char *dir, struct stat *st, GError **error)
{
  if (fstat(fd, st) != 0)
    return bfd_set_error_errno(error, errno, "client_keys %s", dir);
  if (st->st_uid != geteuid() && st->st_uid != 0) {
    g_set_error(error, BFD_ERROR, BF_ST_AUTH, "client_keys %s belongs to uid "
                "%u, not to braidfsd's user (uid %u) nor to root: chown it",
                dir, (unsigned)st->st_uid, (unsigned)geteuid());
    return FALSE;
  }
  if (st->st_mode & (S_IWGRP | S_IWOTH)) {
    g_set_error(error, BFD_ERROR, BF_ST_AUTH, "client_keys %s is writable by "
                "group or others (mode %04o): anyone could add a client; run "
                "chmod 700 %s", dir, (unsigned)(st->st_mode & 07777), dir);
    return FALSE;
  }
  return TRUE;
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
  return strcmp((*(BfdClientKey *const *)a)->name,
                (*(BfdClientKey *const *)b)->name);
}

/* Every key of the directory. strict: a file that does not load fails the
 * whole (start-up); else it is left out, logged (a reload). */
static GPtrArray *
read_dir(const char *dir, gboolean strict, struct stat *st, GError **error)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr(GPtrArray) keys =
    g_ptr_array_new_with_free_func((GDestroyNotify)bfd_client_key_unref);
  DIR *d;
  struct dirent *de;

  if (fd < 0) {
    bfd_set_error_errno(error, errno, "client_keys %s", dir);
    return NULL;
  }
  if (!check_dir(fd, dir, st, error) || (d = fdopendir(fd)) == NULL) {
    close(fd);
    return NULL;
  }
  while ((de = readdir(d)) != NULL) {
    g_autoptr(GError) why = NULL;
    if (de->d_name[0] == '.')
      continue;
    if (!bfd_client_name_ok(de->d_name)) {
      bf_log(G_LOG_LEVEL_WARNING, NULL, "client_keys %s: skipping '%s': a "
             "client's name is 1 to %d letters, digits, '.', '_' or '-'",
             dir, de->d_name, BFD_CLIENT_NAME_MAX);
      continue;
    }
    g_autofree char *path = g_build_filename(dir, de->d_name, NULL);
    BfKey *key = bf_key_load(path, &why);
    if (key == NULL && strict) {
      g_propagate_error(error, g_steal_pointer(&why));
      closedir(d);
      return NULL;
    }
    if (key == NULL) {
      bf_log(G_LOG_LEVEL_WARNING, NULL, "client_keys: client '%s' left out: "
             "%s", de->d_name, why->message);
      continue;
    }
    BfdClientKey *k = g_new0(BfdClientKey, 1);
    k->refs = 1;
    k->name = g_strdup(de->d_name);
    k->key = key;
    g_ptr_array_add(keys, k);
  }
  closedir(d);
  g_ptr_array_sort(keys, by_name);
  return g_steal_pointer(&keys);
}

BfdClientKeys *
bfd_client_keys_open(const char *dir, GError **error)
{
  struct stat st;
  GPtrArray *keys = read_dir(dir, TRUE, &st, error);

  if (keys == NULL)
    return NULL;
  BfdClientKeys *ck = g_new0(BfdClientKeys, 1);
  ck->dir = g_strdup(dir);
  bf_mutex_init(&ck->lock);
  ck->keys = keys;
  ck->stamp = st.st_mtim;
  ck->ino = st.st_ino;
  if (keys->len == 0)
    g_warning("client_keys %s holds no key: every client is refused until "
              "one is added (braidfs keygen %s/NAME)", dir, dir);
  return ck;
}

void
bfd_client_keys_free(BfdClientKeys *ck)
{
  if (ck == NULL)
    return;
  g_ptr_array_unref(ck->keys);
  bf_mutex_clear(&ck->lock);
  g_free(ck->dir);
  g_free(ck);
}

static GPtrArray *
copy_locked(BfdClientKeys *ck) BF_REQUIRES(&ck->lock)
{
  GPtrArray *out = g_ptr_array_new_full(ck->keys->len,
                                        (GDestroyNotify)bfd_client_key_unref);

  for (guint i = 0; i < ck->keys->len; i++)
    g_ptr_array_add(out, bfd_client_key_ref(ck->keys->pdata[i]));
  return out;
}

GPtrArray *
bfd_client_keys_current(BfdClientKeys *ck)
{
  g_autoptr(GError) error = NULL;
  struct stat st;
  gboolean same;

  if (stat(ck->dir, &st) == 0) {
    bf_mutex_lock(&ck->lock);
    same = st.st_ino == ck->ino && st.st_mtim.tv_sec == ck->stamp.tv_sec &&
           st.st_mtim.tv_nsec == ck->stamp.tv_nsec;
    bf_mutex_unlock(&ck->lock);
    if (!same) {
      /* Read without the lock: a concurrent reload reads the same. */
      GPtrArray *keys = read_dir(ck->dir, FALSE, &st, &error);
      if (keys == NULL) {
        /* an unsafe directory: nobody is let in until it is fixed */
        bf_log(G_LOG_LEVEL_WARNING, NULL, "%s: refusing every client",
               error->message);
        keys = g_ptr_array_new();
      }
      bf_mutex_lock(&ck->lock);
      g_ptr_array_unref(ck->keys);
      ck->keys = keys;
      g_ptr_array_set_free_func(keys, (GDestroyNotify)bfd_client_key_unref);
      ck->stamp = st.st_mtim;
      ck->ino = st.st_ino;
      bf_mutex_unlock(&ck->lock);
    }
  }
  bf_mutex_lock(&ck->lock);
  GPtrArray *out = copy_locked(ck);
  bf_mutex_unlock(&ck->lock);
  return out;
}

gboolean
bfd_client_keys_check(BfdClientKeys *ck, const BfdClientKey *k, GError **error)
{
  g_autofree char *path = g_build_filename(ck->dir, k->name, NULL);
  g_autoptr(GError) why = NULL;
  g_autoptr(BfKey) now = bf_key_load(path, &why);

  if (now != NULL && sodium_memcmp(now->proof, k->key->proof, BF_KEY_LEN) == 0)
    return TRUE;
  bf_log(G_LOG_LEVEL_WARNING, NULL, "client '%s' refused: its key %s", k->name,
         now != NULL ? "was replaced" : why->message);
  g_set_error(error, BFD_ERROR, BF_ST_AUTH, "this server no longer accepts "
              "the key of client '%s' (its key file was %s): ask the "
              "server's administrator", k->name,
              now != NULL ? "replaced" : "removed or is unusable");
  return FALSE;
}

BfdClientKey *
bfd_client_keys_lookup(BfdClientKeys *ck, const char *name)
{
  BfdClientKey *found = NULL;

  if (ck == NULL || name == NULL)
    return NULL;
  bf_mutex_lock(&ck->lock);
  for (guint i = 0; i < ck->keys->len && found == NULL; i++) {
    BfdClientKey *k = ck->keys->pdata[i];
    if (strcmp(k->name, name) == 0)
      found = bfd_client_key_ref(k);
  }
  bf_mutex_unlock(&ck->lock);
  return found;
}
