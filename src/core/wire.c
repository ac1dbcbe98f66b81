#include "braidfs/wire.h"

#include <isa-l.h>
#include <stdarg.h>
#include <string.h>

#include "braidfs/bytes.h"

/* Body layouts are in man/braidfs-protocol.7, field by field; the cursor
 * below reads them in that order, so only whole-body sizes appear here. */
enum {
  AUTH_LEN = 2 + BF_AUTH_VALUE_LEN,
  CHUNK_ACK_LEN = 16,
  ITEM_CLOSE_LEN = 72,
  PING_LEN = 8,
  STATFS_LEN = 8,
  STATFS_ACK_LEN = 56,
  TLV_NONCE_LEN = 32,
  TLV_PROOF_LEN = 32,
  TLV_PATH_INDEX_LEN = 2,
  TLV_INSTANCE_LEN = 8,
  SHARES_MAX = 16,         /* share_index < 16, coding_n <= 16 */
  NSEC_PER_SEC = 1000000000,
};

const uint8_t bf_preface[BF_PREFACE_LEN] = {
  'B', 'R', 'A', 'I', 'D', 'F', 'S', BF_PROTOCOL_VERSION,
};

G_DEFINE_QUARK(bf-wire-error-quark, bf_wire_error)

/* NULL for a type v1 does not define. */
static const char *
frame_name(uint8_t type)
{
  switch (type) {
  case BF_FRAME_HELLO: return "HELLO";
  case BF_FRAME_WELCOME: return "WELCOME";
  case BF_FRAME_AUTH: return "AUTH";
  case BF_FRAME_ITEM_OPEN: return "ITEM_OPEN";
  case BF_FRAME_CHUNK: return "CHUNK";
  case BF_FRAME_CHUNK_ACK: return "CHUNK_ACK";
  case BF_FRAME_ITEM_CLOSE: return "ITEM_CLOSE";
  case BF_FRAME_ITEM_ACK: return "ITEM_ACK";
  case BF_FRAME_OP: return "OP";
  case BF_FRAME_OP_ACK: return "OP_ACK";
  case BF_FRAME_STATFS: return "STATFS";
  case BF_FRAME_STATFS_ACK: return "STATFS_ACK";
  case BF_FRAME_READ: return "READ";
  case BF_FRAME_READ_DATA: return "READ_DATA";
  case BF_FRAME_PING: return "PING";
  case BF_FRAME_PONG: return "PONG";
  case BF_FRAME_ERROR: return "ERROR";
  default: return NULL;
  }
}

/* ---- errors ------------------------------------------------------------ */

/* Every decode error names the frame it came from, so a log line alone
 * tells what the peer sent. frame may be NULL (bf_name_check). */
static gboolean G_GNUC_PRINTF(4, 5)
fail(GError **error, BfWireError code, const char *frame, const char *fmt, ...)
{
  if (error == NULL)
    return FALSE;  /* the caller does not want the text: skip formatting */

  va_list ap;
  va_start(ap, fmt);
  char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  if (frame != NULL)
    g_set_error(error, BF_WIRE_ERROR, code, "%s: %s", frame, what);
  else
    g_set_error_literal(error, BF_WIRE_ERROR, code, what);
  g_free(what);
  return FALSE;
}

/* Peer bytes end up in log lines: show a bounded, escaped prefix so a
 * hostile name can neither forge lines nor break the message's UTF-8. */
static char *
escape_bytes(const uint8_t *p, size_t len)
{
  enum { SHOWN = 48 };
  size_t n = MIN(len, (size_t)SHOWN);
  GString *s = g_string_sized_new(n + 8);

  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      g_string_append_c(s, (char)c);
    else
      g_string_append_printf(s, "\\x%02x", c);
  }
  if (len > n)
    g_string_append(s, "...");
  return g_string_free(s, FALSE);
}

/* ---- decoding cursor --------------------------------------------------- */

typedef struct {
  const uint8_t *buf;   /* the body; nothing at or past buf + len is read */
  size_t len;
  size_t pos;           /* bytes consumed; always <= len */
  const char *frame;    /* frame type name for error messages */
} BfCursor;

/* Returns the next n bytes, or NULL (never for a success: buf is never
 * NULL) when the body ends first. */
static const uint8_t *
cur_take(BfCursor *c, size_t n, const char *field, GError **error)
{
  if (n <= c->len - c->pos) {
    const uint8_t *p = c->buf + c->pos;
    c->pos += n;
    return p;
  }
  fail(error, BF_WIRE_ERROR_TRUNCATED, c->frame,
       "body ends inside %s (offset %zu needs %zu bytes, %zu left)",
       field, c->pos, n, c->len - c->pos);
  return NULL;
}

static gboolean
get_u8(BfCursor *c, const char *field, uint8_t *v, GError **error)
{
  const uint8_t *p = cur_take(c, 1, field, error);
  if (p == NULL)
    return FALSE;
  *v = p[0];
  return TRUE;
}

static gboolean
get_u16(BfCursor *c, const char *field, uint16_t *v, GError **error)
{
  const uint8_t *p = cur_take(c, 2, field, error);
  if (p == NULL)
    return FALSE;
  *v = bf_load_be16(p);
  return TRUE;
}

static gboolean
get_u32(BfCursor *c, const char *field, uint32_t *v, GError **error)
{
  const uint8_t *p = cur_take(c, 4, field, error);
  if (p == NULL)
    return FALSE;
  *v = bf_load_be32(p);
  return TRUE;
}

static gboolean
get_u64(BfCursor *c, const char *field, uint64_t *v, GError **error)
{
  const uint8_t *p = cur_take(c, 8, field, error);
  if (p == NULL)
    return FALSE;
  *v = bf_load_be64(p);
  return TRUE;
}

/* Two's complement on the wire; converting an out-of-range u64 straight to
 * i64 is implementation-defined, so do it arithmetically. */
static gboolean
get_i64(BfCursor *c, const char *field, int64_t *v, GError **error)
{
  uint64_t u;
  if (!get_u64(c, field, &u, error))
    return FALSE;
  *v = u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
  return TRUE;
}

static gboolean
get_bytes(BfCursor *c, size_t n, const char *field, BfBytes *out,
          GError **error)
{
  g_assert(n <= G_MAXUINT16);  /* every length prefix is a u16 */
  const uint8_t *p = cur_take(c, n, field, error);
  if (p == NULL)
    return FALSE;
  out->data = p;
  out->len = (uint16_t)n;
  return TRUE;
}

static gboolean
get_copy(BfCursor *c, size_t n, const char *field, uint8_t *dst,
         GError **error)
{
  const uint8_t *p = cur_take(c, n, field, error);
  if (p == NULL)
    return FALSE;
  memcpy(dst, p, n);
  return TRUE;
}

/* A u16 length prefix followed by that many bytes. */
static gboolean
get_lv(BfCursor *c, const char *len_field, const char *field, BfBytes *out,
       GError **error)
{
  uint16_t n;
  return get_u16(c, len_field, &n, error) &&
         get_bytes(c, n, field, out, error);
}

static gboolean
cur_end(BfCursor *c, GError **error)
{
  if (c->pos == c->len)
    return TRUE;
  return fail(error, BF_WIRE_ERROR_TOO_LONG, c->frame,
              "%zu trailing bytes after a %zu-byte body", c->len - c->pos,
              c->pos);
}

/* Fixed-size bodies are checked whole before unpacking (as nghttp2 does
 * for PING), so a wrong size is reported as such, not as a field error. */
static gboolean
check_exact(const BfCursor *c, size_t want, GError **error)
{
  if (c->len == want)
    return TRUE;
  return fail(error, c->len < want ? BF_WIRE_ERROR_TRUNCATED
                                   : BF_WIRE_ERROR_TOO_LONG,
              c->frame, "body is %zu bytes, must be %zu", c->len, want);
}

/* ---- field checks ------------------------------------------------------ */

static gboolean
check_status(const char *frame, uint8_t status, GError **error)
{
  if (status <= BF_ST_MAX_)
    return TRUE;
  return fail(error, BF_WIRE_ERROR_UNKNOWN, frame, "unknown status %u",
              status);
}

/* Status messages are shown to users and written to logs. */
static gboolean
check_text(const char *frame, const char *field, BfBytes t, GError **error)
{
  if (t.len > BF_MSG_MAX)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, frame,
                "%s is %u bytes, over the limit of %u", field, t.len,
                BF_MSG_MAX);
  /* g_utf8_validate_len also refuses embedded NULs. */
  if (!g_utf8_validate_len((const char *)t.data, t.len, NULL))
    return fail(error, BF_WIRE_ERROR_RANGE, frame, "%s is not valid UTF-8",
                field);
  return TRUE;
}

/* The label ends up in a directory name and in log lines: nothing a
 * terminal would interpret. The server maps the rest (e.g. '/') to a safe
 * spelling itself. */
static gboolean
check_label(const char *frame, BfBytes t, GError **error)
{
  if (t.len > BF_LABEL_MAX)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, frame,
                "label is %u bytes, over the limit of %u", t.len,
                BF_LABEL_MAX);
  for (size_t i = 0; i < t.len; i++) {
    uint8_t b = t.data[i];
    if (b < 0x20 || b == 0x7f)
      return fail(error, BF_WIRE_ERROR_RANGE, frame,
                  "label contains byte 0x%02x at offset %zu", b, i);
  }
  if (!g_utf8_validate_len((const char *)t.data, t.len, NULL))
    return fail(error, BF_WIRE_ERROR_RANGE, frame,
                "label is not valid UTF-8");
  return TRUE;
}

/* op (the OP kind) and field may be NULL; they only shape the message,
 * e.g. "OP RENAME: name2: name contains '..': ...". */
static gboolean
check_name(const char *frame, const char *op, const char *field, BfBytes name,
           GError **error)
{
  GError *local = NULL;
  if (bf_name_check(name.data, name.len, &local))
    return TRUE;
  g_propagate_prefixed_error(error, local, "%s%s%s%s%s: ", frame,
                             op ? " " : "", op ? op : "",
                             field ? ": " : "", field ? field : "");
  return FALSE;
}

static gboolean
check_mode(const char *frame, uint32_t mode, GError **error)
{
  if ((mode & ~(uint32_t)07777) == 0)
    return TRUE;
  return fail(error, BF_WIRE_ERROR_RANGE, frame,
              "mode 0%o has bits outside 07777", mode);
}

/* A symlink's target is text the server stores and shows, never follows:
 * any bytes but NUL, 1..BF_SYMLINK_MAX of them. */
static gboolean
check_target(const char *frame, BfBytes t, GError **error)
{
  if (t.len == 0)
    return fail(error, BF_WIRE_ERROR_RANGE, frame, "SYMLINK with an empty "
                "target");
  if (t.len > BF_SYMLINK_MAX)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, frame, "SYMLINK target of %u "
                "bytes (max %u)", t.len, BF_SYMLINK_MAX);
  if (memchr(t.data, '\0', t.len) != NULL)
    return fail(error, BF_WIRE_ERROR_RANGE, frame, "SYMLINK target contains "
                "a NUL byte");
  return TRUE;
}

static gboolean
check_share(const char *frame, uint8_t share_index, GError **error)
{
  if (share_index < SHARES_MAX)
    return TRUE;
  return fail(error, BF_WIRE_ERROR_RANGE, frame,
              "share_index %u >= %u", share_index, SHARES_MAX);
}

static gboolean
all_zero(const uint8_t *p, size_t n)
{
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

static const char *
op_str(uint8_t op)
{
  switch (op) {
  case BF_OP_MKDIR: return "MKDIR";
  case BF_OP_RMDIR: return "RMDIR";
  case BF_OP_UNLINK: return "UNLINK";
  case BF_OP_RENAME: return "RENAME";
  case BF_OP_CANCEL: return "CANCEL";
  case BF_OP_SETATTR: return "SETATTR";
  case BF_OP_SYMLINK: return "SYMLINK";
  case BF_OP_LINK: return "LINK";
  case BF_OP_MKNOD: return "MKNOD";
  default: return "unknown";
  }
}

/* ---- per-type decoders ------------------------------------------------- */

/* TLVs run to the end of the body: exactly one of hello and welcome is
 * set. Tags unknown in that frame are skipped, but the count and
 * duplicate rules hold for all, so both directions parse the same way. */
static gboolean
decode_tlvs(BfCursor *c, BfHello *hello, BfWelcome *welcome, GError **error)
{
  uint32_t seen[256 / 32] = { 0 };
  unsigned count = 0;

  while (c->pos < c->len) {
    uint8_t tag;
    BfBytes v;

    if (count == BF_TLV_MAX)
      return fail(error, BF_WIRE_ERROR_TOO_LONG, c->frame,
                  "more than %u TLVs", BF_TLV_MAX);
    count++;
    if (!get_u8(c, "TLV tag", &tag, error) ||
        !get_lv(c, "TLV length", "TLV value", &v, error))
      return FALSE;
    if (seen[tag / 32] & (UINT32_C(1) << (tag % 32)))
      return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                  "TLV tag %u appears twice", tag);
    seen[tag / 32] |= UINT32_C(1) << (tag % 32);

    size_t want;
    const char *what;
    if (welcome != NULL) {
      if (tag != BF_TLV_INSTANCE)
        continue;
      want = TLV_INSTANCE_LEN, what = "INSTANCE";
    } else switch (tag) {
    case BF_TLV_LABEL:
      if (!check_label(c->frame, v, error))
        return FALSE;
      hello->label = v;
      continue;
    case BF_TLV_NONCE:
      want = TLV_NONCE_LEN, what = "NONCE";
      break;
    case BF_TLV_PROOF:
      want = TLV_PROOF_LEN, what = "PROOF";
      break;
    case BF_TLV_PATH_INDEX:
      want = TLV_PATH_INDEX_LEN, what = "PATH_INDEX";
      break;
    default:
      continue;  /* later versions may add tags; old peers skip them */
    }
    if (v.len != want)
      return fail(error, v.len < want ? BF_WIRE_ERROR_TRUNCATED
                                      : BF_WIRE_ERROR_TOO_LONG,
                  c->frame, "%s TLV is %u bytes, must be %zu", what, v.len,
                  want);
    if (tag == BF_TLV_PATH_INDEX)
      hello->path_index = bf_load_be16(v.data);
    else if (tag == BF_TLV_INSTANCE && welcome != NULL)
      welcome->instance = bf_load_be64(v.data);
  }
  return TRUE;
}

static gboolean
decode_hello(BfCursor *c, BfHello *m, GError **error)
{
  uint8_t res;

  if (!get_u8(c, "kind", &m->kind, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_copy(c, BF_ID_LEN, "session_id", m->session_id, error) ||
      !get_copy(c, BF_ID_LEN, "token", m->token, error))
    return FALSE;

  if (m->kind != BF_HELLO_NEW && m->kind != BF_HELLO_ATTACH)
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame,
                "unknown kind %u", m->kind);
  /* A NEW session has no id yet; non-zero bytes here mean a confused or
   * probing client. */
  if (m->kind == BF_HELLO_NEW &&
      !(all_zero(m->session_id, BF_ID_LEN) && all_zero(m->token, BF_ID_LEN)))
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "NEW with a non-zero session_id or token");

  return decode_tlvs(c, m, NULL, error);
}

static gboolean
decode_welcome(BfCursor *c, BfWelcome *m, GError **error)
{
  uint8_t res;

  if (!get_u8(c, "status", &m->status, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_copy(c, BF_ID_LEN, "session_id", m->session_id, error) ||
      !get_copy(c, BF_ID_LEN, "token", m->token, error) ||
      !get_lv(c, "msg_len", "msg", &m->message, error))
    return FALSE;

  return check_status(c->frame, m->status, error) &&
         check_text(c->frame, "message", m->message, error) &&
         decode_tlvs(c, NULL, m, error);
}

static gboolean
check_coding(const char *frame, const BfItemOpen *m, GError **error)
{
  switch (m->coding) {
  case BF_CODING_STRIPE:
    if (m->coding_k == 1 && m->coding_n == 1)
      return TRUE;
    return fail(error, BF_WIRE_ERROR_RANGE, frame,
                "stripe coding with k %u, n %u (must be 1, 1)", m->coding_k,
                m->coding_n);
  case BF_CODING_SHAMIR:
  case BF_CODING_RS:
    if (m->coding_k >= 1 && m->coding_k <= m->coding_n &&
        m->coding_n >= 2 && m->coding_n <= SHARES_MAX)
      return TRUE;
    return fail(error, BF_WIRE_ERROR_RANGE, frame,
                "%s coding with k %u, n %u (need 1 <= k <= n, 2 <= n <= %u)",
                m->coding == BF_CODING_RS ? "rs" : "shamir", m->coding_k,
                m->coding_n, SHARES_MAX);
  default:
    return fail(error, BF_WIRE_ERROR_UNKNOWN, frame, "unknown coding %u",
                m->coding);
  }
}

static gboolean
decode_item_open(BfCursor *c, BfItemOpen *m, GError **error)
{
  if (!get_u64(c, "item_id", &m->item_id, error) ||
      !get_u32(c, "chunk_size", &m->chunk_size, error) ||
      !get_u32(c, "mode", &m->mode, error) ||
      !get_i64(c, "mtime_sec", &m->mtime_sec, error) ||
      !get_u32(c, "mtime_nsec", &m->mtime_nsec, error) ||
      !get_u8(c, "coding", &m->coding, error) ||
      !get_u8(c, "coding_k", &m->coding_k, error) ||
      !get_u8(c, "coding_n", &m->coding_n, error) ||
      !get_u8(c, "digest_alg", &m->digest_alg, error) ||
      !get_lv(c, "name_len", "name", &m->name, error))
    return FALSE;
  /* The base is optional: present iff the body goes on after the name. */
  m->has_base = c->pos < c->len;
  if (m->has_base &&
      (!get_u64(c, "base_size", &m->base_size, error) ||
       !get_copy(c, BF_DIGEST_LEN, "base_digest", m->base_digest, error)))
    return FALSE;
  /* base_keep is optional too: absent, the whole base is kept. */
  m->has_keep = m->has_base && c->pos < c->len;
  if (m->has_keep && !get_u64(c, "base_keep", &m->base_keep, error))
    return FALSE;
  if (!cur_end(c, error))
    return FALSE;

  if (m->chunk_size < BF_CHUNK_MIN || m->chunk_size > BF_CHUNK_MAX)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "chunk_size %u outside [%u, %u]", m->chunk_size,
                BF_CHUNK_MIN, BF_CHUNK_MAX);
  if (m->mtime_nsec >= NSEC_PER_SEC)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "mtime_nsec %u >= 1000000000", m->mtime_nsec);
  if (!bf_digest_alg_known(m->digest_alg))
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame, "unknown digest_alg %u",
                m->digest_alg);
  /* A SHAMIR item may keep its name for its secret (BfSecret). */
  if (!check_mode(c->frame, m->mode, error) ||
      !check_coding(c->frame, m, error) ||
      !((m->name.len == 0 && m->coding == BF_CODING_SHAMIR) ||
        check_name(c->frame, NULL, NULL, m->name, error)))
    return FALSE;
  if (m->has_base && (m->base_size == 0 || m->coding != BF_CODING_STRIPE))
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "a base (base_size %" G_GUINT64_FORMAT ") needs base_size "
                ">= 1 and stripe coding", m->base_size);
  /* Keeping the whole base is said by leaving base_keep out. */
  if (m->has_keep && m->base_keep >= m->base_size)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "base_keep %" G_GUINT64_FORMAT " is not below base_size %"
                G_GUINT64_FORMAT, m->base_keep, m->base_size);
  return TRUE;
}

static gboolean
decode_chunk(BfCursor *c, BfChunk *m, GError **error)
{
  uint8_t res[2];

  if (!get_u64(c, "item_id", &m->item_id, error) ||
      !get_u32(c, "chunk_id", &m->chunk_id, error) ||
      !get_u32(c, "total_chunks", &m->total_chunks, error) ||
      !get_u8(c, "share_index", &m->share_index, error) ||
      !get_u8(c, "pad", &m->pad, error) ||
      !get_copy(c, sizeof res, "reserved", res, error) ||
      !get_u32(c, "crc32c", &m->crc32c, error))
    return FALSE;

  size_t n = c->len - c->pos;
  if (n == 0)
    return fail(error, BF_WIRE_ERROR_TRUNCATED, c->frame, "empty payload");
  if (n > BF_CHUNK_MAX)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, c->frame,
                "payload of %zu bytes is over the limit of %u", n,
                BF_CHUNK_MAX);
  m->payload = c->buf + c->pos;
  m->payload_len = (uint32_t)n;
  c->pos = c->len;

  /* total_chunks is 0 while the sender does not know the size yet. */
  if (m->total_chunks != 0 && m->chunk_id >= m->total_chunks)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "chunk_id %u >= total_chunks %u", m->chunk_id,
                m->total_chunks);
  /* pad < coding_k <= 16: the receiver checks it against the item */
  if (m->pad >= SHARES_MAX)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame, "pad %u >= %u", m->pad,
                SHARES_MAX);
  return check_share(c->frame, m->share_index, error);
}

static gboolean
decode_chunk_ack(BfCursor *c, BfChunkAck *m, GError **error)
{
  uint8_t res[3];

  if (!check_exact(c, CHUNK_ACK_LEN, error) ||
      !get_u64(c, "item_id", &m->item_id, error) ||
      !get_u32(c, "chunk_id", &m->chunk_id, error) ||
      !get_u8(c, "share_index", &m->share_index, error) ||
      !get_copy(c, sizeof res, "reserved", res, error))
    return FALSE;
  return check_share(c->frame, m->share_index, error);
}

static gboolean
decode_item_close(BfCursor *c, BfItemClose *m, GError **error)
{
  uint8_t res[3];

  if (!check_exact(c, ITEM_CLOSE_LEN, error) ||
      !get_u64(c, "item_id", &m->item_id, error) ||
      !get_u32(c, "total_chunks", &m->total_chunks, error) ||
      !get_u64(c, "size", &m->size, error) ||
      !get_u8(c, "digest_alg", &m->digest_alg, error) ||
      !get_copy(c, sizeof res, "reserved", res, error) ||
      !get_copy(c, BF_DIGEST_LEN, "digest", m->digest, error) ||
      !get_u32(c, "mode", &m->mode, error) ||
      !get_i64(c, "mtime_sec", &m->mtime_sec, error) ||
      !get_u32(c, "mtime_nsec", &m->mtime_nsec, error))
    return FALSE;

  if (m->mtime_nsec >= NSEC_PER_SEC)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "mtime_nsec %u >= 1000000000", m->mtime_nsec);
  if (!check_mode(c->frame, m->mode, error))
    return FALSE;
  if (!bf_digest_alg_known(m->digest_alg))
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame,
                "unknown digest_alg %u", m->digest_alg);
  /* Every chunk carries >= 1 byte; an item without chunks is empty, or
   * an append of nothing to its base (which only the item knows). */
  if (m->total_chunks != 0 && m->size == 0)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "total_chunks %u does not fit size %" G_GUINT64_FORMAT,
                m->total_chunks, m->size);
  return TRUE;
}

static gboolean
decode_item_ack(BfCursor *c, BfItemAck *m, GError **error)
{
  if (!get_u64(c, "item_id", &m->item_id, error) ||
      !get_u8(c, "stage", &m->stage, error) ||
      !get_u8(c, "status", &m->status, error) ||
      !get_lv(c, "msg_len", "msg", &m->message, error) ||
      !get_copy(c, sizeof m->proof, "proof", m->proof, error) ||
      !cur_end(c, error))
    return FALSE;

  if (m->stage != BF_ACK_OPENED && m->stage != BF_ACK_STORED)
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame, "unknown stage %u",
                m->stage);
  return check_status(c->frame, m->status, error) &&
         check_text(c->frame, "message", m->message, error);
}

static gboolean
decode_op(BfCursor *c, BfOp *m, GError **error)
{

  if (!get_u64(c, "op_id", &m->op_id, error) ||
      !get_u8(c, "op", &m->op, error) ||
      !get_u8(c, "flags", &m->flags, error) ||
      !get_u32(c, "mode", &m->mode, error) ||
      !get_i64(c, "mtime_sec", &m->mtime_sec, error) ||
      !get_u32(c, "mtime_nsec", &m->mtime_nsec, error) ||
      !get_u64(c, "item_id", &m->item_id, error) ||
      !get_lv(c, "name_len", "name", &m->name, error) ||
      !get_lv(c, "name2_len", "name2", &m->name2, error) ||
      !cur_end(c, error))
    return FALSE;

  gboolean want_name, want_name2;
  uint8_t known = 0;
  switch (m->op) {
  case BF_OP_MKDIR:
  case BF_OP_RMDIR:
  case BF_OP_UNLINK:
    want_name = TRUE, want_name2 = FALSE;
    break;
  case BF_OP_RENAME:
  case BF_OP_LINK:
    want_name = TRUE, want_name2 = TRUE;
    break;
  case BF_OP_SYMLINK:
    /* name2 is a target text, not a name: checked below. */
    want_name = TRUE, want_name2 = FALSE;
    break;
  case BF_OP_MKNOD:
    want_name = TRUE, want_name2 = FALSE;
    known = BF_MKNOD_FIFO | BF_MKNOD_SOCK;
    break;
  case BF_OP_CANCEL:
    want_name = FALSE, want_name2 = FALSE;
    break;
  case BF_OP_SETATTR:
    want_name = TRUE, want_name2 = FALSE;
    known = BF_SETATTR_MODE | BF_SETATTR_MTIME;
    break;
  default:
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame, "unknown op %u",
                m->op);
  }

  if (!check_mode(c->frame, m->mode, error))
    return FALSE;
  if (m->mtime_nsec >= NSEC_PER_SEC)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "mtime_nsec %u >= 1000000000", m->mtime_nsec);
  if (m->flags & ~known)
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame,
                "%s with unknown flags 0x%02x", op_str(m->op), m->flags);
  if (m->op == BF_OP_MKNOD && m->flags != BF_MKNOD_FIFO &&
      m->flags != BF_MKNOD_SOCK)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "MKNOD with flags 0x%02x (must be one kind)", m->flags);
  if (m->op == BF_OP_SYMLINK && !check_target(c->frame, m->name2, error))
    return FALSE;

  const char *op = op_str(m->op);
  if (!want_name && m->name.len != 0)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "%s with a name of %u bytes (must be empty)", op,
                m->name.len);
  if (!want_name2 && m->op != BF_OP_SYMLINK && m->name2.len != 0)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "%s with a name2 of %u bytes (must be empty)", op,
                m->name2.len);
  return (!want_name || check_name(c->frame, op, NULL, m->name, error)) &&
         (!want_name2 || check_name(c->frame, op, "name2", m->name2, error));
}

static gboolean
decode_op_ack(BfCursor *c, BfOpAck *m, GError **error)
{
  uint8_t res;

  if (!get_u64(c, "op_id", &m->op_id, error) ||
      !get_u8(c, "status", &m->status, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_lv(c, "msg_len", "msg", &m->message, error) ||
      !cur_end(c, error))
    return FALSE;
  return check_status(c->frame, m->status, error) &&
         check_text(c->frame, "message", m->message, error);
}

static gboolean
decode_statfs(BfCursor *c, BfStatfs *m, GError **error)
{
  return check_exact(c, STATFS_LEN, error) &&
         get_u64(c, "op_id", &m->op_id, error);
}

static gboolean
decode_statfs_ack(BfCursor *c, BfStatfsAck *m, GError **error)
{
  uint8_t res;

  if (!check_exact(c, STATFS_ACK_LEN, error) ||
      !get_u64(c, "op_id", &m->op_id, error) ||
      !get_u8(c, "status", &m->status, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_u32(c, "bsize", &m->bsize, error) ||
      !get_u64(c, "blocks", &m->blocks, error) ||
      !get_u64(c, "bfree", &m->bfree, error) ||
      !get_u64(c, "bavail", &m->bavail, error) ||
      !get_u64(c, "files", &m->files, error) ||
      !get_u64(c, "ffree", &m->ffree, error) ||
      !check_status(c->frame, m->status, error))
    return FALSE;
  if (m->status != BF_ST_OK)
    return (m->bsize | m->blocks | m->bfree | m->bavail | m->files |
            m->ffree) == 0 ||
           fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "figures with status %u (must be 0)", m->status);
  if (m->bsize == 0 || m->bsize > BF_STATFS_BSIZE_MAX)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "bsize %u not in 1..%u", m->bsize, BF_STATFS_BSIZE_MAX);
  if (m->bfree > m->blocks || m->bavail > m->bfree)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "bavail %" G_GUINT64_FORMAT " <= bfree %" G_GUINT64_FORMAT
                " <= blocks %" G_GUINT64_FORMAT " does not hold",
                m->bavail, m->bfree, m->blocks);
  if (m->ffree > m->files)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame,
                "ffree %" G_GUINT64_FORMAT " > files %" G_GUINT64_FORMAT,
                m->ffree, m->files);
  return TRUE;
}

static gboolean
decode_read(BfCursor *c, BfRead *m, GError **error)
{
  if (!get_u64(c, "op_id", &m->op_id, error) ||
      !get_u64(c, "offset", &m->offset, error) ||
      !get_u32(c, "length", &m->length, error) ||
      !get_lv(c, "name_len", "name", &m->name, error) ||
      !cur_end(c, error))
    return FALSE;
  if (m->length == 0 || m->length > BF_CHUNK_MAX)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame, "length %u not in "
                "1..%u", m->length, BF_CHUNK_MAX);
  if (m->offset > (uint64_t)INT64_MAX - m->length)
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame, "offset %" G_GUINT64_FORMAT
                " + length %u is past the largest file", m->offset, m->length);
  return check_name(c->frame, NULL, NULL, m->name, error);
}

static gboolean
decode_read_data(BfCursor *c, BfReadData *m, GError **error)
{
  uint8_t res[3];

  if (!get_u64(c, "op_id", &m->op_id, error) ||
      !get_u8(c, "status", &m->status, error) ||
      !get_copy(c, sizeof res, "reserved", res, error) ||
      !get_u64(c, "size", &m->size, error) ||
      !get_u32(c, "crc32c", &m->crc32c, error) ||
      !check_status(c->frame, m->status, error))
    return FALSE;

  size_t n = c->len - c->pos;
  if (n > BF_CHUNK_MAX)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, c->frame,
                "payload of %zu bytes is over the limit of %u", n,
                BF_CHUNK_MAX);
  m->payload = c->buf + c->pos;
  m->payload_len = (uint32_t)n;
  c->pos = c->len;
  if (m->status != BF_ST_OK && (n != 0 || m->size != 0 || m->crc32c != 0))
    return fail(error, BF_WIRE_ERROR_RANGE, c->frame, "data with status %u "
                "(must be none)", m->status);
  return TRUE;
}

static gboolean
decode_ping(BfCursor *c, BfPing *m, GError **error)
{
  return check_exact(c, PING_LEN, error) &&
         get_u64(c, "opaque", &m->opaque, error);
}

static gboolean
decode_auth(BfCursor *c, BfAuth *m, GError **error)
{
  uint8_t res;

  if (!check_exact(c, AUTH_LEN, error) ||
      !get_u8(c, "step", &m->step, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_copy(c, BF_AUTH_VALUE_LEN, "value", m->value, error))
    return FALSE;
  if (m->step < BF_AUTH_CLIENT_NONCE || m->step > BF_AUTH_SERVER_PROOF)
    return fail(error, BF_WIRE_ERROR_UNKNOWN, c->frame, "unknown step %u",
                m->step);
  return TRUE;
}

static gboolean
decode_error(BfCursor *c, BfError *m, GError **error)
{
  uint8_t res;

  if (!get_u8(c, "status", &m->status, error) ||
      !get_u8(c, "reserved", &res, error) ||
      !get_lv(c, "msg_len", "msg", &m->message, error) ||
      !cur_end(c, error))
    return FALSE;
  return check_status(c->frame, m->status, error) &&
         check_text(c->frame, "message", m->message, error);
}

/* ---- public: framing --------------------------------------------------- */

gboolean
bf_preface_check(const uint8_t *buf, size_t len, GError **error)
{
  enum { MAGIC_LEN = BF_PREFACE_LEN - 1 };

  if (len < BF_PREFACE_LEN)
    return fail(error, BF_WIRE_ERROR_TRUNCATED, NULL,
                "connection preface is %zu bytes, must be %u", len,
                BF_PREFACE_LEN);
  if (memcmp(buf, bf_preface, MAGIC_LEN) != 0) {
    g_autofree char *got = escape_bytes(buf, MAGIC_LEN);
    return fail(error, BF_WIRE_ERROR_PREFACE, NULL,
                "not a braidfs peer (preface \"%s\")", got);
  }
  if (buf[MAGIC_LEN] < BF_PROTOCOL_VERSION_MIN ||
      buf[MAGIC_LEN] > BF_PROTOCOL_VERSION)
    return fail(error, BF_WIRE_ERROR_PREFACE, NULL,
                "unsupported protocol version %u (this side speaks %u to %u)",
                buf[MAGIC_LEN], BF_PROTOCOL_VERSION_MIN, BF_PROTOCOL_VERSION);
  return TRUE;
}

void
bf_preface_make(uint8_t out[BF_PREFACE_LEN], uint8_t version)
{
  memcpy(out, bf_preface, BF_PREFACE_LEN - 1);
  out[BF_PREFACE_LEN - 1] = version;
}

gboolean
bf_header_parse(const uint8_t *buf, size_t len, size_t max_body,
                uint8_t *type, uint8_t *flags, uint32_t *body_len,
                GError **error)
{
  *type = 0;
  *flags = 0;
  *body_len = 0;

  if (len < BF_HEADER_LEN)
    return fail(error, BF_WIRE_ERROR_TRUNCATED, NULL,
                "frame header is %zu bytes, must be %u", len, BF_HEADER_LEN);

  uint32_t n = bf_load_be32(buf);
  const char *name = bf_frame_type_str(buf[4]);
  /* No v1 frame is larger than BF_BODY_MAX, whatever the caller allows:
   * the reader allocates from this number. */
  size_t cap = MIN(max_body, (size_t)BF_BODY_MAX);
  if (n > cap)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, name,
                "body length %u is over the limit of %zu", n, cap);
  if (buf[5] & ~BF_FLAG_KNOWN)
    return fail(error, BF_WIRE_ERROR_UNKNOWN, name, "unknown flags 0x%02x",
                buf[5]);

  *type = buf[4];
  *flags = buf[5];
  *body_len = n;
  return TRUE;
}

gboolean
bf_msg_answer_id(uint8_t type, const uint8_t *body, size_t len, uint64_t *id)
{
  if ((type != BF_FRAME_ITEM_ACK && type != BF_FRAME_OP_ACK) || body == NULL ||
      len < 8)
    return FALSE;
  *id = bf_load_be64(body);
  return TRUE;
}

gboolean
bf_msg_decode(uint8_t type, uint8_t flags, const uint8_t *body, size_t len,
              BfMsg *out, GError **error)
{
  /* Keeps cursor arithmetic away from a NULL base pointer. */
  static const uint8_t empty[1];

  g_return_val_if_fail(out != NULL, FALSE);
  g_return_val_if_fail(body != NULL || len == 0, FALSE);

  memset(out, 0, sizeof *out);
  if (body == NULL)
    body = empty;

  BfCursor c = { .buf = body, .len = len, .pos = 0,
                 .frame = frame_name(type) };
  gboolean ok = FALSE;

  if (c.frame == NULL) {
    ok = fail(error, BF_WIRE_ERROR_UNKNOWN, NULL,
              "unknown frame type 0x%02x", type);
  } else if (flags & ~BF_FLAG_KNOWN) {
    ok = fail(error, BF_WIRE_ERROR_UNKNOWN, c.frame, "unknown flags 0x%02x",
              flags);
  } else if (flags & BF_FLAG_SEALED) {
    /* The crypto layer unseals before decoding; a sealed frame here means
     * the peer uses a key we were not given. */
    ok = fail(error, BF_WIRE_ERROR_UNKNOWN, c.frame,
              "sealed frame but no key is configured");
  } else {
    switch (type) {
    case BF_FRAME_HELLO:
      ok = decode_hello(&c, &out->u.hello, error);
      break;
    case BF_FRAME_WELCOME:
      ok = decode_welcome(&c, &out->u.welcome, error);
      break;
    case BF_FRAME_AUTH:
      ok = decode_auth(&c, &out->u.auth, error);
      break;
    case BF_FRAME_ITEM_OPEN:
      ok = decode_item_open(&c, &out->u.item_open, error);
      break;
    case BF_FRAME_CHUNK:
      ok = decode_chunk(&c, &out->u.chunk, error);
      break;
    case BF_FRAME_CHUNK_ACK:
      ok = decode_chunk_ack(&c, &out->u.chunk_ack, error);
      break;
    case BF_FRAME_ITEM_CLOSE:
      ok = decode_item_close(&c, &out->u.item_close, error);
      break;
    case BF_FRAME_ITEM_ACK:
      ok = decode_item_ack(&c, &out->u.item_ack, error);
      break;
    case BF_FRAME_OP:
      ok = decode_op(&c, &out->u.op, error);
      break;
    case BF_FRAME_OP_ACK:
      ok = decode_op_ack(&c, &out->u.op_ack, error);
      break;
    case BF_FRAME_STATFS:
      ok = decode_statfs(&c, &out->u.statfs, error);
      break;
    case BF_FRAME_STATFS_ACK:
      ok = decode_statfs_ack(&c, &out->u.statfs_ack, error);
      break;
    case BF_FRAME_READ:
      ok = decode_read(&c, &out->u.read, error);
      break;
    case BF_FRAME_READ_DATA:
      ok = decode_read_data(&c, &out->u.read_data, error);
      break;
    case BF_FRAME_PING:
    case BF_FRAME_PONG:
      ok = decode_ping(&c, &out->u.ping, error);
      break;
    case BF_FRAME_ERROR:
      ok = decode_error(&c, &out->u.error, error);
      break;
    default:
      g_assert_not_reached();  /* frame_name() knew the type */
    }
  }

  if (!ok) {
    memset(out, 0, sizeof *out);
    return FALSE;
  }
  out->type = type;
  out->flags = flags;
  return TRUE;
}

/* ---- encoding ---------------------------------------------------------- */

static void
put_u8(GByteArray *b, uint8_t v)
{
  g_byte_array_append(b, &v, 1);
}

static void
put_u16(GByteArray *b, uint16_t v)
{
  uint8_t x[2];

  bf_store_be16(x, v);
  g_byte_array_append(b, x, sizeof x);
}

static void
put_u32(GByteArray *b, uint32_t v)
{
  uint8_t x[4];

  bf_store_be32(x, v);
  g_byte_array_append(b, x, sizeof x);
}

static void
put_u64(GByteArray *b, uint64_t v)
{
  uint8_t x[8];

  bf_store_be64(x, v);
  g_byte_array_append(b, x, sizeof x);
}

static void
put_zero(GByteArray *b, size_t n)
{
  static const uint8_t zero[8];
  g_assert(n <= sizeof zero);
  g_byte_array_append(b, zero, (guint)n);
}

static void
put_raw(GByteArray *b, const uint8_t *p, size_t n)
{
  if (n != 0)
    g_byte_array_append(b, p, (guint)n);
}

static void
put_lv(GByteArray *b, BfBytes v)
{
  put_u16(b, v.len);
  put_raw(b, v.data, v.len);
}

/* Only limits are enforced here, not the decoder's semantic rules, so that
 * tests can build hostile frames (a name with "..", a bad mode) with the
 * same encoder. */
static gboolean
bytes_fit(BfBytes v, size_t max)
{
  return v.len <= max && (v.len == 0 || v.data != NULL);
}

static gboolean
encode_body(const BfMsg *msg, GByteArray *b, uint32_t *unwritten)
{
  *unwritten = 0;

  switch (msg->type) {
  case BF_FRAME_HELLO: {
    const BfHello *m = &msg->u.hello;
    if (!bytes_fit(m->label, BF_LABEL_MAX))
      return FALSE;
    put_u8(b, m->kind);
    put_zero(b, 1);
    put_raw(b, m->session_id, BF_ID_LEN);
    put_raw(b, m->token, BF_ID_LEN);
    if (m->label.len > 0) {
      put_u8(b, BF_TLV_LABEL);
      put_lv(b, m->label);
    }
    put_u8(b, BF_TLV_PATH_INDEX);
    put_u16(b, TLV_PATH_INDEX_LEN);
    put_u16(b, m->path_index);
    return TRUE;
  }
  case BF_FRAME_WELCOME: {
    const BfWelcome *m = &msg->u.welcome;
    if (!bytes_fit(m->message, BF_MSG_MAX))
      return FALSE;
    put_u8(b, m->status);
    put_zero(b, 1);
    put_raw(b, m->session_id, BF_ID_LEN);
    put_raw(b, m->token, BF_ID_LEN);
    put_lv(b, m->message);
    if (m->instance != 0) {
      put_u8(b, BF_TLV_INSTANCE);
      put_u16(b, TLV_INSTANCE_LEN);
      put_u64(b, m->instance);
    }
    return TRUE;
  }
  case BF_FRAME_AUTH:
    if (msg->u.auth.step < BF_AUTH_CLIENT_NONCE ||
        msg->u.auth.step > BF_AUTH_SERVER_PROOF)
      return FALSE;
    put_u8(b, msg->u.auth.step);
    put_zero(b, 1);
    put_raw(b, msg->u.auth.value, BF_AUTH_VALUE_LEN);
    return TRUE;
  case BF_FRAME_ITEM_OPEN: {
    const BfItemOpen *m = &msg->u.item_open;
    if (!bytes_fit(m->name, BF_NAME_MAX))
      return FALSE;
    put_u64(b, m->item_id);
    put_u32(b, m->chunk_size);
    put_u32(b, m->mode);
    put_u64(b, (uint64_t)m->mtime_sec);  /* two's complement, as decoded */
    put_u32(b, m->mtime_nsec);
    put_u8(b, m->coding);
    put_u8(b, m->coding_k);
    put_u8(b, m->coding_n);
    put_u8(b, m->digest_alg);
    put_lv(b, m->name);
    if (m->has_base) {
      put_u64(b, m->base_size);
      put_raw(b, m->base_digest, BF_DIGEST_LEN);
      if (m->has_keep)
        put_u64(b, m->base_keep);
    } else if (m->has_keep) {
      return FALSE;
    }
    return TRUE;
  }
  case BF_FRAME_CHUNK: {
    const BfChunk *m = &msg->u.chunk;
    if (m->payload_len > BF_CHUNK_MAX)
      return FALSE;
    put_u64(b, m->item_id);
    put_u32(b, m->chunk_id);
    put_u32(b, m->total_chunks);
    put_u8(b, m->share_index);
    put_u8(b, m->pad);
    put_zero(b, 2);
    put_u32(b, m->crc32c);
    *unwritten = m->payload_len;  /* the caller writev()s the payload */
    return TRUE;
  }
  case BF_FRAME_CHUNK_ACK: {
    const BfChunkAck *m = &msg->u.chunk_ack;
    put_u64(b, m->item_id);
    put_u32(b, m->chunk_id);
    put_u8(b, m->share_index);
    put_zero(b, 3);
    return TRUE;
  }
  case BF_FRAME_ITEM_CLOSE: {
    const BfItemClose *m = &msg->u.item_close;
    put_u64(b, m->item_id);
    put_u32(b, m->total_chunks);
    put_u64(b, m->size);
    put_u8(b, m->digest_alg);
    put_zero(b, 3);
    put_raw(b, m->digest, BF_DIGEST_LEN);
    put_u32(b, m->mode);
    put_u64(b, (uint64_t)m->mtime_sec);
    put_u32(b, m->mtime_nsec);
    return TRUE;
  }
  case BF_FRAME_ITEM_ACK: {
    const BfItemAck *m = &msg->u.item_ack;
    if (!bytes_fit(m->message, BF_MSG_MAX))
      return FALSE;
    put_u64(b, m->item_id);
    put_u8(b, m->stage);
    put_u8(b, m->status);
    put_lv(b, m->message);
    put_raw(b, m->proof, sizeof m->proof);
    return TRUE;
  }
  case BF_FRAME_OP: {
    const BfOp *m = &msg->u.op;
    if (!bytes_fit(m->name, BF_NAME_MAX) || !bytes_fit(m->name2, BF_NAME_MAX))
      return FALSE;
    put_u64(b, m->op_id);
    put_u8(b, m->op);
    put_u8(b, m->flags);
    put_u32(b, m->mode);
    put_u64(b, (uint64_t)m->mtime_sec);
    put_u32(b, m->mtime_nsec);
    put_u64(b, m->item_id);
    put_lv(b, m->name);
    put_lv(b, m->name2);
    return TRUE;
  }
  case BF_FRAME_STATFS:
    put_u64(b, msg->u.statfs.op_id);
    return TRUE;
  case BF_FRAME_READ: {
    const BfRead *m = &msg->u.read;
    if (!bytes_fit(m->name, BF_NAME_MAX))
      return FALSE;
    put_u64(b, m->op_id);
    put_u64(b, m->offset);
    put_u32(b, m->length);
    put_lv(b, m->name);
    return TRUE;
  }
  case BF_FRAME_READ_DATA: {
    const BfReadData *m = &msg->u.read_data;
    if (m->payload_len > BF_CHUNK_MAX)
      return FALSE;
    put_u64(b, m->op_id);
    put_u8(b, m->status);
    put_zero(b, 3);
    put_u64(b, m->size);
    put_u32(b, m->crc32c);
    g_byte_array_append(b, m->payload, m->payload_len);
    return TRUE;
  }
  case BF_FRAME_STATFS_ACK: {
    const BfStatfsAck *m = &msg->u.statfs_ack;
    put_u64(b, m->op_id);
    put_u8(b, m->status);
    put_zero(b, 3);
    put_u32(b, m->bsize);
    put_u64(b, m->blocks);
    put_u64(b, m->bfree);
    put_u64(b, m->bavail);
    put_u64(b, m->files);
    put_u64(b, m->ffree);
    return TRUE;
  }
  case BF_FRAME_OP_ACK: {
    const BfOpAck *m = &msg->u.op_ack;
    if (!bytes_fit(m->message, BF_MSG_MAX))
      return FALSE;
    put_u64(b, m->op_id);
    put_u8(b, m->status);
    put_zero(b, 1);
    put_lv(b, m->message);
    return TRUE;
  }
  case BF_FRAME_PING:
  case BF_FRAME_PONG:
    put_u64(b, msg->u.ping.opaque);
    return TRUE;
  case BF_FRAME_ERROR: {
    const BfError *m = &msg->u.error;
    if (!bytes_fit(m->message, BF_MSG_MAX))
      return FALSE;
    put_u8(b, m->status);
    put_zero(b, 1);
    put_lv(b, m->message);
    return TRUE;
  }
  default:
    return FALSE;
  }
}

gboolean
bf_msg_encode(const BfMsg *msg, GByteArray *out)
{
  if (msg == NULL || out == NULL)
    return FALSE;

  guint start = out->len;
  uint32_t unwritten;

  put_u32(out, 0);  /* length, patched below */
  put_u8(out, msg->type);
  put_u8(out, msg->flags);
  if (!encode_body(msg, out, &unwritten)) {
    g_byte_array_set_size(out, start);  /* leave out as it was */
    return FALSE;
  }

  /* Bodies are bounded by the limits checked above (largest: a CHUNK of
   * BF_CHUNK_MAX), far below 2^32. */
  uint32_t n = (uint32_t)(out->len - start - BF_HEADER_LEN) + unwritten;
  bf_store_be32(out->data + start, n);
  return TRUE;
}

/* ---- the secret of a SHAMIR item ------------------------------------- */

gboolean
bf_secret_decode(const uint8_t *buf, size_t len, BfSecret *out, GError **error)
{
  if (len < BF_SECRET_FIXED)
    return fail(error, BF_WIRE_ERROR_TRUNCATED, "secret",
                "%zu bytes, at least %u needed", len, BF_SECRET_FIXED);
  if (len > BF_SECRET_MAX)
    return fail(error, BF_WIRE_ERROR_TOO_LONG, "secret",
                "%zu bytes, over %u", len, BF_SECRET_MAX);
  memcpy(out->digest, buf, BF_DIGEST_LEN);
  memcpy(out->key, buf + BF_DIGEST_LEN, BF_ITEM_KEY_LEN);
  out->name.data = buf + BF_SECRET_FIXED;
  out->name.len = (uint16_t)(len - BF_SECRET_FIXED);
  return out->name.len == 0 ||
         check_name("secret", NULL, NULL, out->name, error);
}

gboolean
bf_secret_encode(const BfSecret *s, GByteArray *out)
{
  if (!bytes_fit(s->name, BF_NAME_MAX))
    return FALSE;
  put_raw(out, s->digest, BF_DIGEST_LEN);
  put_raw(out, s->key, BF_ITEM_KEY_LEN);
  put_raw(out, s->name.data, s->name.len);
  return TRUE;
}

/* ---- names, checksums, strings ----------------------------------------- */

static gboolean G_GNUC_PRINTF(4, 5)
name_fail(GError **error, const uint8_t *name, size_t len, const char *fmt,
          ...)
{
  if (error == NULL)
    return FALSE;

  va_list ap;
  va_start(ap, fmt);
  char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *shown = escape_bytes(name, len);
  g_set_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_NAME, "%s: \"%s\"", what,
              shown);
  g_free(shown);
  g_free(what);
  return FALSE;
}

gboolean
bf_name_check(const uint8_t *name, size_t len, GError **error)
{
  if (len == 0)
    return fail(error, BF_WIRE_ERROR_NAME, NULL, "name is empty");
  g_return_val_if_fail(name != NULL, FALSE);
  if (len > BF_NAME_MAX)
    return name_fail(error, name, len, "name is %zu bytes, over the limit "
                     "of %u", len, BF_NAME_MAX);
  if (memchr(name, '\0', len) != NULL)
    return name_fail(error, name, len, "name contains a NUL byte");
  if (name[0] == '/')
    return name_fail(error, name, len, "name is absolute");

  /* Byte strings, not UTF-8: Linux names are bytes and the server stores
   * whatever the client's file system held. */
  size_t start = 0;
  unsigned depth = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && name[i] != '/')
      continue;
    const uint8_t *comp = name + start;
    size_t clen = i - start;
    if (clen == 0)
      return name_fail(error, name, len, "name has an empty component "
                       "(\"//\" or a trailing '/')");
    if (clen == 1 && comp[0] == '.')
      return name_fail(error, name, len, "name contains '.'");
    if (clen == 2 && comp[0] == '.' && comp[1] == '.')
      return name_fail(error, name, len, "name contains '..'");
    if (clen > BF_COMPONENT_MAX)
      return name_fail(error, name, len, "name has a component of %zu "
                       "bytes, over the limit of %u", clen, BF_COMPONENT_MAX);
    if (++depth > BF_DEPTH_MAX)
      return name_fail(error, name, len, "name has more than %u components",
                       BF_DEPTH_MAX);
    start = i + 1;
  }
  return TRUE;
}

uint32_t
bf_crc32c(const void *data, size_t len)
{
  /* crc32_iscsi takes an int length and returns the raw register, so feed
   * it in slices and invert once at the end. */
  enum { SLICE = 1 << 30 };
  const unsigned char *p = data;
  unsigned int crc = 0xFFFFFFFFu;

  while (len > 0) {
    int n = len > SLICE ? SLICE : (int)len;
    crc = crc32_iscsi((unsigned char *)p, n, crc);
    p += n;
    len -= (size_t)n;
  }
  return crc ^ 0xFFFFFFFFu;
}

const char *
bf_status_str(uint8_t status)
{
  switch (status) {
  case BF_ST_OK: return "ok";
  case BF_ST_PROTOCOL: return "protocol error";
  case BF_ST_BAD_NAME: return "bad name";
  case BF_ST_NO_SPACE: return "no space left on server";
  case BF_ST_TOO_BIG: return "too big";
  case BF_ST_CORRUPT: return "corrupt data";
  case BF_ST_IO: return "i/o error on server";
  case BF_ST_NOT_FOUND: return "not found";
  case BF_ST_LIMIT: return "limit reached";
  case BF_ST_AUTH: return "authentication failed";
  case BF_ST_EXISTS: return "exists with another type";
  case BF_ST_NOT_EMPTY: return "directory not empty";
  case BF_ST_VERSION: return "unsupported protocol version";
  case BF_ST_STALE: return "stored file changed";
  default: return "unknown status";
  }
}

const char *
bf_frame_type_str(uint8_t type)
{
  const char *name = frame_name(type);
  return name != NULL ? name : "unknown";
}
