/* mpi.kill: a worker SIGKILLed on one rank (its kernel raises SIGKILL at one
   index, which the static partition gives to rank 1, or rank 0 when alone)
   fails the call with MPK_EWORKER on every rank, with the same
   mpk_pool_last_error on every rank (signal SIGKILL); nothing hangs, the
   result is unchanged and the next call works on the replaced worker. For
   mpk_pool_for, mpk_pool_map, mpk_pool_reduce_double, under both partitions
   (the dynamic one: whichever rank runs the index; also a worker of rank 0,
   which holds the dynamic counter), several times in a row. */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"

#define N 20000u
#define CHUNK 500u
#define NONE SIZE_MAX

typedef struct {
  size_t kill_at;
} kill_ctx;

static void maybe_die(const kill_ctx *c, size_t lo, size_t hi) {
  if (c->kill_at != NONE && c->kill_at >= lo && c->kill_at < hi)
    raise(SIGKILL);
}

static int kill_for(size_t lo, size_t hi, void *ctx) {
  maybe_die(ctx, lo, hi);
  return 0;
}

static int kill_map(const void *in, void *out, void *ctx) {
  size_t i = (size_t) * (const double *)in;
  maybe_die(ctx, i, i + 1);
  *(double *)out = (double)i + 0.25;
  return 0;
}

static double kill_sum(size_t lo, size_t hi, void *ctx) {
  maybe_die(ctx, lo, hi);
  double s = 0;
  for (size_t i = lo; i < hi; i++)
    s += (double)i;
  return s;
}

static double *in, *out;
static const mpk_sched SCHED = {MPK_SCHED_STATIC, CHUNK};

/* Call `call` (0 for, 1 map, 2 reduce_double) killing at k. */
static int run(mpk_pool_t *p, int call, size_t k, double *result) {
  kill_ctx c = {k};
  switch (call) {
  case 0: return mpk_pool_for(p, N, kill_for, &c, sizeof c, SCHED);
  case 1:
    return mpk_pool_map(p, kill_map, in, sizeof *in, out, sizeof *out, N, &c,
                        sizeof c, SCHED);
  default:
    return mpk_pool_reduce_double(p, N, kill_sum, &c, sizeof c, MPK_SUM, SCHED,
                                  0, result);
  }
}

static void expect_worker_death(mpk_pool_t *p, int call, size_t k) {
  double result = -2.5;
  double t0 = check_now();
  int rc = run(p, call, k, &result);
  CHECK_MSG(rc == MPK_EWORKER,
            "call %d killing at %zu: rank %d got %s, expected MPK_EWORKER",
            call, k, mt_rank, mpk_err_name(rc));
  CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "the failed call took %.1f s",
            check_now() - t0);
  mt_failure f = mt_last_error(p);
  CHECK_RC(f.code, MPK_EWORKER);
  CHECK_EQ(f.signal, SIGKILL);
  CHECK_EQ(f.status, 0);
  CHECK(result == -2.5);
  /* the next call works, on every rank */
  for (size_t i = 0; i < N; i++)
    out[i] = -1.0;
  CHECK_OK(run(p, call, NONE, &result));
  mpk_mpi_info info;
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  if (call == 1 && (info.root < 0 || info.root == mt_rank))
    for (size_t i = 0; i < N; i++)
      CHECK_EQ(out[i] * 4.0, (double)i * 4.0 + 1.0);
  if (call == 2)
    CHECK(result == (double)N * (double)(N - 1) / 2.0);
}

static void test_kill_on_one_rank(void) {
  mpk_pool_t *p = mt_pool();
  size_t k = mt_index_on_rank(p, N, SCHED, mt_target());
  for (int call = 0; call < 3; call++)
    expect_worker_death(p, call, k);
  /* again, so the replaced workers die and are replaced too */
  for (int call = 0; call < 3; call++)
    expect_worker_death(p, call, k + 1);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  if (mt_rank == mt_target())
    CHECK(info.replaced >= 1);
  mpk_pool_free(p);
}

static void test_kill_on_rank0(void) {
  mpk_pool_t *p = mt_pool();
  size_t k = mt_index_on_rank(p, N, SCHED, 0);
  for (int call = 0; call < 3; call++)
    expect_worker_death(p, call, k);
  mpk_pool_free(p);
}

static void test_kill_dynamic_partition(void) {
  mpk_pool_t *p = mt_pool();
  mt_configure(p, MPK_MPI_DYNAMIC, -1, 1);
  const size_t ks[2] = {0, N - 1};
  for (int call = 0; call < 3; call++)
    for (int i = 0; i < 2; i++)
      expect_worker_death(p, call, ks[i]);
  mt_check_counter(p);
  mpk_pool_free(p);
}

static void test_kill_root_mode(void) {
  mpk_pool_t *p = mt_pool();
  size_t k = mt_index_on_rank(p, N, SCHED, mt_target());
  mt_configure(p, MPK_MPI_STATIC, 0, 0);
  expect_worker_death(p, 1, k);
  mpk_pool_free(p);
}

int main(int argc, char **argv) {
  mt_init(&argc, &argv, 50);
  check__current = "setup";
  mt_map_setup(N, &in, &out);
  MT_RUN(test_kill_on_one_rank);
  MT_RUN(test_kill_on_rank0);
  MT_RUN(test_kill_dynamic_partition);
  MT_RUN(test_kill_root_mode);
  mpk_shm_free(mt_hits);
  free(in);
  free(out);
  return mt_finish();
}
