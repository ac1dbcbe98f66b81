/* The spool's record of what delivery=async did to directories that the
 * server has not confirmed yet: a mkdir(2), or a chmod(2) or utimensat(2)
 * of a directory, returns once its record is durable here, as a close(2)
 * returns once its file is (spool.h), and the next mount on the spool
 * does what the killed one could not.
 *
 *   SPOOL/dirs   records from offset 0
 *
 * A record: "BFSDIR01", u8 kind (BFC_DIR_MKDIR, BFC_DIR_SETATTR), u8 flags
 * (BF_SETATTR_*), u16 name length, u32 mode, i64 mtime seconds, u32 mtime
 * nanoseconds, u32 zero, mac[32] (the spool's MAC of the record's offset,
 * the fields and the name), the name; the next starts at the next
 * multiple of 8. One that does not authenticate (torn
 * by a crash before its mkdir(2) returned) ends the list. Confirmed, it is
 * marked dead in place ("BFSDIRD1" over its magic, unsynced), and the file
 * is emptied once none is live. A dead mark lost in a power cut makes the
 * directory once more on the next mount, which is harmless unless it was
 * removed since (then it comes back, empty). Private to the client. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

#include "spooldir.h"

typedef struct BfcSpoolDirs BfcSpoolDirs;

enum { BFC_DIR_MKDIR = 1, BFC_DIR_SETATTR = 2 };

/* What one record holds. */
typedef struct {
  uint8_t kind;
  uint8_t flags;              /* BF_SETATTR_*, for BFC_DIR_SETATTR */
  uint32_t mode;
  struct timespec mtime;
  const char *name;
} BfcDirOp;

/* A live record found by bfc_spool_dirs_open, oldest first; rec names it
 * for bfc_spool_dirs_done. */
typedef void (*BfcSpoolDirsFn)(const BfcDirOp *op, uint64_t rec,
                               gpointer user);

/* Opens (or makes) d's record of directories and calls fn for each live
 * one. NULL with error if it cannot be read. */
BfcSpoolDirs *bfc_spool_dirs_open(const BfcSpoolDir *d, BfcSpoolDirsFn fn,
                                  gpointer user, GError **error);
void bfc_spool_dirs_free(BfcSpoolDirs *ds);
/* Appends the record of op and syncs it; *rec names it. FALSE with error
 * (G_FILE_ERROR, naming the spool). */
gboolean bfc_spool_dirs_add(BfcSpoolDirs *ds, const BfcDirOp *op,
                            uint64_t *rec, GError **error);
/* The server did it (or refused it for good): the record goes. */
void bfc_spool_dirs_done(BfcSpoolDirs *ds, uint64_t rec);
/* How many records are live. */
unsigned bfc_spool_dirs_live(BfcSpoolDirs *ds);
