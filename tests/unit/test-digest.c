/* The item digest: known answers for the three algorithms, BLAKE3 against
 * b3sum over the lengths where its tree changes shape, and the state copy
 * the client relies on to deliver a file and keep writing it (and to
 * append to it). */
#include "braidfs/digest.h"

#include <string.h>
#include <unistd.h>

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
  /* `printf '' | b3sum` and `printf abc | b3sum` print these */
  check(BF_DIGEST_BLAKE3, "",
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  check(BF_DIGEST_BLAKE3, "abc",
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  g_assert_null(bf_digest_new(0));
  g_assert_null(bf_digest_new(4));
  g_assert_cmpstr(bf_digest_alg_name(BF_DIGEST_BLAKE3), ==, "BLAKE3");
  g_assert_cmpstr(bf_digest_alg_tag(BF_DIGEST_BLAKE3), ==, "blake3");
  g_assert_cmpstr(bf_digest_alg_tag(BF_DIGEST_SHA256), ==, "sha256");
  g_assert_cmpstr(bf_digest_alg_tag(BF_DIGEST_BLAKE2B_256), ==, "blake2b256");
  g_assert_cmpstr(bf_digest_alg_name(4), ==, "unknown");
}

/* b3sum's digest of len bytes of buf, as hex (NULL if it cannot run). */
static char *
b3sum_of(const uint8_t *buf, size_t len)
{
  g_autofree char *path = NULL;
  g_autofree char *out = NULL;
  g_autoptr(GError) err = NULL;
  int fd = g_file_open_tmp("test-digest-XXXXXX", &path, &err);
  int status;

  g_assert_no_error(err);
  g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
  close(fd);
  const char *argv[] = { "b3sum", "--no-names", path, NULL };
  gboolean ran = g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                              NULL, NULL, &out, NULL, &status, NULL);
  unlink(path);
  if (!ran || !g_spawn_check_wait_status(status, NULL))
    return NULL;
  return g_strndup(out, 2 * BF_DIGEST_LEN);
}

/* The official test vectors' input (byte i is i % 251) at their lengths
 * (one block, one 1 KiB chunk, the first tree levels) and past them, up to
 * what the SIMD paths hash many chunks at once for; fed in uneven pieces,
 * against b3sum (Debian's, the tool users check a file with). */
static void
test_blake3_b3sum(void)
{
  static const size_t lens[] = { 0, 1, 63, 64, 65, 1023, 1024, 1025, 2048,
                                 2049, 3072, 3073, 4096, 4097, 5120, 5121,
                                 6144, 6145, 7168, 7169, 8192, 8193, 16384,
                                 31744, 102400, 262144, 262145, 3 << 20 };
  size_t max = 3 << 20;
  g_autofree uint8_t *buf = g_malloc(max);
  g_autofree char *b3sum = g_find_program_in_path("b3sum");

  if (b3sum == NULL) {
    g_test_skip("b3sum is not installed (Debian package b3sum)");
    return;
  }
  for (size_t i = 0; i < max; i++)
    buf[i] = (uint8_t)(i % 251);
  for (size_t k = 0; k < G_N_ELEMENTS(lens); k++) {
    g_autoptr(BfDigest) d = bf_digest_new(BF_DIGEST_BLAKE3);
    uint8_t out[BF_DIGEST_LEN];
    size_t off = 0, step = 1;

    while (off < lens[k]) {
      size_t n = MIN(step, lens[k] - off);
      bf_digest_update(d, buf + off, n);
      off += n;
      step = step * 3 + 7;      /* pieces across block and chunk edges */
    }
    bf_digest_final(d, out);
    g_autofree char *hex = bf_hex(out, sizeof out);
    g_autofree char *want = b3sum_of(buf, lens[k]);
    g_assert_nonnull(want);
    if (g_strcmp0(hex, want) != 0)
      g_error("BLAKE3 of %zu bytes: %s, b3sum says %s", lens[k], hex, want);
  }
}

static void
test_copy_and_pieces(void)
{
  static const uint8_t algs[] = { BF_DIGEST_SHA256, BF_DIGEST_BLAKE2B_256,
                                  BF_DIGEST_BLAKE3 };
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
    /* What an append does: a copy kept (compact for BLAKE3), copied
     * again, then fed the rest. */
    g_autoptr(BfDigest) kept = bf_digest_copy(p);
    g_autoptr(BfDigest) resumed = bf_digest_copy(kept);
    uint8_t appended[BF_DIGEST_LEN], kept_final[BF_DIGEST_LEN];
    bf_digest_update(resumed, buf + 1024 * 1024, 2 * 1024 * 1024 + 17);
    bf_digest_final(resumed, appended);
    g_assert_cmpmem(appended, sizeof appended, whole, sizeof whole);
    bf_digest_final(kept, kept_final);
    g_assert_cmpmem(kept_final, sizeof kept_final, prefix, sizeof prefix);
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
  g_test_add_func("/digest/blake3-b3sum", test_blake3_b3sum);
  g_test_add_func("/digest/copy-and-pieces", test_copy_and_pieces);
  return g_test_run();
}
