/* Table-driven options (see opts.h). The table becomes a fuse_opt array
 * of keys, two per option ("name=" with a value, "name" alone), so that
 * libfuse does the splitting of -o lists and its escaping rules, and
 * everything it does not know stays for fuse_main. */
#include "braidfs/opts.h"

#include <fuse.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "braidfs/units.h"
#include "braidfs/wire.h"

/* fuse_opt keys: the flags, then two per table entry. */
enum { KEY_HELP = 1, KEY_VERSION, KEY_FG, KEY_DEBUG, KEY_TABLE = 1000 };

#define HELP_COLUMN 27
#define HELP_WIDTH 79

struct BfOpts {
  const BfOptSpec *table;
  guint n;
  void *values;
  gboolean *given;
  guint n_positional;
  GPtrArray *positional;      /* char *, taken from the arguments */
  GPtrArray *templates;       /* the "name=" strings the fuse_opt array uses */
  struct fuse_opt *spec;      /* KEY_* entries, then FUSE_OPT_END */
  BfOptsFlags *flags;         /* during bf_opts_parse */
  GError *error;              /* the first bad value, during bf_opts_parse */
};

static void *
field(const BfOpts *o, guint i)
{
  return (char *)o->values + o->table[i].offset;
}

static const char *
metavar(const BfOptSpec *s)
{
  static const char *const by_type[] = {
    [BF_OPT_UINT] = "N", [BF_OPT_SIZE] = "SIZE", [BF_OPT_SECONDS] = "SECONDS",
    [BF_OPT_STRING] = "TEXT", [BF_OPT_PATH] = "PATH", [BF_OPT_CHOICE] = "WORD",
    [BF_OPT_BOOL] = "", [BF_OPT_LIST] = "VALUE",
  };
  return s->metavar != NULL ? s->metavar : by_type[s->type];
}

static gboolean G_GNUC_PRINTF(2, 3)
bad(GError **error, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  g_propagate_error(error, g_error_new_valist(G_OPTION_ERROR,
                                              G_OPTION_ERROR_BAD_VALUE, fmt, ap));
  va_end(ap);
  return FALSE;
}

/* A number as the user writes it for this option's type. */
static char *
format_number(const BfOptSpec *s, uint64_t v)
{
  switch (s->type) {
  case BF_OPT_SIZE:
    return bf_format_size(v);
  case BF_OPT_SECONDS:
    return bf_format_seconds(v);
  default:
    return g_strdup_printf("%" G_GUINT64_FORMAT, v);
  }
}

/* "1 to 64", "at least 2", "0.2 to 600 seconds", or NULL: unbounded. */
static char *
format_range(const BfOptSpec *s)
{
  g_autofree char *lo = NULL, *hi = NULL;
  const char *unit = s->type == BF_OPT_SECONDS ? " seconds" : "";

  if (s->type == BF_OPT_STRING)
    return s->max > 0 ? g_strdup_printf("at most %" G_GUINT64_FORMAT " bytes",
                                        s->max) : NULL;
  if (s->type != BF_OPT_UINT && s->type != BF_OPT_SIZE &&
      s->type != BF_OPT_SECONDS)
    return NULL;
  if (s->min == 0 && s->max == 0)
    return NULL;
  lo = format_number(s, s->min);
  if (s->max == 0)
    return g_strdup_printf("at least %s%s", lo, unit);
  hi = format_number(s, s->max);
  return g_strdup_printf("%s to %s%s", lo, hi, unit);
}

static gboolean
in_range(const BfOptSpec *s, const char *text, uint64_t v, GError **error)
{
  g_autofree char *range = NULL;

  if (v >= s->min && (s->max == 0 || v <= s->max))
    return TRUE;
  range = format_range(s);
  return bad(error, "%s=%s is out of range (%s)", s->name, text, range);
}

static gboolean
choice_ok(const BfOptSpec *s, const char *text, GError **error)
{
  g_auto(GStrv) words = g_strsplit(s->metavar, "|", -1);
  g_autofree char *list = NULL;

  if (g_strv_contains((const char *const *)words, text))
    return TRUE;
  list = g_strjoinv(" or ", words);
  return bad(error, "%s=%s: use %s", s->name, text, list);
}

static gboolean
parse_bool(const BfOptSpec *s, const char *text, gboolean *out, GError **error)
{
  static const char *const yes[] = { "yes", "true", "on", "1", NULL };
  static const char *const no[] = { "no", "false", "off", "0", NULL };

  if (g_strv_contains(yes, text) || g_strv_contains(no, text)) {
    *out = g_strv_contains(yes, text);
    return TRUE;
  }
  return bad(error, "%s=%s: use %s alone, or %s=yes or %s=no", s->name, text,
             s->name, s->name, s->name);
}

static gboolean
parse_number(const BfOptSpec *s, const char *text, uint64_t *v,
             GError **error)
{
  g_autoptr(GError) e = NULL;

  switch (s->type) {
  case BF_OPT_SIZE:
    if (!bf_parse_size(text, v, &e))
      break;
    return in_range(s, text, *v, error);
  case BF_OPT_SECONDS:
    if (!bf_parse_seconds(text, v, &e))
      break;
    return in_range(s, text, *v, error);
  default:
    /* Digits only: no sign, no spaces, no hex. */
    if (!g_ascii_isdigit(text[0]) ||
        !g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, v, NULL))
      return bad(error, "%s=%s: not a whole number", s->name, text);
    return in_range(s, text, *v, error);
  }
  return bad(error, "%s: %s", s->name, e->message);
}

/* Checks text for option i and stores it in its field. */
static gboolean
store(BfOpts *o, guint i, const char *text, GError **error)
{
  const BfOptSpec *s = &o->table[i];
  void *f = field(o, i);
  uint64_t v;

  switch (s->type) {
  case BF_OPT_UINT:
  case BF_OPT_SECONDS:
    if (!parse_number(s, text, &v, error))
      return FALSE;
    *(unsigned *)f = (unsigned)v;
    return TRUE;
  case BF_OPT_SIZE:
    return parse_number(s, text, (uint64_t *)f, error);
  case BF_OPT_BOOL:
    return parse_bool(s, text, (gboolean *)f, error);
  case BF_OPT_STRING:
    if (s->max > 0 && strlen(text) > s->max)
      return bad(error, "%s is longer than %" G_GUINT64_FORMAT " bytes",
                 s->name, s->max);
    break;
  case BF_OPT_PATH:
    if (text[0] == '\0')
      return bad(error, "%s is empty: give a %s", s->name, metavar(s));
    break;
  case BF_OPT_CHOICE:
    if (!choice_ok(s, text, error))
      return FALSE;
    break;
  case BF_OPT_LIST:
    if (text[0] == '\0')
      return bad(error, "%s is empty: give a %s", s->name, metavar(s));
    if (!o->given[i])
      g_ptr_array_set_size(*(GPtrArray **)f, 0);   /* drop the default */
    g_ptr_array_add(*(GPtrArray **)f, g_strdup(text));
    return TRUE;
  }
  g_free(*(char **)f);
  *(char **)f = g_strdup(text);
  return TRUE;
}

/* A table that does not hold is a bug in the daemon: say which entry. */
static void
check_entry(BfOpts *o, guint i)
{
  const BfOptSpec *s = &o->table[i];
  gboolean numeric = s->type == BF_OPT_UINT || s->type == BF_OPT_SECONDS ||
                     s->type == BF_OPT_SIZE;
  const char *why = NULL;

  if (s->name[0] == '\0' || strchr(s->name, '=') != NULL)
    why = "bad name";
  else if (s->help == NULL || s->help[0] == '\0')
    why = "no help";
  else if (numeric && s->max != 0 && s->min > s->max)
    why = "min > max";
  else if ((s->type == BF_OPT_UINT || s->type == BF_OPT_SECONDS) &&
           s->max > UINT_MAX)
    why = "max does not fit an unsigned field";
  else if ((s->type == BF_OPT_UINT || s->type == BF_OPT_SECONDS) &&
           s->max == 0)
    why = "an unsigned field needs a max";
  else if (s->type == BF_OPT_CHOICE && (s->metavar == NULL || s->def == NULL))
    why = "a choice needs its words and a default";
  for (guint j = 0; why == NULL && j < i; j++)
    if (strcmp(o->table[j].name, s->name) == 0)
      why = "given twice";
  if (why != NULL)
    g_error("option table: %s: %s", s->name, why);
}

static void
set_default(BfOpts *o, guint i)
{
  const BfOptSpec *s = &o->table[i];
  g_autoptr(GError) error = NULL;

  switch (s->type) {
  case BF_OPT_UINT:
  case BF_OPT_SECONDS:
    *(unsigned *)field(o, i) = 0;
    break;
  case BF_OPT_SIZE:
    *(uint64_t *)field(o, i) = 0;
    break;
  case BF_OPT_BOOL:
    *(gboolean *)field(o, i) = FALSE;
    break;
  case BF_OPT_LIST:
    *(GPtrArray **)field(o, i) = g_ptr_array_new_with_free_func(g_free);
    break;
  default:
    *(char **)field(o, i) = NULL;
  }
  if (s->def == NULL)
    return;
  if (s->type == BF_OPT_LIST)
    g_ptr_array_add(*(GPtrArray **)field(o, i), g_strdup(s->def));
  else if (!store(o, i, s->def, &error))
    g_error("option table: %s: default: %s", s->name, error->message);
}

static void
add_key(BfOpts *o, GArray *spec, char *templ, int key)
{
  struct fuse_opt k = FUSE_OPT_KEY(templ, key);

  g_ptr_array_add(o->templates, templ);
  g_array_append_val(spec, k);
}

BfOpts *
bf_opts_new(const BfOptSpec *table, void *values, guint n_positional)
{
  static const struct fuse_opt flags[] = {
    FUSE_OPT_KEY("-h", KEY_HELP), FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION), FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("-f", KEY_FG), FUSE_OPT_KEY("-d", KEY_DEBUG),
  };
  static const struct fuse_opt end = FUSE_OPT_END;
  BfOpts *o = g_new0(BfOpts, 1);
  GArray *spec = g_array_new(FALSE, FALSE, sizeof(struct fuse_opt));

  o->table = table;
  o->values = values;
  o->n_positional = n_positional;
  o->positional = g_ptr_array_new_with_free_func(g_free);
  o->templates = g_ptr_array_new_with_free_func(g_free);
  while (table[o->n].name != NULL)
    o->n++;
  o->given = g_new0(gboolean, o->n);
  g_array_append_vals(spec, flags, G_N_ELEMENTS(flags));
  for (guint i = 0; i < o->n; i++) {
    check_entry(o, i);
    set_default(o, i);
    add_key(o, spec, g_strconcat(table[i].name, "=", NULL),
            KEY_TABLE + 2 * (int)i);
    add_key(o, spec, g_strdup(table[i].name), KEY_TABLE + 2 * (int)i + 1);
  }
  g_array_append_val(spec, end);
  o->spec = (struct fuse_opt *)(void *)g_array_free(spec, FALSE);
  return o;
}

void
bf_opts_free(BfOpts *o)
{
  if (o == NULL)
    return;
  for (guint i = 0; i < o->n; i++) {
    void *f = field(o, i);
    switch (o->table[i].type) {
    case BF_OPT_STRING:
    case BF_OPT_PATH:
    case BF_OPT_CHOICE:
      g_clear_pointer((char **)f, g_free);
      break;
    case BF_OPT_LIST:
      g_clear_pointer((GPtrArray **)f, g_ptr_array_unref);
      break;
    default:
      break;
    }
  }
  g_ptr_array_unref(o->positional);
  g_ptr_array_unref(o->templates);
  g_free(o->spec);
  g_free(o->given);
  g_free(o);
}

/* One table option from fuse_opt: arg is "name=value" or "name". */
static int
table_option(BfOpts *o, const char *arg, int key)
{
  guint i = (guint)(key - KEY_TABLE) / 2;
  const BfOptSpec *s = &o->table[i];
  gboolean bare = (key - KEY_TABLE) % 2 == 1;
  const char *text = bare ? "yes" : arg + strlen(s->name) + 1;

  if (bare && s->type != BF_OPT_BOOL) {
    bad(&o->error, "%s needs a value: %s=%s", s->name, s->name, metavar(s));
    return -1;
  }
  if (!store(o, i, text, &o->error))
    return -1;
  o->given[i] = TRUE;
  return 0;
}

static int
proc(void *data, const char *arg, int key, struct fuse_args *out)
{
  BfOpts *o = data;

  if (o->error != NULL)
    return -1;
  switch (key) {
  case FUSE_OPT_KEY_NONOPT:
    if (o->positional->len >= o->n_positional)
      return 1;
    g_ptr_array_add(o->positional, g_strdup(arg));
    return 0;
  case KEY_HELP:
    o->flags->help = TRUE;
    return 0;
  case KEY_VERSION:
    o->flags->version = TRUE;
    return 0;
  case KEY_FG:
    o->flags->foreground = TRUE;
    return 1;
  case KEY_DEBUG:
    o->flags->debug = o->flags->foreground = TRUE;
    return fuse_opt_add_arg(out, "-f") == 0 ? 0 : -1;
  default:
    if (key >= KEY_TABLE && key < KEY_TABLE + 2 * (int)o->n)
      return table_option(o, arg, key);
    return 1;
  }
}

gboolean
bf_opts_parse(BfOpts *o, struct fuse_args *args, BfOptsFlags *flags,
              GError **error)
{
  int rc;

  memset(flags, 0, sizeof *flags);
  o->flags = flags;
  rc = fuse_opt_parse(args, o, o->spec, proc);
  o->flags = NULL;
  if (o->error != NULL) {
    g_propagate_error(error, g_steal_pointer(&o->error));
    return FALSE;
  }
  if (rc != 0)   /* libfuse said why on stderr ("missing argument") */
    return bad(error, "cannot parse the command line");
  return TRUE;
}

const char *
bf_opts_positional(const BfOpts *o, guint i)
{
  return i < o->positional->len ? o->positional->pdata[i] : NULL;
}

gboolean
bf_opts_given(const BfOpts *o, const char *name)
{
  for (guint i = 0; i < o->n; i++)
    if (strcmp(o->table[i].name, name) == 0)
      return o->given[i];
  g_return_val_if_reached(FALSE);
}

/* Appends text word by word after what is on the line that starts at
 * line_start, wrapping at HELP_WIDTH into HELP_COLUMN. */
static void
wrap(GString *out, gsize line_start, const char *text)
{
  g_auto(GStrv) words = g_strsplit(text, " ", -1);
  gboolean first = TRUE;

  for (char **w = words; *w != NULL; w++) {
    if (**w == '\0')
      continue;
    if (!first && out->len - line_start + 1 + strlen(*w) > HELP_WIDTH) {
      g_string_append_printf(out, "\n%*s", HELP_COLUMN, "");
      line_start = out->len - HELP_COLUMN;
    } else if (!first) {
      g_string_append_c(out, ' ');
    }
    g_string_append(out, *w);
    first = FALSE;
  }
  g_string_append_c(out, '\n');
}

static char *
help_text(const BfOptSpec *s)
{
  g_autoptr(GPtrArray) notes = g_ptr_array_new_with_free_func(g_free);
  g_autofree char *range = format_range(s);
  g_autofree char *joined = NULL;

  if (range != NULL)
    g_ptr_array_add(notes, g_steal_pointer(&range));
  if (s->type == BF_OPT_LIST)
    g_ptr_array_add(notes, g_strdup("repeatable"));
  if (s->def != NULL)
    g_ptr_array_add(notes, g_strdup_printf("default %s", s->def));
  if (notes->len == 0)
    return g_strdup(s->help);
  g_ptr_array_add(notes, NULL);
  joined = g_strjoinv(", ", (char **)notes->pdata);
  return g_strdup_printf("%s (%s)", s->help, joined);
}

void
bf_opts_help(const BfOpts *o, GString *out)
{
  for (guint i = 0; i < o->n; i++) {
    const BfOptSpec *s = &o->table[i];
    g_autofree char *text = help_text(s);
    gsize start = out->len;

    g_string_append_printf(out, "    -o %s%s%s", s->name,
                           s->type == BF_OPT_BOOL ? "" : "=", metavar(s));
    if (out->len - start >= HELP_COLUMN) {
      g_string_append_c(out, '\n');
      start = out->len;
    }
    g_string_append_printf(out, "%*s", (int)(HELP_COLUMN - (out->len - start)),
                           "");
    wrap(out, start, text);
  }
}

void
bf_opts_print_version(const char *prog)
{
  printf("%s %s (protocol %d, libfuse %s)\n", prog, BRAIDFS_VERSION,
         BF_PROTOCOL_VERSION, fuse_pkgversion());
}
