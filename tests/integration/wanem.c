/* wanem: a userspace WAN link for the tests and benchmarks (the test
 * kernel has no netem).
 *
 *   wanem [--seed N] [--slots N] [--tick US] [--realtime] [--die-with-parent]
 *         IF_A IF_B SPEC
 *
 * Bridges two Ethernet interfaces at layer 2 with AF_PACKET sockets: every
 * frame that arrives on IF_A leaves on IF_B (direction "up") and every
 * frame that arrives on IF_B leaves on IF_A ("down"), each direction
 * through its own link model. Both ends keep their IP addresses and ARP,
 * and TCP between them sees the real round trip, so its congestion and
 * receive windows are part of what a benchmark measures.
 *
 * SPEC, one value for both directions or UP/DOWN:
 *
 *   RATE[/RATE]:DELAY[/DELAY][:loss=PCT[/PCT]][:queue=BYTES[/BYTES]]
 *
 *   RATE   bit/s of Ethernet frames as tc counts them (header included,
 *          no FCS): 100mbit, 500kbit, 1gbit, 123 (bit/s); none = unlimited
 *   DELAY  one-way propagation delay: 40ms, 1.5ms, 250us, 0.6s, 0
 *   loss   each frame is lost with this probability, in percent (1%)
 *   queue  the bottleneck queue in bytes (64k, 1M); default 20 ms of the
 *          rate, at least 64 KiB. A frame that finds it full is dropped
 *
 * The model of one direction, per frame arriving at time t (the kernel's
 * receive timestamp, so a late read of ours does not count as queueing):
 * it waits behind the frames admitted before it, i.e. until the
 * serializer is free (busy_until); if the bytes still waiting there plus
 * its own exceed the queue, it is dropped; else it takes len*8/RATE on the
 * wire, may be lost there (it used its share of the rate all the same),
 * and is due DELAY after its last bit left. Due times never decrease, so
 * each direction is one FIFO of fixed-size slots (the delay line) sized
 * for the queue plus RATE*DELAY, twice over for small frames; a frame
 * that finds no slot is dropped and counted. No frame leaves before it is
 * due, so the emulator can only add delay; a busy link wakes up at most
 * every --tick (250 us) and sends what is due by then, so a frame leaves
 * at most a tick late (plus scheduling: --realtime runs it at SCHED_FIFO).
 *
 * Frames larger than a slot (GSO/GRO super-frames of up to 64 KiB) are
 * dropped and counted: the interfaces must have TSO/GRO and TX checksum
 * offload off (ethtool -K IF tso off gro off tx off; netns.sh does it).
 *
 * Prints "wanem: ready ..." once both sockets are bound, and counters on
 * SIGUSR1 and when it ends (SIGTERM, SIGINT):
 *   wanem: stats SEQ DIR frames=.. bytes=.. sent=.. drop_queue=..
 *          drop_loss=.. drop_line=.. drop_rx=.. drop_big=.. drop_send=..
 *          max_queue=.. max_slots=.. late_max_us=.. late_avg_us=..
 *   wanem: stats SEQ cpu_s=.. user_s=.. sys_s=.. wakeups=..
 * drop_rx counts frames the kernel dropped because we read too slowly,
 * late_* how long after its due time a frame left: both say whether the
 * emulator keeps up. cpu_s includes the receiving side's kernel work that
 * runs in our context when we hand a frame to a veth.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <glib.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define SLOT_BYTES 2048         /* a 1500-MTU frame with a VLAN tag fits */
#define BATCH 64                /* frames per recvmmsg/sendmmsg */
#define FRAME_BYTES 1514        /* a full frame, to size the delay line */
#define NS_PER_S 1000000000ull

typedef struct {
  guint64 rate_bps;             /* 0: unlimited */
  guint64 delay_ns;
  double loss;                  /* probability, 0..1 */
  guint64 queue_bytes;
} DirConf;

typedef struct {
  guint64 frames, bytes, sent;
  guint64 drop_queue, drop_loss, drop_line, drop_rx, drop_big, drop_send;
  guint64 max_queue;            /* bytes waiting for the serializer */
  guint64 max_slots;            /* frames held at once */
  guint64 late_max_ns, late_sum_ns;
} DirStats;

/* One direction: frames read from in_fd wait in a ring of slots (the
 * bottleneck queue and the delay line in one FIFO) until due, then leave
 * on out_fd. */
typedef struct {
  const char *name;
  DirConf conf;
  int in_fd, out_fd;
  guint8 *slots;                /* nslots * SLOT_BYTES */
  guint64 *due;                 /* CLOCK_MONOTONIC ns, per slot */
  guint16 *len;                 /* frame bytes, per slot */
  guint32 nslots, head, count;  /* FIFO: count slots from head, wrapping */
  guint64 busy_until;           /* the serializer is free from then on */
  guint64 last_arrival;         /* arrival times, made monotonic */
  DirStats st;
} Dir;

typedef struct {
  Dir dir[2];                   /* [0] up: a -> b, [1] down: b -> a */
  GRand *rng;
  guint8 scratch[BATCH][SLOT_BYTES];
  gboolean warned_big;
  unsigned stats_seq;
  guint64 wakeups;              /* epoll_wait returns */
} Wanem;

static guint64
clock_ns (clockid_t id)
{
  struct timespec ts;

  clock_gettime (id, &ts);
  return (guint64) ts.tv_sec * NS_PER_S + (guint64) ts.tv_nsec;
}

/* ------------------------------------------------------------ the spec */

/* parse_num "100mbit" -> 100, rest "mbit"; FALSE if no number */
static gboolean
parse_num (const char *s, double *v, const char **rest)
{
  char *end;

  errno = 0;
  *v = g_ascii_strtod (s, &end);
  if (end == s || errno != 0 || !isfinite (*v) || *v < 0)
    return FALSE;
  *rest = end;
  return TRUE;
}

static gboolean
parse_rate (const char *s, guint64 *out)
{
  static const struct { const char *unit; double mult; } units[] = {
    { "", 1 }, { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
  };
  const char *rest;
  double v;

  if (g_ascii_strcasecmp (s, "none") == 0) {
    *out = 0;
    return TRUE;
  }
  if (!parse_num (s, &v, &rest))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_ascii_strcasecmp (rest, units[i].unit) == 0 && v * units[i].mult < 1e12) {
      *out = (guint64) (v * units[i].mult);
      return TRUE;
    }
  return FALSE;
}

static gboolean
parse_delay (const char *s, guint64 *out)
{
  static const struct { const char *unit; double mult; } units[] = {
    { "", 1e6 }, { "ms", 1e6 }, { "us", 1e3 }, { "s", 1e9 },
  };
  const char *rest;
  double v;

  if (!parse_num (s, &v, &rest))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_ascii_strcasecmp (rest, units[i].unit) == 0 && v * units[i].mult <= 60e9) {
      *out = (guint64) llround (v * units[i].mult);
      return TRUE;
    }
  return FALSE;
}

static gboolean
parse_loss (const char *s, double *out)
{
  const char *rest;
  double v;

  if (!parse_num (s, &v, &rest) || (*rest && strcmp (rest, "%") != 0) || v > 100)
    return FALSE;
  *out = v / 100;
  return TRUE;
}

static gboolean
parse_bytes (const char *s, guint64 *out)
{
  const char *rest;
  double v, mult = 1;

  if (!parse_num (s, &v, &rest))
    return FALSE;
  switch (g_ascii_tolower (*rest)) {
  case '\0': break;
  case 'k': mult = 1024; break;
  case 'm': mult = 1024 * 1024; break;
  case 'g': mult = 1024.0 * 1024 * 1024; break;
  default: return FALSE;
  }
  if (*rest && (rest[1] != '\0' && g_ascii_strcasecmp (rest + 1, "b") != 0))
    return FALSE;
  if (v * mult > (double) (1ull << 40))
    return FALSE;
  *out = (guint64) (v * mult);
  return TRUE;
}

/* split_pair "A/B" -> "A", "B"; "A" -> "A", "A"; FALSE for more parts */
static gboolean
split_pair (const char *s, char **up, char **down)
{
  g_auto (GStrv) p = g_strsplit (s, "/", -1);
  guint n = g_strv_length (p);

  if (n != 1 && n != 2)
    return FALSE;
  *up = g_strdup (p[0]);
  *down = g_strdup (p[n - 1]);
  return TRUE;
}

static gboolean
parse_field (const char *field, DirConf conf[2], gboolean *queue_set)
{
  g_autofree char *key = NULL;
  g_autofree char *up = NULL;
  g_autofree char *down = NULL;
  const char *eq = strchr (field, '=');

  if (!eq || !split_pair (eq + 1, &up, &down))
    return FALSE;
  key = g_strndup (field, (gsize) (eq - field));
  if (strcmp (key, "loss") == 0)
    return parse_loss (up, &conf[0].loss) && parse_loss (down, &conf[1].loss);
  if (strcmp (key, "queue") == 0) {
    *queue_set = TRUE;
    return parse_bytes (up, &conf[0].queue_bytes) && parse_bytes (down, &conf[1].queue_bytes);
  }
  return FALSE;
}

static gboolean
parse_spec (const char *spec, DirConf conf[2], GError **error)
{
  g_auto (GStrv) f = g_strsplit (spec, ":", -1);
  g_autofree char *rate_up = NULL;
  g_autofree char *rate_down = NULL;
  g_autofree char *delay_up = NULL;
  g_autofree char *delay_down = NULL;
  guint n = g_strv_length (f);
  gboolean ok, queue_set = FALSE;

  memset (conf, 0, 2 * sizeof *conf);
  ok = n >= 2 && split_pair (f[0], &rate_up, &rate_down)
       && split_pair (f[1], &delay_up, &delay_down)
       && parse_rate (rate_up, &conf[0].rate_bps) && parse_rate (rate_down, &conf[1].rate_bps)
       && parse_delay (delay_up, &conf[0].delay_ns) && parse_delay (delay_down, &conf[1].delay_ns);
  for (guint i = 2; ok && i < n; i++)
    ok = parse_field (f[i], conf, &queue_set);
  if (!ok) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "cannot read the link spec '%s': expected RATE[/RATE]:DELAY[/DELAY]"
                 "[:loss=PCT[/PCT]][:queue=BYTES[/BYTES]], e.g. 100mbit:40ms or "
                 "50mbit/10mbit:300ms:loss=1%%:queue=256k", spec);
    return FALSE;
  }
  for (int d = 0; d < 2 && !queue_set; d++)
    conf[d].queue_bytes = MAX (conf[d].rate_bps / 8 / 50, 65536);
  return TRUE;
}

/* ------------------------------------------------------------ sockets */

/* open_if IFNAME: a raw packet socket on that interface alone, that does
 * not see the frames it sends, with kernel receive timestamps */
static int
open_if (const char *ifname, GError **error)
{
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons (ETH_P_ALL) };
  struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
  int one = 1, rcvbuf = 32 << 20, sndbuf = 8 << 20;
  int fd;

  sll.sll_ifindex = (int) if_nametoindex (ifname);
  if (sll.sll_ifindex == 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "no interface '%s' in this network namespace (%s)", ifname, g_strerror (errno));
    return -1;
  }
  mr.mr_ifindex = sll.sll_ifindex;
  /* protocol 0 until bound: no frames of other interfaces in between */
  fd = socket (AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0
      || setsockopt (fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0
      || setsockopt (fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0
      || setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0
      || setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0
      || bind (fd, (struct sockaddr *) &sll, sizeof sll) < 0
      || setsockopt (fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
    int e = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                 "cannot open a packet socket on %s: %s (wanem needs root, or "
                 "CAP_NET_RAW and CAP_NET_ADMIN, in the interface's namespace)",
                 ifname, g_strerror (e));
    if (fd >= 0)
      close (fd);
    return -1;
  }
  return fd;
}

/* --------------------------------------------------------- the model */

static void
dir_init (Dir *d, const char *name, const DirConf *conf, int in_fd, int out_fd, guint32 nslots)
{
  d->name = name;
  d->conf = *conf;
  d->in_fd = in_fd;
  d->out_fd = out_fd;
  if (nslots == 0) {
    /* what the queue and the line hold in full frames, twice over (small
     * frames), and room for bursts; an unlimited rate gets 64 MiB */
    double held = (double) conf->queue_bytes
                  + (double) conf->rate_bps / 8 * (double) conf->delay_ns / NS_PER_S;
    nslots = conf->rate_bps ? (guint32) MIN (2 * held / FRAME_BYTES + 1024, 1 << 20)
                            : (64u << 20) / SLOT_BYTES;
  }
  d->nslots = nslots;
  d->slots = g_malloc ((gsize) nslots * SLOT_BYTES);
  d->due = g_new (guint64, nslots);
  d->len = g_new (guint16, nslots);
}

static void
dir_free (Dir *d)
{
  g_free (d->slots);
  g_free (d->due);
  g_free (d->len);
}

/* dir_admit: a frame of len bytes arrived at t; queue, serialize, lose or
 * put it on the delay line */
static void
dir_admit (Wanem *w, Dir *d, const guint8 *frame, gsize len, guint64 t)
{
  guint64 start, due;
  guint32 slot;

  d->st.frames++;
  d->st.bytes += len;
  if (len > SLOT_BYTES) {
    d->st.drop_big++;
    if (!w->warned_big) {
      w->warned_big = TRUE;
      g_printerr ("wanem: dropped a frame of %zu bytes (%s): GSO/GRO super-frames reach "
                  "the emulator; turn offloads off on both ends "
                  "(ethtool -K IF tso off gro off tx off)\n", len, d->name);
    }
    return;
  }
  t = MAX (t, d->last_arrival);
  d->last_arrival = t;
  start = MAX (t, d->busy_until);
  if (d->conf.rate_bps) {
    guint64 waiting = (guint64) ((double) (start - t) * (double) d->conf.rate_bps / 8 / NS_PER_S);

    if (waiting > 0 && waiting + len > d->conf.queue_bytes) {
      d->st.drop_queue++;
      return;
    }
    d->st.max_queue = MAX (d->st.max_queue, waiting + len);
    d->busy_until = start + (guint64) ((double) len * 8 * NS_PER_S / (double) d->conf.rate_bps);
  } else {
    d->busy_until = start;
  }
  if (d->conf.loss > 0 && g_rand_double (w->rng) < d->conf.loss) {
    d->st.drop_loss++;
    return;
  }
  if (d->count == d->nslots) {
    d->st.drop_line++;
    return;
  }
  due = d->busy_until + d->conf.delay_ns;
  slot = (d->head + d->count) % d->nslots;
  memcpy (d->slots + (gsize) slot * SLOT_BYTES, frame, len);
  d->len[slot] = (guint16) len;
  d->due[slot] = due;
  d->count++;
  d->st.max_slots = MAX (d->st.max_slots, d->count);
}

/* arrival_ns: the kernel's receive timestamp of msg (CLOCK_REALTIME) on
 * the monotonic clock, or now if it has none */
static guint64
arrival_ns (struct msghdr *msg, gint64 real_to_mono, guint64 now)
{
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c; c = CMSG_NXTHDR (msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts;
      gint64 t;

      memcpy (&ts, CMSG_DATA (c), sizeof ts);
      t = (gint64) ts.tv_sec * (gint64) NS_PER_S + ts.tv_nsec + real_to_mono;
      return t > 0 && (guint64) t < now ? (guint64) t : now;
    }
  }
  return now;
}

static void
read_drops (Dir *d)
{
  struct tpacket_stats ps;
  socklen_t l = sizeof ps;

  /* reading them resets the kernel's counters */
  if (getsockopt (d->in_fd, SOL_PACKET, PACKET_STATISTICS, &ps, &l) == 0)
    d->st.drop_rx += ps.tp_drops;
}

/* dir_receive: read every frame waiting on the input; FALSE on a fatal
 * error (the interface is gone) */
static gboolean
dir_receive (Wanem *w, Dir *d)
{
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  union { char buf[CMSG_SPACE (sizeof (struct timespec))]; struct cmsghdr align; } ctl[BATCH];

  for (;;) {
    guint64 now;
    gint64 real_to_mono;
    int n;

    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec) { w->scratch[i], SLOT_BYTES };
      msgs[i].msg_hdr = (struct msghdr) { .msg_iov = &iov[i], .msg_iovlen = 1,
                                          .msg_control = ctl[i].buf,
                                          .msg_controllen = sizeof ctl[i].buf };
    }
    n = recvmmsg (d->in_fd, msgs, BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return TRUE;
      if (errno == EINTR)
        continue;
      g_printerr ("wanem: reading frames (%s): %s; stopping\n", d->name, g_strerror (errno));
      return FALSE;
    }
    now = clock_ns (CLOCK_MONOTONIC);
    real_to_mono = (gint64) now - (gint64) clock_ns (CLOCK_REALTIME);
    for (int i = 0; i < n; i++)
      dir_admit (w, d, w->scratch[i], msgs[i].msg_len,
                 arrival_ns (&msgs[i].msg_hdr, real_to_mono, now));
    if (n < BATCH)
      return TRUE;
  }
}

/* dir_send_due: send every frame due by now, in order */
static void
dir_send_due (Dir *d, guint64 now)
{
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];

  while (d->count > 0 && d->due[d->head] <= now) {
    int k = 0, n;

    while (k < BATCH && (guint32) k < d->count) {
      guint32 s = (d->head + (guint32) k) % d->nslots;

      if (d->due[s] > now)
        break;
      iov[k] = (struct iovec) { d->slots + (gsize) s * SLOT_BYTES, d->len[s] };
      msgs[k].msg_hdr = (struct msghdr) { .msg_iov = &iov[k], .msg_iovlen = 1 };
      k++;
    }
    n = sendmmsg (d->out_fd, msgs, (unsigned) k, MSG_DONTWAIT);
    if (n <= 0) {
      /* the first frame cannot go (ENOBUFS, the other end went away...):
       * it is lost, as on a wire; never spin on it */
      if (n < 0 && errno == EINTR)
        continue;
      d->st.drop_send++;
      n = 1;
    } else {
      for (int i = 0; i < n; i++) {
        guint64 late = now - d->due[(d->head + (guint32) i) % d->nslots];

        d->st.sent++;
        d->st.late_sum_ns += late;
        d->st.late_max_ns = MAX (d->st.late_max_ns, late);
      }
    }
    d->head = (d->head + (guint32) n) % d->nslots;
    d->count -= (guint32) n;
  }
}

static double
tv_s (const struct timeval *tv)
{
  return (double) tv->tv_sec + (double) tv->tv_usec / 1e6;
}

static void
print_stats (Wanem *w)
{
  struct rusage ru;

  w->stats_seq++;
  for (int i = 0; i < 2; i++) {
    Dir *d = &w->dir[i];
    DirStats *s = &d->st;

    read_drops (d);
    printf ("wanem: stats %u %s frames=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT
            " sent=%" G_GUINT64_FORMAT " drop_queue=%" G_GUINT64_FORMAT
            " drop_loss=%" G_GUINT64_FORMAT " drop_line=%" G_GUINT64_FORMAT
            " drop_rx=%" G_GUINT64_FORMAT " drop_big=%" G_GUINT64_FORMAT
            " drop_send=%" G_GUINT64_FORMAT " max_queue=%" G_GUINT64_FORMAT
            " max_slots=%" G_GUINT64_FORMAT " late_max_us=%" G_GUINT64_FORMAT
            " late_avg_us=%" G_GUINT64_FORMAT "\n",
            w->stats_seq, d->name, s->frames, s->bytes, s->sent, s->drop_queue,
            s->drop_loss, s->drop_line, s->drop_rx, s->drop_big, s->drop_send,
            s->max_queue, s->max_slots, s->late_max_ns / 1000,
            s->sent ? s->late_sum_ns / s->sent / 1000 : 0);
  }
  getrusage (RUSAGE_SELF, &ru);
  printf ("wanem: stats %u cpu_s=%.3f user_s=%.3f sys_s=%.3f wakeups=%" G_GUINT64_FORMAT "\n",
          w->stats_seq, tv_s (&ru.ru_utime) + tv_s (&ru.ru_stime), tv_s (&ru.ru_utime),
          tv_s (&ru.ru_stime), w->wakeups);
  fflush (stdout);
}

/* next_due: the earliest due time of a held frame, G_MAXUINT64 if none */
static guint64
next_due (const Wanem *w)
{
  guint64 next = G_MAXUINT64;

  for (int i = 0; i < 2; i++)
    if (w->dir[i].count > 0)
      next = MIN (next, w->dir[i].due[w->dir[i].head]);
  return next;
}

/* handle_signals: SIGUSR1 prints the counters; FALSE once told to end */
static gboolean
handle_signals (Wanem *w, int sfd)
{
  struct signalfd_siginfo si;

  while (read (sfd, &si, sizeof si) == (ssize_t) sizeof si) {
    if (si.ssi_signo != SIGUSR1)
      return FALSE;
    print_stats (w);
  }
  return TRUE;
}

/* wait_idle: nothing held; block until a frame or a signal arrives */
static void
wait_idle (int ep)
{
  struct epoll_event evs[4];

  if (epoll_wait (ep, evs, 4, -1) < 0 && errno != EINTR)
    g_printerr ("wanem: epoll_wait: %s\n", g_strerror (errno));
}

/* run: the loop; returns the exit status.
 *
 * Frames are held: sleep until the first is due, but at least tick after
 * the previous wake-up (so a busy link costs 1/tick wake-ups a second,
 * not one per frame; a frame leaves at most tick late) and at most
 * MAX_SLEEP_NS (arrivals are read late but keep their kernel timestamps;
 * the socket buffer absorbs them meanwhile). Nothing held: block on the
 * sockets, so an idle link costs nothing and the first frame is read at
 * once. */
#define MAX_SLEEP_NS 2000000ull

static int
run (Wanem *w, int sfd, guint64 tick_ns)
{
  int ep = epoll_create1 (EPOLL_CLOEXEC);
  int fds[3] = { w->dir[0].in_fd, w->dir[1].in_fd, sfd };
  guint64 last_wake = 0;

  if (ep < 0) {
    g_printerr ("wanem: epoll_create1: %s\n", g_strerror (errno));
    return 1;
  }
  for (int i = 0; i < 3; i++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (guint32) i };
    epoll_ctl (ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  for (;;) {
    guint64 due = next_due (w), now;

    if (due == G_MAXUINT64) {
      wait_idle (ep);
    } else {
      guint64 wake = MIN (MAX (due, last_wake + tick_ns), clock_ns (CLOCK_MONOTONIC) + MAX_SLEEP_NS);
      struct timespec ts = { (time_t) (wake / NS_PER_S), (long) (wake % NS_PER_S) };

      while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    }
    w->wakeups++;
    last_wake = clock_ns (CLOCK_MONOTONIC);
    if (!handle_signals (w, sfd))
      break;
    if (!dir_receive (w, &w->dir[0]) || !dir_receive (w, &w->dir[1])) {
      close (ep);
      return 1;
    }
    now = clock_ns (CLOCK_MONOTONIC);
    dir_send_due (&w->dir[0], now);
    dir_send_due (&w->dir[1], now);
  }
  close (ep);
  return 0;
}

static void
describe (const Dir *d)
{
  g_autofree char *rate = d->conf.rate_bps
    ? g_strdup_printf ("%.6g Mbit/s", (double) d->conf.rate_bps / 1e6) : g_strdup ("unlimited");

  printf (" %s: rate %s, delay %.3f ms, loss %.4g %%, queue %" G_GUINT64_FORMAT
          " bytes, %u slots;", d->name, rate, (double) d->conf.delay_ns / 1e6,
          d->conf.loss * 100, d->conf.queue_bytes, d->nslots);
}

static gboolean
check_args (int argc, char **argv, gint slots, DirConf conf[2], GError **error)
{
  if (argc != 4) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "expected IF_A IF_B SPEC (see --help)");
    return FALSE;
  }
  if (slots < 0) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--slots must not be negative");
    return FALSE;
  }
  return parse_spec (argv[3], conf, error);
}

int
main (int argc, char **argv)
{
  gint64 seed = 1;
  gint slots = 0;
  gint tick_us = 250;
  gboolean die_with_parent = FALSE, realtime = FALSE;
  GOptionEntry entries[] = {
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "seed of the loss draws (default 1)", "N" },
    { "slots", 0, 0, G_OPTION_ARG_INT, &slots, "frames each direction holds (default: from the spec)", "N" },
    { "tick", 0, 0, G_OPTION_ARG_INT, &tick_us,
      "at least this long between two wake-ups of a busy link (default 250)", "US" },
    { "realtime", 0, 0, G_OPTION_ARG_NONE, &realtime,
      "run at a real-time priority (SCHED_FIFO 10), so that a busy machine delays frames less", NULL },
    { "die-with-parent", 0, 0, G_OPTION_ARG_NONE, &die_with_parent,
      "end with the process that started it", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("IF_A IF_B SPEC");
  g_autoptr (GError) error = NULL;
  Wanem *w;
  DirConf conf[2];
  sigset_t sigs;
  int a, b, sfd, status;

  g_option_context_set_summary (ctx,
    "Bridges IF_A and IF_B at layer 2, each direction through a rate limit, a\n"
    "bounded queue, random loss and a delay. SPEC (UP = A->B / DOWN = B->A):\n"
    "  RATE[/RATE]:DELAY[/DELAY][:loss=PCT[/PCT]][:queue=BYTES[/BYTES]]\n"
    "e.g. 100mbit:40ms, 50mbit:300ms:loss=1%, none:5ms/20ms:queue=256k");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !check_args (argc, argv, slots, conf, &error)) {
    g_printerr ("wanem: %s\n", error->message);
    return 2;
  }
  if (die_with_parent && (prctl (PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid () == 1))
    return 1;
  /* release frames close to their due time rather than coalesced */
  prctl (PR_SET_TIMERSLACK, 10000UL);
  if (realtime) {
    struct sched_param sp = { .sched_priority = 10 };

    if (sched_setscheduler (0, SCHED_FIFO, &sp) < 0)
      g_printerr ("wanem: cannot run at a real-time priority (%s): frames may be late "
                  "on a busy machine\n", g_strerror (errno));
  }
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGUSR1);
  sigprocmask (SIG_BLOCK, &sigs, NULL);
  sfd = signalfd (-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  a = open_if (argv[1], &error);
  b = a < 0 ? -1 : open_if (argv[2], &error);
  if (sfd < 0 || b < 0) {
    g_printerr ("wanem: %s\n", error ? error->message : g_strerror (errno));
    return 1;
  }
  w = g_new0 (Wanem, 1);
  w->rng = g_rand_new_with_seed ((guint32) seed);
  dir_init (&w->dir[0], "up", &conf[0], a, b, (guint32) slots);
  dir_init (&w->dir[1], "down", &conf[1], b, a, (guint32) slots);
  printf ("wanem: ready %s<->%s;", argv[1], argv[2]);
  describe (&w->dir[0]);
  describe (&w->dir[1]);
  printf ("\n");
  fflush (stdout);
  status = run (w, sfd, (guint64) MAX (tick_us, 0) * 1000);
  print_stats (w);
  dir_free (&w->dir[0]);
  dir_free (&w->dir[1]);
  g_rand_free (w->rng);
  g_free (w);
  close (a);
  close (b);
  close (sfd);
  return status;
}
