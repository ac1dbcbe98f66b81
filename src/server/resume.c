/* Partial items that survive a restart of braidfsd.
 *
 * Next to an item's data (tmp/<id>.part) the server keeps one record,
 * tmp/<id>.rec, written with a few pwrites and never renamed (small files
 * pay for every metadata operation):
 *   [0, 8192)      ITEM_OPEN's fields and the name, written before OPENED;
 *                  for a coded item (shamir, rs) coding, k, n at 8188
 *                  (absent, i.e. zeros, for stripe)
 *   [8192, 8320)   ITEM_CLOSE's fields, once it arrives
 *   [12288, ...)   8 bytes per chunk on disk: u32 length, u32 total_chunks
 *                  as its CHUNK carried them (0, 0 = not here), written
 *                  after the data and before the CHUNK_ACK; a coded
 *                  chunk only once rebuilt (its buffered shares are lost
 *                  with the process: the client re-sends every share of a
 *                  chunk with fewer than k acknowledged)
 * and tmp/max_id, a u64: the highest item id the session ever opened,
 * written before the item is created. None is fsynced: they must survive
 * the process being killed, whose writes the kernel keeps; after a power
 * loss the item's digest check catches a torn file. At start-up each item
 * with a record is rebuilt and waits, open, for its client to re-attach
 * and go on; max_id keeps a re-sent ITEM_OPEN of an item that did not
 * survive from being taken for a new one. */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "braidfs/parse.h"

#define REC_MAGIC "BFREC001"
#define OPEN_OFF 0
#define OPEN_FIXED 31          /* magic 8, chunk_size 4, mode 4, mtime 12,
                                  digest_alg 1, name_len 2 */
#define CODING_OFF 8188       /* coding, k, n */
#define CLOSE_OFF 8192
#define CLOSE_LEN 66           /* set 1, total 4, size 8, alg 1, digest 32,
                                  mode 4, mtime 12, pad 4 */
#define MAP_OFF 12288
#define MAP_ENTRY 8

G_STATIC_ASSERT(OPEN_FIXED + BF_NAME_MAX <= CODING_OFF);

static void
item_file(char *out, size_t size, uint64_t id, const char *ext)
{
  g_snprintf(out, size, "%016" G_GINT64_MODIFIER "x.%s", id, ext);
}

static uint8_t *
put_be(uint8_t *p, uint64_t v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  return p + bytes;
}

static uint64_t
get_be(const uint8_t **p, int bytes)
{
  uint64_t v = 0;

  for (int i = 0; i < bytes; i++)
    v = v << 8 | (*p)[i];
  *p += bytes;
  return v;
}

static gboolean
pwrite_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
  return pwrite(fd, buf, len, off) == (ssize_t)len;
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
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX], *p = buf;
  size_t nlen = strlen(it->name);
  char name[40];

  memcpy(p, REC_MAGIC, 8);
  p = put_be(p + 8, o->chunk_size, 4);
  p = put_be(p, o->mode, 4);
  p = put_be(p, (uint64_t)o->mtime_sec, 8);
  p = put_be(p, o->mtime_nsec, 4);
  p = put_be(p, o->digest_alg, 1);
  p = put_be(p, nlen, 2);
  memcpy(p, it->name, nlen);
  item_file(name, sizeof name, it->id, "rec");
  it->map_fd = openat(s->tmp_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (it->map_fd < 0 ||
      !pwrite_all(it->map_fd, buf, OPEN_FIXED + nlen, OPEN_OFF))
    return FALSE;
  /* stripe leaves it out: one write less per small item */
  uint8_t coding[3] = { o->coding, o->coding_k, o->coding_n };
  return o->coding == BF_CODING_STRIPE ||
         pwrite_all(it->map_fd, coding, sizeof coding, CODING_OFF);
}

int
bfd_resume_chunk(BfdItem *it, uint32_t chunk_id, uint32_t len, uint32_t total)
{
  uint8_t e[MAP_ENTRY];

  put_be(put_be(e, len, 4), total, 4);
  if (!pwrite_all(it->map_fd, e, sizeof e, MAP_OFF + (off_t)chunk_id * MAP_ENTRY))
    return errno ? errno : EIO;
  return 0;
}

gboolean
bfd_resume_close(BfdSession *s, BfdItem *it, const BfItemClose *c)
{
  uint8_t buf[CLOSE_LEN] = { 0 }, *p = buf;

  (void)s;
  p = put_be(p, 1, 1);
  p = put_be(p, c->total_chunks, 4);
  p = put_be(p, c->size, 8);
  p = put_be(p, c->digest_alg, 1);
  memcpy(p, c->digest, BF_DIGEST_LEN);
  p = put_be(p + BF_DIGEST_LEN, c->mode, 4);
  p = put_be(p, (uint64_t)c->mtime_sec, 8);
  put_be(p, c->mtime_nsec, 4);
  return pwrite_all(it->map_fd, buf, sizeof buf, CLOSE_OFF);
}

static void
forget_id(BfdSession *s, uint64_t id)
{
  char name[40];

  item_file(name, sizeof name, id, "rec");
  unlinkat(s->tmp_fd, name, 0);
  item_file(name, sizeof name, id, "part");
  unlinkat(s->tmp_fd, name, 0);
}

void
bfd_resume_forget(BfdSession *s, BfdItem *it)
{
  forget_id(s, it->id);
}

/* ---- start-up ---------------------------------------------------------- */

/* An item's record as read back at start-up. */
typedef struct {
  uint32_t chunk_size;
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint8_t digest_alg;
  BfCodingSpec coding;
  char *name;
  gboolean closed;
  BfItemClose close;
} BfdRec;

static void
rec_clear(BfdRec *r)
{
  g_free(r->name);
}

/* Reads and checks the record: the store is ours, but a torn or foreign
 * file must not become an item. */
static gboolean
read_rec(int fd, uint64_t id, BfdRec *r)
{
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX], cbuf[CLOSE_LEN], coding[3];
  const uint8_t *p = buf + 8;
  ssize_t n = pread(fd, buf, sizeof buf, OPEN_OFF);

  memset(r, 0, sizeof *r);
  if (n < OPEN_FIXED || memcmp(buf, REC_MAGIC, 8) != 0)
    return FALSE;
  r->chunk_size = (uint32_t)get_be(&p, 4);
  r->mode = (uint32_t)get_be(&p, 4);
  r->mtime_sec = (int64_t)get_be(&p, 8);
  r->mtime_nsec = (uint32_t)get_be(&p, 4);
  r->digest_alg = (uint8_t)get_be(&p, 1);
  size_t nlen = (size_t)get_be(&p, 2);
  if (nlen == 0 || nlen > BF_NAME_MAX || (size_t)n < OPEN_FIXED + nlen ||
      !bf_name_check(p, nlen, NULL) || r->chunk_size < BF_CHUNK_MIN ||
      r->chunk_size > BF_CHUNK_MAX ||
      (r->digest_alg != BF_DIGEST_SHA256 && r->digest_alg != BF_DIGEST_BLAKE2B_256))
    return FALSE;
  r->coding = (BfCodingSpec){ BF_CODING_STRIPE, 1, 1 };
  if (pread(fd, coding, sizeof coding, CODING_OFF) == sizeof coding &&
      coding[0] != BF_CODING_STRIPE) {
    r->coding = (BfCodingSpec){ coding[0], coding[1], coding[2] };
    if (!bf_coding_check(&r->coding, NULL))
      return FALSE;
  }
  r->name = g_strndup((const char *)p, nlen);
  if (pread(fd, cbuf, sizeof cbuf, CLOSE_OFF) == sizeof cbuf && cbuf[0] == 1) {
    p = cbuf + 1;
    r->closed = TRUE;
    r->close.item_id = id;
    r->close.total_chunks = (uint32_t)get_be(&p, 4);
    r->close.size = get_be(&p, 8);
    r->close.digest_alg = (uint8_t)get_be(&p, 1);
    memcpy(r->close.digest, p, BF_DIGEST_LEN);
    p += BF_DIGEST_LEN;
    r->close.mode = (uint32_t)get_be(&p, 4);
    r->close.mtime_sec = (int64_t)get_be(&p, 8);
    r->close.mtime_nsec = (uint32_t)get_be(&p, 4);
  }
  return TRUE;
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

  while ((n = pread(it->map_fd, e, sizeof e, MAP_OFF + off)) > 0) {
    for (ssize_t i = 0; i + MAP_ENTRY <= n; i += MAP_ENTRY) {
      uint32_t id = (uint32_t)((off + i) / MAP_ENTRY);
      const uint8_t *q = e + i;
      uint32_t len = (uint32_t)get_be(&q, 4), total = (uint32_t)get_be(&q, 4);
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

/* Rebuilds one item from its record and data; NULL if they do not make
 * one. Takes the record's descriptor. */
static BfdItem *
rebuild(BfdSession *s, uint64_t id, int rec_fd, BfdRec *r)
{
  BfdItem *it = g_new0(BfdItem, 1);

  it->refs = 1;
  it->id = id;
  it->map_fd = rec_fd;
  g_mutex_init(&it->lock);
  g_snprintf(it->tmpname, sizeof it->tmpname, "%016" G_GINT64_MODIFIER "x.part", id);
  it->name = g_strdup(r->name);
  it->mode = r->mode;
  it->mtime_sec = r->mtime_sec;
  it->mtime_nsec = r->mtime_nsec;
  it->asm_ = bf_assembler_new(r->chunk_size, s->srv->limits.max_item_size);
  it->coding = r->coding;
  if (r->coding.kind != BF_CODING_STRIPE)
    it->shares = bfd_shares_new(&r->coding, r->chunk_size, &s->partial_bytes);
  it->digest = bf_digest_new(r->digest_alg);
  it->fd = openat(s->tmp_fd, it->tmpname, O_RDWR | O_CLOEXEC);
  if (it->fd < 0 || !replay_map(it))
    goto fail;
  if (r->closed) {
    if (r->close.digest_alg != r->digest_alg ||
        !bf_assembler_close(it->asm_, r->close.total_chunks, r->close.size, NULL))
      goto fail;
    memcpy(it->want, r->close.digest, sizeof it->want);
    it->want_alg = r->close.digest_alg;
    it->mode = r->close.mode;
    it->mtime_sec = r->close.mtime_sec;
    it->mtime_nsec = r->close.mtime_nsec;
  }
  if (!hash_prefix(it))
    goto fail;
  return it;
fail:
  bfd_item_unref(it);
  return NULL;
}

/* An item whose .part is gone but whose ITEM_CLOSE was recorded was
 * renamed into data/ just before the crash: if the file there has the
 * digest, it was stored and its client may still be waiting for that
 * answer. */
static gboolean
was_stored(BfdSession *s, const BfdRec *r)
{
  g_autoptr(BfDigest) d = NULL;
  uint8_t got[BF_DIGEST_LEN], buf[65536];
  const char *leaf;
  ssize_t n;
  int parent, fd;

  if (!r->closed ||
      (parent = bfd_store_open_parent(s->data_fd, r->name, FALSE, &leaf, NULL)) < 0)
    return FALSE;
  fd = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  close(parent);
  if (fd < 0)
    return FALSE;
  if ((d = bf_digest_new(r->close.digest_alg)) == NULL) {
    close(fd);
    return FALSE;
  }
  while ((n = read(fd, buf, sizeof buf)) > 0)
    bf_digest_update(d, buf, (size_t)n);
  close(fd);
  if (n < 0)
    return FALSE;
  bf_digest_final(d, got);
  return sodium_memcmp(got, r->close.digest, sizeof got) == 0;
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
        (strcmp(end, ".part") == 0 || strcmp(end, ".rec") == 0))
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
    if ((id = g_ascii_strtoull(de->d_name, &end, 16)) != 0 &&
        end - de->d_name == 16 && strcmp(end, ".rec") == 0)
      g_ptr_array_add(ids, g_memdup2(&id, sizeof id));
  }
  closedir(d);
  for (guint i = 0; i < ids->len; i++) {
    uint64_t id = *(uint64_t *)ids->pdata[i];
    BfdItem *it = NULL;
    BfdRec r;
    char name[40];
    struct stat st;

    item_file(name, sizeof name, id, "rec");
    int rec_fd = openat(s->tmp_fd, name, O_RDWR | O_CLOEXEC);
    item_file(name, sizeof name, id, "part");
    if (rec_fd >= 0 && read_rec(rec_fd, id, &r)) {
      if (fstatat(s->tmp_fd, name, &st, 0) == 0) {
        it = rebuild(s, id, rec_fd, &r);   /* takes rec_fd */
        rec_fd = -1;
      } else if (was_stored(s, &r)) {
        bfd_session_record_verdict(s, id, BF_ACK_STORED, BF_ST_OK);
      }
      rec_clear(&r);
    }
    if (rec_fd >= 0)
      close(rec_fd);
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
