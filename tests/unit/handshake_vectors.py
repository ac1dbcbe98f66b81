#!/usr/bin/env python3
"""handshake_vectors.py: the known answers of tests/unit/test-crypto.c and
of the EXAMPLE in man/braidfs-protocol.7, computed from the man page's
description with Python's hashlib (BLAKE2b with key, salt and
personalization, as libsodium's crypto_kdf_derive_from_key and
crypto_generichash use it) and the `cryptography` package's AES-GCM
(protocol version 2) and AES-OCB3 (version 3, RFC 7253): a second
implementation of the key handshake, independent of libsodium and
of the C code. Run it to print the vectors again (needs python3-cryptography).
"""
import hashlib
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESOCB3


def kdf(master, subkey_id, context):
    # crypto_kdf_derive_from_key: BLAKE2b keyed with master, no message,
    # salt = subkey id (u64 little-endian) || 8 zero bytes,
    # personal = 8-byte context || 8 zero bytes
    return hashlib.blake2b(b"", digest_size=32, key=master,
                           salt=struct.pack("<Q", subkey_id) + bytes(8),
                           person=context + bytes(8)).digest()


def keyed(key, label, nonce_c, nonce_s):
    return hashlib.blake2b(label + nonce_c + nonce_s, digest_size=32,
                           key=key).digest()


def nonce(counter):
    return bytes(4) + struct.pack(">Q", counter)


psk = bytes(range(0x00, 0x20))
nonce_c = bytes(range(0x20, 0x40))
nonce_s = bytes(range(0x40, 0x60))

k_proof = kdf(psk, 1, b"braidfsK")
k_paths = kdf(psk, 2, b"braidfsK")
proof_c = keyed(k_proof, b"braidfs v1 client proof", nonce_c, nonce_s)
proof_s = keyed(k_proof, b"braidfs v1 server proof", nonce_c, nonce_s)
master = keyed(k_paths, b"braidfs v1 path keys", nonce_c, nonce_s)
c2s = kdf(master, 1, b"braidfsP")          # version 2, AES-GCM
s2c = kdf(master, 2, b"braidfsP")
c2s_ocb = kdf(master, 3, b"braidfsP")      # version 3, AES-OCB
s2c_ocb = kdf(master, 4, b"braidfsP")

# The example's HELLO (NEW, label "laptop", PATH_INDEX 0), the client's
# first sealed frame (counter 0), and a PING (opaque 1) as the server's
# second sealed frame (counter 1).
hello = (bytes([0, 0]) + bytes(16) + bytes(16) + b"\x01\x00\x06laptop" +
         b"\x04\x00\x02\x00\x00")
hdr_hello = struct.pack(">IBB", len(hello) + 16, 0x01, 0x01)
sealed_hello = AESGCM(c2s).encrypt(nonce(0), hello, hdr_hello)
ping = struct.pack(">Q", 1)
hdr_ping = struct.pack(">IBB", len(ping) + 16, 0x30, 0x01)
sealed_ping = AESGCM(s2c).encrypt(nonce(1), ping, hdr_ping)
ocb_hello = AESOCB3(c2s_ocb).encrypt(nonce(0), hello, hdr_hello)
ocb_ping = AESOCB3(s2c_ocb).encrypt(nonce(1), ping, hdr_ping)

# The proof of ITEM_ACK STORED (src/core/proof.c): session id 0x60..0x6f,
# item 7, 5 bytes "hello" under SHA-256; unkeyed, keyed with K_stored,
# and keyed with an item key 0x80..0x9f then K_stored.
k_stored = kdf(psk, 3, b"braidfsK")
session_id = bytes(range(0x60, 0x70))
item_key = bytes(range(0x80, 0xa0))
proof_msg = (b"braidfs v1 stored proof" + session_id +
             struct.pack(">QQB", 7, 5, 2) + hashlib.sha256(b"hello").digest())
stored_plain = hashlib.blake2b(proof_msg, digest_size=32).digest()
stored_keyed = hashlib.blake2b(proof_msg, digest_size=32, key=k_stored).digest()
stored_both = hashlib.blake2b(proof_msg, digest_size=32,
                              key=item_key + k_stored).digest()

for name, v in [("K_stored", k_stored), ("stored_plain", stored_plain),
                ("stored_keyed", stored_keyed), ("stored_both", stored_both),
                ("psk", psk), ("nonce_c", nonce_c), ("nonce_s", nonce_s),
                ("K_proof", k_proof), ("K_paths", k_paths),
                ("proof_c", proof_c), ("proof_s", proof_s),
                ("master", master), ("key_c2s", c2s), ("key_s2c", s2c),
                ("hello_header", hdr_hello), ("hello_sealed", sealed_hello),
                ("ping1_header", hdr_ping), ("ping1_sealed", sealed_ping),
                ("key_c2s_ocb", c2s_ocb), ("key_s2c_ocb", s2c_ocb),
                ("hello_ocb", ocb_hello), ("ping1_ocb", ocb_ping)]:
    print(f"{name:14} {v.hex()}")
