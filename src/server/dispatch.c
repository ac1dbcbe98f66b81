/* A path's thread (dispatch.h). Each accepted connection gets one: it
 * does the handshake, then reads frames and hands each to its module
 * (items.c, chunks.c, ops.c) until the connection ends or a handler
 * refuses it, and it alone writes the connection's socket: answers others
 * post to its outbox go out before each read and while it waits for one
 * (conn.h). */
#include "dispatch.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "chunks.h"
#include "crash.h"
#include "handshake.h"
#include "items.h"
#include "ops.h"
#include "reads.h"
#include "session.h"
#include "space.h"
#include "status.h"

/* How long a closing path reads what its peer still sends. */
#define LINGER_US (1 * G_USEC_PER_SEC)

static gboolean
dispatch(BfdPath *p, const BfMsg *m)
{
  bfd_crash_at(BFD_CRASH_FRAMES);
  bfd_session_note_frame(p->sess, p, m);
  switch (m->type) {
  case BF_FRAME_ITEM_OPEN:
    return bfd_items_on_open(p, &m->u.item_open);
  case BF_FRAME_CHUNK:
    return bfd_chunks_on_chunk(p, &m->u.chunk);
  case BF_FRAME_ITEM_CLOSE:
    return bfd_items_on_close(p, &m->u.item_close);
  case BF_FRAME_OP:
    return bfd_ops_on_op(p, &m->u.op);
  case BF_FRAME_STATFS:
    return bfd_space_on_statfs(p, &m->u.statfs);
  case BF_FRAME_READ:
    return bfd_reads_on_read(p, &m->u.read);
  case BF_FRAME_PING: {
    BfMsg pong = { .type = BF_FRAME_PONG, .u.ping = m->u.ping };
    return bfd_path_post(p, &pong);
  }
  case BF_FRAME_PONG:
    return TRUE;
  case BF_FRAME_ERROR:
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "session %s: client %s "
           "reported: %.*s", p->session_name, p->conn->peer,
           m->u.error.message.len, (const char *)m->u.error.message.data);
    return FALSE;
  default:
    return bfd_path_refuse(p, BF_ST_PROTOCOL, "unexpected %s frame after the "
                           "handshake", bf_frame_type_str(m->type));
  }
}

/* A session whose last path went keeps its unfinished items for the linger
 * time: its client may be re-attaching after losing every path at once.
 * The janitor abandons them after that (server.c). */
static void
detach(BfdPath *p)
{
  if (!bfd_session_remove_path(p->sess, p))
    return;
  if (p->srv->limits.linger_ms == 0)
    bfd_items_abandon(p->sess);
  bf_log(G_LOG_LEVEL_MESSAGE, BFD_PATH_LOG(p), "session %s: last path from %s "
         "closed", p->session_name, p->conn->peer);
}

/* Reads and drops what the peer still sends until it closes, for
 * LINGER_US at most. */
static void
drain(int fd)
{
  gint64 end = g_get_monotonic_time() + LINGER_US;
  char buf[16384];

  for (;;) {
    gint64 left = end - g_get_monotonic_time();
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    if (left <= 0)
      return;
    int n = poll(&pfd, 1, (int)(left / 1000) + 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (got <= 0)
      return;
  }
}

/* The last answers, an ERROR among them, go out, unless the peer does not
 * read (they would only wait for send_timeout again). Then our side is
 * shut and what the peer still sends is read: a socket closed with input
 * unread is reset, and the reset destroys what the kernel has not sent
 * yet, the ERROR among it, before the peer reads it. */
static void
close_gently(BfdPath *p)
{
  if (g_atomic_int_get(&p->stall_logged))
    return;
  bf_conn_flush(p->conn, NULL);
  if (shutdown(p->conn->fd, SHUT_WR) == 0)
    drain(p->conn->fd);
}

void
bfd_dispatch_run(BfdPath *p)
{
  g_autoptr(GError) error = NULL;
  BfMsg m;

  if (bfd_handshake(p)) {
    while (bf_conn_recv(p->conn, &m, &error) && dispatch(p, &m))
      ;
    if (g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_STALLED))
      bfd_path_log_stalled(p, error);
    else if (g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_TIMEOUT))
      bfd_path_refuse(p, BF_ST_LIMIT, "no frame for %u s (idle timeout)",
                      p->srv->limits.idle_timeout_ms / 1000);
    else if (error != NULL &&
             !g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_CLOSED))
      bfd_path_refuse(p, bfd_error_status(error), "%s", error->message);
    detach(p);
  }
  close_gently(p);
  g_clear_pointer(&p->sess, bfd_session_unref);
}
