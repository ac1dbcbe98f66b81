/* wire-dump: the reference codec (src/core/wire.c) as a filter, so that
 * test_bfwire.py can hold the Python wire module of the test peers
 * (bfwire.py) against it.
 *
 * stdin: records, each a u32 big-endian length and that many bytes; the
 * first byte of a record says what the rest is:
 *   'F'  a frame (header and body; bytes after the body are ignored)
 *   'S'  the rebuilt secret of a SHAMIR item (bf_secret_decode)
 *   'N'  a name (bf_name_check)
 *   'P'  a connection preface (bf_preface_check)
 * stdout: one line per record: "error=KIND" (TRUNCATED, TOO_LONG, UNKNOWN,
 * RANGE, NAME, PREFACE) when the codec refuses it; otherwise, for a frame,
 * its type name and fields in the man page's order (integers in decimal,
 * bytes in hex), " | " and the hex of bf_msg_encode() of what was decoded
 * (with the payload after a CHUNK, as the sender writes it); for a secret
 * the same with SECRET; "ok" for a name or a preface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braidfs/bytes.h"
#include "braidfs/parse.h"
#include "braidfs/wire.h"

static const char *
error_kind(const GError *e)
{
  static const char *const kinds[] = {
    [BF_WIRE_ERROR_TRUNCATED] = "TRUNCATED", [BF_WIRE_ERROR_TOO_LONG] = "TOO_LONG",
    [BF_WIRE_ERROR_UNKNOWN] = "UNKNOWN", [BF_WIRE_ERROR_RANGE] = "RANGE",
    [BF_WIRE_ERROR_NAME] = "NAME", [BF_WIRE_ERROR_PREFACE] = "PREFACE",
  };

  if (e->domain != BF_WIRE_ERROR || e->code < 0 ||
      (size_t)e->code >= G_N_ELEMENTS(kinds))
    return "NOT-A-WIRE-ERROR";
  return kinds[e->code];
}

static void
hex(GString *s, const uint8_t *p, size_t n)
{
  g_autofree char *h = bf_hex(p, n);
  g_string_append(s, h);
}

static void
field_u(GString *s, const char *name, uint64_t v)
{
  g_string_append_printf(s, " %s=%" G_GUINT64_FORMAT, name, v);
}

static void
field_i(GString *s, const char *name, int64_t v)
{
  g_string_append_printf(s, " %s=%" G_GINT64_FORMAT, name, v);
}

static void
field_b(GString *s, const char *name, const uint8_t *p, size_t n)
{
  g_string_append_printf(s, " %s=", name);
  hex(s, p, n);
}

static void
fields(GString *s, const BfMsg *m)
{
  switch (m->type) {
  case BF_FRAME_HELLO: {
    const BfHello *x = &m->u.hello;
    field_u(s, "kind", x->kind);
    field_b(s, "session_id", x->session_id, BF_ID_LEN);
    field_b(s, "token", x->token, BF_ID_LEN);
    field_b(s, "label", x->label.data, x->label.len);
    field_u(s, "path_index", x->path_index);
    break;
  }
  case BF_FRAME_WELCOME: {
    const BfWelcome *x = &m->u.welcome;
    field_u(s, "status", x->status);
    field_b(s, "session_id", x->session_id, BF_ID_LEN);
    field_b(s, "token", x->token, BF_ID_LEN);
    field_b(s, "message", x->message.data, x->message.len);
    field_u(s, "instance", x->instance);
    break;
  }
  case BF_FRAME_AUTH:
    field_u(s, "step", m->u.auth.step);
    field_b(s, "value", m->u.auth.value, BF_AUTH_VALUE_LEN);
    break;
  case BF_FRAME_ITEM_OPEN: {
    const BfItemOpen *x = &m->u.item_open;
    field_u(s, "item_id", x->item_id);
    field_u(s, "chunk_size", x->chunk_size);
    field_u(s, "mode", x->mode);
    field_i(s, "mtime_sec", x->mtime_sec);
    field_u(s, "mtime_nsec", x->mtime_nsec);
    field_u(s, "coding", x->coding);
    field_u(s, "coding_k", x->coding_k);
    field_u(s, "coding_n", x->coding_n);
    field_u(s, "digest_alg", x->digest_alg);
    field_b(s, "name", x->name.data, x->name.len);
    if (x->has_base) {
      field_u(s, "base_size", x->base_size);
      field_b(s, "base_digest", x->base_digest, BF_DIGEST_LEN);
    }
    if (x->has_keep)
      field_u(s, "base_keep", x->base_keep);
    break;
  }
  case BF_FRAME_CHUNK: {
    const BfChunk *x = &m->u.chunk;
    field_u(s, "item_id", x->item_id);
    field_u(s, "chunk_id", x->chunk_id);
    field_u(s, "total_chunks", x->total_chunks);
    field_u(s, "share_index", x->share_index);
    field_u(s, "pad", x->pad);
    field_u(s, "crc32c", x->crc32c);
    field_b(s, "payload", x->payload, x->payload_len);
    break;
  }
  case BF_FRAME_CHUNK_ACK:
    field_u(s, "item_id", m->u.chunk_ack.item_id);
    field_u(s, "chunk_id", m->u.chunk_ack.chunk_id);
    field_u(s, "share_index", m->u.chunk_ack.share_index);
    break;
  case BF_FRAME_ITEM_CLOSE: {
    const BfItemClose *x = &m->u.item_close;
    field_u(s, "item_id", x->item_id);
    field_u(s, "total_chunks", x->total_chunks);
    field_u(s, "size", x->size);
    field_u(s, "digest_alg", x->digest_alg);
    field_b(s, "digest", x->digest, BF_DIGEST_LEN);
    field_u(s, "mode", x->mode);
    field_i(s, "mtime_sec", x->mtime_sec);
    field_u(s, "mtime_nsec", x->mtime_nsec);
    break;
  }
  case BF_FRAME_ITEM_ACK: {
    const BfItemAck *x = &m->u.item_ack;
    field_u(s, "item_id", x->item_id);
    field_u(s, "stage", x->stage);
    field_u(s, "status", x->status);
    field_b(s, "message", x->message.data, x->message.len);
    field_b(s, "proof", x->proof, sizeof x->proof);
    break;
  }
  case BF_FRAME_OP: {
    const BfOp *x = &m->u.op;
    field_u(s, "op_id", x->op_id);
    field_u(s, "op", x->op);
    field_u(s, "flags", x->flags);
    field_u(s, "mode", x->mode);
    field_i(s, "mtime_sec", x->mtime_sec);
    field_u(s, "mtime_nsec", x->mtime_nsec);
    field_u(s, "item_id", x->item_id);
    field_b(s, "name", x->name.data, x->name.len);
    field_b(s, "name2", x->name2.data, x->name2.len);
    break;
  }
  case BF_FRAME_OP_ACK:
    field_u(s, "op_id", m->u.op_ack.op_id);
    field_u(s, "status", m->u.op_ack.status);
    field_b(s, "message", m->u.op_ack.message.data, m->u.op_ack.message.len);
    break;
  case BF_FRAME_STATFS:
    field_u(s, "op_id", m->u.statfs.op_id);
    break;
  case BF_FRAME_STATFS_ACK: {
    const BfStatfsAck *x = &m->u.statfs_ack;
    field_u(s, "op_id", x->op_id);
    field_u(s, "status", x->status);
    field_u(s, "bsize", x->bsize);
    field_u(s, "blocks", x->blocks);
    field_u(s, "bfree", x->bfree);
    field_u(s, "bavail", x->bavail);
    field_u(s, "files", x->files);
    field_u(s, "ffree", x->ffree);
    break;
  }
  case BF_FRAME_READ:
    field_u(s, "op_id", m->u.read.op_id);
    field_u(s, "offset", m->u.read.offset);
    field_u(s, "length", m->u.read.length);
    field_b(s, "name", m->u.read.name.data, m->u.read.name.len);
    break;
  case BF_FRAME_READ_DATA:
    field_u(s, "op_id", m->u.read_data.op_id);
    field_u(s, "status", m->u.read_data.status);
    field_u(s, "size", m->u.read_data.size);
    field_u(s, "crc32c", m->u.read_data.crc32c);
    field_b(s, "payload", m->u.read_data.payload, m->u.read_data.payload_len);
    break;
  case BF_FRAME_PING:
  case BF_FRAME_PONG:
    field_u(s, "opaque", m->u.ping.opaque);
    break;
  case BF_FRAME_ERROR:
    field_u(s, "status", m->u.error.status);
    field_b(s, "message", m->u.error.message.data, m->u.error.message.len);
    break;
  default:
    g_string_append(s, " UNEXPECTED-TYPE");
  }
}

static void
dump_frame(GString *s, const uint8_t *p, size_t n)
{
  g_autoptr(GError) e = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new();
  uint8_t type, flags;
  uint32_t body_len;
  BfMsg m;

  if (!bf_header_parse(p, n, BF_BODY_MAX, &type, &flags, &body_len, &e)) {
    g_string_append_printf(s, "error=%s", error_kind(e));
    return;
  }
  if (n - BF_HEADER_LEN < body_len) {
    g_string_append(s, "error=TRUNCATED");  /* the stream ends in the body */
    return;
  }
  if (!bf_msg_decode(type, flags, p + BF_HEADER_LEN, body_len, &m, &e)) {
    g_string_append_printf(s, "error=%s", error_kind(e));
    return;
  }
  g_string_append(s, bf_frame_type_str(m.type));
  fields(s, &m);
  if (!bf_msg_encode(&m, out)) {
    g_string_append(s, " | ENCODE-REFUSED");
    return;
  }
  if (m.type == BF_FRAME_CHUNK)
    g_byte_array_append(out, m.u.chunk.payload, m.u.chunk.payload_len);
  g_string_append(s, " | ");
  hex(s, out->data, out->len);
}

static void
dump_secret(GString *s, const uint8_t *p, size_t n)
{
  g_autoptr(GError) e = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new();
  BfSecret sec;

  if (!bf_secret_decode(p, n, &sec, &e)) {
    g_string_append_printf(s, "error=%s", error_kind(e));
    return;
  }
  g_string_append(s, "SECRET");
  field_b(s, "digest", sec.digest, BF_DIGEST_LEN);
  field_b(s, "key", sec.key, BF_ITEM_KEY_LEN);
  field_b(s, "name", sec.name.data, sec.name.len);
  if (!bf_secret_encode(&sec, out)) {
    g_string_append(s, " | ENCODE-REFUSED");
    return;
  }
  g_string_append(s, " | ");
  hex(s, out->data, out->len);
}

static void
dump_name(GString *s, const uint8_t *p, size_t n)
{
  g_autoptr(GError) e = NULL;

  if (bf_name_check(p, n, &e))
    g_string_append(s, "ok");
  else
    g_string_append_printf(s, "error=%s", error_kind(e));
}

static void
dump_preface(GString *s, const uint8_t *p, size_t n)
{
  g_autoptr(GError) e = NULL;

  if (bf_preface_check(p, n, &e))
    g_string_append(s, "ok");
  else
    g_string_append_printf(s, "error=%s", error_kind(e));
}

/* Reads exactly n bytes; FALSE at a clean end of input before the first. */
static gboolean
read_all(uint8_t *buf, size_t n, gboolean *eof_ok)
{
  size_t got = fread(buf, 1, n, stdin);

  *eof_ok = got == 0 && feof(stdin);
  return got == n;
}

int
main(void)
{
  g_autoptr(GString) line = g_string_new(NULL);
  uint8_t lenbuf[4];
  gboolean eof_ok;
  unsigned records = 0;

  while (read_all(lenbuf, sizeof lenbuf, &eof_ok)) {
    uint32_t n = bf_load_be32(lenbuf);
    if (n == 0 || n > BF_BODY_MAX + 64) {
      fprintf(stderr, "wire-dump: record %u has length %u\n", records, n);
      return 2;
    }
    /* exactly n bytes on the heap, so ASan sees any read past them */
    g_autofree uint8_t *rec = g_malloc(n);
    if (!read_all(rec, n, &eof_ok)) {
      fprintf(stderr, "wire-dump: record %u is cut short\n", records);
      return 2;
    }
    const uint8_t *p = rec + 1;
    size_t len = n - 1;

    g_string_truncate(line, 0);
    switch (rec[0]) {
    case 'F':
      dump_frame(line, p, len);
      break;
    case 'S':
      dump_secret(line, p, len);
      break;
    case 'N':
      dump_name(line, p, len);
      break;
    case 'P':
      dump_preface(line, p, len);
      break;
    default:
      fprintf(stderr, "wire-dump: record %u of unknown kind 0x%02x\n", records,
              rec[0]);
      return 2;
    }
    puts(line->str);
    records++;
  }
  if (!eof_ok) {
    fprintf(stderr, "wire-dump: input ends inside a record length\n");
    return 2;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
