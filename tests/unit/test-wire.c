/* Unit tests for the wire codec (src/core/wire.c).
 *
 * Every body handed to bf_msg_decode() here lives in a heap block of exactly
 * its length, so under AddressSanitizer any read past the body fails the
 * test instead of reading a neighbour's bytes. */
#include "braidfs/wire.h"

#include <string.h>

/* ---- fixtures ---------------------------------------------------------- */

static const uint8_t sid[BF_ID_LEN] = {
  0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};
static const uint8_t tok[BF_ID_LEN] = {
  0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
  0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
};
static const uint8_t digest[BF_DIGEST_LEN] = {
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};
static const char payload[] = "braided bytes travel on many paths";
static const char label[] = "laptop \xe2\x9c\x93";  /* "laptop ✓" */

static BfBytes
bytes(const char *s)
{
  return (BfBytes){ (const uint8_t *)s, (uint16_t)strlen(s) };
}

/* Byte lengths of the fixed parts, from the man page's tables. */
enum {
  HELLO_FIXED = 34,
  ITEM_OPEN_FIXED = 34,           /* the bytes before the name */
  CHUNK_FIXED = 24,
  READ_DATA_FIXED = 24,
  TLV_HDR = 3,
};

static void
fill_hello(BfMsg *m)
{
  m->type = BF_FRAME_HELLO;
  m->u.hello.kind = BF_HELLO_ATTACH;
  memcpy(m->u.hello.session_id, sid, BF_ID_LEN);
  memcpy(m->u.hello.token, tok, BF_ID_LEN);
  m->u.hello.label = bytes(label);
  m->u.hello.path_index = 3;
}

static void
fill_hello_new(BfMsg *m)
{
  m->type = BF_FRAME_HELLO;
  m->u.hello.kind = BF_HELLO_NEW;
  m->u.hello.label = bytes("backup-host");
}

static void
fill_welcome(BfMsg *m)
{
  m->type = BF_FRAME_WELCOME;
  m->u.welcome.status = BF_ST_OK;
  memcpy(m->u.welcome.session_id, sid, BF_ID_LEN);
  memcpy(m->u.welcome.token, tok, BF_ID_LEN);
  m->u.welcome.message = bytes("welcome, path 3");
}

static void
fill_item_open(BfMsg *m)
{
  m->type = BF_FRAME_ITEM_OPEN;
  memset(&m->u.item_open, 0, sizeof m->u.item_open);
  m->u.item_open.item_id = UINT64_C(0x0102030405060708);
  m->u.item_open.chunk_size = BF_CHUNK_DEFAULT;
  m->u.item_open.mode = 0644;
  m->u.item_open.mtime_sec = -1234567890123;
  m->u.item_open.mtime_nsec = 999999999;
  m->u.item_open.coding = BF_CODING_STRIPE;
  m->u.item_open.coding_k = 1;
  m->u.item_open.coding_n = 1;
  m->u.item_open.digest_alg = BF_DIGEST_SHA256;
  m->u.item_open.name = bytes("photos/2024/\xc3\xa9t\xc3\xa9 1.jpg");
}

/* An append: the stored file's first bytes are the base. */
#define SAMPLE_BASE_SIZE UINT64_C(0x0000000104000001)
static void
fill_item_open_base(BfMsg *m)
{
  fill_item_open(m);
  m->u.item_open.has_base = TRUE;
  m->u.item_open.base_size = SAMPLE_BASE_SIZE;
  for (size_t i = 0; i < BF_DIGEST_LEN; i++)
    m->u.item_open.base_digest[i] = (uint8_t)(0xa0 + i);
}

/* A truncate or a write inside the file: the base is cut first. */
static void
fill_item_open_cut(BfMsg *m)
{
  fill_item_open_base(m);
  m->u.item_open.has_keep = TRUE;
  m->u.item_open.base_keep = UINT64_C(0x0000000100000007);
}

static void
fill_chunk(BfMsg *m)
{
  m->type = BF_FRAME_CHUNK;
  m->u.chunk.item_id = UINT64_C(0xfedcba9876543210);
  m->u.chunk.chunk_id = 6;
  m->u.chunk.total_chunks = 7;
  m->u.chunk.share_index = 0;
  m->u.chunk.pad = 0;
  m->u.chunk.payload = (const uint8_t *)payload;
  m->u.chunk.payload_len = (uint32_t)strlen(payload);
  m->u.chunk.crc32c = bf_crc32c(payload, strlen(payload));
}

static void
fill_chunk_ack(BfMsg *m)
{
  m->type = BF_FRAME_CHUNK_ACK;
  m->u.chunk_ack.item_id = 42;
  m->u.chunk_ack.chunk_id = UINT32_MAX;
  m->u.chunk_ack.share_index = 15;
}

static void
fill_item_close(BfMsg *m)
{
  m->type = BF_FRAME_ITEM_CLOSE;
  m->u.item_close.item_id = 42;
  m->u.item_close.total_chunks = 7;
  m->u.item_close.size = UINT64_C(6) * BF_CHUNK_DEFAULT + 12345;
  m->u.item_close.digest_alg = BF_DIGEST_BLAKE2B_256;
  memcpy(m->u.item_close.digest, digest, BF_DIGEST_LEN);
  m->u.item_close.mode = 04755;
  m->u.item_close.mtime_sec = -86400;
  m->u.item_close.mtime_nsec = 999999999;
}

static void
fill_item_ack(BfMsg *m)
{
  m->type = BF_FRAME_ITEM_ACK;
  m->u.item_ack.item_id = UINT64_MAX;
  m->u.item_ack.stage = BF_ACK_STORED;
  m->u.item_ack.status = BF_ST_CORRUPT;
  m->u.item_ack.message = bytes("digest mismatch");
  for (unsigned i = 0; i < BF_PROOF_LEN; i++)
    m->u.item_ack.proof[i] = (uint8_t)(0xa0 + i);
}

static void
fill_op(BfMsg *m)
{
  m->type = BF_FRAME_OP;
  m->u.op.op_id = 77;
  m->u.op.op = BF_OP_RENAME;
  m->u.op.flags = 0;
  m->u.op.mode = 0;
  m->u.op.mtime_sec = 1700000000;
  m->u.op.mtime_nsec = 123;
  m->u.op.item_id = 0;
  m->u.op.name = bytes("dir/.file.tmp");
  m->u.op.name2 = bytes("dir/file");
}

static void
fill_op_ack(BfMsg *m)
{
  m->type = BF_FRAME_OP_ACK;
  m->u.op_ack.op_id = 77;
  m->u.op_ack.status = BF_ST_NOT_EMPTY;
  m->u.op_ack.message = bytes("directory not empty: dir");
}

static void
fill_statfs(BfMsg *m)
{
  m->type = BF_FRAME_STATFS;
  m->u.statfs.op_id = 78;
}

static void
fill_statfs_ack(BfMsg *m)
{
  m->type = BF_FRAME_STATFS_ACK;
  m->u.statfs_ack.op_id = 78;
  m->u.statfs_ack.status = BF_ST_OK;
  m->u.statfs_ack.bsize = 4096;
  m->u.statfs_ack.blocks = UINT64_C(1) << 40;
  m->u.statfs_ack.bfree = 1000;
  m->u.statfs_ack.bavail = 900;
  m->u.statfs_ack.files = 5000;
  m->u.statfs_ack.ffree = 5000;
}

static void
fill_read(BfMsg *m)
{
  m->type = BF_FRAME_READ;
  m->u.read.op_id = 79;
  m->u.read.offset = UINT64_C(1) << 40;
  m->u.read.length = BF_CHUNK_DEFAULT;
  m->u.read.name = bytes("dir/file.txt");
}

static void
fill_read_data(BfMsg *m)
{
  static const char text[] = "hello";

  m->type = BF_FRAME_READ_DATA;
  m->u.read_data.op_id = 79;
  m->u.read_data.status = BF_ST_OK;
  m->u.read_data.size = 12345;
  m->u.read_data.payload = (const uint8_t *)text;
  m->u.read_data.payload_len = 5;
  m->u.read_data.crc32c = bf_crc32c(text, 5);
}

static void
fill_ping(BfMsg *m)
{
  m->type = BF_FRAME_PING;
  m->u.ping.opaque = UINT64_C(0xdeadbeefcafef00d);
}

static void
fill_pong(BfMsg *m)
{
  m->type = BF_FRAME_PONG;
  m->u.ping.opaque = 1;
}

static void
fill_error(BfMsg *m)
{
  m->type = BF_FRAME_ERROR;
  m->u.error.status = BF_ST_PROTOCOL;
  m->u.error.message = bytes("CHUNK: chunk_id 7 >= total_chunks 7");
}

typedef struct {
  const char *name;
  void (*fill)(BfMsg *m);
} Sample;

/* One valid message of every frame type (HELLO twice: ATTACH and NEW). */
static const Sample samples[] = {
  { "HELLO", fill_hello },
  { "HELLO-new", fill_hello_new },
  { "WELCOME", fill_welcome },
  { "ITEM_OPEN", fill_item_open },
  { "ITEM_OPEN-base", fill_item_open_base },
  { "ITEM_OPEN-cut", fill_item_open_cut },
  { "CHUNK", fill_chunk },
  { "CHUNK_ACK", fill_chunk_ack },
  { "ITEM_CLOSE", fill_item_close },
  { "ITEM_ACK", fill_item_ack },
  { "OP", fill_op },
  { "OP_ACK", fill_op_ack },
  { "STATFS", fill_statfs },
  { "STATFS_ACK", fill_statfs_ack },
  { "READ", fill_read },
  { "READ_DATA", fill_read_data },
  { "PING", fill_ping },
  { "PONG", fill_pong },
  { "ERROR", fill_error },
};

static const uint8_t known_types[] = {
  BF_FRAME_HELLO, BF_FRAME_WELCOME, BF_FRAME_ITEM_OPEN, BF_FRAME_CHUNK,
  BF_FRAME_CHUNK_ACK, BF_FRAME_ITEM_CLOSE, BF_FRAME_ITEM_ACK, BF_FRAME_OP,
  BF_FRAME_OP_ACK, BF_FRAME_PING, BF_FRAME_PONG, BF_FRAME_ERROR,
  BF_FRAME_STATFS, BF_FRAME_STATFS_ACK, BF_FRAME_READ, BF_FRAME_READ_DATA,
  BF_FRAME_AUTH,  /* its body: tests/unit/test-crypto.c */
};

static BfMsg
sample_msg(gconstpointer data)
{
  BfMsg m;
  memset(&m, 0, sizeof m);
  samples[GPOINTER_TO_UINT(data)].fill(&m);
  return m;
}

/* ---- helpers ----------------------------------------------------------- */

/* Encodes m (which must be encodable), checks the header, and returns the
 * body in a heap block of exactly *len bytes; for CHUNK the payload that the
 * encoder leaves to the caller is appended, as a sender's writev would. */
static uint8_t *
encode_body(const BfMsg *m, size_t *len)
{
  GByteArray *b = g_byte_array_new();
  GError *err = NULL;
  uint8_t type, flags;
  uint32_t blen;

  g_assert_true(bf_msg_encode(m, b));
  g_assert_cmpuint(b->len, >=, BF_HEADER_LEN);
  g_assert_true(bf_header_parse(b->data, b->len, BF_BODY_MAX, &type, &flags,
                                &blen, &err));
  g_assert_no_error(err);
  g_assert_cmpuint(type, ==, m->type);
  g_assert_cmpuint(flags, ==, m->flags);
  if (m->type == BF_FRAME_CHUNK) {
    g_assert_cmpuint(b->len, ==, BF_HEADER_LEN + CHUNK_FIXED);
    g_assert_cmpuint(blen, ==, CHUNK_FIXED + m->u.chunk.payload_len);
    if (m->u.chunk.payload_len > 0)
      g_byte_array_append(b, m->u.chunk.payload, m->u.chunk.payload_len);
  } else {
    g_assert_cmpuint(blen, ==, b->len - BF_HEADER_LEN);
  }
  *len = b->len - BF_HEADER_LEN;
  uint8_t *body = g_memdup2(b->data + BF_HEADER_LEN, *len);
  g_byte_array_unref(b);
  return body;
}

/* Decodes from an exact-size heap copy (NULL when len is 0). The copy is
 * returned in *copy because the decoded message points into it. */
static gboolean
decode_copy(uint8_t type, uint8_t flags, const uint8_t *body, size_t len,
            uint8_t **copy, BfMsg *out, GError **error)
{
  *copy = g_memdup2(body, len);
  return bf_msg_decode(type, flags, *copy, len, out, error);
}

static void
assert_bytes_eq(BfBytes a, BfBytes b)
{
  g_assert_cmpmem(a.data, a.len, b.data, b.len);
}

static void
assert_zeroed(const BfMsg *m)
{
  static const BfMsg zero;
  g_assert_cmpmem(m, sizeof *m, &zero, sizeof zero);
}

static void
assert_msg_eq(const BfMsg *a, const BfMsg *b)
{
  g_assert_cmpuint(a->type, ==, b->type);
  g_assert_cmpuint(a->flags, ==, b->flags);
  switch (a->type) {
  case BF_FRAME_HELLO:
    g_assert_cmpuint(a->u.hello.kind, ==, b->u.hello.kind);
    g_assert_cmpmem(a->u.hello.session_id, BF_ID_LEN, b->u.hello.session_id,
                    BF_ID_LEN);
    g_assert_cmpmem(a->u.hello.token, BF_ID_LEN, b->u.hello.token, BF_ID_LEN);
    assert_bytes_eq(a->u.hello.label, b->u.hello.label);
    g_assert_cmpuint(a->u.hello.path_index, ==, b->u.hello.path_index);
    break;
  case BF_FRAME_WELCOME:
    g_assert_cmpuint(a->u.welcome.status, ==, b->u.welcome.status);
    g_assert_cmpmem(a->u.welcome.session_id, BF_ID_LEN,
                    b->u.welcome.session_id, BF_ID_LEN);
    g_assert_cmpmem(a->u.welcome.token, BF_ID_LEN, b->u.welcome.token,
                    BF_ID_LEN);
    assert_bytes_eq(a->u.welcome.message, b->u.welcome.message);
    g_assert_cmpuint(a->u.welcome.instance, ==, b->u.welcome.instance);
    break;
  case BF_FRAME_ITEM_OPEN:
    g_assert_cmpuint(a->u.item_open.item_id, ==, b->u.item_open.item_id);
    g_assert_cmpuint(a->u.item_open.chunk_size, ==, b->u.item_open.chunk_size);
    g_assert_cmpuint(a->u.item_open.mode, ==, b->u.item_open.mode);
    g_assert_cmpint(a->u.item_open.mtime_sec, ==, b->u.item_open.mtime_sec);
    g_assert_cmpuint(a->u.item_open.mtime_nsec, ==, b->u.item_open.mtime_nsec);
    g_assert_cmpuint(a->u.item_open.coding, ==, b->u.item_open.coding);
    g_assert_cmpuint(a->u.item_open.coding_k, ==, b->u.item_open.coding_k);
    g_assert_cmpuint(a->u.item_open.coding_n, ==, b->u.item_open.coding_n);
    g_assert_cmpuint(a->u.item_open.digest_alg, ==, b->u.item_open.digest_alg);
    assert_bytes_eq(a->u.item_open.name, b->u.item_open.name);
    g_assert_cmpint(a->u.item_open.has_base, ==, b->u.item_open.has_base);
    g_assert_cmpuint(a->u.item_open.base_size, ==, b->u.item_open.base_size);
    g_assert_cmpmem(a->u.item_open.base_digest, BF_DIGEST_LEN,
                    b->u.item_open.base_digest, BF_DIGEST_LEN);
    g_assert_cmpint(a->u.item_open.has_keep, ==, b->u.item_open.has_keep);
    g_assert_cmpuint(a->u.item_open.base_keep, ==, b->u.item_open.base_keep);
    break;
  case BF_FRAME_CHUNK:
    g_assert_cmpuint(a->u.chunk.item_id, ==, b->u.chunk.item_id);
    g_assert_cmpuint(a->u.chunk.chunk_id, ==, b->u.chunk.chunk_id);
    g_assert_cmpuint(a->u.chunk.total_chunks, ==, b->u.chunk.total_chunks);
    g_assert_cmpuint(a->u.chunk.share_index, ==, b->u.chunk.share_index);
    g_assert_cmpuint(a->u.chunk.pad, ==, b->u.chunk.pad);
    g_assert_cmpuint(a->u.chunk.crc32c, ==, b->u.chunk.crc32c);
    g_assert_cmpmem(a->u.chunk.payload, a->u.chunk.payload_len,
                    b->u.chunk.payload, b->u.chunk.payload_len);
    break;
  case BF_FRAME_CHUNK_ACK:
    g_assert_cmpuint(a->u.chunk_ack.item_id, ==, b->u.chunk_ack.item_id);
    g_assert_cmpuint(a->u.chunk_ack.chunk_id, ==, b->u.chunk_ack.chunk_id);
    g_assert_cmpuint(a->u.chunk_ack.share_index, ==,
                     b->u.chunk_ack.share_index);
    break;
  case BF_FRAME_ITEM_CLOSE:
    g_assert_cmpuint(a->u.item_close.item_id, ==, b->u.item_close.item_id);
    g_assert_cmpuint(a->u.item_close.total_chunks, ==,
                     b->u.item_close.total_chunks);
    g_assert_cmpuint(a->u.item_close.size, ==, b->u.item_close.size);
    g_assert_cmpuint(a->u.item_close.digest_alg, ==,
                     b->u.item_close.digest_alg);
    g_assert_cmpmem(a->u.item_close.digest, BF_DIGEST_LEN,
                    b->u.item_close.digest, BF_DIGEST_LEN);
    g_assert_cmpuint(a->u.item_close.mode, ==, b->u.item_close.mode);
    g_assert_cmpint(a->u.item_close.mtime_sec, ==, b->u.item_close.mtime_sec);
    g_assert_cmpuint(a->u.item_close.mtime_nsec, ==, b->u.item_close.mtime_nsec);
    break;
  case BF_FRAME_ITEM_ACK:
    g_assert_cmpuint(a->u.item_ack.item_id, ==, b->u.item_ack.item_id);
    g_assert_cmpuint(a->u.item_ack.stage, ==, b->u.item_ack.stage);
    g_assert_cmpuint(a->u.item_ack.status, ==, b->u.item_ack.status);
    assert_bytes_eq(a->u.item_ack.message, b->u.item_ack.message);
    g_assert_cmpmem(a->u.item_ack.proof, BF_PROOF_LEN, b->u.item_ack.proof,
                    BF_PROOF_LEN);
    break;
  case BF_FRAME_OP:
    g_assert_cmpuint(a->u.op.op_id, ==, b->u.op.op_id);
    g_assert_cmpuint(a->u.op.op, ==, b->u.op.op);
    g_assert_cmpuint(a->u.op.mode, ==, b->u.op.mode);
    g_assert_cmpuint(a->u.op.flags, ==, b->u.op.flags);
    g_assert_cmpint(a->u.op.mtime_sec, ==, b->u.op.mtime_sec);
    g_assert_cmpuint(a->u.op.mtime_nsec, ==, b->u.op.mtime_nsec);
    g_assert_cmpuint(a->u.op.item_id, ==, b->u.op.item_id);
    assert_bytes_eq(a->u.op.name, b->u.op.name);
    assert_bytes_eq(a->u.op.name2, b->u.op.name2);
    break;
  case BF_FRAME_OP_ACK:
    g_assert_cmpuint(a->u.op_ack.op_id, ==, b->u.op_ack.op_id);
    g_assert_cmpuint(a->u.op_ack.status, ==, b->u.op_ack.status);
    assert_bytes_eq(a->u.op_ack.message, b->u.op_ack.message);
    break;
  case BF_FRAME_STATFS:
    g_assert_cmpuint(a->u.statfs.op_id, ==, b->u.statfs.op_id);
    break;
  case BF_FRAME_STATFS_ACK:
    g_assert_cmpuint(a->u.statfs_ack.op_id, ==, b->u.statfs_ack.op_id);
    g_assert_cmpuint(a->u.statfs_ack.status, ==, b->u.statfs_ack.status);
    g_assert_cmpuint(a->u.statfs_ack.bsize, ==, b->u.statfs_ack.bsize);
    g_assert_cmpuint(a->u.statfs_ack.blocks, ==, b->u.statfs_ack.blocks);
    g_assert_cmpuint(a->u.statfs_ack.bfree, ==, b->u.statfs_ack.bfree);
    g_assert_cmpuint(a->u.statfs_ack.bavail, ==, b->u.statfs_ack.bavail);
    g_assert_cmpuint(a->u.statfs_ack.files, ==, b->u.statfs_ack.files);
    g_assert_cmpuint(a->u.statfs_ack.ffree, ==, b->u.statfs_ack.ffree);
    break;
  case BF_FRAME_READ:
    g_assert_cmpuint(a->u.read.op_id, ==, b->u.read.op_id);
    g_assert_cmpuint(a->u.read.offset, ==, b->u.read.offset);
    g_assert_cmpuint(a->u.read.length, ==, b->u.read.length);
    assert_bytes_eq(a->u.read.name, b->u.read.name);
    break;
  case BF_FRAME_READ_DATA:
    g_assert_cmpuint(a->u.read_data.op_id, ==, b->u.read_data.op_id);
    g_assert_cmpuint(a->u.read_data.status, ==, b->u.read_data.status);
    g_assert_cmpuint(a->u.read_data.size, ==, b->u.read_data.size);
    g_assert_cmpuint(a->u.read_data.crc32c, ==, b->u.read_data.crc32c);
    g_assert_cmpmem(a->u.read_data.payload, a->u.read_data.payload_len,
                    b->u.read_data.payload, b->u.read_data.payload_len);
    break;
  case BF_FRAME_PING:
  case BF_FRAME_PONG:
    g_assert_cmpuint(a->u.ping.opaque, ==, b->u.ping.opaque);
    break;
  case BF_FRAME_ERROR:
    g_assert_cmpuint(a->u.error.status, ==, b->u.error.status);
    assert_bytes_eq(a->u.error.message, b->u.error.message);
    break;
  default:
    g_assert_not_reached();
  }
}

static void
assert_msg_contains(const GError *err, const char *want)
{
  if (want != NULL && strstr(err->message, want) == NULL)
    g_error("error message \"%s\" does not contain \"%s\"", err->message,
            want);
}

/* Decodes a raw body that must be rejected with code (and a message
 * containing want, if given), leaving the output cleared. */
static void
expect_raw_error(uint8_t type, const uint8_t *body, size_t len,
                 BfWireError code, const char *want)
{
  GError *err = NULL;
  uint8_t *copy;
  BfMsg out;

  g_assert_false(decode_copy(type, 0, body, len, &copy, &out, &err));
  g_assert_error(err, BF_WIRE_ERROR, (gint)code);
  assert_msg_contains(err, want);
  assert_zeroed(&out);
  g_clear_error(&err);
  g_free(copy);
}

static void
expect_error(const BfMsg *m, BfWireError code, const char *want)
{
  size_t len;
  uint8_t *body = encode_body(m, &len);
  expect_raw_error(m->type, body, len, code, want);
  g_free(body);
}

/* Round trip through the encoder; also checks the decoded message encodes
 * back to the same bytes. */
static void
expect_ok(const BfMsg *m)
{
  GError *err = NULL;
  size_t len, len2;
  uint8_t *body = encode_body(m, &len);
  uint8_t *copy;
  BfMsg out;

  if (!decode_copy(m->type, m->flags, body, len, &copy, &out, &err))
    g_error("%s: unexpected decode error: %s", bf_frame_type_str(m->type),
            err->message);
  assert_msg_eq(m, &out);
  uint8_t *again = encode_body(&out, &len2);
  g_assert_cmpmem(body, len, again, len2);
  g_free(again);
  g_free(copy);
  g_free(body);
}

static void
expect_raw_ok(uint8_t type, const GByteArray *b, BfMsg *out, uint8_t **copy)
{
  GError *err = NULL;
  if (!decode_copy(type, 0, b->data, b->len, copy, out, &err))
    g_error("unexpected decode error: %s", err->message);
}

/* ---- generic per-type tests -------------------------------------------- */

static void
test_roundtrip(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  expect_ok(&m);
}

/* Bodies that end at a boundary the format allows to be an end: between
 * TLVs, or anywhere in a CHUNK's or READ_DATA's payload (the caller's
 * CRC check catches that one; a frame length is never shorter than what
 * was sent). */
static gboolean
truncation_may_succeed(const BfMsg *m, size_t k)
{
  switch (m->type) {
  case BF_FRAME_HELLO:
    return k == HELLO_FIXED ||
           (m->u.hello.label.len > 0 &&
            k == (size_t)HELLO_FIXED + TLV_HDR + m->u.hello.label.len);
  case BF_FRAME_CHUNK:
    return k > CHUNK_FIXED;
  case BF_FRAME_READ_DATA:
    return k >= READ_DATA_FIXED;
  case BF_FRAME_ITEM_OPEN:
    /* Cut just after the name, an append is a plain item; cut just
     * after the base, a cut base is a whole one. */
    return (m->u.item_open.has_base &&
            k == (size_t)ITEM_OPEN_FIXED + m->u.item_open.name.len) ||
           (m->u.item_open.has_keep &&
            k == (size_t)ITEM_OPEN_FIXED + m->u.item_open.name.len + 8 +
                 BF_DIGEST_LEN);
  default:
    return FALSE;
  }
}

static void
test_truncated(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  size_t len;
  uint8_t *body = encode_body(&m, &len);
  unsigned successes = 0;

  for (size_t k = 0; k < len; k++) {
    GError *err = NULL;
    uint8_t *copy;
    BfMsg out;

    if (decode_copy(m.type, 0, body, k, &copy, &out, &err)) {
      if (!truncation_may_succeed(&m, k))
        g_error("%s: body truncated to %zu of %zu bytes was accepted",
                bf_frame_type_str(m.type), k, len);
      successes++;
      if (m.type == BF_FRAME_CHUNK) {
        g_assert_cmpuint(out.u.chunk.payload_len, ==, k - CHUNK_FIXED);
        g_assert_cmpuint(bf_crc32c(out.u.chunk.payload,
                                   out.u.chunk.payload_len), !=,
                         out.u.chunk.crc32c);
      } else if (m.type == BF_FRAME_READ_DATA) {
        g_assert_cmpuint(out.u.read_data.payload_len, ==, k - READ_DATA_FIXED);
        g_assert_cmpuint(bf_crc32c(out.u.read_data.payload,
                                   out.u.read_data.payload_len), !=,
                         out.u.read_data.crc32c);
      } else if (m.type == BF_FRAME_ITEM_OPEN) {
        g_assert_false(out.u.item_open.has_keep);
        g_assert_true(out.u.item_open.has_base ==
                      (k > (size_t)ITEM_OPEN_FIXED + m.u.item_open.name.len));
      } else {
        /* A HELLO cut between TLVs loses them; it may not invent any. */
        g_assert_cmpuint(out.u.hello.path_index, ==, 0);
        g_assert_cmpuint(out.u.hello.label.len, <=, m.u.hello.label.len);
      }
    } else {
      g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TRUNCATED);
      assert_zeroed(&out);
      g_clear_error(&err);
    }
    g_free(copy);
  }
  if (m.type != BF_FRAME_HELLO && m.type != BF_FRAME_CHUNK &&
      m.type != BF_FRAME_READ_DATA)
    g_assert_cmpuint(successes, ==, m.type != BF_FRAME_ITEM_OPEN ? 0
                                    : (m.u.item_open.has_base ? 1 : 0) +
                                      (m.u.item_open.has_keep ? 1 : 0));
  g_free(body);
}

static void
test_trailing(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  size_t len;
  uint8_t *body = encode_body(&m, &len);
  uint8_t *longer = g_malloc0(len + 1);
  memcpy(longer, body, len);

  switch (m.type) {
  case BF_FRAME_CHUNK: {
    /* The payload is "the rest of the body": one byte more is payload. */
    GError *err = NULL;
    uint8_t *copy;
    BfMsg out;
    g_assert_true(decode_copy(m.type, 0, longer, len + 1, &copy, &out, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(out.u.chunk.payload_len, ==, m.u.chunk.payload_len + 1);
    g_free(copy);
    break;
  }
  case BF_FRAME_READ_DATA: {
    GError *err = NULL;
    uint8_t *copy;
    BfMsg out;
    g_assert_true(decode_copy(m.type, 0, longer, len + 1, &copy, &out, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(out.u.read_data.payload_len, ==,
                     m.u.read_data.payload_len + 1);
    g_free(copy);
    break;
  }
  case BF_FRAME_HELLO:
  case BF_FRAME_WELCOME:
    /* TLVs run to the end: a lone byte is a TLV cut short. */
    expect_raw_error(m.type, longer, len + 1, BF_WIRE_ERROR_TRUNCATED, "TLV");
    break;
  case BF_FRAME_ITEM_OPEN:
    /* After the name, a byte starts a base (an append) cut short. */
    if (!m.u.item_open.has_base) {
      expect_raw_error(m.type, longer, len + 1, BF_WIRE_ERROR_TRUNCATED,
                       "base_size");
      break;
    }
    /* After a whole base, a byte starts a base_keep cut short. */
    if (!m.u.item_open.has_keep) {
      expect_raw_error(m.type, longer, len + 1, BF_WIRE_ERROR_TRUNCATED,
                       "base_keep");
      break;
    }
    expect_raw_error(m.type, longer, len + 1, BF_WIRE_ERROR_TOO_LONG,
                     bf_frame_type_str(m.type));
    break;
  default:
    expect_raw_error(m.type, longer, len + 1, BF_WIRE_ERROR_TOO_LONG,
                     bf_frame_type_str(m.type));
    break;
  }
  g_free(longer);
  g_free(body);
}

static void
test_header_cap(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  GByteArray *b = g_byte_array_new();
  GError *err = NULL;
  uint8_t type, flags;
  uint32_t blen;

  g_assert_true(bf_msg_encode(&m, b));
  g_assert_true(bf_header_parse(b->data, b->len, BF_BODY_MAX, &type, &flags,
                                &blen, &err));
  g_assert_no_error(err);

  g_assert_true(bf_header_parse(b->data, b->len, blen, &type, &flags, &blen,
                                &err));
  g_assert_no_error(err);
  g_assert_false(bf_header_parse(b->data, b->len, blen - 1, &type, &flags,
                                 &blen, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TOO_LONG);
  assert_msg_contains(err, bf_frame_type_str(m.type));
  g_clear_error(&err);
  g_assert_cmpuint(type, ==, 0);
  g_assert_cmpuint(blen, ==, 0);
  g_byte_array_unref(b);
}

static void
test_flags(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  size_t len;
  uint8_t *body = encode_body(&m, &len);
  static const uint8_t unknown[] = { 0x02, 0x04, 0x40, 0x80, 0xfe, 0xff };

  for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
    GError *err = NULL;
    uint8_t *copy;
    BfMsg out;
    g_assert_false(decode_copy(m.type, unknown[i], body, len, &copy, &out,
                               &err));
    g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_UNKNOWN);
    assert_msg_contains(err, "flags");
    g_clear_error(&err);
    g_free(copy);

    /* The header parser refuses them too, before any body is read. */
    uint8_t hdr[BF_HEADER_LEN] = { 0, 0, 0, 8, m.type, unknown[i] };
    uint8_t type, flags;
    uint32_t blen;
    g_assert_false(bf_header_parse(hdr, sizeof hdr, BF_BODY_MAX, &type,
                                   &flags, &blen, &err));
    g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_UNKNOWN);
    g_clear_error(&err);
  }
  g_free(body);
}

static void
test_sealed(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  GError *err = NULL;
  uint8_t *copy;
  BfMsg out;

  /* SEALED is a known flag: the header passes it on to the crypto layer. */
  m.flags = BF_FLAG_SEALED;
  size_t len;
  uint8_t *body = encode_body(&m, &len);

  g_assert_false(decode_copy(m.type, BF_FLAG_SEALED, body, len, &copy, &out,
                             &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_UNKNOWN);
  assert_msg_contains(err, "sealed frame but no key is configured");
  assert_msg_contains(err, bf_frame_type_str(m.type));
  assert_zeroed(&out);
  g_clear_error(&err);
  g_free(copy);
  g_free(body);
}

/* Random damage to valid bodies: the decoder must never crash or read out
 * of bounds, and whatever it accepts must survive a re-encode unchanged. */
static void
test_mutations(gconstpointer data)
{
  BfMsg m = sample_msg(data);
  size_t len;
  uint8_t *body = encode_body(&m, &len);
  GRand *rand = g_rand_new_with_seed(0x6272616964u + GPOINTER_TO_UINT(data));

  for (int round = 0; round < 4000; round++) {
    size_t mlen = len;
    if (g_rand_int_range(rand, 0, 4) == 0)
      mlen = (size_t)g_rand_int_range(rand, 0, (gint32)len + 8);
    uint8_t *mut = g_malloc0(mlen + 1);
    memcpy(mut, body, MIN(len, mlen));
    int flips = g_rand_int_range(rand, 1, 4);
    for (int f = 0; f < flips && mlen > 0; f++) {
      size_t at = (size_t)g_rand_int_range(rand, 0, (gint32)mlen);
      if (g_rand_boolean(rand))
        mut[at] = (uint8_t)g_rand_int(rand);
      else
        mut[at] ^= (uint8_t)(1u << g_rand_int_range(rand, 0, 8));
    }

    GError *err = NULL;
    uint8_t *copy, *copy2;
    BfMsg out, out2;
    if (decode_copy(m.type, 0, mut, mlen, &copy, &out, &err)) {
      size_t len2;
      uint8_t *again = encode_body(&out, &len2);
      g_assert_true(decode_copy(m.type, 0, again, len2, &copy2, &out2, &err));
      g_assert_no_error(err);
      assert_msg_eq(&out, &out2);
      g_free(copy2);
      g_free(again);
    } else {
      g_assert_nonnull(err);
      g_assert_true(err->domain == BF_WIRE_ERROR);
      g_assert_true(g_utf8_validate(err->message, -1, NULL));
      g_clear_error(&err);
    }
    g_free(copy);
    g_free(mut);
  }
  g_rand_free(rand);
  g_free(body);
}

/* ---- framing ----------------------------------------------------------- */

static void
test_preface(void)
{
  GError *err = NULL;
  uint8_t buf[16];

  g_assert_cmpmem(bf_preface, BF_PREFACE_LEN, "BRAIDFS\x03", 8);
  g_assert_true(bf_preface_check(bf_preface, BF_PREFACE_LEN, &err));
  g_assert_no_error(err);
  /* version 2 differs only in keyed frames' AEAD: still spoken */
  g_assert_true(bf_preface_check((const uint8_t *)"BRAIDFS\x02", 8, &err));
  g_assert_no_error(err);
  bf_preface_make(buf, 2);
  g_assert_cmpmem(buf, BF_PREFACE_LEN, "BRAIDFS\x02", 8);

  /* Bytes after the preface (the first frame) are not the preface's. */
  memcpy(buf, bf_preface, BF_PREFACE_LEN);
  memset(buf + BF_PREFACE_LEN, 0xff, sizeof buf - BF_PREFACE_LEN);
  g_assert_true(bf_preface_check(buf, sizeof buf, &err));
  g_assert_no_error(err);

  for (size_t k = 0; k < BF_PREFACE_LEN; k++) {
    uint8_t *copy = g_memdup2(bf_preface, k);
    g_assert_false(bf_preface_check(copy, k, &err));
    g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TRUNCATED);
    g_clear_error(&err);
    g_free(copy);
  }

  g_assert_false(bf_preface_check((const uint8_t *)"GET / HT", 8, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_PREFACE);
  assert_msg_contains(err, "not a braidfs peer");
  g_clear_error(&err);

  g_assert_false(bf_preface_check((const uint8_t *)"braidfs\x01", 8, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_PREFACE);
  g_clear_error(&err);

  /* version 1: ITEM_ACK and ITEM_OPEN had other layouts */
  g_assert_false(bf_preface_check((const uint8_t *)"BRAIDFS\x01", 8, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_PREFACE);
  assert_msg_contains(err, "version 1");
  g_clear_error(&err);

  g_assert_false(bf_preface_check((const uint8_t *)"BRAIDFS\x04", 8, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_PREFACE);
  assert_msg_contains(err, "version 4");
  g_clear_error(&err);

  g_assert_false(bf_preface_check((const uint8_t *)"BRAIDFS\x00", 8, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_PREFACE);
  g_clear_error(&err);
}

static void
test_header(void)
{
  GError *err = NULL;
  uint8_t type, flags;
  uint32_t blen;
  const uint8_t ok[BF_HEADER_LEN] = { 0x00, 0x01, 0x02, 0x03, 0x11, 0x01 };

  g_assert_true(bf_header_parse(ok, sizeof ok, BF_BODY_MAX, &type, &flags,
                                &blen, &err));
  g_assert_no_error(err);
  g_assert_cmpuint(blen, ==, 0x010203);
  g_assert_cmpuint(type, ==, BF_FRAME_CHUNK);
  g_assert_cmpuint(flags, ==, BF_FLAG_SEALED);

  for (size_t k = 0; k < BF_HEADER_LEN; k++) {
    uint8_t *copy = g_memdup2(ok, k);
    g_assert_false(bf_header_parse(copy, k, BF_BODY_MAX, &type, &flags, &blen,
                                   &err));
    g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TRUNCATED);
    g_clear_error(&err);
    g_free(copy);
  }

  /* Unknown types are the decoder's business, not the header's. */
  const uint8_t odd[BF_HEADER_LEN] = { 0, 0, 0, 0, 0x55, 0 };
  g_assert_true(bf_header_parse(odd, sizeof odd, 0, &type, &flags, &blen,
                                &err));
  g_assert_no_error(err);
  g_assert_cmpuint(type, ==, 0x55);

  /* Over the caller's cap, and over BF_BODY_MAX whatever the cap. */
  g_assert_false(bf_header_parse(ok, sizeof ok, 0x010202, &type, &flags,
                                 &blen, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TOO_LONG);
  assert_msg_contains(err, "CHUNK");
  g_clear_error(&err);

  uint8_t big[BF_HEADER_LEN] = { 0, 0, 0, 0, BF_FRAME_CHUNK, 0 };
  uint32_t n = BF_BODY_MAX;
  big[0] = (uint8_t)(n >> 24), big[1] = (uint8_t)(n >> 16);
  big[2] = (uint8_t)(n >> 8), big[3] = (uint8_t)n;
  g_assert_true(bf_header_parse(big, sizeof big, SIZE_MAX, &type, &flags,
                                &blen, &err));
  g_assert_no_error(err);
  g_assert_cmpuint(blen, ==, BF_BODY_MAX);
  n = BF_BODY_MAX + 1;
  big[0] = (uint8_t)(n >> 24), big[1] = (uint8_t)(n >> 16);
  big[2] = (uint8_t)(n >> 8), big[3] = (uint8_t)n;
  g_assert_false(bf_header_parse(big, sizeof big, SIZE_MAX, &type, &flags,
                                 &blen, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TOO_LONG);
  g_clear_error(&err);
  memset(big, 0xff, 4);
  g_assert_false(bf_header_parse(big, sizeof big, SIZE_MAX, &type, &flags,
                                 &blen, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_TOO_LONG);
  g_clear_error(&err);
}

static void
test_unknown_type(void)
{
  static const uint8_t body[64];
  unsigned unknown = 0;

  for (unsigned t = 0; t < 256; t++) {
    gboolean known = memchr(known_types, (int)t, sizeof known_types) != NULL;
    g_assert_cmpint(known, ==, strcmp(bf_frame_type_str((uint8_t)t),
                                      "unknown") != 0);
    if (known)
      continue;
    unknown++;
    for (size_t len = 0; len <= sizeof body; len += 8)
      expect_raw_error((uint8_t)t, body, len, BF_WIRE_ERROR_UNKNOWN,
                       "unknown frame type");
  }
  g_assert_cmpuint(unknown, ==, 256 - G_N_ELEMENTS(known_types));
}

static void
test_strings(void)
{
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);

  for (size_t i = 0; i < G_N_ELEMENTS(known_types); i++) {
    const char *s = bf_frame_type_str(known_types[i]);
    g_assert_false(g_hash_table_contains(seen, s));
    g_hash_table_add(seen, (gpointer)s);
  }
  g_assert_cmpstr(bf_frame_type_str(BF_FRAME_CHUNK), ==, "CHUNK");
  g_assert_cmpstr(bf_frame_type_str(BF_FRAME_ITEM_OPEN), ==, "ITEM_OPEN");
  g_assert_cmpstr(bf_frame_type_str(0), ==, "unknown");

  for (unsigned st = 0; st <= BF_ST_MAX_; st++) {
    const char *s = bf_status_str((uint8_t)st);
    g_assert_cmpstr(s, !=, "unknown status");
    g_assert_false(g_hash_table_contains(seen, s));
    g_hash_table_add(seen, (gpointer)s);
  }
  g_assert_cmpstr(bf_status_str(BF_ST_OK), ==, "ok");
  g_assert_cmpstr(bf_status_str(BF_ST_PROTOCOL), ==, "protocol error");
  g_assert_cmpstr(bf_status_str(BF_ST_BAD_NAME), ==, "bad name");
  g_assert_cmpstr(bf_status_str(BF_ST_NO_SPACE), ==,
                  "no space left on server");
  g_assert_cmpstr(bf_status_str(BF_ST_MAX_ + 1), ==, "unknown status");
  g_assert_cmpstr(bf_status_str(255), ==, "unknown status");
  g_hash_table_unref(seen);
}

/* ---- encoder ----------------------------------------------------------- */

/* A refused message leaves the output array exactly as it was. */
static void
expect_encode_refused(const BfMsg *m)
{
  GByteArray *b = g_byte_array_new();
  g_byte_array_append(b, (const uint8_t *)"abc", 3);
  g_assert_false(bf_msg_encode(m, b));
  g_assert_cmpmem(b->data, b->len, "abc", 3);
  g_byte_array_unref(b);
}

static void
test_encode_limits(void)
{
  char *big = g_malloc(BF_NAME_MAX + 2);
  memset(big, 'a', BF_NAME_MAX + 1);
  big[BF_NAME_MAX + 1] = '\0';
  BfBytes msg_max = { (const uint8_t *)big, BF_MSG_MAX };
  BfBytes msg_over = { (const uint8_t *)big, BF_MSG_MAX + 1 };
  BfBytes name_over = { (const uint8_t *)big, BF_NAME_MAX + 1 };
  BfBytes dangling = { NULL, 3 };
  BfMsg m;

  memset(&m, 0, sizeof m);
  fill_hello(&m);
  m.u.hello.label = (BfBytes){ (const uint8_t *)big, BF_LABEL_MAX };
  expect_ok(&m);
  m.u.hello.label.len = BF_LABEL_MAX + 1;
  expect_encode_refused(&m);
  m.u.hello.label = dangling;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_welcome(&m);
  m.u.welcome.message = msg_max;
  expect_ok(&m);
  m.u.welcome.message = msg_over;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_item_open(&m);
  m.u.item_open.name = name_over;
  expect_encode_refused(&m);
  m.u.item_open.name = dangling;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_chunk(&m);
  m.u.chunk.payload_len = BF_CHUNK_MAX + 1;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_item_ack(&m);
  m.u.item_ack.message = msg_max;
  expect_ok(&m);
  m.u.item_ack.message = msg_over;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_op(&m);
  m.u.op.name = name_over;
  expect_encode_refused(&m);
  fill_op(&m);
  m.u.op.name2 = name_over;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_op_ack(&m);
  m.u.op_ack.message = msg_over;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  fill_error(&m);
  m.u.error.message = msg_over;
  expect_encode_refused(&m);

  memset(&m, 0, sizeof m);
  m.type = 0x55;
  expect_encode_refused(&m);

  g_free(big);
}

static void
test_encode_layout(void)
{
  GByteArray *b = g_byte_array_new();
  BfMsg m;

  /* HELLO: LABEL only when there is one, PATH_INDEX always. */
  memset(&m, 0, sizeof m);
  m.type = BF_FRAME_HELLO;
  m.u.hello.path_index = 0x0102;
  g_assert_true(bf_msg_encode(&m, b));
  static const uint8_t hello_tail[] = { BF_TLV_PATH_INDEX, 0, 2, 1, 2 };
  g_assert_cmpuint(b->len, ==, BF_HEADER_LEN + HELLO_FIXED + 5);
  g_assert_cmpmem(b->data + BF_HEADER_LEN + HELLO_FIXED, 5, hello_tail, 5);

  /* Frames append; the header is big-endian length, type, flags. */
  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  fill_ping(&m);
  g_assert_true(bf_msg_encode(&m, b));
  fill_pong(&m);
  g_assert_true(bf_msg_encode(&m, b));
  static const uint8_t two[] = {
    0, 0, 0, 8, BF_FRAME_PING, 0, 0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xf0, 0x0d,
    0, 0, 0, 8, BF_FRAME_PONG, 0, 0, 0, 0, 0, 0, 0, 0, 1,
  };
  g_assert_cmpmem(b->data, b->len, two, sizeof two);

  /* CHUNK: header counts the payload the encoder leaves out. */
  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  fill_chunk(&m);
  m.u.chunk.payload_len = BF_CHUNK_MAX;
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpuint(b->len, ==, BF_HEADER_LEN + CHUNK_FIXED);
  uint32_t n = (uint32_t)b->data[0] << 24 | (uint32_t)b->data[1] << 16 |
               (uint32_t)b->data[2] << 8 | b->data[3];
  g_assert_cmpuint(n, ==, CHUNK_FIXED + BF_CHUNK_MAX);
  g_assert_cmpuint(n, <=, BF_BODY_MAX);

  /* ITEM_OPEN: a negative mtime travels as two's complement. */
  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  fill_item_open(&m);
  m.u.item_open.mtime_sec = -1;
  g_assert_true(bf_msg_encode(&m, b));
  for (int i = 0; i < 8; i++)
    g_assert_cmpuint(b->data[BF_HEADER_LEN + 16 + i], ==, 0xff);
  g_byte_array_unref(b);
}

/* The byte-exact example of braidfs-protocol(7): pins the field order and
 * sizes of the tables there to the codec. */
static void
test_golden(void)
{
  static const uint8_t hello[] = {
    0x00, 0x00, 0x00, 0x30, 0x01, 0x00, 0x00, 0x00,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x01, 0x00, 0x06, 'l', 'a', 'p', 't', 'o', 'p',
    0x04, 0x00, 0x02, 0x00, 0x00,
  };
  static const uint8_t item_open[] = {
    0x00, 0x00, 0x00, 0x29, 0x10, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x10, 0x00, 0x00,
    0x00, 0x00, 0x01, 0xa4,
    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00,
    0x00, 0x00, 0x00, 0x05,
    0x00, 0x01, 0x01, 0x01,
    0x00, 0x07, 'a', '/', 'b', '.', 't', 'x', 't',
  };
  static const uint8_t chunk[] = {
    0x00, 0x00, 0x00, 0x1d, 0x11, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00,
    0x9a, 0x71, 0xbb, 0x4c,
  };
  static const uint8_t item_close[] = {
    0x00, 0x00, 0x00, 0x48, 0x13, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
    0x01, 0x00, 0x00, 0x00,
    0x32, 0x4d, 0xcf, 0x02, 0x7d, 0xd4, 0xa3, 0x0a,
    0x93, 0x2c, 0x44, 0x1f, 0x36, 0x5a, 0x25, 0xe8,
    0x6b, 0x17, 0x3d, 0xef, 0xa4, 0xb8, 0xe5, 0x89,
    0x48, 0x25, 0x34, 0x71, 0xb8, 0x1b, 0x72, 0xcf,
    0x00, 0x00, 0x01, 0xa4,
    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00,
    0x00, 0x00, 0x00, 0x07,
  };
  static const uint8_t stored[] = {
    0x00, 0x00, 0x00, 0x2c, 0x14, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00,
    /* proof */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  };
  GByteArray *b = g_byte_array_new();
  BfMsg m;

  memset(&m, 0, sizeof m);
  m.type = BF_FRAME_HELLO;
  m.u.hello.kind = BF_HELLO_NEW;
  m.u.hello.label = bytes("laptop");
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpmem(b->data, b->len, hello, sizeof hello);

  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  m.type = BF_FRAME_ITEM_OPEN;
  m.u.item_open.item_id = 1;
  m.u.item_open.chunk_size = 1048576;
  m.u.item_open.mode = 0644;
  m.u.item_open.mtime_sec = 1700000000;
  m.u.item_open.mtime_nsec = 5;
  m.u.item_open.coding = BF_CODING_STRIPE;
  m.u.item_open.coding_k = 1;
  m.u.item_open.coding_n = 1;
  m.u.item_open.digest_alg = BF_DIGEST_BLAKE2B_256;
  m.u.item_open.name = bytes("a/b.txt");
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpmem(b->data, b->len, item_open, sizeof item_open);

  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  m.type = BF_FRAME_CHUNK;
  m.u.chunk.item_id = 1;
  m.u.chunk.total_chunks = 1;
  m.u.chunk.crc32c = bf_crc32c("hello", 5);
  m.u.chunk.payload = (const uint8_t *)"hello";
  m.u.chunk.payload_len = 5;
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpmem(b->data, b->len, chunk, sizeof chunk);

  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  m.type = BF_FRAME_ITEM_CLOSE;
  m.u.item_close.item_id = 1;
  m.u.item_close.total_chunks = 1;
  m.u.item_close.size = 5;
  m.u.item_close.digest_alg = BF_DIGEST_BLAKE2B_256;
  memcpy(m.u.item_close.digest, item_close + BF_HEADER_LEN + 24,
         BF_DIGEST_LEN);
  m.u.item_close.mode = 0644;
  m.u.item_close.mtime_sec = 1700000000;
  m.u.item_close.mtime_nsec = 7;
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpmem(b->data, b->len, item_close, sizeof item_close);

  g_byte_array_set_size(b, 0);
  memset(&m, 0, sizeof m);
  m.type = BF_FRAME_ITEM_ACK;
  m.u.item_ack.item_id = 1;
  m.u.item_ack.stage = BF_ACK_STORED;
  g_assert_true(bf_msg_encode(&m, b));
  g_assert_cmpmem(b->data, b->len, stored, sizeof stored);

  g_byte_array_unref(b);
}

/* ---- HELLO / WELCOME --------------------------------------------------- */

static void
put_hello_fixed(GByteArray *b, uint8_t kind)
{
  uint8_t fixed[HELLO_FIXED] = { kind, 0 };
  if (kind == BF_HELLO_ATTACH) {
    memcpy(fixed + 2, sid, BF_ID_LEN);
    memcpy(fixed + 2 + BF_ID_LEN, tok, BF_ID_LEN);
  }
  g_byte_array_append(b, fixed, sizeof fixed);
}

static void
put_tlv(GByteArray *b, uint8_t tag, const void *value, size_t len)
{
  uint8_t hdr[TLV_HDR] = { tag, (uint8_t)(len >> 8), (uint8_t)len };
  g_byte_array_append(b, hdr, sizeof hdr);
  if (len > 0)
    g_byte_array_append(b, value, (guint)len);
}

static void
expect_hello_error(const GByteArray *b, BfWireError code, const char *want)
{
  expect_raw_error(BF_FRAME_HELLO, b->data, b->len, code, want);
}

static void
test_hello(void)
{
  GByteArray *b = g_byte_array_new();
  uint8_t *copy;
  BfMsg out;
  uint8_t buf[BF_LABEL_MAX + 1];

  /* No TLVs at all: empty label, path 0. */
  put_hello_fixed(b, BF_HELLO_NEW);
  expect_raw_ok(BF_FRAME_HELLO, b, &out, &copy);
  g_assert_cmpuint(out.u.hello.kind, ==, BF_HELLO_NEW);
  g_assert_cmpuint(out.u.hello.label.len, ==, 0);
  g_assert_cmpuint(out.u.hello.path_index, ==, 0);
  g_free(copy);

  /* Unknown tags are skipped wherever they are. */
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_ATTACH);
  put_tlv(b, 200, "xxxxx", 5);
  put_tlv(b, BF_TLV_LABEL, "lap", 3);
  put_tlv(b, 0, NULL, 0);
  put_tlv(b, BF_TLV_PATH_INDEX, "\x00\x07", 2);
  put_tlv(b, 255, "\xff", 1);
  expect_raw_ok(BF_FRAME_HELLO, b, &out, &copy);
  g_assert_cmpuint(out.u.hello.kind, ==, BF_HELLO_ATTACH);
  g_assert_cmpmem(out.u.hello.session_id, BF_ID_LEN, sid, BF_ID_LEN);
  g_assert_cmpmem(out.u.hello.token, BF_ID_LEN, tok, BF_ID_LEN);
  g_assert_cmpmem(out.u.hello.label.data, out.u.hello.label.len, "lap", 3);
  g_assert_cmpuint(out.u.hello.path_index, ==, 7);
  g_free(copy);

  /* Reserved NONCE and PROOF: exactly 32 bytes, nothing kept. */
  memset(buf, 0xab, sizeof buf);
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, BF_TLV_NONCE, buf, 32);
  put_tlv(b, BF_TLV_PROOF, buf, 32);
  expect_raw_ok(BF_FRAME_HELLO, b, &out, &copy);
  g_free(copy);
  static const struct { uint8_t tag; size_t len; BfWireError code; } fixed[] = {
    { BF_TLV_NONCE, 31, BF_WIRE_ERROR_TRUNCATED },
    { BF_TLV_NONCE, 33, BF_WIRE_ERROR_TOO_LONG },
    { BF_TLV_PROOF, 0, BF_WIRE_ERROR_TRUNCATED },
    { BF_TLV_PROOF, 64, BF_WIRE_ERROR_TOO_LONG },
    { BF_TLV_PATH_INDEX, 1, BF_WIRE_ERROR_TRUNCATED },
    { BF_TLV_PATH_INDEX, 3, BF_WIRE_ERROR_TOO_LONG },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++) {
    g_byte_array_set_size(b, 0);
    put_hello_fixed(b, BF_HELLO_NEW);
    put_tlv(b, fixed[i].tag, buf, fixed[i].len);
    expect_hello_error(b, fixed[i].code, "TLV");
  }

  /* A tag twice is an error, known or not. */
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, BF_TLV_LABEL, "a", 1);
  put_tlv(b, BF_TLV_PATH_INDEX, "\0\1", 2);
  put_tlv(b, BF_TLV_LABEL, "b", 1);
  expect_hello_error(b, BF_WIRE_ERROR_RANGE, "HELLO: TLV tag 1 appears twice");
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, 99, NULL, 0);
  put_tlv(b, 99, NULL, 0);
  expect_hello_error(b, BF_WIRE_ERROR_RANGE, "twice");

  /* At most BF_TLV_MAX of them. */
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  for (unsigned t = 0; t < BF_TLV_MAX; t++)
    put_tlv(b, (uint8_t)(100 + t), NULL, 0);
  expect_raw_ok(BF_FRAME_HELLO, b, &out, &copy);
  g_free(copy);
  put_tlv(b, 150, NULL, 0);
  expect_hello_error(b, BF_WIRE_ERROR_TOO_LONG, "TLVs");

  /* A TLV running past the end of the body, in its value or its header. */
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, BF_TLV_LABEL, "abc", 3);
  b->data[HELLO_FIXED + 2] = 10;
  expect_hello_error(b, BF_WIRE_ERROR_TRUNCATED, "TLV");
  b->data[HELLO_FIXED + 1] = 0xff;
  b->data[HELLO_FIXED + 2] = 0xff;
  expect_hello_error(b, BF_WIRE_ERROR_TRUNCATED, "TLV");
  g_byte_array_set_size(b, HELLO_FIXED + 2);
  expect_hello_error(b, BF_WIRE_ERROR_TRUNCATED, "TLV");

  /* Labels: bounded, UTF-8, no '/', NUL or control characters. */
  memset(buf, 'L', sizeof buf);
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, BF_TLV_LABEL, buf, BF_LABEL_MAX);
  expect_raw_ok(BF_FRAME_HELLO, b, &out, &copy);
  g_assert_cmpuint(out.u.hello.label.len, ==, BF_LABEL_MAX);
  g_free(copy);
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, BF_TLV_LABEL, buf, BF_LABEL_MAX + 1);
  expect_hello_error(b, BF_WIRE_ERROR_TOO_LONG, "label is 65 bytes");

  static const struct { const char *s; size_t len; } bad_labels[] = {
    { "a\x01", 2 }, { "tab\there", 8 },
    { "nl\n", 3 }, { "del\x7f", 4 }, { "nul\0x", 5 }, { "\xc3\x28", 2 },
    { "\xff", 1 }, { "\xed\xa0\x80", 3 } /* UTF-16 surrogate */,
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad_labels); i++) {
    g_byte_array_set_size(b, 0);
    put_hello_fixed(b, BF_HELLO_NEW);
    put_tlv(b, BF_TLV_LABEL, bad_labels[i].s, bad_labels[i].len);
    expect_hello_error(b, BF_WIRE_ERROR_RANGE, "HELLO: label");
  }
  g_byte_array_set_size(b, 0);
  put_hello_fixed(b, BF_HELLO_NEW);
  put_tlv(b, BF_TLV_LABEL, label, strlen(label));
  expect_raw_ok(BF_FRAME_HELLO, b, &out, &copy);
  g_free(copy);

  /* NEW carries no id or token; kind is NEW or ATTACH. */
  BfMsg m;
  memset(&m, 0, sizeof m);
  fill_hello_new(&m);
  m.u.hello.session_id[15] = 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "NEW");
  fill_hello_new(&m);
  memset(m.u.hello.session_id, 0, BF_ID_LEN);
  m.u.hello.token[0] = 0x80;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "NEW");
  fill_hello(&m);
  m.u.hello.kind = 2;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "kind 2");
  m.u.hello.kind = 255;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "kind 255");

  /* ATTACH may carry any id; the server looks it up. */
  fill_hello(&m);
  memset(m.u.hello.session_id, 0, BF_ID_LEN);
  m.u.hello.label.len = 0;
  m.u.hello.path_index = UINT16_MAX;
  expect_ok(&m);

  g_byte_array_unref(b);
}

static void
test_welcome(void)
{
  BfMsg m;
  GByteArray *b = g_byte_array_new();
  uint8_t *copy;
  BfMsg out;

  memset(&m, 0, sizeof m);
  fill_welcome(&m);
  for (unsigned st = 0; st <= BF_ST_MAX_; st++) {
    m.u.welcome.status = (uint8_t)st;
    expect_ok(&m);
  }
  m.u.welcome.status = BF_ST_MAX_ + 1;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "WELCOME: unknown status 14");
  m.u.welcome.status = BF_ST_AUTH;
  m.u.welcome.message = bytes("bad \xc3");
  expect_error(&m, BF_WIRE_ERROR_RANGE, "UTF-8");
  m.u.welcome.message = (BfBytes){ (const uint8_t *)"a\0b", 3 };
  expect_error(&m, BF_WIRE_ERROR_RANGE, "UTF-8");
  m.u.welcome.message.len = 0;
  expect_ok(&m);

  /* Built by hand: over the message limit. */
  fill_welcome(&m);
  size_t len;
  uint8_t *body = encode_body(&m, &len);
  g_byte_array_append(b, body, 34);
  uint8_t lv[2] = { (BF_MSG_MAX + 1) >> 8, (BF_MSG_MAX + 1) & 0xff };
  g_byte_array_append(b, lv, 2);
  for (unsigned i = 0; i < BF_MSG_MAX + 1; i++)
    g_byte_array_append(b, (const uint8_t *)"m", 1);
  expect_raw_error(BF_FRAME_WELCOME, b->data, b->len, BF_WIRE_ERROR_TOO_LONG,
                   "message is 1025 bytes");

  /* WELCOME skips HELLO's tags (even with odd lengths) and unknown ones;
   * the count and duplicate rules still apply. */
  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, body, len);
  put_tlv(b, BF_TLV_NONCE, "short", 5);
  put_tlv(b, BF_TLV_PATH_INDEX, NULL, 0);
  put_tlv(b, 77, "x", 1);
  expect_raw_ok(BF_FRAME_WELCOME, b, &out, &copy);
  assert_bytes_eq(out.u.welcome.message, m.u.welcome.message);
  g_free(copy);
  put_tlv(b, 77, "y", 1);
  expect_raw_error(BF_FRAME_WELCOME, b->data, b->len, BF_WIRE_ERROR_RANGE,
                   "twice");

  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, body, len);
  put_tlv(b, 9, "abcdef", 6);
  g_byte_array_set_size(b, b->len - 1);
  expect_raw_error(BF_FRAME_WELCOME, b->data, b->len,
                   BF_WIRE_ERROR_TRUNCATED, "TLV");

  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, body, len);
  for (unsigned t = 0; t <= BF_TLV_MAX; t++)
    put_tlv(b, (uint8_t)(t + 20), NULL, 0);
  expect_raw_error(BF_FRAME_WELCOME, b->data, b->len, BF_WIRE_ERROR_TOO_LONG,
                   "TLVs");

  /* INSTANCE: a u64 (8 bytes exactly), absent = 0, round-trips. */
  fill_welcome(&m);
  m.u.welcome.instance = UINT64_C(0x0102030405060708);
  expect_ok(&m);
  static const uint8_t be[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, body, len);
  put_tlv(b, BF_TLV_INSTANCE, be, 8);
  expect_raw_ok(BF_FRAME_WELCOME, b, &out, &copy);
  g_assert_cmpuint(out.u.welcome.instance, ==, UINT64_C(0x0102030405060708));
  g_free(copy);
  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, body, len);
  put_tlv(b, BF_TLV_INSTANCE, be, 7);
  expect_raw_error(BF_FRAME_WELCOME, b->data, b->len,
                   BF_WIRE_ERROR_TRUNCATED, "INSTANCE TLV is 7 bytes");
  g_byte_array_set_size(b, 0);
  g_byte_array_append(b, body, len);
  put_tlv(b, BF_TLV_INSTANCE, "123456789", 9);
  expect_raw_error(BF_FRAME_WELCOME, b->data, b->len,
                   BF_WIRE_ERROR_TOO_LONG, "INSTANCE TLV is 9 bytes");

  g_free(body);
  g_byte_array_unref(b);
}

/* ---- data plane -------------------------------------------------------- */

/* ITEM_OPEN's base_size and base_keep against their ranges: a base needs
 * bytes; a cut (has_keep) keeps fewer bytes than the base has, 0
 * included: keeping them all is said by no base_keep. want: the
 * BF_WIRE_ERROR_RANGE message, NULL where the frame is accepted. */
static const struct {
  gboolean has_keep;
  uint64_t base_size, base_keep;
  const char *want;
} base_ranges[] = {
  { FALSE, 1, 0, NULL },
  { FALSE, UINT64_MAX, 0, NULL },
  { FALSE, 0, 0, "ITEM_OPEN: a base (base_size 0)" },
  { TRUE, SAMPLE_BASE_SIZE, 0, NULL },
  { TRUE, SAMPLE_BASE_SIZE, SAMPLE_BASE_SIZE - 1, NULL },
  { TRUE, SAMPLE_BASE_SIZE, SAMPLE_BASE_SIZE,
    "ITEM_OPEN: base_keep 4362076161 is not below base_size 4362076161" },
  { TRUE, SAMPLE_BASE_SIZE, UINT64_MAX, "is not below base_size" },
};

static void
test_item_open(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);

  fill_item_open(&m);
  m.u.item_open.digest_alg = BF_DIGEST_BLAKE2B_256;
  expect_ok(&m);

  for (size_t i = 0; i < G_N_ELEMENTS(base_ranges); i++) {
    if (base_ranges[i].has_keep)
      fill_item_open_cut(&m);
    else
      fill_item_open_base(&m);
    m.u.item_open.base_size = base_ranges[i].base_size;
    m.u.item_open.base_keep = base_ranges[i].base_keep;
    if (base_ranges[i].want)
      expect_error(&m, BF_WIRE_ERROR_RANGE, base_ranges[i].want);
    else
      expect_ok(&m);
  }

  /* A base needs stripe coding (so a name). */
  fill_item_open_base(&m);
  m.u.item_open.coding = BF_CODING_RS;
  m.u.item_open.coding_k = 2;
  m.u.item_open.coding_n = 3;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "and stripe coding");
  m.u.item_open.coding = BF_CODING_SHAMIR;
  m.u.item_open.name = bytes("");
  expect_error(&m, BF_WIRE_ERROR_RANGE, "and stripe coding");
  m.u.item_open.digest_alg = 0;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "ITEM_OPEN: unknown digest_alg 0");
  m.u.item_open.digest_alg = 4;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "digest_alg 4");
  m.u.item_open.digest_alg = 255;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "digest_alg 255");
  /* BLAKE3, the client's digest, with and without a base (an append) */
  fill_item_open(&m);
  m.u.item_open.digest_alg = BF_DIGEST_BLAKE3;
  expect_ok(&m);
  fill_item_open_base(&m);
  m.u.item_open.digest_alg = BF_DIGEST_BLAKE3;
  expect_ok(&m);

  static const uint32_t good_sizes[] = { BF_CHUNK_MIN, BF_CHUNK_DEFAULT,
                                         BF_CHUNK_MAX };
  for (size_t i = 0; i < G_N_ELEMENTS(good_sizes); i++) {
    fill_item_open(&m);
    m.u.item_open.chunk_size = good_sizes[i];
    expect_ok(&m);
  }
  static const uint32_t bad_sizes[] = { 0, 1, BF_CHUNK_MIN - 1,
                                        BF_CHUNK_MAX + 1, UINT32_MAX };
  for (size_t i = 0; i < G_N_ELEMENTS(bad_sizes); i++) {
    fill_item_open(&m);
    m.u.item_open.chunk_size = bad_sizes[i];
    expect_error(&m, BF_WIRE_ERROR_RANGE, "ITEM_OPEN: chunk_size");
  }
  fill_item_open(&m);
  m.u.item_open.chunk_size = 4095;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "chunk_size 4095");

  fill_item_open(&m);
  m.u.item_open.mode = 07777;
  expect_ok(&m);
  m.u.item_open.mode = 0;
  expect_ok(&m);
  m.u.item_open.mode = 0100644;  /* S_IFREG: type bits are not sent */
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mode 0100644");
  m.u.item_open.mode = UINT32_MAX;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mode");

  fill_item_open(&m);
  m.u.item_open.mtime_nsec = 1000000000;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mtime_nsec 1000000000");
  m.u.item_open.mtime_nsec = UINT32_MAX;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mtime_nsec");
  m.u.item_open.mtime_nsec = 0;
  m.u.item_open.mtime_sec = INT64_MIN;
  expect_ok(&m);
  m.u.item_open.mtime_sec = INT64_MAX;
  expect_ok(&m);

  static const struct { uint8_t coding, k, n; gboolean ok; } codings[] = {
    { BF_CODING_STRIPE, 1, 1, TRUE },
    { BF_CODING_STRIPE, 0, 0, FALSE },
    { BF_CODING_STRIPE, 1, 2, FALSE },
    { BF_CODING_STRIPE, 2, 2, FALSE },
    { BF_CODING_SHAMIR, 2, 3, TRUE },
    { BF_CODING_SHAMIR, 1, 2, TRUE },
    { BF_CODING_SHAMIR, 16, 16, TRUE },
    { BF_CODING_SHAMIR, 0, 2, FALSE },
    { BF_CODING_SHAMIR, 3, 2, FALSE },
    { BF_CODING_SHAMIR, 1, 1, FALSE },
    { BF_CODING_SHAMIR, 2, 17, FALSE },
    { BF_CODING_RS, 4, 6, TRUE },
    { BF_CODING_RS, 1, 16, TRUE },
    { BF_CODING_RS, 0, 0, FALSE },
    { BF_CODING_RS, 17, 17, FALSE },
    { BF_CODING_RS, 255, 255, FALSE },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(codings); i++) {
    fill_item_open(&m);
    m.u.item_open.coding = codings[i].coding;
    m.u.item_open.coding_k = codings[i].k;
    m.u.item_open.coding_n = codings[i].n;
    if (codings[i].ok)
      expect_ok(&m);
    else
      expect_error(&m, BF_WIRE_ERROR_RANGE, "coding with k");
  }
  fill_item_open(&m);
  m.u.item_open.coding = 3;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "unknown coding 3");
  m.u.item_open.coding = 255;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "unknown coding 255");

  fill_item_open(&m);
  m.u.item_open.name = bytes("../etc/passwd");
  expect_error(&m, BF_WIRE_ERROR_NAME, "ITEM_OPEN: name contains '..'");
  m.u.item_open.name = bytes("/etc/passwd");
  expect_error(&m, BF_WIRE_ERROR_NAME, "absolute");
  m.u.item_open.name = bytes("");
  expect_error(&m, BF_WIRE_ERROR_NAME, "empty");
  /* only a SHAMIR item may leave its name to its secret */
  m.u.item_open.coding = BF_CODING_RS;
  m.u.item_open.coding_k = 2;
  m.u.item_open.coding_n = 3;
  expect_error(&m, BF_WIRE_ERROR_NAME, "empty");
  m.u.item_open.coding = BF_CODING_SHAMIR;
  expect_ok(&m);
}

/* The secret of a SHAMIR item: digest, key, then the name (or none). */
static void
test_secret(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) b = g_byte_array_new();
  BfSecret s = { .name = bytes("photos/a.jpg") }, out;

  for (unsigned i = 0; i < BF_DIGEST_LEN; i++) {
    s.digest[i] = (uint8_t)i;
    s.key[i] = (uint8_t)(0x80 | i);
  }
  g_assert_true(bf_secret_encode(&s, b));
  g_assert_cmpuint(b->len, ==, BF_SECRET_FIXED + 12);
  g_assert_cmpmem(b->data, BF_DIGEST_LEN, s.digest, BF_DIGEST_LEN);
  g_assert_cmpmem(b->data + BF_DIGEST_LEN, BF_ITEM_KEY_LEN, s.key,
                  BF_ITEM_KEY_LEN);
  g_assert_cmpmem(b->data + BF_SECRET_FIXED, 12, "photos/a.jpg", 12);
  g_assert_true(bf_secret_decode(b->data, b->len, &out, &error));
  g_assert_cmpmem(out.digest, BF_DIGEST_LEN, s.digest, BF_DIGEST_LEN);
  g_assert_cmpmem(out.key, BF_ITEM_KEY_LEN, s.key, BF_ITEM_KEY_LEN);
  g_assert_cmpmem(out.name.data, out.name.len, "photos/a.jpg", 12);

  /* without a name: exactly the fixed part */
  g_assert_true(bf_secret_decode(b->data, BF_SECRET_FIXED, &out, &error));
  g_assert_cmpuint(out.name.len, ==, 0);
  g_assert_false(bf_secret_decode(b->data, BF_SECRET_FIXED - 1, &out, &error));
  g_assert_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_TRUNCATED);
  g_clear_error(&error);

  /* a name checked as any name */
  g_byte_array_set_size(b, BF_SECRET_FIXED);
  g_byte_array_append(b, (const guint8 *)"a/../b", 6);
  g_assert_false(bf_secret_decode(b->data, b->len, &out, &error));
  g_assert_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_NAME);
  g_assert_nonnull(strstr(error->message, "secret"));
  g_clear_error(&error);

  /* the longest */
  g_byte_array_set_size(b, BF_SECRET_MAX + 1);
  memset(b->data + BF_SECRET_FIXED, 'x', BF_NAME_MAX + 1);
  for (unsigned i = BF_SECRET_FIXED + 200; i < BF_SECRET_MAX; i += 200)
    b->data[i] = '/';
  g_assert_true(bf_secret_decode(b->data, BF_SECRET_MAX, &out, &error));
  g_assert_cmpuint(out.name.len, ==, BF_NAME_MAX);
  g_assert_false(bf_secret_decode(b->data, BF_SECRET_MAX + 1, &out, &error));
  g_assert_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_TOO_LONG);
}

static void
test_chunk(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);

  fill_chunk(&m);
  m.u.chunk.chunk_id = 7;
  m.u.chunk.total_chunks = 7;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "CHUNK: chunk_id 7 >= total_chunks 7");
  m.u.chunk.chunk_id = UINT32_MAX;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "chunk_id");
  m.u.chunk.total_chunks = 0;  /* total not known yet: any id */
  expect_ok(&m);
  m.u.chunk.chunk_id = 0;
  m.u.chunk.total_chunks = 1;
  expect_ok(&m);

  fill_chunk(&m);
  m.u.chunk.share_index = 15;
  expect_ok(&m);
  m.u.chunk.share_index = 16;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "share_index 16");
  m.u.chunk.share_index = 255;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "share_index 255");

  fill_chunk(&m);
  m.u.chunk.pad = 15;
  expect_ok(&m);
  m.u.chunk.pad = 16;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "pad 16");

  /* The CRC is the caller's to check: it answers CORRUPT, not PROTOCOL. */
  fill_chunk(&m);
  m.u.chunk.crc32c ^= 1;
  expect_ok(&m);

  fill_chunk(&m);
  m.u.chunk.payload_len = 0;
  expect_error(&m, BF_WIRE_ERROR_TRUNCATED, "CHUNK: empty payload");

  /* A payload of exactly BF_CHUNK_MAX, then one byte more. */
  fill_chunk(&m);
  m.u.chunk.payload_len = 1;
  size_t len;
  uint8_t *fixed = encode_body(&m, &len);
  g_assert_cmpuint(len, ==, CHUNK_FIXED + 1);
  uint8_t *big = g_malloc0(CHUNK_FIXED + BF_CHUNK_MAX + 1);
  memcpy(big, fixed, CHUNK_FIXED);
  GError *err = NULL;
  BfMsg out;
  g_assert_true(bf_msg_decode(BF_FRAME_CHUNK, 0, big,
                              CHUNK_FIXED + BF_CHUNK_MAX, &out, &err));
  g_assert_no_error(err);
  g_assert_true(out.u.chunk.payload == big + CHUNK_FIXED);
  g_assert_cmpuint(out.u.chunk.payload_len, ==, BF_CHUNK_MAX);
  expect_raw_error(BF_FRAME_CHUNK, big, CHUNK_FIXED + BF_CHUNK_MAX + 1,
                   BF_WIRE_ERROR_TOO_LONG, "payload of 16777217 bytes");
  g_free(big);
  g_free(fixed);
}

static void
test_chunk_ack(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);
  fill_chunk_ack(&m);
  m.u.chunk_ack.share_index = 16;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "CHUNK_ACK: share_index 16");
  m.u.chunk_ack.share_index = 0;
  m.u.chunk_ack.item_id = 0;
  m.u.chunk_ack.chunk_id = 0;
  expect_ok(&m);
}

static void
test_item_close(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);

  fill_item_close(&m);
  m.u.item_close.total_chunks = 0;
  m.u.item_close.size = 0;
  expect_ok(&m);  /* the empty item */
  m.u.item_close.size = 5;
  expect_ok(&m);  /* an append of nothing to a 5-byte base */
  m.u.item_close.total_chunks = 3;
  m.u.item_close.size = 0;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "total_chunks 3");
  m.u.item_close.total_chunks = UINT32_MAX;
  m.u.item_close.size = UINT64_MAX;
  expect_ok(&m);

  fill_item_close(&m);
  m.u.item_close.digest_alg = 0;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "digest_alg 0");
  m.u.item_close.digest_alg = BF_DIGEST_SHA256;
  expect_ok(&m);
  m.u.item_close.digest_alg = BF_DIGEST_BLAKE3;
  expect_ok(&m);
  m.u.item_close.digest_alg = 4;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "digest_alg 4");

  fill_item_close(&m);
  m.u.item_close.mode = 010644;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mode");
  fill_item_close(&m);
  m.u.item_close.mtime_nsec = 1000000000;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mtime_nsec 1000000000");
}

static void
test_item_ack(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);

  fill_item_ack(&m);
  m.u.item_ack.stage = BF_ACK_OPENED;
  m.u.item_ack.status = BF_ST_OK;
  m.u.item_ack.message.len = 0;
  expect_ok(&m);
  m.u.item_ack.stage = 0;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "ITEM_ACK: unknown stage 0");
  m.u.item_ack.stage = 3;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "stage 3");

  /* the proof is not optional: a body of the older layout is short */
  {
    static const uint8_t old[12] = { 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0 };
    g_autoptr(GError) error = NULL;
    BfMsg out;

    g_assert_false(bf_msg_decode(BF_FRAME_ITEM_ACK, 0, old, sizeof old, &out,
                                 &error));
    g_assert_error(error, BF_WIRE_ERROR, BF_WIRE_ERROR_TRUNCATED);
    g_assert_nonnull(strstr(error->message, "proof"));
  }

  fill_item_ack(&m);
  m.u.item_ack.status = BF_ST_MAX_ + 1;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "status 14");
  m.u.item_ack.status = 255;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "status 255");

  fill_item_ack(&m);
  m.u.item_ack.message = bytes("\xe2\x82");
  expect_error(&m, BF_WIRE_ERROR_RANGE, "ITEM_ACK: message is not valid UTF-8");
  m.u.item_ack.message = (BfBytes){ (const uint8_t *)"\0", 1 };
  expect_error(&m, BF_WIRE_ERROR_RANGE, "UTF-8");
}

static void
test_op(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);

  static const struct {
    uint8_t op;
    const char *name, *name2;
    gboolean ok;
    BfWireError code;
    const char *want;
  } cases[] = {
    { BF_OP_MKDIR, "a/b", "", TRUE, 0, NULL },
    { BF_OP_RMDIR, "a/b", "", TRUE, 0, NULL },
    { BF_OP_UNLINK, "a/b c", "", TRUE, 0, NULL },
    { BF_OP_RENAME, "a", "b/c", TRUE, 0, NULL },
    { BF_OP_CANCEL, "", "", TRUE, 0, NULL },
    { BF_OP_MKDIR, "", "", FALSE, BF_WIRE_ERROR_NAME, "OP MKDIR: name is empty" },
    { BF_OP_MKDIR, "d", "e", FALSE, BF_WIRE_ERROR_RANGE, "MKDIR with a name2" },
    { BF_OP_RMDIR, "..", "", FALSE, BF_WIRE_ERROR_NAME, "OP RMDIR: name contains" },
    { BF_OP_UNLINK, "/etc/passwd", "", FALSE, BF_WIRE_ERROR_NAME, "absolute" },
    { BF_OP_UNLINK, "x", "y", FALSE, BF_WIRE_ERROR_RANGE, "name2" },
    { BF_OP_RENAME, "a", "", FALSE, BF_WIRE_ERROR_NAME, "OP RENAME: name2: name is" },
    { BF_OP_RENAME, "", "b", FALSE, BF_WIRE_ERROR_NAME, "OP RENAME: name is empty" },
    { BF_OP_RENAME, "a", "b/../../c", FALSE, BF_WIRE_ERROR_NAME, "'..'" },
    { BF_OP_CANCEL, "a", "", FALSE, BF_WIRE_ERROR_RANGE, "CANCEL with a name of 1" },
    { BF_OP_CANCEL, "", "b", FALSE, BF_WIRE_ERROR_RANGE, "CANCEL with a name2" },
    { 0, "a", "", FALSE, BF_WIRE_ERROR_UNKNOWN, "OP: unknown op 0" },
    { BF_OP_SETATTR, "a/b", "", TRUE, 0, NULL },
    { BF_OP_SETATTR, "", "", FALSE, BF_WIRE_ERROR_NAME, "OP SETATTR: name is empty" },
    { BF_OP_SETATTR, "a", "b", FALSE, BF_WIRE_ERROR_RANGE, "SETATTR with a name2" },
    { BF_OP_SYMLINK, "a/l", "../x/y", TRUE, 0, NULL },
    { BF_OP_SYMLINK, "a/l", "/etc/passwd", TRUE, 0, NULL },
    { BF_OP_SYMLINK, "a/l", "", FALSE, BF_WIRE_ERROR_RANGE, "SYMLINK with an empty target" },
    { BF_OP_SYMLINK, "../l", "x", FALSE, BF_WIRE_ERROR_NAME, "OP SYMLINK: name contains" },
    { BF_OP_LINK, "a", "b/c", TRUE, 0, NULL },
    { BF_OP_LINK, "a", "", FALSE, BF_WIRE_ERROR_NAME, "OP LINK: name2: name is empty" },
    { BF_OP_LINK, "a", "/b", FALSE, BF_WIRE_ERROR_NAME, "absolute" },
    { BF_OP_MKNOD, "f", "", FALSE, BF_WIRE_ERROR_RANGE, "MKNOD with flags 0x00" },
    { 10, "a", "", FALSE, BF_WIRE_ERROR_UNKNOWN, "unknown op 10" },
    { 255, "", "", FALSE, BF_WIRE_ERROR_UNKNOWN, "unknown op 255" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    fill_op(&m);
    m.u.op.op = cases[i].op;
    m.u.op.name = bytes(cases[i].name);
    m.u.op.name2 = bytes(cases[i].name2);
    m.u.op.mode = cases[i].op == BF_OP_MKDIR ? 0755 : 0;
    m.u.op.item_id = cases[i].op == BF_OP_CANCEL ? 9 : 0;
    if (cases[i].ok)
      expect_ok(&m);
    else
      expect_error(&m, cases[i].code, cases[i].want);
  }

  fill_op(&m);
  m.u.op.op = BF_OP_MKDIR;
  m.u.op.name2.len = 0;
  m.u.op.mode = 07777;
  expect_ok(&m);
  m.u.op.mode = 040755;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "OP: mode 040755");

  /* Flags exist for SETATTR only; its times are checked like ITEM_OPEN's. */
  fill_op(&m);
  m.u.op.op = BF_OP_SETATTR;
  m.u.op.name2.len = 0;
  m.u.op.flags = BF_SETATTR_MODE | BF_SETATTR_MTIME;
  m.u.op.mode = 0600;
  m.u.op.mtime_sec = -1;
  m.u.op.mtime_nsec = 999999999;
  expect_ok(&m);
  m.u.op.mtime_nsec = 1000000000;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mtime_nsec 1000000000");
  m.u.op.mtime_nsec = 0;
  m.u.op.flags = 0x04;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "SETATTR with unknown flags 0x04");
  fill_op(&m);
  m.u.op.flags = BF_SETATTR_MODE;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "RENAME with unknown flags 0x01");

  /* MKNOD names exactly one kind, never a device. */
  fill_op(&m);
  m.u.op.op = BF_OP_MKNOD;
  m.u.op.name2.len = 0;
  m.u.op.mode = 0640;
  m.u.op.flags = BF_MKNOD_FIFO;
  expect_ok(&m);
  m.u.op.flags = BF_MKNOD_SOCK;
  expect_ok(&m);
  m.u.op.flags = BF_MKNOD_FIFO | BF_MKNOD_SOCK;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "MKNOD with flags 0x03");
  m.u.op.flags = 0x04;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "MKNOD with unknown flags 0x04");
  m.u.op.flags = BF_MKNOD_FIFO;
  m.u.op.mode = 020640;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "mode 020640");
  m.u.op.mode = 0640;
  m.u.op.name2 = bytes("x");
  expect_error(&m, BF_WIRE_ERROR_RANGE, "MKNOD with a name2");

  /* A symlink's target is text up to BF_SYMLINK_MAX bytes without NUL:
   * "..", "//" and absolute targets are the user's to keep. */
  g_autofree char *target = g_strnfill(BF_SYMLINK_MAX + 1, '/');
  fill_op(&m);
  m.u.op.op = BF_OP_SYMLINK;
  m.u.op.name2 = (BfBytes){ (const uint8_t *)target, BF_SYMLINK_MAX };
  expect_ok(&m);
  m.u.op.name2.len = BF_SYMLINK_MAX + 1;
  expect_error(&m, BF_WIRE_ERROR_TOO_LONG, "SYMLINK target of 4096 bytes");
  m.u.op.name2 = (BfBytes){ (const uint8_t *)"a\0b", 3 };
  expect_error(&m, BF_WIRE_ERROR_RANGE, "SYMLINK target contains a NUL");
}

static void
test_acks_and_error(void)
{
  BfMsg m;
  memset(&m, 0, sizeof m);

  fill_op_ack(&m);
  m.u.op_ack.status = BF_ST_OK;
  m.u.op_ack.message.len = 0;
  expect_ok(&m);
  m.u.op_ack.status = BF_ST_MAX_ + 1;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "OP_ACK: unknown status 14");
  m.u.op_ack.status = BF_ST_IO;
  m.u.op_ack.message = bytes("\x80");
  expect_error(&m, BF_WIRE_ERROR_RANGE, "UTF-8");

  memset(&m, 0, sizeof m);
  fill_error(&m);
  m.u.error.status = 200;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "ERROR: unknown status 200");
  m.u.error.status = BF_ST_CORRUPT;
  m.u.error.message = bytes("crc \xf0\x9f\x92\xa5 mismatch");
  expect_ok(&m);
  m.u.error.message = bytes("\xf0\x9f\x92");
  expect_error(&m, BF_WIRE_ERROR_RANGE, "UTF-8");

  memset(&m, 0, sizeof m);
  fill_ping(&m);
  m.u.ping.opaque = 0;
  expect_ok(&m);
  m.type = BF_FRAME_PONG;
  m.u.ping.opaque = UINT64_MAX;
  expect_ok(&m);
}

static void
test_statfs(void)
{
  BfMsg m;
  uint8_t body[57] = { 0 };

  memset(&m, 0, sizeof m);
  fill_statfs(&m);
  expect_ok(&m);
  expect_raw_error(BF_FRAME_STATFS, body, 7, BF_WIRE_ERROR_TRUNCATED, "STATFS");
  expect_raw_error(BF_FRAME_STATFS, body, 9, BF_WIRE_ERROR_TOO_LONG, "STATFS");

  memset(&m, 0, sizeof m);
  fill_statfs_ack(&m);
  expect_ok(&m);
  m.u.statfs_ack.bavail = m.u.statfs_ack.bfree = m.u.statfs_ack.blocks;
  expect_ok(&m);
  m.u.statfs_ack.bavail = m.u.statfs_ack.bfree + 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "STATFS_ACK: bavail");
  fill_statfs_ack(&m);
  m.u.statfs_ack.bfree = m.u.statfs_ack.blocks + 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "<= blocks");
  fill_statfs_ack(&m);
  m.u.statfs_ack.ffree = m.u.statfs_ack.files + 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "ffree 5001 > files 5000");
  fill_statfs_ack(&m);
  m.u.statfs_ack.bsize = 0;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "bsize 0 not in");
  m.u.statfs_ack.bsize = BF_STATFS_BSIZE_MAX + 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "bsize 1073741825");
  m.u.statfs_ack.bsize = BF_STATFS_BSIZE_MAX;
  expect_ok(&m);
  m.u.statfs_ack.status = BF_ST_MAX_ + 1;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "STATFS_ACK: unknown status 14");
  /* A failure carries no figures. */
  memset(&m.u.statfs_ack, 0, sizeof m.u.statfs_ack);
  m.u.statfs_ack.status = BF_ST_IO;
  expect_ok(&m);
  m.u.statfs_ack.files = 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "figures with status 6");
  expect_raw_error(BF_FRAME_STATFS_ACK, body, 55, BF_WIRE_ERROR_TRUNCATED,
                   "STATFS_ACK");
  expect_raw_error(BF_FRAME_STATFS_ACK, body, 57, BF_WIRE_ERROR_TOO_LONG,
                   "STATFS_ACK");
}

static void
test_read(void)
{
  BfMsg m;

  memset(&m, 0, sizeof m);
  fill_read(&m);
  expect_ok(&m);
  m.u.read.length = BF_CHUNK_MAX;
  expect_ok(&m);
  m.u.read.length = BF_CHUNK_MAX + 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "READ: length 16777217 not in");
  m.u.read.length = 0;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "READ: length 0 not in");
  m.u.read.length = 2;
  m.u.read.offset = INT64_MAX - 1;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "past the largest file");
  m.u.read.offset = INT64_MAX - 2;
  expect_ok(&m);
  m.u.read.name = bytes("../etc/passwd");
  expect_error(&m, BF_WIRE_ERROR_NAME, "READ: name contains");
  m.u.read.name = bytes("");
  expect_error(&m, BF_WIRE_ERROR_NAME, "READ: name is empty");

  memset(&m, 0, sizeof m);
  fill_read_data(&m);
  expect_ok(&m);
  m.u.read_data.payload_len = 0;   /* at the end of the file */
  expect_ok(&m);
  m.u.read_data.status = BF_ST_NOT_FOUND;
  expect_error(&m, BF_WIRE_ERROR_RANGE, "READ_DATA: data with status 7");
  m.u.read_data.size = 0;
  m.u.read_data.crc32c = 0;
  expect_ok(&m);
  m.u.read_data.status = BF_ST_MAX_ + 1;
  expect_error(&m, BF_WIRE_ERROR_UNKNOWN, "READ_DATA: unknown status 14");
}

/* ---- names ------------------------------------------------------------- */

static void
expect_name(const void *name, size_t len, gboolean ok, const char *want)
{
  GError *err = NULL;
  uint8_t *copy = g_memdup2(name, len);
  gboolean got = bf_name_check(copy, len, &err);

  if (ok) {
    if (!got)
      g_error("name of %zu bytes rejected: %s", len, err->message);
  } else {
    if (got)
      g_error("name of %zu bytes accepted", len);
    g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_NAME);
    assert_msg_contains(err, want);
    g_assert_true(g_utf8_validate(err->message, -1, NULL));
    g_clear_error(&err);
  }
  g_assert_false(bf_name_check(copy, len, NULL) != ok);
  g_free(copy);
}

static void
expect_name_str(const char *name, gboolean ok, const char *want)
{
  expect_name(name, strlen(name), ok, want);
}

/* n components of width bytes each ('a'), joined by '/'. */
static char *
make_path(unsigned n, size_t width)
{
  GString *s = g_string_new(NULL);
  for (unsigned i = 0; i < n; i++) {
    if (i > 0)
      g_string_append_c(s, '/');
    for (size_t j = 0; j < width; j++)
      g_string_append_c(s, (char)('a' + i % 26));
  }
  return g_string_free(s, FALSE);
}

static void
test_names(void)
{
  expect_name_str("a", TRUE, NULL);
  expect_name_str("dir/file.txt", TRUE, NULL);
  expect_name_str("my photos/summer 2024/IMG 0001.JPG", TRUE, NULL);
  expect_name_str("\xc3\xa9t\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", TRUE,
                  NULL);
  expect_name_str("\xff\xfe latin-1 \xe9", TRUE, NULL);  /* bytes, not UTF-8 */
  expect_name_str("...", TRUE, NULL);
  expect_name_str(".hidden/..x/x../a.", TRUE, NULL);
  expect_name_str("back\\slash", TRUE, NULL);
  expect_name_str("new\nline", TRUE, NULL);

  expect_name_str("", FALSE, "name is empty");
  expect_name_str("/", FALSE, "absolute");
  expect_name_str("/etc/passwd", FALSE, "name is absolute");
  expect_name_str("..", FALSE, "name contains '..'");
  expect_name_str("../a", FALSE, "'..'");
  expect_name_str("a/..", FALSE, "'..'");
  expect_name_str("a/../b", FALSE, "'..'");
  expect_name_str(".", FALSE, "name contains '.'");
  expect_name_str("./a", FALSE, "'.'");
  expect_name_str("a/./b", FALSE, "'.'");
  expect_name_str("a/.", FALSE, "'.'");
  expect_name_str("a//b", FALSE, "empty component");
  expect_name_str("a/", FALSE, "empty component");
  expect_name_str("a/b/", FALSE, "empty component");
  expect_name("a\0b", 3, FALSE, "NUL");
  expect_name("\0", 1, FALSE, "NUL");
  expect_name("ab\0", 3, FALSE, "NUL");

  /* Component length: 255 bytes is the most. */
  char *c255 = make_path(1, BF_COMPONENT_MAX);
  char *c256 = make_path(1, BF_COMPONENT_MAX + 1);
  expect_name_str(c255, TRUE, NULL);
  expect_name_str(c256, FALSE, "component of 256 bytes");
  char *deep256 = g_strconcat("x/", c256, "/y", NULL);
  expect_name_str(deep256, FALSE, "component of 256 bytes");

  /* Total length: 17 components of 240 bytes are exactly 4096 bytes. */
  char *full = make_path(17, 240);
  g_assert_cmpuint(strlen(full), ==, BF_NAME_MAX);
  expect_name_str(full, TRUE, NULL);
  char *over = g_strconcat("z", full, NULL);
  expect_name_str(over, FALSE, "4097 bytes");

  /* Depth: 64 components at most. */
  char *d64 = make_path(BF_DEPTH_MAX, 1);
  char *d65 = make_path(BF_DEPTH_MAX + 1, 1);
  expect_name_str(d64, TRUE, NULL);
  expect_name_str(d65, FALSE, "more than 64 components");

  /* The rejected name is shown escaped, never raw. */
  GError *err = NULL;
  g_assert_false(bf_name_check((const uint8_t *)"\x1b[2J/../\xff", 9, &err));
  g_assert_error(err, BF_WIRE_ERROR, BF_WIRE_ERROR_NAME);
  g_assert_null(strchr(err->message, '\x1b'));
  assert_msg_contains(err, "\\x1b[2J/../\\xff");
  g_clear_error(&err);

  g_free(d65);
  g_free(d64);
  g_free(over);
  g_free(full);
  g_free(deep256);
  g_free(c256);
  g_free(c255);
}

/* ---- CRC32C ------------------------------------------------------------ */

/* Bitwise reference (reflected polynomial 0x82F63B78). */
static uint32_t
crc32c_ref(const uint8_t *p, size_t len)
{
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = crc & 1 ? crc >> 1 ^ 0x82F63B78u : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFu;
}

static void
test_crc32c(void)
{
  uint8_t buf[32];

  g_assert_cmphex(bf_crc32c("123456789", 9), ==, 0xE3069283);
  g_assert_cmphex(bf_crc32c(NULL, 0), ==, 0);

  /* RFC 3720 appendix B.4. */
  memset(buf, 0, sizeof buf);
  g_assert_cmphex(bf_crc32c(buf, sizeof buf), ==, 0x8A9136AA);
  memset(buf, 0xff, sizeof buf);
  g_assert_cmphex(bf_crc32c(buf, sizeof buf), ==, 0x62A8AB43);
  for (int i = 0; i < 32; i++)
    buf[i] = (uint8_t)i;
  g_assert_cmphex(bf_crc32c(buf, sizeof buf), ==, 0x46DD794E);
  for (int i = 0; i < 32; i++)
    buf[i] = (uint8_t)(31 - i);
  g_assert_cmphex(bf_crc32c(buf, sizeof buf), ==, 0x113FDB5C);

  /* ISA-L's vector code against the bitwise definition, odd lengths and
   * alignments included. */
  GRand *rand = g_rand_new_with_seed(3720);
  uint8_t *data = g_malloc(70000);
  for (size_t i = 0; i < 70000; i++)
    data[i] = (uint8_t)g_rand_int(rand);
  for (int round = 0; round < 200; round++) {
    size_t off = (size_t)g_rand_int_range(rand, 0, 64);
    size_t len = (size_t)g_rand_int_range(rand, 0, 69000);
    g_assert_cmphex(bf_crc32c(data + off, len), ==,
                    crc32c_ref(data + off, len));
  }
  g_free(data);
  g_rand_free(rand);
}

/* ---- main -------------------------------------------------------------- */

static void
add_per_type(const char *what, GTestDataFunc fn)
{
  for (size_t i = 0; i < G_N_ELEMENTS(samples); i++) {
    char *path = g_strdup_printf("/wire/%s/%s", what, samples[i].name);
    g_test_add_data_func(path, GUINT_TO_POINTER(i), fn);
    g_free(path);
  }
}

/* An answer that does not decode still names what it answers. */
static void
test_answer_id(void)
{
  /* OP_ACK: op_id 7, status IO, reserved, a message that is not UTF-8 */
  static const uint8_t op_ack[] = { 0, 0, 0, 0, 0, 0, 0, 7, 6, 0, 0, 2,
                                    0xff, 0xfe };
  static const uint8_t item_ack[] = { 0, 0, 0, 0, 0, 0, 1, 2, 9 };
  g_autoptr(GError) error = NULL;
  uint64_t id = 0;
  BfMsg m;

  g_assert_false(bf_msg_decode(BF_FRAME_OP_ACK, 0, op_ack, sizeof op_ack, &m,
                               &error));
  g_assert_true(bf_msg_answer_id(BF_FRAME_OP_ACK, op_ack, sizeof op_ack, &id));
  g_assert_cmpuint(id, ==, 7);
  g_assert_true(bf_msg_answer_id(BF_FRAME_ITEM_ACK, item_ack,
                                 sizeof item_ack, &id));
  g_assert_cmpuint(id, ==, 0x102);
  g_assert_false(bf_msg_answer_id(BF_FRAME_OP_ACK, op_ack, 7, &id));
  g_assert_false(bf_msg_answer_id(BF_FRAME_ERROR, op_ack, sizeof op_ack, &id));
  g_assert_false(bf_msg_answer_id(BF_FRAME_OP_ACK, NULL, 0, &id));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  add_per_type("roundtrip", test_roundtrip);
  add_per_type("truncated", test_truncated);
  add_per_type("trailing", test_trailing);
  add_per_type("header-cap", test_header_cap);
  add_per_type("unknown-flags", test_flags);
  add_per_type("sealed", test_sealed);
  add_per_type("mutations", test_mutations);

  g_test_add_func("/wire/preface", test_preface);
  g_test_add_func("/wire/header", test_header);
  g_test_add_func("/wire/unknown-type", test_unknown_type);
  g_test_add_func("/wire/strings", test_strings);
  g_test_add_func("/wire/encode/limits", test_encode_limits);
  g_test_add_func("/wire/encode/layout", test_encode_layout);
  g_test_add_func("/wire/encode/golden", test_golden);
  g_test_add_func("/wire/hello", test_hello);
  g_test_add_func("/wire/welcome", test_welcome);
  g_test_add_func("/wire/item-open", test_item_open);
  g_test_add_func("/wire/secret", test_secret);
  g_test_add_func("/wire/chunk", test_chunk);
  g_test_add_func("/wire/chunk-ack", test_chunk_ack);
  g_test_add_func("/wire/item-close", test_item_close);
  g_test_add_func("/wire/item-ack", test_item_ack);
  g_test_add_func("/wire/op", test_op);
  g_test_add_func("/wire/acks-and-error", test_acks_and_error);
  g_test_add_func("/wire/statfs", test_statfs);
  g_test_add_func("/wire/read", test_read);
  g_test_add_func("/wire/names", test_names);
  g_test_add_func("/wire/crc32c", test_crc32c);
  g_test_add_func("/wire/answer-id", test_answer_id);

  return g_test_run();
}
