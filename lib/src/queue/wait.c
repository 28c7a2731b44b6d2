/* queue/wait.c - how a queue call waits: spin briefly, then sleep on a futex
 * word (see ring_internal.h, and "Waiting" at the top of queue.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal/config.h"
#include "internal/futex.h"
#include "queue/ring_internal.h"

/* A sleeper re-checks its condition at least this often (20 ms): the bound
   on the delay a killed waker can cause. Idle cost: 50 wake-ups a second. */
#define RECHECK_NS 20000000L
/* Default spin before sleeping: 50 us, just under the ~80 us a futex wake
   across CPUs costs on the target VM, the classic "spin for about as long
   as blocking costs" rule. MPK_SPIN_US and MPK_WAIT_POLICY change it. */
#define SPIN_DEFAULT_NS 50000L
#define SPIN_ACTIVE_NS 10000000L
/* A gap this long between two clock reads of a spin loop means the thread
   was preempted: the machine has more runnable threads than CPUs. */
#define PREEMPT_GAP_NS 200000L
/* Spinning that long without progress asks whether the machine is
   oversubscribed (see oversubscribed()); that answer is kept this long. */
#define SPIN_LOAD_CHECK_NS 2000L
#define LOAD_REFRESH_NS 10000000L
/* Most pauses (~15 ns each here) between two checks of a spin: ~0.5 us. */
#define SPIN_BACKOFF 32u

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

/* Is the machine oversubscribed (more runnable tasks than online CPUs)?
   Then a spinning waiter only steals the CPU from the peer it waits for,
   and should sleep instead. From the "running/total" field of
   /proc/loadavg (~4 us to read), cached per process for LOAD_REFRESH_NS and
   consulted only after a spin has gone SPIN_LOAD_CHECK_NS without progress,
   so a put / get whose peer is streaming never reads it. */
static _Atomic int64_t load_checked_ns;
static _Atomic int load_oversubscribed;

static int online_cpus(void) {
  static _Atomic int cached;
  int n = atomic_load_explicit(&cached, memory_order_relaxed);
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 && c < INT_MAX ? (int)c : 1;
    atomic_store_explicit(&cached, n, memory_order_relaxed);
  }
  return n;
}

static bool oversubscribed(int64_t now) {
  int64_t last = atomic_load_explicit(&load_checked_ns, memory_order_relaxed);
  if (last != 0 && now - last < LOAD_REFRESH_NS)
    return atomic_load_explicit(&load_oversubscribed, memory_order_relaxed);
  atomic_store_explicit(&load_checked_ns, now, memory_order_relaxed);
  int running = 0;
  int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char b[128];
    ssize_t n;
    do
      n = read(fd, b, sizeof b - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    b[n > 0 ? n : 0] = '\0';
    /* "0.50 0.40 0.30 3/250 12345": the fourth field's numerator */
    const char *f = b;
    for (int k = 0; k < 3 && f != NULL; k++) {
      f = strchr(f, ' ');
      f = f != NULL ? f + 1 : NULL;
    }
    if (f != NULL)
      running = atoi(f);
  }
  bool o = running > online_cpus();
  atomic_store_explicit(&load_oversubscribed, o, memory_order_relaxed);
  return o;
}

/* Rounds of shortened spinning left after this thread was seen preempted. */
static _Thread_local unsigned spin_throttle;

/* How long to spin before sleeping, in ns. *adaptive is false when the
   user chose the spin explicitly (MPK_SPIN_US, MPK_WAIT_POLICY=active):
   then the oversubscription heuristics stay out of the way. */
static int64_t spin_budget_ns(bool *adaptive) {
  const mpk__config *c = mpk__config_get();
  int64_t ns;
  *adaptive = false;
  if (c->spin_us >= 0) {
    ns = (int64_t)(c->spin_us * 1e3);
  } else if (c->wait == MPK__WAIT_PASSIVE) {
    ns = 0;
  } else if (c->wait == MPK__WAIT_ACTIVE) {
    ns = SPIN_ACTIVE_NS;
  } else {
    ns = SPIN_DEFAULT_NS;
    *adaptive = true;
    if (spin_throttle > 0) {
      spin_throttle--;
      ns /= 16;
    }
  }
  return ns;
}

/* Spin until ready, the budget is spent or the deadline passes. */
static bool spin(queue *q, wait_kind k, uint32_t need, const mpk__deadline *d) {
  bool adaptive;
  int64_t budget = spin_budget_ns(&adaptive);
  if (budget <= 0)
    return false;
  int64_t start = now_ns(), last = start;
  int64_t end = d->forever ? INT64_MAX : ts_ns(&d->abs);
  /* Exponential back-off between checks, up to SPIN_BACKOFF pauses: each
     check reads a line the other side is writing, and a check per message
     would make every put / get a cross-CPU cache miss. Backing off lets the
     other side write a batch while the line stays in its cache. */
  unsigned pauses = 1;
  bool load_checked = !adaptive;
  for (unsigned i = 1;; i++) {
    for (unsigned p = 0; p < pauses; p++)
      mpk__cpu_relax();
    if (pauses < SPIN_BACKOFF)
      pauses *= 2;
    if (ready(q, k, need))
      return true;
    if ((i & 3) == 0) {
      int64_t t = now_ns();
      if (adaptive && t - last > PREEMPT_GAP_NS) {
        spin_throttle = 16; /* oversubscribed: yield the CPU sooner */
        return false;
      }
      last = t;
      if (t - start >= budget || t >= end)
        return false;
      if (!load_checked && t - start >= SPIN_LOAD_CHECK_NS) {
        load_checked = true;
        if (oversubscribed(t))
          return false;
      }
    }
  }
}

static void slice_deadline(const mpk__deadline *d, mpk__deadline *s) {
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
