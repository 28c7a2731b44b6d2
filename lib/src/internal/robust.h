/* internal/robust.h - thread identity and the one robust lock of mpk.
 *
 * Every lock in mpk that lives in shared memory is an mpk__rmutex: the
 * shared heap's span lock, a locked Array, a Dict, a Queue's producer and
 * consumer locks, Lock, RLock (and through Lock, Condition). Its contract:
 *
 * - robust: when the holder dies (SIGKILL, crash, exit, exec) the next
 *   acquirer gets the lock and MPK_EOWNERDEAD instead of hanging;
 * - process-shared: the word lives in the shared heap and is waited on
 *   from several processes (futexes are not FUTEX_PRIVATE);
 * - error-checking: ownership is the holder's kernel thread id, unique
 *   among live threads of every process, so a second acquire by the holder
 *   is MPK_EDEADLK and a release by a non-holder is MPK_EPERM.
 *
 * ---- How ----
 * A 32-bit futex word holding the owner's thread id, in the Linux robust
 * futex format (FUTEX_TID_MASK | FUTEX_WAITERS | FUTEX_OWNER_DIED), plus a
 * node of the owner thread's robust list. While a thread holds the lock the
 * node is linked into the list the C library registered for that thread with
 * set_robust_list(2); when the thread dies the kernel walks that list, sets
 * FUTEX_OWNER_DIED in every word the thread still owned and wakes a waiter.
 * The next acquirer sees OWNER_DIED, takes the lock and reports
 * MPK_EOWNERDEAD.
 *
 * The list is shared with glibc's own robust mutexes, so nodes are linked
 * and unlinked exactly the way glibc does it for a 64-bit pthread_mutex_t
 * (doubly linked; prev 8 bytes before next; the word 32 bytes before next,
 * the list's futex_offset), and list_op_pending covers each change, so a
 * thread killed halfway through leaves nothing the kernel cannot resolve
 * (tests/fault/test-sync-owner-dead.c mixes both kinds in one list).
 * This costs a few stores; a glibc robust mutex does the same plus much
 * more bookkeeping. Measured on the 2-core test VM in a threaded process,
 * lock + unlock: default pthread mutex 18 ns, glibc robust mutex 26 ns
 * (~45 ns through the old pthread-based rmutex wrapper), mpk__rmutex 20 ns.
 *
 * mpk__rmutex_init returns MPK_ENOSYS where this layout cannot be used: not
 * glibc on a 64-bit target, or no robust list registered for the calling
 * thread (a thread not made by pthread_create). Every object that embeds
 * an mpk__rmutex passes that code up from its constructor (mpk_lock_new,
 * mpk_rlock_new, mpk_array_new, mpk_dict_new, mpk_queue_new; the shared
 * heap's first use fails with it); a lock call made from such a thread is
 * MPK_ENOSYS as well.
 *
 * The owner test (word & FUTEX_TID_MASK) == tid is exact: the kernel clears
 * the id of a dead owner, so a reused thread id never matches a stale one.
 *
 * ThreadSanitizer: the hand-over is the acquire CAS and the release
 * exchange on `word`, which TSan models, so no special path is needed; the
 * list links are touched only by the holder, ordered by the same atomics.
 */
#ifndef MPK_INTERNAL_ROBUST_H
#define MPK_INTERNAL_ROBUST_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/clock.h"
#include "internal/futex.h"

/* ---- thread identity and the robust list --------------------------------- */

/* The calling thread's kernel thread id and its robust-list head, cached per
   thread; 0 / NULL until the first use in a thread, and reset in the child
   of a fork (pthread_atfork), so the child learns its own id. */
extern __thread uint32_t mpk__tid_cache
    __attribute__((tls_model("initial-exec")));
extern __thread struct robust_list_head *mpk__rhead_cache
    __attribute__((tls_model("initial-exec")));

/* Fill both caches for this thread; returns the thread id. */
uint32_t mpk__thread_init(void);

/* The calling thread's kernel thread id (gettid), > 0. MT-safe; AS-safe
   after the first call in a thread. */
static inline uint32_t mpk__tid(void) {
  uint32_t t = mpk__tid_cache;
  return t ? t : mpk__thread_init();
}

/* ---- the lock -------------------------------------------------------------
 */

/* 40 bytes, 8-aligned (the size and alignment of a pthread_mutex_t, which
   it replaced in every shared layout). */
typedef struct {
  /* Owner tid | FUTEX_WAITERS | FUTEX_OWNER_DIED; the futex word. CAS with
     acquire to take the lock, exchange with release to drop it (so the
     holder's writes are seen by the next holder); relaxed loads for the
     owner test (a thread only ever sees its own id there if it wrote it). */
  _Atomic uint32_t word;
  /* Threads inside mpk__rmutex_lock_slow that got ready to sleep and have
     not left it yet (asleep, or woken and not yet holding the lock). An
     acquirer keeps FUTEX_WAITERS while it is not 0. A waiter killed while
     counted is never uncounted: the lock then keeps the bit, and each
     release makes a (useless) futex wake, for the rest of its life. */
  _Atomic uint32_t sleepers;
  uint32_t unused_[4]; /* keeps prev / next at glibc's offsets; always 0 */
  void *prev;          /* robust list links: touched only by the owner */
  void *next;
} mpk__rmutex;

/* The layout glibc's robust list needs (see above). */
#define MPK__ROBUST_FUTEX_OFFSET (-32L)
_Static_assert(offsetof(mpk__rmutex, next) - offsetof(mpk__rmutex, word) ==
                   (size_t)-MPK__ROBUST_FUTEX_OFFSET,
               "word must sit futex_offset before next");
_Static_assert(offsetof(mpk__rmutex, next) - offsetof(mpk__rmutex, prev) ==
                   sizeof(void *),
               "prev right before next, as in glibc's __pthread_list_t");
_Static_assert(sizeof(mpk__rmutex) == 40 && _Alignof(mpk__rmutex) == 8,
               "the shared layouts embedding it count on 40 bytes, 8-aligned");

/* True when robust locks can be used by the calling thread (see above);
   objects that embed one check it before they allocate anything. */
static inline bool mpk__robust_ready(void) {
  mpk__tid();
  return mpk__rhead_cache != NULL;
}

/* Make *m a free lock. MPK_OK, or MPK_ENOSYS when robust lists are
   unusable here (see above). Not MT-safe on m: nobody may use m yet. */
int mpk__rmutex_init(mpk__rmutex *m);

/* Slow path of taking the lock before deadline d (NULL: try once, never
   spin or sleep). Spins with the library's policy (internal/spin.h), then
   sleeps on the word. MPK_OK; MPK_EOWNERDEAD (held; the previous owner died
   holding it, the data it guards may be half-updated); MPK_ETIMEDOUT;
   MPK_EDEADLK (the caller holds it); MPK_ENOSYS. Retries on EINTR. */
int mpk__rmutex_lock_slow(mpk__rmutex *m, const mpk__deadline *d);

/* Wake one sleeper of a word just released with FUTEX_WAITERS kept. The
   bit is never cleared here: the next acquirer clears it when `sleepers`
   says nobody else waits (a CAS from "free with the bit" to 0 here could
   succeed on a word that was taken, released and woken in between, and
   lose that wake-up if its waiter then dies). */
void mpk__rmutex_wake_slow(mpk__rmutex *m);

/* Link m at the front of the thread's robust list h (glibc's order of
   stores; the compiler barriers keep that order for the kernel, which reads
   the list only after this thread is dead). */
static inline void mpk__rmutex_link(struct robust_list_head *h,
                                    mpk__rmutex *m) {
  uintptr_t first = (uintptr_t)h->list.next;
  void **first_node = (void **)((first & ~(uintptr_t)1) - sizeof(void *));
  first_node[0] = &m->next; /* first->prev */
  m->next = (void *)first;
  m->prev = &h->list;
  atomic_signal_fence(memory_order_seq_cst);
  h->list.next = (struct robust_list *)(void *)&m->next;
}

static inline void mpk__rmutex_unlink(mpk__rmutex *m) {
  void **next_node =
      (void **)(((uintptr_t)m->next & ~(uintptr_t)1) - sizeof(void *));
  next_node[0] = m->prev; /* next->prev */
  void **prev_node =
      (void **)(((uintptr_t)m->prev & ~(uintptr_t)1) - sizeof(void *));
  prev_node[1] = m->next; /* prev->next */
  atomic_signal_fence(memory_order_seq_cst);
  m->prev = NULL;
  m->next = NULL;
}

/* Take the lock if it is free and the thread is set up: true, else false
   (nothing changed; go to mpk__rmutex_lock_slow). The uncontended path:
   one CAS and a few stores to this thread's list, no clock read. MT-safe,
   MP-safe. */
static inline bool mpk__rmutex_trylock_fast(mpk__rmutex *m) {
  uint32_t tid = mpk__tid_cache;
  struct robust_list_head *h = mpk__rhead_cache;
  if (tid == 0 || h == NULL)
    return false;
  h->list_op_pending = (struct robust_list *)(void *)&m->next;
  atomic_signal_fence(memory_order_seq_cst);
  uint32_t free_word = 0;
  bool ok = atomic_compare_exchange_strong_explicit(
      &m->word, &free_word, tid, memory_order_acquire, memory_order_relaxed);
  if (ok)
    mpk__rmutex_link(h, m);
  atomic_signal_fence(memory_order_seq_cst);
  h->list_op_pending = NULL;
  return ok;
}

/* Acquire before the deadline d (a deadline in the past: one try). Results
   as mpk__rmutex_lock_slow. MT-safe, MP-safe. */
static inline int mpk__rmutex_lock(mpk__rmutex *m, const mpk__deadline *d) {
  if (mpk__rmutex_trylock_fast(m))
    return MPK_OK;
  return mpk__rmutex_lock_slow(m, d);
}

/* Acquire without a deadline: MPK_OK, MPK_EOWNERDEAD, MPK_EDEADLK or
   MPK_ENOSYS. MT-safe, MP-safe. */
static inline int mpk__rmutex_lock_forever(mpk__rmutex *m) {
  static const mpk__deadline forever = {.forever = true};
  return mpk__rmutex_lock(m, &forever);
}

/* Drop the lock. MPK_EPERM when the caller does not hold it. MT-safe,
   MP-safe. */
static inline int mpk__rmutex_unlock(mpk__rmutex *m) {
  uint32_t tid = mpk__tid();
  uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
  if ((w & FUTEX_TID_MASK) != tid)
    return MPK_EPERM;
  struct robust_list_head *h = mpk__rhead_cache; /* set: we linked m */
  h->list_op_pending = (struct robust_list *)(void *)&m->next;
  atomic_signal_fence(memory_order_seq_cst);
  mpk__rmutex_unlink(m);
  /* Free the word, but keep FUTEX_WAITERS when someone may sleep: the
     waiter we wake may die before it takes the lock, and if a third thread
     took it meanwhile on the fast path (a CAS from exactly 0) the bit, and
     with it every later wake-up, would be gone. With the bit kept, that CAS
     fails and the slow path takes the lock with the bit set, so its release
     wakes the next sleeper; while the owner part is 0, the kernel passes a
     dying waiter's wake-up on (its list_op_pending names this word). Others
     only ever add FUTEX_WAITERS to a held word, so the CAS loop is short.
     Whether the bit stays set afterwards is the acquirers' decision, from
     `sleepers` (mpk__rmutex_lock_slow). */
  w = atomic_load_explicit(&m->word, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&m->word, &w, w & FUTEX_WAITERS,
                                                memory_order_release,
                                                memory_order_relaxed)) {
  }
  /* Killed right here, the kernel sees list_op_pending with an owner-less
     word and wakes a waiter for us. */
  if (w & FUTEX_WAITERS)
    mpk__rmutex_wake_slow(m);
  atomic_signal_fence(memory_order_seq_cst);
  h->list_op_pending = NULL;
  return MPK_OK;
}

/* True when the calling thread holds m. MT-safe. */
static inline bool mpk__rmutex_held(mpk__rmutex *m) {
  return (atomic_load_explicit(&m->word, memory_order_relaxed) &
          FUTEX_TID_MASK) == mpk__tid();
}

/* True when some thread holds m, or its holder died and nobody recovered
   it. A snapshot. MT-safe. */
static inline bool mpk__rmutex_locked(mpk__rmutex *m) {
  return atomic_load_explicit(&m->word, memory_order_relaxed) &
         (FUTEX_TID_MASK | FUTEX_OWNER_DIED);
}

/* Call before the memory holding m is freed or reused: if the calling
   thread holds m, release it, so that its robust list does not keep a node
   in freed memory (the kernel would write into whatever lives there when
   the thread dies). Nobody else may use m any more. */
static inline void mpk__rmutex_destroy(mpk__rmutex *m) {
  if (mpk__rmutex_held(m))
    mpk__rmutex_unlock(m);
}

#endif
