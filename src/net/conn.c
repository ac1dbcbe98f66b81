#include "braidfs/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "braidfs/parse.h"
#include "braidfs/text.h"

G_DEFINE_QUARK(bf-net-error-quark, bf_net_error)

BfConn *
bf_conn_new(int fd)
{
  BfConn *c = g_new0(BfConn, 1);
  int one = 1;

  c->fd = fd;
  c->wake_fd = -1;
  c->peer = bf_sock_name(fd, TRUE);
  c->max_body = BF_BODY_MAX;
  c->version = BF_PROTOCOL_VERSION;
  c->sbuf = g_byte_array_sized_new(256);
  bf_mutex_init(&c->send_lock);
  bf_mutex_init(&c->out_lock);
  /* Acknowledgements are tiny and latency-bound. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  return c;
}

void
bf_conn_free(BfConn *c)
{
  if (c == NULL)
    return;
  if (c->fd >= 0)
    close(c->fd);
  if (c->wake_fd >= 0)
    close(c->wake_fd);
  g_free(c->peer);
  g_byte_array_unref(c->sbuf);
  bf_mutex_clear(&c->send_lock);
  bf_mutex_clear(&c->out_lock);
  if (c->out != NULL)
    g_byte_array_unref(c->out);
  if (c->out_spare != NULL)
    g_byte_array_unref(c->out_spare);
  g_free(c->rbuf);
  bf_seal_free(c->tx_seal);
  bf_seal_free(c->rx_seal);
  g_free(c->cbuf);
  g_free(c);
}

void
bf_conn_shutdown(BfConn *c)
{
  shutdown(c->fd, SHUT_RDWR);
}

void
bf_conn_set_recv_timeout(BfConn *c, unsigned ms)
{
  struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

  c->recv_timeout_ms = ms;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void
bf_conn_set_send_timeout(BfConn *c, unsigned ms)
{
  struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

static gboolean
io_fail(BfConn *c, int err, const char *what, GError **error)
{
  if (err == EAGAIN || err == EWOULDBLOCK)
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_TIMEOUT,
                "%s %s: timed out", what, c->peer);
  else
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO, "%s %s: %s", what,
                c->peer, g_strerror(err));
  return FALSE;
}

static gboolean
write_iov(BfConn *c, struct iovec *iov, int iovcnt, GError **error)
{
  while (iovcnt > 0) {
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovcnt };
    ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                  errno == ETIMEDOUT)) {
      /* SO_SNDTIMEO or TCP_USER_TIMEOUT (bf_conn_set_send_timeout) ran
       * out: the peer's window stayed shut, or nothing was acknowledged */
      g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_STALLED,
                  "%s does not read what is sent to it (a send timed out)",
                  c->peer);
      return FALSE;
    }
    if (n < 0)
      return io_fail(c, errno, "sending to", error);
    while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
      n -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + n;
      iov->iov_len -= n;
    }
  }
  return TRUE;
}

/* Waits for input on a connection with an outbox, writing what is posted
 * meanwhile. Fails at the deadline, or after recv_timeout_ms without
 * input, as a blocking read would. */
static gboolean
outbox_wait(BfConn *c, GError **error)
{
  gint64 idle_end = c->recv_timeout_ms == 0 ? 0
      : g_get_monotonic_time() + (gint64)c->recv_timeout_ms * 1000;
  gint64 end = c->deadline;

  if (idle_end != 0 && (end == 0 || idle_end < end))
    end = idle_end;
  for (;;) {
    struct pollfd pfd[2] = { { .fd = c->fd, .events = POLLIN },
                             { .fd = c->wake_fd, .events = POLLIN } };
    int ms = -1, rc;
    uint64_t posted;

    if (!bf_conn_flush(c, error))
      return FALSE;
    if (end != 0) {
      gint64 left = end - g_get_monotonic_time();
      if (left <= 0)
        return io_fail(c, EAGAIN, "reading from", error);
      ms = (int)MIN((left + 999) / 1000, (gint64)G_MAXINT);
    }
    rc = poll(pfd, 2, ms);
    if (rc < 0 && errno != EINTR)
      return io_fail(c, errno, "waiting for", error);
    if (rc > 0 && (pfd[1].revents & POLLIN) &&
        read(c->wake_fd, &posted, sizeof posted) < 0 && errno != EAGAIN)
      return io_fail(c, errno, "waiting for", error);
    if (rc > 0 && pfd[0].revents != 0)
      return TRUE;
  }
}

/* Reads exactly len bytes. *got_any tells an EOF at a frame boundary (a
 * clean close) from one in the middle of a frame. */
static gboolean
read_full(BfConn *c, uint8_t *buf, size_t len, gboolean boundary,
          GError **error)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n;

    if (c->out_max != 0) {
      n = recv(c->fd, buf + done, len - done, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!outbox_wait(c, error))
          return FALSE;
        continue;
      }
    } else {
      if (c->deadline != 0) {
        gint64 left = c->deadline - g_get_monotonic_time();
        if (left <= 0)
          return io_fail(c, EAGAIN, "reading from", error);
        bf_conn_set_recv_timeout(c, (unsigned)MAX(left / 1000, 1));
      }
      n = read(c->fd, buf + done, len - done);
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return io_fail(c, errno, "reading from", error);
    }
    if (n == 0) {
      if (boundary && done == 0)
        g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_CLOSED,
                    "%s closed the connection", c->peer);
      else
        g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_CLOSED,
                    "%s closed the connection in the middle of a frame",
                    c->peer);
      return FALSE;
    }
    done += n;
  }
  return TRUE;
}

void
bf_conn_seal_tx(BfConn *c, BfSeal *seal)
{
  bf_mutex_lock(&c->send_lock);
  bf_seal_free(c->tx_seal);
  c->tx_seal = seal;
  bf_mutex_unlock(&c->send_lock);
}

void
bf_conn_seal_rx(BfConn *c, BfSeal *seal)
{
  bf_seal_free(c->rx_seal);
  c->rx_seal = seal;
}

/* Room for len bytes in cbuf, kept for the next frames: fresh memory is
 * slow to touch. */
static void
cbuf_reserve(BfConn *c, size_t len)
{
  if (len > c->ccap) {
    g_free(c->cbuf);
    c->ccap = len;
    c->cbuf = g_malloc(c->ccap);
  }
}

/* Builds the sealed frame of the clear one in iov[0..iovcnt) (header and
 * fixed fields, then maybe a payload) in cbuf, and points iov at it. */
static gboolean seal_iov(BfConn *c, struct iovec *iov, int *iovcnt,
                         GError **error) BF_REQUIRES(&c->send_lock);
static gboolean
seal_iov(BfConn *c, struct iovec *iov, int *iovcnt, GError **error)
{
  uint8_t hdr[BF_HEADER_LEN];
  BfSlice parts[2];
  size_t plain = 0;
  unsigned n = 0;

  memcpy(hdr, iov[0].iov_base, BF_HEADER_LEN);
  parts[n++] = (BfSlice){ (uint8_t *)iov[0].iov_base + BF_HEADER_LEN,
                          iov[0].iov_len - BF_HEADER_LEN };
  if (*iovcnt > 1)
    parts[n++] = (BfSlice){ iov[1].iov_base, iov[1].iov_len };
  for (unsigned i = 0; i < n; i++)
    plain += parts[i].len;
  if (!bf_seal_header(hdr)) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "%s frame of %zu bytes is too big to seal",
                bf_frame_type_str(hdr[4]), plain);
    return FALSE;
  }
  size_t total = BF_HEADER_LEN + plain + BF_SEAL_TAG_LEN;
  cbuf_reserve(c, total);
  memcpy(c->cbuf, hdr, BF_HEADER_LEN);
  if (!bf_seal_frame(c->tx_seal, hdr, parts, n, c->cbuf + BF_HEADER_LEN,
                     error))
    return FALSE;
  iov[0].iov_base = c->cbuf;
  iov[0].iov_len = total;
  *iovcnt = 1;
  return TRUE;
}

gboolean
bf_conn_send(BfConn *c, const BfMsg *msg, GError **error)
{
  struct iovec iov[2];
  int iovcnt = 1;
  gboolean ok;

  bf_mutex_lock(&c->send_lock);
  g_byte_array_set_size(c->sbuf, 0);
  if (!bf_msg_encode(msg, c->sbuf)) {
    bf_mutex_unlock(&c->send_lock);
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "cannot encode %s frame (a field is over its limit)",
                bf_frame_type_str(msg->type));
    return FALSE;
  }
  iov[0].iov_base = c->sbuf->data;
  iov[0].iov_len = c->sbuf->len;
  if (msg->type == BF_FRAME_CHUNK) {
    iov[1].iov_base = (void *)msg->u.chunk.payload;
    iov[1].iov_len = msg->u.chunk.payload_len;
    iovcnt = 2;
  }
  ok = (c->tx_seal == NULL || seal_iov(c, iov, &iovcnt, error)) &&
       write_iov(c, iov, iovcnt, error);
  bf_mutex_unlock(&c->send_lock);
  return ok;
}

/* ---- the outbox ---------------------------------------------------------- */

void
bf_conn_outbox(BfConn *c, size_t max_bytes)
{
  g_return_if_fail(max_bytes > 0 && c->out_max == 0);
  c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (c->wake_fd < 0)   /* posts then wait for the reader's next frame */
    g_warning("connection from %s: no eventfd (%s): answers from other "
              "threads wait for its next frame", c->peer, g_strerror(errno));
  c->out = g_byte_array_new();
  c->out_spare = g_byte_array_new();
  c->out_max = max_bytes;
}

gboolean
bf_conn_post(BfConn *c, const BfMsg *msg, GError **error)
{
  gboolean was_full, full = FALSE, encoded = FALSE;
  size_t before;

  g_return_val_if_fail(c->out_max != 0 && msg->type != BF_FRAME_CHUNK, FALSE);
  bf_mutex_lock(&c->out_lock);
  was_full = c->out_full;
  before = c->out->len;
  if (!was_full && (encoded = bf_msg_encode(msg, c->out)) &&
      c->out->len > c->out_max) {
    g_byte_array_set_size(c->out, before);
    c->out_full = full = TRUE;
  }
  bf_mutex_unlock(&c->out_lock);
  if (was_full || full) {
    if (full)
      shutdown(c->fd, SHUT_RDWR);
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_STALLED,
                "%s does not read what is sent to it (%zu bytes wait)",
                c->peer, before);
    return FALSE;
  }
  if (!encoded) {
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO,
                "cannot encode %s frame (a field is over its limit)",
                bf_frame_type_str(msg->type));
    return FALSE;
  }
  /* The reader takes the whole outbox at once: a post to an empty one is
   * the only one that needs to wake it, and the reader's own posts go out
   * before it reads again. */
  if (before == 0 && g_atomic_pointer_get(&c->reader) != g_thread_self() &&
      eventfd_write(c->wake_fd, 1) < 0)
    g_warning("cannot wake the reader of %s: %s", c->peer, g_strerror(errno));
  return TRUE;
}

/* Seals the clear frames laid end to end in frames into cbuf. */
static gboolean
seal_frames(BfConn *c, const GByteArray *frames, size_t *sealed_len,
            GError **error)
{
  size_t in = 0, out = 0;

  /* every frame has a header: at most len / BF_HEADER_LEN tags */
  cbuf_reserve(c, frames->len + frames->len / BF_HEADER_LEN * BF_SEAL_TAG_LEN);
  while (in < frames->len) {
    const uint8_t *f = frames->data + in;
    size_t body = (size_t)f[0] << 24 | (size_t)f[1] << 16 | f[2] << 8 | f[3];
    uint8_t *hdr = c->cbuf + out;
    BfSlice part = { f + BF_HEADER_LEN, body };

    memcpy(hdr, f, BF_HEADER_LEN);
    if (!bf_seal_header(hdr) ||
        !bf_seal_frame(c->tx_seal, hdr, &part, 1, hdr + BF_HEADER_LEN, error))
      return FALSE;   /* posted frames are small: only a library failure */
    in += BF_HEADER_LEN + body;
    out += BF_HEADER_LEN + body + BF_SEAL_TAG_LEN;
  }
  *sealed_len = out;
  return TRUE;
}

gboolean
bf_conn_flush(BfConn *c, GError **error)
{
  GByteArray *frames;
  struct iovec iov;
  gboolean ok;

  if (c->out_max == 0)
    return TRUE;
  bf_mutex_lock(&c->out_lock);
  frames = c->out->len > 0 ? c->out : NULL;
  if (frames != NULL)
    c->out = g_steal_pointer(&c->out_spare);
  bf_mutex_unlock(&c->out_lock);
  if (frames == NULL)
    return TRUE;
  bf_mutex_lock(&c->send_lock);
  iov = (struct iovec){ frames->data, frames->len };
  ok = c->tx_seal == NULL || seal_frames(c, frames, &iov.iov_len, error);
  if (ok && c->tx_seal != NULL)
    iov.iov_base = c->cbuf;
  ok = ok && write_iov(c, &iov, 1, error);
  bf_mutex_unlock(&c->send_lock);
  g_byte_array_set_size(frames, 0);
  c->out_spare = frames;
  return ok;
}

/* Reads the next frame's header and body into rbuf. */
static gboolean
read_frame(BfConn *c, uint8_t hdr[BF_HEADER_LEN], uint8_t *type,
           uint8_t *flags, uint32_t *len, GError **error)
{
  if (!read_full(c, hdr, BF_HEADER_LEN, TRUE, error))
    return FALSE;
  if (!bf_header_parse(hdr, BF_HEADER_LEN, c->max_body, type, flags, len,
                       error))
    return FALSE;
  if (*len > c->rcap) {
    /* Grow once to the largest frame seen; buffers are reused because
     * touching fresh memory is slow. */
    g_free(c->rbuf);
    c->rcap = MAX((size_t)*len, MIN(c->max_body, (size_t)64 * 1024));
    c->rbuf = g_malloc(c->rcap);
  }
  return *len == 0 || read_full(c, c->rbuf, *len, FALSE, error);
}

gboolean
bf_conn_recv(BfConn *c, BfMsg *msg, GError **error)
{
  uint8_t hdr[BF_HEADER_LEN];
  uint8_t type, flags;
  uint32_t len;

  c->bad_answer = FALSE;
  /* What the owner answered to the last frame goes out before the next
   * is read (a peer that keeps sending would otherwise starve it). */
  if (c->out_max != 0)
    g_atomic_pointer_set(&c->reader, g_thread_self());
  if (!bf_conn_flush(c, error) ||
      !read_frame(c, hdr, &type, &flags, &len, error))
    return FALSE;
  if (c->rx_seal != NULL) {
    if (!bf_open_frame(c->rx_seal, hdr, c->rbuf, len, error))
      return FALSE;
    len -= BF_SEAL_TAG_LEN;
    flags &= ~BF_FLAG_SEALED;
  }
  if (bf_msg_decode(type, flags, c->rbuf, len, msg, error))
    return TRUE;
  c->bad_type = type;
  c->bad_answer = bf_msg_answer_id(type, c->rbuf, len, &c->bad_id);
  return FALSE;
}

gboolean
bf_conn_bad_answer(const BfConn *c, uint8_t *type, uint64_t *id)
{
  if (!c->bad_answer)
    return FALSE;
  *type = c->bad_type;
  *id = c->bad_id;
  return TRUE;
}

gboolean
bf_conn_send_preface(BfConn *c, GError **error)
{
  uint8_t preface[BF_PREFACE_LEN];
  struct iovec iov = { preface, BF_PREFACE_LEN };

  bf_preface_make(preface, c->version);
  return write_iov(c, &iov, 1, error);
}

gboolean
bf_conn_recv_preface(BfConn *c, uint8_t *version, GError **error)
{
  uint8_t buf[BF_PREFACE_LEN];

  c->peer_version = 0;
  if (version != NULL)
    *version = 0;
  if (!read_full(c, buf, sizeof buf, TRUE, error))
    return FALSE;
  if (memcmp(buf, bf_preface, BF_PREFACE_LEN - 1) == 0)
    c->peer_version = buf[BF_PREFACE_LEN - 1];
  if (version != NULL)
    *version = c->peer_version;
  return bf_preface_check(buf, sizeof buf, error);
}

void
bf_conn_set_deadline(BfConn *c, gint64 monotonic_deadline)
{
  c->deadline = monotonic_deadline;
}

void
bf_conn_send_error(BfConn *c, uint8_t status, const char *message)
{
  BfMsg m = { .type = BF_FRAME_ERROR };
  g_autofree char *shown = bf_text_show(message, strlen(message), BF_MSG_MAX);

  m.u.error.status = status;
  m.u.error.message.data = (const uint8_t *)shown;
  m.u.error.message.len = (uint16_t)strlen(shown);
  bf_conn_send(c, &m, NULL);
}

char *
bf_sock_name(int fd, gboolean peer)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                : getsockname(fd, (struct sockaddr *)&ss, &sl);

  if (rc != 0 || getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host,
                             serv, sizeof serv,
                             NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return g_strdup("?");
  return bf_format_hostport(host, (uint16_t)atoi(serv));
}

gboolean
bf_sock_loopback(int fd, gboolean peer)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                : getsockname(fd, (struct sockaddr *)&ss, &sl);

  if (rc != 0)
    return FALSE;
  if (ss.ss_family == AF_INET)
    return ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24 == 127;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) ||
           (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return FALSE;
}

static struct addrinfo *
resolve(const char *host, uint16_t port, gboolean passive, GError **error)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                            .ai_flags = passive ? AI_PASSIVE : 0 };
  struct addrinfo *res = NULL;
  char serv[8];
  int rc;

  g_snprintf(serv, sizeof serv, "%u", port);
  rc = getaddrinfo(host, serv, &hints, &res);
  if (rc != 0) {
    g_autofree char *hp = bf_format_hostport(host, port);
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_RESOLVE,
                "cannot resolve %s: %s", hp, gai_strerror(rc));
    return NULL;
  }
  return res;
}

/* Binds fd to the source address (any port) and/or interface. */
static int
bind_source(int fd, int family, const BfSource *src)
{
  if (src == NULL)
    return 0;
  if (src->iface != NULL &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, src->iface,
                 (socklen_t)strlen(src->iface)) < 0)
    return errno;
  if (src->bind_addr != NULL) {
    struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
    struct addrinfo *res = NULL;
    int rc;

    if (getaddrinfo(src->bind_addr, NULL, &hints, &res) != 0)
      return EADDRNOTAVAIL;
    rc = bind(fd, res->ai_addr, res->ai_addrlen) < 0 ? errno : 0;
    freeaddrinfo(res);
    return rc;
  }
  return 0;
}

static int
connect_one(const struct addrinfo *ai, const BfSource *src,
            unsigned timeout_ms, int *err)
{
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  ai->ai_protocol);
  struct pollfd pfd;
  socklen_t sl = sizeof *err;

  if (fd < 0) {
    *err = errno;
    return -1;
  }
  if ((*err = bind_source(fd, ai->ai_family, src)) != 0)
    goto fail;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
    *err = errno;
    goto fail;
  }
  pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
  int rc = poll(&pfd, 1, (int)timeout_ms);
  if (rc == 0) {
    *err = ETIMEDOUT;
    goto fail;
  }
  if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) < 0) {
    *err = errno;
    goto fail;
  }
  if (*err != 0)
    goto fail;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
fail:
  close(fd);
  return -1;
}

int
bf_tcp_connect(const char *host, uint16_t port, const BfSource *src,
               unsigned timeout_ms, GError **error)
{
  struct addrinfo *res = resolve(host, port, FALSE, error);
  int fd = -1, err = 0;

  if (res == NULL)
    return -1;
  for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
    fd = connect_one(ai, src, timeout_ms, &err);
  freeaddrinfo(res);
  if (fd < 0) {
    g_autofree char *hp = bf_format_hostport(host, port);
    g_autofree char *from = NULL;
    if (src != NULL && (src->bind_addr != NULL || src->iface != NULL))
      from = g_strdup_printf(" from %s%s", src->bind_addr ? src->bind_addr : "",
                             src->iface ? src->iface : "");
    g_set_error(error, BF_NET_ERROR,
                err == ETIMEDOUT ? BF_NET_ERROR_TIMEOUT : BF_NET_ERROR_IO,
                "cannot connect to server %s%s: %s", hp, from ? from : "",
                g_strerror(err));
  }
  return fd;
}

int
bf_tcp_listen(const char *host, uint16_t port, GError **error)
{
  struct addrinfo *res = resolve(host, port, TRUE, error);
  int fd = -1, err = 0, one = 1;

  if (res == NULL)
    return -1;
  for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    g_autofree char *hp = bf_format_hostport(host, port);
    g_set_error(error, BF_NET_ERROR, BF_NET_ERROR_IO, "cannot listen on %s: %s",
                hp, g_strerror(err));
  }
  return fd;
}
