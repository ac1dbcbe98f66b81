/* The on-disk form of a spooled file (spoolfmt.h). */
#include "spoolfmt.h"

#include <sodium.h>
#include <sys/stat.h>
#include <string.h>

#include "braidfs/bytes.h"
#include "braidfs/digest.h"
#include "braidfs/io.h"

#define HDR_MAC 82
#define HDR_FIXED (HDR_MAC + BFC_SPOOL_MAC_LEN)
#define MAGIC "BFSPOOL5"
#define MAGIC_V4 "BFSPOOL4"
#define MAGIC_V3 "BFSPOOL3"
#define MAGIC_V2 "BFSPOOL2"
#define MAGIC_V1 "BFSPOOL1"
#define MAC_ITEM "braidfs spool item v2"
/* After the name (version 4): base_size u64, base_digest[32], base_alg u8;
 * version 5 adds alg u8, the algorithm of digest. */
#define HDR_BASE (8 + BF_DIGEST_LEN + 1)
#define HDR_TAIL (HDR_BASE + 1)
G_STATIC_ASSERT(HDR_FIXED + BF_NAME_MAX + HDR_TAIL <= SLOT_SIZE);

static void
header_mac(const BfcSpoolDir *d, uint64_t fseq, const uint8_t *h, size_t nlen,
           size_t tail, uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t seq[8];

  bf_store_le64(seq, fseq);
  bfc_spool_mac_init(d, &st, MAC_ITEM);
  crypto_generichash_update(&st, seq, sizeof seq);
  crypto_generichash_update(&st, h, HDR_MAC);
  crypto_generichash_update(&st, h + HDR_FIXED, nlen + tail);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

size_t
bfc_spool_hdr_encode(const BfcSpoolDir *d, const BfcSpoolFile *f, uint8_t *h)
{
  size_t nlen = strlen(f->name);

  memset(h, 0, HDR_FIXED);
  memcpy(h, MAGIC, 8);
  bf_store_le32(h + 8, 5);
  bf_store_le32(h + 12, f->gen);
  bf_store_le64(h + 16, f->item_id);
  bf_store_le64(h + 24, f->size);
  bf_store_le32(h + 32, f->mode);
  bf_store_le32(h + 36, (uint32_t)f->mtime.tv_nsec);
  bf_store_le64(h + 40, (uint64_t)f->mtime.tv_sec);
  memcpy(h + 48, f->digest, BF_DIGEST_LEN);
  bf_store_le16(h + 80, (uint16_t)nlen);
  memcpy(h + HDR_FIXED, f->name, nlen);
  bf_store_le64(h + HDR_FIXED + nlen, f->base_size);
  memcpy(h + HDR_FIXED + nlen + 8, f->base_digest, BF_DIGEST_LEN);
  h[HDR_FIXED + nlen + 8 + BF_DIGEST_LEN] = f->base_alg;
  h[HDR_FIXED + nlen + HDR_BASE] = f->alg;
  header_mac(d, f->seq, h, nlen, HDR_TAIL, h + HDR_MAC);
  return HDR_FIXED + nlen + HDR_TAIL;
}

HdrCheck
bfc_spool_hdr_decode(const BfcSpoolDir *d, const uint8_t *h, size_t got,
                     BfcSpoolFile *f)
{
  uint8_t mac[BFC_SPOOL_MAC_LEN];
  uint32_t version;
  size_t nlen, tail;

  if (got >= 8 && memcmp(h, MAGIC_V1, 8) == 0)
    return HDR_FORGED;
  if (got < HDR_FIXED)
    return HDR_NONE;
  if (memcmp(h, MAGIC, 8) == 0)
    version = 5;
  else if (memcmp(h, MAGIC_V4, 8) == 0)
    version = 4;
  else if (memcmp(h, MAGIC_V3, 8) == 0)
    version = 3;
  else if (memcmp(h, MAGIC_V2, 8) == 0)
    version = 2;
  else
    return HDR_NONE;
  nlen = bf_load_le16(h + 80);
  tail = version == 5 ? HDR_TAIL : version == 4 ? HDR_BASE : 0;
  if (bf_load_le32(h + 8) != version || nlen == 0 || nlen > BF_NAME_MAX ||
      HDR_FIXED + nlen + tail > got)
    return HDR_FORGED;
  header_mac(d, f->seq, h, nlen, tail, mac);
  if (sodium_memcmp(mac, h + HDR_MAC, sizeof mac) != 0)
    return HDR_FORGED;
  f->gen = version >= 3 ? bf_load_le32(h + 12) : 0;
  f->item_id = bf_load_le64(h + 16);
  f->size = bf_load_le64(h + 24);
  f->mode = bf_load_le32(h + 32) & 07777;
  f->mtime.tv_nsec = bf_load_le32(h + 36) % 1000000000u;
  f->mtime.tv_sec = (time_t)bf_load_le64(h + 40);
  memcpy(f->digest, h + 48, BF_DIGEST_LEN);
  g_free(f->name);
  f->name = g_strndup((const char *)h + HDR_FIXED, nlen);
  if (strlen(f->name) != nlen)
    return HDR_FORGED;
  /* Versions 2 and 3 knew no base: their file is whole. Versions before 5
   * recorded a SHA-256. */
  f->base_size = version >= 4 ? bf_load_le64(h + HDR_FIXED + nlen) : 0;
  f->base_alg = version >= 4 ? h[HDR_FIXED + nlen + 8 + BF_DIGEST_LEN] : 0;
  f->alg = version == 5 ? h[HDR_FIXED + nlen + HDR_BASE] : BF_DIGEST_SHA256;
  if (version >= 4)
    memcpy(f->base_digest, h + HDR_FIXED + nlen + 8, BF_DIGEST_LEN);
  else
    memset(f->base_digest, 0, BF_DIGEST_LEN);
  if ((f->base_size > 0) != (f->base_alg != 0) ||
      (f->base_alg != 0 && !bf_digest_alg_known(f->base_alg)) ||
      !bf_digest_alg_known(f->alg))
    return HDR_FORGED;
  return version == 2 ? HDR_V2 : HDR_OK;
}

char *
bfc_spool_seq_name(uint64_t seq)
{
  return g_strdup_printf("%016" G_GINT64_MODIFIER "x.item", seq);
}

gboolean
bfc_spool_parse_seq(const char *name, uint64_t *seq)
{
  char *end;

  if (!g_str_has_suffix(name, ".item") || !g_ascii_isxdigit(name[0]))
    return FALSE;
  *seq = g_ascii_strtoull(name, &end, 16);
  return strcmp(end, ".item") == 0;
}

gboolean
bfc_spool_max_seq(const BfcSpoolDir *d, int dirfd, const char *sub,
                  uint64_t *max, GError **error)
{
  g_autoptr(GPtrArray) names = bfc_spool_names(d, dirfd, sub, error);
  uint64_t seq;

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++)
    if (bfc_spool_parse_seq(names->pdata[i], &seq))
      *max = MAX(*max, seq);
  return TRUE;
}

int
bfc_spool_digest(int fd, uint64_t from, uint64_t size, uint8_t alg,
                 uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(alg);
  g_autofree uint8_t *buf = g_malloc(1 << 20);

  for (uint64_t off = 0; off < size;) {
    ssize_t n = bf_pread_all(fd, buf, MIN(size - off, (uint64_t)1 << 20),
                             from + off);
    if (n <= 0)
      return n < 0 ? (int)n : -EIO;
    bf_digest_update(d, buf, (size_t)n);
    off += (uint64_t)n;
  }
  bf_digest_final(d, out);
  return 0;
}

/* The bytes of the file after its header (from off), by its size on
 * disk. */
uint64_t
bfc_spool_bytes_on_disk(int fd, uint64_t off)
{
  struct stat st;

  if (fstat(fd, &st) < 0 || (uint64_t)st.st_size <= off)
    return 0;
  return (uint64_t)st.st_size - off;
}

void
bfc_spool_take_fields(BfcSpoolFile *f, BfcSpoolFile *c)
{
  g_free(f->name);
  f->name = g_steal_pointer(&c->name);
  f->gen = c->gen;
  f->item_id = c->item_id;
  f->size = c->size;
  f->mode = c->mode;
  f->mtime = c->mtime;
  memcpy(f->digest, c->digest, BF_DIGEST_LEN);
  f->alg = c->alg;
  f->base_size = c->base_size;
  f->base_alg = c->base_alg;
  memcpy(f->base_digest, c->base_digest, BF_DIGEST_LEN);
}

/* Is the slot in c a committed version of f's file: 1 yes, 0 no (proven),
 * or -errno. */
static int
slot_holds(BfcSpoolFile *f, BfcSpoolFile *c, uint64_t data_off)
{
  uint8_t digest[BF_DIGEST_LEN];
  int rc;

  if (bfc_spool_bytes_on_disk(f->fd, data_off) < c->size)
    return 0;
  if ((rc = bfc_spool_digest(f->fd, data_off, c->size, c->alg, digest)) < 0)
    return rc;
  return sodium_memcmp(digest, c->digest, BF_DIGEST_LEN) == 0;
}

Found
bfc_spool_pick_slot(const BfcSpoolDir *d, BfcSpoolFile *f, gboolean *v2,
                    int *err)
{
  g_autofree uint8_t *h = g_malloc(HDR_SIZE);
  gboolean forged = FALSE, have = FALSE;
  ssize_t got = bf_pread_all(f->fd, h, HDR_SIZE, 0);

  if (got < 0) {
    *err = (int)-got;
    return FOUND_UNKNOWN;
  }
  for (unsigned slot = 0; slot < 2; slot++) {
    size_t off = slot * SLOT_SIZE;
    BfcSpoolFile c = { .sp = f->sp, .seq = f->seq };
    HdrCheck check = (size_t)got > off ? bfc_spool_hdr_decode(d, h + off, (size_t)got - off, &c)
                                       : HDR_NONE;
    int rc = check == HDR_OK || (check == HDR_V2 && slot == 0)
               ? slot_holds(f, &c, check == HDR_V2 ? HDR_V2_SIZE : HDR_SIZE) : 0;

    forged |= check == HDR_FORGED;
    if (rc < 0) {
      g_free(c.name);
      *err = -rc;
      return FOUND_UNKNOWN;
    }
    if (rc > 0 && (!have || (int32_t)(c.gen - f->gen) > 0)) {
      bfc_spool_take_fields(f, &c);
      f->synced_slot = slot;
      have = TRUE;
      *v2 = check == HDR_V2;
      if (*v2)
        break;   /* its slot 1 is its bytes */
    }
    g_free(c.name);
  }
  return have ? FOUND_OK : forged ? FOUND_FORGED : FOUND_NOTHING;
}
