/* -o exec_on_store=PROGRAM: a program run once per stored file, so that a
 * consumer reacts to arrivals without polling (events.h is the other
 * way). Safety, since braidfsd usually runs as root and names come from
 * clients:
 *  - no shell: PROGRAM (an absolute path, checked executable at start-up)
 *    is executed with one argument, the file's path in the view
 *    (MOUNTPOINT/SESSION/PATH), whatever characters it holds;
 *  - a clean environment: PATH=/usr/sbin:/usr/bin:/sbin:/bin, LANG=C, and
 *    BRAIDFS_SESSION, BRAIDFS_PATH (the name in the session),
 *    BRAIDFS_SIZE, BRAIDFS_DIGEST (alg:hex), BRAIDFS_STORE_FILE (the
 *    file in the store); working directory /, stdin /dev/null, stdout
 *    and stderr discarded but for the exit status;
 *  - bounded: at most exec_jobs run at once, at most BFD_HOOK_QUEUE_MAX
 *    wait (beyond that a file's run is dropped, logged: its line in
 *    /.events remains); each runs in its own process group, killed
 *    (SIGKILL) after exec_timeout.
 * A run that fails or is killed is logged as a warning. The hook runs
 * after the file is stored, never delaying the client's STORED. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/digest.h"

#define BFD_HOOK_QUEUE_MAX 4096

typedef struct BfdHook BfdHook;

/* NULL with error if program is not an absolute path to an executable. */
BfdHook *bfd_hook_new(const char *program, const char *view_root,
                      const char *store_root, unsigned jobs,
                      unsigned timeout_ms, GError **error);
/* Waits for the runs in progress (each bounded by the timeout); the
 * queued ones are dropped. */
void bfd_hook_free(BfdHook *h);
/* Queues a run for a stored file; never blocks. h may be NULL (none). */
void bfd_hook_stored(BfdHook *h, const char *session, const char *path,
                     uint64_t size, uint8_t alg,
                     const uint8_t digest[BF_DIGEST_LEN]);
