/* blocks-bench: what each building block of a braidfs chunk costs on this
 * machine, alone, on one thread: the digests (BLAKE3 as braidfs builds it,
 * SHA-256 from OpenSSL and from libsodium, BLAKE2b-256), CRC32C, AES-256-GCM sealing, memcpy, a copy
 * through a loopback TCP connection; and on the store's disk, pwrite into
 * the page cache and what the final fsync of a large file costs with and
 * without sync_file_range while it is written.
 *
 * usage: blocks-bench [-s CHUNK] [-t SECS] [-r ROUNDS] [-d DIR] [-m MIB]
 *   -s CHUNK  bytes per call (default 262144, braidfs's chunk_size)
 *   -t SECS   seconds per round of a CPU cell (default 0.3)
 *   -r N      rounds per cell, median and range shown (default 5; 3 for
 *             the disk cells)
 *   -d DIR    a directory on the disk to measure (the store's): the disk
 *             cells write a file of MIB there and delete it. Without -d
 *             they are left out
 *   -m MIB    size of that file (default 1024)
 *
 * Every CPU cell loops over one buffer of CHUNK bytes that stays in the
 * CPU caches, as a chunk does between the copy that brings it and the
 * hash that reads it, except "memcpy, cold", which moves CHUNK at a time
 * through 256 MiB, as a file passing through memory does. GB/s is 10^9
 * bytes of chunk data per second; us/chunk is the time of one call on a
 * CHUNK buffer.
 */
#include <blake3.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t chunk = 256 * 1024;
static double secs = 0.3;
static int rounds = 5;

static double
now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

static void
die(const char *what)
{
  fprintf(stderr, "blocks-bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* ---- CPU cells ----------------------------------------------------------- */

typedef struct {
  uint8_t *a, *b;               /* chunk-sized buffers */
  uint8_t *ring;                /* RING bytes for the cold copy */
  size_t ring_pos;
  EVP_MD_CTX *sha;
  EVP_CIPHER_CTX *gcm;
  crypto_hash_sha256_state sod_sha;
  crypto_generichash_state blake;
  blake3_hasher b3;
  uint32_t crc;
  uint64_t ctr;
} Ctx;

#define RING ((size_t)256 << 20)

static void
op_sha_openssl(Ctx *c)
{
  EVP_DigestUpdate(c->sha, c->a, chunk);
}

static void
op_sha_sodium(Ctx *c)
{
  crypto_hash_sha256_update(&c->sod_sha, c->a, chunk);
}

static void
op_blake2b(Ctx *c)
{
  crypto_generichash_update(&c->blake, c->a, chunk);
}

static void
op_blake3(Ctx *c)
{
  blake3_hasher_update(&c->b3, c->a, chunk);
}

static void
op_crc32c(Ctx *c)
{
  c->crc = crc32_iscsi(c->a, (int)chunk, c->crc);
}

/* in place with a fresh counter nonce per call, as a sealed frame */
static void
op_gcm(Ctx *c)
{
  uint8_t nonce[12] = { 0 }, tag[16];
  int n;

  memcpy(nonce + 4, &c->ctr, sizeof c->ctr);
  c->ctr++;
  if (EVP_EncryptInit_ex(c->gcm, NULL, NULL, NULL, nonce) != 1 ||
      EVP_EncryptUpdate(c->gcm, c->a, &n, c->a, (int)chunk) != 1 ||
      EVP_EncryptFinal_ex(c->gcm, tag, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->gcm, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) {
    fprintf(stderr, "blocks-bench: AES-256-GCM failed\n");
    exit(1);
  }
}

static void
op_memcpy(Ctx *c)
{
  memcpy(c->b, c->a, chunk);
}

static void
op_memcpy_cold(Ctx *c)
{
  if (c->ring_pos + chunk > RING)
    c->ring_pos = 0;
  memcpy(c->ring + c->ring_pos, c->a, chunk);
  c->ring_pos += chunk;
}

/* GB/s of one round: as many calls as fit in secs */
static double
round_rate(void (*op)(Ctx *), Ctx *c)
{
  double t0 = now(), t;
  uint64_t calls = 0;

  do {
    for (int i = 0; i < 16; i++)
      op(c);
    calls += 16;
    t = now();
  } while (t - t0 < secs);
  return (double)calls * (double)chunk / (t - t0) / 1e9;
}

static void
report(const char *name, double *rate, int n)
{
  qsort(rate, n, sizeof *rate, cmp_double);
  double med = rate[n / 2];
  printf("%-34s %7.2f GB/s (%.2f-%.2f)  %8.1f us/chunk\n", name, med,
         rate[0], rate[n - 1], (double)chunk / (med * 1e9) * 1e6);
  fflush(stdout);
}

static void
cpu_cell(const char *name, void (*op)(Ctx *), Ctx *c)
{
  double rate[64];

  op(c);   /* touch the buffers first */
  for (int r = 0; r < rounds; r++)
    rate[r] = round_rate(op, c);
  report(name, rate, rounds);
}

/* ---- loopback TCP --------------------------------------------------------- */

typedef struct {
  int fd;
  uint8_t *buf;
  volatile int stop;
} Sender;

static void *
sender(void *data)
{
  Sender *s = data;

  while (!s->stop) {
    size_t done = 0;
    while (done < chunk) {
      ssize_t n = send(s->fd, s->buf + done, chunk - done, MSG_NOSIGNAL);
      if (n <= 0)
        return NULL;
      done += (size_t)n;
    }
  }
  return NULL;
}

/* One connection over 127.0.0.1, a thread sending chunks, this one
 * receiving them whole (recv MSG_WAITALL): both cores take part, as the
 * two daemons do on one machine. */
static void
tcp_cell(Ctx *c)
{
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t sl = sizeof sa;
  int ls = socket(AF_INET, SOCK_STREAM, 0), cs, ss, one = 1;
  Sender snd = { 0 };
  pthread_t th;
  double rate[64];

  if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      listen(ls, 1) < 0 || getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
    die("loopback listen");
  cs = socket(AF_INET, SOCK_STREAM, 0);
  if (cs < 0 || connect(cs, (struct sockaddr *)&sa, sizeof sa) < 0)
    die("loopback connect");
  ss = accept(ls, NULL, NULL);
  if (ss < 0)
    die("loopback accept");
  setsockopt(cs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* as braidfs */
  snd.fd = cs;
  snd.buf = c->a;
  pthread_create(&th, NULL, sender, &snd);
  for (int r = 0; r < rounds; r++) {
    double t0 = now(), t;
    uint64_t got = 0;
    do {
      ssize_t n = recv(ss, c->b, chunk, MSG_WAITALL);
      if (n <= 0)
        die("loopback recv");
      got += (uint64_t)n;
      t = now();
    } while (t - t0 < secs);
    rate[r] = (double)got / (t - t0) / 1e9;
  }
  snd.stop = 1;
  shutdown(ss, SHUT_RDWR);
  pthread_join(th, NULL);
  close(cs);
  close(ss);
  close(ls);
  report("TCP loopback, send -> recv", rate, rounds);
}

/* ---- disk cells ----------------------------------------------------------- */

typedef enum {
  SYNC_AT_END,        /* pwrite everything, then fdatasync */
  SYNC_RANGES,        /* sync_file_range(WRITE) on each finished window */
  SYNC_RANGES_WAIT,   /* ... and wait for the one WINDOWS behind */
} SyncMode;

#define WINDOW ((off_t)8 << 20)   /* what a writer would start at a time */
#define WINDOWS 4

/* Writes mib MiB into a new file in dir in chunk-sized pwrites; returns
 * the seconds of the writing and of the final fdatasync. */
static void
disk_round(const char *dir, size_t mib, SyncMode mode, uint8_t *buf,
           double *t_write, double *t_sync)
{
  char path[4096];
  off_t size = (off_t)mib << 20, off, started = 0;
  int fd;
  double t0, t1;

  snprintf(path, sizeof path, "%s/blocks-bench.%d", dir, (int)getpid());
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    die(path);
  syncfs(fd);   /* start with nothing of ours dirty */
  t0 = now();
  for (off = 0; off < size; off += (off_t)chunk) {
    if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk)
      die("pwrite");
    if (mode == SYNC_AT_END || off + (off_t)chunk - started < WINDOW)
      continue;
    if (sync_file_range(fd, started, off + (off_t)chunk - started,
                        SYNC_FILE_RANGE_WRITE) < 0)
      die("sync_file_range");
    started = off + (off_t)chunk;
    if (mode == SYNC_RANGES_WAIT && started >= WINDOWS * WINDOW &&
        sync_file_range(fd, started - WINDOWS * WINDOW, WINDOW,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) < 0)
      die("sync_file_range");
  }
  t1 = now();
  if (fdatasync(fd) < 0)
    die("fdatasync");
  *t_write = t1 - t0;
  *t_sync = now() - t1;
  close(fd);
  unlink(path);
}

static void
disk_cell(const char *name, const char *dir, size_t mib, SyncMode mode,
          uint8_t *buf)
{
  double w[64], s[64], tot[64];
  int n = rounds < 3 ? rounds : 3;

  for (int r = 0; r < n; r++) {
    disk_round(dir, mib, mode, buf, &w[r], &s[r]);
    tot[r] = w[r] + s[r];
  }
  qsort(w, n, sizeof *w, cmp_double);
  qsort(s, n, sizeof *s, cmp_double);
  qsort(tot, n, sizeof *tot, cmp_double);
  printf("%-34s writes %5.2f s (%4.2f GB/s), fdatasync %5.2f s (%.2f-%.2f),"
         " total %5.2f s = %4.2f GB/s (%.2f-%.2f s)\n", name, w[n / 2],
         (double)mib * 1048576 / w[n / 2] / 1e9, s[n / 2], s[0], s[n - 1],
         tot[n / 2], (double)mib * 1048576 / tot[n / 2] / 1e9, tot[0],
         tot[n - 1]);
  fflush(stdout);
}

/* Overwrites a file whose pages are in the cache: the copy alone. */
static void
pwrite_cached_cell(const char *dir, uint8_t *buf)
{
  char path[4096];
  size_t size = 64 << 20;   /* fits in the cache, not in the CPU's */
  double rate[64];
  int fd;

  snprintf(path, sizeof path, "%s/blocks-bench.%d", dir, (int)getpid());
  fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    die(path);
  for (off_t off = 0; off < (off_t)size; off += (off_t)chunk)
    if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk)
      die("pwrite");
  for (int r = 0; r < rounds; r++) {
    double t0 = now(), t;
    uint64_t done = 0;
    do {
      if (pwrite(fd, buf, chunk, (off_t)(done % size)) != (ssize_t)chunk)
        die("pwrite");
      done += chunk;
      t = now();
    } while (t - t0 < secs);
    rate[r] = (double)done / (t - t0) / 1e9;
  }
  close(fd);
  unlink(path);
  report("pwrite over cached pages", rate, rounds);
}

int
main(int argc, char **argv)
{
  const char *dir = NULL;
  size_t mib = 1024;
  Ctx c = { 0 };
  uint8_t key[32] = { 1 };
  int opt;

  while ((opt = getopt(argc, argv, "s:t:r:d:m:")) != -1) {
    switch (opt) {
    case 's': chunk = strtoul(optarg, NULL, 0); break;
    case 't': secs = strtod(optarg, NULL); break;
    case 'r': rounds = atoi(optarg); break;
    case 'd': dir = optarg; break;
    case 'm': mib = strtoul(optarg, NULL, 0); break;
    default:
      fprintf(stderr, "usage: blocks-bench [-s CHUNK] [-t SECS] [-r ROUNDS] "
                      "[-d DIR] [-m MIB]\n");
      return 2;
    }
  }
  if (chunk < 4096 || chunk > (64u << 20) || chunk % 4096 != 0 ||
      rounds < 1 || rounds > 64 || secs <= 0 || mib < 16) {
    fprintf(stderr, "blocks-bench: -s is 4K..64M in 4K steps, -r 1..64, "
                    "-t > 0, -m >= 16\n");
    return 2;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "blocks-bench: libsodium does not initialize\n");
    return 1;
  }
  c.a = aligned_alloc(4096, chunk);
  c.b = aligned_alloc(4096, chunk);
  c.ring = aligned_alloc(4096, RING);
  if (c.a == NULL || c.b == NULL || c.ring == NULL)
    die("memory");
  randombytes_buf(c.a, chunk);
  memset(c.ring, 1, RING);
  c.sha = EVP_MD_CTX_new();
  c.gcm = EVP_CIPHER_CTX_new();
  if (c.sha == NULL || c.gcm == NULL ||
      EVP_DigestInit_ex(c.sha, EVP_sha256(), NULL) != 1 ||
      EVP_EncryptInit_ex(c.gcm, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
    fprintf(stderr, "blocks-bench: OpenSSL does not initialize\n");
    return 1;
  }
  crypto_hash_sha256_init(&c.sod_sha);
  crypto_generichash_init(&c.blake, NULL, 0, 32);
  blake3_hasher_init(&c.b3);

  printf("# chunk %zu bytes, %d rounds of %.2f s per cell, median (range)\n",
         chunk, rounds, secs);
  cpu_cell("BLAKE3 (the official C, src/blake3)", op_blake3, &c);
  cpu_cell("SHA-256, OpenSSL EVP", op_sha_openssl, &c);
  cpu_cell("SHA-256, libsodium", op_sha_sodium, &c);
  cpu_cell("BLAKE2b-256, libsodium", op_blake2b, &c);
  cpu_cell("CRC32C, ISA-L", op_crc32c, &c);
  cpu_cell("AES-256-GCM seal, OpenSSL EVP", op_gcm, &c);
  cpu_cell("memcpy, in cache", op_memcpy, &c);
  cpu_cell("memcpy, cold (through 256 MiB)", op_memcpy_cold, &c);
  tcp_cell(&c);
  if (dir != NULL) {
    printf("# disk cells: %s, %zu MiB per file, %d rounds\n", dir, mib,
           rounds < 3 ? rounds : 3);
    pwrite_cached_cell(dir, c.a);
    disk_cell("pwrite new file, fdatasync at end", dir, mib, SYNC_AT_END, c.a);
    disk_cell("+ sync_file_range per 8 MiB", dir, mib, SYNC_RANGES, c.a);
    disk_cell("+ ... and wait 32 MiB behind", dir, mib, SYNC_RANGES_WAIT, c.a);
  }
  EVP_MD_CTX_free(c.sha);
  EVP_CIPHER_CTX_free(c.gcm);
  free(c.a);
  free(c.b);
  free(c.ring);
  return 0;
}
