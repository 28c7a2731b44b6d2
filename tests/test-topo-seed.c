/* topo.seed: C twins of the seed tutorials' topology lines.
 *
 *   import multiprocessing
 *   print("Number of cpu : ", multiprocessing.cpu_count())      (seed 002)
 *
 *   nprocs = mp.cpu_count()                                     (seed 000)
 *   ... one process per CPU, each taking a slice of the steps
 *
 * mpk_cpu_count() is that number, honouring the affinity mask (so it is
 * Python's len(os.sched_getaffinity(0)), never more than the CPUs the
 * program may use).
 */
#include <sched.h>

#include "check.h"
#include "mpk/topo.h"

static void test_print_cpu_count(void) {
  int n = mpk_cpu_count();
  printf("Number of cpu :  %d\n", n);
  cpu_set_t s;
  CHECK_EQ(sched_getaffinity(0, sizeof s, &s), 0);
  CHECK(n >= 1);
  CHECK_EQ(n, CPU_COUNT(&s));
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  CHECK(online < 1 || n <= online);
}

/* Seed 000: split nsteps among nprocs = cpu_count() workers; the slices
   cover every step exactly once. */
static void test_split_by_cpu_count(void) {
  const long nsteps = 10000000;
  int nprocs = mpk_cpu_count();
  long covered = 0, prev_hi = 0;
  for (int r = 0; r < nprocs; r++) {
    long lo = nsteps * r / nprocs, hi = nsteps * (r + 1) / nprocs;
    CHECK_EQ(lo, prev_hi);
    covered += hi - lo;
    prev_hi = hi;
  }
  CHECK_EQ(covered, nsteps);
}

int main(void) {
  check_watchdog(20);
  CHECK_RUN(test_print_cpu_count);
  CHECK_RUN(test_split_by_cpu_count);
  return check_done();
}
