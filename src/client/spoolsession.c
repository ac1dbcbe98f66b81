/* The spool's session file (spoolsession.h). */
#include "spoolsession.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "braidfs/bytes.h"
#include "braidfs/parse.h"

#define MAC_SESSION "braidfs spool session v2"
#define SESSION_MAX 65536

static gboolean
hex_bytes(GKeyFile *kf, const char *key, uint8_t *out, size_t len)
{
  g_autofree char *hex = g_key_file_get_string(kf, "session", key, NULL);
  size_t got = 0;

  return hex != NULL &&
         sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) == 0 &&
         got == len;
}

static gboolean
hex_id(GKeyFile *kf, const char *key, uint8_t out[BF_ID_LEN])
{
  return hex_bytes(kf, key, out, BF_ID_LEN);
}

static void
session_mac(const BfcSpoolDir *d, const BfcSpoolSession *ss, uint8_t mac[BFC_SPOOL_MAC_LEN])
{
  crypto_generichash_state st;
  uint8_t floor[8];

  bf_store_le64(floor, ss->id_floor);
  bfc_spool_mac_init(d, &st, MAC_SESSION);
  crypto_generichash_update(&st, (const uint8_t *)ss->server,
                            strlen(ss->server) + 1);
  crypto_generichash_update(&st, ss->id, BF_ID_LEN);
  crypto_generichash_update(&st, ss->token, BF_ID_LEN);
  crypto_generichash_update(&st, floor, sizeof floor);
  crypto_generichash_final(&st, mac, BFC_SPOOL_MAC_LEN);
}

/* Its contents are never quoted in a message: a session file that is not
 * ours might be a link to somebody's secret. */
gboolean
bfc_spool_session_load(const BfcSpoolDir *d, BfcSpoolSession *out,
                       GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  uint8_t mac[BFC_SPOOL_MAC_LEN], want[BFC_SPOOL_MAC_LEN];
  g_autofree char *text = NULL;
  size_t len;
  int err;

  memset(out, 0, sizeof *out);
  text = bfc_spool_read_file(d->dir_fd, "session", SESSION_MAX, &len, &err);
  if (text == NULL && err == ENOENT)
    return FALSE;
  if (text == NULL) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                "spool %s: its session file %s; remove it", d->path,
                err == ELOOP ? "is not a regular file of yours (a symlink?)"
                : err == EFBIG ? "is too large" : g_strerror(err));
    return FALSE;
  }
  if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, NULL) ||
      (out->server = g_key_file_get_string(kf, "session", "server", NULL)) == NULL ||
      !hex_id(kf, "id", out->id) || !hex_id(kf, "token", out->token)) {
    g_warning("spool %s: ignoring a damaged session file; starting a new "
              "session", d->path);
    bfc_spool_session_clear(out);
    return FALSE;
  }
  out->id_floor = g_key_file_get_uint64(kf, "session", "id_floor", NULL);
  session_mac(d, out, want);
  if (!hex_bytes(kf, "mac", mac, sizeof mac) ||
      sodium_memcmp(mac, want, sizeof mac) != 0) {
    g_warning("spool %s: ignoring its session file: it does not authenticate "
              "with the spool's key (written by an older braidfs, or by "
              "someone else); starting a new session", d->path);
    bfc_spool_session_clear(out);
    return FALSE;
  }
  return TRUE;
}

gboolean
bfc_spool_session_save(const BfcSpoolDir *d, const BfcSpoolSession *ss,
                       GError **error)
{
  uint8_t mac[BFC_SPOOL_MAC_LEN];
  g_autofree char *id = bf_hex(ss->id, BF_ID_LEN);
  g_autofree char *token = bf_hex(ss->token, BF_ID_LEN);
  g_autofree char *mac_hex = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *text = NULL;
  gsize len;

  session_mac(d, ss, mac);
  mac_hex = bf_hex(mac, sizeof mac);
  g_key_file_set_string(kf, "session", "server", ss->server);
  g_key_file_set_string(kf, "session", "id", id);
  g_key_file_set_string(kf, "session", "token", token);
  g_key_file_set_uint64(kf, "session", "id_floor", ss->id_floor);
  g_key_file_set_string(kf, "session", "mac", mac_hex);
  text = g_key_file_to_data(kf, &len, NULL);
  if (!bfc_spool_write_file(d->dir_fd, "session", text, len, error)) {
    g_prefix_error(error, "spool %s: ", d->path);
    return FALSE;
  }
  return TRUE;
}

void
bfc_spool_session_clear(BfcSpoolSession *ss)
{
  g_clear_pointer(&ss->server, g_free);
  sodium_memzero(ss->token, sizeof ss->token);
}
