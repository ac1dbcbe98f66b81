/* Admission of new connections, per source address, before they have
 * proved anything.
 *
 * Each accepted connection gets a thread until its handshake ends, so the
 * connections still in the handshake are capped, in all and per source
 * address (over the cap a connection is closed at once). Each handshake
 * also takes a token from its address's bucket (attach_rate per second, up
 * to attach_burst); a successful ATTACH gives it back, so a client's own
 * paths never run it dry, while new sessions, failures and junk do; an
 * ATTACH with an unknown session or a wrong token costs ATTACH_FAIL_COST
 * more, so guessing tokens is slow. Over the rate the handshake is
 * answered with WELCOME status LIMIT. The refusals are logged at most once
 * a second per kind, with a count of those not logged, so that a flood
 * cannot flood the log.
 *
 * IPv6 sources count per /56: one host can hold a whole /64, and one
 * site (a home, a small office) usually gets a /56 or more.
 *
 * Room for known clients: over either cap a connection is not closed at
 * once if a reserve seat is free (a quarter of max_handshakes more, one
 * per source). It gets a short deadline and only an ATTACH to a known
 * session with its token (handshake.c), so idle connections that fill the
 * handshake slots do not keep a client's paths from re-attaching. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "braidfs/log.h"
#include "braidfs/tsa.h"
#include "bucket.h"

#define ATTACH_FAIL_COST 4.0
#define PRUNE_AT 1024          /* sources remembered before pruning idle ones */
#define SOURCES_MAX 65536      /* and never more than this */

typedef struct {
  unsigned pending;          /* its connections still in the handshake */
  unsigned reserved;         /* of those, on a reserve seat (0 or 1) */
  BfdBucket bucket;
} BfdSource;

typedef struct {
  const char *what;          /* the kind, for the count of those not logged */
  gint64 last;               /* when a line of this kind was last logged */
  unsigned suppressed;       /* lines not logged since */
} BfdLogGate;

struct BfdGate {
  BfMutex lock;              /* guards everything below */
  BfdLimits limits;
  unsigned pending;          /* all connections still in the handshake */
  unsigned reserved;         /* of those, on reserve seats */
  GHashTable *sources;       /* key -> BfdSource */
  BfdLogGate log_full, log_rate;
};

BfdGate *
bfd_gate_new(const BfdLimits *limits)
{
  BfdGate *g = g_new0(BfdGate, 1);

  bf_mutex_init(&g->lock);
  g->limits = *limits;
  g->sources = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g->log_full.what = "connections closed at once (max_handshakes, "
                     "max_handshakes_per_addr)";
  g->log_rate.what = "handshakes refused (attach_rate)";
  return g;
}

void
bfd_gate_free(BfdGate *g)
{
  if (g == NULL)
    return;
  g_hash_table_unref(g->sources);
  bf_mutex_clear(&g->lock);
  g_free(g);
}

char *
bfd_gate_key(const struct sockaddr *sa)
{
  char buf[INET6_ADDRSTRLEN];

  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return g_strdup(inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf));
  }
  if (sa->sa_family == AF_INET6) {
    struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a))
      return g_strdup(inet_ntop(AF_INET, a.s6_addr + 12, buf, sizeof buf));
    memset(a.s6_addr + 7, 0, 9);
    return g_strdup_printf("%s/56", inet_ntop(AF_INET6, &a, buf, sizeof buf));
  }
  return g_strdup("?");
}

/* Logs the count of lines a gate held back, once their second is over.
 * Called with the gate's lock held. */
static void
log_flush(BfdLogGate *lg, gint64 now)
{
  if (lg->suppressed > 0 && now - lg->last >= G_USEC_PER_SEC) {
    g_warning("%u more %s since the last such line", lg->suppressed, lg->what);
    lg->suppressed = 0;
    lg->last = now;
  }
}

/* At most one line a second of each kind; called with the gate's lock
 * held. */
static void G_GNUC_PRINTF(3, 4)
gate_log(BfdLogGate *lg, const char *peer, const char *fmt, ...)
{
  gint64 now = g_get_monotonic_time();
  va_list ap;

  if (lg->last != 0 && now - lg->last < G_USEC_PER_SEC) {
    lg->suppressed++;
    return;
  }
  log_flush(lg, now);
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  bf_log(G_LOG_LEVEL_WARNING, &(BfLogFields){ .peer = peer }, "%s", msg);
  lg->last = now;
}

void
bfd_gate_tick(BfdGate *g)
{
  gint64 now = g_get_monotonic_time();

  bf_mutex_lock(&g->lock);
  log_flush(&g->log_full, now);
  log_flush(&g->log_rate, now);
  bf_mutex_unlock(&g->lock);
}

static gboolean
idle_source(gpointer key, gpointer value, gpointer data)
{
  BfdGate *g = data;
  BfdSource *src = value;

  (void)key;
  return src->pending == 0 && src->reserved == 0 &&
         bfd_bucket_full(&src->bucket, g->limits.attach_rate,
                         g->limits.attach_burst, g_get_monotonic_time());
}

/* NULL when too many sources are remembered. */
static BfdSource *source_locked(BfdGate *g, const char *key)
  BF_REQUIRES(&g->lock);

static BfdSource *
source_locked(BfdGate *g, const char *key)
{
  BfdSource *src = g_hash_table_lookup(g->sources, key);

  if (src != NULL)
    return src;
  if (g_hash_table_size(g->sources) >= PRUNE_AT)
    g_hash_table_foreach_remove(g->sources, idle_source, g);
  if (g_hash_table_size(g->sources) >= SOURCES_MAX)
    return NULL;
  src = g_new0(BfdSource, 1);
  bfd_bucket_init(&src->bucket, g->limits.attach_burst, g_get_monotonic_time());
  g_hash_table_insert(g->sources, g_strdup(key), src);
  return src;
}

/* A reserve seat for src if one is free: FALSE otherwise. */
static gboolean
reserve_locked(BfdGate *g, BfdSource *src) BF_REQUIRES(&g->lock)
{
  if (src == NULL || src->reserved > 0 ||
      g->reserved >= MAX(1u, g->limits.max_handshakes / 4))
    return FALSE;
  src->reserved++;
  g->reserved++;
  return TRUE;
}

BfdGateSeat
bfd_gate_enter(BfdGate *g, const char *key, const char *peer)
{
  BfdSource *src;
  BfdGateSeat seat = BFD_GATE_REFUSED;

  bf_mutex_lock(&g->lock);
  src = source_locked(g, key);
  if (src == NULL)
    gate_log(&g->log_full, peer, "closing connection from %s at once: %u "
             "source addresses are in the handshake", peer, SOURCES_MAX);
  else if (g->pending - g->reserved < g->limits.max_handshakes &&
           src->pending - src->reserved < g->limits.max_handshakes_per_addr) {
    src->pending++;
    g->pending++;
    seat = BFD_GATE_IN;
  } else if (reserve_locked(g, src)) {
    src->pending++;
    g->pending++;
    seat = BFD_GATE_RESERVE;
  } else if (g->pending - g->reserved >= g->limits.max_handshakes) {
    gate_log(&g->log_full, peer, "closing connection from %s at once: %u "
             "connections are in the handshake (max_handshakes)", peer,
             g->pending);
  } else {
    gate_log(&g->log_full, peer, "closing connection from %s at once: %u "
             "connections from %s are in the handshake "
             "(max_handshakes_per_addr)", peer, src->pending, key);
  }
  if (src != NULL && seat == BFD_GATE_REFUSED &&
      idle_source(NULL, src, g))
    g_hash_table_remove(g->sources, key);
  bf_mutex_unlock(&g->lock);
  return seat;
}

void
bfd_gate_leave(BfdGate *g, const char *key, BfdGateSeat seat)
{
  BfdSource *src;

  bf_mutex_lock(&g->lock);
  src = g_hash_table_lookup(g->sources, key);
  if (src != NULL && src->pending > 0) {
    src->pending--;
    g->pending--;
    if (seat == BFD_GATE_RESERVE && src->reserved > 0) {
      src->reserved--;
      g->reserved--;
    }
    if (idle_source(NULL, src, g))
      g_hash_table_remove(g->sources, key);
  }
  bf_mutex_unlock(&g->lock);
}

gboolean
bfd_gate_attempt(BfdGate *g, const char *key, const char *peer)
{
  BfdSource *src;
  gboolean ok = TRUE;

  bf_mutex_lock(&g->lock);
  src = g_hash_table_lookup(g->sources, key);
  if (src != NULL &&
      !bfd_bucket_take(&src->bucket, g->limits.attach_rate,
                       g->limits.attach_burst, 1.0, g_get_monotonic_time())) {
    gate_log(&g->log_rate, peer, "refusing handshake from %s: more than %u "
             "handshakes a second from %s (attach_rate, attach_burst %u)", peer,
             g->limits.attach_rate, key, g->limits.attach_burst);
    ok = FALSE;
  }
  bf_mutex_unlock(&g->lock);
  return ok;
}

static void
gate_charge(BfdGate *g, const char *key, double cost)
{
  BfdSource *src;

  bf_mutex_lock(&g->lock);
  src = g_hash_table_lookup(g->sources, key);
  if (src != NULL)
    bfd_bucket_charge(&src->bucket, g->limits.attach_rate,
                      g->limits.attach_burst, cost, g_get_monotonic_time());
  bf_mutex_unlock(&g->lock);
}

void
bfd_gate_attach_result(BfdGate *g, const char *key, gboolean ok)
{
  gate_charge(g, key, ok ? -1.0 : ATTACH_FAIL_COST);
}
