/* A framed braidfs connection over a blocking TCP socket. One thread reads
 * (bf_conn_recv), any number of threads may send whole frames
 * (bf_conn_send serializes them).
 *
 * With an outbox (bf_conn_outbox) other threads never write to the socket:
 * they post frames (bf_conn_post, which never blocks), and the reading
 * thread writes them before it reads a frame and whenever it waits for
 * input, so only the thread that owns the connection can be held up by a
 * peer that does not read.
 * The outbox is bounded: a post that would go over it fails and shuts the
 * connection down. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/seal.h"
#include "braidfs/tsa.h"
#include "braidfs/wire.h"

G_BEGIN_DECLS

typedef enum {
  BF_NET_ERROR_CLOSED,    /* the peer closed the connection */
  BF_NET_ERROR_IO,        /* a socket call failed */
  BF_NET_ERROR_TIMEOUT,
  BF_NET_ERROR_RESOLVE,
  BF_NET_ERROR_STALLED,   /* the peer does not read: a send timed out, or
                             the outbox is full */
} BfNetError;

#define BF_NET_ERROR (bf_net_error_quark())
GQuark bf_net_error_quark(void);

typedef struct {
  int fd;
  char *peer;            /* "addr:port" of the other end, for messages */
  size_t max_body;       /* frames with a longer body are refused */
  /* The protocol version this side speaks on the connection (its
   * preface's): this build's unless set before the preface is sent; a
   * server takes the client's. */
  uint8_t version;
  uint8_t peer_version;  /* the peer's preface's, 0 before it came or if
                            the peer is not braidfs */
  BfMutex send_lock;     /* held for each whole frame sent */
  GByteArray *sbuf;      /* protected by send_lock: encoded header */
  uint8_t *rbuf;         /* owned by the reading thread; reused */
  size_t rcap;
  gint64 deadline;       /* owned by the reading thread; 0 = none */
  /* Keyed connections (key_file): set once the handshake derived the keys,
   * after which every frame in that direction is sealed. */
  BfSeal *tx_seal;       /* protected by send_lock */
  uint8_t *cbuf;         /* protected by send_lock: the sealed frame */
  size_t ccap;
  BfSeal *rx_seal;       /* owned by the reading thread */
  /* The outbox (bf_conn_outbox); out_max 0 = none. */
  size_t out_max;
  int wake_fd;           /* eventfd: a frame was posted to an empty outbox */
  BfMutex out_lock;       /* protects out and out_full */
  GByteArray *out;       /* clear frames posted, back to back */
  gboolean out_full;     /* a post went over out_max: shut down */
  GByteArray *out_spare; /* owned by the reading thread: out's twin */
  gpointer reader;       /* atomic: the GThread in bf_conn_recv, which
                            flushes before it reads and need not be woken */
  unsigned recv_timeout_ms;  /* bf_conn_set_recv_timeout, for the outbox's
                                wait (owned by the reading thread) */
  /* Owned by the reading thread: the answer the last bf_conn_recv read
   * whole but could not decode (bf_conn_bad_answer). */
  gboolean bad_answer;
  uint8_t bad_type;
  uint64_t bad_id;
} BfConn;

/* Takes ownership of fd. */
BfConn *bf_conn_new(int fd);
void bf_conn_free(BfConn *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfConn, bf_conn_free)

/* Wakes a thread blocked in bf_conn_recv and fails further sends. */
void bf_conn_shutdown(BfConn *c);
/* The kernel's count of bytes the peer acknowledged and of segments still
 * unacknowledged: progress even while no frame comes back. FALSE if the
 * socket cannot tell. */
gboolean bf_conn_tcp_progress(BfConn *c, uint64_t *bytes_acked,
                              uint32_t *unacked);

/* From now on, seal every frame sent (tx) or require and open every frame
 * received (rx) with seal, which the connection then owns. */
void bf_conn_seal_tx(BfConn *c, BfSeal *seal) BF_EXCLUDES(&c->send_lock);
void bf_conn_seal_rx(BfConn *c, BfSeal *seal);

/* Gives the connection an outbox of at most max_bytes of posted frames.
 * Call before the reading thread starts. */
void bf_conn_outbox(BfConn *c, size_t max_bytes);
/* Queues a frame (not a CHUNK) for the reading thread to send; never
 * blocks. Fails with BF_NET_ERROR_STALLED, and shuts the connection down,
 * when the outbox would go over its bound: the peer does not read. */
gboolean bf_conn_post(BfConn *c, const BfMsg *msg, GError **error);
/* Writes the frames posted so far (the reading thread only; bf_conn_recv
 * does it before each frame and whenever it waits). */
gboolean bf_conn_flush(BfConn *c, GError **error);
/* Bounds the time a write may block (SO_SNDTIMEO) and data may stay
 * unacknowledged by the peer (TCP_USER_TIMEOUT), in milliseconds: a peer
 * that stops reading fails the send with BF_NET_ERROR_STALLED. */
void bf_conn_set_send_timeout(BfConn *c, unsigned ms);

/* Sends a whole frame, sealed if bf_conn_seal_tx was called. Clear frames
 * go out without a copy of a CHUNK's payload; sealed ones are built in one
 * buffer of the connection. */
gboolean bf_conn_send(BfConn *c, const BfMsg *msg, GError **error)
  BF_EXCLUDES(&c->send_lock);
/* Reads, opens (once bf_conn_seal_rx was called: a frame that does not
 * authenticate fails with a BF_SEAL_ERROR) and decodes the next frame;
 * *msg points into the connection's buffer and stays valid until the next
 * call. With an outbox, writes posted frames first, and whenever it
 * waits. */
gboolean bf_conn_recv(BfConn *c, BfMsg *msg, GError **error);
/* After bf_conn_recv failed: whether it was on an ITEM_ACK or OP_ACK read
 * whole that did not decode, and then its type and the id it answers
 * (bf_msg_answer_id). */
gboolean bf_conn_bad_answer(const BfConn *c, uint8_t *type, uint64_t *id);
/* Sends the preface of c->version. */
gboolean bf_conn_send_preface(BfConn *c, GError **error);
/* Reads and checks the peer's preface (bf_preface_check). *version (may
 * be NULL) and c->peer_version are set to the peer's protocol version when
 * its magic is braidfs's, else to 0, so that a version mismatch can be
 * answered. */
gboolean bf_conn_recv_preface(BfConn *c, uint8_t *version, GError **error);

/* Bounds the total time of the reads that follow (a handshake): a peer
 * trickling bytes cannot hold the connection longer. 0 removes it. */
void bf_conn_set_deadline(BfConn *c, gint64 monotonic_deadline);

/* Sends ERROR with a status and message, ignoring send failures: the
 * connection is closed right after anyway. */
void bf_conn_send_error(BfConn *c, uint8_t status, const char *message)
  BF_EXCLUDES(&c->send_lock);

/* Sets a receive timeout in milliseconds (0 = none). */
void bf_conn_set_recv_timeout(BfConn *c, unsigned ms);

/* Where a connection leaves from: a source address and/or an interface
 * (NULL for the kernel's choice). */
typedef struct {
  const char *bind_addr;
  const char *iface;
} BfSource;

/* Connects to host:port within timeout_ms, from src if given. Returns the
 * fd or -1. */
int bf_tcp_connect(const char *host, uint16_t port, const BfSource *src,
                   unsigned timeout_ms, GError **error);
/* Binds and listens on host:port. Returns the fd or -1. */
int bf_tcp_listen(const char *host, uint16_t port, GError **error);

/* "addr:port" of a socket's peer (or local end). */
char *bf_sock_name(int fd, gboolean peer);
/* Whether the socket's own (or, with peer, the other end's) address is a
 * loopback one: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. */
gboolean bf_sock_loopback(int fd, gboolean peer);

G_END_DECLS
