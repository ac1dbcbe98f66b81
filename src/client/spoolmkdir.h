/* The spool's record of directories made with delivery=async that the
 * server has not confirmed yet: a mkdir(2) returns once its record is
 * durable here, as a close(2) returns once its file is (spool.h), and the
 * next mount on the spool makes those the killed one could not.
 *
 *   SPOOL/dirs   records from offset 0
 *
 * A record: "BFSDIR01", u32 mode, u16 name length, u16 zero, mac[32] (the
 * spool's MAC of the record's offset, mode and name), the name; the next
 * starts at the next multiple of 8. One that does not authenticate (torn
 * by a crash before its mkdir(2) returned) ends the list. Confirmed, it is
 * marked dead in place ("BFSDIRD1" over its magic, unsynced), and the file
 * is emptied once none is live. A dead mark lost in a power cut makes the
 * directory once more on the next mount, which is harmless unless it was
 * removed since (then it comes back, empty). Private to the client. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "spooldir.h"

typedef struct BfcSpoolDirs BfcSpoolDirs;

/* A live record found by bfc_spool_dirs_open, oldest first; rec names it
 * for bfc_spool_dirs_done. */
typedef void (*BfcSpoolDirsFn)(const char *name, uint32_t mode, uint64_t rec,
                               gpointer user);

/* Opens (or makes) d's record of directories and calls fn for each live
 * one. NULL with error if it cannot be read. */
BfcSpoolDirs *bfc_spool_dirs_open(const BfcSpoolDir *d, BfcSpoolDirsFn fn,
                                  gpointer user, GError **error);
void bfc_spool_dirs_free(BfcSpoolDirs *ds);
/* Appends the record of name (mode) and syncs it; *rec names it. FALSE
 * with error (G_FILE_ERROR, naming the spool). */
gboolean bfc_spool_dirs_add(BfcSpoolDirs *ds, const char *name, uint32_t mode,
                            uint64_t *rec, GError **error);
/* The server made it (or refused it for good): the record goes. */
void bfc_spool_dirs_done(BfcSpoolDirs *ds, uint64_t rec);
/* How many records are live. */
unsigned bfc_spool_dirs_live(BfcSpoolDirs *ds);
