/* fuzz-frame: the wire codec (include/braidfs/wire.h) on arbitrary bytes.
 *
 * The input is read as a stream of frames, as a receiver reads a
 * connection: bf_header_parse() on the next 6 bytes, then bf_msg_decode()
 * on the body, until a header or body does not parse or the input ends.
 * Every body is copied into a heap block of exactly its length, so that a
 * read past it is an AddressSanitizer report, not a look at the next frame.
 *
 * Checked for every frame:
 *   - decoding with and without a GError gives the same answer and fields;
 *     a failure sets a BF_WIRE_ERROR and leaves the outputs cleared;
 *   - bf_msg_answer_id() finds the id of every ITEM_ACK and OP_ACK body of
 *     8 bytes or more, decodable or not, and the decoder's when it decodes;
 *   - a decoded message re-encodes (bf_msg_encode() cannot refuse what
 *     bf_msg_decode() accepted), and the encoding decodes again to a
 *     message equal field by field (for CHUNK the encoder leaves out the
 *     payload: it is appended here, as the sender writev()s it);
 *   - encoding is canonical: encode(decode(encode(m))) == encode(m).
 * Also on the whole input: bf_name_check(), bf_preface_check(),
 * bf_secret_decode() (a rebuilt secret of a SHAMIR item: it must
 * re-encode to the same bytes, and its name pass bf_name_check()),
 * bf_crc32c() against a plain table-driven CRC-32C, and bf_msg_decode() of
 * input[2..] as a body of type input[0] with flags input[1], past the
 * header checks (so unknown types and flags reach the decoder too). */
#include "fuzz.h"

#include <string.h>

#include "braidfs/wire.h"

static gboolean
bytes_eq(BfBytes a, BfBytes b)
{
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* Field by field, only the member of the union that type selects. */
static gboolean
msg_eq(const BfMsg *a, const BfMsg *b)
{
  if (a->type != b->type || a->flags != b->flags)
    return FALSE;

  switch (a->type) {
  case BF_FRAME_HELLO: {
    const BfHello *x = &a->u.hello, *y = &b->u.hello;
    return x->kind == y->kind &&
           memcmp(x->session_id, y->session_id, BF_ID_LEN) == 0 &&
           memcmp(x->token, y->token, BF_ID_LEN) == 0 &&
           bytes_eq(x->label, y->label) && x->path_index == y->path_index;
  }
  case BF_FRAME_WELCOME: {
    const BfWelcome *x = &a->u.welcome, *y = &b->u.welcome;
    return x->status == y->status &&
           memcmp(x->session_id, y->session_id, BF_ID_LEN) == 0 &&
           memcmp(x->token, y->token, BF_ID_LEN) == 0 &&
           bytes_eq(x->message, y->message);
  }
  case BF_FRAME_ITEM_OPEN: {
    const BfItemOpen *x = &a->u.item_open, *y = &b->u.item_open;
    return x->item_id == y->item_id && x->chunk_size == y->chunk_size &&
           x->mode == y->mode && x->mtime_sec == y->mtime_sec &&
           x->mtime_nsec == y->mtime_nsec && x->coding == y->coding &&
           x->coding_k == y->coding_k && x->coding_n == y->coding_n &&
           x->digest_alg == y->digest_alg && bytes_eq(x->name, y->name) &&
           x->has_base == y->has_base && x->base_size == y->base_size &&
           memcmp(x->base_digest, y->base_digest, BF_DIGEST_LEN) == 0;
  }
  case BF_FRAME_CHUNK: {
    const BfChunk *x = &a->u.chunk, *y = &b->u.chunk;
    return x->item_id == y->item_id && x->chunk_id == y->chunk_id &&
           x->total_chunks == y->total_chunks &&
           x->share_index == y->share_index && x->crc32c == y->crc32c &&
           x->payload_len == y->payload_len &&
           memcmp(x->payload, y->payload, x->payload_len) == 0;
  }
  case BF_FRAME_CHUNK_ACK: {
    const BfChunkAck *x = &a->u.chunk_ack, *y = &b->u.chunk_ack;
    return x->item_id == y->item_id && x->chunk_id == y->chunk_id &&
           x->share_index == y->share_index;
  }
  case BF_FRAME_ITEM_CLOSE: {
    const BfItemClose *x = &a->u.item_close, *y = &b->u.item_close;
    return x->item_id == y->item_id && x->total_chunks == y->total_chunks &&
           x->size == y->size && x->digest_alg == y->digest_alg &&
           memcmp(x->digest, y->digest, BF_DIGEST_LEN) == 0 &&
           x->mode == y->mode && x->mtime_sec == y->mtime_sec &&
           x->mtime_nsec == y->mtime_nsec;
  }
  case BF_FRAME_ITEM_ACK: {
    const BfItemAck *x = &a->u.item_ack, *y = &b->u.item_ack;
    return x->item_id == y->item_id && x->stage == y->stage &&
           x->status == y->status && bytes_eq(x->message, y->message);
  }
  case BF_FRAME_OP: {
    const BfOp *x = &a->u.op, *y = &b->u.op;
    return x->op_id == y->op_id && x->op == y->op && x->flags == y->flags &&
           x->mode == y->mode && x->mtime_sec == y->mtime_sec &&
           x->mtime_nsec == y->mtime_nsec && x->item_id == y->item_id &&
           bytes_eq(x->name, y->name) && bytes_eq(x->name2, y->name2);
  }
  case BF_FRAME_OP_ACK: {
    const BfOpAck *x = &a->u.op_ack, *y = &b->u.op_ack;
    return x->op_id == y->op_id && x->status == y->status &&
           bytes_eq(x->message, y->message);
  }
  case BF_FRAME_STATFS:
    return a->u.statfs.op_id == b->u.statfs.op_id;
  case BF_FRAME_READ: {
    const BfRead *x = &a->u.read, *y = &b->u.read;
    return x->op_id == y->op_id && x->offset == y->offset &&
           x->length == y->length && bytes_eq(x->name, y->name);
  }
  case BF_FRAME_READ_DATA: {
    const BfReadData *x = &a->u.read_data, *y = &b->u.read_data;
    return x->op_id == y->op_id && x->status == y->status &&
           x->size == y->size && x->crc32c == y->crc32c &&
           x->payload_len == y->payload_len &&
           memcmp(x->payload, y->payload, x->payload_len) == 0;
  }
  case BF_FRAME_STATFS_ACK: {
    const BfStatfsAck *x = &a->u.statfs_ack, *y = &b->u.statfs_ack;
    return x->op_id == y->op_id && x->status == y->status &&
           x->bsize == y->bsize && x->blocks == y->blocks &&
           x->bfree == y->bfree && x->bavail == y->bavail &&
           x->files == y->files && x->ffree == y->ffree;
  }
  case BF_FRAME_PING:
  case BF_FRAME_PONG:
    return a->u.ping.opaque == b->u.ping.opaque;
  case BF_FRAME_ERROR: {
    const BfError *x = &a->u.error, *y = &b->u.error;
    return x->status == y->status && bytes_eq(x->message, y->message);
  }
  case BF_FRAME_AUTH:
    return a->u.auth.step == b->u.auth.step &&
           memcmp(a->u.auth.value, b->u.auth.value, BF_AUTH_VALUE_LEN) == 0;
  default:
    return FALSE;  /* a decoded message always has a known type */
  }
}

static gboolean
all_zero(const void *p, size_t n)
{
  const uint8_t *b = p;

  for (size_t i = 0; i < n; i++)
    if (b[i] != 0)
      return FALSE;
  return TRUE;
}

/* bf_msg_decode() with and without a GError; both must agree. The body is
 * a heap copy of exactly len bytes, owned by the caller and pointed into by
 * *out on success. */
static gboolean
decode(uint8_t type, uint8_t flags, const uint8_t *body, size_t len,
       BfMsg *out)
{
  g_autoptr(GError) error = NULL;
  BfMsg quiet;

  memset(out, 0xa5, sizeof *out);  /* decode must overwrite all of it */
  gboolean ok = bf_msg_decode(type, flags, body, len, out, &error);
  gboolean ok2 = bf_msg_decode(type, flags, body, len, &quiet, NULL);

  FUZZ_CHECK(ok == ok2);
  if (ok) {
    FUZZ_CHECK(error == NULL);
    FUZZ_CHECK(out->type == type && out->flags == flags);
    FUZZ_CHECK(msg_eq(out, &quiet));
  } else {
    FUZZ_CHECK(error != NULL && error->domain == BF_WIRE_ERROR);
    FUZZ_CHECK(error->message != NULL && error->message[0] != '\0');
    FUZZ_CHECK(all_zero(out, sizeof *out));
  }
  /* What a receiver still reads of an answer it cannot decode: the id
   * that every ITEM_ACK and OP_ACK starts with, of any body that holds it. */
  uint64_t id = 0;
  gboolean answer = bf_msg_answer_id(type, body, len, &id);
  FUZZ_CHECK(answer == ((type == BF_FRAME_ITEM_ACK ||
                         type == BF_FRAME_OP_ACK) && len >= 8));
  if (ok && type == BF_FRAME_ITEM_ACK)
    FUZZ_CHECK(answer && id == out->u.item_ack.item_id);
  if (ok && type == BF_FRAME_OP_ACK)
    FUZZ_CHECK(answer && id == out->u.op_ack.op_id);
  return ok;
}

/* A heap block of exactly len bytes (NULL for 0, as a reader may pass). */
static uint8_t *
exact_copy(const uint8_t *p, size_t len)
{
  return len == 0 ? NULL : g_memdup2(p, len);
}

static void
check_round_trip(const BfMsg *m)
{
  g_autoptr(GByteArray) enc = g_byte_array_new();
  g_autoptr(GByteArray) enc2 = g_byte_array_new();
  uint8_t type, flags;
  uint32_t n;
  BfMsg m2;

  /* The encoder refuses only fields over their limits, which the decoder
   * has already refused. */
  FUZZ_CHECK(bf_msg_encode(m, enc));
  if (m->type == BF_FRAME_CHUNK)
    g_byte_array_append(enc, m->u.chunk.payload, m->u.chunk.payload_len);

  FUZZ_CHECK(bf_header_parse(enc->data, enc->len, BF_BODY_MAX, &type, &flags,
                             &n, NULL));
  FUZZ_CHECK(type == m->type && flags == m->flags);
  FUZZ_CHECK(n == enc->len - BF_HEADER_LEN);

  g_autofree uint8_t *body = exact_copy(enc->data + BF_HEADER_LEN, n);
  FUZZ_CHECK(decode(type, flags, body, n, &m2));
  FUZZ_CHECK(msg_eq(m, &m2));

  /* Canonical: what was re-decoded encodes to the same bytes. */
  FUZZ_CHECK(bf_msg_encode(&m2, enc2));
  if (m2.type == BF_FRAME_CHUNK)
    g_byte_array_append(enc2, m2.u.chunk.payload, m2.u.chunk.payload_len);
  FUZZ_CHECK(enc2->len == enc->len);
  FUZZ_CHECK(memcmp(enc2->data, enc->data, enc->len) == 0);
}

static void
check_strings(const BfMsg *m)
{
  FUZZ_CHECK(strcmp(bf_frame_type_str(m->type), "unknown") != 0);
  switch (m->type) {
  case BF_FRAME_WELCOME:
    FUZZ_CHECK(strcmp(bf_status_str(m->u.welcome.status), "unknown status") != 0);
    break;
  case BF_FRAME_ITEM_ACK:
    FUZZ_CHECK(strcmp(bf_status_str(m->u.item_ack.status), "unknown status") != 0);
    break;
  case BF_FRAME_OP_ACK:
    FUZZ_CHECK(strcmp(bf_status_str(m->u.op_ack.status), "unknown status") != 0);
    break;
  case BF_FRAME_STATFS_ACK:
    FUZZ_CHECK(strcmp(bf_status_str(m->u.statfs_ack.status), "unknown status") != 0);
    break;
  case BF_FRAME_READ_DATA:
    FUZZ_CHECK(strcmp(bf_status_str(m->u.read_data.status), "unknown status") != 0);
    break;
  case BF_FRAME_ERROR:
    FUZZ_CHECK(strcmp(bf_status_str(m->u.error.status), "unknown status") != 0);
    break;
  default:
    break;
  }
}

/* Fields the decoder promises to have validated. */
static void
check_validated(const BfMsg *m)
{
  switch (m->type) {
  case BF_FRAME_ITEM_OPEN:
    /* empty only when the name is in a SHAMIR item's secret */
    FUZZ_CHECK(bf_name_check(m->u.item_open.name.data,
                             m->u.item_open.name.len, NULL) ||
               (m->u.item_open.name.len == 0 &&
                m->u.item_open.coding == BF_CODING_SHAMIR));
    FUZZ_CHECK(m->u.item_open.chunk_size >= BF_CHUNK_MIN &&
               m->u.item_open.chunk_size <= BF_CHUNK_MAX);
    /* an append's base: bytes, under stripe */
    FUZZ_CHECK(!m->u.item_open.has_base ||
               (m->u.item_open.base_size >= 1 &&
                m->u.item_open.coding == BF_CODING_STRIPE));
    /* a cut keeps less than the base */
    FUZZ_CHECK(!m->u.item_open.has_keep ||
               (m->u.item_open.has_base &&
                m->u.item_open.base_keep < m->u.item_open.base_size));
    break;
  case BF_FRAME_CHUNK:
    FUZZ_CHECK(m->u.chunk.payload_len >= 1 &&
               m->u.chunk.payload_len <= BF_CHUNK_MAX);
    FUZZ_CHECK(m->u.chunk.total_chunks == 0 ||
               m->u.chunk.chunk_id < m->u.chunk.total_chunks);
    FUZZ_CHECK(m->u.chunk.share_index < 16 && m->u.chunk.pad < 16);
    break;
  case BF_FRAME_ITEM_CLOSE:
    /* no chunks with a size: an append of nothing to its base */
    FUZZ_CHECK(m->u.item_close.total_chunks == 0 ||
               m->u.item_close.size != 0);
    break;
  case BF_FRAME_STATFS_ACK: {
    const BfStatfsAck *a = &m->u.statfs_ack;
    FUZZ_CHECK(a->bavail <= a->bfree && a->bfree <= a->blocks &&
               a->ffree <= a->files && a->bsize <= BF_STATFS_BSIZE_MAX);
    FUZZ_CHECK(a->status == BF_ST_OK ? a->bsize > 0 : a->blocks == 0);
    break;
  }
  case BF_FRAME_READ:
    FUZZ_CHECK(bf_name_check(m->u.read.name.data, m->u.read.name.len, NULL));
    FUZZ_CHECK(m->u.read.length >= 1 && m->u.read.length <= BF_CHUNK_MAX);
    FUZZ_CHECK(m->u.read.offset <= (uint64_t)INT64_MAX - m->u.read.length);
    break;
  case BF_FRAME_READ_DATA:
    FUZZ_CHECK(m->u.read_data.payload_len <= BF_CHUNK_MAX);
    FUZZ_CHECK(m->u.read_data.status == BF_ST_OK ||
               m->u.read_data.payload_len == 0);
    break;
  case BF_FRAME_OP:
    if (m->u.op.name.len > 0)
      FUZZ_CHECK(bf_name_check(m->u.op.name.data, m->u.op.name.len, NULL));
    /* A symlink's name2 is its target: any bytes but NUL, bounded. */
    if (m->u.op.op == BF_OP_SYMLINK)
      FUZZ_CHECK(m->u.op.name2.len >= 1 &&
                 m->u.op.name2.len <= BF_SYMLINK_MAX &&
                 memchr(m->u.op.name2.data, '\0', m->u.op.name2.len) == NULL);
    else if (m->u.op.name2.len > 0)
      FUZZ_CHECK(bf_name_check(m->u.op.name2.data, m->u.op.name2.len, NULL));
    if (m->u.op.op == BF_OP_MKNOD)
      FUZZ_CHECK(m->u.op.flags == BF_MKNOD_FIFO ||
                 m->u.op.flags == BF_MKNOD_SOCK);
    break;
  default:
    break;
  }
}

static void
check_names_and_preface(const uint8_t *data, size_t size)
{
  g_autoptr(GError) e1 = NULL;
  g_autoptr(GError) e2 = NULL;

  gboolean ok = bf_name_check(data, size, &e1);
  FUZZ_CHECK(ok == bf_name_check(data, size, NULL));
  FUZZ_CHECK(ok == (e1 == NULL));
  if (ok) {
    FUZZ_CHECK(size >= 1 && size <= BF_NAME_MAX);
    FUZZ_CHECK(memchr(data, '\0', size) == NULL && data[0] != '/');
  }

  ok = bf_preface_check(data, size, &e2);
  FUZZ_CHECK(ok == (e2 == NULL));
  /* braidfs's magic and a version this build speaks (2 or 3) */
  FUZZ_CHECK(ok == (size >= BF_PREFACE_LEN &&
                    memcmp(data, bf_preface, BF_PREFACE_LEN - 1) == 0 &&
                    data[BF_PREFACE_LEN - 1] >= BF_PROTOCOL_VERSION_MIN &&
                    data[BF_PREFACE_LEN - 1] <= BF_PROTOCOL_VERSION));
}

static void
check_secret(const uint8_t *data, size_t size)
{
  g_autofree uint8_t *raw = exact_copy(data, size);
  g_autoptr(GError) error = NULL;
  BfSecret s;

  if (!bf_secret_decode(raw, size, &s, &error)) {
    FUZZ_CHECK(error != NULL && error->domain == BF_WIRE_ERROR);
    return;
  }
  FUZZ_CHECK(size >= BF_SECRET_FIXED && size <= BF_SECRET_MAX);
  FUZZ_CHECK(s.name.len == size - BF_SECRET_FIXED);
  FUZZ_CHECK(s.name.len == 0 || bf_name_check(s.name.data, s.name.len, NULL));
  g_autoptr(GByteArray) again = g_byte_array_new();
  FUZZ_CHECK(bf_secret_encode(&s, again));
  FUZZ_CHECK(again->len == size && memcmp(again->data, raw, size) == 0);
}

/* CRC-32C, reflected polynomial 0x82F63B78, one table lookup per byte:
 * the textbook version, to compare ISA-L's with. */
static uint32_t
crc32c_ref(const uint8_t *p, size_t len)
{
  static uint32_t table[256];
  uint32_t crc = 0xFFFFFFFFu;

  if (table[1] == 0) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
      table[i] = c;
    }
  }
  for (size_t i = 0; i < len; i++)
    crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

static void
check_msg(const BfMsg *m)
{
  check_validated(m);
  check_strings(m);
  check_round_trip(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t pos = 0;

  fuzz_init();
  check_names_and_preface(data, size);
  check_secret(data, size);
  FUZZ_CHECK(bf_crc32c(data, size) == crc32c_ref(data, size));

  if (size >= 2) {
    g_autofree uint8_t *raw = exact_copy(data + 2, size - 2);
    BfMsg m;
    if (decode(data[0], data[1], raw, size - 2, &m))
      check_msg(&m);
  }

  for (;;) {
    g_autoptr(GError) error = NULL;
    uint8_t type = 0xff, flags = 0xff;
    uint32_t n = 0xffffffff;
    size_t left = size - pos;

    if (!bf_header_parse(data + pos, left, BF_BODY_MAX, &type, &flags, &n,
                         &error)) {
      FUZZ_CHECK(error != NULL && error->domain == BF_WIRE_ERROR);
      FUZZ_CHECK(type == 0 && flags == 0 && n == 0);
      break;
    }
    FUZZ_CHECK(left >= BF_HEADER_LEN && n <= BF_BODY_MAX);
    if (n > 0) {
      /* A receiver's smaller limit must be honoured too. */
      uint8_t t2, f2;
      uint32_t n2;
      FUZZ_CHECK(!bf_header_parse(data + pos, left, n - 1, &t2, &f2, &n2,
                                  NULL));
    }
    pos += BF_HEADER_LEN;
    if (n > size - pos)
      break;  /* the body is not all here: a reader would wait for it */

    g_autofree uint8_t *body = exact_copy(data + pos, n);
    BfMsg m;
    pos += n;
    if (!decode(type, flags, body, n, &m))
      break;  /* a receiver closes the connection at the first bad frame */
    check_msg(&m);
  }
  return 0;
}
