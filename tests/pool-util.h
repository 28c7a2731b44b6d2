/* pool-util.h: helpers shared by the pool tests (pool.kill, pool.hybrid,
   mpk-chaos). File-static; include after check.h. */
#ifndef MPK_TESTS_POOL_UTIL_H
#define MPK_TESTS_POOL_UTIL_H

#include <sched.h>
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
   test fails when it has none within 5 s. */
static inline pid_t pool_pid_of(mpk_pool_t *p, int i) {
  double t0 = check_now();
  pid_t pid;
  while ((pid = mpk_pool_worker_pid(p, i)) <= 0) {
    CHECK_MSG(check_now() - t0 < 5, "worker %d has no pid", i);
    check_sleep(0.0005);
  }
  return pid;
}

#endif
