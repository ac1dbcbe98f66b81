/* client_keys=DIR: one key file per client, the file's name the client's
 * name (braidfsd(8)). Each file is checked as key_file is (key.h: a
 * regular file, no symlink, ours or root's, mode 600); the directory must
 * be ours or root's and writable by nobody else, since whoever adds a file
 * there adds a client.
 *
 * The keys are read at start-up and again whenever the directory changes
 * (a file added, removed or renamed changes its mtime), at the next
 * handshake; and the key a handshake matched is read again from its file
 * before the handshake is accepted, so that a removed or replaced key
 * locks its client out at once, whatever the directory's times say. */
#pragma once

#include <glib.h>

#include "braidfs/key.h"
#include "braidfs/tsa.h"

/* Longest client name: it becomes part of session directory names. */
#define BFD_CLIENT_NAME_MAX 64

typedef struct BfdClientKeys BfdClientKeys;

/* One client's key, shared by reference (a reload makes new ones; a
 * handshake keeps the ones it started with). */
typedef struct {
  gint refs;
  char *name;
  BfKey *key;
} BfdClientKey;

BfdClientKey *bfd_client_key_ref(BfdClientKey *k);
void bfd_client_key_unref(BfdClientKey *k);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BfdClientKey, bfd_client_key_unref)

/* Whether name may name a client: 1 to BFD_CLIENT_NAME_MAX of
 * [A-Za-z0-9._-], not starting with a dot. */
gboolean bfd_client_name_ok(const char *name);

/* Reads the directory: FALSE if it or a key file in it is unsafe or
 * unreadable (a file whose name cannot name a client is skipped, logged). */
BfdClientKeys *bfd_client_keys_open(const char *dir, GError **error);
void bfd_client_keys_free(BfdClientKeys *ck);
/* The keys now (BfdClientKey references, freed with the array), read
 * again first if the directory changed; a file that became unsafe is left
 * out (logged). */
GPtrArray *bfd_client_keys_current(BfdClientKeys *ck);
/* Whether k's file still holds k's key (read now): otherwise FALSE with a
 * message for the client. */
gboolean bfd_client_keys_check(BfdClientKeys *ck, const BfdClientKey *k,
                               GError **error);
/* The key of client name as last read (a reference), or NULL. */
BfdClientKey *bfd_client_keys_lookup(BfdClientKeys *ck, const char *name);
