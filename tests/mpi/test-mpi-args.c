/* mpi.args: argument errors of the MPI pool are global, and the calls that
   describe and configure it. Bad arguments on one rank only (fn NULL,
   result NULL, a bad schedule / op / flag / size ...) and arguments that
   differ between ranks (n, schedule, op, flags, element sizes, the
   mpk_pool_mpi_configure settings) make the call return MPK_EINVAL on every
   rank, leave the result unchanged, and the next good call works.
   mpk_pool_create_mpi: p NULL, MPI_COMM_NULL, an intercommunicator, bad
   options or a failing initializer on one rank only (every rank fails the
   same way, *p NULL), before MPI_Init and after MPI_Finalize (MPK_ESTATE),
   from a pool worker (MPK_ESTATE). mpk_pool_mpi_configure / _info_get /
   mpk_pool_is_mpi / mpk_mpi_opts_init. Pools over a sub-communicator
   (MPI_Comm_split) and MPI_COMM_SELF. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"

#define N 10000u

static int count_kernel(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return lo < hi ? 0 : 1;
}

static double len_kernel(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return (double)(hi - lo);
}

static int len_acc(size_t lo, size_t hi, void *acc, void *ctx) {
  (void)ctx;
  *(double *)acc += (double)(hi - lo);
  return 0;
}

static void add_double(void *acc, const void *other) {
  *(double *)acc += *(const double *)other;
}

static int copy_map(const void *in, void *out, void *ctx) {
  (void)ctx;
  memcpy(out, in, sizeof(double));
  return 0;
}

static double in[N], out[N];

/* Every rank got `code` from the call (MPK_EINVAL for an argument error). */
static void expect_everywhere(int rc, int code, const char *what) {
  CHECK_MSG(rc == code, "%s: rank %d got %s, expected %s", what, mt_rank,
            mpk_err_name(rc), mpk_err_name(code));
  mt_same_ll(rc, what);
}

/* A good call of each kind works (after an error). */
static void check_works(mpk_pool_t *p) {
  CHECK_OK(mpk_pool_for(p, N, count_kernel, NULL, 0,
                        (mpk_sched){MPK_SCHED_AUTO, 0}));
  double r = 0;
  CHECK_OK(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM,
                                  (mpk_sched){MPK_SCHED_AUTO, 0}, 0, &r));
  CHECK_EQ(r, N);
  for (size_t i = 0; i < N; i++) {
    in[i] = (double)i;
    out[i] = -1;
  }
  mpk_mpi_info info;
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_OK(mpk_pool_map(p, copy_map, in, sizeof(double), out, sizeof(double), N,
                        NULL, 0, (mpk_sched){MPK_SCHED_AUTO, 0}));
  if (info.root < 0 || info.root == mt_rank)
    for (size_t i = 0; i < N; i++)
      CHECK_EQ(out[i], i);
}

/* --- bad arguments on one rank ------------------------------------------ */

static void test_bad_args_on_one_rank(void) {
  mpk_pool_t *p = mt_pool();
  int me = mt_rank == mt_target();
  const mpk_sched ok = {MPK_SCHED_STATIC, 0};
  const mpk_sched bad = {(mpk_sched_kind)99, 0};
  double r = 42.0;
  const double zero = 0.0;
  int dummy = 0;

  expect_everywhere(mpk_pool_for(p, N, me ? NULL : count_kernel, NULL, 0, ok),
                    MPK_EINVAL, "for: fn NULL on one rank");
  expect_everywhere(
      mpk_pool_for(p, N, count_kernel, me ? NULL : &dummy, sizeof dummy, ok),
      MPK_EINVAL, "for: ctx NULL with ctx_size on one rank");
  expect_everywhere(mpk_pool_for(p, N, count_kernel, NULL, 0, me ? bad : ok),
                    MPK_EINVAL, "for: bad schedule on one rank");
  check_works(p);

  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM,
                                           ok, 0, me ? NULL : &r),
                    MPK_EINVAL, "reduce_double: result NULL on one rank");
  expect_everywhere(mpk_pool_reduce_double(p, N, me ? NULL : len_kernel, NULL,
                                           0, MPK_SUM, ok, 0, &r),
                    MPK_EINVAL, "reduce_double: fn NULL on one rank");
  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0,
                                           me ? (mpk_op)7 : MPK_SUM, ok, 0, &r),
                    MPK_EINVAL, "reduce_double: bad op on one rank");
  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM,
                                           ok, me ? 8 : 0, &r),
                    MPK_EINVAL, "reduce_double: unknown flag on one rank");
  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0,
                                           me ? MPK_MAX : MPK_SUM, ok,
                                           MPK_REDUCE_NEUMAIER, &r),
                    MPK_EINVAL, "reduce_double: NEUMAIER with MAX on one rank");
  CHECK(r == 42.0);

  expect_everywhere(mpk_pool_reduce(p, N, len_acc, me ? NULL : add_double,
                                    &zero, sizeof zero, NULL, 0, ok, 0, &r),
                    MPK_EINVAL, "reduce: combine NULL on one rank");
  expect_everywhere(mpk_pool_reduce(p, N, me ? NULL : len_acc, add_double,
                                    &zero, sizeof zero, NULL, 0, ok, 0, &r),
                    MPK_EINVAL, "reduce: kernel NULL on one rank");
  expect_everywhere(mpk_pool_reduce(p, N, len_acc, add_double,
                                    me ? NULL : &zero, sizeof zero, NULL, 0, ok,
                                    0, &r),
                    MPK_EINVAL, "reduce: identity NULL on one rank");
  expect_everywhere(mpk_pool_reduce(p, N, len_acc, add_double, &zero,
                                    sizeof zero, NULL, 0, ok,
                                    me ? MPK_REDUCE_NEUMAIER : 0, &r),
                    MPK_EINVAL, "reduce: NEUMAIER flag on one rank");
  CHECK(r == 42.0);
  check_works(p);

  expect_everywhere(mpk_pool_map(p, me ? NULL : copy_map, in, sizeof(double),
                                 out, sizeof(double), N, NULL, 0, ok),
                    MPK_EINVAL, "map: fn NULL on one rank");
  expect_everywhere(mpk_pool_map(p, copy_map, in, sizeof(double),
                                 me ? NULL : out, sizeof(double), N, NULL, 0,
                                 ok),
                    MPK_EINVAL, "map: out NULL on one rank");
  expect_everywhere(mpk_pool_map(p, copy_map, in, me ? 0 : sizeof(double), out,
                                 sizeof(double), N, NULL, 0, ok),
                    MPK_EINVAL, "map: in_size 0 on one rank");
  expect_everywhere(mpk_pool_map(p, copy_map, in,
                                 me ? SIZE_MAX / 2 : sizeof(double), out,
                                 sizeof(double), N, NULL, 0, ok),
                    MPK_EINVAL, "map: overflowing size on one rank");
  check_works(p);

  /* the same in root mode and under the dynamic partition */
  mt_configure(p, MPK_MPI_DYNAMIC, mt_size - 1, 0);
  expect_everywhere(mpk_pool_map(p, me ? NULL : copy_map, in, sizeof(double),
                                 out, sizeof(double), N, NULL, 0, ok),
                    MPK_EINVAL, "map: fn NULL on one rank, root mode");
  expect_everywhere(mpk_pool_for(p, N, me ? NULL : count_kernel, NULL, 0, ok),
                    MPK_EINVAL, "for: fn NULL on one rank, dynamic");
  check_works(p);
  mpk_pool_free(p);

  /* a NULL pool cannot take part: MPK_EINVAL at once, on each rank */
  CHECK_RC(mpk_pool_for(NULL, N, count_kernel, NULL, 0, ok), MPK_EINVAL);
  CHECK_RC(
      mpk_pool_reduce_double(NULL, N, len_kernel, NULL, 0, MPK_SUM, ok, 0, &r),
      MPK_EINVAL);
  CHECK_RC(mpk_pool_map(NULL, copy_map, in, sizeof(double), out, sizeof(double),
                        N, NULL, 0, ok),
           MPK_EINVAL);
}

/* --- arguments that differ between ranks -------------------------------- */

static void test_mismatched_args(void) {
  if (mt_size < 2)
    return;
  mpk_pool_t *p = mt_pool();
  int me = mt_rank == mt_target();
  const mpk_sched st = {MPK_SCHED_STATIC, 0};
  double r = 42.0;
  const double zero[2] = {0.0, 0.0};

  expect_everywhere(mpk_pool_for(p, me ? N + 1 : N, count_kernel, NULL, 0, st),
                    MPK_EINVAL, "for: n differs");
  expect_everywhere(mpk_pool_for(p, me ? 0 : N, count_kernel, NULL, 0, st),
                    MPK_EINVAL, "for: n = 0 on one rank only");
  expect_everywhere(
      mpk_pool_for(p, N, count_kernel, NULL, 0,
                   (mpk_sched){me ? MPK_SCHED_DYNAMIC : MPK_SCHED_STATIC, 0}),
      MPK_EINVAL, "for: schedule kind differs");
  expect_everywhere(mpk_pool_for(p, N, count_kernel, NULL, 0,
                                 (mpk_sched){MPK_SCHED_STATIC, me ? 10 : 20}),
                    MPK_EINVAL, "for: chunk differs");
  check_works(p);

  expect_everywhere(mpk_pool_reduce_double(p, me ? N - 1 : N, len_kernel, NULL,
                                           0, MPK_SUM, st, 0, &r),
                    MPK_EINVAL, "reduce_double: n differs");
  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0,
                                           me ? MPK_MAX : MPK_SUM, st, 0, &r),
                    MPK_EINVAL, "reduce_double: op differs");
  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM,
                                           st, me ? MPK_REDUCE_NEUMAIER : 0,
                                           &r),
                    MPK_EINVAL, "reduce_double: flags differ (NEUMAIER)");
  expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM,
                                           st, me ? MPK_REDUCE_FAST : 0, &r),
                    MPK_EINVAL, "reduce_double: flags differ (FAST)");
  CHECK(r == 42.0);
  expect_everywhere(mpk_pool_reduce(p, N, len_acc, add_double, zero,
                                    me ? 2 * sizeof(double) : sizeof(double),
                                    NULL, 0, st, 0, &r),
                    MPK_EINVAL, "reduce: elem_size differs");
  CHECK(r == 42.0);
  check_works(p);

  expect_everywhere(mpk_pool_map(p, copy_map, in, sizeof(double), out,
                                 sizeof(double), me ? N / 2 : N, NULL, 0, st),
                    MPK_EINVAL, "map: n differs");
  expect_everywhere(mpk_pool_map(p, copy_map, in,
                                 me ? sizeof(float) : sizeof(double), out,
                                 sizeof(double), N / 2, NULL, 0, st),
                    MPK_EINVAL, "map: in_size differs");
  expect_everywhere(mpk_pool_map(p, copy_map, in, sizeof(double), out,
                                 me ? 2 * sizeof(double) : sizeof(double),
                                 N / 2, NULL, 0, st),
                    MPK_EINVAL, "map: out_size differs");
  check_works(p);

  /* configure: every rank must set the same values */
  mt_configure(p, me ? MPK_MPI_DYNAMIC : MPK_MPI_STATIC, -1, 0);
  expect_everywhere(mpk_pool_for(p, N, count_kernel, NULL, 0, st), MPK_EINVAL,
                    "partition differs");
  mt_configure(p, MPK_MPI_STATIC, me ? 0 : -1, 0);
  expect_everywhere(mpk_pool_map(p, copy_map, in, sizeof(double), out,
                                 sizeof(double), N, NULL, 0, st),
                    MPK_EINVAL, "root differs");
  mt_configure(p, MPK_MPI_DYNAMIC, -1, me ? 3 : 4);
  expect_everywhere(
      mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM, st, 0, &r),
      MPK_EINVAL, "grab differs");
  CHECK(r == 42.0);
  mt_configure(p, MPK_MPI_DYNAMIC, -1, 3);
  check_works(p);
  mt_configure(p, MPK_MPI_STATIC, -1, 0);
  check_works(p);
  mpk_pool_free(p);
}

/* --- configure, info, is_mpi ---------------------------------------------- */

static void test_configure_info(void) {
  mpk_mpi_opts o;
  memset(&o, 0x77, sizeof o);
  mpk_mpi_opts_init(&o);
  CHECK_EQ(o.partition, MPK_MPI_STATIC);
  CHECK_EQ(o.root, -1);
  CHECK_EQ(o.grab, 0);
  mpk_mpi_opts_init(NULL);

  mpk_pool_t *p = mt_pool();
  mpk_pool_t *local = mt_local_pool(1);
  CHECK_EQ(mpk_pool_is_mpi(NULL), 0);
  CHECK_EQ(mpk_pool_is_mpi(local), 0);
  CHECK_EQ(mpk_pool_is_mpi(p), 1);

  mpk_mpi_info before, after;
  CHECK_OK(mpk_pool_mpi_info_get(p, &before));
  CHECK_RC(mpk_pool_mpi_configure(NULL, &o), MPK_EINVAL);
  CHECK_RC(mpk_pool_mpi_configure(local, &o), MPK_EINVAL);
  CHECK_RC(mpk_pool_mpi_configure(p, NULL), MPK_EINVAL);
  mpk_mpi_opts bad = o;
  bad.partition = (mpk_mpi_partition)2;
  CHECK_RC(mpk_pool_mpi_configure(p, &bad), MPK_EINVAL);
  bad.partition = (mpk_mpi_partition)-1;
  CHECK_RC(mpk_pool_mpi_configure(p, &bad), MPK_EINVAL);
  bad = o;
  bad.partition = MPK_MPI_DYNAMIC;
  bad.root = -2;
  CHECK_RC(mpk_pool_mpi_configure(p, &bad), MPK_EINVAL);
  bad.root = mt_size;
  CHECK_RC(mpk_pool_mpi_configure(p, &bad), MPK_EINVAL);
  /* a failed configure changed nothing */
  CHECK_OK(mpk_pool_mpi_info_get(p, &after));
  CHECK(before.rank == after.rank && before.size == after.size &&
        before.workers == after.workers &&
        before.total_workers == after.total_workers &&
        before.partition == after.partition && before.root == after.root &&
        before.grab == after.grab);
  CHECK_EQ(after.partition, MPK_MPI_STATIC);
  CHECK_EQ(after.root, -1);
  check_works(p);

  bad.root = mt_size - 1;
  bad.grab = 5;
  CHECK_OK(mpk_pool_mpi_configure(p, &bad));
  CHECK_OK(mpk_pool_mpi_info_get(p, &after));
  CHECK_EQ(after.partition, MPK_MPI_DYNAMIC);
  CHECK_EQ(after.root, mt_size - 1);
  CHECK_EQ(after.grab, 5);
  check_works(p);
  bad.root = -1;
  CHECK_OK(mpk_pool_mpi_configure(p, &bad));
  check_works(p);

  mpk_mpi_info info;
  CHECK_RC(mpk_pool_mpi_info_get(NULL, &info), MPK_EINVAL);
  CHECK_RC(mpk_pool_mpi_info_get(p, NULL), MPK_EINVAL);
  CHECK_RC(mpk_pool_mpi_info_get(local, &info), MPK_EINVAL);
  mpk_pool_free(local);
  mpk_pool_free(p);
  mpk_pool_free(NULL);
}

/* --- create errors ---------------------------------------------------------
 */

static int init_fails_on_target(void *arg) {
  (void)arg;
  return mt_rank == mt_target() ? 1 : 0;
}

static void expect_create_fails(const mpk_pool_opts *o, MPI_Comm comm, int code,
                                const char *what) {
  mpk_pool_t *p = (mpk_pool_t *)&p; /* not NULL: must be reset */
  int rc = mpk_pool_create_mpi(&p, comm, o);
  CHECK_MSG(rc == code, "%s: rank %d got %s, expected %s", what, mt_rank,
            mpk_err_name(rc), mpk_err_name(code));
  CHECK_MSG(p == NULL, "%s: *p not NULL after failure", what);
  mt_same_ll(rc, what);
}

static void test_create_errors(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  int me = mt_rank == mt_target();

  CHECK_RC(mpk_pool_create_mpi(NULL, MPI_COMM_WORLD, &o), MPK_EINVAL);
  expect_create_fails(&o, MPI_COMM_NULL, MPK_EINVAL, "MPI_COMM_NULL");

  mpk_pool_opts b = o;
  b.workers = me ? -1 : 1;
  expect_create_fails(&b, MPI_COMM_WORLD, MPK_EINVAL, "workers -1 on one rank");
  b = o;
  b.threads_per_worker = 0;
  expect_create_fails(&b, MPI_COMM_WORLD, MPK_EINVAL, "threads_per_worker 0");
  b = o;
  b.workers = me ? MPK_POOL_MAX_WORKERS + 1 : 1;
  expect_create_fails(&b, MPI_COMM_WORLD, MPK_EINVAL, "too many on one rank");
  /* an error of mpk_pool_create on one rank only */
  b = o;
  if (me) {
    b.backend = MPK_THREAD;
    b.task_timeout = 5.0;
  }
  expect_create_fails(&b, MPI_COMM_WORLD, MPK_ENOTSUP,
                      "task_timeout with MPK_THREAD on one rank");
  b = o;
  b.init = init_fails_on_target;
  expect_create_fails(&b, MPI_COMM_WORLD, MPK_ETASK,
                      "initializer failing on one rank");

  if (mt_size >= 2) {
    MPI_Comm half, inter;
    MPI_Comm_split(MPI_COMM_WORLD, mt_rank % 2, mt_rank, &half);
    MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, mt_rank % 2 ? 0 : 1, 77,
                         &inter);
    expect_create_fails(&o, inter, MPK_EINVAL, "intercommunicator");
    MPI_Comm_free(&inter);
    MPI_Comm_free(&half);
  }

  /* all this left the world able to make a working pool */
  mpk_pool_t *p = mt_pool();
  check_works(p);
  mpk_pool_free(p);
}

/* The result of mpk_pool_create_mpi called inside a worker. */
static int create_in_worker(const void *arg, void *result, void *ctx) {
  (void)arg;
  (void)ctx;
  mpk_pool_t *q = (mpk_pool_t *)&q;
  int *res = result;
  res[0] = mpk_pool_create_mpi(&q, MPI_COMM_WORLD, NULL);
  res[1] = q == NULL;
  if (res[0] == MPK_OK)
    mpk_pool_free(q);
  return 0;
}

static void test_create_in_worker(void) {
  for (int b = 0; b < 2; b++) {
    mpk_pool_opts o;
    mpk_pool_opts_init(&o);
    o.workers = 1;
    o.backend = b ? MPK_THREAD : MPK_PROCESS;
    mpk_pool_t *local = NULL;
    CHECK_OK(mpk_pool_create(&local, &o));
    int res[2] = {0, 0};
    CHECK_OK(mpk_pool_apply(local, create_in_worker, NULL, 0, res, sizeof res));
    CHECK_MSG(res[0] == MPK_ESTATE, "backend %d: create_mpi in a worker: %s", b,
              mpk_err_name(res[0]));
    CHECK_EQ(res[1], 1);
    mpk_pool_free(local);
  }
  /* and from a worker of an MPI pool */
  mpk_pool_t *p = mt_pool();
  int res[2] = {0, 0};
  CHECK_OK(mpk_pool_apply(p, create_in_worker, NULL, 0, res, sizeof res));
  CHECK_RC(res[0], MPK_ESTATE);
  mpk_pool_free(p);
}

/* --- sub-communicators ---------------------------------------------------- */

static double pi_with(mpk_pool_t *p, size_t steps) {
  return mt_pi(p, steps, (mpk_sched){MPK_SCHED_STATIC, 0});
}

static void test_sub_communicators(void) {
  /* the two halves use different n at the same time */
  const size_t steps = mt_rank % 2 ? 1000000 : 2000000;
  mpk_pool_t *local = mt_local_pool(2);
  double ref = pi_with(local, steps);
  mpk_pool_free(local);

  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, mt_rank % 2, -mt_rank, &half);
  int hr, hs;
  MPI_Comm_rank(half, &hr);
  MPI_Comm_size(half, &hs);
  /* one half after the other: Open MPI 4.1's osc/rdma names a window's
     shared-memory file after the communicator's context id, which the two
     halves of one split share, so windows created at the same time on both
     halves can end up in one file (mpi.subcomm tests that case) */
  mpk_pool_t *p = NULL;
  for (int color = 0; color < 2; color++) {
    if (mt_rank % 2 == color)
      p = mt_pool_on(half, mt_workers());
    MPI_Barrier(MPI_COMM_WORLD);
  }
  mpk_mpi_info info;
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_EQ(info.rank, hr);
  CHECK_EQ(info.size, hs);
  long long w = mt_workers(), total = 0;
  MPI_Allreduce(&w, &total, 1, MPI_LONG_LONG, MPI_SUM, half);
  CHECK_EQ(info.total_workers, total);
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    double pi = pi_with(p, steps);
    CHECK_NEAR(pi, M_PI, 1e-12);
    CHECK_MSG(mt_bits(pi) == mt_bits(ref),
              "sub-communicator pi %.17g != local %.17g", pi, ref);
    mt_same_bits_on(half, pi, "sub-communicator pi");
  }
  /* the root is a rank of the sub-communicator */
  mt_configure(p, MPK_MPI_STATIC, hs - 1, 0);
  for (size_t i = 0; i < N; i++) {
    in[i] = (double)i;
    out[i] = -1;
  }
  CHECK_OK(mpk_pool_map(p, copy_map, in, sizeof(double), out, sizeof(double), N,
                        NULL, 0, (mpk_sched){MPK_SCHED_AUTO, 0}));
  if (hr == hs - 1)
    for (size_t i = 0; i < N; i++)
      CHECK_EQ(out[i], i);
  mpk_pool_free(p);
  MPI_Comm_free(&half);

  /* MPI_COMM_SELF: each rank on its own */
  p = mt_pool_on(MPI_COMM_SELF, 1);
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_EQ(info.rank, 0);
  CHECK_EQ(info.size, 1);
  CHECK_EQ(info.total_workers, 1);
  double pi = pi_with(p, steps);
  CHECK(mt_bits(pi) == mt_bits(ref));
  mpk_pool_free(p);
}

/* A pool closed (or terminated) on one rank only: that rank's verdict is
   MPK_ESTATE, and every rank returns it instead of waiting. */
static void test_closed_on_one_rank(void) {
  for (int how = 0; how < 2; how++) {
    mpk_pool_t *p = mt_pool();
    check_works(p);
    if (mt_rank == mt_target())
      CHECK_OK(how ? mpk_pool_terminate(p) : mpk_pool_close(p));
    double r = 42.0;
    expect_everywhere(mpk_pool_for(p, N, count_kernel, NULL, 0,
                                   (mpk_sched){MPK_SCHED_AUTO, 0}),
                      MPK_ESTATE,
                      how ? "for after terminate on one rank"
                          : "for after close on one rank");
    expect_everywhere(mpk_pool_reduce_double(p, N, len_kernel, NULL, 0, MPK_SUM,
                                             (mpk_sched){MPK_SCHED_AUTO, 0}, 0,
                                             &r),
                      MPK_ESTATE, "reduce_double after close on one rank");
    CHECK(r == 42.0);
    mpk_pool_free(p);
  }
}

/* p NULL on one rank only: that rank cannot receive a pool, and every rank
   must still return the same error (not hang). */
static void test_create_null_p_on_one_rank(void) {
  if (mt_size < 2)
    return;
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  mpk_pool_t *p = (mpk_pool_t *)&p;
  int me = mt_rank == mt_target();
  int rc = mpk_pool_create_mpi(me ? NULL : &p, MPI_COMM_WORLD, &o);
  CHECK_MSG(rc == MPK_EINVAL, "rank %d got %s", mt_rank, mpk_err_name(rc));
  if (!me)
    CHECK(p == NULL);
}

int main(int argc, char **argv) {
  check_watchdog(50);
  /* before MPI_Init: MPK_ESTATE, *p NULL */
  mpk_pool_t *early = (mpk_pool_t *)&early;
  int early_rc = mpk_pool_create_mpi(&early, MPI_COMM_WORLD, NULL);
  mt_init(&argc, &argv, 50);
  check__current = "before MPI_Init";
  CHECK_RC(early_rc, MPK_ESTATE);
  CHECK(early == NULL);
  MT_RUN(test_bad_args_on_one_rank);
  MT_RUN(test_mismatched_args);
  MT_RUN(test_configure_info);
  MT_RUN(test_create_errors);
  MT_RUN(test_create_in_worker);
  MT_RUN(test_sub_communicators);
  MT_RUN(test_closed_on_one_rank);
  MT_RUN(test_create_null_p_on_one_rank);
  check__current = "after MPI_Finalize";
  CHECK_EQ(MPI_Finalize(), MPI_SUCCESS);
  mpk_pool_t *late = (mpk_pool_t *)&late;
  CHECK_RC(mpk_pool_create_mpi(&late, MPI_COMM_WORLD, NULL), MPK_ESTATE);
  CHECK(late == NULL);
  return check_done();
}
