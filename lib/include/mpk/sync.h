/* mpk/sync.h - Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition,
 * Barrier: Python's multiprocessing synchronization for C.
 *
 * Every object lives in the shared heap (mpk/shm.h), so its handle is valid
 * in the creating process, in all its threads, and in every process forked
 * after it was created (by mpk or by plain fork()). Objects are made with
 * mpk_x_new(&out, ...) and freed with mpk_x_free(x); free of NULL is a
 * no-op, and no process may use an object after one of them freed it.
 *
 * Waiting. Every blocking call takes `double timeout` seconds: MPK_FOREVER
 * (any negative value) blocks without limit, 0 polls once, NaN is
 * MPK_EINVAL. Deadlines are on CLOCK_MONOTONIC and are fixed at the start of
 * the call, so signals (EINTR, retried) never stretch them. A waiter spins
 * briefly and then sleeps on a futex word; nobody ever sleeps on a
 * process-shared pthread_cond_t. A release / set / notify makes no system
 * call when nobody sleeps. The spin length: MPK_SPIN_US microseconds
 * (default 50); MPK_WAIT_POLICY (or OMP_WAIT_POLICY) "passive" does not
 * spin at all, "active" spins up to 10 ms unless MPK_SPIN_US says otherwise.
 *
 * Dying processes. Locks are robust: the holder's thread keeps the lock in
 * its kernel robust-futex list (the mechanism under glibc's robust
 * mutexes), so when a holder dies (SIGKILL, crash, thread or process exit,
 * exec), the kernel marks the lock and wakes a waiter; the next acquirer
 * gets MPK_EOWNERDEAD and holds the lock; the data it guards may be
 * half-updated. A waiter that dies while asleep in any wait never blocks
 * the others: wake-ups go to live sleepers only (the kernel drops a dead
 * sleeper from the futex queue). Its only trace is a waiter count one too
 * high, which costs later releases one futex system call each. A waiter
 * killed after a release woke it, before it took the lock or the unit,
 * passes that wake-up on (Lock, RLock, Semaphore); the one exception is a
 * Condition's notify(n): see mpk_cond_notify.
 *
 * Ownership. Lock and RLock have owners: the (process, thread) that acquired
 * them, identified by its kernel thread id. Releasing a lock the caller does
 * not hold is MPK_EPERM, a documented divergence from Python, whose Lock may
 * be released by anyone. After fork() the child holds none of the locks the
 * parent held (it cannot release them: MPK_EPERM).
 *
 * Errors common to every call: MPK_EINVAL for a NULL out-pointer, a NaN
 * timeout, or a bad handle: one that is not a live object of the right kind
 * (NULL, outside the shared heap, not the start of an object, another kind,
 * or freed and not reused; mpk/shm.h, "Handles"). A bad handle never
 * crashes a call; mpk_x_free ignores it. A failed call changes nothing.
 */
#ifndef MPK_SYNC_H
#define MPK_SYNC_H

#include "mpk/common.h"
#include "mpk/error.h"

MPK_BEGIN_DECLS

typedef struct mpk_lock mpk_lock_t;
typedef struct mpk_rlock mpk_rlock_t;
typedef struct mpk_sem mpk_sem_t;
typedef struct mpk_event mpk_event_t;
typedef struct mpk_cond mpk_cond_t;
typedef struct mpk_barrier mpk_barrier_t;

/* ---- Lock: multiprocessing.Lock ----------------------------------------- */

/* Make an unlocked Lock in the shared heap. MPK_EINVAL (l NULL),
   MPK_ENOMEM, MPK_ENOSYS (no kernel robust-futex list for this thread: not
   glibc on a 64-bit Linux, or set_robust_list / get_robust_list blocked).
   MT-safe, MP-safe. */
MPK_API int mpk_lock_new(mpk_lock_t **l);

/* Acquire within `timeout` seconds.
   MPK_OK: acquired.
   MPK_EOWNERDEAD: acquired, but the previous holder died holding it (the
     data it guards may be half-updated); the lock works normally afterwards.
   MPK_ETIMEDOUT: not acquired (also for a poll, timeout 0, of a held lock).
   MPK_EDEADLK: the calling thread already holds it. Python would deadlock
     here (or return False after its timeout); mpk reports it at once.
   MPK_ENOSYS: this thread has no kernel robust list (see mpk_lock_new).
   MT-safe, MP-safe. Not AS-safe. */
MPK_API int mpk_lock_acquire(mpk_lock_t *l, double timeout);

/* Release. MPK_EPERM when the calling thread does not hold the lock
   (divergence from Python, where any process may release a Lock).
   MT-safe, MP-safe. Not AS-safe. */
MPK_API int mpk_lock_release(mpk_lock_t *l);

/* 1 while some thread holds the lock, 0 when it is free, MPK_EINVAL for a
   bad handle. A lock whose holder died reports 1 until the next acquire
   recovers it (with MPK_EOWNERDEAD). A snapshot: it may change at once.
   MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_lock_locked(mpk_lock_t *l);

/* Free (NULL: no-op). Nobody else may hold, wait on or use it any more; if
   the caller holds it, it is released first. */
MPK_API void mpk_lock_free(mpk_lock_t *l);

/* ---- RLock: multiprocessing.RLock --------------------------------------- */

/* Make a free RLock. MPK_EINVAL, MPK_ENOMEM, MPK_ENOSYS (as mpk_lock_new).
   MT-safe, MP-safe. */
MPK_API int mpk_rlock_new(mpk_rlock_t **l);

/* Acquire within `timeout`. The owner is the calling (process, thread); an
   owner acquiring again only increments the recursion count (never blocks).
   MPK_OK; MPK_EOWNERDEAD (acquired; the previous owner died holding it, at
   whatever depth: the count starts afresh at 1); MPK_ETIMEDOUT;
   MPK_EOVERFLOW when the count would pass UINT32_MAX (nothing changes);
   MPK_ENOSYS as mpk_lock_acquire. MT-safe, MP-safe. Not AS-safe. */
MPK_API int mpk_rlock_acquire(mpk_rlock_t *l, double timeout);

/* Undo one acquire; the lock is free when the count reaches 0. MPK_EPERM
   when the caller is not the owner. MT-safe, MP-safe. Not AS-safe. */
MPK_API int mpk_rlock_release(mpk_rlock_t *l);

/* Free (NULL: no-op); released first if the caller owns it. */
MPK_API void mpk_rlock_free(mpk_rlock_t *l);

/* ---- Semaphore / BoundedSemaphore --------------------------------------- */

/* Make a semaphore with `value` (<= INT_MAX) free units. bounded = 1 makes a
   BoundedSemaphore whose value may never exceed the initial `value`;
   bounded = 0 a plain Semaphore. MPK_EINVAL (s NULL, value > INT_MAX,
   bounded not 0/1), MPK_ENOMEM, MPK_ENOSYS (as mpk_lock_new: its sleepers
   queue in a robust lock). MT-safe, MP-safe. */
MPK_API int mpk_sem_new(mpk_sem_t **s, unsigned value, int bounded);

/* Take one unit, waiting up to `timeout` for one. MPK_OK; MPK_ETIMEDOUT;
   MPK_ENOSYS when it must sleep in a thread without a robust list (see
   mpk_lock_new). Sleepers take turns: one waits for a unit, the others
   queue behind it in a robust lock, so a sleeper killed at any instant
   (even right after a release woke it) hands its turn to the next one.
   MT-safe, MP-safe. */
MPK_API int mpk_sem_acquire(mpk_sem_t *s, double timeout);

/* Give one unit back and wake one sleeper if there is one. MPK_EOVERFLOW
   (nothing changes) when a bounded semaphore is already at its initial
   value, or any semaphore at INT_MAX. Anyone may release (no owner, as in
   Python). MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_sem_release(mpk_sem_t *s);

/* Current value (>= 0; a snapshot), MPK_EINVAL for a bad handle.
   MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_sem_value(mpk_sem_t *s);

/* Free (NULL: no-op). */
MPK_API void mpk_sem_free(mpk_sem_t *s);

/* ---- Event: multiprocessing.Event ---------------------------------------- */

/* Make an Event whose flag is clear. MPK_EINVAL, MPK_ENOMEM. */
MPK_API int mpk_event_new(mpk_event_t **e);

/* Set the flag and wake every waiter (no system call when none sleeps).
   Setting a set Event does nothing. MPK_OK. MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_event_set(mpk_event_t *e);

/* Clear the flag. MPK_OK. MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_event_clear(mpk_event_t *e);

/* 1 if the flag is set, 0 if not, MPK_EINVAL. MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_event_is_set(mpk_event_t *e);

/* Wait up to `timeout` for the flag. MPK_OK if it is set on entry or is set
   at any moment during the wait (even if cleared again right after, as in
   Python's threading.Event); MPK_ETIMEDOUT otherwise. MT-safe, MP-safe. */
MPK_API int mpk_event_wait(mpk_event_t *e, double timeout);

/* Free (NULL: no-op). */
MPK_API void mpk_event_free(mpk_event_t *e);

/* ---- Condition: multiprocessing.Condition ------------------------------- */

/* Make a Condition on `lock` (an mpk Lock, which must outlive it and is not
   freed with it), or on a Lock of its own when `lock` is NULL.
   MPK_EINVAL (c NULL, lock not a live Lock), MPK_ENOMEM, MPK_ENOSYS (as
   mpk_lock_new). MT-safe, MP-safe. */
MPK_API int mpk_cond_new(mpk_cond_t **c, mpk_lock_t *lock);

/* The Condition's lock: as mpk_lock_acquire / mpk_lock_release. */
MPK_API int mpk_cond_acquire(mpk_cond_t *c, double timeout);
MPK_API int mpk_cond_release(mpk_cond_t *c);

/* The Condition's lock (for mpk_lock_locked and friends). NULL for a bad
   handle. */
MPK_API mpk_lock_t *mpk_cond_lock(mpk_cond_t *c);

/* Release the lock, sleep until notified or `timeout` passes, re-acquire
   the lock (without a limit, also after a timeout) and return.
   MPK_OK: woken (by a notify, or spuriously: see below).
   MPK_ETIMEDOUT: the timeout passed; the lock is held again.
   MPK_EOWNERDEAD: the re-acquire found that a holder died with the lock;
     the caller holds it; the guarded data may be half-updated.
   MPK_EPERM: the caller does not hold the lock (nothing happens).
   Built on a futex sequence word: a wait may return MPK_OK without a
   notify, and notify(n) may wake more than n waiters (waiters that are
   between releasing the lock and falling asleep see every notify), as POSIX
   allows for condition variables. Re-check the predicate, or use
   mpk_cond_wait_for. MT-safe, MP-safe. */
MPK_API int mpk_cond_wait(mpk_cond_t *c, double timeout);

/* Python's wait_for: return MPK_OK as soon as pred(arg) returns non-zero
   (checked first without waiting, then after every wake-up, always with the
   lock held), MPK_ETIMEDOUT when `timeout` passes with pred still 0 (the
   lock is held on return in both cases). MPK_EOWNERDEAD as mpk_cond_wait
   (returned at once, pred not re-checked). MPK_EPERM when the caller does
   not hold the lock, MPK_EINVAL when pred is NULL. MT-safe, MP-safe. */
MPK_API int mpk_cond_wait_for(mpk_cond_t *c, int (*pred)(void *), void *arg,
                              double timeout);

/* Wake up to n (>= 0) waiters (more may wake: see mpk_cond_wait); n = 0
   does nothing. No system call when nobody waits. Sleepers that died are
   skipped, but a waiter killed in the instant after this call woke it uses
   up its share; prefer notify_all when waiters may be killed.
   MPK_EPERM when the caller does not hold the lock, MPK_EINVAL for n < 0.
   MT-safe, MP-safe. */
MPK_API int mpk_cond_notify(mpk_cond_t *c, int n);

/* Wake every waiter. MPK_EPERM when the caller does not hold the lock. */
MPK_API int mpk_cond_notify_all(mpk_cond_t *c);

/* Free (NULL: no-op); frees its own lock, never a caller's. */
MPK_API void mpk_cond_free(mpk_cond_t *c);

/* ---- Barrier: multiprocessing.Barrier ------------------------------------ */

/* Make a barrier for `parties` (1 .. 16777215) waiters. MPK_EINVAL for 0 or
   more, MPK_ENOMEM. MT-safe, MP-safe. */
MPK_API int mpk_barrier_new(mpk_barrier_t **b, unsigned parties);

/* Wait until `parties` waiters have arrived, then all of them go on.
   Returns the caller's arrival index, 0 .. parties-1, distinct among the
   waiters of one round (the last to arrive gets parties-1). The barrier is
   reusable: the next `parties` waiters form the next round.
   MPK_EBROKEN: the barrier is broken (abort, a timed-out waiter, or a reset
     while this waiter was waiting); it stays broken until mpk_barrier_reset.
   MPK_ETIMEDOUT: this waiter's timeout passed first: it breaks the barrier
     (as Python does), so the other waiters get MPK_EBROKEN.
   A party that dies before arriving makes the others wait until their
   timeouts; one that dies after arriving still counts as arrived.
   MT-safe, MP-safe. */
MPK_API int mpk_barrier_wait(mpk_barrier_t *b, double timeout);

/* Break the barrier: every current and future waiter gets MPK_EBROKEN until
   mpk_barrier_reset. MPK_OK (also when already broken). MT-safe, MP-safe. */
MPK_API int mpk_barrier_abort(mpk_barrier_t *b);

/* Return the barrier to its empty, unbroken state. Waiters blocked in it
   at that moment get MPK_EBROKEN; later waiters start a fresh round.
   MPK_OK. MT-safe, MP-safe. */
MPK_API int mpk_barrier_reset(mpk_barrier_t *b);

/* Waiters arrived in the current round (0 while broken), MPK_EINVAL.
   Waiters that died after arriving are counted. MT-safe, MP-safe. */
MPK_API int mpk_barrier_n_waiting(mpk_barrier_t *b);

/* 1 if broken, 0 if not, MPK_EINVAL. MT-safe, MP-safe. */
MPK_API int mpk_barrier_broken(mpk_barrier_t *b);

/* The number of parties, MPK_EINVAL. MT-safe, MP-safe. */
MPK_API int mpk_barrier_parties(mpk_barrier_t *b);

/* Free (NULL: no-op). */
MPK_API void mpk_barrier_free(mpk_barrier_t *b);

MPK_END_DECLS

#endif
