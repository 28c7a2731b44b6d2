/* topo.ompbind: run with OMP_PROC_BIND=close OMP_PLACES=cores. GNU libgomp
   then pins the main thread to its first place before main(); mpk's plans
   must still cover every place (the process was given all of them), so a
   hybrid worker's team spreads over its cores instead of sharing one PU.
   The OpenMP place list is the reference: the union of its PUs. */
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "mpk/topo.h"

/* The union of OpenMP's places as a bit mask (PUs < 64 here). */
static unsigned long long places_mask(void) {
  unsigned long long m = 0;
  for (int p = 0; p < omp_get_num_places(); p++) {
    int n = omp_get_place_num_procs(p), ids[64];
    CHECK(n > 0 && n <= 64);
    omp_get_place_proc_ids(p, ids);
    for (int i = 0; i < n; i++)
      if (ids[i] < 64)
        m |= 1ULL << ids[i];
  }
  return m;
}

static unsigned long long list_mask(const char *list) {
  unsigned long long m = 0;
  for (const char *s = list; *s;) {
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (*end == '-')
      b = strtol(end + 1, &end, 10);
    for (long i = a; i <= b && i < 64; i++)
      m |= 1ULL << i;
    if (*end != ',')
      break;
    s = end + 1;
  }
  return m;
}

static void test_allowed_is_places(void) {
  CHECK_MSG(omp_get_proc_bind() != omp_proc_bind_false,
            "run with OMP_PROC_BIND=close OMP_PLACES=cores");
  char buf[256];
  CHECK_OK(mpk_topo_allowed(buf, sizeof buf));
  CHECK_EQ(list_mask(buf), places_mask());
}

static _Atomic unsigned long long *g_seen; /* shared: PUs the team ran on */

static int team_cpus(size_t lo, size_t hi, void *ctx) {
  (void)lo;
  (void)hi;
  (void)ctx;
#pragma omp parallel
  {
    int c = sched_getcpu();
    if (c >= 0 && c < 64)
      atomic_fetch_or(g_seen, 1ULL << c);
  }
  return 0;
}

static void test_hybrid_team_spreads(void) {
  unsigned long long places = places_mask();
  if (__builtin_popcountll(places) < 2) {
    printf("skip - one place only\n");
    return;
  }
  g_seen = mpk_shm_calloc(1, sizeof *g_seen);
  CHECK(g_seen != NULL);
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  o.threads_per_worker = 2;
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create(&p, &o));
  char cpus[256];
  CHECK_OK(mpk_pool_worker_cpuset(p, 0, cpus, sizeof cpus));
  CHECK_EQ(__builtin_popcountll(list_mask(cpus)), 2);
  CHECK_OK(
      mpk_pool_for(p, 1, team_cpus, NULL, 0, (mpk_sched){MPK_SCHED_STATIC, 0}));
  /* close binding: team thread t on PU t of the worker's two PUs */
  CHECK_EQ(atomic_load(g_seen), list_mask(cpus));
  mpk_pool_free(p);
  mpk_shm_free((void *)g_seen);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_allowed_is_places);
  CHECK_RUN(test_hybrid_team_spreads);
  return check_done();
}
