"""bfwire.py: the braidfs wire protocol (man/braidfs-protocol.7, v1) for the
test peers, written once: every frame type packed and parsed here.

The encoders pack whatever they are given (a hostile peer needs frames that
break the rules: a name with "..", a share_index of 16, a wrong length);
they check nothing. decode() checks everything the reference codec
(src/core/wire.c, bf_msg_decode) checks, in the same order, and raises
WireError with the same category (TRUNCATED, TOO_LONG, UNKNOWN, RANGE,
NAME, PREFACE) where it refuses a body. test_bfwire.py holds the two
decoders and encoders against each other (tests/integration/wire-dump.c
runs the C codec), so that they cannot drift apart.

A decoded frame is a Msg: a dict in the man page's field order that also
reads as attributes (m.item_id). format_msg() prints it on one line, as
wire-dump prints a BfMsg.

Python 3 standard library only.
"""

import hashlib
import struct
import subprocess

# ---------------------------------------------------------------- constants

PROTOCOL_VERSION = 3
PROTOCOL_VERSION_MIN = 2             # 2 differs only in keyed frames' AEAD
MAGIC = b"BRAIDFS"
PREFACE = MAGIC + bytes([PROTOCOL_VERSION])
HDR = struct.Struct(">IBB")          # body length, type, flags
HDR_LEN = HDR.size                   # 6
ID_LEN = 16                          # session id, attach token
DIGEST_LEN = 32
AUTH_VALUE_LEN = 32
CHUNK_MIN = 4096
CHUNK_MAX = 16 * 1024 * 1024
BODY_MAX = CHUNK_MAX + 256           # 16777472
NAME_MAX, COMPONENT_MAX, DEPTH_MAX = 4096, 255, 64
MSG_MAX = 1024
LABEL_MAX = 64
TLV_MAX = 16
SHARES_MAX = 16                      # share_index, pad < 16; coding_n <= 16
SECRET_CHUNK = 0xFFFFFFFF            # chunk_id of a SHAMIR item's secret
ITEM_KEY_LEN = 32
SECRET_FIXED = DIGEST_LEN + ITEM_KEY_LEN
SECRET_MAX = SECRET_FIXED + NAME_MAX

HELLO, WELCOME, AUTH = 0x01, 0x02, 0x03
ITEM_OPEN, CHUNK, CHUNK_ACK, ITEM_CLOSE, ITEM_ACK = 0x10, 0x11, 0x12, 0x13, 0x14
OP, OP_ACK, PING, PONG, ERROR = 0x20, 0x21, 0x30, 0x31, 0x7F
STATFS, STATFS_ACK, READ, READ_DATA = 0x22, 0x23, 0x24, 0x25
FRAME_NAMES = {HELLO: "HELLO", WELCOME: "WELCOME", AUTH: "AUTH",
               ITEM_OPEN: "ITEM_OPEN", CHUNK: "CHUNK", CHUNK_ACK: "CHUNK_ACK",
               ITEM_CLOSE: "ITEM_CLOSE", ITEM_ACK: "ITEM_ACK", OP: "OP",
               OP_ACK: "OP_ACK", STATFS: "STATFS", STATFS_ACK: "STATFS_ACK",
               READ: "READ", READ_DATA: "READ_DATA",
               PING: "PING", PONG: "PONG", ERROR: "ERROR"}
FLAG_SEALED = 0x01
FLAGS_KNOWN = FLAG_SEALED

NEW, ATTACH = 0, 1
AUTH_CLIENT_NONCE, AUTH_SERVER_NONCE, AUTH_CLIENT_PROOF, AUTH_SERVER_PROOF = 1, 2, 3, 4
TLV_LABEL, TLV_NONCE, TLV_PROOF, TLV_PATH_INDEX, TLV_INSTANCE = 1, 2, 3, 4, 5
STRIPE, SHAMIR, RS = 0, 1, 2
BLAKE2B, SHA256, BLAKE3 = 1, 2, 3
OPENED, STORED = 1, 2
MKDIR, RMDIR, UNLINK, RENAME, CANCEL, SETATTR = 1, 2, 3, 4, 5, 6
SYMLINK, LINK, MKNOD = 7, 8, 9
OP_NAMES = {MKDIR: "MKDIR", RMDIR: "RMDIR", UNLINK: "UNLINK", RENAME: "RENAME",
            CANCEL: "CANCEL", SETATTR: "SETATTR", SYMLINK: "SYMLINK",
            LINK: "LINK", MKNOD: "MKNOD"}
SETATTR_MODE, SETATTR_MTIME = 0x01, 0x02
MKNOD_FIFO, MKNOD_SOCK = 0x01, 0x02
SYMLINK_MAX = 4095

ST = ["OK", "PROTOCOL", "BAD_NAME", "NO_SPACE", "TOO_BIG", "CORRUPT", "IO",
      "NOT_FOUND", "LIMIT", "AUTH", "EXISTS", "NOT_EMPTY", "VERSION", "STALE"]
(OK, PROTOCOL, BAD_NAME, NO_SPACE, TOO_BIG, CORRUPT, IO, NOT_FOUND, LIMIT,
 AUTH_FAILED, EXISTS, NOT_EMPTY, VERSION, STALE) = range(14)
ST_MAX = STALE


def st_name(s):
    return ST[s] if 0 <= s < len(ST) else "unknown(%d)" % s


def fname(t):
    return FRAME_NAMES.get(t, "0x%02x" % t)


# ---------------------------------------------------------------- CRC-32C

def _crc_table():
    tbl = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tbl.append(c)
    return tbl


_CRC_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C (Castagnoli), reflected, init and final xor 0xFFFFFFFF."""
    c = 0xFFFFFFFF
    tbl = _CRC_TABLE
    for b in data:
        c = tbl[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def digest(alg, data):
    """The item digest of ITEM_CLOSE: SHA-256, BLAKE2b-256 or BLAKE3 (by
    b3sum: Python has no BLAKE3 of its own)."""
    if alg == BLAKE2B:
        return hashlib.blake2b(data, digest_size=32).digest()
    if alg == BLAKE3:
        out = subprocess.run(["b3sum", "--no-names"], input=data,
                             capture_output=True, check=True).stdout
        return bytes.fromhex(out.decode()[:64])
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------- encoding

# Fixed parts of the bodies, in the man page's order.
HELLO_FIXED = struct.Struct(">BB16s16s")          # kind, res, sid, token
WELCOME_FIXED = struct.Struct(">BB16s16sH")       # status, res, sid, token, msg_len
AUTH_BODY = struct.Struct(">BB32s")               # step, res, value
ITEM_OPEN_FIXED = struct.Struct(">QIIqIBBBBH")    # ... name_len
CHUNK_FIXED = struct.Struct(">QIIBB2xI")          # ... crc32c; payload follows
CHUNK_ACK_BODY = struct.Struct(">QIB3x")
ITEM_CLOSE_BODY = struct.Struct(">QIQB3x32sIqI")
ITEM_ACK_FIXED = struct.Struct(">QBBH")           # item_id, stage, status, msg_len
OP_FIXED = struct.Struct(">QBBIqIQH")             # ... item_id, name_len
OP_ACK_FIXED = struct.Struct(">QBBH")             # op_id, status, res, msg_len
PING_BODY = struct.Struct(">Q")
STATFS_BODY = struct.Struct(">Q")                 # op_id
STATFS_ACK_BODY = struct.Struct(">QB3xIQQQQQ")    # op_id, status, bsize, ...
STATFS_BSIZE_MAX = 1 << 30
READ_FIXED = struct.Struct(">QQIH")               # op_id, offset, length, name_len
READ_DATA_FIXED = struct.Struct(">QB3xQI")        # op_id, status, size, crc32c
ERROR_FIXED = struct.Struct(">BBH")               # status, res, msg_len


def _b(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def frame(ftype, body, flags=0, length=None):
    """Header + body; length overrides the header's body length."""
    return HDR.pack(len(body) if length is None else length, ftype, flags) + body


def lv(value):
    """A u16 length prefix and the bytes."""
    value = _b(value)
    return struct.pack(">H", len(value)) + value


def tlv(tag, value):
    return struct.pack(">B", tag) + lv(value)


def hello(kind, sid=bytes(16), token=bytes(16), label=None, path_index=0,
          tlvs=b"", flags=0):
    """HELLO as the reference client sends it: a LABEL when label is set,
    always a PATH_INDEX (unless path_index is None), then tlvs as given."""
    body = HELLO_FIXED.pack(kind, 0, sid, token)
    if label:
        body += tlv(TLV_LABEL, label)
    if path_index is not None:
        body += tlv(TLV_PATH_INDEX, struct.pack(">H", path_index))
    return frame(HELLO, body + tlvs, flags)


def welcome(status, sid=bytes(16), token=bytes(16), msg=b"", instance=0,
            tlvs=b"", flags=0):
    """WELCOME; an INSTANCE TLV when instance is not 0, then tlvs."""
    body = WELCOME_FIXED.pack(status, 0, sid, token, len(_b(msg))) + _b(msg)
    if instance:
        body += tlv(TLV_INSTANCE, struct.pack(">Q", instance))
    return frame(WELCOME, body + tlvs, flags)


def auth(step, value, flags=0):
    return frame(AUTH, AUTH_BODY.pack(step, 0, value), flags)


def item_open(item_id, name, chunk_size=4096, mode=0o644, mtime=(1700000000, 5),
              alg=SHA256, coding=STRIPE, k=1, n=1, flags=0, base=None,
              keep=None):
    """base: (base_size, base_digest) for an append, or None; keep: the
    base's first bytes kept (base_keep), or None for all of them."""
    name = _b(name)
    body = ITEM_OPEN_FIXED.pack(item_id, chunk_size, mode, mtime[0], mtime[1],
                                coding, k, n, alg, len(name)) + name
    if base is not None:
        body += struct.pack(">Q", base[0]) + bytes(base[1])
        if keep is not None:
            body += struct.pack(">Q", keep)
    return frame(ITEM_OPEN, body, flags)


def chunk(item_id, chunk_id, total, payload, crc=None, share=0, pad=0,
          flags=0):
    """CHUNK; crc defaults to the payload's CRC-32C."""
    if crc is None:
        crc = crc32c(payload)
    body = CHUNK_FIXED.pack(item_id, chunk_id, total, share, pad, crc)
    return frame(CHUNK, body + payload, flags)


def chunk_ack(item_id, chunk_id, share=0, flags=0):
    return frame(CHUNK_ACK, CHUNK_ACK_BODY.pack(item_id, chunk_id, share), flags)


def item_close(item_id, total, size, digest, mode=0o644, mtime=(1700000000, 7),
               alg=SHA256, flags=0):
    return frame(ITEM_CLOSE, ITEM_CLOSE_BODY.pack(item_id, total, size, alg,
                                                  digest, mode, mtime[0],
                                                  mtime[1]), flags)


def item_ack(item_id, stage, status=OK, msg=b"", flags=0, proof=bytes(32)):
    msg = _b(msg)
    assert len(proof) == 32
    return frame(ITEM_ACK, ITEM_ACK_FIXED.pack(item_id, stage, status, len(msg))
                 + msg + proof, flags)


def stored_proof(session_id, item_id, size, alg, dig, key=b""):
    """ITEM_ACK STORED OK's proof (src/core/proof.c): key is the item's
    secret key and/or the key_file's K_stored, concatenated; b"" for none."""
    h = hashlib.blake2b(key=key, digest_size=32)
    h.update(b"braidfs v1 stored proof" + session_id +
             struct.pack(">QQB", item_id, size, alg) + dig)
    return h.digest()


def op(op_id, kind, name=b"", name2=b"", mode=0, flags=0, mtime=(0, 0),
       item_id=0, frame_flags=0):
    """OP; flags are the OP's own (SETATTR_*), frame_flags the header's."""
    name, name2 = _b(name), _b(name2)
    body = OP_FIXED.pack(op_id, kind, flags, mode, mtime[0], mtime[1], item_id,
                         len(name)) + name + lv(name2)
    return frame(OP, body, frame_flags)


def op_ack(op_id, status=OK, msg=b"", flags=0):
    msg = _b(msg)
    return frame(OP_ACK, OP_ACK_FIXED.pack(op_id, status, 0, len(msg)) + msg,
                 flags)


def statfs(op_id, flags=0):
    return frame(STATFS, STATFS_BODY.pack(op_id), flags)


def statfs_ack(op_id, status=OK, bsize=0, blocks=0, bfree=0, bavail=0,
               files=0, ffree=0, flags=0):
    return frame(STATFS_ACK, STATFS_ACK_BODY.pack(op_id, status, bsize, blocks,
                                                  bfree, bavail, files, ffree),
                 flags)


def read(op_id, offset, length, name, flags=0):
    name = _b(name)
    return frame(READ, READ_FIXED.pack(op_id, offset, length, len(name)) + name,
                 flags)


def read_data(op_id, status=OK, size=0, payload=b"", crc=None, flags=0):
    if crc is None:
        crc = crc32c(payload) if payload or status == OK else 0
    return frame(READ_DATA, READ_DATA_FIXED.pack(op_id, status, size, crc) +
                 payload, flags)


def ping(opaque, flags=0):
    return frame(PING, PING_BODY.pack(opaque), flags)


def pong(opaque, flags=0):
    return frame(PONG, PING_BODY.pack(opaque), flags)


def error(status, msg=b"", flags=0):
    msg = _b(msg)
    return frame(ERROR, ERROR_FIXED.pack(status, 0, len(msg)) + msg, flags)


def secret(digest, key, name=b""):
    """The secret of a SHAMIR item (the bytes its chunk SECRET_CHUNK
    shares): digest, key, then the name or nothing."""
    return bytes(digest) + bytes(key) + _b(name)


# ---------------------------------------------------------------- decoding

class WireError(Exception):
    """A frame the reference codec refuses. kind is wire.h's category
    without its prefix: TRUNCATED, TOO_LONG, UNKNOWN, RANGE, NAME, PREFACE."""

    def __init__(self, kind, message):
        super().__init__("%s: %s" % (kind, message))
        self.kind = kind


class Msg(dict):
    """A decoded frame: its fields in the man page's order, also readable
    as attributes. m.type is the frame type, m.frame_flags the header's
    flags (m.flags is OP's own field)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class _Cursor:
    def __init__(self, body, frame_name):
        self.b, self.pos, self.frame = bytes(body), 0, frame_name

    def left(self):
        return len(self.b) - self.pos

    def take(self, n, field):
        if n > self.left():
            raise WireError("TRUNCATED", "%s: body ends inside %s" % (self.frame, field))
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def u(self, size, field):
        return int.from_bytes(self.take(size, field), "big")

    def i64(self, field):
        return int.from_bytes(self.take(8, field), "big", signed=True)

    def lv(self, len_field, field):
        return self.take(self.u(2, len_field), field)

    def rest(self):
        v = self.b[self.pos:]
        self.pos = len(self.b)
        return v

    def end(self):
        if self.left():
            raise WireError("TOO_LONG", "%s: %d trailing bytes" % (self.frame, self.left()))

    def exact(self, want):
        n = len(self.b)
        if n != want:
            raise WireError("TRUNCATED" if n < want else "TOO_LONG",
                            "%s: body is %d bytes, must be %d" % (self.frame, n, want))

    def fail(self, kind, what):
        raise WireError(kind, "%s: %s" % (self.frame, what))


def _valid_utf8(b):
    """As g_utf8_validate_len: valid UTF-8 without NUL."""
    if b"\0" in b:
        return False
    try:
        b.decode("utf-8", "strict")
    except UnicodeDecodeError:
        return False
    return True


def _check_status(c, status):
    if status > ST_MAX:
        c.fail("UNKNOWN", "unknown status %d" % status)


def _check_text(c, t):
    if len(t) > MSG_MAX:
        c.fail("TOO_LONG", "message is %d bytes" % len(t))
    if not _valid_utf8(t):
        c.fail("RANGE", "message is not valid UTF-8")


def _check_label(c, t):
    if len(t) > LABEL_MAX:
        c.fail("TOO_LONG", "label is %d bytes" % len(t))
    for i, ch in enumerate(t):
        if ch < 0x20 or ch == 0x7F:
            c.fail("RANGE", "label contains byte 0x%02x at offset %d" % (ch, i))
    if not _valid_utf8(t):
        c.fail("RANGE", "label is not valid UTF-8")


def _check_mode(c, mode):
    if mode & ~0o7777:
        c.fail("RANGE", "mode 0%o has bits outside 07777" % mode)


def _check_nsec(c, nsec):
    if nsec >= 1000000000:
        c.fail("RANGE", "mtime_nsec %d >= 1000000000" % nsec)


def _check_alg(c, alg):
    if alg not in (BLAKE2B, SHA256, BLAKE3):
        c.fail("UNKNOWN", "unknown digest_alg %d" % alg)


def name_check(name):
    """Raises WireError NAME unless name passes the rules of NAMES."""
    name = _b(name)
    if not name:
        raise WireError("NAME", "name is empty")
    if len(name) > NAME_MAX:
        raise WireError("NAME", "name is %d bytes" % len(name))
    if b"\0" in name:
        raise WireError("NAME", "name contains a NUL byte")
    if name[:1] == b"/":
        raise WireError("NAME", "name is absolute")
    for depth, comp in enumerate(name.split(b"/"), 1):
        if not comp:
            raise WireError("NAME", "name has an empty component")
        if comp in (b".", b".."):
            raise WireError("NAME", "name contains %r" % comp.decode())
        if len(comp) > COMPONENT_MAX:
            raise WireError("NAME", "name has a component of %d bytes" % len(comp))
        if depth > DEPTH_MAX:
            raise WireError("NAME", "name has more than %d components" % DEPTH_MAX)


def _tlvs(c, hello_msg, welcome_msg):
    seen, count = set(), 0
    while c.left():
        if count == TLV_MAX:
            c.fail("TOO_LONG", "more than %d TLVs" % TLV_MAX)
        count += 1
        tag = c.u(1, "TLV tag")
        v = c.lv("TLV length", "TLV value")
        if tag in seen:
            c.fail("RANGE", "TLV tag %d appears twice" % tag)
        seen.add(tag)
        if welcome_msg is not None:
            if tag != TLV_INSTANCE:
                continue
            want = 8
        elif tag == TLV_LABEL:
            _check_label(c, v)
            hello_msg["label"] = v
            continue
        elif tag in (TLV_NONCE, TLV_PROOF):
            want = 32
        elif tag == TLV_PATH_INDEX:
            want = 2
        else:
            continue
        if len(v) != want:
            c.fail("TRUNCATED" if len(v) < want else "TOO_LONG",
                   "TLV %d is %d bytes, must be %d" % (tag, len(v), want))
        if tag == TLV_PATH_INDEX:
            hello_msg["path_index"] = int.from_bytes(v, "big")
        elif tag == TLV_INSTANCE:
            welcome_msg["instance"] = int.from_bytes(v, "big")


def _hello(c, m):
    m["kind"] = c.u(1, "kind")
    c.take(1, "reserved")
    m["session_id"] = c.take(16, "session_id")
    m["token"] = c.take(16, "token")
    m["label"] = b""
    m["path_index"] = 0
    if m.kind not in (NEW, ATTACH):
        c.fail("UNKNOWN", "unknown kind %d" % m.kind)
    if m.kind == NEW and (any(m.session_id) or any(m.token)):
        c.fail("RANGE", "NEW with a non-zero session_id or token")
    _tlvs(c, m, None)


def _welcome(c, m):
    m["status"] = c.u(1, "status")
    c.take(1, "reserved")
    m["session_id"] = c.take(16, "session_id")
    m["token"] = c.take(16, "token")
    m["message"] = c.lv("msg_len", "msg")
    m["instance"] = 0
    _check_status(c, m.status)
    _check_text(c, m.message)
    _tlvs(c, None, m)


def _auth(c, m):
    c.exact(AUTH_BODY.size)
    m["step"] = c.u(1, "step")
    c.take(1, "reserved")
    m["value"] = c.take(32, "value")
    if not AUTH_CLIENT_NONCE <= m.step <= AUTH_SERVER_PROOF:
        c.fail("UNKNOWN", "unknown step %d" % m.step)


def _item_open(c, m):
    m["item_id"] = c.u(8, "item_id")
    m["chunk_size"] = c.u(4, "chunk_size")
    m["mode"] = c.u(4, "mode")
    m["mtime_sec"] = c.i64("mtime_sec")
    m["mtime_nsec"] = c.u(4, "mtime_nsec")
    m["coding"] = c.u(1, "coding")
    m["coding_k"] = c.u(1, "coding_k")
    m["coding_n"] = c.u(1, "coding_n")
    m["digest_alg"] = c.u(1, "digest_alg")
    m["name"] = c.lv("name_len", "name")
    if c.left():  # an append's base: present iff the body goes on
        m["base_size"] = c.u(8, "base_size")
        m["base_digest"] = c.take(DIGEST_LEN, "base_digest")
        if c.left():  # a cut base: base_keep, present iff the body goes on
            m["base_keep"] = c.u(8, "base_keep")
    c.end()
    if not CHUNK_MIN <= m.chunk_size <= CHUNK_MAX:
        c.fail("RANGE", "chunk_size %d" % m.chunk_size)
    _check_nsec(c, m.mtime_nsec)
    _check_alg(c, m.digest_alg)
    _check_mode(c, m.mode)
    k, n = m.coding_k, m.coding_n
    if m.coding == STRIPE:
        if (k, n) != (1, 1):
            c.fail("RANGE", "stripe coding with k %d, n %d" % (k, n))
    elif m.coding in (SHAMIR, RS):
        if not (1 <= k <= n and 2 <= n <= SHARES_MAX):
            c.fail("RANGE", "coding %d with k %d, n %d" % (m.coding, k, n))
    else:
        c.fail("UNKNOWN", "unknown coding %d" % m.coding)
    if not (m.name == b"" and m.coding == SHAMIR):
        name_check(m.name)
    if "base_size" in m and (m.base_size == 0 or m.coding != STRIPE):
        c.fail("RANGE", "a base (base_size %d) needs base_size >= 1 and "
               "stripe coding" % m.base_size)
    if "base_keep" in m and m.base_keep >= m.base_size:
        c.fail("RANGE", "base_keep %d is not below base_size %d"
               % (m.base_keep, m.base_size))


def _chunk(c, m):
    m["item_id"] = c.u(8, "item_id")
    m["chunk_id"] = c.u(4, "chunk_id")
    m["total_chunks"] = c.u(4, "total_chunks")
    m["share_index"] = c.u(1, "share_index")
    m["pad"] = c.u(1, "pad")
    c.take(2, "reserved")
    m["crc32c"] = c.u(4, "crc32c")
    if c.left() == 0:
        c.fail("TRUNCATED", "empty payload")
    if c.left() > CHUNK_MAX:
        c.fail("TOO_LONG", "payload of %d bytes" % c.left())
    m["payload"] = c.rest()
    if m.total_chunks and m.chunk_id >= m.total_chunks:
        c.fail("RANGE", "chunk_id %d >= total_chunks %d" % (m.chunk_id, m.total_chunks))
    if m.pad >= SHARES_MAX:
        c.fail("RANGE", "pad %d" % m.pad)
    if m.share_index >= SHARES_MAX:
        c.fail("RANGE", "share_index %d" % m.share_index)


def _chunk_ack(c, m):
    c.exact(CHUNK_ACK_BODY.size)
    m["item_id"] = c.u(8, "item_id")
    m["chunk_id"] = c.u(4, "chunk_id")
    m["share_index"] = c.u(1, "share_index")
    c.take(3, "reserved")
    if m.share_index >= SHARES_MAX:
        c.fail("RANGE", "share_index %d" % m.share_index)


def _item_close(c, m):
    c.exact(ITEM_CLOSE_BODY.size)
    m["item_id"] = c.u(8, "item_id")
    m["total_chunks"] = c.u(4, "total_chunks")
    m["size"] = c.u(8, "size")
    m["digest_alg"] = c.u(1, "digest_alg")
    c.take(3, "reserved")
    m["digest"] = c.take(32, "digest")
    m["mode"] = c.u(4, "mode")
    m["mtime_sec"] = c.i64("mtime_sec")
    m["mtime_nsec"] = c.u(4, "mtime_nsec")
    _check_nsec(c, m.mtime_nsec)
    _check_mode(c, m.mode)
    _check_alg(c, m.digest_alg)
    if m.total_chunks != 0 and m.size == 0:
        c.fail("RANGE", "total_chunks %d does not fit size %d" % (m.total_chunks, m.size))


def _item_ack(c, m):
    m["item_id"] = c.u(8, "item_id")
    m["stage"] = c.u(1, "stage")
    m["status"] = c.u(1, "status")
    m["message"] = c.lv("msg_len", "msg")
    m["proof"] = c.take(32, "proof")
    c.end()
    if m.stage not in (OPENED, STORED):
        c.fail("UNKNOWN", "unknown stage %d" % m.stage)
    _check_status(c, m.status)
    _check_text(c, m.message)


def _op(c, m):
    m["op_id"] = c.u(8, "op_id")
    m["op"] = c.u(1, "op")
    m["flags"] = c.u(1, "flags")
    m["mode"] = c.u(4, "mode")
    m["mtime_sec"] = c.i64("mtime_sec")
    m["mtime_nsec"] = c.u(4, "mtime_nsec")
    m["item_id"] = c.u(8, "item_id")
    m["name"] = c.lv("name_len", "name")
    m["name2"] = c.lv("name2_len", "name2")
    c.end()
    if m.op not in OP_NAMES:
        c.fail("UNKNOWN", "unknown op %d" % m.op)
    want_name, want_name2 = m.op != CANCEL, m.op in (RENAME, LINK)
    _check_mode(c, m.mode)
    _check_nsec(c, m.mtime_nsec)
    known = {SETATTR: SETATTR_MODE | SETATTR_MTIME,
             MKNOD: MKNOD_FIFO | MKNOD_SOCK}.get(m.op, 0)
    if m.flags & ~known:
        c.fail("UNKNOWN", "%s with unknown flags 0x%02x" % (OP_NAMES[m.op], m.flags))
    if m.op == MKNOD and m.flags not in (MKNOD_FIFO, MKNOD_SOCK):
        c.fail("RANGE", "MKNOD with flags 0x%02x (must be one kind)" % m.flags)
    if m.op == SYMLINK:
        if not m.name2:
            c.fail("RANGE", "SYMLINK with an empty target")
        if len(m.name2) > SYMLINK_MAX:
            c.fail("TOO_LONG", "SYMLINK target of %d bytes" % len(m.name2))
        if b"\0" in m.name2:
            c.fail("RANGE", "SYMLINK target contains a NUL byte")
    if not want_name and m.name:
        c.fail("RANGE", "%s with a name" % OP_NAMES[m.op])
    if not want_name2 and m.op != SYMLINK and m.name2:
        c.fail("RANGE", "%s with a name2" % OP_NAMES[m.op])
    if want_name:
        name_check(m.name)
    if want_name2:
        name_check(m.name2)


def _op_ack(c, m):
    m["op_id"] = c.u(8, "op_id")
    m["status"] = c.u(1, "status")
    c.take(1, "reserved")
    m["message"] = c.lv("msg_len", "msg")
    c.end()
    _check_status(c, m.status)
    _check_text(c, m.message)


def _statfs(c, m):
    c.exact(STATFS_BODY.size)
    m["op_id"] = c.u(8, "op_id")


def _statfs_ack(c, m):
    c.exact(STATFS_ACK_BODY.size)
    m["op_id"] = c.u(8, "op_id")
    m["status"] = c.u(1, "status")
    c.take(3, "reserved")
    for f, n in (("bsize", 4), ("blocks", 8), ("bfree", 8), ("bavail", 8),
                 ("files", 8), ("ffree", 8)):
        m[f] = c.u(n, f)
    _check_status(c, m.status)
    figures = (m.bsize, m.blocks, m.bfree, m.bavail, m.files, m.ffree)
    if m.status != OK:
        if any(figures):
            c.fail("RANGE", "figures with status %d (must be 0)" % m.status)
        return
    if not 1 <= m.bsize <= STATFS_BSIZE_MAX:
        c.fail("RANGE", "bsize %d not in 1..%d" % (m.bsize, STATFS_BSIZE_MAX))
    if m.bfree > m.blocks or m.bavail > m.bfree:
        c.fail("RANGE", "bavail %d <= bfree %d <= blocks %d does not hold"
               % (m.bavail, m.bfree, m.blocks))
    if m.ffree > m.files:
        c.fail("RANGE", "ffree %d > files %d" % (m.ffree, m.files))


def _read(c, m):
    m["op_id"] = c.u(8, "op_id")
    m["offset"] = c.u(8, "offset")
    m["length"] = c.u(4, "length")
    m["name"] = c.lv("name_len", "name")
    c.end()
    if not 1 <= m.length <= CHUNK_MAX:
        c.fail("RANGE", "length %d not in 1..%d" % (m.length, CHUNK_MAX))
    if m.offset > 2 ** 63 - 1 - m.length:
        c.fail("RANGE", "offset %d + length %d is past the largest file"
               % (m.offset, m.length))
    name_check(m.name)


def _read_data(c, m):
    m["op_id"] = c.u(8, "op_id")
    m["status"] = c.u(1, "status")
    c.take(3, "reserved")
    m["size"] = c.u(8, "size")
    m["crc32c"] = c.u(4, "crc32c")
    _check_status(c, m.status)
    if c.left() > CHUNK_MAX:
        c.fail("TOO_LONG", "payload of %d bytes" % c.left())
    m["payload"] = c.rest()
    if m.status != OK and (m.payload or m.size or m.crc32c):
        c.fail("RANGE", "data with status %d (must be none)" % m.status)


def _ping(c, m):
    c.exact(PING_BODY.size)
    m["opaque"] = c.u(8, "opaque")


def _error(c, m):
    m["status"] = c.u(1, "status")
    c.take(1, "reserved")
    m["message"] = c.lv("msg_len", "msg")
    c.end()
    _check_status(c, m.status)
    _check_text(c, m.message)


_DECODERS = {HELLO: _hello, WELCOME: _welcome, AUTH: _auth,
             ITEM_OPEN: _item_open, CHUNK: _chunk, CHUNK_ACK: _chunk_ack,
             ITEM_CLOSE: _item_close, ITEM_ACK: _item_ack, OP: _op,
             OP_ACK: _op_ack, STATFS: _statfs, STATFS_ACK: _statfs_ack,
             READ: _read, READ_DATA: _read_data,
             PING: _ping, PONG: _ping, ERROR: _error}


def parse_header(hdr, max_body=BODY_MAX):
    """(body length, type, flags) of a 6-byte frame header, checked as
    bf_header_parse checks it."""
    if len(hdr) < HDR_LEN:
        raise WireError("TRUNCATED", "frame header is %d bytes" % len(hdr))
    n, ftype, flags = HDR.unpack(hdr[:HDR_LEN])
    cap = min(max_body, BODY_MAX)
    if n > cap:
        raise WireError("TOO_LONG", "%s: body length %d is over the limit of %d"
                        % (fname(ftype), n, cap))
    if flags & ~FLAGS_KNOWN:
        raise WireError("UNKNOWN", "%s: unknown flags 0x%02x" % (fname(ftype), flags))
    return n, ftype, flags


def decode(ftype, body, flags=0):
    """The Msg of one frame body (without a key: SEALED is refused)."""
    if ftype not in _DECODERS:
        raise WireError("UNKNOWN", "unknown frame type 0x%02x" % ftype)
    if flags & ~FLAGS_KNOWN:
        raise WireError("UNKNOWN", "%s: unknown flags 0x%02x" % (fname(ftype), flags))
    if flags & FLAG_SEALED:
        raise WireError("UNKNOWN", "%s: sealed frame but no key" % fname(ftype))
    m = Msg(type=ftype, frame_flags=flags)
    _DECODERS[ftype](_Cursor(body, FRAME_NAMES[ftype]), m)
    return m


def decode_frame(data, max_body=BODY_MAX):
    """(Msg, bytes used) of the frame at the start of data."""
    n, ftype, flags = parse_header(data, max_body)
    if len(data) - HDR_LEN < n:
        raise WireError("TRUNCATED", "%s: %d of %d body bytes"
                        % (fname(ftype), len(data) - HDR_LEN, n))
    return decode(ftype, data[HDR_LEN:HDR_LEN + n], flags), HDR_LEN + n


def decode_secret(buf):
    """Msg(digest, key, name) of a rebuilt SHAMIR secret (bf_secret_decode)."""
    if len(buf) < SECRET_FIXED:
        raise WireError("TRUNCATED", "secret: %d bytes" % len(buf))
    if len(buf) > SECRET_MAX:
        raise WireError("TOO_LONG", "secret: %d bytes" % len(buf))
    m = Msg(digest=bytes(buf[:32]), key=bytes(buf[32:64]), name=bytes(buf[64:]))
    if m.name:
        name_check(m.name)
    return m


def preface_check(buf):
    if len(buf) < len(PREFACE):
        raise WireError("TRUNCATED", "connection preface is %d bytes" % len(buf))
    if buf[:7] != MAGIC:
        raise WireError("PREFACE", "not a braidfs peer")
    if not PROTOCOL_VERSION_MIN <= buf[7] <= PROTOCOL_VERSION:
        raise WireError("PREFACE", "unsupported protocol version %d" % buf[7])


def encode(m):
    """The canonical bytes of a decoded Msg: what bf_msg_encode writes (and,
    for CHUNK, the payload the sender writes after it)."""
    t = m["type"]
    f = m.get("frame_flags", 0)
    if t == HELLO:
        return hello(m.kind, m.session_id, m.token, m.label, m.path_index, flags=f)
    if t == WELCOME:
        return welcome(m.status, m.session_id, m.token, m.message, m.instance, flags=f)
    if t == AUTH:
        return auth(m.step, m.value, flags=f)
    if t == ITEM_OPEN:
        return item_open(m.item_id, m.name, m.chunk_size, m.mode,
                         (m.mtime_sec, m.mtime_nsec), m.digest_alg, m.coding,
                         m.coding_k, m.coding_n, flags=f,
                         base=(m.base_size, m.base_digest) if "base_size" in m
                         else None, keep=m.get("base_keep"))
    if t == CHUNK:
        return chunk(m.item_id, m.chunk_id, m.total_chunks, m.payload, m.crc32c,
                     m.share_index, m.pad, flags=f)
    if t == CHUNK_ACK:
        return chunk_ack(m.item_id, m.chunk_id, m.share_index, flags=f)
    if t == ITEM_CLOSE:
        return item_close(m.item_id, m.total_chunks, m.size, m.digest, m.mode,
                          (m.mtime_sec, m.mtime_nsec), m.digest_alg, flags=f)
    if t == ITEM_ACK:
        return item_ack(m.item_id, m.stage, m.status, m.message, flags=f,
                        proof=m.proof)
    if t == OP:
        return op(m.op_id, m.op, m.name, m.name2, m.mode, m.flags,
                  (m.mtime_sec, m.mtime_nsec), m.item_id, frame_flags=f)
    if t == OP_ACK:
        return op_ack(m.op_id, m.status, m.message, flags=f)
    if t == STATFS:
        return statfs(m.op_id, flags=f)
    if t == READ:
        return read(m.op_id, m.offset, m.length, m.name, flags=f)
    if t == READ_DATA:
        return read_data(m.op_id, m.status, m.size, m.payload, m.crc32c, flags=f)
    if t == STATFS_ACK:
        return statfs_ack(m.op_id, m.status, m.bsize, m.blocks, m.bfree,
                          m.bavail, m.files, m.ffree, flags=f)
    if t in (PING, PONG):
        return frame(t, PING_BODY.pack(m.opaque), f)
    if t == ERROR:
        return error(m.status, m.message, flags=f)
    raise ValueError("no encoder for type 0x%02x" % t)


def format_msg(m):
    """One line: the frame name and its fields in order, integers in
    decimal, bytes in hex (as wire-dump prints a BfMsg)."""
    out = [fname(m["type"])]
    for k, v in m.items():
        if k in ("type", "frame_flags"):
            continue
        out.append("%s=%s" % (k, v.hex() if isinstance(v, (bytes, bytearray)) else v))
    return " ".join(out)


# ---------------------------------------------------------------- self-test

def self_test():
    """The encoder and decoder against the man page's EXAMPLE and check
    values (test_bfwire.py checks them against the C codec)."""
    assert crc32c(b"123456789") == 0xE3069283, hex(crc32c(b"123456789"))
    assert crc32c(b"hello") == 0x9A71BB4C, hex(crc32c(b"hello"))
    h = hello(NEW, label="laptop")
    assert h == bytes.fromhex("000000300100" "0000" + "00" * 32 +
                              "0100066c6170746f70" "0400020000"), h.hex()
    io = item_open(1, "a/b.txt", chunk_size=1 << 20, mode=0o644,
                   mtime=(1700000000, 5), alg=BLAKE2B)
    assert io == bytes.fromhex(
        "000000291000" "0000000000000001" "00100000" "000001a4"
        "000000006553f100" "00000005" "00010101" "0007612f622e747874"), io.hex()
    c = chunk(1, 0, 1, b"hello")
    assert c == bytes.fromhex("0000001d1100" "0000000000000001" "00000000"
                              "00000001" "00000000" "9a71bb4c"
                              "68656c6c6f"), c.hex()
    assert chunk_ack(1, 0) == bytes.fromhex("000000101200" "0000000000000001"
                                            "0000000000000000")
    dig = bytes.fromhex("324dcf027dd4a30a932c441f365a25e8"
                        "6b173defa4b8e58948253471b81b72cf")
    assert digest(BLAKE2B, b"hello") == dig
    assert digest(BLAKE3, b"abc") == bytes.fromhex(
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85")
    ic = item_close(1, 1, 5, dig, mode=0o644, mtime=(1700000000, 7), alg=BLAKE2B)
    assert ic == bytes.fromhex("000000481300" "0000000000000001" "00000001"
                               "0000000000000005" "01000000" + dig.hex() +
                               "000001a4" "000000006553f100" "00000007"), ic.hex()
    assert item_ack(1, STORED) == bytes.fromhex("0000002c1400" "0000000000000001"
                                                "0200" "0000" + "00" * 32)
    assert len(op(1, MKDIR, "x")) == 6 + 38 + 1
    for f in (h, io, c, ic, welcome(OK, bytes(range(16)), bytes(16))):
        m, used = decode_frame(f)
        assert used == len(f) and encode(m) == f, format_msg(m)
