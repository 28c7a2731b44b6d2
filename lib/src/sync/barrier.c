/* barrier.c - Barrier: one 64-bit state word, a futex word to sleep on.
 *
 * state (64 bits, changed only by CAS):
 *   bits  0..23  count   waiters arrived in the current round
 *   bit   24     broken  set by abort, by a timed-out waiter
 *   bits 25..39  round   current round number (mod 2^15)
 *   bits 40..63  hist    how the last 24 rounds ended, newest in bit 0:
 *                        0 = everybody arrived, 1 = torn down by reset
 * An arrival reads the round and takes its index in one CAS (count + 1).
 * The last arrival (count + 1 == parties) instead starts the next round:
 * count 0, round + 1, hist << 1. abort / a timeout set `broken`; reset
 * starts the next round with hist bit 1, which tells the waiters of the
 * old round that it was torn down (they return MPK_EBROKEN) rather than
 * completed. A waiter of round g that looks at the state d >= 1 rounds
 * later reads the outcome of round g at hist bit d - 1. If it has not run
 * for more than 24 rounds (possible only when more threads than parties
 * use the barrier), the outcome is gone and it reports success.
 *
 * Waiting: spin on `state`, then sleep on `seq`, a counter bumped after
 * every change a waiter must see (next round, broken). `sleepers` lets the
 * changer skip the wake call when nobody sleeps; as in sem.c, seq_cst on
 *   waiter:  read seq ; sleepers++ ; read state (undecided) ; futex_wait(seq)
 *   changer: CAS state ; seq++     ; read sleepers ; wake all if > 0
 * rules out lost wake-ups. A waiter SIGKILLed while asleep has already
 * arrived: it counts for its round (as in Python), and it leaves `sleepers`
 * one too high, which only costs later rounds a wake call.
 */
#include "internal/sync.h"

#include <limits.h>

#include "mpk/shm.h"

#define COUNT_MASK 0xffffffull
#define BROKEN_BIT (1ull << 24)
#define ROUND_SHIFT 25
#define ROUND_MASK 0x7fffu
#define HIST_SHIFT 40
#define HIST_BITS 24u
#define MAX_PARTIES 0xffffffu

/* One cache line: every arrival CASes `state` and every waiter reads it;
   seq / sleepers change together with it. Other objects on the line would
   be falsely shared. */
struct mpk_barrier {
  alignas(64) uint32_t magic; /* MPK__BARRIER_MAGIC; constant while live */
  uint32_t parties;           /* constant */
  _Atomic uint32_t seq;       /* futex word; bumped on every state change
                                 waiters must see (seq_cst, see above) */
  _Atomic uint32_t sleepers;  /* waiters that may be in futex_wait */
  _Atomic uint64_t state;     /* see the top of the file; 8-byte aligned */
};
_Static_assert(sizeof(struct mpk_barrier) == 64, "a Barrier is one line");
_Static_assert(alignof(struct mpk_barrier) == 64, "Barrier alignment");

static unsigned count_of(uint64_t s) {
  return (unsigned)(s & COUNT_MASK);
}
static unsigned round_of(uint64_t s) {
  return (unsigned)(s >> ROUND_SHIFT) & ROUND_MASK;
}

/* The state that starts the round after s's; reset = 1 when s's round is
   torn down rather than completed. */
static uint64_t next_round(uint64_t s, unsigned reset) {
  uint64_t hist = ((s >> HIST_SHIFT) << 1 | reset) & ((1ull << HIST_BITS) - 1);
  uint64_t round = (round_of(s) + 1u) & ROUND_MASK;
  return hist << HIST_SHIFT | round << ROUND_SHIFT;
}

static bool valid(const mpk_barrier_t *b) {
  return MPK__SHM_LIVE(b, MPK__BARRIER_MAGIC);
}

int mpk_barrier_new(mpk_barrier_t **out, unsigned parties) {
  if (out == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_barrier_new: b is NULL");
  if (parties == 0 || parties > MAX_PARTIES)
    return mpk__errf(MPK_EINVAL, "barrier: parties %u outside [1, %u]", parties,
                     (unsigned)MAX_PARTIES);
  mpk_barrier_t *b = mpk_shm_alloc(sizeof *b);
  if (b == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_alloc */
  b->parties = parties;
  atomic_init(&b->seq, 0);
  atomic_init(&b->sleepers, 0);
  atomic_init(&b->state, 0);
  b->magic = MPK__BARRIER_MAGIC;
  *out = b;
  return MPK_OK;
}

/* Tell waiters the state changed. */
static void announce(mpk_barrier_t *b) {
  atomic_fetch_add_explicit(&b->seq, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&b->sleepers, memory_order_seq_cst) > 0)
    mpk__futex_wake(&b->seq, INT_MAX);
}

enum { UNDECIDED = INT_MIN };

/* What state s means for the waiter with index idx of round g. */
static int decide(uint64_t s, unsigned g, int idx) {
  unsigned d = (round_of(s) - g) & ROUND_MASK;
  if (d == 0)
    return (s & BROKEN_BIT) ? MPK_EBROKEN : UNDECIDED;
  if (d - 1 < HIST_BITS && ((s >> HIST_SHIFT) >> (d - 1) & 1u))
    return MPK_EBROKEN;
  return idx;
}

/* Our timeout passed: break our round unless it was decided meanwhile. */
static int time_out(mpk_barrier_t *b, unsigned g, int idx) {
  uint64_t s = atomic_load_explicit(&b->state, memory_order_seq_cst);
  for (;;) {
    int res = decide(s, g, idx);
    if (res != UNDECIDED)
      return res;
    if (atomic_compare_exchange_weak_explicit(&b->state, &s, s | BROKEN_BIT,
                                              memory_order_seq_cst,
                                              memory_order_seq_cst))
      break;
  }
  announce(b);
  return MPK_ETIMEDOUT;
}

static int barrier_wait(mpk_barrier_t *b, double timeout) {
  /* Arrive. seq_cst CAS: a release of what we did before the barrier (the
     CASes of one round form a release sequence, so whoever reads the
     round's end sees all of it) and an acquire of the others'. */
  uint64_t s = atomic_load_explicit(&b->state, memory_order_relaxed);
  uint64_t ns;
  unsigned idx;
  do {
    if (s & BROKEN_BIT)
      return MPK_EBROKEN;
    idx = count_of(s);
    ns = idx + 1 == b->parties ? next_round(s, 0) : s + 1;
  } while (!atomic_compare_exchange_weak_explicit(
      &b->state, &s, ns, memory_order_seq_cst, memory_order_relaxed));
  if (idx + 1 == b->parties) {
    announce(b);
    return (int)idx;
  }
  unsigned g = round_of(s);
  /* Wait for the round to end. acquire loads: see the others' writes. */
  int res = decide(atomic_load_explicit(&b->state, memory_order_acquire), g,
                   (int)idx);
  if (res != UNDECIDED)
    return res;
  if (timeout == 0)
    return time_out(b, g, (int)idx);
  mpk__deadline d;
  mpk__deadline_init(&d, timeout);
  mpk__spin sp = MPK__SPIN_INIT(&d);
  while (mpk__spin_more(&sp)) {
    res = decide(atomic_load_explicit(&b->state, memory_order_acquire), g,
                 (int)idx);
    if (res != UNDECIDED)
      return res;
  }
  for (;;) {
    uint32_t v = atomic_load_explicit(&b->seq, memory_order_seq_cst);
    atomic_fetch_add_explicit(&b->sleepers, 1, memory_order_seq_cst);
    res = decide(atomic_load_explicit(&b->state, memory_order_seq_cst), g,
                 (int)idx);
    int r = MPK_OK;
    if (res == UNDECIDED)
      r = mpk__futex_wait(&b->seq, v, &d);
    atomic_fetch_sub_explicit(&b->sleepers, 1, memory_order_relaxed);
    if (res != UNDECIDED)
      return res;
    if (r == MPK_ETIMEDOUT)
      return time_out(b, g, (int)idx);
  }
}

int mpk_barrier_wait(mpk_barrier_t *b, double timeout) {
  int rc =
      mpk__sync_wait_args(__func__, valid(b), b, "b", "mpk_barrier_t", timeout);
  if (rc != MPK_OK)
    return rc;
  return mpk__err_if(barrier_wait(b, timeout));
}

int mpk_barrier_abort(mpk_barrier_t *b) {
  if (!valid(b))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_barrier_abort: b is not a live mpk_barrier_t");
  uint64_t s = atomic_load_explicit(&b->state, memory_order_relaxed);
  do {
    if (s & BROKEN_BIT)
      return MPK_OK;
  } while (!atomic_compare_exchange_weak_explicit(&b->state, &s, s | BROKEN_BIT,
                                                  memory_order_seq_cst,
                                                  memory_order_relaxed));
  announce(b);
  return MPK_OK;
}

int mpk_barrier_reset(mpk_barrier_t *b) {
  if (!valid(b))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_barrier_reset: b is not a live mpk_barrier_t");
  uint64_t s = atomic_load_explicit(&b->state, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&b->state, &s, next_round(s, 1),
                                                memory_order_seq_cst,
                                                memory_order_relaxed)) {
  }
  announce(b);
  return MPK_OK;
}

int mpk_barrier_n_waiting(mpk_barrier_t *b) {
  if (!valid(b))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_barrier_n_waiting: b is not a live mpk_barrier_t");
  uint64_t s = atomic_load_explicit(&b->state, memory_order_relaxed);
  return (s & BROKEN_BIT) ? 0 : (int)count_of(s);
}

int mpk_barrier_broken(mpk_barrier_t *b) {
  if (!valid(b))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_barrier_broken: b is not a live mpk_barrier_t");
  return (atomic_load_explicit(&b->state, memory_order_relaxed) & BROKEN_BIT)
             ? 1
             : 0;
}

int mpk_barrier_parties(mpk_barrier_t *b) {
  if (!valid(b))
    return mpk__err_lit(MPK_EINVAL,
                        "mpk_barrier_parties: b is not a live mpk_barrier_t");
  return (int)b->parties;
}

void mpk_barrier_free(mpk_barrier_t *b) {
  if (!valid(b))
    return;
  b->magic = MPK__SYNC_FREED;
  mpk_shm_free(b);
}
