/* The client's spool: a directory on a local disk that holds every file
 * written with delivery=async until the server has stored it, and the
 * session it is delivered into, so that neither a crash of the client nor
 * an unmount loses a file whose close(2) succeeded.
 *
 *   SPOOL/lock              flock'd by the mount using the spool
 *   SPOOL/session           key file: server, session id, attach token and
 *                           the lowest item/op id the next mount may use,
 *                           and their MAC
 *   SPOOL/items/<seq>.item  one file: an 8 KiB header, then its bytes
 *   SPOOL/failed/<seq>.item files the server refused for good, or whose
 *                           header does not authenticate
 *   SPOOL.key               beside the spool: the key of the MACs
 *
 * How the spool is opened, and why nobody else can make the mount act on
 * it, is in spooldir.h.
 *
 * A file is committed by close(2): its header (name, mode, mtime, size,
 * SHA-256 of the bytes, MAC) is written and the file fdatasync'd. Files are
 * made ahead in batches, one directory fsync each, so that a close costs
 * one sync. A header is trusted only when its MAC and the digest of the
 * bytes both match, so a crash at any point leaves either the committed
 * version or nothing the writer was told was kept. Private to the client. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

#include "braidfs/wire.h"

typedef struct BfcSpool BfcSpool;

typedef struct {
  BfcSpool *sp;               /* the spool it is in */
  uint64_t seq;               /* its file name in items/ */
  int fd;
  gboolean committed;         /* a header was written: close(2) succeeded */
  gboolean dirty;             /* written since the last commit */
  /* A write or truncate that would change bytes of the committed version
   * moves the writing to a copy (seq, fd above), so that the version a
   * close(2) promised stays whole on disk until the next commit replaces
   * it: a crash, or a release without a new commit, falls back to it.
   * -1 when there is none. Appends need no copy: recovery and delivery
   * read only the committed size. */
  int kept_fd;
  uint64_t kept_seq;
  GMutex lock;                /* fd, seq, kept_*, dirty against writers */
  /* the header's fields (written by commit and update) */
  char *name;
  uint32_t mode;
  struct timespec mtime;
  uint64_t size;
  /* The id of a delivery attempt whose outcome is unknown (0 = none): after
   * a crash the next mount announces the item under it again, so that the
   * server answers with what it already has instead of storing it twice. */
  uint64_t item_id;
  uint8_t digest[BF_DIGEST_LEN];
} BfcSpoolFile;

typedef struct {
  char *server;               /* "host:port" it was made with */
  uint8_t id[BF_ID_LEN];
  uint8_t token[BF_ID_LEN];
  uint64_t id_floor;          /* item and op ids start above this */
} BfcSpoolSession;

/* Creates the directory layout if needed, checks that nobody else can
 * change it (spooldir.h), and locks it against a second mount. */
BfcSpool *bfc_spool_open(const char *dir, GError **error);
void bfc_spool_close(BfcSpool *sp);
const char *bfc_spool_dir(BfcSpool *sp);

/* FALSE when the spool holds no session (a first mount), or none that
 * authenticates (logged); FALSE with *error set when its session file
 * cannot be read (not a regular file of the user's, ...). */
gboolean bfc_spool_load_session(BfcSpool *sp, BfcSpoolSession *out,
                                GError **error);
gboolean bfc_spool_save_session(BfcSpool *sp, const BfcSpoolSession *ss,
                                GError **error);
void bfc_spool_session_clear(BfcSpoolSession *ss);

BfcSpoolFile *bfc_spool_file_new(BfcSpool *sp, const char *name, uint32_t mode,
                                 GError **error);
void bfc_spool_file_free(BfcSpoolFile *f);
/* These return 0 or -errno. */
int bfc_spool_file_write(BfcSpoolFile *f, const void *buf, size_t len,
                         uint64_t off);
int bfc_spool_file_truncate(BfcSpoolFile *f, uint64_t size);
ssize_t bfc_spool_file_read(BfcSpoolFile *f, void *buf, size_t len,
                            uint64_t off);
uint64_t bfc_spool_file_size(BfcSpoolFile *f);
/* Makes the file's bytes and header durable (and drops a kept version). */
int bfc_spool_file_commit(BfcSpoolFile *f);
/* Drops what was written since the last commit: the file is again the
 * version that commit made. For a committed file whose writers are gone. */
void bfc_spool_file_revert(BfcSpoolFile *f);
/* Rewrites the header after a change of name, mode or mtime; durable. */
int bfc_spool_file_update(BfcSpoolFile *f);
/* Records the id of a delivery attempt. Not synced: it guards against a
 * crash of the process, and after a power loss a second copy of the same
 * bytes under the same name is the worst outcome. */
void bfc_spool_file_note_id(BfcSpoolFile *f, uint64_t item_id);
/* Delivered or abandoned: the file goes (f is freed). */
void bfc_spool_file_remove(BfcSpoolFile *f);
/* Refused for good: moved to failed/ (f is freed). Returns its new path. */
char *bfc_spool_file_fail(BfcSpoolFile *f);

/* Every committed file, oldest first. Files without a header, or whose
 * bytes do not match it (their writer never had its close(2) succeed), are
 * removed; files whose header does not authenticate are moved to failed/;
 * both with a log line. */
GPtrArray *bfc_spool_recover(BfcSpool *sp);
