/* braidfs wire protocol v1: pure codec (no I/O, no allocation on decode).
 *
 * Every frame is a 6-byte header followed by a body:
 *
 *   u32 length   body length in bytes (excludes the header), big-endian
 *   u8  type     BfFrameType
 *   u8  flags    BF_FLAG_* ; unknown bits are a protocol error
 *
 * All integers are big-endian. Decoded messages point into the caller's
 * buffer (names, payloads, messages are not copied and not NUL-terminated),
 * so the buffer must outlive the decoded struct.
 *
 * The authoritative description is man/braidfs-protocol.7.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stddef.h>

G_BEGIN_DECLS

#define BF_PREFACE_LEN 8
/* "BRAIDFS" followed by the protocol version byte: this side's. */
extern const uint8_t bf_preface[BF_PREFACE_LEN];

/* 2: ITEM_ACK carries the STORED proof, ITEM_OPEN a base, status STALE
 * (braidfs-protocol(7), "Changes from version 1"). 3: sealed frames are
 * AES-256-OCB (seal.h); nothing else changed, so both ends still speak 2
 * (with AES-256-GCM) to a peer that speaks only that. Any change of a
 * frame's layout or meaning takes a new version. */
#define BF_PROTOCOL_VERSION 3
#define BF_PROTOCOL_VERSION_MIN 2
#define BF_HEADER_LEN 6
#define BF_ID_LEN 16          /* session id and attach token: 128 bits */
#define BF_DIGEST_LEN 32      /* BLAKE3, SHA-256 or BLAKE2b-256 */
#define BF_CHUNK_MIN (4u * 1024)
#define BF_CHUNK_MAX (16u * 1024 * 1024)
#define BF_CHUNK_DEFAULT (256u * 1024)
/* Largest body any v1 frame may have: a CHUNK of BF_CHUNK_MAX plus its fixed
 * fields, with room for the AEAD overhead of sealed frames. */
#define BF_BODY_MAX (BF_CHUNK_MAX + 256)
#define BF_NAME_MAX 4096      /* bytes in a relative path */
#define BF_COMPONENT_MAX 255  /* bytes in one path component */
#define BF_DEPTH_MAX 64       /* components in a relative path */
#define BF_MSG_MAX 1024       /* human-readable text in ACK/ERROR frames */
#define BF_LABEL_MAX 64
#define BF_TLV_MAX 16         /* TLV entries in one HELLO/WELCOME */
#define BF_AUTH_VALUE_LEN 32  /* a handshake nonce or key proof */

/* An item's secret under coding SHAMIR (BfSecret) travels as the shares of
 * this chunk_id, which no data chunk has (chunk_id < total_chunks <=
 * 2^32 - 1). */
#define BF_SECRET_CHUNK 0xffffffffu
#define BF_ITEM_KEY_LEN 32
#define BF_PROOF_LEN 32       /* ITEM_ACK STORED's proof (proof.h) */
#define BF_SECRET_FIXED (BF_DIGEST_LEN + BF_ITEM_KEY_LEN)
#define BF_SECRET_MAX (BF_SECRET_FIXED + BF_NAME_MAX)

typedef enum {
  BF_FRAME_HELLO = 0x01,
  BF_FRAME_WELCOME = 0x02,
  BF_FRAME_AUTH = 0x03,      /* key handshake, before HELLO (key_file) */
  BF_FRAME_ITEM_OPEN = 0x10,
  BF_FRAME_CHUNK = 0x11,
  BF_FRAME_CHUNK_ACK = 0x12,
  BF_FRAME_ITEM_CLOSE = 0x13,
  BF_FRAME_ITEM_ACK = 0x14,
  BF_FRAME_OP = 0x20,
  BF_FRAME_OP_ACK = 0x21,
  BF_FRAME_STATFS = 0x22,      /* the store's size and free space? */
  BF_FRAME_STATFS_ACK = 0x23,
  BF_FRAME_READ = 0x24,        /* bytes of a stored file, please */
  BF_FRAME_READ_DATA = 0x25,
  BF_FRAME_PING = 0x30,
  BF_FRAME_PONG = 0x31,
  BF_FRAME_ERROR = 0x7f,
} BfFrameType;

/* Frame flags. SEALED: with a pre-shared key, the body is the AEAD
 * ciphertext of the plain body followed by the tag (see seal.h); the codec
 * only ever sees plain bodies and refuses the flag. */
#define BF_FLAG_SEALED 0x01u
#define BF_FLAG_KNOWN (BF_FLAG_SEALED)

typedef enum {
  BF_HELLO_NEW = 0,
  BF_HELLO_ATTACH = 1,
} BfHelloKind;

/* The four AUTH steps of the key handshake, in order (handshake.h). */
typedef enum {
  BF_AUTH_CLIENT_NONCE = 1,
  BF_AUTH_SERVER_NONCE = 2,
  BF_AUTH_CLIENT_PROOF = 3,
  BF_AUTH_SERVER_PROOF = 4,
} BfAuthStep;

/* TLV tags carried at the end of HELLO and WELCOME. Unknown tags are
 * skipped, so later versions can add fields without changing the
 * framing. */
typedef enum {
  BF_TLV_LABEL = 1,        /* HELLO(NEW): UTF-8 label, <= BF_LABEL_MAX */
  BF_TLV_NONCE = 2,        /* unused (32 bytes): the key proof is in AUTH */
  BF_TLV_PROOF = 3,        /* unused (32 bytes), likewise */
  BF_TLV_PATH_INDEX = 4,   /* HELLO: u16 client-side path number */
  BF_TLV_INSTANCE = 5,     /* WELCOME: u64 naming the server process */
} BfTlvTag;

typedef enum {
  BF_CODING_STRIPE = 0,
  BF_CODING_SHAMIR = 1,
  BF_CODING_RS = 2,
} BfCoding;

typedef enum {
  BF_DIGEST_BLAKE2B_256 = 1,  /* b2sum -l 256 */
  BF_DIGEST_SHA256 = 2,       /* sha256sum */
  BF_DIGEST_BLAKE3 = 3,       /* b3sum */
} BfDigestAlg;

/* Whether alg is a BfDigestAlg (every one of them is accepted). */
static inline int
bf_digest_alg_known(uint8_t alg)
{
  return alg == BF_DIGEST_BLAKE2B_256 || alg == BF_DIGEST_SHA256 ||
         alg == BF_DIGEST_BLAKE3;
}

typedef enum {
  BF_ACK_OPENED = 1,  /* ITEM_OPEN accepted: chunks may flow */
  BF_ACK_STORED = 2,  /* item verified, fsynced and renamed into place */
} BfAckStage;

typedef enum {
  BF_OP_MKDIR = 1,
  BF_OP_RMDIR = 2,
  BF_OP_UNLINK = 3,
  BF_OP_RENAME = 4,
  BF_OP_CANCEL = 5,   /* abandon an item that was opened but not closed */
  BF_OP_SETATTR = 6,  /* set mode and/or mtime of a stored file or directory */
  BF_OP_SYMLINK = 7,  /* make name a symlink whose target text is name2 */
  BF_OP_LINK = 8,     /* make name2 a hard link of the stored file name */
  BF_OP_MKNOD = 9,    /* make name a FIFO or socket (flags), never a device */
} BfOpKind;

/* OP flags for SETATTR: which attributes to set. */
#define BF_SETATTR_MODE 0x01u
#define BF_SETATTR_MTIME 0x02u
/* OP flags for MKNOD: exactly one, the kind of node. */
#define BF_MKNOD_FIFO 0x01u
#define BF_MKNOD_SOCK 0x02u
/* Bytes in a symlink's target text (Linux's PATH_MAX less its NUL). */
#define BF_SYMLINK_MAX 4095

/* Status codes in ITEM_ACK, OP_ACK and ERROR. */
typedef enum {
  BF_ST_OK = 0,
  BF_ST_PROTOCOL = 1,    /* malformed or out-of-sequence frame */
  BF_ST_BAD_NAME = 2,    /* name rejected (absolute, "..", too long, ...) */
  BF_ST_NO_SPACE = 3,    /* store is full */
  BF_ST_TOO_BIG = 4,     /* item or frame over a limit */
  BF_ST_CORRUPT = 5,     /* CRC32C or digest mismatch */
  BF_ST_IO = 6,          /* server-side I/O error */
  BF_ST_NOT_FOUND = 7,   /* unknown item, session or name */
  BF_ST_LIMIT = 8,       /* a configured limit was reached */
  BF_ST_AUTH = 9,        /* handshake refused (token or key) */
  BF_ST_EXISTS = 10,     /* name exists with another type */
  BF_ST_NOT_EMPTY = 11,  /* rmdir of a non-empty directory */
  BF_ST_VERSION = 12,    /* unsupported protocol version */
  BF_ST_STALE = 13,      /* an append's base is not the stored file */
  BF_ST_MAX_ = 13,
} BfStatus;

typedef struct {
  const uint8_t *data;
  uint16_t len;
} BfBytes;

typedef struct {
  uint8_t kind;                   /* BfHelloKind */
  uint8_t session_id[BF_ID_LEN];  /* zero for NEW */
  uint8_t token[BF_ID_LEN];       /* zero for NEW */
  BfBytes label;                  /* from BF_TLV_LABEL, may be empty */
  uint16_t path_index;            /* from BF_TLV_PATH_INDEX, 0 if absent */
} BfHello;

typedef struct {
  uint8_t step;                   /* BfAuthStep */
  uint8_t value[BF_AUTH_VALUE_LEN];  /* nonce (steps 1, 2), proof (3, 4) */
} BfAuth;

typedef struct {
  uint8_t status;                 /* BfStatus */
  uint8_t session_id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];       /* zero except in answer to NEW */
  BfBytes message;                /* text when status != OK */
  uint64_t instance;              /* from BF_TLV_INSTANCE, 0 if absent */
} BfWelcome;

typedef struct {
  uint64_t item_id;
  uint32_t chunk_size;
  uint32_t mode;                  /* permission bits only (07777) */
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint8_t coding;                 /* BfCoding */
  uint8_t coding_k;
  uint8_t coding_n;
  uint8_t digest_alg;             /* BfDigestAlg of the item's digest */
  BfBytes name;                   /* validated relative path; empty only
                                     under SHAMIR: it is in the secret */
  /* An append: the item is the stored file name, base_size bytes long
   * with digest base_digest (digest_alg), followed by the chunks' bytes
   * (chunk i at base_keep + i * chunk_size). Only with STRIPE.
   * has_keep cuts the base to its first base_keep bytes first (a
   * truncate, a write inside the file). */
  gboolean has_base;
  uint64_t base_size;             /* >= 1 when has_base */
  uint8_t base_digest[BF_DIGEST_LEN];
  gboolean has_keep;              /* only with has_base */
  uint64_t base_keep;             /* below base_size when has_keep */
} BfItemOpen;

/* How many bytes of its base an item starts with (0: no base). */
static inline uint64_t
bf_item_open_kept(const BfItemOpen *o)
{
  return !o->has_base ? 0 : o->has_keep ? o->base_keep : o->base_size;
}

typedef struct {
  uint64_t item_id;
  uint32_t chunk_id;
  uint32_t total_chunks;          /* 0 while unknown */
  uint8_t share_index;
  uint8_t pad;                    /* rs: zero bytes ending the last data
                                     share (see coding.h); else 0 */
  uint32_t crc32c;                /* of payload */
  const uint8_t *payload;
  uint32_t payload_len;
} BfChunk;

typedef struct {
  uint64_t item_id;
  uint32_t chunk_id;
  uint8_t share_index;
} BfChunkAck;

typedef struct {
  uint64_t item_id;
  uint32_t total_chunks;
  uint64_t size;
  uint8_t digest_alg;             /* BfDigestAlg */
  uint8_t digest[BF_DIGEST_LEN];
  /* Final metadata: tools set mode and mtime after writing (cp -p, tar),
   * so the values at close win over those of ITEM_OPEN. */
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
} BfItemClose;

/* What a SHAMIR item hides from anyone who sees fewer than coding_k of its
 * paths: it never travels whole, only as the shares of chunk
 * BF_SECRET_CHUNK, which the client sends with the item's last chunk.
 * Body: digest, key, then the name to the end (or nothing). */
typedef struct {
  uint8_t digest[BF_DIGEST_LEN];  /* of the item's bytes, ITEM_OPEN's
                                     digest_alg (ITEM_CLOSE's is zero) */
  uint8_t key[BF_ITEM_KEY_LEN];   /* random, this item's own: keys what the
                                     server proves about what it stored */
  BfBytes name;                   /* the name when ITEM_OPEN's is empty,
                                     else empty */
} BfSecret;

typedef struct {
  uint64_t item_id;
  uint8_t stage;                  /* BfAckStage */
  uint8_t status;                 /* BfStatus */
  BfBytes message;
  uint8_t proof[BF_PROOF_LEN];    /* STORED OK: what was stored (proof.h);
                                     else zero */
} BfItemAck;

typedef struct {
  uint64_t op_id;
  uint8_t op;                     /* BfOpKind */
  uint8_t flags;                  /* SETATTR: BF_SETATTR_*; MKNOD:
                                     BF_MKNOD_*; else 0 */
  uint32_t mode;                  /* MKDIR, SETATTR, MKNOD */
  int64_t mtime_sec;              /* SETATTR */
  uint32_t mtime_nsec;
  uint64_t item_id;               /* CANCEL */
  BfBytes name;                   /* empty for CANCEL */
  BfBytes name2;                  /* RENAME, LINK: the new name; SYMLINK:
                                     the target text (any bytes but NUL,
                                     never resolved); else empty */
} BfOp;

typedef struct {
  uint64_t op_id;
  uint8_t status;
  BfBytes message;
} BfOpAck;

/* STATFS asks what df(1) shows of the session's store; STATFS_ACK
 * answers with the figures of statvfs(3) in units of bsize. */
typedef struct {
  uint64_t op_id;
} BfStatfs;

typedef struct {
  uint64_t op_id;                 /* STATFS's, echoed */
  uint8_t status;                 /* BfStatus; the figures are 0 unless OK */
  uint32_t bsize;                 /* 1..BF_STATFS_BSIZE_MAX when OK */
  uint64_t blocks, bfree, bavail; /* bavail <= bfree <= blocks */
  uint64_t files, ffree;          /* ffree <= files */
} BfStatfsAck;

#define BF_STATFS_BSIZE_MAX (1u << 30)

/* READ asks for length bytes at offset of the stored file name; READ_DATA
 * answers with those there are (fewer at the end of the file) and their
 * CRC32C, and the file's size. */
typedef struct {
  uint64_t op_id;
  uint64_t offset;
  uint32_t length;                /* 1..BF_CHUNK_MAX */
  BfBytes name;                   /* validated relative path */
} BfRead;

typedef struct {
  uint64_t op_id;                 /* READ's, echoed */
  uint8_t status;                 /* BfStatus; with another than OK, size
                                     is 0 and there is no payload */
  uint64_t size;                  /* the file's size when it was read */
  uint32_t crc32c;                /* of payload */
  const uint8_t *payload;         /* 0..BF_CHUNK_MAX bytes */
  uint32_t payload_len;
} BfReadData;

typedef struct {
  uint64_t opaque;
} BfPing;

typedef struct {
  uint8_t status;
  BfBytes message;
} BfError;

typedef struct {
  uint8_t type;    /* BfFrameType */
  uint8_t flags;
  union {
    BfHello hello;
    BfWelcome welcome;
    BfAuth auth;
    BfItemOpen item_open;
    BfChunk chunk;
    BfChunkAck chunk_ack;
    BfItemClose item_close;
    BfItemAck item_ack;
    BfOp op;
    BfOpAck op_ack;
    BfStatfs statfs;
    BfStatfsAck statfs_ack;
    BfRead read;
    BfReadData read_data;
    BfPing ping;
    BfError error;
  } u;
} BfMsg;

typedef enum {
  BF_WIRE_ERROR_TRUNCATED,   /* fewer bytes than the type requires */
  BF_WIRE_ERROR_TOO_LONG,    /* length over a cap, or trailing bytes */
  BF_WIRE_ERROR_UNKNOWN,     /* unknown type, flag, kind or enum value */
  BF_WIRE_ERROR_RANGE,       /* index or value out of its range */
  BF_WIRE_ERROR_NAME,        /* relative path rejected */
  BF_WIRE_ERROR_PREFACE,     /* not a braidfs peer or wrong version */
} BfWireError;

#define BF_WIRE_ERROR (bf_wire_error_quark())
GQuark bf_wire_error_quark(void);

/* Checks an 8-byte connection preface: braidfs's magic and a version this
 * side speaks (BF_PROTOCOL_VERSION_MIN to BF_PROTOCOL_VERSION). */
gboolean bf_preface_check(const uint8_t *buf, size_t len, GError **error);
/* The preface of the given version. */
void bf_preface_make(uint8_t out[BF_PREFACE_LEN], uint8_t version);

/* Parses a frame header from the first BF_HEADER_LEN bytes of buf and
 * checks the body length against max_body and the flags. Returns FALSE with
 * BF_WIRE_ERROR_TRUNCATED when fewer than BF_HEADER_LEN bytes are given. */
gboolean bf_header_parse(const uint8_t *buf, size_t len, size_t max_body,
                         uint8_t *type, uint8_t *flags, uint32_t *body_len,
                         GError **error);

/* Decodes one frame body of the given type. Every length, index and enum is
 * checked; names are validated with bf_name_check(). */
gboolean bf_msg_decode(uint8_t type, uint8_t flags, const uint8_t *body,
                       size_t len, BfMsg *out, GError **error);

/* What a receiver can still tell of an ITEM_ACK or OP_ACK body that
 * bf_msg_decode refused: the item or op id it answers (its first field),
 * so that the request waiting for it can fail rather than be asked again
 * (and answered the same way, for ever). FALSE for other types and for a
 * body too short to hold the id. */
gboolean bf_msg_answer_id(uint8_t type, const uint8_t *body, size_t len,
                          uint64_t *id);

/* Appends the header and body of msg to out. For CHUNK the payload is NOT
 * appended (so it can be sent with writev without a copy); the header's
 * length still counts it. Returns FALSE only for a programmer error (a
 * field over its limit). */
gboolean bf_msg_encode(const BfMsg *msg, GByteArray *out);

/* Decodes a rebuilt secret (BF_SECRET_FIXED to BF_SECRET_MAX bytes; a name,
 * if any, passes bf_name_check). out->name points into buf. */
gboolean bf_secret_decode(const uint8_t *buf, size_t len, BfSecret *out,
                          GError **error);
/* Appends the secret's bytes to out. FALSE if the name is too long. */
gboolean bf_secret_encode(const BfSecret *s, GByteArray *out);

/* A relative path from the wire: 1..BF_NAME_MAX bytes, no NUL, not
 * absolute, no empty, "." or ".." components, each component at most
 * BF_COMPONENT_MAX bytes, at most BF_DEPTH_MAX components. */
gboolean bf_name_check(const uint8_t *name, size_t len, GError **error);

/* CRC-32C (Castagnoli), as used by iSCSI: check value 0xE3069283. */
uint32_t bf_crc32c(const void *data, size_t len);

const char *bf_status_str(uint8_t status);
const char *bf_frame_type_str(uint8_t type);

G_END_DECLS
