/* The item digest: known answers for both algorithms, and the state copy
 * the client relies on to deliver a file and keep writing it. */
#include "braidfs/digest.h"

#include <string.h>

#include "braidfs/parse.h"

static void
check(uint8_t alg, const char *input, const char *want_hex)
{
  g_autoptr(BfDigest) d = bf_digest_new(alg);
  uint8_t out[BF_DIGEST_LEN];

  g_assert_nonnull(d);
  g_assert_cmpuint(bf_digest_alg(d), ==, alg);
  bf_digest_update(d, input, strlen(input));
  bf_digest_final(d, out);
  g_autofree char *hex = bf_hex(out, sizeof out);
  g_assert_cmpstr(hex, ==, want_hex);
}

static void
test_known_answers(void)
{
  /* FIPS 180-2 and RFC 7693 test vectors; `printf abc | sha256sum` and
   * `printf abc | b2sum -l 256` print the same. */
  check(BF_DIGEST_SHA256, "abc",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check(BF_DIGEST_SHA256, "",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check(BF_DIGEST_BLAKE2B_256, "abc",
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  g_assert_null(bf_digest_new(0));
  g_assert_null(bf_digest_new(3));
}

static void
test_copy_and_pieces(void)
{
  static const uint8_t algs[] = { BF_DIGEST_SHA256, BF_DIGEST_BLAKE2B_256 };
  g_autofree uint8_t *buf = g_malloc(3 * 1024 * 1024 + 17);

  for (size_t i = 0; i < 3 * 1024 * 1024 + 17; i++)
    buf[i] = (uint8_t)(i * 131 + (i >> 11));
  for (size_t a = 0; a < G_N_ELEMENTS(algs); a++) {
    uint8_t whole[BF_DIGEST_LEN], pieces[BF_DIGEST_LEN], prefix[BF_DIGEST_LEN];
    g_autoptr(BfDigest) d = bf_digest_new(algs[a]);
    g_autoptr(BfDigest) p = bf_digest_new(algs[a]);
    g_autoptr(BfDigest) pre = bf_digest_new(algs[a]);

    bf_digest_update(d, buf, 3 * 1024 * 1024 + 17);
    bf_digest_final(d, whole);
    bf_digest_update(pre, buf, 1024 * 1024);
    bf_digest_final(pre, prefix);

    /* A copy finished early must not disturb the original state. */
    bf_digest_update(p, buf, 1024 * 1024);
    g_autoptr(BfDigest) c = bf_digest_copy(p);
    uint8_t early[BF_DIGEST_LEN];
    bf_digest_final(c, early);
    g_assert_cmpmem(early, sizeof early, prefix, sizeof prefix);
    bf_digest_update(p, buf + 1024 * 1024, 7);
    bf_digest_update(p, buf + 1024 * 1024 + 7, 2 * 1024 * 1024 + 10);
    bf_digest_final(p, pieces);
    g_assert_cmpmem(whole, sizeof whole, pieces, sizeof pieces);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  bf_crypto_init();
  g_test_add_func("/digest/known-answers", test_known_answers);
  g_test_add_func("/digest/copy-and-pieces", test_copy_and_pieces);
  return g_test_run();
}
