/* Group commit: the one way complete files enter a session's data/, a
 * batch at a time with shared fsyncs (the data of all, then their
 * renames in order, then each directory once). The store's path
 * primitives (store.h) open the directories. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* What a file's commit into data/ replaced (for the session's totals). */
typedef struct {
  gboolean replaced;          /* a regular file of that name was there */
  uint64_t old_size;
} BfdReplaced;

/* One complete file to move into a session's data/ (tmp_fd/tmpname, open
 * as fd) as name, with mode and mtime. what names it in the error
 * ("cannot store WHAT: ..."). */
typedef struct {
  int tmp_fd, data_fd;
  const char *tmpname;
  int fd;
  const char *name;
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  const char *what;
  /* out */
  BfdReplaced replaced;
  GError *error;              /* NULL: stored; set before: left alone */
} BfdCommitFile;

/* Threads that run a batch's fsyncs at the same time, so that the file
 * system's journal commits them together. */
typedef struct BfdSyncer BfdSyncer;
BfdSyncer *bfd_syncer_new(guint threads);
/* Waits for nothing: no batch may be under way. */
void bfd_syncer_free(BfdSyncer *sy);

/* The renames of several batches committed at once keep their order:
 * wait() returns when this batch's turn has come, done() passes it on. */
typedef struct {
  void (*wait)(gpointer user);
  void (*done)(gpointer user);
  gpointer user;
} BfdRenameTurn;

/* Group commit: makes a batch of complete files durable in their
 * data/ directories with shared work. First the data of all (writeback
 * started for all, then all fsynced at once on sy's threads), then, in
 * its turn, each renamed into place in the array's order, then each
 * distinct directory fsynced once (all at once). A file whose error is
 * set is left alone; a file that fails gets its error; the others are
 * durable in data/ when this returns. */
void bfd_commit_batch(BfdSyncer *sy, BfdCommitFile *files, guint n,
                      const BfdRenameTurn *turn);
