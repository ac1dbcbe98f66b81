/* The store on disk: session directories, and paths in them that never
 * follow a link (group commit, commit.h, moves files into data/ through
 * them). Knows nothing of sessions in memory.
 *
 * Path primitives (bfd_store_openat, bfd_store_open_parent,
 * bfd_store_remove_session) behave as the system calls they wrap: -1 (or
 * -errno) and errno, so that the FUSE view passes errno on as is; the rest
 * fail with a GError (status.h). */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "braidfs/wire.h"
#include "braidfs/flusher.h"

/* A session's directory in the store, open. */
typedef struct {
  char *name;                 /* YYYYMMDD-HHMMSS[-CLIENT][-LABEL]-SHORTID */
  uint8_t id[BF_ID_LEN];      /* public */
  uint8_t token[BF_ID_LEN];   /* the attach token: secret */
  char *label;
  char *client;               /* the client key's name (client_keys), or
                                 "" (key_file, or no key): only that key
                                 attaches to the session */
  char *source;               /* where it was made from (the gate's key,
                                 ratelimit.h), or "" if unknown */
  gint64 started;             /* unix seconds */
  int dir_fd, data_fd, tmp_fd;
  int owner_fd;               /* holds the owner lock (owner.h), or -1 */
} BfdSessionDir;

#define BFD_SESSION_DIR_INIT \
  { .dir_fd = -1, .data_fd = -1, .tmp_fd = -1, .owner_fd = -1 }

/* The file in a session's directory whose lock owns the session (owner.h). */
#define BFD_STORE_OWNER_FILE "owner"

/* Closes and frees what d holds (not d); lets its owner lock go. */
void bfd_session_dir_clear(BfdSessionDir *d);

/* Makes (if needed) and opens the store directory; refuses one that is
 * not braidfsd's user's or that group or others may write (so do the
 * session directories). */
gboolean bfd_store_open(const char *path, int *store_fd, GError **error);
/* A new session directory (random id and token, data/, tmp/ and its
 * session file), durable before this returns. label and client may be
 * NULL. */
gboolean bfd_store_create_session(int store_fd, const char *store_path,
                                  const char *label, const char *client,
                                  const char *source, BfdSessionDir *out,
                                  GError **error);
/* Every session directory of the store that opens (one that is not a
 * session is skipped, logged): BfdSessionDir*, freed with the array.
 * FALSE (G_FILE_ERROR) if the store or a session directory could not be
 * read. */
gboolean bfd_store_sessions(int store_fd, const char *store_path,
                            GPtrArray **out, GError **error);
/* The session directory name (freed with bfd_session_dir_clear and
 * g_free), opened, or NULL (logged: a broken one is skipped). The owner
 * lock is not taken. With unread, one that could not be read now (EACCES,
 * EIO, EMFILE...) is not skipped: NULL and *unread (G_FILE_ERROR). */
BfdSessionDir *bfd_store_session_load(int store_fd, const char *store_path,
                                      const char *name, GError **unread);
/* The session directory of that id (freed with bfd_session_dir_clear and
 * g_free), or NULL: with *error (G_FILE_ERROR) if the store or a
 * directory that may be it could not be read. */
BfdSessionDir *bfd_store_session_find(int store_fd, const char *store_path,
                                      const uint8_t id[BF_ID_LEN],
                                      GError **error);
/* Removes a session directory whose data/ is empty (its owner file last,
 * still locked): 0 or -errno. */
int bfd_store_remove_session(int store_fd, const BfdSessionDir *d);
/* Regular files in the session's data/ and their bytes. */
void bfd_store_count_data(const BfdSessionDir *d, uint64_t *files,
                          uint64_t *bytes);

/* Opens path (relative) under dirfd with flags, never following a
 * symlink and never leaving dirfd: openat2(2) with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, or on kernels without it
 * one O_NOFOLLOW component at a time. A symlink on the way fails ELOOP. */
int bfd_store_openat(int dirfd, const char *path, int flags);
/* Opens (and with create, makes) the parent directory of name under
 * dirfd the same way. *leaf points into name. */
int bfd_store_open_parent(int dirfd, const char *name, gboolean create,
                          const char **leaf);

/* Opens name directly in dirfd (a bookkeeping file of the store) as
 * openat(2) with flags and mode would, but never through a symlink, never
 * blocking on a FIFO (O_NONBLOCK), and only a regular file with no other
 * name (a hard link fails EMLINK, anything else EINVAL). */
int bfd_store_open_file(int dirfd, const char *name, int flags, mode_t mode);
/* Whether err, from bfd_store_open_file or an openat in the store, says
 * that the name is not the store's own file (none, a symlink, a FIFO, a
 * second name, not a directory) rather than that it could not be read now
 * (EACCES, EIO, EMFILE...): start-up skips the one, stops at the other. */
gboolean bfd_store_not_ours(int err);
/* Makes name anew in dirfd (O_CREAT | O_EXCL, mode 0600), removing what
 * had that name (a crash's leftover, or a planted link) first. */
int bfd_store_create_file(int dirfd, const char *name, int flags);

/* The mode a client's mode becomes in the store: no setuid, no setgid,
 * and sticky only on a directory. */
uint32_t bfd_store_mode(uint32_t mode, gboolean dir);

/* An item's data sent to the disk while the rest arrives: the fsync
 * before STORED then finds little left to write, and an item's dirty
 * pages stay bounded (a disk slower than the network holds back the
 * chunks that extend the prefix, not the server's memory). */
typedef struct {
  uint64_t started;           /* writeback started for [0, started) */
  uint64_t waited;            /* [0, waited) is on the disk (not synced) */
  uint64_t flushed;          /* [0, flushed) was offered to the flusher */
} BfdWriteback;

/* The bytes [0, prefix) of fd are written: starts the writeback of each
 * further 8 MiB of it, waits for what lies over 32 MiB behind, and offers
 * the file to flusher (may be NULL) each further BF_FLUSH_STEP. 0, or
 * -errno of a write that failed (which the file's fsync would no longer
 * report: the item must fail). */
int bfd_store_writeback(BfdWriteback *wb, int fd, uint64_t prefix,
                        BfFlusher *flusher);
