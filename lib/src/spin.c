/* spin.c - the spin-then-sleep policy (internal/spin.h). */
#include "internal/spin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/config.h"

#define SPIN_DEFAULT_NS 50000L   /* 50 us: see the header */
#define SPIN_ACTIVE_NS 10000000L /* 10 ms under MPK_WAIT_POLICY=active */
/* A gap this long between two clock reads of a spin means the thread was
   preempted: the machine has more runnable threads than CPUs. */
#define PREEMPT_GAP_NS 200000L
/* Spinning that long without success asks whether the machine is
   oversubscribed; the answer is kept LOAD_REFRESH_NS. */
#define SPIN_LOAD_CHECK_NS 2000L
#define LOAD_REFRESH_NS 10000000L
/* After a preempted spin: this many spins at 1/THROTTLE_DIV of the budget. */
#define THROTTLE_SPINS 16u
#define THROTTLE_DIV 16

static int64_t budget_ns;
static bool budget_adaptive;
static pthread_once_t budget_once = PTHREAD_ONCE_INIT;

static void load_budget(void) {
  const mpk__config *c = mpk__config_get();
  if (c->spin_us >= 0) {
    budget_ns = (int64_t)(c->spin_us * 1e3);
  } else if (c->wait == MPK__WAIT_PASSIVE) {
    budget_ns = 0;
  } else if (c->wait == MPK__WAIT_ACTIVE) {
    budget_ns = SPIN_ACTIVE_NS;
  } else {
    budget_ns = SPIN_DEFAULT_NS;
    budget_adaptive = true;
  }
}

int64_t mpk__spin_budget_ns(bool *adaptive) {
  pthread_once(&budget_once, load_budget);
  *adaptive = budget_adaptive;
  return budget_ns;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Is the machine oversubscribed (more running tasks than online CPUs)?
   From the "running/total" field of /proc/loadavg, cached per process for
   LOAD_REFRESH_NS. Relaxed atomics: a stale or torn-in-time answer only
   makes one spin a little longer or shorter. */
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

/* Spins left at a shortened budget after this thread was seen preempted. */
static _Thread_local unsigned spin_throttle;

bool mpk__spin_start(mpk__spin *s) {
  if (s->start < 0)
    return false;
  s->start = -1; /* over, unless set below */
  bool adaptive;
  int64_t budget = mpk__spin_budget_ns(&adaptive);
  if (adaptive && spin_throttle > 0) {
    spin_throttle--;
    budget /= THROTTLE_DIV;
  }
  if (budget <= 0)
    return false;
  int64_t now = now_ns();
  int64_t end = now + budget;
  if (!s->d->forever) {
    int64_t dl = (int64_t)s->d->abs.tv_sec * 1000000000 + s->d->abs.tv_nsec;
    end = end < dl ? end : dl;
  }
  if (end <= now)
    return false;
  s->start = now;
  s->last = now;
  s->end = end;
  s->adaptive = adaptive;
  s->load_checked = !adaptive;
  return true;
}

static bool check(mpk__spin *s) {
  int64_t t = now_ns();
  if (s->adaptive && t - s->last > PREEMPT_GAP_NS) {
    spin_throttle = THROTTLE_SPINS; /* oversubscribed: yield the CPU sooner */
    return false;
  }
  s->last = t;
  if (t >= s->end)
    return false;
  if (!s->load_checked && t - s->start >= SPIN_LOAD_CHECK_NS) {
    s->load_checked = true;
    if (oversubscribed(t))
      return false;
  }
  return true;
}

bool mpk__spin_check(mpk__spin *s) {
  if (check(s))
    return true;
  s->start = -1;
  return false;
}
