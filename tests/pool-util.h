/* pool-util.h: helpers shared by the pool tests (pool.kill, pool.hybrid,
   pool.async, pool.imap, mpk-chaos). File-static; include after check.h. */
#ifndef MPK_TESTS_POOL_UTIL_H
#define MPK_TESTS_POOL_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "mpk/pool.h"

/* Is every PU the calling thread may use in the CPU list "a-b,c"? When
   npus is not NULL it gets the number of PUs the thread may use (also when
   the answer is no, except if sched_getaffinity fails: then 0 is returned
   and *npus is unchanged). */
static inline int affinity_within(const char *list, int *npus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 0;
  if (npus)
    *npus = CPU_COUNT(&set);
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &set))
      continue;
    int in = 0;
    const char *s = list;
    while (*s && !in) {
      char *end;
      long a = strtol(s, &end, 10), b = a;
      if (*end == '-')
        b = strtol(end + 1, &end, 10);
      in = c >= a && c <= b;
      s = *end == ',' ? end + 1 : end;
      if (*end != ',' && *end != '\0')
        break;
    }
    if (!in)
      return 0;
  }
  return 1;
}

/* The pid of worker i once it has one (0 while it is being replaced); the
   test fails when it has none within CHECK_HANG_S. */
static inline pid_t pool_pid_of(mpk_pool_t *p, int i) {
  double t0 = check_now();
  pid_t pid;
  while ((pid = mpk_pool_worker_pid(p, i)) <= 0) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "worker %d has no pid", i);
    check_sleep(0.0005);
  }
  return pid;
}

/* Wait until worker i is no longer process `old`: the pool has seen its
   death (the pid is 0 while it is replaced, then the replacement's). A
   process whose death is seen can take no part in a later call. Fails the
   test after CHECK_HANG_S. */
static inline void pool_await_gone(mpk_pool_t *p, int i, pid_t old) {
  double t0 = check_now();
  while (mpk_pool_worker_pid(p, i) == old) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "worker %d (pid %d) not gone", i,
              (int)old);
    check_sleep(0.0005);
  }
}

/* A pool of `workers` workers on backend b, defaults otherwise. */
static inline mpk_pool_t *pool_new(int workers, mpk_backend b) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  o.backend = b;
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create(&p, &o));
  return p;
}

/* run() with *backend = MPK_PROCESS, then MPK_THREAD. ThreadSanitizer does
   not support fork() in a multithreaded process: under TSan only the
   thread backend runs. */
static inline void pool_run_backends(mpk_backend *backend, void (*run)(void)) {
#if !defined(__SANITIZE_THREAD__)
  *backend = MPK_PROCESS;
  run();
#endif
  *backend = MPK_THREAD;
  run();
}

/* map kernel: out = in * in (longs). */
static inline int square_long(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  *(long *)out = x * x;
  return 0;
}

/* A guard for mpk_iter_next: guarded_next() runs one call, and a watcher
   thread fails the test as soon as a call has lasted more than its timeout
   plus CHECK_HANG_S, so a call that outlives its timeout (or hangs) is a
   failure of its own, not a stuck test. The margin only turns a hang into
   a failure: a call late by less than it passes. */
typedef struct {
  pthread_t thread;
  double margin;            /* CHECK_HANG_S */
  _Atomic int64_t limit_ns; /* CLOCK_MONOTONIC ns a call must end by, 0 */
  _Atomic int stop;
  double longest; /* longest call so far, seconds */
} iter_guard;

static inline int64_t iter_guard__now_ns(void) {
  return (int64_t)(check_now() * 1e9);
}

static inline void *iter_guard__main(void *arg) {
  iter_guard *g = arg;
  while (!atomic_load(&g->stop)) {
    int64_t lim = atomic_load(&g->limit_ns);
    if (lim != 0 && iter_guard__now_ns() > lim)
      CHECK__FAIL("mpk_iter_next outlived its timeout by more than %.1f s",
                  g->margin);
    check_sleep(0.01);
  }
  return NULL;
}

static inline void iter_guard_start(iter_guard *g) {
  memset(g, 0, sizeof *g);
  g->margin = CHECK_HANG_S;
  CHECK(pthread_create(&g->thread, NULL, iter_guard__main, g) == 0);
}

static inline void iter_guard_stop(iter_guard *g) {
  atomic_store(&g->stop, 1);
  pthread_join(g->thread, NULL);
}

static inline int guarded_next(iter_guard *g, mpk_iter_t *it, size_t *index,
                               void *out, double timeout) {
  double t0 = check_now();
  atomic_store(&g->limit_ns, (int64_t)((t0 + timeout + g->margin) * 1e9));
  int rc = mpk_iter_next(it, index, out, timeout);
  atomic_store(&g->limit_ns, 0);
  double took = check_now() - t0;
  if (took > g->longest)
    g->longest = took;
  return rc;
}

#endif
