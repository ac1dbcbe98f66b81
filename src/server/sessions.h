/* Every session of the store, indexed by directory name (the FUSE view),
 * by id (an ATTACH) and counted by source, with the places for new ones
 * (max_sessions, max_sessions_total, max_sessions_per_source). Nothing
 * here scans the sessions: connected ones are counted by session.c
 * (BfdServer.sessions_connected). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "braidfs/wire.h"
#include "braidfsd.h"
#include "session.h"

BfdSessions *bfd_sessions_new(void);
void bfd_sessions_free(BfdSessions *x);

/* Adds a session loaded from the store (takes no reference of the
 * caller's: the index holds its own). */
void bfd_sessions_add(BfdSessions *x, BfdSession *s);
/* References, or NULL. */
BfdSession *bfd_sessions_by_name(BfdSessions *x, const char *name);
BfdSession *bfd_sessions_by_id(BfdSessions *x, const uint8_t id[BF_ID_LEN]);
/* Their directory names, sorted (char*, freed with the array). */
GPtrArray *bfd_sessions_names(BfdSessions *x);
/* References to all (freed with the array). */
GPtrArray *bfd_sessions_list(BfdSessions *x);
guint bfd_sessions_count(BfdSessions *x);

/* A place for a new session from source (the gate's key) within the
 * limits, of which connected sessions are counted by the caller
 * (connected): FALSE (BFD_ERROR LIMIT, a message for the client) when
 * none is left. A place taken is given back by bfd_sessions_add_reserved
 * (with the new session, its first path attached) or
 * bfd_sessions_unreserve. */
gboolean bfd_sessions_reserve(BfdSessions *x, const BfdLimits *l,
                              unsigned connected, const char *source,
                              GError **error);
void bfd_sessions_unreserve(BfdSessions *x, const char *source);
void bfd_sessions_add_reserved(BfdSessions *x, BfdSession *s);

/* rmdir of a session directory: removes the session from the store and
 * the index once no path is attached. 0 or -errno (-EBUSY while a path is
 * attached or another removal runs): the FUSE view's answer. No lock is
 * held while the store's files go; an ATTACH meanwhile is told to try
 * again (session.h). */
int bfd_sessions_remove(BfdSessions *x, BfdSession *s, int store_fd);
