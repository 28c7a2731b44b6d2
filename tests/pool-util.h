/* pool-util.h: helpers shared by the pool tests (pool.kill, pool.hybrid,
   pool.async, pool.imap). File-static; include after check.h and
   mpk/pool.h. */
#ifndef MPK_TESTS_POOL_UTIL_H
#define MPK_TESTS_POOL_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

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

#endif
