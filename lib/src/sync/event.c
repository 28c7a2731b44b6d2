/* event.c - Event on one futex word.
 *
 * word = (generation << 1) | flag. set() turns the flag on and bumps the
 * generation in one CAS, so a waiter that saw the word with the flag clear
 * notices any set() made while it waited, even one cleared again at once:
 * the word can never return to the value the waiter went to sleep on
 * (until the 31-bit generation wraps: 2^31 set/clear pairs during one wait).
 * clear() only drops the flag bit.
 *
 * `sleepers` lets set() skip the wake system call when nobody sleeps; the
 * same seq_cst pairing as in sem.c rules out lost wake-ups:
 *   waiter: sleepers++ ; read word (flag clear) ; futex_wait(word, seen)
 *   setter: CAS word    ; read sleepers          ; wake all if > 0
 * A sleeper SIGKILLed in futex_wait leaves `sleepers` one too high (later
 * sets make one wasted wake call); set() wakes all, so nobody misses it.
 */
#include "internal/sync.h"

#include <limits.h>

#include "mpk/shm.h"

/* One cache line: the word is written by set / clear and read by every
   waiter; other objects on the line would be falsely shared. */
struct mpk_event {
  alignas(64) uint32_t magic; /* MPK__EVENT_MAGIC; constant while live */
  _Atomic uint32_t word;      /* (generation << 1) | flag; the futex word */
  _Atomic uint32_t sleepers;  /* waiters that may be in futex_wait */
};
_Static_assert(sizeof(struct mpk_event) == 64, "an Event is one cache line");
_Static_assert(alignof(struct mpk_event) == 64, "Event alignment");

static bool valid(const mpk_event_t *e) {
  return MPK__SHM_LIVE(e, MPK__EVENT_MAGIC);
}

int mpk_event_new(mpk_event_t **out) {
  if (out == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_event_new: e is NULL");
  mpk_event_t *e = mpk_shm_alloc(sizeof *e);
  if (e == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_alloc */
  atomic_init(&e->word, 0);
  atomic_init(&e->sleepers, 0);
  e->magic = MPK__EVENT_MAGIC;
  *out = e;
  return MPK_OK;
}

int mpk_event_set(mpk_event_t *e) {
  if (!valid(e))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_event_set: e is not a live mpk_event_t");
  uint32_t w = atomic_load_explicit(&e->word, memory_order_acquire);
  do {
    if (w & 1u)
      return MPK_OK; /* already set: nothing to publish, nobody to wake */
    /* seq_cst: a release for what the setter did before (waiters acquire
       the word), and ordered before the read of sleepers below. */
  } while (!atomic_compare_exchange_weak_explicit(
      &e->word, &w, (w + 2u) | 1u, memory_order_seq_cst, memory_order_acquire));
  if (atomic_load_explicit(&e->sleepers, memory_order_seq_cst) > 0)
    mpk__futex_wake(&e->word, INT_MAX);
  return MPK_OK;
}

int mpk_event_clear(mpk_event_t *e) {
  if (!valid(e))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_event_clear: e is not a live mpk_event_t");
  /* relaxed: clearing publishes nothing; waiters never wait for a clear. */
  atomic_fetch_and_explicit(&e->word, ~1u, memory_order_relaxed);
  return MPK_OK;
}

int mpk_event_is_set(mpk_event_t *e) {
  if (!valid(e))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_event_is_set: e is not a live mpk_event_t");
  /* acquire: a caller that sees the flag also sees what the setter wrote
     before mpk_event_set. */
  return (int)(atomic_load_explicit(&e->word, memory_order_acquire) & 1u);
}

static int wait(mpk_event_t *e, double timeout) {
  /* acquire (here and below): pairs with the setter's CAS. */
  uint32_t seen = atomic_load_explicit(&e->word, memory_order_acquire);
  if (seen & 1u)
    return MPK_OK;
  if (timeout == 0)
    return MPK_ETIMEDOUT;
  mpk__deadline d;
  mpk__deadline_init(&d, timeout);
  /* From here on any change of the word means a set() happened (a clear()
     of a clear flag changes nothing). */
  mpk__spin sp = MPK__SPIN_INIT(&d);
  while (mpk__spin_more(&sp)) {
    if (atomic_load_explicit(&e->word, memory_order_acquire) != seen)
      return MPK_OK;
  }
  int r = MPK_OK;
  atomic_fetch_add_explicit(&e->sleepers, 1, memory_order_seq_cst);
  for (;;) {
    if (atomic_load_explicit(&e->word, memory_order_seq_cst) != seen) {
      r = MPK_OK;
      break;
    }
    if (r == MPK_ETIMEDOUT)
      break;
    r = mpk__futex_wait(&e->word, seen, &d);
  }
  atomic_fetch_sub_explicit(&e->sleepers, 1, memory_order_relaxed);
  return r;
}

int mpk_event_wait(mpk_event_t *e, double timeout) {
  int rc =
      mpk__sync_wait_args(__func__, valid(e), e, "e", "mpk_event_t", timeout);
  if (rc != MPK_OK)
    return rc;
  return mpk__err_if(wait(e, timeout));
}

void mpk_event_free(mpk_event_t *e) {
  if (!valid(e))
    return;
  e->magic = MPK__SYNC_FREED;
  mpk_shm_free(e);
}
