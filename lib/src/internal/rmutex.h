/* internal/rmutex.h - the robust, process-shared mutex under every mpk lock.
 *
 * A pthread mutex with PTHREAD_PROCESS_SHARED and PTHREAD_MUTEX_ROBUST,
 * living in the shared heap. The kernel's robust list hands a mutex whose
 * holder died to the next acquirer, which gets MPK_EOWNERDEAD (and holds the
 * mutex, already made consistent) instead of hanging. Ownership is the
 * holder's thread id, unique across processes, so release by a non-holder is
 * MPK_EPERM. Waiting spins briefly with trylock, then sleeps in the kernel
 * (pthread_mutex_clocklock on CLOCK_MONOTONIC).
 */
#ifndef MPK_INTERNAL_RMUTEX_H
#define MPK_INTERNAL_RMUTEX_H

#include <pthread.h>

#include "internal/clock.h"

typedef struct {
  pthread_mutex_t m;
} mpk__rmutex;

/* Returns MPK_OK or a negative code from pthread (MPK_ENOMEM, ...). */
int mpk__rmutex_init(mpk__rmutex *m);

/* Acquire before the deadline. MPK_OK; MPK_EOWNERDEAD (held, consistent,
   the protected data may be half-updated); MPK_ETIMEDOUT; MPK_EDEADLK when
   the calling thread already holds it. MT-safe, MP-safe. */
int mpk__rmutex_lock(mpk__rmutex *m, const mpk__deadline *d);

/* Acquire without a deadline: MPK_OK or MPK_EOWNERDEAD (MPK_EDEADLK if the
   caller already holds it). */
int mpk__rmutex_lock_forever(mpk__rmutex *m);

/* Release. MPK_EPERM when the calling thread does not hold it. */
int mpk__rmutex_unlock(mpk__rmutex *m);

void mpk__rmutex_destroy(mpk__rmutex *m);

#endif
