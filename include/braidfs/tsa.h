/* Clang thread-safety analysis (-Wthread-safety) for GLib mutexes.
 *
 * BfMutex is a GMutex the analysis knows as a capability; its lock,
 * unlock and condition-wait wrappers say what they acquire, release or
 * need. Under gcc every annotation expands to nothing and the wrappers are
 * plain GLib calls. The clang build (meson adds -Wthread-safety when the
 * compiler is clang; .ci/run builds with -Dwerror=true) then checks:
 *
 *  - a function that locks returns with the lock released, on every path
 *    (no forgotten unlock on an error branch), and unlocks only what it
 *    holds;
 *  - a function declared BF_REQUIRES(&x->lock) (by convention named
 *    *_locked) is called only with that lock held;
 *  - a function declared BF_EXCLUDES(&x->lock) (one that blocks on the
 *    network or the disk, or takes the lock itself) is never called with
 *    it held: this is how "no lock that serves FUSE is held across I/O"
 *    is written down;
 *  - a global declared BF_GUARDED_BY(lock) is touched only under lock.
 *
 * What it does not check, in C (clang 14): BF_GUARDED_BY on a struct
 * field naming a sibling field (the member is not in scope in C, so clang
 * refuses to parse it), hence which lock guards a field is a comment on the
 * struct, not an attribute; lock order (acquired_before/after are parsed
 * but not enforced), so the order is the LOCKING table of each daemon's
 * header; and anything behind a function pointer or a GLib callback. The
 * analysis is per function: a function that returns with a lock held, or
 * takes one its caller released, says so with BF_ACQUIRE/BF_RELEASE.
 *
 * How daemon code uses it:
 *
 *   typedef struct {
 *     BfMutex lock;          // guards items, count
 *     GHashTable *items;
 *   } Table;
 *
 *   static void table_add_locked(Table *t, Item *it) BF_REQUIRES(&t->lock);
 *   static void table_save(Table *t) BF_EXCLUDES(&t->lock);  // writes
 *
 *   bf_mutex_lock(&t->lock);
 *   table_add_locked(t, it);
 *   bf_mutex_unlock(&t->lock);
 *   table_save(t);
 *
 * A static BfMutex needs no bf_mutex_init, like a static GMutex. There is
 * no GRWLock or GRecMutex wrapper: neither daemon uses one.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#if defined(__clang__)
#define BF_TSA(x) __attribute__((x))
#else
#define BF_TSA(x)
#endif

#define BF_CAPABILITY(name) BF_TSA(capability(name))
#define BF_GUARDED_BY(m) BF_TSA(guarded_by(m))
#define BF_REQUIRES(...) BF_TSA(requires_capability(__VA_ARGS__))
#define BF_EXCLUDES(...) BF_TSA(locks_excluded(__VA_ARGS__))
#define BF_ACQUIRE(...) BF_TSA(acquire_capability(__VA_ARGS__))
#define BF_RELEASE(...) BF_TSA(release_capability(__VA_ARGS__))
/* A function that returns ret when it took the lock: write 1 or 0, not
 * TRUE or FALSE (clang 14 does not see through GLib's (!FALSE)). */
#define BF_TRY_ACQUIRE(ret, ...) BF_TSA(try_acquire_capability(ret, __VA_ARGS__))
/* For the few functions the analysis cannot follow (the wrappers below;
 * pthread_atfork handlers); say why where it is used. */
#define BF_NO_TSA BF_TSA(no_thread_safety_analysis)

typedef struct BF_CAPABILITY("mutex") BfMutex {
  GMutex m;
} BfMutex;

static inline void bf_mutex_init(BfMutex *m) { g_mutex_init(&m->m); }
static inline void bf_mutex_clear(BfMutex *m) { g_mutex_clear(&m->m); }

static inline void bf_mutex_lock(BfMutex *m) BF_ACQUIRE(m) BF_NO_TSA;
static inline void
bf_mutex_lock(BfMutex *m)
{
  g_mutex_lock(&m->m);
}

static inline void bf_mutex_unlock(BfMutex *m) BF_RELEASE(m) BF_NO_TSA;
static inline void
bf_mutex_unlock(BfMutex *m)
{
  g_mutex_unlock(&m->m);
}

static inline gboolean bf_mutex_trylock(BfMutex *m) BF_TRY_ACQUIRE(1, m)
  BF_NO_TSA;
static inline gboolean
bf_mutex_trylock(BfMutex *m)
{
  return g_mutex_trylock(&m->m);
}

/* The lock is released while waiting and held again on return: for the
 * analysis it is held throughout, which is what the caller sees. */
static inline void bf_cond_wait(GCond *c, BfMutex *m) BF_REQUIRES(m) BF_NO_TSA;
static inline void
bf_cond_wait(GCond *c, BfMutex *m)
{
  g_cond_wait(c, &m->m);
}

/* end_time is on g_get_monotonic_time()'s clock; FALSE once it passed. */
static inline gboolean bf_cond_wait_until(GCond *c, BfMutex *m,
                                          gint64 end_time) BF_REQUIRES(m)
  BF_NO_TSA;
static inline gboolean
bf_cond_wait_until(GCond *c, BfMutex *m, gint64 end_time)
{
  return g_cond_wait_until(c, &m->m, end_time);
}

G_END_DECLS
