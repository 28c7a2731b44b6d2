/* mpi.reduce: reductions of an MPI pool. The seed's midpoint-rule pi over
   2e7 steps equals M_PI within 1e-12, is bit-identical on every rank, and
   bit-identical to a plain local pool's result at the same chunk (computed
   in this program), for both partitions, any grab, every local schedule and
   ranks with different worker counts; MPK_REDUCE_NEUMAIER the same against
   its local twin; MPK_REDUCE_FAST is close and the same on every rank;
   MIN / MAX / PROD; n = 0 gives the identity; the generic reduction with a
   {sum, min, max, count} accumulator is bit-identical to the local pool's.
   With --out FILE rank 0 writes the bit patterns, which the
   mpi.reduce-same-bits test compares across 1, 2 and 4 ranks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpi-util.h"

#define PI_STEPS 20000000u
#define PI_CHUNK 5000u
#define SMALL_STEPS 2000000u
#define SMALL_CHUNK 2000u
#define OPS_N 1000000u
#define STATS_N 300000u
#define STATS_CHUNK 999u

/* MIN / MAX: the chunk's smallest / largest sin(i); PROD: a product of
   factors near 1, so the result is finite and depends on every chunk. */
typedef struct {
  int op;
} ops_ctx;

static double ops_kernel(size_t lo, size_t hi, void *ctx) {
  int op = ((const ops_ctx *)ctx)->op;
  double v = op == MPK_PROD ? 1.0 : op == MPK_MIN ? INFINITY : -INFINITY;
  for (size_t i = lo; i < hi; i++) {
    double x = sin((double)i * 0.001);
    if (op == MPK_PROD)
      v *= 1.0 + 1e-7 * x;
    else if (op == MPK_MIN)
      v = x < v ? x : v;
    else
      v = x > v ? x : v;
  }
  return v;
}

/* The generic reduction's accumulator: no padding, so memcmp compares the
   values. */
typedef struct {
  double sum, min, max;
  long long count;
} stats;

static int stats_kernel(size_t lo, size_t hi, void *acc, void *ctx) {
  (void)ctx;
  stats *s = acc;
  for (size_t i = lo; i < hi; i++) {
    double x = sin((double)i * 0.37) * 1e3 + cos((double)i * 1e-4);
    s->sum += x;
    s->min = x < s->min ? x : s->min;
    s->max = x > s->max ? x : s->max;
    s->count++;
  }
  return 0;
}

static void stats_combine(void *acc, const void *other) {
  stats *a = acc;
  const stats *b = other;
  a->sum += b->sum;
  a->min = b->min < a->min ? b->min : a->min;
  a->max = b->max > a->max ? b->max : a->max;
  a->count += b->count;
}

static const stats stats_identity = {0.0, INFINITY, -INFINITY, 0};

/* References from a plain local pool (2 workers, any rank count). */
static double ref_pi0, ref_pi_c, ref_neu, ref_small, ref_ops[4];
static stats ref_stats0, ref_stats_c;
/* The same results from the MPI pool, written by --out. */
static double mpi_pi0, mpi_pi_c, mpi_neu, mpi_small, mpi_ops[4];
static stats mpi_stats0, mpi_stats_c;

static const mt_pi_ctx pic = {1.0 / (double)PI_STEPS};
static const mt_pi_ctx smallc = {1.0 / (double)SMALL_STEPS};

static double pi_on(mpk_pool_t *p, size_t n, const mt_pi_ctx *c, mpk_sched s,
                    int flags) {
  double r = -1.0;
  CHECK_OK(mpk_pool_reduce_double(p, n, mt_partial_pi, c, sizeof *c, MPK_SUM, s,
                                  flags, &r));
  return r;
}

static stats stats_on(mpk_pool_t *p, size_t n, mpk_sched s, int flags) {
  stats r;
  memset(&r, 0xab, sizeof r);
  CHECK_OK(mpk_pool_reduce(p, n, stats_kernel, stats_combine, &stats_identity,
                           sizeof(stats), NULL, 0, s, flags, &r));
  return r;
}

static void check_bits(double got, double want, const char *what) {
  CHECK_MSG(mt_bits(got) == mt_bits(want),
            "%s on rank %d: %.17g (%016llx) != local pool's %.17g (%016llx)",
            what, mt_rank, got, (unsigned long long)mt_bits(got), want,
            (unsigned long long)mt_bits(want));
  mt_same_bits(got, what);
}

static void test_local_references(void) {
  mpk_pool_t *p = mt_local_pool(2);
  mpk_sched st = {MPK_SCHED_STATIC, 0};
  ref_pi0 = pi_on(p, PI_STEPS, &pic, st, 0);
  ref_neu = pi_on(p, PI_STEPS, &pic, st, MPK_REDUCE_NEUMAIER);
  ref_pi_c =
      pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_STATIC, PI_CHUNK}, 0);
  ref_small = pi_on(p, SMALL_STEPS, &smallc,
                    (mpk_sched){MPK_SCHED_STATIC, SMALL_CHUNK}, 0);
  for (int op = MPK_PROD; op <= MPK_MAX; op++) {
    ops_ctx c = {op};
    CHECK_OK(mpk_pool_reduce_double(p, OPS_N, ops_kernel, &c, sizeof c,
                                    (mpk_op)op, st, 0, &ref_ops[op]));
  }
  ref_stats0 = stats_on(p, STATS_N, st, 0);
  ref_stats_c =
      stats_on(p, STATS_N, (mpk_sched){MPK_SCHED_STATIC, STATS_CHUNK}, 0);
  mpk_pool_free(p);
  CHECK_NEAR(ref_pi0, M_PI, 1e-12);
  CHECK_NEAR(ref_pi_c, M_PI, 1e-12);
  CHECK_NEAR(ref_neu, M_PI, 1e-12);
  CHECK_NEAR(ref_small, M_PI, 1e-12);
  CHECK_EQ(ref_stats0.count, STATS_N);
  /* the local pool is deterministic: the same on every rank */
  mt_same_bits(ref_pi0, "local pi");
  mt_same_bits(ref_neu, "local pi neumaier");
}

static void test_pi_static(void) {
  mpk_pool_t *p = mt_pool();
  double pi = pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_STATIC, 0}, 0);
  CHECK_NEAR(pi, M_PI, 1e-12);
  check_bits(pi, ref_pi0, "pi, static partition, chunk 0");
  mpi_pi0 = pi;
  pi = pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_STATIC, PI_CHUNK}, 0);
  CHECK_NEAR(pi, M_PI, 1e-12);
  check_bits(pi, ref_pi_c, "pi, static partition, chunk 5000");
  mpi_pi_c = pi;
  /* the same call again gives the same bits */
  double again =
      pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_STATIC, PI_CHUNK}, 0);
  check_bits(again, ref_pi_c, "pi, repeated");
  mpk_pool_free(p);
}

static void test_pi_local_schedules(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
      double pi =
          pi_on(p, PI_STEPS, &pic, (mpk_sched){(mpk_sched_kind)k, 0}, 0);
      CHECK_NEAR(pi, M_PI, 1e-12);
      check_bits(pi, ref_pi0, "pi, local schedule, chunk 0");
      pi =
          pi_on(p, PI_STEPS, &pic, (mpk_sched){(mpk_sched_kind)k, PI_CHUNK}, 0);
      check_bits(pi, ref_pi_c, "pi, local schedule, chunk 5000");
    }
  }
  mpk_pool_free(p);
}

static void test_pi_dynamic_partition(void) {
  mpk_pool_t *p = mt_pool();
  const size_t grabs[4] = {0, 3, 1, 1000000};
  for (int g = 0; g < 4; g++) {
    mt_configure(p, MPK_MPI_DYNAMIC, -1, grabs[g]);
    mpk_mpi_info info;
    CHECK_OK(mpk_pool_mpi_info_get(p, &info));
    CHECK_EQ(info.partition, MPK_MPI_DYNAMIC);
    if (grabs[g] != 0)
      CHECK_EQ(info.grab, grabs[g]);
    double pi = pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_DYNAMIC, 0}, 0);
    CHECK_NEAR(pi, M_PI, 1e-12);
    check_bits(pi, ref_pi0, "pi, dynamic partition, chunk 0");
    mt_check_counter(p);
    /* many small grabs: 1000 chunks, one per grab with grab 1 */
    pi = pi_on(p, SMALL_STEPS, &smallc,
               (mpk_sched){MPK_SCHED_STATIC, SMALL_CHUNK}, 0);
    CHECK_NEAR(pi, M_PI, 1e-12);
    check_bits(pi, ref_small, "pi, dynamic partition, chunk 2000");
    mpi_small = pi;
  }
  mpk_pool_free(p);
}

static void test_pi_neumaier(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    double pi = pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_GUIDED, 0},
                      MPK_REDUCE_NEUMAIER);
    CHECK_NEAR(pi, M_PI, 1e-12);
    check_bits(pi, ref_neu, "pi, neumaier");
    mpi_neu = pi;
  }
  mpk_pool_free(p);
}

static void test_pi_fast(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    const int flags[2] = {MPK_REDUCE_FAST,
                          MPK_REDUCE_FAST | MPK_REDUCE_NEUMAIER};
    for (int f = 0; f < 2; f++) {
      double pi =
          pi_on(p, PI_STEPS, &pic, (mpk_sched){MPK_SCHED_STATIC, 0}, flags[f]);
      CHECK_NEAR(pi, M_PI, 1e-11);
      /* rank results are folded in rank order on every rank */
      mt_same_bits(pi, "pi, fast");
    }
  }
  stats s = stats_on(p, STATS_N, (mpk_sched){MPK_SCHED_DYNAMIC, 100},
                     MPK_REDUCE_FAST);
  CHECK_EQ(s.count, STATS_N);
  CHECK(s.min == ref_stats0.min && s.max == ref_stats0.max);
  CHECK_NEAR(s.sum, ref_stats0.sum, 1e-9 * fabs(ref_stats0.sum) + 1e-6);
  mpk_pool_free(p);
}

static void test_ops(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    for (int op = MPK_PROD; op <= MPK_MAX; op++) {
      ops_ctx c = {op};
      double r = 0;
      CHECK_OK(mpk_pool_reduce_double(p, OPS_N, ops_kernel, &c, sizeof c,
                                      (mpk_op)op,
                                      (mpk_sched){MPK_SCHED_CYCLIC, 0}, 0, &r));
      check_bits(r, ref_ops[op], "MIN / MAX / PROD");
      mpi_ops[op] = r;
    }
  }
  CHECK_NEAR(ref_ops[MPK_MAX], 1.0, 1e-6);
  CHECK_NEAR(ref_ops[MPK_MIN], -1.0, 1e-6);
  mpk_pool_free(p);
}

static void test_n0_identity(void) {
  mpk_pool_t *p = mt_pool();
  const double want[4] = {0.0, 1.0, INFINITY, -INFINITY};
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    for (int op = MPK_SUM; op <= MPK_MAX; op++)
      for (int fast = 0; fast < 2; fast++) {
        ops_ctx c = {op};
        double r = 12345.0;
        CHECK_OK(mpk_pool_reduce_double(
            p, 0, ops_kernel, &c, sizeof c, (mpk_op)op,
            (mpk_sched){MPK_SCHED_STATIC, 0}, fast ? MPK_REDUCE_FAST : 0, &r));
        CHECK_MSG(mt_bits(r) == mt_bits(want[op]), "op %d n=0 gave %g", op, r);
      }
    stats s = stats_on(p, 0, (mpk_sched){MPK_SCHED_DYNAMIC, 0}, 0);
    CHECK(memcmp(&s, &stats_identity, sizeof s) == 0);
  }
  mpk_pool_free(p);
}

static void test_generic(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, part ? 2 : 0);
    for (int k = MPK_SCHED_STATIC; k <= MPK_SCHED_GUIDED; k++) {
      stats s = stats_on(p, STATS_N, (mpk_sched){(mpk_sched_kind)k, 0}, 0);
      CHECK_MSG(memcmp(&s, &ref_stats0, sizeof s) == 0,
                "generic, chunk 0, schedule %d: sum %.17g min %.17g max "
                "%.17g count %lld != local %.17g %.17g %.17g %lld",
                k, s.sum, s.min, s.max, s.count, ref_stats0.sum, ref_stats0.min,
                ref_stats0.max, ref_stats0.count);
      mt_same_bytes(&s, sizeof s, "generic result");
      mpi_stats0 = s;
      s = stats_on(p, STATS_N, (mpk_sched){(mpk_sched_kind)k, STATS_CHUNK}, 0);
      CHECK_MSG(memcmp(&s, &ref_stats_c, sizeof s) == 0,
                "generic, chunk 999, schedule %d: sum %.17g != local %.17g", k,
                s.sum, ref_stats_c.sum);
      mpi_stats_c = s;
    }
  }
  mpk_pool_free(p);
}

/* Rank 0 writes every deterministic result's bits; another rank count must
   write the same file. */
static void write_bits(void) {
  if (mt_rank != 0 || mt_out == NULL)
    return;
  FILE *f = fopen(mt_out, "w");
  CHECK(f != NULL);
  const double v[] = {mpi_pi0,          mpi_pi_c,          mpi_neu,
                      mpi_small,        mpi_ops[MPK_PROD], mpi_ops[MPK_MIN],
                      mpi_ops[MPK_MAX], mpi_stats0.sum,    mpi_stats0.min,
                      mpi_stats0.max,   mpi_stats_c.sum};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    fprintf(f, "%016llx\n", (unsigned long long)mt_bits(v[i]));
  fprintf(f, "%lld %lld\n", mpi_stats0.count, mpi_stats_c.count);
  CHECK(fclose(f) == 0);
}

int main(int argc, char **argv) {
  mt_init(&argc, &argv, 50);
  /* a failed run must not leave an older run's file behind */
  if (mt_rank == 0 && mt_out)
    unlink(mt_out);
  MT_RUN(test_local_references);
  MT_RUN(test_pi_static);
  MT_RUN(test_pi_local_schedules);
  MT_RUN(test_pi_dynamic_partition);
  MT_RUN(test_pi_neumaier);
  MT_RUN(test_pi_fast);
  MT_RUN(test_ops);
  MT_RUN(test_n0_identity);
  MT_RUN(test_generic);
  write_bits();
  return mt_finish();
}
