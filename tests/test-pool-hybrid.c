/* pool.hybrid: OpenMP inside workers and the start methods. A pool created
   after the parent ran an OpenMP region works with every start method (GNU
   libgomp would hang in a forked child's main thread; workers run on a fresh
   thread); hybrid workers (threads_per_worker > 1) run an OpenMP team of
   that size inside their cpuset, with the worker's identity in every team
   thread; OMP_PROC_BIND binds team threads to single PUs of the worker's
   cpuset; threads_per_worker = 1 keeps stray regions at one thread; what
   workers see of the parent's memory under FORK and FORKSERVER. */
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "mpk/topo.h"
#include "pool-util.h"

typedef struct {
  char lists[8][64];
} lists_ctx;

typedef struct {
  int worker;
  int max_threads;
  int nthreads;
  int pinned;      /* every team thread inside the worker's cpuset */
  int ids_ok;      /* every team thread sees the worker's id */
  int single_pu;   /* every team thread bound to exactly one PU */
  int distinct_pu; /* and to different PUs */
} omp_report;

static int omp_kernel(const void *in, void *out, void *ctx) {
  (void)in;
  const lists_ctx *lc = ctx;
  omp_report *r = out;
  int id = mpk_worker_id();
  r->worker = id;
  r->max_threads = omp_get_max_threads();
  int n = 0, pinned = 1, ids = 1, single = 1;
  int cpu_of[64];
  for (int i = 0; i < 64; i++)
    cpu_of[i] = -1;
#pragma omp parallel reduction(+ : n) reduction(&& : pinned, ids, single)
  {
    int np = 0;
    n += 1;
    pinned = pinned && affinity_within(lc->lists[id], &np);
    ids = ids && mpk_worker_id() == id && mpk_worker_count() > 0;
    single = single && np == 1;
    int t = omp_get_thread_num();
    if (t < 64)
      cpu_of[t] = sched_getcpu();
  }
  r->nthreads = n;
  r->pinned = pinned;
  r->ids_ok = ids;
  r->single_pu = single;
  r->distinct_pu = 1;
  for (int a = 0; a < n && a < 64; a++)
    for (int b = a + 1; b < n && b < 64; b++)
      if (cpu_of[a] == cpu_of[b])
        r->distinct_pu = 0;
  return 0;
}

static mpk_pool_t *mk(mpk_backend be, mpk_start st, int workers, int tpw) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  o.backend = be;
  o.start = st;
  o.threads_per_worker = tpw;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  return p;
}

static void run_omp(mpk_pool_t *p, int tpw, omp_report *r, int n) {
  lists_ctx lc;
  memset(&lc, 0, sizeof lc);
  for (int i = 0; i < mpk_pool_size(p) && i < 8; i++)
    CHECK_OK(mpk_pool_worker_cpuset(p, i, lc.lists[i], sizeof lc.lists[i]));
  char in[16];
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(p, omp_kernel, in, 1, r, sizeof *r, (size_t)n, &lc,
                        sizeof lc, s));
  for (int i = 0; i < n; i++) {
    CHECK_EQ(r[i].max_threads, tpw);
    CHECK_EQ(r[i].nthreads, tpw);
    CHECK_MSG(r[i].pinned, "team of worker %d outside %s", r[i].worker,
              lc.lists[r[i].worker]);
    CHECK(r[i].ids_ok);
  }
}

/* The parent runs OpenMP first; then pools with every start method. */
static void test_after_parent_openmp(void) {
  int n = 0;
#pragma omp parallel num_threads(2) reduction(+ : n)
  n += 1;
  CHECK_EQ(n, 2);
  const mpk_start starts[3] = {MPK_START_FORK, MPK_START_FORKSERVER,
                               MPK_START_AUTO};
  int cpus = mpk_cpu_count();
  for (int k = 0; k < 3; k++)
    for (int tpw = 1; tpw <= 2; tpw++) {
      int W = cpus / tpw > 0 ? cpus / tpw : 1;
      mpk_pool_t *p = mk(MPK_PROCESS, starts[k], W, tpw);
      mpk_pool_info info;
      CHECK_OK(mpk_pool_info_get(p, &info));
      /* libgomp's threads make the parent multithreaded: AUTO picks the
         fork server */
      CHECK_EQ(info.start,
               starts[k] == MPK_START_AUTO ? MPK_START_FORKSERVER : starts[k]);
      CHECK_EQ(info.threads_per_worker, tpw);
      omp_report r[16];
      run_omp(p, tpw, r, 16);
      /* and again after a worker was replaced (the map starts once the
         pool has seen the death: a dying worker could still join it) */
      pid_t victim = pool_pid_of(p, 0);
      kill(victim, SIGKILL);
      pool_await_gone(p, 0, victim);
      run_omp(p, tpw, r, 16);
      mpk_pool_free(p);
    }
}

static void test_thread_backend_hybrid(void) {
  mpk_pool_t *p = mk(MPK_THREAD, MPK_START_AUTO, 1, 2);
  omp_report r[4];
  run_omp(p, 2, r, 4);
  mpk_pool_free(p);
  p = mk(MPK_THREAD, MPK_START_AUTO, 2, 1);
  run_omp(p, 1, r, 4);
  mpk_pool_free(p);
}

static void test_oversubscribed_hybrid(void) {
  int cpus = mpk_cpu_count();
  mpk_pool_t *p = mk(MPK_PROCESS, MPK_START_AUTO, cpus, 2);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK_EQ(info.oversubscribed, 1);
  omp_report r[8];
  run_omp(p, 2, r, 8);
  mpk_pool_free(p);
}

/* What a worker sees of the parent's private memory. */
static int g_private = 1; /* not in the shared heap */

static int read_private(const void *in, void *out, void *ctx) {
  (void)in;
  (void)ctx;
  *(int *)out = g_private;
  return 0;
}

static void test_memory_snapshots(void) {
  const mpk_start starts[2] = {MPK_START_FORK, MPK_START_FORKSERVER};
  for (int k = 0; k < 2; k++) {
    g_private = 1;
    mpk_pool_t *p = mk(MPK_PROCESS, starts[k], 1, 1);
    g_private = 2; /* after the workers (and the server) were forked */
    char in = 0;
    int v = 0;
    mpk_sched s = {MPK_SCHED_AUTO, 0};
    CHECK_OK(
        mpk_pool_map(p, read_private, &in, 1, &v, sizeof v, 1, NULL, 0, s));
    CHECK_EQ(v, 1); /* a snapshot from before the change */
    pid_t old = mpk_pool_worker_pid(p, 0);
    CHECK(old > 0);
    kill(old, SIGKILL);
    pool_await_gone(p, 0, old);
    pool_pid_of(p, 0);
    CHECK_OK(
        mpk_pool_map(p, read_private, &in, 1, &v, sizeof v, 1, NULL, 0, s));
    /* FORK: the replacement is forked now; FORKSERVER: from the server's
       snapshot taken at pool creation */
    CHECK_EQ(v, starts[k] == MPK_START_FORK ? 2 : 1);
    mpk_pool_free(p);
  }
}

/* Run in a re-executed copy of this test with OMP_PROC_BIND=close and one
   place covering every PU (so libgomp's binding of the initial thread
   leaves the process's affinity alone): every team thread of the hybrid
   worker is bound to its own PU of the worker's cpuset. */
static int procbind_main(void) {
  int cpus = mpk_cpu_count();
  if (cpus < 2) {
    printf("skipped: one PU\n");
    return 0;
  }
  CHECK(omp_get_proc_bind() != omp_proc_bind_false);
  mpk_pool_t *p = mk(MPK_PROCESS, MPK_START_AUTO, 1, 2);
  omp_report r[4];
  run_omp(p, 2, r, 4);
  for (int i = 0; i < 4; i++) {
    CHECK(r[i].single_pu);
    CHECK(r[i].distinct_pu);
  }
  mpk_pool_free(p);
  p = mk(MPK_THREAD, MPK_START_AUTO, 1, 2);
  run_omp(p, 2, r, 4);
  for (int i = 0; i < 4; i++)
    CHECK(r[i].single_pu && r[i].distinct_pu);
  mpk_pool_free(p);
  return 0;
}

static int exec_procbind(void *arg) {
  (void)arg;
  setenv("OMP_PROC_BIND", "close", 1);
  setenv("OMP_PLACES", "{0:2}", 1); /* one place: PUs 0 and 1 */
  execl("/proc/self/exe", "test-pool-hybrid", "procbind", (char *)NULL);
  return 127;
}

static void test_proc_bind(void) {
  if (mpk_cpu_count() < 2)
    return;
  pid_t c = check_fork(exec_procbind, NULL);
  check_wait_ok(c, 60);
}

int main(int argc, char **argv) {
  check_watchdog(120);
  if (argc > 1 && strcmp(argv[1], "procbind") == 0)
    return procbind_main();
  CHECK_RUN(test_memory_snapshots);
  CHECK_RUN(test_after_parent_openmp);
  CHECK_RUN(test_thread_backend_hybrid);
  CHECK_RUN(test_oversubscribed_hybrid);
  CHECK_RUN(test_proc_bind);
  return check_done();
}
