/* The store's event stream: STORE/.events, one line per stored file,
 * shown as /.events at the root of the view, so that a consumer waits for
 * arrivals with `tail -f` instead of polling directories:
 *
 *   2026-12-06T06:55:01.123Z SESSION PATH SIZE ALG:DIGEST
 *
 * SESSION is the session's directory, PATH the file's name in it; fields
 * are separated by one space, and a space, tab, newline or backslash in
 * them is written \040, \011, \012, \134 (as in /proc/mounts). ALG is
 * blake3, sha256 or blake2b256, DIGEST the hex digest the client sent
 * (b3sum, sha256sum, b2sum -l 256). A line is appended, in one write, after the file is in
 * data/ and before the client hears STORED: what a line names is there
 * (until a consumer removes it). The file is kept across restarts; a
 * crash may lose the last lines (not the files). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/digest.h"

#define BFD_EVENTS_FILE ".events"

/* Opens (creates) the stream for appending: its fd, or -1 with error. */
int bfd_events_open(int store_fd, GError **error);
/* Appends the line of one stored file; a failure is logged. */
void bfd_events_stored(int fd, const char *session, const char *path,
                       uint64_t size, uint8_t alg,
                       const uint8_t digest[BF_DIGEST_LEN]);
