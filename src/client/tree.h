/* The outbox's tree: what this mount has sent or is sending (names,
 * sizes, modes, times), not the contents. Every node and the tree are
 * guarded by the tree's lock, which is never held across I/O or a wait
 * (client.h, LOCKING): under it only the versions' size and state are
 * read, which take nothing slower than the delivery's lock. */
#pragma once

#include <time.h>

#include "delivery.h"

#include "braidfs/digest.h"

#include "braidfs/tsa.h"

typedef struct BfcNode BfcNode;
struct BfcNode {
  char *name;
  BfcNode *parent;
  GHashTable *children;       /* name -> BfcNode*; NULL for files */
  uint32_t mode;              /* permission bits */
  uint32_t kind;              /* S_IFLNK, S_IFIFO or S_IFSOCK made here by
                                 an OP; 0 for files and directories */
  char *target;               /* a symlink's target text, else NULL */
  struct timespec mtime;
  uint64_t size;              /* of the version last delivered */
  uint8_t digest_alg;         /* ... and its digest (0: none known) */
  uint8_t digest[BF_DIGEST_LEN];
  uint8_t unkept;             /* its digest state was not kept (a small
                                 file): an append reads it back */
  uint8_t queued;             /* in the tree's unsettled queue */
  uint8_t dead;               /* freed but queued: the sweep frees it */
  BfDigest *state;            /* ... its digest unfinished, to append to
                                 it (delivery.h), or NULL */
  BfcVersion *ver;            /* the version being written or delivered */
  uint64_t starting;          /* a version is being opened for it: the
                                 opener's ticket, else 0 */
  gboolean on_server;         /* a version of it was delivered */
};

/* A delivered file up to this size keeps no digest state (a few hundred
 * bytes): an append to it reads it back to continue its digest. Not
 * under a spool, which takes appends while no server answers. */
#define BFC_NODE_STATE_MIN (64u * 1024)

typedef struct {
  BfMutex lock;
  BfcNode *root;
  GQueue unsettled;           /* BfcNode* given a version, oldest first:
                                 settled by bfc_tree_sweep_locked */
  uint64_t tickets;           /* the last ticket given to an opener */
  unsigned settled;           /* versions settled since the last trim */
  GCond idle;                 /* a version started or was released */
} BfcTree;

void bfc_tree_init(BfcTree *t);
void bfc_tree_clear(BfcTree *t);

/* Whether path's node is being written: a version starting, or one not
 * yet released (bfc_node_writing). */
gboolean bfc_tree_busy_locked(BfcTree *t, const char *path)
  BF_REQUIRES(&t->lock);
/* Wakes bfc_tree_await_idle: a version was started or released. */
void bfc_tree_idle_locked(BfcTree *t) BF_REQUIRES(&t->lock);
/* Waits until path's node is not busy, until the monotonic time end at
 * most (the caller looks again). */
void bfc_tree_await_idle_locked(BfcTree *t, const char *path, gint64 end)
  BF_REQUIRES(&t->lock);

/* Settles a few nodes of the unsettled queue whose version is gone, so
 * that a delivered version is freed without waiting for a lookup of its
 * name. Call where no node pointer is held: it may remove nodes. TRUE
 * when the caller should call bfc_tree_trim once the lock is released. */
gboolean bfc_tree_sweep_locked(BfcTree *t) BF_REQUIRES(&t->lock);
/* Gives the C library's free pages back to the system (malloc_trim). */
void bfc_tree_trim(void);
/* Files that may still hold a version (the unsettled queue): those being
 * written or delivered, and delivered ones not yet swept. Takes the
 * lock. */
guint bfc_tree_unsettled(BfcTree *t) BF_EXCLUDES(&t->lock);
/* n's version is now v (a new reference), settled by a later sweep. */
void bfc_node_set_version_locked(BfcTree *t, BfcNode *n, BfcVersion *v)
  BF_REQUIRES(&t->lock);
/* Whether n is being written: a version of it starting, or one whose
 * last descriptor is not released yet (delivery.h). */
gboolean bfc_node_writing(const BfcNode *n);

BfcNode *bfc_node_new(const char *name, gboolean dir, uint32_t mode);
/* A node that is neither file nor directory: kind S_IFLNK with its
 * target, or S_IFIFO / S_IFSOCK (target NULL). */
BfcNode *bfc_node_new_special(const char *name, uint32_t kind,
                              uint32_t mode, const char *target);
/* A regular file of the same stored contents as n (a hard link). */
BfcNode *bfc_node_new_link(const char *name, const BfcNode *n);
/* Makes n a plain file node again (a version is written over it). */
void bfc_node_make_file(BfcNode *n);
void bfc_node_attach(BfcNode *parent, BfcNode *child);
/* Takes the node out of its parent and frees it. */
void bfc_node_remove(BfcNode *n);
/* Frees a node never attached. */
void bfc_node_free(BfcNode *n);
/* Its version is gone: a delivered version is a plain file on the server,
 * one refused for good is nothing. FALSE when the node goes (nothing of it
 * was ever delivered); the caller removes it. */
gboolean bfc_node_settle_locked(BfcTree *t, BfcNode *n) BF_REQUIRES(&t->lock);
/* What an append to n continues (delivery.h): TRUE and *out (out->state
 * to be freed) when n's delivered version is settled and its digest state
 * known. */
gboolean bfc_node_base_locked(BfcTree *t, BfcNode *n, BfcBase *out)
  BF_REQUIRES(&t->lock);
/* As bfc_node_base_locked for a settled small file whose digest state was
 * not kept (BFC_NODE_STATE_MIN): TRUE, *out with state NULL and *alg its
 * digest's algorithm; the caller hashes the stored file read back. */
gboolean bfc_node_base_unkept_locked(BfcTree *t, BfcNode *n, BfcBase *out,
                                     uint8_t *alg) BF_REQUIRES(&t->lock);
/* The size stat shows. */
uint64_t bfc_node_size_locked(BfcTree *t, BfcNode *n) BF_REQUIRES(&t->lock);

/* The node of an absolute FUSE path, settled, or NULL. */
BfcNode *bfc_tree_lookup_locked(BfcTree *t, const char *path)
  BF_REQUIRES(&t->lock);
/* The directory that holds path, and path's last component. */
BfcNode *bfc_tree_parent_locked(BfcTree *t, const char *path,
                                const char **leaf) BF_REQUIRES(&t->lock);
/* Moves the node at from to to (whose parent exists). */
void bfc_tree_move_locked(BfcTree *t, const char *from, const char *to)
  BF_REQUIRES(&t->lock);
/* Whether path's name is free in an existing directory: 0, -ENOENT or
 * -EEXIST. Takes the lock. */
int bfc_tree_name_free(BfcTree *t, const char *path) BF_EXCLUDES(&t->lock);
/* The server made n at path: the outbox shows it, unless the name was
 * taken or its directory went meanwhile (then n is freed). Takes the
 * lock. */
void bfc_tree_attach_new(BfcTree *t, const char *path, BfcNode *n)
  BF_EXCLUDES(&t->lock);
/* A version an earlier mount left shows where it was written, with the
 * directories above it. */
void bfc_tree_show_locked(BfcTree *t, const char *name, BfcVersion *v)
  BF_REQUIRES(&t->lock);
