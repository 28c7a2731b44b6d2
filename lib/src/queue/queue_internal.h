/* queue/queue_internal.h - test hooks of the queue (never installed). */
#ifndef MPK_QUEUE_QUEUE_INTERNAL_H
#define MPK_QUEUE_QUEUE_INTERNAL_H

#include <stdint.h>

#include "mpk/queue.h"

/* How many times a sleeper of q (a get waiting for a message, a put waiting
   for room, a join) found its condition true after sleeping a whole re-check
   slice without being woken: a wake-up that never came. Only a waker killed
   between publishing and waking should cause one, so tests without kills
   expect 0. MT-safe, MP-safe. */
uint32_t mpk__queue_missed_wakes(const mpk_queue_t *q);

#endif
