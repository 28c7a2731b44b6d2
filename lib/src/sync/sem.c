/* sem.c - Semaphore and BoundedSemaphore on one futex word.
 *
 * `value` is the number of free units and the futex word of the head
 * sleeper. `sleepers` counts takers past their spin, so a release makes the
 * wake system call only when someone may sleep.
 *
 * Lost wake-ups between a taker and a releaser are ruled out by the
 * classic pairing, all seq_cst:
 *   taker:    sleepers++ ; read value == 0 ; futex_wait(value, 0)
 *   releaser: value++    ; read sleepers  ; wake the head if > 0
 * Either the releaser sees the sleeper (and wakes it), or the taker sees
 * the new value (and does not sleep); futex_wait itself re-checks
 * value == 0 atomically in the kernel.
 *
 * Deaths. A sleeper may be SIGKILLed at any instant, even right after a
 * release woke it and before it took its unit; the others must not sleep
 * on while that unit is free. So sleepers take turns: only the head
 * sleeper, the holder of `gate` (a robust lock, internal/robust.h), sleeps
 * on `value`; the others sleep in the gate. A release's one wake-up always
 * goes to the head, which takes a unit and passes the gate on. A head that
 * dies, asleep or woken, still holds the gate: the kernel marks the gate's
 * owner dead and wakes the next sleeper there, which becomes head and looks
 * at `value` before it sleeps. A taker killed while queued in the gate is
 * the robust lock's own case (a woken waiter's death is passed on). A dead
 * sleeper stays counted in `sleepers`: one spare wake call per release.
 * Costs: n units released at once reach n sleepers one hand-over after
 * another (as a FIFO queue would), and a contended take pays a gate
 * acquire (a CAS when the gate is free).
 */
#include "internal/sync.h"

#include <limits.h>

#include "mpk/shm.h"

/* One cache line: every field is written by each contended acquire or
   release of this semaphore; keeping other objects off the line avoids
   false sharing. */
struct mpk_sem {
  alignas(64) uint32_t magic; /* MPK__SEM_MAGIC; constant while live */
  uint32_t max;               /* bounded: the initial value; else INT_MAX */
  _Atomic uint32_t value;     /* free units, 0 .. max; the head's futex word */
  _Atomic uint32_t sleepers;  /* takers past their spin */
  mpk__rmutex gate;           /* held by the head sleeper */
};
_Static_assert(sizeof(struct mpk_sem) == 64, "a Semaphore is one cache line");
_Static_assert(alignof(struct mpk_sem) == 64, "Semaphore alignment");

static bool valid(const mpk_sem_t *s) {
  return MPK__SHM_LIVE(s, MPK__SEM_MAGIC);
}

int mpk_sem_new(mpk_sem_t **out, unsigned value, int bounded) {
  if (out == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_sem_new: s is NULL");
  if (value > INT_MAX)
    return mpk__errf(MPK_EINVAL, "semaphore value %u > INT_MAX", value);
  if (bounded != 0 && bounded != 1)
    return mpk__errf(MPK_EINVAL, "semaphore: bounded is %d, not 0 or 1",
                     bounded);
  mpk_sem_t *s;
  int r =
      mpk__rmutex_line_new(sizeof *s, offsetof(mpk_sem_t, gate), (void **)&s);
  if (r != MPK_OK)
    return r;
  s->max = bounded ? value : (uint32_t)INT_MAX;
  atomic_init(&s->value, value);
  atomic_init(&s->sleepers, 0);
  s->magic = MPK__SEM_MAGIC;
  *out = s;
  return MPK_OK;
}

/* Take a unit if there is one. Acquire order on success: what the releaser
   did before releasing happens-before what we do after acquiring. */
static bool try_take(mpk_sem_t *s) {
  uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
  while (v > 0) {
    if (atomic_compare_exchange_weak_explicit(
            &s->value, &v, v - 1, memory_order_acquire, memory_order_relaxed))
      return true;
  }
  return false;
}

/* The head's part: sleep on value until a unit is taken or the deadline. */
static int take_as_head(mpk_sem_t *s, const mpk__deadline *d) {
  int r = MPK_OK;
  for (;;) {
    if (atomic_load_explicit(&s->value, memory_order_seq_cst) > 0 &&
        try_take(s))
      return MPK_OK;
    if (r == MPK_ETIMEDOUT)
      return r; /* a last look after the deadline, then give up */
    r = mpk__futex_wait(&s->value, 0, d);
  }
}

static int acquire(mpk_sem_t *s, double timeout) {
  if (try_take(s))
    return MPK_OK;
  if (timeout == 0)
    return MPK_ETIMEDOUT;
  mpk__deadline d;
  mpk__deadline_init(&d, timeout);
  mpk__spin sp = MPK__SPIN_INIT(&d);
  while (mpk__spin_more(&sp)) {
    if (atomic_load_explicit(&s->value, memory_order_relaxed) > 0 &&
        try_take(s))
      return MPK_OK;
  }
  atomic_fetch_add_explicit(&s->sleepers, 1, memory_order_seq_cst);
  /* MPK_EOWNERDEAD from the gate: the previous head died; we are the head
     now, and a unit it may have been woken for is still in value. */
  int r = mpk__rmutex_lock(&s->gate, &d);
  if (r == MPK_OK || r == MPK_EOWNERDEAD) {
    r = take_as_head(s, &d);
    mpk__rmutex_unlock(&s->gate);
  } else if (r == MPK_ETIMEDOUT && try_take(s)) {
    r = MPK_OK; /* a last look after the deadline */
  }
  atomic_fetch_sub_explicit(&s->sleepers, 1, memory_order_relaxed);
  return r;
}

int mpk_sem_acquire(mpk_sem_t *s, double timeout) {
  int rc =
      mpk__sync_wait_args(__func__, valid(s), s, "s", "mpk_sem_t", timeout);
  if (rc != MPK_OK)
    return rc;
  return mpk__err_if(acquire(s, timeout));
}

int mpk_sem_release(mpk_sem_t *s) {
  if (!valid(s))
    return mpk__err_lit(MPK_EINVAL, "mpk_sem_release: s is not a live "
                                    "mpk_sem_t");
  uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
  do {
    if (v >= s->max)
      return mpk__err_lit(MPK_EOVERFLOW,
                          s->max == (uint32_t)INT_MAX
                              ? "mpk_sem_release: the value is at INT_MAX"
                              : "mpk_sem_release: a bounded semaphore "
                                "released above its initial value");
    /* seq_cst: ordered before the read of sleepers below (see the top of
       the file); also a release for what we did before. */
  } while (!atomic_compare_exchange_weak_explicit(
      &s->value, &v, v + 1, memory_order_seq_cst, memory_order_relaxed));
  if (atomic_load_explicit(&s->sleepers, memory_order_seq_cst) > 0)
    mpk__futex_wake(&s->value, 1);
  return MPK_OK;
}

int mpk_sem_value(mpk_sem_t *s) {
  if (!valid(s))
    return mpk__err_lit(MPK_EINVAL, "mpk_sem_value: s is not a live mpk_sem_t");
  return (int)atomic_load_explicit(&s->value, memory_order_relaxed);
}

void mpk_sem_free(mpk_sem_t *s) {
  if (!valid(s))
    return;
  s->magic = MPK__SYNC_FREED;
  mpk__rmutex_destroy(&s->gate);
  mpk_shm_free(s);
}
