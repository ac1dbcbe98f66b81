/* The client's spool: a directory on a local disk that holds every file
 * written with delivery=async until the server has stored it, and the
 * session it is delivered into, so that neither a crash of the client nor
 * an unmount loses a file whose close(2) succeeded.
 *
 *   SPOOL/lock              flock'd by the mount using the spool
 *   SPOOL/session           key file: server, session id, attach token and
 *                           the lowest item/op id the next mount may use,
 *                           and their MAC
 *   SPOOL/items/<seq>.item  one file: two 6 KiB header slots, then its bytes
 *   SPOOL/items/<n>.log     log segments: small files' records, each the
 *                           only copy of its file (spoollog.h)
 *   SPOOL/dirs              directories made and not yet confirmed by the
 *                           server (spoolmkdir.h)
 *   SPOOL/failed/<seq>.item files the server refused for good, or whose
 *                           header does not authenticate
 *   SPOOL.key               beside the spool: the key of the MACs
 *
 * How the spool is opened, and why nobody else can make the mount act on
 * it, is in spooldir.h.
 *
 * A file is committed by close(2): its header (name, mode, mtime, size,
 * digest of the bytes, MAC) is written into the slot that does not hold
 * the last committed one, and the file fdatasync'd; or, for a small file
 * (up to BFC_SPOOL_LOG_MAX: it has no file of its own, its bytes are in
 * memory until then), a record of header and bytes is appended to the
 * log and the log fdatasync'd (cheaper: see spoollog.h). Files are made
 * ahead in batches, one directory fsync each, so that a close costs one
 * sync. A
 * header is trusted only when its MAC and the digest of the bytes both
 * match, so a crash or a power cut at any point, a second commit included,
 * leaves the last committed version (or nothing, before the first), never
 * less. Recovery removes a file only when that is proven, and a queued file
 * holds no descriptor (parked, opened again when needed). Private to the
 * client. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

#include "braidfs/tsa.h"
#include "braidfs/wire.h"
#include "spoolfmt.h"
#include "spoolsession.h"



/* Creates the directory layout if needed, checks that nobody else can
 * change it (spooldir.h), and locks it against a second mount. */
BfcSpool *bfc_spool_open(const char *dir, GError **error);
void bfc_spool_close(BfcSpool *sp);
const char *bfc_spool_dir(BfcSpool *sp);
/* Its directory, for the records kept beside the files (spoolmkdir.h). */
const BfcSpoolDir *bfc_spool_dir_of(BfcSpool *sp);

/* FALSE when the spool holds no session (a first mount), or none that
 * authenticates (logged); FALSE with *error set when its session file
 * cannot be read (not a regular file of the user's, ...). */
gboolean bfc_spool_load_session(BfcSpool *sp, BfcSpoolSession *out,
                                GError **error);
gboolean bfc_spool_save_session(BfcSpool *sp, const BfcSpoolSession *ss,
                                GError **error);

BfcSpoolFile *bfc_spool_file_new(BfcSpool *sp, const char *name, uint32_t mode,
                                 GError **error);
/* Makes a new file an append to the stored file of size bytes whose
 * digest (of alg) is digest: its bytes are those after it (spoolfmt.h).
 * Before its first write. */
void bfc_spool_file_set_base(BfcSpoolFile *f, uint64_t size, uint8_t alg,
                             const uint8_t digest[BF_DIGEST_LEN]);
void bfc_spool_file_free(BfcSpoolFile *f);
/* Failures are G_FILE_ERROR, with a message naming the file. */
gboolean bfc_spool_file_write(BfcSpoolFile *f, const void *buf, size_t len,
                              uint64_t off, GError **error)
  BF_EXCLUDES(&f->lock);
gboolean bfc_spool_file_truncate(BfcSpoolFile *f, uint64_t size,
                                 GError **error) BF_EXCLUDES(&f->lock);
/* Reads up to len bytes at off (fewer at the end): the count, or -1. */
gssize bfc_spool_file_read(BfcSpoolFile *f, void *buf, size_t len,
                           uint64_t off, GError **error) BF_EXCLUDES(&f->lock);
uint64_t bfc_spool_file_length(BfcSpoolFile *f);
/* Makes the file's bytes and header durable (and drops a kept version). */
gboolean bfc_spool_file_commit(BfcSpoolFile *f, GError **error)
  BF_EXCLUDES(&f->lock);
/* Closes the descriptor of a committed file with nothing uncommitted: a
 * queued file holds none (there may be thousands). Any use opens it
 * again. */
void bfc_spool_file_park(BfcSpoolFile *f) BF_EXCLUDES(&f->lock);
/* Drops what was written since the last commit: the file is again the
 * version that commit made. For a committed file whose writers are gone. */
void bfc_spool_file_revert(BfcSpoolFile *f) BF_EXCLUDES(&f->lock);
/* Changes the name (if not NULL), mode (BF_SETATTR_MODE) and/or mtime
 * (BF_SETATTR_MTIME); with durable, rewrites the header and syncs it (a
 * file whose writers are gone: else the next commit writes them). */
gboolean bfc_spool_file_edit(BfcSpoolFile *f, const char *name, uint8_t flags,
                             uint32_t mode, const struct timespec *mtime,
                             gboolean durable, GError **error)
  BF_EXCLUDES(&f->lock);
/* Records the id of a delivery attempt. Not synced: it guards against a
 * crash of the process, and after a power loss a second copy of the same
 * bytes under the same name is the worst outcome. A failure is logged. */
void bfc_spool_file_note_id(BfcSpoolFile *f, uint64_t item_id)
  BF_EXCLUDES(&f->lock);
/* Delivered or abandoned: the file goes (f is freed). */
void bfc_spool_file_remove(BfcSpoolFile *f);
/* Refused for good: moved to failed/ (f is freed). Returns its new path. */
char *bfc_spool_file_fail(BfcSpoolFile *f);

/* Every committed file, oldest first, parked. Files without a header, or
 * whose bytes match none (their writer never had its close(2) succeed),
 * are removed; files with a header that does not authenticate and none
 * that does are moved to failed/; both with a log line. If items/, a
 * segment of the log or a file cannot be listed or read now (too many
 * open files, permissions, an I/O error): NULL with an error naming it,
 * and what was not proven invalid stays for a mount that can read it. */
GPtrArray *bfc_spool_recover(BfcSpool *sp, GError **error);
