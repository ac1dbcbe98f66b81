/* A path's answers and refusals (path.h). Nothing here blocks: answers go
 * to the connection's bounded outbox (conn.h), which the path's thread
 * sends. */
#include "path.h"

#include <stdarg.h>
#include <string.h>

#include "braidfs/text.h"

BfdPath *
bfd_path_new(BfdServer *srv, int fd, const char *src)
{
  BfdPath *p = g_new0(BfdPath, 1);

  p->refs = 1;
  p->srv = srv;
  p->conn = bf_conn_new(fd);
  p->conn->max_body = BFD_HELLO_BODY_MAX;
  bf_conn_outbox(p->conn, BFD_OUTBOX_MAX);
  bf_conn_set_send_timeout(p->conn, srv->limits.send_timeout_ms);
  p->src = g_strdup(src);
  p->local = bf_sock_name(fd, FALSE);
  p->scratch = g_byte_array_new();
  p->rebuilt = g_byte_array_new();
  return p;
}

BfdPath *
bfd_path_ref(BfdPath *p)
{
  g_atomic_int_inc(&p->refs);
  return p;
}

void
bfd_path_unref(BfdPath *p)
{
  if (p == NULL || !g_atomic_int_dec_and_test(&p->refs))
    return;
  g_warn_if_fail(p->sess == NULL);
  bf_conn_free(p->conn);
  g_byte_array_unref(p->scratch);
  g_byte_array_unref(p->rebuilt);
  g_free(p->session_name);
  g_free(p->local);
  g_free(p->src);
  g_free(p);
}

void
bfd_path_log_stalled(BfdPath *p, const GError *error)
{
  if (!g_atomic_int_compare_and_exchange(&p->stall_logged, 0, 1))
    return;
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p),
         "closing path %u from %s%s%s: %s; send_timeout %u s, answers queued "
         "at most %u bytes", p->index, p->conn->peer,
         p->session_name ? " of session " : "",
         p->session_name ? p->session_name : "", error->message,
         p->srv->limits.send_timeout_ms / 1000, BFD_OUTBOX_MAX);
}

gboolean
bfd_path_post(BfdPath *p, const BfMsg *m)
{
  g_autoptr(GError) error = NULL;

  if (bf_conn_post(p->conn, m, &error))
    return TRUE;
  if (g_error_matches(error, BF_NET_ERROR, BF_NET_ERROR_STALLED))
    bfd_path_log_stalled(p, error);
  else
    bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "path from %s: %s",
           p->conn->peer, error->message);
  return FALSE;
}

BfBytes
bfd_path_answer_text(const char *text, char **shown)
{
  *shown = bf_text_show(text != NULL ? text : "",
                        text != NULL ? strlen(text) : 0, BF_MSG_MAX);
  return (BfBytes){ (const uint8_t *)*shown, (uint16_t)strlen(*shown) };
}

void
bfd_path_item_ack(BfdPath *p, uint64_t id, uint8_t stage, uint8_t status,
                  const char *text, const uint8_t *proof)
{
  BfMsg m = { .type = BF_FRAME_ITEM_ACK };
  g_autofree char *shown = NULL;

  m.u.item_ack.item_id = id;
  m.u.item_ack.stage = stage;
  m.u.item_ack.status = status;
  m.u.item_ack.message = bfd_path_answer_text(text, &shown);
  if (proof != NULL)
    memcpy(m.u.item_ack.proof, proof, BF_PROOF_LEN);
  bfd_path_post(p, &m);
}

gboolean
bfd_path_chunk_ack(BfdPath *p, const BfChunk *c)
{
  BfMsg m = { .type = BF_FRAME_CHUNK_ACK };

  m.u.chunk_ack.item_id = c->item_id;
  m.u.chunk_ack.chunk_id = c->chunk_id;
  m.u.chunk_ack.share_index = c->share_index;
  return bfd_path_post(p, &m);
}

gboolean
bfd_path_refuse(BfdPath *p, uint8_t status, const char *fmt, ...)
{
  BfMsg m = { .type = BF_FRAME_ERROR };
  g_autofree char *shown = NULL;
  va_list ap;

  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  bf_log(G_LOG_LEVEL_WARNING, BFD_PATH_LOG(p), "closing path from %s%s%s: %s",
         p->conn->peer, p->session_name ? " of session " : "",
         p->session_name ? p->session_name : "", msg);
  m.u.error.status = status;
  m.u.error.message = bfd_path_answer_text(msg, &shown);
  bfd_path_post(p, &m);   /* sent before the path closes (dispatch.c) */
  return FALSE;
}

uint8_t *
bfd_path_buffer(GByteArray *buf, size_t len)
{
  if (buf->len < len)
    g_byte_array_set_size(buf, (guint)len);
  return buf->data;
}
