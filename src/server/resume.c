/* Partial items that survive a restart of braidfsd.
 *
 * Next to an item's data (tmp/<id>.part) the server keeps:
 *   tmp/<id>.meta   ITEM_OPEN's fields (a key file), written before OPENED
 *   tmp/<id>.map    8 bytes per chunk on disk: u32 length, u32 total_chunks
 *                   as its CHUNK carried them (0, 0 = not here), written
 *                   after the data and before the CHUNK_ACK
 *   tmp/<id>.close  ITEM_CLOSE's fields (a key file)
 *   tmp/max_id      u64: the highest item id the session ever opened,
 *                   written before the item is created
 * None is fsynced: they must survive the process being killed, whose
 * writes the kernel keeps; after a power loss the item's digest check
 * catches a torn file. At start-up each item with a .meta is rebuilt from
 * them and waits, open, for its client to re-attach and go on; max_id
 * keeps a re-sent ITEM_OPEN of an item that did not survive from being
 * taken for a new one. */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/parse.h"

#define MAP_ENTRY 8

static void
item_file(char *out, size_t size, uint64_t id, const char *ext)
{
  g_snprintf(out, size, "%016" G_GINT64_MODIFIER "x.%s", id, ext);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t
get_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes a key file to tmp/name (replacing it through a rename). */
static gboolean
write_keyfile(BfdSession *s, const char *name, GKeyFile *kf)
{
  gsize len;
  g_autofree char *data = g_key_file_to_data(kf, &len, NULL);
  g_autofree char *tmp = g_strconcat(name, ".new", NULL);
  int fd = openat(s->tmp_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = write(fd, data, len) == (ssize_t)len;
  close(fd);
  ok = ok && renameat(s->tmp_fd, tmp, s->tmp_fd, name) == 0;
  if (!ok)
    unlinkat(s->tmp_fd, tmp, 0);
  return ok;
}

void
bfd_resume_note_id(BfdSession *s, uint64_t id)
{
  uint8_t buf[8];

  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)(id >> (56 - 8 * i));
  if (s->max_id_fd < 0)
    s->max_id_fd = openat(s->tmp_fd, "max_id", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->max_id_fd >= 0 && pwrite(s->max_id_fd, buf, sizeof buf, 0) != sizeof buf)
    g_warning("session %s: cannot record item id: %s", s->dirname,
              g_strerror(errno));
}

gboolean
bfd_resume_open(BfdSession *s, BfdItem *it, const BfItemOpen *o)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  char name[40];

  g_key_file_set_string(kf, "item", "name", it->name);
  g_key_file_set_uint64(kf, "item", "chunk_size", o->chunk_size);
  g_key_file_set_uint64(kf, "item", "mode", o->mode);
  g_key_file_set_int64(kf, "item", "mtime_sec", o->mtime_sec);
  g_key_file_set_uint64(kf, "item", "mtime_nsec", o->mtime_nsec);
  g_key_file_set_uint64(kf, "item", "digest_alg", o->digest_alg);
  item_file(name, sizeof name, it->id, "map");
  it->map_fd = openat(s->tmp_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  item_file(name, sizeof name, it->id, "meta");
  return it->map_fd >= 0 && write_keyfile(s, name, kf);
}

int
bfd_resume_chunk(BfdItem *it, uint32_t chunk_id, uint32_t len, uint32_t total)
{
  uint8_t e[MAP_ENTRY];

  put_be32(e, len);
  put_be32(e + 4, total);
  if (pwrite(it->map_fd, e, sizeof e, (off_t)chunk_id * MAP_ENTRY) != sizeof e)
    return errno ? errno : EIO;
  return 0;
}

gboolean
bfd_resume_close(BfdSession *s, BfdItem *it, const BfItemClose *c)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *digest = bf_hex(c->digest, sizeof c->digest);
  char name[40];

  g_key_file_set_uint64(kf, "close", "total_chunks", c->total_chunks);
  g_key_file_set_uint64(kf, "close", "size", c->size);
  g_key_file_set_uint64(kf, "close", "digest_alg", c->digest_alg);
  g_key_file_set_string(kf, "close", "digest", digest);
  g_key_file_set_uint64(kf, "close", "mode", c->mode);
  g_key_file_set_int64(kf, "close", "mtime_sec", c->mtime_sec);
  g_key_file_set_uint64(kf, "close", "mtime_nsec", c->mtime_nsec);
  item_file(name, sizeof name, it->id, "close");
  return write_keyfile(s, name, kf);
}

static void
forget_id(BfdSession *s, uint64_t id)
{
  static const char *const exts[] = { "meta", "map", "close", "part" };
  char name[40];

  for (size_t i = 0; i < G_N_ELEMENTS(exts); i++) {
    item_file(name, sizeof name, id, exts[i]);
    unlinkat(s->tmp_fd, name, 0);
  }
}

void
bfd_resume_forget(BfdSession *s, BfdItem *it)
{
  forget_id(s, it->id);
}

/* ---- start-up ---------------------------------------------------------- */

static gboolean
read_close(BfdSession *s, uint64_t id, BfItemClose *c)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *path = NULL;
  g_autofree char *hex = NULL;
  char name[40];
  size_t got = 0;
  int fd;

  item_file(name, sizeof name, id, "close");
  if ((fd = openat(s->tmp_fd, name, O_RDONLY | O_CLOEXEC)) < 0)
    return FALSE;
  path = g_strdup_printf("/proc/self/fd/%d", fd);
  gboolean ok = g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL);
  close(fd);
  if (!ok)
    return FALSE;
  c->item_id = id;
  c->total_chunks = (uint32_t)g_key_file_get_uint64(kf, "close", "total_chunks", NULL);
  c->size = g_key_file_get_uint64(kf, "close", "size", NULL);
  c->digest_alg = (uint8_t)g_key_file_get_uint64(kf, "close", "digest_alg", NULL);
  c->mode = (uint32_t)g_key_file_get_uint64(kf, "close", "mode", NULL);
  c->mtime_sec = g_key_file_get_int64(kf, "close", "mtime_sec", NULL);
  c->mtime_nsec = (uint32_t)g_key_file_get_uint64(kf, "close", "mtime_nsec", NULL);
  hex = g_key_file_get_string(kf, "close", "digest", NULL);
  return hex != NULL &&
         sodium_hex2bin(c->digest, sizeof c->digest, hex, strlen(hex), NULL,
                        &got, NULL) == 0 && got == sizeof c->digest;
}

/* Feeds the digest with the contiguous prefix of chunks on disk. */
static gboolean
hash_prefix(BfdItem *it)
{
  uint32_t cs = bf_assembler_chunk_size(it->asm_);
  g_autofree uint8_t *buf = g_malloc(cs);

  while (bf_assembler_has(it->asm_, it->hashed)) {
    uint32_t len = bf_assembler_chunk_len(it->asm_, it->hashed);
    if (pread(it->fd, buf, len, (off_t)it->hashed * cs) != (ssize_t)len)
      return FALSE;
    bf_digest_update(it->digest, buf, len);
    it->hashed++;
  }
  return TRUE;
}

/* Replays the chunk map into the assembler. */
static gboolean
replay_map(BfdItem *it)
{
  uint8_t e[MAP_ENTRY * 512];
  off_t off = 0;
  ssize_t n;

  while ((n = pread(it->map_fd, e, sizeof e, off)) > 0) {
    for (ssize_t i = 0; i + MAP_ENTRY <= n; i += MAP_ENTRY) {
      uint32_t id = (uint32_t)((off + i) / MAP_ENTRY);
      uint32_t len = get_be32(e + i), total = get_be32(e + i + 4);
      uint64_t at;
      gboolean dup;
      if (len == 0)
        continue;
      if (!bf_assembler_check(it->asm_, id, total, len, &at, &dup, NULL))
        return FALSE;
      if (!dup)
        bf_assembler_mark(it->asm_, id, len);
    }
    off += n;
  }
  return n == 0;
}

/* Rebuilds one item from its files; NULL if they do not make one. */
static BfdItem *
rebuild(BfdSession *s, uint64_t id, GKeyFile *kf)
{
  BfdItem *it = g_new0(BfdItem, 1);
  BfItemClose c;
  char name[40];
  uint64_t cs = g_key_file_get_uint64(kf, "item", "chunk_size", NULL);
  g_autofree char *iname = g_key_file_get_string(kf, "item", "name", NULL);
  uint8_t alg = (uint8_t)g_key_file_get_uint64(kf, "item", "digest_alg", NULL);

  it->refs = 1;
  it->id = id;
  it->fd = it->map_fd = -1;
  g_mutex_init(&it->lock);
  g_snprintf(it->tmpname, sizeof it->tmpname, "%016" G_GINT64_MODIFIER "x.part", id);
  if (iname == NULL || !bf_name_check((const uint8_t *)iname, strlen(iname), NULL) ||
      cs < BF_CHUNK_MIN || cs > BF_CHUNK_MAX ||
      (alg != BF_DIGEST_SHA256 && alg != BF_DIGEST_BLAKE2B_256))
    goto fail;
  it->name = g_steal_pointer(&iname);
  it->mode = (uint32_t)g_key_file_get_uint64(kf, "item", "mode", NULL);
  it->mtime_sec = g_key_file_get_int64(kf, "item", "mtime_sec", NULL);
  it->mtime_nsec = (uint32_t)g_key_file_get_uint64(kf, "item", "mtime_nsec", NULL);
  it->asm_ = bf_assembler_new((uint32_t)cs, s->srv->limits.max_item_size);
  it->digest = bf_digest_new(alg);
  item_file(name, sizeof name, id, "map");
  it->map_fd = openat(s->tmp_fd, name, O_RDWR | O_CLOEXEC);
  it->fd = openat(s->tmp_fd, it->tmpname, O_RDWR | O_CLOEXEC);
  if (it->fd < 0 || it->map_fd < 0 || !replay_map(it))
    goto fail;
  if (read_close(s, id, &c)) {
    if (c.digest_alg != alg ||
        !bf_assembler_close(it->asm_, c.total_chunks, c.size, NULL))
      goto fail;
    memcpy(it->want, c.digest, sizeof it->want);
    it->want_alg = c.digest_alg;
    it->mode = c.mode;
    it->mtime_sec = c.mtime_sec;
    it->mtime_nsec = c.mtime_nsec;
  }
  if (!hash_prefix(it))
    goto fail;
  return it;
fail:
  bfd_item_unref(it);
  return NULL;
}

/* An item whose .part is gone but whose .close is there was renamed into
 * data/ just before the crash: if the file there has the digest, it was
 * stored and its client may still be waiting for that answer. */
static gboolean
was_stored(BfdSession *s, uint64_t id, GKeyFile *kf)
{
  g_autofree char *iname = g_key_file_get_string(kf, "item", "name", NULL);
  g_autoptr(BfDigest) d = NULL;
  BfItemClose c;
  uint8_t got[BF_DIGEST_LEN], buf[65536];
  const char *leaf;
  ssize_t n;
  int parent, fd;

  if (iname == NULL || !read_close(s, id, &c) ||
      !bf_name_check((const uint8_t *)iname, strlen(iname), NULL) ||
      (parent = bfd_store_open_parent(s->data_fd, iname, FALSE, &leaf, NULL)) < 0)
    return FALSE;
  fd = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  close(parent);
  if (fd < 0)
    return FALSE;
  if ((d = bf_digest_new(c.digest_alg)) == NULL) {
    close(fd);
    return FALSE;
  }
  while ((n = read(fd, buf, sizeof buf)) > 0)
    bf_digest_update(d, buf, (size_t)n);
  close(fd);
  if (n < 0)
    return FALSE;
  bf_digest_final(d, got);
  return sodium_memcmp(got, c.digest, sizeof got) == 0;
}

static uint64_t
read_max_id(BfdSession *s)
{
  uint8_t buf[8];
  uint64_t id = 0;

  s->max_id_fd = openat(s->tmp_fd, "max_id", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->max_id_fd < 0 || pread(s->max_id_fd, buf, sizeof buf, 0) != sizeof buf)
    return 0;
  for (int i = 0; i < 8; i++)
    id = id << 8 | buf[i];
  return id;
}

/* Deletes what belongs to no kept item: the files of items that could
 * not be rebuilt, half-written key files, and anything else. */
static void
remove_strays(BfdSession *s)
{
  int fd = dup(s->tmp_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *de;

  if (d == NULL) {
    if (fd >= 0)
      close(fd);
    return;
  }
  while ((de = readdir(d)) != NULL) {
    char *end;
    uint64_t id = g_ascii_strtoull(de->d_name, &end, 16);
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
        strcmp(de->d_name, "max_id") == 0)
      continue;
    if (end - de->d_name == 16 && g_hash_table_contains(s->items, &id) &&
        (strcmp(end, ".part") == 0 || strcmp(end, ".meta") == 0 ||
         strcmp(end, ".map") == 0 || strcmp(end, ".close") == 0))
      continue;
    unlinkat(s->tmp_fd, de->d_name, 0);
  }
  closedir(d);
}

/* Called once per session at start-up, before any path can attach. */
void
bfd_resume_load(BfdSession *s)
{
  int fd = dup(s->tmp_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  struct dirent *de;
  unsigned resumed = 0;

  s->max_item_id = read_max_id(s);
  if (d == NULL) {
    if (fd >= 0)
      close(fd);
    return;
  }
  while ((de = readdir(d)) != NULL) {
    uint64_t id;
    char *end;
    if (g_str_has_suffix(de->d_name, ".meta") &&
        (id = g_ascii_strtoull(de->d_name, &end, 16)) != 0 &&
        strcmp(end, ".meta") == 0)
      g_ptr_array_add(ids, g_memdup2(&id, sizeof id));
  }
  closedir(d);
  for (guint i = 0; i < ids->len; i++) {
    uint64_t id = *(uint64_t *)ids->pdata[i];
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", s->tmp_fd);
    g_autofree char *meta = g_strdup_printf("%s/%016" G_GINT64_MODIFIER "x.meta",
                                            path, id);
    BfdItem *it = NULL;
    char part[40];
    struct stat st;

    item_file(part, sizeof part, id, "part");
    if (g_key_file_load_from_file(kf, meta, G_KEY_FILE_NONE, NULL)) {
      if (fstatat(s->tmp_fd, part, &st, 0) == 0)
        it = rebuild(s, id, kf);
      else if (was_stored(s, id, kf))
        bfd_session_record_verdict(s, id, BF_ACK_STORED, BF_ST_OK);
    }
    if (it == NULL) {
      forget_id(s, id);
      continue;
    }
    s->max_item_id = MAX(s->max_item_id, id);
    g_hash_table_insert(s->items, &it->id, it);
    resumed++;
  }
  remove_strays(s);
  if (resumed > 0)
    g_message("session %s: %u partial items kept for their client", s->dirname,
              resumed);
  s->detached_at = g_get_monotonic_time();
}
