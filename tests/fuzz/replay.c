/* Replays a seed corpus through one fuzz target without libFuzzer:
 *
 *   replay-<target> DIR
 *
 * calls LLVMFuzzerTestOneInput() on every regular file of DIR, in name
 * order, each in a heap block of exactly its size (so AddressSanitizer, when
 * enabled, catches a read past the input). A broken invariant aborts, which
 * meson reports as a failed test. An empty or unreadable DIR is a failure
 * too: it would otherwise pass without testing anything. */
#include "fuzz.h"

#include <string.h>

static int
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  GDir *dir;
  guint n = 0;

  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
    return 2;
  }
  dir = g_dir_open(argv[1], 0, &error);
  if (dir == NULL) {
    fprintf(stderr, "%s: %s\n", argv[0], error->message);
    return 1;
  }
  while ((name = g_dir_read_name(dir)) != NULL)
    g_ptr_array_add(names, g_strdup(name));
  g_dir_close(dir);
  g_ptr_array_sort(names, compare_names);

  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename(argv[1], names->pdata[i], NULL);
    g_autofree char *contents = NULL;
    gsize len;

    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
      continue;
    if (!g_file_get_contents(path, &contents, &len, &error)) {
      fprintf(stderr, "%s: %s\n", argv[0], error->message);
      return 1;
    }
    /* g_file_get_contents() adds a NUL after the data; the target must not
     * see it. malloc(0) may return NULL, libFuzzer never passes NULL. */
    uint8_t *data = g_malloc(MAX(len, 1));
    memcpy(data, contents, len);
    printf("%s (%" G_GSIZE_FORMAT " bytes)\n", (const char *)names->pdata[i],
           len);
    fflush(stdout);
    LLVMFuzzerTestOneInput(data, len);
    g_free(data);
    n++;
  }
  if (n == 0) {
    fprintf(stderr, "%s: no input files in %s\n", argv[0], argv[1]);
    return 1;
  }
  printf("%u inputs replayed\n", n);
  return 0;
}
