/* The spool directory, opened without trusting it. Private to the client.
 *
 * The client usually runs as root, and recovery acts on what it finds in
 * the spool (delivers files as the mount's, removes and moves files), so
 * nobody else may be able to change the spool:
 *
 *  - the spool must belong to the mounting user and be closed to group and
 *    others (mode 0700), and every directory above it must belong to root
 *    or to that user and be writable by nobody else, unless sticky (as
 *    /tmp: others cannot rename or remove what is not theirs there);
 *  - the path is resolved once, then opened one component at a time from /
 *    without following symlinks; everything below the spool is reached
 *    from the descriptors so opened, never by path, and no symlink is
 *    followed (items/, failed/, lock, session, the spooled files);
 *  - every header of a spooled file and the session file carry a MAC
 *    (keyed BLAKE2b-256, libsodium's crypto_generichash) under a key that
 *    lives outside the spool, in SPOOL.key beside it (32 random bytes, mode
 *    0600, made by the first mount). A file that does not authenticate is
 *    never delivered.
 *
 * Why a key file of its own rather than one derived from key_file: it works
 * without key_file, and changing key_file does not orphan what is spooled.
 * What remains: root and the mounting user can read the key and forge;
 * whoever may write the spool's parent can replace spool and key; an
 * authenticated file copied away and put back later is delivered again
 * (a replay); someone who could write the spool could delete spooled files
 * (the ownership checks are what prevents that). */
#pragma once

#include <glib.h>
#include <sodium.h>
#include <stdint.h>
#include <sys/types.h>

#include "braidfs/flusher.h"

#define BFC_SPOOL_KEY_LEN 32
#define BFC_SPOOL_MAC_LEN 32

typedef struct {
  char *path;                 /* canonical */
  int dir_fd;
  int parent_fd;              /* O_PATH: where the key is */
  int items_fd;
  int failed_fd;
  int lock_fd;                /* flock'd: one mount per spool */
  uint8_t key[BFC_SPOOL_KEY_LEN];
  /* A large spooled file's bytes are flushed while it is written, so that
   * the fdatasync of its close(2) finds little left (braidfs/flusher.h). */
  BfFlusher *flusher;
} BfcSpoolDir;

/* Creates the spool if needed (mode 0700), checks it and the directories
 * above it, opens items/, failed/ and lock, locks it and loads its key, or
 * sets *no_key when it has none (bfc_spool_dir_make_key). On failure the
 * message says what to fix; d is then to be closed. */
gboolean bfc_spool_dir_open(const char *dir, BfcSpoolDir *d, gboolean *no_key,
                            GError **error);
/* Makes the missing key of d, unless files wait in it (waiting: none of
 * them could be authenticated then): an error saying what to do. */
gboolean bfc_spool_dir_make_key(BfcSpoolDir *d, unsigned waiting,
                                GError **error);
void bfc_spool_dir_close(BfcSpoolDir *d);

/* The spool a delivery=async mount uses when spool= is not given: one per
 * server and mountpoint, in $XDG_STATE_HOME/braidfs/ (a user's default:
 * ~/.local/state/braidfs/; root's without XDG_STATE_HOME:
 * /var/lib/braidfs-client/), named after both (escaped: "%2F" for "/").
 * The directories above it are made (mode 0700) if missing;
 * bfc_spool_dir_open checks them all. */
char *bfc_spool_default_dir(const char *server, const char *mountpoint,
                            GError **error);

/* Opens a regular file of the user's below dirfd, following no symlink and
 * never blocking on a FIFO; -1 with errno (ELOOP for anything else). */
int bfc_spool_open_file(int dirfd, const char *name, int flags, mode_t mode);
/* Reads such a file of at most max bytes (NUL-terminated); NULL with
 * *err. */
char *bfc_spool_read_file(int dirfd, const char *name, size_t max, size_t *len,
                          int *err);
/* Replaces name below dirfd with data, durably (a temporary, fsync,
 * rename, fsync of the directory). */
gboolean bfc_spool_write_file(int dirfd, const char *name, const void *data,
                              size_t len, GError **error);

/* The names in the directory dirfd, d's subdirectory sub, "." and ".."
 * left out, sorted (bf_dir_names); NULL with an error naming it when it
 * cannot be listed. */
GPtrArray *bfc_spool_names(const BfcSpoolDir *d, int dirfd, const char *sub,
                           GError **error);
/* Adds to error (a spool's file or directory that could not be read at
 * mount) that the mount does not go on, and what to do. Listing or
 * reading a spool at mount never fails quietly: a mount that went on
 * without what it could not read would not deliver those files. */
void bfc_spool_refuse_mount(GError **error);

/* Starts a MAC for purpose (a distinct string per kind of record). */
void bfc_spool_mac_init(const BfcSpoolDir *d, crypto_generichash_state *st,
                        const char *purpose);
