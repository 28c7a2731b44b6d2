/* mpi.errors: task failures are global. A task that fails at one index,
   which the static partition gives to rank 1 (rank 0 when alone), makes
   mpk_pool_for, mpk_pool_map and mpk_pool_reduce return MPK_ETASK on every
   rank, with the same mpk_pool_last_error index (for / reduce: the start of
   the failing chunk; map: the element), task status and signal on every
   rank; the result is unchanged and the pool works afterwards. Failures on
   two ranks report the lower global index. The same under the dynamic
   partition (whichever rank runs the index), in root mode and for FAST
   generic reductions. Two failing chunks inside one rank's run: the lower
   index is reported when both ran, even when it failed last (checked
   against a plain local pool too). */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"

#define N 100000u
#define CHUNK 1000u
#define NONE SIZE_MAX

/* Fail with status s1 at index f1 and s2 at f2 (NONE: nowhere). The same
   bytes on every rank. */
typedef struct {
  size_t f1, f2;
  int s1, s2;
} fail_ctx;

static int fail_at(const fail_ctx *c, size_t lo, size_t hi) {
  if (c->f1 != NONE && c->f1 >= lo && c->f1 < hi)
    return c->s1;
  if (c->f2 != NONE && c->f2 >= lo && c->f2 < hi)
    return c->s2;
  return 0;
}

static int fail_for(size_t lo, size_t hi, void *ctx) {
  return fail_at(ctx, lo, hi);
}

static int fail_map(const void *in, void *out, void *ctx) {
  size_t i = (size_t) * (const double *)in;
  *(double *)out = 2.0 * (double)i;
  return fail_at(ctx, i, i + 1);
}

static int fail_reduce(size_t lo, size_t hi, void *acc, void *ctx) {
  int rc = fail_at(ctx, lo, hi);
  if (rc)
    return rc;
  for (size_t i = lo; i < hi; i++)
    *(double *)acc += (double)i;
  return 0;
}

static void add_double(void *acc, const void *other) {
  *(double *)acc += *(const double *)other;
}

static double *in, *out;

static const mpk_sched SCHED = {MPK_SCHED_STATIC, CHUNK};

static int call_for(mpk_pool_t *p, const fail_ctx *c) {
  return mpk_pool_for(p, N, fail_for, c, sizeof *c, SCHED);
}

static int call_map(mpk_pool_t *p, const fail_ctx *c) {
  return mpk_pool_map(p, fail_map, in, sizeof *in, out, sizeof *out, N, c,
                      sizeof *c, SCHED);
}

static double reduce_result;

static int call_reduce(mpk_pool_t *p, const fail_ctx *c) {
  const double zero = 0.0;
  reduce_result = -7.5;
  return mpk_pool_reduce(p, N, fail_reduce, add_double, &zero, sizeof zero, c,
                         sizeof *c, SCHED, 0, &reduce_result);
}

typedef int (*call_fn)(mpk_pool_t *, const fail_ctx *);
static const call_fn calls[3] = {call_for, call_map, call_reduce};
static const char *const call_names[3] = {"for", "map", "reduce"};

/* The index mpk_pool_last_error reports for a failure at element i. */
static size_t reported(int call, size_t i) {
  return call == 1 ? i : i / CHUNK * CHUNK;
}

/* A call without failures: every result right, on every rank. */
static void check_works(mpk_pool_t *p, int call) {
  const fail_ctx ok = {NONE, NONE, 0, 0};
  for (size_t i = 0; i < N; i++)
    out[i] = -1.0;
  CHECK_OK(calls[call](p, &ok));
  if (call == 1) {
    mpk_mpi_info info;
    CHECK_OK(mpk_pool_mpi_info_get(p, &info));
    if (info.root < 0 || info.root == mt_rank)
      for (size_t i = 0; i < N; i++)
        CHECK_EQ(out[i], 2.0 * (double)i);
  }
  if (call == 2)
    CHECK_EQ(reduce_result, (double)N * (double)(N - 1) / 2.0);
}

/* Run calls[call] failing as c says; every rank gets MPK_ETASK and the same
   last error, which must be (index, status). */
static void expect_task_failure(mpk_pool_t *p, int call, const fail_ctx *c,
                                size_t index, int status) {
  int rc = calls[call](p, c);
  CHECK_MSG(rc == MPK_ETASK, "%s on rank %d returned %s, expected MPK_ETASK",
            call_names[call], mt_rank, mpk_err_name(rc));
  /* mpk_errmsg on every rank: the rank it happened on, the call, the
     task's status (the same failure as the last error) */
  char want[64];
  snprintf(want, sizeof want, ": %s: task returned %d at ", call_names[call],
           status);
  CHECK_MSG(strncmp(mpk_errmsg(), "rank ", 5) == 0 &&
                strstr(mpk_errmsg(), want) != NULL,
            "rank %d: mpk_errmsg() \"%s\" lacks \"rank \" or \"%s\"", mt_rank,
            mpk_errmsg(), want);
  mt_failure f = mt_last_error(p);
  CHECK_RC(f.code, MPK_ETASK);
  CHECK_MSG(f.index == index && f.status == status && f.signal == 0,
            "%s: last error index %zu status %d signal %d, expected index "
            "%zu status %d",
            call_names[call], f.index, f.status, f.signal, index, status);
  if (call == 2)
    CHECK_MSG(reduce_result == -7.5, "reduce changed its result on error");
  check_works(p, call);
}

static void test_fail_on_one_rank(void) {
  mpk_pool_t *p = mt_pool();
  size_t f = mt_index_on_rank(p, N, SCHED, mt_target());
  for (int call = 0; call < 3; call++) {
    fail_ctx c = {f, NONE, 7, 0};
    expect_task_failure(p, call, &c, reported(call, f), 7);
    /* the first index of a chunk, and a status that is negative */
    size_t f0 = f / CHUNK * CHUNK;
    fail_ctx c0 = {f0, NONE, -3, 0};
    expect_task_failure(p, call, &c0, f0, -3);
  }
  mpk_pool_free(p);
}

static void test_fail_on_two_ranks(void) {
  if (mt_size < 2)
    return;
  mpk_pool_t *p = mt_pool();
  size_t a = mt_index_on_rank(p, N, SCHED, 0);
  size_t b = mt_index_on_rank(p, N, SCHED, mt_size - 1);
  size_t lo = a < b ? a : b;
  for (int call = 0; call < 3; call++) {
    /* the lower index wins, whatever the statuses or ranks */
    fail_ctx c = {a, b, 9, 3};
    expect_task_failure(p, call, &c, reported(call, lo), a < b ? 9 : 3);
    fail_ctx d = {b, a, 3, 9};
    expect_task_failure(p, call, &d, reported(call, lo), a < b ? 9 : 3);
  }
  mpk_pool_free(p);
}

static void test_fail_dynamic_partition(void) {
  mpk_pool_t *p = mt_pool();
  const size_t grabs[2] = {0, 1};
  for (int g = 0; g < 2; g++) {
    mt_configure(p, MPK_MPI_DYNAMIC, -1, grabs[g]);
    const size_t fs[3] = {0, N / 2 + 17, N - 1};
    for (int call = 0; call < 3; call++)
      for (int k = 0; k < 3; k++) {
        fail_ctx c = {fs[k], NONE, 11 + k, 0};
        expect_task_failure(p, call, &c, reported(call, fs[k]), 11 + k);
      }
  }
  mpk_pool_free(p);
}

static void test_fail_root_mode(void) {
  mpk_pool_t *p = mt_pool();
  size_t f = mt_index_on_rank(p, N, SCHED, mt_target());
  const int roots[2] = {0, mt_size - 1};
  for (int r = 0; r < 2; r++) {
    mt_configure(p, MPK_MPI_STATIC, roots[r], 0);
    fail_ctx c = {f, NONE, 4, 0};
    expect_task_failure(p, 1, &c, f, 4);
  }
  mpk_pool_free(p);
}

/* FAST generic reductions fail the same way (chunk start, status). */
static int call_reduce_fast(mpk_pool_t *p, const fail_ctx *c) {
  const double zero = 0.0;
  reduce_result = -7.5;
  return mpk_pool_reduce(p, N, fail_reduce, add_double, &zero, sizeof zero, c,
                         sizeof *c, SCHED, MPK_REDUCE_FAST, &reduce_result);
}

static void test_fail_fast_reduce(void) {
  mpk_pool_t *p = mt_pool();
  size_t f = mt_index_on_rank(p, N, SCHED, mt_target());
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    fail_ctx c = {f, NONE, 6, 0};
    CHECK_RC(call_reduce_fast(p, &c), MPK_ETASK);
    CHECK(reduce_result == -7.5);
    mt_failure e = mt_last_error(p);
    CHECK_RC(e.code, MPK_ETASK);
    CHECK_MSG(e.index == f / CHUNK * CHUNK && e.status == 6,
              "FAST reduce: index %zu status %d, expected %zu and 6", e.index,
              e.status, f / CHUNK * CHUNK);
    const fail_ctx ok = {NONE, NONE, 0, 0};
    CHECK_OK(call_reduce_fast(p, &ok));
    CHECK_EQ(reduce_result, (double)N * (double)(N - 1) / 2.0);
  }
  mpk_pool_free(p);
}

/* Two failing chunks in one rank's run: the first chunk of the run (worker
   0 under the local static schedule) fails slowly, the second (worker 1
   when the rank has two workers) as soon as the first has started. pool.h: "the
   lowest failing index among the tasks that ran is reported", so when the slow
   chunk started (it says so in the shared heap) it is the one reported,
   although it failed last. A plain local pool (the control) and the MPI pool.
 */
static _Atomic int *slow_started;

typedef struct {
  size_t slow, fast;
} order_ctx;

static int order_at(const order_ctx *c, size_t lo, size_t hi) {
  if (c->slow >= lo && c->slow < hi) {
    atomic_store(slow_started, 1);
    check_sleep(0.3);
    return 5;
  }
  if (c->fast >= lo && c->fast < hi) {
    /* fail once the slow chunk has started (if another worker runs it) */
    double end = check_now() + 2.0;
    while (!atomic_load(slow_started) && check_now() < end)
      check_sleep(0.001);
    return 7;
  }
  return 0;
}

static int order_for(size_t lo, size_t hi, void *ctx) {
  return order_at(ctx, lo, hi);
}

static int order_map(const void *x, void *y, void *ctx) {
  size_t i = (size_t) * (const double *)x;
  *(double *)y = 0;
  return order_at(ctx, i, i + 1);
}

static int order_reduce(size_t lo, size_t hi, void *acc, void *ctx) {
  *(double *)acc += 1.0;
  return order_at(ctx, lo, hi);
}

static int order_call(mpk_pool_t *p, int call, const order_ctx *c) {
  const double zero = 0.0;
  double r = 0;
  switch (call) {
  case 0: return mpk_pool_for(p, N, order_for, c, sizeof *c, SCHED);
  case 1:
    return mpk_pool_map(p, order_map, in, sizeof *in, out, sizeof *out, N, c,
                        sizeof *c, SCHED);
  default:
    return mpk_pool_reduce(p, N, order_reduce, add_double, &zero, sizeof zero,
                           c, sizeof *c, SCHED, 0, &r);
  }
}

static void order_case(mpk_pool_t *p, int call, size_t lo, int owner,
                       MPI_Comm comm) {
  order_ctx c = {lo, lo + CHUNK};
  atomic_store(slow_started, 0);
  int rc = order_call(p, call, &c);
  CHECK_MSG(rc == MPK_ETASK, "%s: %s", call_names[call], mpk_err_name(rc));
  int started = atomic_load(slow_started);
  MPI_Bcast(&started, 1, MPI_INT, owner, comm);
  size_t idx = 0;
  int st = 0;
  CHECK_RC(mpk_pool_last_error(p, &idx, &st, NULL), MPK_ETASK);
  size_t want = started ? c.slow : reported(call, c.fast);
  CHECK_MSG(idx == want && st == (started ? 5 : 7),
            "%s (%s pool): reported index %zu status %d; the chunk at %zu "
            "(status 5) %s, the one at %zu failed with 7",
            call_names[call], comm == MPI_COMM_SELF ? "local" : "MPI", idx, st,
            c.slow, started ? "ran" : "did not run", c.fast);
}

static void test_fail_order_within_rank(void) {
  /* the control: a local pool of 2 workers, on every rank */
  mpk_pool_t *local = mt_local_pool(2);
  for (int call = 0; call < 3; call++)
    order_case(local, call, 0, 0, MPI_COMM_SELF);
  mpk_pool_free(local);
  /* the MPI pool: both chunks start rank 1's share (2 workers there) */
  mpk_pool_t *p = mt_pool();
  int owner = mt_size > 1 ? 1 : 0;
  mt_span sp = mt_span_of(p, N, SCHED, owner);
  CHECK(sp.count >= 2 * (long long)CHUNK);
  for (int call = 0; call < 3; call++)
    order_case(p, call, (size_t)sp.lo, owner, MPI_COMM_WORLD);
  mpk_pool_free(p);
}

int main(int argc, char **argv) {
  mt_init(&argc, &argv, 50);
  check__current = "setup";
  mt_map_setup(N, &in, &out);
  slow_started = mpk_shm_calloc(1, sizeof *slow_started);
  CHECK(slow_started != NULL);
  MT_RUN(test_fail_on_one_rank);
  MT_RUN(test_fail_on_two_ranks);
  MT_RUN(test_fail_dynamic_partition);
  MT_RUN(test_fail_root_mode);
  MT_RUN(test_fail_fast_reduce);
  MT_RUN(test_fail_order_within_rank);
  mpk_shm_free(mt_hits);
  free(in);
  free(out);
  return mt_finish();
}
