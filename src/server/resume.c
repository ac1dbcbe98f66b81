/* Partial items, and the answers a client may still be waiting for, that
 * survive a restart of braidfsd.
 *
 * Next to an item's data (tmp/<id>.part) the server keeps one record,
 * tmp/<id>.rec, written with a few pwrites and never renamed (small files
 * pay for every metadata operation):
 *   [0, 8192)      ITEM_OPEN's fields and the name, CRC32C, written before
 *                  OPENED; for a coded item (shamir, rs) coding, k, n at
 *                  8188, written just before (zeros, i.e. absent, for
 *                  stripe)
 *   [8192, 8320)   ITEM_CLOSE's fields, CRC32C, once it arrives
 *   [12288, ...)   8 bytes per chunk on disk: u32 length, u32 total_chunks
 *                  as its CHUNK carried them (0, 0 = not here), written
 *                  after the data and before the CHUNK_ACK; a coded chunk
 *                  only once rebuilt (its buffered shares are lost with
 *                  the process: the client re-sends every share of a
 *                  chunk with fewer than k acknowledged)
 * and for a SHAMIR item, once its secret is rebuilt and before its k-th
 * share is acknowledged, tmp/<id>.sec: magic, the secret as rebuilt (its
 * digest, key and maybe the item's name), CRC32C. The name of an item
 * that hides it is in there only: its ITEM_OPEN record has none.
 * and per session:
 *   tmp/max_id     a u64: the highest item id the session ever opened,
 *                  written before the item is created
 *   tmp/verdicts   the verdicts of finished items (ITEM_ACK stage and
 *                  status), one 16-byte slot per id modulo VERDICT_SLOTS,
 *                  written before the item's record is deleted
 *   tmp/ops        OPs started and done (with their result), one slot per
 *                  op id modulo OP_SLOTS
 * None is fsynced: they must survive the process being killed, whose
 * writes the kernel keeps; after a power loss the item's digest check
 * catches a torn file. At start-up each item with a record is rebuilt and
 * waits, open, for its client to re-attach and go on.
 *
 * The invariant that makes a re-attaching client's repeats safe: from the
 * first CHUNK_ACK of an item on, the store holds its record or its
 * verdict. So an id at or below max_id that has neither never had a chunk
 * acknowledged (its record was not complete when the process died), and
 * its client, which still has every byte, may open it again from
 * scratch. */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "braidfs/parse.h"

#define REC_MAGIC "BFREC002"
#define REC_MAGIC_V1 "BFREC001"   /* before the CRC32Cs: still read */
#define SEC_MAGIC "BFSEC001"
#define OPEN_OFF 0
#define OPEN_FIXED 31          /* magic 8, chunk_size 4, mode 4, mtime 12,
                                  digest_alg 1, name_len 2 */
#define CODING_OFF 8188       /* coding, k, n */
#define CLOSE_OFF 8192
#define CLOSE_LEN 66           /* set 1, total 4, size 8, alg 1, digest 32,
                                  mode 4, mtime 12, CRC32C 4 */
#define MAP_OFF 12288
#define MAP_ENTRY 8

#define VERDICT_SLOTS 4096     /* as many as the session keeps in memory */
#define OP_SLOTS 1024
#define SLOT_LEN 16            /* id 8, two bytes, pad 2, CRC32C 4 */
enum { OP_STARTED = 1, OP_DONE = 2 };

G_STATIC_ASSERT(OPEN_FIXED + BF_NAME_MAX + 4 <= CODING_OFF);

struct BfdResume {
  int verdict_fd;              /* tmp/verdicts */
  int ops_fd;                  /* tmp/ops */
  uint64_t floor;              /* the highest item id at start-up */
  GHashTable *reopened;        /* ids in doubt opened again since */
  GHashTable *ops_doubt;       /* op ids started, not known done */
};

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

/* A second open of the directory: a dup would share the read offset, and
 * a directory read to its end through one copy reads empty through all. */
static DIR *
opendir_at(int dirfd)
{
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

  if (d == NULL && fd >= 0)
    close(fd);
  return d;
}

static int
open_ring(BfdSession *s, const char *name, unsigned slots)
{
  int fd = openat(s->tmp_fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

  /* allocated now, so that a full disk cannot keep an answer out later */
  if (fd >= 0)
    posix_fallocate(fd, 0, (off_t)slots * SLOT_LEN);
  if (fd < 0)
    g_warning("session %s: cannot open tmp/%s (answers to repeated frames "
              "will not survive a restart): %s", s->dirname, name,
              g_strerror(errno));
  return fd;
}

void
bfd_resume_init(BfdSession *s)
{
  BfdResume *r = g_new0(BfdResume, 1);

  r->verdict_fd = open_ring(s, "verdicts", VERDICT_SLOTS);
  r->ops_fd = open_ring(s, "ops", OP_SLOTS);
  r->reopened = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  r->ops_doubt = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  s->resume = r;
}

void
bfd_resume_free(BfdSession *s)
{
  BfdResume *r = s->resume;

  if (r == NULL)
    return;
  if (r->verdict_fd >= 0)
    close(r->verdict_fd);
  if (r->ops_fd >= 0)
    close(r->ops_fd);
  g_hash_table_unref(r->reopened);
  g_hash_table_unref(r->ops_doubt);
  g_free(r);
  s->resume = NULL;
}

/* One slot of a ring: id, two bytes of payload, a CRC32C so that a slot
 * never written (zeros) or torn reads as empty. */
static void
slot_write(int fd, unsigned slots, uint64_t id, uint8_t a, uint8_t b)
{
  uint8_t e[SLOT_LEN] = { 0 };

  put_be(e, id, 8);
  e[8] = a;
  e[9] = b;
  put_be(e + 12, bf_crc32c(e, 12), 4);
  if (fd >= 0 && !pwrite_all(fd, e, sizeof e, (off_t)(id % slots) * SLOT_LEN))
    g_warning("cannot record an answer in the store: %s", g_strerror(errno));
}

typedef struct {
  uint64_t id;
  uint8_t a, b;
} BfdSlot;

static gint
slot_cmp(gconstpointer x, gconstpointer y)
{
  uint64_t i = ((const BfdSlot *)x)->id, j = ((const BfdSlot *)y)->id;

  return i < j ? -1 : i > j;
}

/* Calls fn for each valid slot, oldest id first (the session forgets the
 * oldest verdicts first). */
static void
slots_read(int fd, unsigned slots,
           void (*fn)(BfdSession *, uint64_t, uint8_t, uint8_t), BfdSession *s)
{
  g_autofree uint8_t *buf = g_malloc((size_t)slots * SLOT_LEN);
  g_autoptr(GArray) found = g_array_new(FALSE, FALSE, sizeof(BfdSlot));
  ssize_t n = fd >= 0 ? pread(fd, buf, (size_t)slots * SLOT_LEN, 0) : -1;

  for (guint i = 0; n > 0 && i < (guint)(n / SLOT_LEN); i++) {
    const uint8_t *e = buf + (size_t)i * SLOT_LEN, *q = e, *c = e + 12;
    BfdSlot slot = { .id = get_be(&q, 8), .a = e[8], .b = e[9] };
    if (slot.id != 0 && slot.id % slots == i && get_be(&c, 4) == bf_crc32c(e, 12))
      g_array_append_val(found, slot);
  }
  g_array_sort(found, slot_cmp);
  for (guint i = 0; i < found->len; i++) {
    const BfdSlot *slot = &g_array_index(found, BfdSlot, i);
    fn(s, slot->id, slot->a, slot->b);
  }
}

void
bfd_resume_note_verdict(BfdSession *s, uint64_t id, uint8_t stage,
                        uint8_t status)
{
  if (s->resume != NULL)
    slot_write(s->resume->verdict_fd, VERDICT_SLOTS, id, stage, status);
}

/* Called with s->lock held, for an ITEM_OPEN of an id at or below the
 * highest ever opened. TRUE if it is an item from before the restart that
 * the store knows nothing of (see the top of this file): it is opened
 * again, once. */
gboolean
bfd_resume_reopen_locked(BfdSession *s, uint64_t id)
{
  BfdResume *r = s->resume;

  if (r == NULL || id > r->floor || g_hash_table_contains(s->items, &id) ||
      g_hash_table_contains(s->done, &id) ||
      g_hash_table_contains(r->reopened, &id) ||
      g_hash_table_size(r->reopened) >= VERDICT_SLOTS)
    return FALSE;
  g_hash_table_add(r->reopened, g_memdup2(&id, sizeof id));
  g_message("session %s: item %" G_GUINT64_FORMAT " was opened before the "
            "restart and did not get far enough to be kept: opening it again",
            s->dirname, id);
  return TRUE;
}

/* Records that an OP starts. TRUE if the same op id was started before a
 * restart and may have been done: its repeat must not fail for finding
 * its own work done. */
gboolean
bfd_resume_op_start(BfdSession *s, uint64_t op_id)
{
  gboolean doubt;

  if (s->resume == NULL || op_id == 0)
    return FALSE;
  g_mutex_lock(&s->lock);
  doubt = g_hash_table_remove(s->resume->ops_doubt, &op_id);
  g_mutex_unlock(&s->lock);
  slot_write(s->resume->ops_fd, OP_SLOTS, op_id, OP_STARTED, 0);
  return doubt;
}

void
bfd_resume_op_done(BfdSession *s, uint64_t op_id, int rc)
{
  if (s->resume != NULL && op_id != 0)
    slot_write(s->resume->ops_fd, OP_SLOTS, op_id, OP_DONE,
               (uint8_t)MIN(rc, 255));
}

/* The result of an OP run again after a restart that may have done it:
 * ENOENT then means the first run removed (or moved) the entry. A rename
 * counts as done when its target exists. */
int
bfd_resume_op_redone(BfdSession *s, const BfOp *o, const char *name2, int rc)
{
  const char *leaf;
  struct stat st;
  int parent;

  if (rc != ENOENT)
    return rc;
  if (o->op == BF_OP_UNLINK || o->op == BF_OP_RMDIR)
    return 0;
  if (o->op != BF_OP_RENAME ||
      (parent = bfd_store_open_parent(s->data_fd, name2, FALSE, &leaf, NULL)) < 0)
    return rc;
  if (fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0)
    rc = 0;
  close(parent);
  if (rc == 0)
    g_message("session %s: rename to '%s' was done before the restart",
              s->dirname, name2);
  return rc;
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
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX + 4], *p = buf;
  size_t nlen = it->name != NULL ? strlen(it->name) : 0;
  char name[40];

  memcpy(p, REC_MAGIC, 8);
  p = put_be(p + 8, o->chunk_size, 4);
  p = put_be(p, o->mode, 4);
  p = put_be(p, (uint64_t)o->mtime_sec, 8);
  p = put_be(p, o->mtime_nsec, 4);
  p = put_be(p, o->digest_alg, 1);
  p = put_be(p, nlen, 2);
  if (nlen > 0)
    memcpy(p, it->name, nlen);
  put_be(p + nlen, bf_crc32c(buf, OPEN_FIXED + nlen), 4);
  item_file(name, sizeof name, it->id, "rec");
  bfd_crash_at(BFD_CRASH_PART_CREATED);
  it->map_fd = openat(s->tmp_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  /* The coding goes first: the CRC'd fields after it are what make the
   * record count, so a crash between the two writes leaves no record that
   * says stripe for a coded item. Stripe leaves it out: one write less per
   * small item. */
  uint8_t coding[3] = { o->coding, o->coding_k, o->coding_n };
  if (it->map_fd < 0 || (o->coding != BF_CODING_STRIPE &&
                         !pwrite_all(it->map_fd, coding, sizeof coding, CODING_OFF)))
    return FALSE;
  bfd_crash_torn(BFD_CRASH_REC_TORN, it->map_fd, buf, OPEN_FIXED + nlen + 4,
                 OPEN_OFF);
  return pwrite_all(it->map_fd, buf, OPEN_FIXED + nlen + 4, OPEN_OFF);
}

int
bfd_resume_chunk(BfdItem *it, uint32_t chunk_id, uint32_t len, uint32_t total)
{
  uint8_t e[MAP_ENTRY];

  bfd_crash_at(BFD_CRASH_CHUNK_DATA);
  put_be(put_be(e, len, 4), total, 4);
  if (!pwrite_all(it->map_fd, e, sizeof e, MAP_OFF + (off_t)chunk_id * MAP_ENTRY))
    return errno ? errno : EIO;
  bfd_crash_at(BFD_CRASH_CHUNK_MAP);
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
  p = put_be(p, c->mtime_nsec, 4);
  put_be(p, bf_crc32c(buf, CLOSE_LEN - 4), 4);
  bfd_crash_torn(BFD_CRASH_CLOSE_TORN, it->map_fd, buf, sizeof buf, CLOSE_OFF);
  return pwrite_all(it->map_fd, buf, sizeof buf, CLOSE_OFF);
}

gboolean
bfd_resume_secret(BfdSession *s, BfdItem *it, const uint8_t *secret,
                  size_t len)
{
  uint8_t head[10], crc[4];
  char name[40];
  int fd;
  gboolean ok;

  memcpy(head, SEC_MAGIC, 8);
  put_be(head + 8, len, 2);
  put_be(crc, bf_crc32c(secret, len) ^ bf_crc32c(head, sizeof head), 4);
  item_file(name, sizeof name, it->id, "sec");
  struct iovec iov[3] = { { head, sizeof head }, { (void *)secret, len },
                         { crc, sizeof crc } };

  fd = openat(s->tmp_fd, name,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return FALSE;
  ok = pwritev(fd, iov, 3, 0) == (ssize_t)(sizeof head + len + sizeof crc);
  close(fd);
  return ok;
}

/* The secret recorded for item id, into buf (BF_SECRET_MAX bytes): its
 * length, or 0 if there is none whole. */
static size_t
read_secret(BfdSession *s, uint64_t id, uint8_t *buf)
{
  uint8_t head[10], crc[4];
  const uint8_t *p = head + 8, *q = crc;
  char name[40];
  size_t len;
  int fd;

  item_file(name, sizeof name, id, "sec");
  fd = openat(s->tmp_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  len = pread(fd, head, sizeof head, 0) == sizeof head &&
        memcmp(head, SEC_MAGIC, 8) == 0 ? (size_t)get_be(&p, 2) : 0;
  if (len > BF_SECRET_MAX || pread(fd, buf, len, sizeof head) != (ssize_t)len ||
      pread(fd, crc, sizeof crc, (off_t)(sizeof head + len)) != sizeof crc ||
      get_be(&q, 4) != (bf_crc32c(buf, len) ^ bf_crc32c(head, sizeof head)))
    len = 0;
  close(fd);
  return len;
}

static void
forget_id(BfdSession *s, uint64_t id)
{
  char name[40];

  for (const char **ext = (const char *[]){ "rec", "part", "sec", NULL };
       *ext != NULL; ext++) {
    item_file(name, sizeof name, id, *ext);
    unlinkat(s->tmp_fd, name, 0);
  }
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
  uint8_t buf[OPEN_FIXED + BF_NAME_MAX + 4], cbuf[CLOSE_LEN], coding[3];
  const uint8_t *p = buf + 8;
  ssize_t n = pread(fd, buf, sizeof buf, OPEN_OFF);

  memset(r, 0, sizeof *r);
  gboolean v1 = n >= 8 && memcmp(buf, REC_MAGIC_V1, 8) == 0;
  if (n < OPEN_FIXED || (memcmp(buf, REC_MAGIC, 8) != 0 && !v1))
    return FALSE;
  r->chunk_size = (uint32_t)get_be(&p, 4);
  r->mode = (uint32_t)get_be(&p, 4);
  r->mtime_sec = (int64_t)get_be(&p, 8);
  r->mtime_nsec = (uint32_t)get_be(&p, 4);
  r->digest_alg = (uint8_t)get_be(&p, 1);
  size_t nlen = (size_t)get_be(&p, 2);
  const uint8_t *crc = p + nlen;
  if (nlen > BF_NAME_MAX || (size_t)n < OPEN_FIXED + nlen + (v1 ? 0 : 4) ||
      (!v1 && get_be(&crc, 4) != bf_crc32c(buf, OPEN_FIXED + nlen)) ||
      r->chunk_size < BF_CHUNK_MIN || r->chunk_size > BF_CHUNK_MAX ||
      (r->digest_alg != BF_DIGEST_SHA256 && r->digest_alg != BF_DIGEST_BLAKE2B_256))
    return FALSE;
  r->coding = (BfCodingSpec){ BF_CODING_STRIPE, 1, 1 };
  if (pread(fd, coding, sizeof coding, CODING_OFF) == sizeof coding &&
      coding[0] != BF_CODING_STRIPE) {
    r->coding = (BfCodingSpec){ coding[0], coding[1], coding[2] };
    if (!bf_coding_check(&r->coding, NULL))
      return FALSE;
  }
  /* no name: a SHAMIR item that keeps it in its secret (.sec) */
  if (nlen == 0 ? r->coding.kind != BF_CODING_SHAMIR
                : !bf_name_check(p, nlen, NULL))
    return FALSE;
  r->name = g_strndup((const char *)p, nlen);
  p = cbuf + CLOSE_LEN - 4;
  /* A torn ITEM_CLOSE record counts as none: the client sends it again. */
  if (pread(fd, cbuf, sizeof cbuf, CLOSE_OFF) == sizeof cbuf && cbuf[0] == 1 &&
      (v1 || get_be(&p, 4) == bf_crc32c(cbuf, CLOSE_LEN - 4))) {
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

/* A SHAMIR item's secret, if it was rebuilt before the restart. FALSE if
 * it is recorded but does not fit the item. One that is not whole is
 * removed: its client, which did not see its k-th share acknowledged,
 * sends its shares again. */
static gboolean
rebuild_secret(BfdSession *s, BfdItem *it)
{
  g_autofree uint8_t *buf = g_malloc(BF_SECRET_MAX);
  g_autofree char *why = NULL;
  char name[40];
  uint8_t status;
  size_t len;

  if (it->coding.kind != BF_CODING_SHAMIR)
    return TRUE;
  if ((len = read_secret(s, it->id, buf)) == 0) {
    item_file(name, sizeof name, it->id, "sec");
    unlinkat(s->tmp_fd, name, 0);
    return TRUE;
  }
  if (bfd_item_take_secret(it, &s->srv->limits, buf, len, &status, &why))
    return TRUE;
  g_warning("session %s: the recorded secret of %s does not fit it: %s",
            s->dirname, it->label, why);
  return FALSE;
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
  bfd_item_set_name(it, (const uint8_t *)r->name, strlen(r->name));
  it->mode = r->mode;
  it->mtime_sec = r->mtime_sec;
  it->mtime_nsec = r->mtime_nsec;
  it->asm_ = bf_assembler_new(r->chunk_size, s->srv->limits.max_item_size);
  it->coding = r->coding;
  if (r->coding.kind != BF_CODING_STRIPE)
    it->shares = bfd_shares_new(&r->coding, s->share_budget);
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
  if (!hash_prefix(it) || !rebuild_secret(s, it))
    goto fail;
  return it;
fail:
  bfd_item_unref(it);
  return NULL;
}

/* An item whose .part is gone but whose record is there was renamed into
 * data/ just before the crash (the record is deleted first otherwise; see
 * bfd_resume_forget): it was stored, and its client may still be waiting
 * for that answer. What data/ holds under its name now may already be
 * newer, or removed by a consumer, so it is not checked. */
static gboolean
was_stored(const BfdRec *r)
{
  return r->closed;
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
  DIR *d = opendir_at(s->tmp_fd);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    char *end;
    uint64_t id = g_ascii_strtoull(de->d_name, &end, 16);
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
        strcmp(de->d_name, "max_id") == 0 || strcmp(de->d_name, "verdicts") == 0 ||
        strcmp(de->d_name, "ops") == 0)
      continue;
    if (end - de->d_name == 16 && g_hash_table_contains(s->items, &id) &&
        (strcmp(end, ".part") == 0 || strcmp(end, ".rec") == 0 ||
         strcmp(end, ".sec") == 0))
      continue;
    unlinkat(s->tmp_fd, de->d_name, 0);
  }
  closedir(d);
}

/* Called once per session at start-up, before any path can attach. */
static void
load_verdict(BfdSession *s, uint64_t id, uint8_t stage, uint8_t status)
{
  bfd_session_record_verdict(s, id, stage, status);
}

static void
load_op(BfdSession *s, uint64_t id, uint8_t state, uint8_t rc)
{
  if (state == OP_DONE)
    bfd_session_record_op(s, id, rc);
  else if (state == OP_STARTED)
    g_hash_table_add(s->resume->ops_doubt, g_memdup2(&id, sizeof id));
}

void
bfd_resume_load(BfdSession *s)
{
  DIR *d = opendir_at(s->tmp_fd);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  struct dirent *de;
  unsigned resumed = 0;

  bfd_resume_init(s);
  s->max_item_id = read_max_id(s);
  slots_read(s->resume->verdict_fd, VERDICT_SLOTS, load_verdict, s);
  slots_read(s->resume->ops_fd, OP_SLOTS, load_op, s);
  if (d == NULL)
    return;
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
      } else if (was_stored(&r)) {
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
  s->resume->floor = s->max_item_id;
  if (resumed > 0)
    g_message("session %s: %u partial items kept for their client", s->dirname,
              resumed);
  s->detached_at = g_get_monotonic_time();
}
