/* cond.c - Condition: a futex sequence word next to an mpk Lock.
 *
 * A waiter reads `seq` while it holds the lock, releases the lock and
 * sleeps while `seq` still has that value. A notifier (holding the lock)
 * bumps `seq` and wakes up to n sleepers. Because the waiter read `seq`
 * under the lock, every notify made after it released the lock changes
 * `seq`, so the kernel's futex_wait (which compares atomically) never
 * misses one: there are no lost wake-ups. There are extra ones: a waiter
 * that has not fallen asleep yet returns on any notify, so notify(n) may
 * release more than n waiters, and callers re-check their predicate.
 *
 * `waiters` is changed with the lock held on the way in, so a notifier
 * (also holding it) sees every waiter that may sleep and skips the wake
 * system call when there is none. Waiters decrement it after waking,
 * without the lock; a notifier may then see a stale, larger count and make
 * a wake call that finds nobody, which is harmless. A waiter SIGKILLed in
 * its sleep leaves the count one too high (the same harmless extra call),
 * and the kernel hands later wake-ups to live sleepers only.
 */
#include "internal/sync.h"

#include <limits.h>

#include "mpk/shm.h"

/* One cache line: seq and waiters are written by every wait and notify. */
struct mpk_cond {
  alignas(64) uint32_t magic; /* MPK__COND_MAGIC; constant while live */
  uint32_t own_lock;          /* 1: `lock` was made by mpk_cond_new */
  /* Bumped by every notify (with the lock held); the futex word. Relaxed:
     it carries no data, the lock orders the data (waiters re-acquire it
     before returning). */
  _Atomic uint32_t seq;
  /* Waiters between reading seq and waking up (relaxed: incremented and
     read under the lock, see above). */
  _Atomic uint32_t waiters;
  mpk_lock_t *lock; /* in the shared heap: the same address everywhere */
};
_Static_assert(sizeof(struct mpk_cond) == 64, "a Condition is one cache line");
_Static_assert(alignof(struct mpk_cond) == 64, "Condition alignment");

static bool valid(const mpk_cond_t *c) {
  return MPK__SHM_LIVE(c, MPK__COND_MAGIC);
}

int mpk_cond_new(mpk_cond_t **out, mpk_lock_t *lock) {
  if (out == NULL || (lock != NULL && !mpk__lock_valid(lock)))
    return mpk__err_lit(MPK_EINVAL, "mpk_cond_new: c is NULL, or lock is not "
                                    "a live mpk_lock_t");
  mpk_cond_t *c = mpk_shm_alloc(sizeof *c);
  if (c == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_alloc */
  c->own_lock = lock == NULL;
  if (lock == NULL) {
    int r = mpk_lock_new(&lock);
    if (r != MPK_OK) {
      mpk_shm_free(c);
      return r;
    }
  }
  c->lock = lock;
  atomic_init(&c->seq, 0);
  atomic_init(&c->waiters, 0);
  c->magic = MPK__COND_MAGIC;
  *out = c;
  return MPK_OK;
}

int mpk_cond_acquire(mpk_cond_t *c, double timeout) {
  if (!valid(c))
    return mpk__err_lit(MPK_EINVAL, "mpk_cond_acquire: c is not a live "
                                    "mpk_cond_t");
  return mpk_lock_acquire(c->lock, timeout);
}

int mpk_cond_release(mpk_cond_t *c) {
  if (!valid(c))
    return mpk__err_lit(MPK_EINVAL, "mpk_cond_release: c is not a live "
                                    "mpk_cond_t");
  return mpk_lock_release(c->lock);
}

mpk_lock_t *mpk_cond_lock(mpk_cond_t *c) {
  return valid(c) ? c->lock : NULL;
}

/* The body of wait and wait_for; the caller holds the lock. */
static int wait_locked(mpk_cond_t *c, const mpk__deadline *d) {
  uint32_t seen = atomic_load_explicit(&c->seq, memory_order_relaxed);
  atomic_fetch_add_explicit(&c->waiters, 1, memory_order_relaxed);
  int r = mpk_lock_release(c->lock);
  if (r != MPK_OK) {
    atomic_fetch_sub_explicit(&c->waiters, 1, memory_order_relaxed);
    return r;
  }
  mpk__spin sp = MPK__SPIN_INIT(d);
  while (atomic_load_explicit(&c->seq, memory_order_relaxed) == seen &&
         mpk__spin_more(&sp)) {
  }
  r = MPK_OK;
  while (atomic_load_explicit(&c->seq, memory_order_relaxed) == seen) {
    r = mpk__futex_wait(&c->seq, seen, d);
    if (r == MPK_ETIMEDOUT)
      break;
  }
  atomic_fetch_sub_explicit(&c->waiters, 1, memory_order_relaxed);
  int a = mpk_lock_acquire(c->lock, MPK_FOREVER);
  return mpk__err_if(a == MPK_EOWNERDEAD ? a : r);
}

/* The caller does not hold the Condition's lock. */
static int not_held(void) {
  return mpk__err_lit(MPK_EPERM, "the calling thread does not hold the "
                                 "Condition's lock");
}

int mpk_cond_wait(mpk_cond_t *c, double timeout) {
  int rc =
      mpk__sync_wait_args(__func__, valid(c), c, "c", "mpk_cond_t", timeout);
  if (rc != MPK_OK)
    return rc;
  if (!mpk__lock_held(c->lock))
    return not_held();
  mpk__deadline d;
  mpk__deadline_init(&d, timeout);
  return wait_locked(c, &d);
}

int mpk_cond_wait_for(mpk_cond_t *c, int (*pred)(void *), void *arg,
                      double timeout) {
  int rc =
      mpk__sync_wait_args(__func__, valid(c), c, "c", "mpk_cond_t", timeout);
  if (rc != MPK_OK)
    return rc;
  if (pred == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_cond_wait_for: pred is NULL");
  if (!mpk__lock_held(c->lock))
    return not_held();
  mpk__deadline d;
  mpk__deadline_init(&d, timeout);
  while (!pred(arg)) {
    if (mpk__deadline_expired(&d))
      return mpk__err(MPK_ETIMEDOUT);
    int r = wait_locked(c, &d);
    if (r == MPK_EOWNERDEAD || r == MPK_EPERM)
      return r;
  }
  return MPK_OK;
}

static int notify(mpk_cond_t *c, int n) {
  if (!mpk__lock_held(c->lock))
    return not_held();
  if (n == 0 || atomic_load_explicit(&c->waiters, memory_order_relaxed) == 0)
    return MPK_OK;
  atomic_fetch_add_explicit(&c->seq, 1, memory_order_relaxed);
  mpk__futex_wake(&c->seq, n);
  return MPK_OK;
}

int mpk_cond_notify(mpk_cond_t *c, int n) {
  if (!valid(c) || n < 0)
    return mpk__err_lit(MPK_EINVAL, "mpk_cond_notify: c is not a live "
                                    "mpk_cond_t, or n < 0");
  return notify(c, n);
}

int mpk_cond_notify_all(mpk_cond_t *c) {
  if (!valid(c))
    return mpk__err_lit(MPK_EINVAL, "mpk_cond_notify_all: c is not a live "
                                    "mpk_cond_t");
  return notify(c, INT_MAX);
}

void mpk_cond_free(mpk_cond_t *c) {
  if (!valid(c))
    return;
  c->magic = MPK__SYNC_FREED;
  if (c->own_lock)
    mpk_lock_free(c->lock);
  mpk_shm_free(c);
}
