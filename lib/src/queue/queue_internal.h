/* queue/queue_internal.h - test hooks of the queue (never installed). */
#ifndef MPK_QUEUE_QUEUE_INTERNAL_H
#define MPK_QUEUE_QUEUE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mpk/queue.h"

/* How many times a sleeper of q (a get waiting for a message, a put waiting
   for room, a join) found its condition true after sleeping a whole re-check
   slice without being woken: a wake-up that never came. Only a waker killed
   between publishing and waking should cause one, so tests without kills
   expect 0. MT-safe, MP-safe. */
uint32_t mpk__queue_missed_wakes(const mpk_queue_t *q);

/* on = false: from now on, in this process and in processes it forks
   later, a sleeper of any queue sleeps until it is woken or its own
   timeout ends, without the 20 ms re-check slices (on = true, the default,
   restores them). A wake-up that never comes is then a call that does not
   return before its timeout, which a test bounds, instead of a 20 ms delay
   that only mpk__queue_missed_wakes shows, and a waker descheduled between
   publishing and waking only delays the sleeper. The slices are what bound
   the delay a killed waker causes: keep them where wakers are killed.
   Tests only; set before the waits it should govern start. MT-safe. */
void mpk__queue_set_recheck(bool on);

#endif
