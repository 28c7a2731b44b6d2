/* apps.pool: the app runners (apps/common/app_run.c) on mpk pools: process
 * workers, thread workers and hybrid workers. OpenMP runs first, in this
 * process, as `mpk-pi --mode all` does, so the pools must cope with an
 * existing OpenMP team. Checks: pi is bit-identical for any worker count,
 * backend and schedule at a fixed chunk (and for hybrid teams); Monte Carlo
 * counts the serial samples; square through for (zero-copy) and map
 * (shared and staged buffers); the imbalanced sum; task failures surface.
 * Also the C twins of the seed programs: pi by calc_partial_pi per process
 * and the ordered square map. */
#include <stdint.h>

#include "app_kernels.h"
#include "app_modes.h"
#include "app_run.h"
#include "check.h"
#include "mpk/shm.h"
#include "mpk/topo.h"

static int same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

static double omp_first(void) {
  app_exec omp;
  CHECK_OK(app_exec_open(&omp, APP_MODE_OMP, 2, 1, MPK_BIND_COMPACT, NULL));
  app_pi_problem pb = {APP_METHOD_MIDPOINT, APP_PI_NAIVE, 100000,
                       MPK_SCHED_STATIC,    100,          0};
  double v = 0;
  CHECK_OK(app_pi_run(&omp, &pb, &v));
  app_exec_close(&omp);
  return v;
}

static void test_pi_bits_across_pools(void) {
  CHECK_NEAR(omp_first(), M_PI, 1e-9);
  static const mpk_sched_kind kinds[] = {MPK_SCHED_STATIC, MPK_SCHED_CYCLIC,
                                         MPK_SCHED_DYNAMIC, MPK_SCHED_GUIDED};
  for (int k = 0; k < 2; k++) {
    app_pi_problem pb = {APP_METHOD_MIDPOINT,
                         k ? APP_PI_SIMD : APP_PI_NAIVE,
                         300007,
                         MPK_SCHED_STATIC,
                         4099,
                         0};
    double ref = NAN;
    int first = 1;
    for (int m = APP_MODE_POOL; m <= APP_MODE_THREADS; m++)
      for (int w = 1; w <= 3; w++) {
        app_exec ex;
        CHECK_OK(app_exec_open(&ex, (app_mode)m, w, 1, MPK_BIND_COMPACT, NULL));
        for (size_t s = 0; s < 4; s++) {
          pb.sched = kinds[s];
          double v = NAN;
          CHECK_OK(app_pi_run(&ex, &pb, &v));
          CHECK_NEAR(v, M_PI, 1e-9);
          if (first)
            ref = v;
          first = 0;
          CHECK_MSG(same_bits(v, ref),
                    "mode %d workers %d sched %d: %.17g != %.17g", m, w,
                    (int)kinds[s], v, ref);
        }
        app_exec_close(&ex);
      }
    /* hybrid: one worker with a team of 2, two workers of 2 */
    for (int w = 1; w <= 2; w++) {
      app_exec ex;
      CHECK_OK(
          app_exec_open(&ex, APP_MODE_HYBRID, w, 2, MPK_BIND_COMPACT, NULL));
      CHECK_EQ(app_exec_cores(&ex), 2 * w);
      pb.sched = MPK_SCHED_DYNAMIC;
      double v = NAN;
      CHECK_OK(app_pi_run(&ex, &pb, &v));
      CHECK_MSG(same_bits(v, ref), "hybrid %dx2: %.17g != %.17g", w, v, ref);
      app_exec_close(&ex);
    }
  }
}

static void test_montecarlo_matches_serial(void) {
  app_pi_problem pb = {APP_METHOD_MONTECARLO, APP_PI_SIMD, 100000,
                       MPK_SCHED_STATIC,      3000,        77};
  app_exec ser;
  double ref = NAN;
  CHECK_OK(app_exec_open(&ser, APP_MODE_SERIAL, 1, 1, MPK_BIND_COMPACT, NULL));
  CHECK_OK(app_pi_run(&ser, &pb, &ref));
  app_exec_close(&ser);
  static const app_mode modes[] = {APP_MODE_POOL, APP_MODE_THREADS,
                                   APP_MODE_HYBRID};
  for (size_t m = 0; m < 3; m++)
    for (int w = 1; w <= 3; w++) {
      app_exec ex;
      int tpw = modes[m] == APP_MODE_HYBRID ? 2 : 1;
      if (modes[m] == APP_MODE_HYBRID && w > 1)
        continue;
      CHECK_OK(app_exec_open(&ex, modes[m], w, tpw, MPK_BIND_COMPACT, NULL));
      pb.sched = w == 2 ? MPK_SCHED_DYNAMIC : MPK_SCHED_STATIC;
      double v = NAN;
      CHECK_OK(app_pi_run(&ex, &pb, &v));
      CHECK_MSG(same_bits(v, ref), "mode %d workers %d", (int)modes[m], w);
      app_exec_close(&ex);
    }
}

static void test_square_in_pools(void) {
  enum { N = 100003 };
  double *din = mpk_shm_alloc(N * sizeof *din);
  double *dout = mpk_shm_alloc(N * sizeof *dout);
  long *lin = malloc(N * sizeof *lin), *lout = malloc(N * sizeof *lout);
  CHECK(din && dout && lin && lout);
  for (int i = 0; i < N; i++) {
    din[i] = i;
    lin[i] = i;
  }
  static const app_mode modes[] = {APP_MODE_POOL, APP_MODE_THREADS,
                                   APP_MODE_HYBRID};
  for (size_t m = 0; m < 3; m++) {
    app_exec ex;
    int hybrid = modes[m] == APP_MODE_HYBRID;
    CHECK_OK(app_exec_open(&ex, modes[m], hybrid ? 1 : 2, hybrid ? 2 : 1,
                           MPK_BIND_COMPACT, NULL));
    for (int api = 0; api < 2; api++) {
      memset(dout, 0xff, N * sizeof *dout);
      app_square_problem sd = {
          APP_SQ_DOUBLE,        api ? APP_SQ_MAP : APP_SQ_RANGE, N, din, dout,
          {MPK_SCHED_STATIC, 0}};
      CHECK_OK(app_square_run(&ex, &sd));
      CHECK_EQ(app_square_check_double(dout, N), N);
    }
    /* A private (malloc) buffer: map stages it through the shared heap. */
    memset(lout, 0, N * sizeof *lout);
    app_square_problem sl = {
        APP_SQ_LONG, APP_SQ_MAP, N, lin, lout, {MPK_SCHED_DYNAMIC, 1000}};
    CHECK_OK(app_square_run(&ex, &sl));
    CHECK_EQ(app_square_check_long(lout, N), N);
    /* An element whose square overflows fails the map with MPK_ETASK. */
    lin[500] = APP_SQUARE_LONG_MAX + 1;
    CHECK_RC(app_square_run(&ex, &sl), MPK_ETASK);
    lin[500] = 500;
    app_exec_close(&ex);
  }
  mpk_shm_free(din);
  mpk_shm_free(dout);
  free(lin);
  free(lout);
}

static void test_imbalanced_in_pools(void) {
  app_imb_problem ip = {30000, {MPK_SCHED_STATIC, 0}};
  app_exec ser;
  double ref = 0;
  CHECK_OK(app_exec_open(&ser, APP_MODE_SERIAL, 1, 1, MPK_BIND_COMPACT, NULL));
  CHECK_OK(app_imb_run(&ser, &ip, &ref));
  app_exec_close(&ser);
  static const mpk_sched_kind kinds[] = {MPK_SCHED_STATIC, MPK_SCHED_CYCLIC,
                                         MPK_SCHED_DYNAMIC, MPK_SCHED_GUIDED};
  static const app_mode modes[] = {APP_MODE_POOL, APP_MODE_THREADS,
                                   APP_MODE_HYBRID};
  for (size_t m = 0; m < 3; m++) {
    app_exec ex;
    int hybrid = modes[m] == APP_MODE_HYBRID;
    CHECK_OK(app_exec_open(&ex, modes[m], hybrid ? 1 : 3, hybrid ? 2 : 1,
                           MPK_BIND_COMPACT, NULL));
    for (size_t s = 0; s < 4; s++) {
      ip.sched = (mpk_sched){kinds[s], kinds[s] == MPK_SCHED_STATIC ? 0 : 117};
      double v = 0;
      CHECK_OK(app_imb_run(&ex, &ip, &v));
      CHECK_NEAR(v, ref, 1e-12 * ref);
    }
    app_exec_close(&ex);
  }
}

/* Seed twin (the tutorial's pi with processes): calc_partial_pi(rank,
   nprocs, nsteps, dx) sums the steps rank, rank + nprocs, ... times dx; one
   task per rank, results gathered in rank order and summed. Here the
   processes are pool workers and the queue is an ordered map. */
typedef struct {
  long nprocs, nsteps;
  double dx;
} seed_args;

static int calc_partial_pi(const void *in, void *out, void *ctx) {
  const seed_args *a = ctx;
  long rank;
  memcpy(&rank, in, sizeof rank);
  double partial = 0.0;
  for (long i = rank; i < a->nsteps; i += a->nprocs) {
    double x = (i + 0.5) * a->dx;
    partial += 4.0 / (1.0 + x * x);
  }
  partial *= a->dx;
  memcpy(out, &partial, sizeof partial);
  return 0;
}

static void test_seed_pi_with_processes(void) {
  int nprocs = mpk_cpu_count() < 64 ? mpk_cpu_count() : 64;
  app_exec ex;
  CHECK_OK(
      app_exec_open(&ex, APP_MODE_POOL, nprocs, 1, MPK_BIND_COMPACT, NULL));
  seed_args a = {nprocs, 10000000, 1.0 / 10000000};
  long ranks[64];
  double partial[64];
  for (long r = 0; r < a.nprocs; r++)
    ranks[r] = r;
  mpk_sched one = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(ex.pool, calc_partial_pi, ranks, sizeof(long), partial,
                        sizeof(double), (size_t)a.nprocs, &a, sizeof a, one));
  double pi = 0.0;
  for (long r = 0; r < a.nprocs; r++)
    pi += partial[r];
  CHECK_NEAR(pi, M_PI, 1e-9);
  app_exec_close(&ex);
}

/* Seed twin (the tutorial's square with processes and a queue, results put
   back in input order): a pool map keeps the order by itself. */
static void test_seed_square_in_order(void) {
  app_exec ex;
  CHECK_OK(app_exec_open(&ex, APP_MODE_POOL, 3, 1, MPK_BIND_COMPACT, NULL));
  const long in[8] = {2, 4, 6, 8, 3, 5, 7, 9};
  long out[8] = {0};
  app_square_problem pb = {APP_SQ_LONG, APP_SQ_MAP, 8,
                           in,          out,        {MPK_SCHED_DYNAMIC, 1}};
  CHECK_OK(app_square_run(&ex, &pb));
  const long want[8] = {4, 16, 36, 64, 9, 25, 49, 81};
  for (int i = 0; i < 8; i++)
    CHECK_EQ(out[i], want[i]);
  app_exec_close(&ex);
}

int main(void) {
  check_watchdog(80);
  CHECK_RUN(test_pi_bits_across_pools); /* first: OpenMP before any pool */
  CHECK_RUN(test_seed_pi_with_processes);
  CHECK_RUN(test_seed_square_in_order);
  CHECK_RUN(test_montecarlo_matches_serial);
  CHECK_RUN(test_square_in_pools);
  CHECK_RUN(test_imbalanced_in_pools);
  return check_done();
}
