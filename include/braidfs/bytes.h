/* Loads and stores of unaligned integers. Big-endian: the byte order of
 * the wire (braidfs-protocol(7)) and of the on-disk records of both
 * daemons; little-endian: the client's spool headers (spool.c), which
 * predate that rule and stay readable. Written byte by byte, so they need
 * no alignment and compile to a single load/store (plus a byte swap for
 * big-endian, bswap/movbe) at -O2. */
#pragma once

#include <stdint.h>

static inline uint16_t
bf_load_be16(const uint8_t *p)
{
  return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
bf_load_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static inline uint64_t
bf_load_be64(const uint8_t *p)
{
  return (uint64_t)bf_load_be32(p) << 32 | bf_load_be32(p + 4);
}

static inline void
bf_store_be16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline void
bf_store_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline void
bf_store_be64(uint8_t *p, uint64_t v)
{
  bf_store_be32(p, (uint32_t)(v >> 32));
  bf_store_be32(p + 4, (uint32_t)v);
}

static inline uint16_t
bf_load_le16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t
bf_load_le32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline uint64_t
bf_load_le64(const uint8_t *p)
{
  return (uint64_t)bf_load_le32(p) | (uint64_t)bf_load_le32(p + 4) << 32;
}

static inline void
bf_store_le16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static inline void
bf_store_le32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline void
bf_store_le64(uint8_t *p, uint64_t v)
{
  bf_store_le32(p, (uint32_t)v);
  bf_store_le32(p + 4, (uint32_t)(v >> 32));
}
