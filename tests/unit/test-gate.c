/* Unit tests for braidfsd's admission of connections before their
 * handshake (src/server/ratelimit.c): which key a source counts under, the
 * caps, and the reserve seats kept for known clients. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static char *
key6(const char *addr)
{
  struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

  g_assert_cmpint(inet_pton(AF_INET6, addr, &sa.sin6_addr), ==, 1);
  return bfd_gate_key((struct sockaddr *)&sa);
}

static void
test_key(void)
{
  g_autofree char *a = key6("2001:db8:0:1::1");
  g_autofree char *b = key6("2001:db8:0:ff:1234::9");
  g_autofree char *c = key6("2001:db8:0:100::1");
  g_autofree char *m = key6("::ffff:192.0.2.7");

  g_assert_cmpstr(a, ==, "2001:db8::/56");     /* one /56 */
  g_assert_cmpstr(a, ==, b);
  g_assert_cmpstr(c, ==, "2001:db8:0:100::/56"); /* the next /56 */
  g_assert_cmpstr(m, ==, "192.0.2.7");
}

static void
test_reserve(void)
{
  BfdLimits l = { .max_handshakes = 8, .max_handshakes_per_addr = 3,
                  .attach_rate = 20, .attach_burst = 40 };
  BfdGate *g = bfd_gate_new(&l);
  char key[32];

  /* One source: 3 slots, then its one reserve seat, then nothing. */
  for (int i = 0; i < 3; i++)
    g_assert_cmpint(bfd_gate_enter(g, "a", "a:1"), ==, BFD_GATE_IN);
  g_assert_cmpint(bfd_gate_enter(g, "a", "a:1"), ==, BFD_GATE_RESERVE);
  g_assert_cmpint(bfd_gate_enter(g, "a", "a:1"), ==, BFD_GATE_REFUSED);
  /* The seat is given back with its handshake. */
  bfd_gate_leave(g, "a", BFD_GATE_RESERVE);
  g_assert_cmpint(bfd_gate_enter(g, "a", "a:1"), ==, BFD_GATE_RESERVE);
  /* Others fill the rest of max_handshakes (8: 3 + 3 + 2). */
  for (int i = 0; i < 3; i++)
    g_assert_cmpint(bfd_gate_enter(g, "b", "b:1"), ==, BFD_GATE_IN);
  for (int i = 0; i < 2; i++)
    g_assert_cmpint(bfd_gate_enter(g, "c", "c:1"), ==, BFD_GATE_IN);
  /* Full: a new source still gets a reserve seat (max_handshakes / 4 = 2
   * of them, one is a's), then none is left. */
  g_assert_cmpint(bfd_gate_enter(g, "d", "d:1"), ==, BFD_GATE_RESERVE);
  g_assert_cmpint(bfd_gate_enter(g, "e", "e:1"), ==, BFD_GATE_REFUSED);
  /* A handshake slot freed is a slot again, not a reserve seat. */
  bfd_gate_leave(g, "b", BFD_GATE_IN);
  g_assert_cmpint(bfd_gate_enter(g, "e", "e:1"), ==, BFD_GATE_IN);
  /* Many sources: nothing over the caps and the reserve. */
  for (int i = 0; i < 100; i++) {
    g_snprintf(key, sizeof key, "x%d", i);
    g_assert_cmpint(bfd_gate_enter(g, key, key), ==, BFD_GATE_REFUSED);
  }
  bfd_gate_free(g);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Refusals are logged as warnings, which GTest makes fatal. */
  g_log_set_always_fatal(G_LOG_FATAL_MASK);
  g_test_add_func("/gate/key", test_key);
  g_test_add_func("/gate/reserve", test_reserve);
  return g_test_run();
}
