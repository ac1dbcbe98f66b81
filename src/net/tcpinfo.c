/* TCP progress from the kernel. Apart from conn.c because glibc's
 * <netinet/tcp.h> lacks tcpi_bytes_acked and clashes with <linux/tcp.h>. */
#include "braidfs/conn.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

gboolean
bf_conn_tcp_progress(BfConn *c, uint64_t *bytes_acked, uint32_t *unacked)
{
  struct tcp_info ti = { 0 };
  socklen_t len = sizeof ti;

  if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
      len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked)
    return FALSE;
  *bytes_acked = ti.tcpi_bytes_acked;
  *unacked = ti.tcpi_unacked;
  return TRUE;
}
