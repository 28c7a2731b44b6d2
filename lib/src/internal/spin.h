/* internal/spin.h - the one spin-then-sleep policy of mpk.
 *
 * Every waiter in mpk (lock slow path, Semaphore, Event, Condition,
 * Barrier, Queue put / get / join) spins for a short while before it
 * sleeps on a futex word; this file decides how long, in one place.
 *
 * Usage:
 *     mpk__spin sp = MPK__SPIN_INIT(&deadline);
 *     while (mpk__spin_more(&sp))
 *       if (done())
 *         return ...;
 *     ... sleep on the futex word ...
 *
 * Contract of mpk__spin_more: each call that returns true first pauses
 * (mpk__cpu_relax) 1, 2, 4, ... up to MPK__SPIN_BACKOFF times (exponential
 * back-off: each check reads a line the other side is writing; checking
 * after every pause would turn each hand-off into a cross-CPU miss), so the
 * caller checks its condition after the call. It returns false, and the
 * caller goes to sleep, when any of these holds:
 *   - the budget is spent (measured from the first call);
 *   - the deadline passed (a deadline in the past: false at once);
 *   - the budget is 0 (MPK_WAIT_POLICY=passive, MPK_SPIN_US=0): false at
 *     once, without reading the clock;
 *   - adaptive mode only (below): the thread was preempted during the spin
 *     (a gap > 200 us between two clock reads), or the spin has gone 2 us
 *     without success and the machine is oversubscribed (more running tasks
 *     than online CPUs in /proc/loadavg; read at most every 10 ms per
 *     process, ~4 us): spinning would only steal the CPU from the peer
 *     being waited for.
 * Once it returned false it keeps returning false (the spin is over).
 * The clock is read on the first call and then every 4th call only.
 *
 * Budget (mpk__spin_budget_ns, from the configuration, read once):
 *   MPK_SPIN_US=x             x microseconds, fixed;
 *   MPK_WAIT_POLICY=passive   0 (also OMP_WAIT_POLICY);
 *   MPK_WAIT_POLICY=active    10 ms (waits longer than that sleep anyway,
 *                             so a forgotten waiter does not burn a core);
 *   otherwise                 50 us, adaptive: just under the ~80 us a
 *                             futex wake across CPUs costs on the target VM
 *                             (spin about as long as blocking costs); after
 *                             a preempted spin the thread's next 16 spins
 *                             get 1/16 of it.
 * An explicit choice (MPK_SPIN_US or active) turns the adaptive checks off.
 *
 * Safety: an mpk__spin is a local of one waiting call (not shared). MT-safe
 * (the oversubscription cache is process-wide relaxed atomics; the
 * throttle is per thread). Not AS-safe (reads /proc). Across fork: the
 * child inherits the cached load answer, refreshed within 10 ms.
 */
#ifndef MPK_INTERNAL_SPIN_H
#define MPK_INTERNAL_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/clock.h"
#include "internal/futex.h"

/* Most pauses between two checks (~15 ns each on the target VM: ~0.5 us). */
#define MPK__SPIN_BACKOFF 32u

typedef struct {
  const mpk__deadline *d; /* the caller's deadline; never NULL */
  int64_t start;          /* ns, CLOCK_MONOTONIC; 0: not started, -1: over */
  int64_t last;           /* ns of the latest clock read */
  int64_t end;            /* ns: min(start + budget, deadline) */
  unsigned n;             /* calls that returned true */
  unsigned pauses;        /* pauses before the next check */
  bool adaptive;          /* default policy: oversubscription checks on */
  bool load_checked;      /* /proc/loadavg consulted during this spin */
} mpk__spin;

#define MPK__SPIN_INIT(deadline)                                               \
  { .d = (deadline), .pauses = 1 }

/* The spin budget in ns (see above) and whether it is adaptive. MT-safe;
   the configuration is read once per process. */
int64_t mpk__spin_budget_ns(bool *adaptive);

/* Out-of-line parts of mpk__spin_more: start the spin (false: do not spin
   at all, or the spin is over), and the periodic clock check (false: stop
   spinning). Both mark the spin over when they return false. */
bool mpk__spin_start(mpk__spin *s);
bool mpk__spin_check(mpk__spin *s);

static inline bool mpk__spin_more(mpk__spin *s) {
  if (s->start <= 0 && !mpk__spin_start(s))
    return false;
  for (unsigned p = 0; p < s->pauses; p++)
    mpk__cpu_relax();
  if (s->pauses < MPK__SPIN_BACKOFF)
    s->pauses *= 2;
  if ((++s->n & 3u) == 0)
    return mpk__spin_check(s);
  return true;
}

#endif
