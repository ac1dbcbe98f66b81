/* Unit tests for the table-driven options (src/util/opts.c) and for the
 * two daemons' tables (src/server/options.c, src/client/options.c): that
 * parsing stores, checks and leaves FUSE's arguments alone; that errors
 * name the option and its range; that --help shows every option with its
 * range and default; and that every option of a table is documented in
 * its daemon's man page. */
#include "braidfs/opts.h"

#include <string.h>

#include "../../src/client/options.h"
#include "../../src/server/options.h"

typedef struct {
  unsigned n;
  uint64_t size;
  unsigned ms;
  char *text;
  char *dir;
  char *word;
  gboolean flag;
  GPtrArray *list;
} Values;

static const BfOptSpec table[] = {
  { "n", BF_OPT_UINT, offsetof(Values, n), "4", 1, 64, NULL, "a count" },
  { "size", BF_OPT_SIZE, offsetof(Values, size), "256K", 4096, 16 << 20, NULL,
    "a size" },
  { "secs", BF_OPT_SECONDS, offsetof(Values, ms), "2", 200, 600000, NULL,
    "a duration" },
  { "text", BF_OPT_STRING, offsetof(Values, text), NULL, 0, 8, NULL,
    "some text" },
  { "dir", BF_OPT_PATH, offsetof(Values, dir), "/var/x", 0, 0, "DIR",
    "a directory" },
  { "word", BF_OPT_CHOICE, offsetof(Values, word), "one", 0, 0, "one|two",
    "a word" },
  { "flag", BF_OPT_BOOL, offsetof(Values, flag), NULL, 0, 0, NULL, "a flag" },
  { "list", BF_OPT_LIST, offsetof(Values, list), "a:1", 0, 0, "ADDR",
    "an address" },
  BF_OPT_END
};

/* Parses argv (NULL-terminated); the arguments left for libfuse come back
 * in *rest (joined by spaces) unless NULL. */
static gboolean
parse(BfOpts *o, const char *const *argv, BfOptsFlags *flags, char **rest,
      GError **error)
{
  g_auto(GStrv) copy = g_strdupv((char **)argv);
  struct fuse_args args = FUSE_ARGS_INIT((int)g_strv_length(copy), copy);
  gboolean ok = bf_opts_parse(o, &args, flags, error);

  if (rest != NULL)
    *rest = g_strjoinv(" ", args.argv);
  fuse_opt_free_args(&args);
  return ok;
}

static void
test_defaults(void)
{
  Values v;
  g_autoptr(BfOpts) o = bf_opts_new(table, &v, 0);

  g_assert_cmpuint(v.n, ==, 4);
  g_assert_cmpuint(v.size, ==, 256 << 10);
  g_assert_cmpuint(v.ms, ==, 2000);
  g_assert_null(v.text);
  g_assert_cmpstr(v.dir, ==, "/var/x");
  g_assert_cmpstr(v.word, ==, "one");
  g_assert_false(v.flag);
  g_assert_cmpuint(v.list->len, ==, 1);
  g_assert_cmpstr(v.list->pdata[0], ==, "a:1");
  g_assert_false(bf_opts_given(o, "n"));
}

/* Values of every type, several -o, the common flags, a positional
 * argument; what the table does not know stays for libfuse, in order. */
static void
test_parse(void)
{
  static const char *const argv[] = {
    "prog", "host:1", "/mnt", "-o", "n=5,size=1M,secs=0.25,text=abc",
    "-o", "dir=/srv,word=two,flag,list=b:2,allow_other", "-o", "list=c:3",
    "-f", "-o", "ro", NULL };
  Values v;
  g_autoptr(BfOpts) o = bf_opts_new(table, &v, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *rest = NULL;
  BfOptsFlags flags;

  g_assert_true(parse(o, argv, &flags, &rest, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(v.n, ==, 5);
  g_assert_cmpuint(v.size, ==, 1 << 20);
  g_assert_cmpuint(v.ms, ==, 250);
  g_assert_cmpstr(v.text, ==, "abc");
  g_assert_cmpstr(v.dir, ==, "/srv");
  g_assert_cmpstr(v.word, ==, "two");
  g_assert_true(v.flag);
  /* The default went away with the first given value. */
  g_assert_cmpuint(v.list->len, ==, 2);
  g_assert_cmpstr(v.list->pdata[0], ==, "b:2");
  g_assert_cmpstr(v.list->pdata[1], ==, "c:3");
  g_assert_cmpstr(bf_opts_positional(o, 0), ==, "host:1");
  g_assert_null(bf_opts_positional(o, 1));
  g_assert_true(flags.foreground);
  g_assert_false(flags.debug || flags.help || flags.version);
  g_assert_true(bf_opts_given(o, "n") && bf_opts_given(o, "list"));
  g_assert_cmpstr(rest, ==, "prog -o allow_other,ro /mnt -f");
}

/* The last value of a scalar wins; booleans take their spelled forms;
 * -d is debug, and libfuse gets -f instead of its own request dump. */
static void
test_forms(void)
{
  static const char *const argv[] = {
    "prog", "-o", "n=5", "-o", "n=6,flag=yes,flag=off", "-d", "-V", "/mnt",
    NULL };
  Values v;
  g_autoptr(BfOpts) o = bf_opts_new(table, &v, 0);
  g_autofree char *rest = NULL;
  BfOptsFlags flags;

  g_assert_true(parse(o, argv, &flags, &rest, NULL));
  g_assert_cmpuint(v.n, ==, 6);
  g_assert_false(v.flag);
  g_assert_true(flags.debug && flags.foreground && flags.version);
  g_assert_cmpstr(rest, ==, "prog -f /mnt");
}

/* Each bad value fails with a message naming the option, what was given
 * and what is accepted; the field keeps its earlier value. */
static void
test_errors(void)
{
  static const struct { const char *opt, *message; } cases[] = {
    { "n=0", "n=0 is out of range (1 to 64)" },
    { "n=65", "n=65 is out of range (1 to 64)" },
    { "n=-1", "n=-1: not a whole number" },
    { "n=4x", "n=4x: not a whole number" },
    { "n= 4", "n= 4: not a whole number" },
    { "n=", "n=: not a whole number" },
    { "n=99999999999999999999", "n=99999999999999999999: not a whole number" },
    { "n", "n needs a value: n=N" },
    { "size=2", "size=2 is out of range (4K to 16M)" },
    { "size=banana", "size: 'banana' is not a size" },
    { "secs=0.1", "secs=0.1 is out of range (0.2 to 600 seconds)" },
    { "secs=1e3", "secs: '1e3' is not a number of seconds" },
    { "text=123456789", "text is longer than 8 bytes" },
    { "dir=", "dir is empty: give a DIR" },
    { "word=three", "word=three: use one or two" },
    { "flag=maybe", "flag=maybe: use flag alone, or flag=yes or flag=no" },
    { "list=", "list is empty: give a ADDR" },
  };

  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    const char *argv[] = { "prog", "-o", cases[i].opt, NULL };
    Values v;
    g_autoptr(BfOpts) o = bf_opts_new(table, &v, 0);
    g_autoptr(GError) error = NULL;
    BfOptsFlags flags;

    g_assert_false(parse(o, argv, &flags, NULL, &error));
    g_assert_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
    if (strstr(error->message, cases[i].message) != error->message)
      g_error("-o %s: \"%s\", expected \"%s...\"", cases[i].opt,
              error->message, cases[i].message);
    g_assert_cmpuint(v.n, ==, 4);
  }
}

/* One line per option (or two when its name is long), each with its
 * range and default, none wider than 79 columns. */
static void
test_help(void)
{
  Values v;
  g_autoptr(BfOpts) o = bf_opts_new(table, &v, 0);
  g_autoptr(GString) out = g_string_new(NULL);
  g_auto(GStrv) lines = NULL;

  bf_opts_help(o, out);
  lines = g_strsplit(out->str, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    g_assert_cmpuint(strlen(*l), <=, 79);
  g_assert_nonnull(strstr(out->str,
    "    -o n=N                 a count (1 to 64, default 4)\n"));
  g_assert_nonnull(strstr(out->str,
    "    -o size=SIZE           a size (4K to 16M, default 256K)\n"));
  g_assert_nonnull(strstr(out->str,
    "    -o secs=SECONDS        a duration (0.2 to 600 seconds, default 2)\n"));
  g_assert_nonnull(strstr(out->str,
    "    -o text=TEXT           some text (at most 8 bytes)\n"));
  g_assert_nonnull(strstr(out->str,
    "    -o word=one|two        a word (default one)\n"));
  g_assert_nonnull(strstr(out->str, "    -o flag                a flag\n"));
  g_assert_nonnull(strstr(out->str,
    "    -o list=ADDR           an address (repeatable, default a:1)\n"));
}

/* A table whose default is outside its own range is a bug: the daemon
 * stops at once, naming the option. */
static void
test_broken_table(void)
{
  if (g_test_subprocess()) {
    static const BfOptSpec broken[] = {
      { "n", BF_OPT_UINT, offsetof(Values, n), "0", 1, 64, NULL, "a count" },
      BF_OPT_END
    };
    Values v;
    bf_opts_new(broken, &v, 0);
    return;
  }
  g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed();
  g_test_trap_assert_stderr("*option table: n: default: n=0 is out of range*");
}

/* The daemons' tables: they build, their defaults are the documented
 * ones, and every option is in the man page (with the same default). */
/* word in text, between spaces, newlines or punctuation. */
static gboolean
has_word(const char *text, const char *word)
{
  size_t n = strlen(word);

  for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word))
    if ((p == text || strchr(" \n", p[-1]) != NULL) &&
        (p[n] == '\0' || strchr(" .,\n", p[n]) != NULL))
      return TRUE;
  return FALSE;
}

static void
check_documented(const BfOptSpec *t, const char *man_name)
{
  g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "..",
                                                "man", man_name, NULL);
  g_autofree char *man = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true(g_file_get_contents(path, &man, NULL, &error));

  for (; t->name != NULL; t++) {
    g_autofree char *entry = g_strdup_printf("\n.BI %s= ", t->name);
    g_autofree char *entry2 = g_strdup_printf("\n.BR %s= ", t->name);
    g_autofree char *entry3 = g_strdup_printf(" %s=\" ", t->name);
    g_autofree char *entry4 = g_strdup_printf("\n.B %s=", t->name);
    g_autofree char *entry5 = g_strdup_printf("\n.BI %s=", t->name);
    /* a flag: "name" alone */
    g_autofree char *entry6 = g_strdup_printf("\n.B %s\n", t->name);
    const char *at = strstr(man, entry);

    at = at ? at : strstr(man, entry2);
    at = at ? at : strstr(man, entry3);
    at = at ? at : strstr(man, entry4);
    at = at ? at : strstr(man, entry5);
    at = at || t->type != BF_OPT_BOOL ? at : strstr(man, entry6);
    if (at == NULL)
      g_error("%s: option %s is not documented", man_name, t->name);
    if (t->def != NULL) {
      const char *next = strstr(at + 1, "\n.TP\n");
      g_autofree char *section = next ? g_strndup(at, next - at) : g_strdup(at);
      const char *d = strstr(section, "Default");
      /* A choice marks its default among its words instead. */
      g_autofree char *marked = g_strdup_printf("\n.B %s\n(default)", t->def);
      g_autofree char *own = g_strdup_printf("\n.B %s=%s\n", t->name, t->def);
      const char *o = strstr(man, own);
      gboolean ok = (d != NULL && has_word(d, t->def)) ||
                    strstr(man, marked) != NULL ||
                    (o != NULL && strstr(o, "This is the default.") != NULL &&
                     strstr(o, "This is the default.") < strstr(o + 1, "\n.TP\n"));
      if (!ok)
        g_error("%s: option %s: its default %s is not in its entry",
                man_name, t->name, t->def);
    }
  }
}

static void
test_server_table(void)
{
  BfdOptions v;
  g_autoptr(BfOpts) o = bf_opts_new(bfd_options, &v, 0);

  g_assert_false(bf_opts_given(o, "listen"));
  g_assert_cmpstr(v.listen->pdata[0], ==, "127.0.0.1:7411");
  g_assert_cmpstr(v.store, ==, "/var/lib/braidfs");
  g_assert_null(v.key_file);
  g_assert_cmpuint(v.limits.max_sessions, ==, 64);
  g_assert_cmpuint(v.limits.max_paths, ==, 64);
  g_assert_cmpuint(v.limits.max_open_items, ==, 4096);
  /* In milliseconds, as the fields' names say. */
  g_assert_cmpuint(v.limits.handshake_timeout_ms, ==, 10000);
  g_assert_cmpuint(v.limits.idle_timeout_ms, ==, 60000);
  g_assert_cmpuint(v.limits.linger_ms, ==, 120000);
  g_assert_cmpuint(v.limits.max_item_size, ==, (uint64_t)1 << 40);
  g_assert_cmpuint(v.limits.max_name, ==, BF_NAME_MAX);
  g_assert_cmpuint(v.limits.max_depth, ==, BF_DEPTH_MAX);
  g_assert_cmpuint(v.max_chunk, ==, BF_CHUNK_MAX);
  g_assert_cmpuint(v.limits.max_handshakes, ==, 64);
  g_assert_cmpuint(v.limits.max_handshakes_per_addr, ==, 8);
  g_assert_cmpuint(v.limits.attach_rate, ==, 20);
  g_assert_cmpuint(v.limits.attach_burst, ==, 40);
  check_documented(bfd_options, "braidfsd.8");
}

static void
test_client_table(void)
{
  BfcOptions v;
  g_autoptr(BfOpts) o = bf_opts_new(bfc_options, &v, 1);

  g_assert_false(bf_opts_given(o, "paths"));
  g_assert_cmpuint(v.paths, ==, 4);
  g_assert_cmpuint(v.path->len, ==, 0);
  g_assert_cmpuint(v.chunk_size, ==, BF_CHUNK_DEFAULT);
  g_assert_cmpstr(v.scheduler, ==, "dynamic");
  g_assert_cmpstr(v.coding, ==, "stripe");
  g_assert_cmpuint(v.window, ==, 4);
  g_assert_cmpstr(v.delivery, ==, "close");
  g_assert_null(v.spool);
  g_assert_null(v.label);
  g_assert_cmpuint(v.timeout_ms, ==, 60000);
  g_assert_cmpuint(v.stall_ms, ==, 2000);
  g_assert_null(v.key_file);
  check_documented(bfc_options, "braidfs.1");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/opts/defaults", test_defaults);
  g_test_add_func("/opts/parse", test_parse);
  g_test_add_func("/opts/forms", test_forms);
  g_test_add_func("/opts/errors", test_errors);
  g_test_add_func("/opts/help", test_help);
  g_test_add_func("/opts/broken-table", test_broken_table);
  g_test_add_func("/opts/server-table", test_server_table);
  g_test_add_func("/opts/client-table", test_client_table);
  return g_test_run();
}
