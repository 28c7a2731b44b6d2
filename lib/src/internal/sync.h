/* internal/sync.h - what the sync primitives share with each other.
 *
 * - The Lock layout, so Condition can check "does the caller hold it?".
 *   Lock and RLock are an mpk__rmutex (internal/robust.h: the robust lock
 *   and thread identity of the whole library) in a cache line.
 * - Magic words of every sync object, checked on every call.
 * Waiters spin with the library's policy, internal/spin.h.
 */
#ifndef MPK_INTERNAL_SYNC_H
#define MPK_INTERNAL_SYNC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/clock.h"
#include "internal/futex.h"
#include "internal/robust.h"
#include "internal/shm.h"
#include "internal/spin.h"
#include "mpk/shm.h"
#include "mpk/sync.h"

/* Magic words: the first 4 bytes of each object, checked with
   MPK__SHM_LIVE (internal/shm.h) by every call. A freed object gets
   MPK__SYNC_FREED (then the heap's free-list link), so a stale handle is
   MPK_EINVAL, not undefined, until its memory is handed out again. */
enum {
  MPK__LOCK_MAGIC = 0x4b434f4cu,    /* "LOCK" */
  MPK__RLOCK_MAGIC = 0x4b4c4c52u,   /* "RLLK" */
  MPK__SEM_MAGIC = 0x214d4553u,     /* "SEM!" */
  MPK__EVENT_MAGIC = 0x544e5645u,   /* "EVNT" */
  MPK__COND_MAGIC = 0x444e4f43u,    /* "COND" */
  MPK__BARRIER_MAGIC = 0x52524142u, /* "BARR" */
  MPK__SYNC_FREED = 0x44454544u     /* "DEED" */
};

/* ---- Lock and RLock layouts -----------------------------------------------
 */

/* One cache line: the word and the links are written by every acquire and
   release, and sharing the line with another object would make unrelated
   locks contend (false sharing). The heap hands out 64-byte aligned blocks;
   the alignment keeps sizeof a multiple of 64. */
struct mpk_lock {
  alignas(64) uint32_t magic; /* MPK__LOCK_MAGIC; written at creation and
                                 at free, read-only in between */
  uint32_t pad_;              /* 8-byte alignment for the links; always 0 */
  mpk__rmutex r;
};
_Static_assert(sizeof(struct mpk_lock) == 64, "a Lock is one cache line");
_Static_assert(alignof(struct mpk_lock) == 64, "Lock alignment");

/* l is a live Lock (in the shared heap, right magic). */
static inline bool mpk__lock_valid(const mpk_lock_t *l) {
  return MPK__SHM_LIVE(l, MPK__LOCK_MAGIC);
}

/* 1 when the calling thread holds l. MT-safe. */
static inline bool mpk__lock_held(mpk_lock_t *l) {
  return mpk__rmutex_held(&l->r);
}

/* RLock: one cache line, as a Lock. `count` is the recursion depth; only
   the owner reads or writes it, and only while it holds `r`, so the lock
   orders it. Here rather than in rlock.c so that tests can reach the depth
   limit without 4 billion acquires. */
struct mpk_rlock {
  alignas(64) uint32_t magic; /* MPK__RLOCK_MAGIC; constant while live */
  uint32_t count;             /* recursion depth, 0 when free */
  mpk__rmutex r;
};
_Static_assert(sizeof(struct mpk_rlock) == 64, "an RLock is one cache line");
_Static_assert(alignof(struct mpk_rlock) == 64, "RLock alignment");

/* A zeroed cache line in the shared heap with an initialised mpk__rmutex at
   offset r_off: the body of a new Lock, RLock or Semaphore (the caller
   sets its magic). MPK_OK, MPK_ENOMEM, or MPK_ENOSYS (checked first). */
static inline int mpk__rmutex_line_new(size_t size, size_t r_off, void **out) {
  if (!mpk__robust_ready())
    return mpk__errf(MPK_ENOSYS, "this thread has no kernel robust list: "
                                 "robust locks are unusable here");
  char *b = mpk_shm_calloc(1, size);
  if (b == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_calloc */
  int r = mpk__rmutex_init((mpk__rmutex *)(void *)(b + r_off));
  if (r != MPK_OK) {
    mpk_shm_free(b);
    return mpk__errf(r, "robust locks are unusable here");
  }
  *out = b;
  return MPK_OK;
}

/* ---- waiting: the spin policy is internal/spin.h -------------------- */

/* Check a public timeout cheaply (NaN is MPK_EINVAL), before any fast path
   that would otherwise skip the deadline computation. */
static inline bool mpk__timeout_bad(double timeout) {
  return timeout != timeout;
}

/* The argument checks every timed wait of sync/ starts with: a live handle
   (else mpk__err_handle's message names `name` and `type`), then a timeout
   that is not NaN. MPK_OK or MPK_EINVAL with mpk_errmsg set. */
static inline int mpk__sync_wait_args(const char *fn, bool live, const void *h,
                                      const char *name, const char *type,
                                      double timeout) {
  if (!live)
    return mpk__err_handle(fn, h, name, type);
  if (mpk__timeout_bad(timeout))
    return mpk__errf(MPK_EINVAL, "%s: timeout is NaN", fn);
  return MPK_OK;
}

#endif
