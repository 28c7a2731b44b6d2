/* queue/wait.c - how a queue call waits: spin briefly, then sleep on a futex
 * word (see ring_internal.h, and "Waiting" at the top of queue.c).
 */
#include <limits.h>

#include "internal/futex.h"
#include "internal/spin.h"
#include "queue/queue_internal.h"
#include "queue/ring_internal.h"

/* A sleeper re-checks its condition at least this often (20 ms): the bound
   on the delay a killed waker can cause. Idle cost: 50 wake-ups a second. */
#define RECHECK_NS 20000000L

/* The condition, from fresh seq_cst loads (after a waiter registered, these
   loads are the second half of the Dekker pair with the waker's store). */
static bool ready(queue *q, wait_kind k, uint32_t need) {
  switch (k) {
  case W_DATA:
    return atomic_load(&q->tail) != atomic_load(&q->head) ||
           atomic_load(&q->closing);
  case W_SPACE: {
    uint32_t t = w_pos(atomic_load(&q->tail));
    uint32_t h = w_pos(atomic_load(&q->head));
    return q->size - used_bytes(q, t, h) >= need || atomic_load(&q->closing);
  }
  case W_JOIN: return atomic_load(&q->done) == w_count(atomic_load(&q->tail));
  }
  return true;
}

/* Spin (the library's policy, internal/spin.h) until ready, the budget is
   spent or the deadline passes. */
static bool spin(queue *q, wait_kind k, uint32_t need, const mpk__deadline *d) {
  mpk__spin sp = MPK__SPIN_INIT(d);
  while (mpk__spin_more(&sp))
    if (ready(q, k, need))
      return true;
  return false;
}

/* false: no slices (mpk__queue_set_recheck, a test hook). Relaxed: it is
   set before the waits it governs. */
static atomic_bool g_recheck = true;

void mpk__queue_set_recheck(bool on) {
  atomic_store_explicit(&g_recheck, on, memory_order_relaxed);
}

static void slice_deadline(const mpk__deadline *d, mpk__deadline *s) {
  if (!atomic_load_explicit(&g_recheck, memory_order_relaxed)) {
    *s = *d;
    return;
  }
  s->forever = false;
  clock_gettime(CLOCK_MONOTONIC, &s->abs);
  s->abs.tv_nsec += RECHECK_NS;
  if (s->abs.tv_nsec >= 1000000000L) {
    s->abs.tv_sec += 1;
    s->abs.tv_nsec -= 1000000000L;
  }
  if (!d->forever && ts_ns(&d->abs) < ts_ns(&s->abs))
    s->abs = d->abs;
}

int mpk__queue_wait(queue *q, wait_kind k, uint32_t need,
                    const mpk__deadline *d) {
  if (ready(q, k, need))
    return MPK_OK;
  if (!d->forever && mpk__deadline_expired(d))
    return MPK_ETIMEDOUT;
  if (spin(q, k, need, d))
    return MPK_OK;
  _Atomic uint32_t *seq, *waiters;
  switch (k) {
  case W_DATA: seq = &q->data_seq, waiters = &q->get_waiters; break;
  case W_SPACE: seq = &q->space_seq, waiters = &q->put_waiters; break;
  default: seq = &q->done, waiters = &q->join_waiters; break;
  }
  /* W_DATA / W_SPACE sleepers hold the side lock (MPMC) or own the side
     (SPSC): nobody else can be
     registered on their word, so they may clear the flag when they leave.
     Joiners are many and leave it set (one extra wake-up at most). */
  bool sole = k != W_JOIN;
  int r = MPK_ETIMEDOUT;
  for (;;) {
    /* Read the futex word before registering: a waker that saw us
       registered changes it after, so the futex wait cannot miss it. */
    uint32_t w = atomic_load_explicit(seq, memory_order_acquire);
    atomic_store(waiters, 1); /* seq_cst: first half of the Dekker pair */
    if (ready(q, k, need)) {
      r = MPK_OK;
      break;
    }
    mpk__deadline s;
    slice_deadline(d, &s);
    int f = mpk__futex_wait(seq, w, &s);
    if (ready(q, k, need)) {
      if (f == MPK_ETIMEDOUT && atomic_load(seq) == w)
        atomic_fetch_add_explicit(&q->missed_wakes, 1, memory_order_relaxed);
      r = MPK_OK;
      break;
    }
    if (!d->forever && mpk__deadline_expired(d))
      break;
  }
  if (sole)
    atomic_store_explicit(waiters, 0, memory_order_relaxed);
  return r;
}

void mpk__queue_wake(_Atomic uint32_t *seq, _Atomic uint32_t *waiters) {
  if (atomic_load_explicit(waiters, memory_order_seq_cst) == 0)
    return;
  /* Claim the wake-up: later publishers see 0 and make no system call
     while the sleepers we wake get going; a sleeper that must sleep again
     registers again. */
  if (atomic_exchange(waiters, 0) == 0)
    return;
  atomic_fetch_add_explicit(seq, 1, memory_order_release);
  mpk__futex_wake(seq, INT_MAX);
}
