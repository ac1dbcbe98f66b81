/* coding-shares: the shares of a file, for test peers that speak the
 * protocol without a GF(2^8) library (coding-server.sh).
 *
 *   coding-shares CODING CHUNK_SIZE < FILE > SHARES
 *
 * CODING as the client's coding= option (shamir:K/N, rs:K/N). For each
 * chunk of CHUNK_SIZE bytes (the last one shorter), for each share 0..N-1,
 * writes a record: u32 chunk_id, u8 share_index, u8 pad, u32 length (big-
 * endian), then the share. Uses the product's encoder (src/core/coding.c). */
#include <stdio.h>
#include <stdlib.h>

#include "braidfs/coding.h"
#include "braidfs/units.h"

static void
put_be(uint8_t *p, uint32_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

int
main(int argc, char **argv)
{
  BfCodingSpec spec;
  uint64_t cs;
  g_autoptr(GError) error = NULL;

  if (argc != 3) {
    fprintf(stderr, "usage: coding-shares CODING CHUNK_SIZE < FILE > SHARES\n");
    return 2;
  }
  if (!bf_coding_parse(argv[1], &spec, &error) ||
      !bf_parse_size(argv[2], &cs, &error)) {
    fprintf(stderr, "coding-shares: %s\n", error->message);
    return 2;
  }
  if (cs == 0 || cs > BF_CHUNK_MAX) {
    fprintf(stderr, "coding-shares: chunk size out of range\n");
    return 2;
  }
  g_autoptr(BfCoder) c = bf_coder_new(&spec);
  g_autofree uint8_t *chunk = g_malloc(cs);
  uint8_t *shares[BF_CODING_N_MAX];
  size_t len;
  uint32_t id = 0;

  for (unsigned i = 0; i < spec.n; i++)
    shares[i] = g_malloc(bf_coding_share_len(&spec, cs));
  while ((len = fread(chunk, 1, cs, stdin)) > 0) {
    size_t sl = bf_coding_share_len(&spec, len);

    bf_coder_encode(c, chunk, len, shares);
    for (unsigned i = 0; i < spec.n; i++) {
      uint8_t hdr[10];

      put_be(hdr, id, 4);
      hdr[4] = (uint8_t)i;
      hdr[5] = bf_coding_pad(&spec, len);
      put_be(hdr + 6, (uint32_t)sl, 4);
      if (fwrite(hdr, 1, sizeof hdr, stdout) != sizeof hdr ||
          fwrite(shares[i], 1, sl, stdout) != sl) {
        perror("coding-shares: write");
        return 1;
      }
    }
    id++;
    if (len < cs)
      break;
  }
  for (unsigned i = 0; i < spec.n; i++)
    g_free(shares[i]);
  return ferror(stdin) || fflush(stdout) != 0 ? 1 : 0;
}
