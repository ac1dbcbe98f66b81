/* Unit tests of a connection's outbox (src/net/conn.c, bf_conn_outbox):
 * frames posted by other threads are written by the reading thread only,
 * while it waits for input and before each frame it reads; a post over the
 * bound fails, without blocking, and shuts the connection down. Over a
 * real socketpair, one BfConn at each end. */
#include "braidfs/conn.h"

#include <sys/socket.h>

typedef struct {
  BfConn *owner;   /* has the outbox; its reader runs in a thread */
  BfConn *peer;
} Pair;

static void
pair_init(Pair *pr, size_t outbox)
{
  int sv[2];

  g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  pr->owner = bf_conn_new(sv[0]);
  pr->peer = bf_conn_new(sv[1]);
  bf_conn_outbox(pr->owner, outbox);
}

static void
pair_clear(Pair *pr)
{
  bf_conn_free(pr->owner);
  bf_conn_free(pr->peer);
}

static BfMsg
ping(uint64_t v)
{
  return (BfMsg){ .type = BF_FRAME_PING, .u.ping.opaque = v };
}

static void
expect_ping(BfConn *c, uint64_t v)
{
  g_autoptr(GError) error = NULL;
  BfMsg m;

  g_assert_true(bf_conn_recv(c, &m, &error));
  g_assert_no_error(error);
  g_assert_cmpint(m.type, ==, BF_FRAME_PING);
  g_assert_cmpuint(m.u.ping.opaque, ==, v);
}

/* The owner's reader: one frame, which must be PING 99. */
static gpointer
read_one(gpointer data)
{
  expect_ping(data, 99);
  return NULL;
}

/* A frame posted while the owner waits for input goes out at once, and a
 * frame posted before it reads goes out before it reads. */
static void
test_posted_while_waiting(void)
{
  Pair pr;
  GThread *t;
  BfMsg m = ping(1);

  pair_init(&pr, 4096);
  t = g_thread_new("reader", read_one, pr.owner);
  g_assert_true(bf_conn_post(pr.owner, &m, NULL));
  expect_ping(pr.peer, 1);           /* written by the waiting reader */
  m = ping(2);
  g_assert_true(bf_conn_post(pr.owner, &m, NULL));
  m = ping(3);
  g_assert_true(bf_conn_post(pr.owner, &m, NULL));
  expect_ping(pr.peer, 2);
  expect_ping(pr.peer, 3);
  m = ping(99);
  g_assert_true(bf_conn_send(pr.peer, &m, NULL));
  g_thread_join(t);
  pair_clear(&pr);
}

/* Over the bound: the post fails at once with STALLED and the connection
 * is shut down (the peer reads what was flushed before, then EOF). */
static void
test_bound(void)
{
  g_autoptr(GError) error = NULL;
  Pair pr;
  BfMsg m = ping(7);
  unsigned posted = 0;
  BfMsg got;

  pair_init(&pr, 10 * (BF_HEADER_LEN + 8));
  while (bf_conn_post(pr.owner, &m, &error))
    posted++;
  g_assert_cmpuint(posted, ==, 10);
  g_assert_error(error, BF_NET_ERROR, BF_NET_ERROR_STALLED);
  g_clear_error(&error);
  g_assert_false(bf_conn_post(pr.owner, &m, &error));   /* and stays so */
  g_assert_error(error, BF_NET_ERROR, BF_NET_ERROR_STALLED);
  g_clear_error(&error);
  g_assert_false(bf_conn_recv(pr.peer, &got, &error));  /* shut down */
  g_assert_error(error, BF_NET_ERROR, BF_NET_ERROR_CLOSED);
  pair_clear(&pr);
}

/* Posted frames of a keyed connection are sealed when written, in order,
 * with the frames the owner sends itself. */
static void
test_sealed(void)
{
  static const uint8_t key[BF_SEAL_KEY_LEN] = { 1, 2, 3 };
  Pair pr;
  BfMsg m;

  pair_init(&pr, 4096);
  bf_conn_seal_tx(pr.owner, bf_seal_new(BF_AEAD_AES256_OCB, key));
  bf_conn_seal_rx(pr.peer, bf_seal_new(BF_AEAD_AES256_OCB, key));
  m = ping(10);
  g_assert_true(bf_conn_send(pr.owner, &m, NULL));
  for (uint64_t v = 11; v <= 13; v++) {
    m = ping(v);
    g_assert_true(bf_conn_post(pr.owner, &m, NULL));
  }
  g_assert_true(bf_conn_flush(pr.owner, NULL));
  m = ping(14);
  g_assert_true(bf_conn_send(pr.owner, &m, NULL));
  for (uint64_t v = 10; v <= 14; v++)
    expect_ping(pr.peer, v);
  pair_clear(&pr);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/conn/outbox/posted-while-waiting", test_posted_while_waiting);
  g_test_add_func("/conn/outbox/bound", test_bound);
  g_test_add_func("/conn/outbox/sealed", test_sealed);
  return g_test_run();
}
