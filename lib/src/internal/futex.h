/* internal/futex.h - futex words shared between processes and threads.
 *
 * Every blocking wait in mpk sleeps on a 32-bit futex word in the shared
 * heap (never on a process-shared pthread_cond_t, which can wedge forever
 * when a waiter is SIGKILLed inside it). The futexes are not FUTEX_PRIVATE:
 * the same word is waited on from several processes.
 */
#ifndef MPK_INTERNAL_FUTEX_H
#define MPK_INTERNAL_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

#include "internal/clock.h"

/* Sleep while *word == expected, until woken or the deadline passes.
   Returns MPK_OK when woken, when *word already differed, or on EINTR /
   spurious wake-up (callers always re-check their condition in a loop);
   MPK_ETIMEDOUT when the deadline has passed. MT-safe, MP-safe. */
int mpk__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                    const mpk__deadline *d);

/* Wake up to n sleepers on word (INT32_MAX: all). Returns how many woke. */
int mpk__futex_wake(_Atomic uint32_t *word, int n);

/* One pause instruction: the body of every spin loop. */
static inline void mpk__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif
