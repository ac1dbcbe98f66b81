/* The on-disk form of a spooled file (spoolfmt.h). */
#include "spoolfmt.h"

#include <sodium.h>
#include <string.h>

#include "braidfs/bytes.h"
#include "braidfs/digest.h"
#include "braidfs/io.h"

#define HDR_MAC 82
#define HDR_FIXED (HDR_MAC + BFC_SPOOL_MAC_LEN)
#define MAGIC "BFSPOOL3"
#define MAGIC_V2 "BFSPOOL2"
#define MAGIC_V1 "BFSPOOL1"
#define MAC_ITEM "braidfs spool item v2"
G_STATIC_ASSERT(HDR_FIXED + BF_NAME_MAX <= SLOT_SIZE);


static void
header_mac(const BfcSpoolDir *d, uint64_t fseq, const uint8_t *h, size_t nlen,
           uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t seq[8];

  bf_store_le64(seq, fseq);
  bfc_spool_mac_init(d, &st, MAC_ITEM);
  crypto_generichash_update(&st, seq, sizeof seq);
  crypto_generichash_update(&st, h, HDR_MAC);
  crypto_generichash_update(&st, h + HDR_FIXED, nlen);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

size_t
bfc_spool_hdr_encode(const BfcSpoolDir *d, const BfcSpoolFile *f, uint8_t *h)
{
  size_t nlen = strlen(f->name);

  memset(h, 0, HDR_FIXED);
  memcpy(h, MAGIC, 8);
  bf_store_le32(h + 8, 3);
  bf_store_le32(h + 12, f->gen);
  bf_store_le64(h + 16, f->item_id);
  bf_store_le64(h + 24, f->size);
  bf_store_le32(h + 32, f->mode);
  bf_store_le32(h + 36, (uint32_t)f->mtime.tv_nsec);
  bf_store_le64(h + 40, (uint64_t)f->mtime.tv_sec);
  memcpy(h + 48, f->digest, BF_DIGEST_LEN);
  bf_store_le16(h + 80, (uint16_t)nlen);
  memcpy(h + HDR_FIXED, f->name, nlen);
  header_mac(d, f->seq, h, nlen, h + HDR_MAC);
  return HDR_FIXED + nlen;
}


HdrCheck
bfc_spool_hdr_decode(const BfcSpoolDir *d, const uint8_t *h, size_t got,
                     BfcSpoolFile *f)
{
  uint8_t mac[BFC_SPOOL_MAC_LEN];
  uint32_t version;
  size_t nlen;

  if (got >= 8 && memcmp(h, MAGIC_V1, 8) == 0)
    return HDR_FORGED;
  if (got < HDR_FIXED ||
      (memcmp(h, MAGIC, 8) != 0 && memcmp(h, MAGIC_V2, 8) != 0))
    return HDR_NONE;
  version = memcmp(h, MAGIC, 8) == 0 ? 3 : 2;
  nlen = bf_load_le16(h + 80);
  if (bf_load_le32(h + 8) != version || nlen == 0 || nlen > BF_NAME_MAX ||
      HDR_FIXED + nlen > got)
    return HDR_FORGED;
  header_mac(d, f->seq, h, nlen, mac);
  if (sodium_memcmp(mac, h + HDR_MAC, sizeof mac) != 0)
    return HDR_FORGED;
  f->gen = version == 3 ? bf_load_le32(h + 12) : 0;
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
  return version == 3 ? HDR_OK : HDR_V2;
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

uint64_t
bfc_spool_max_seq(int dirfd)
{
  g_autoptr(GPtrArray) names = bfc_spool_names(dirfd);
  uint64_t max = 0, seq;

  for (guint i = 0; i < names->len; i++)
    if (bfc_spool_parse_seq(names->pdata[i], &seq))
      max = MAX(max, seq);
  return max;
}

int
bfc_spool_digest(int fd, uint64_t from, uint64_t size, uint8_t out[BF_DIGEST_LEN])
{
  g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_SHA256);
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
