/* pool.reduce: reductions. The seed's pi by the midpoint rule (10^7 steps)
   equals M_PI within 1e-12 for 1..4 workers, both backends and every
   schedule, and in the default (deterministic) mode it is bit-identical
   across all those runs; MPK_REDUCE_FAST and MPK_REDUCE_NEUMAIER; MIN, MAX,
   PROD; the generic reduction with a struct accumulator. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mpk/pool.h"

/* calc_partial_pi of the seed, over a range of steps */
typedef struct {
  double dx;
} pi_ctx;

static double partial_pi(size_t lo, size_t hi, void *ctx) {
  double dx = ((pi_ctx *)ctx)->dx, s = 0.0;
  for (size_t i = lo; i < hi; i++) {
    double x = ((double)i + 0.5) * dx;
    s += 4.0 / (1.0 + x * x);
  }
  return s * dx;
}

static mpk_pool_t *mk(mpk_backend b, int workers) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  o.backend = b;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  return p;
}

static int same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

static void test_pi_deterministic(void) {
  const size_t nsteps = 10000000;
  pi_ctx c = {1.0 / (double)nsteps};
  const mpk_backend backends[2] = {MPK_PROCESS, MPK_THREAD};
  const size_t chunks[2] = {0, 10000};
  double ref[2] = {0, 0};
  int have[2] = {0, 0};
  for (int b = 0; b < 2; b++)
    for (int w = 1; w <= 4; w++) {
      mpk_pool_t *p = mk(backends[b], w);
      for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++)
        for (int ci = 0; ci < 2; ci++) {
          mpk_sched s = {(mpk_sched_kind)k, chunks[ci]};
          double pi = 0;
          CHECK_OK(mpk_pool_reduce_double(p, nsteps, partial_pi, &c, sizeof c,
                                          MPK_SUM, s, 0, &pi));
          CHECK_NEAR(pi, M_PI, 1e-12);
          if (!have[ci]) {
            ref[ci] = pi;
            have[ci] = 1;
          }
          CHECK_MSG(same_bits(pi, ref[ci]),
                    "backend %d workers %d kind %d chunk %zu: %.17g != "
                    "%.17g",
                    b, w, k, chunks[ci], pi, ref[ci]);
        }
      mpk_pool_free(p);
    }
}

static void test_pi_fast_and_neumaier(void) {
  const size_t nsteps = 10000000;
  pi_ctx c = {1.0 / (double)nsteps};
  double neu_ref = 0;
  for (int w = 1; w <= 3; w++) {
    mpk_pool_t *p = mk(MPK_PROCESS, w);
    for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
      mpk_sched s = {(mpk_sched_kind)k, 0};
      double fast = 0, neu = 0, fneu = 0;
      CHECK_OK(mpk_pool_reduce_double(p, nsteps, partial_pi, &c, sizeof c,
                                      MPK_SUM, s, MPK_REDUCE_FAST, &fast));
      CHECK_NEAR(fast, M_PI, 1e-12);
      CHECK_OK(mpk_pool_reduce_double(p, nsteps, partial_pi, &c, sizeof c,
                                      MPK_SUM, s, MPK_REDUCE_NEUMAIER, &neu));
      CHECK_NEAR(neu, M_PI, 1e-12);
      if (neu_ref == 0)
        neu_ref = neu;
      CHECK(same_bits(neu, neu_ref)); /* deterministic too */
      CHECK_OK(mpk_pool_reduce_double(
          p, nsteps, partial_pi, &c, sizeof c, MPK_SUM, s,
          MPK_REDUCE_FAST | MPK_REDUCE_NEUMAIER, &fneu));
      CHECK_NEAR(fneu, M_PI, 1e-12);
    }
    mpk_pool_free(p);
  }
}

/* Values whose sum depends on the order: the deterministic modes still give
   one answer for every worker count and schedule. */
static double wild(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  double s = 0;
  for (size_t i = lo; i < hi; i++) {
    double v = (i % 3 == 0)   ? 1e16
               : (i % 3 == 1) ? 1.0 + (double)(i % 7)
                              : -1e16;
    s += v;
  }
  return s;
}

static void test_order_sensitive(void) {
  const size_t n = 300001;
  double ref_tree = 0, ref_neu = 0;
  int first = 1;
  for (int w = 1; w <= 4; w++) {
    mpk_pool_t *p = mk(w % 2 ? MPK_PROCESS : MPK_THREAD, w);
    for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
      mpk_sched s = {(mpk_sched_kind)k, 37};
      double t = 0, nm = 0;
      CHECK_OK(mpk_pool_reduce_double(p, n, wild, NULL, 0, MPK_SUM, s, 0, &t));
      CHECK_OK(mpk_pool_reduce_double(p, n, wild, NULL, 0, MPK_SUM, s,
                                      MPK_REDUCE_NEUMAIER, &nm));
      if (first) {
        ref_tree = t;
        ref_neu = nm;
        first = 0;
      }
      CHECK(same_bits(t, ref_tree));
      CHECK(same_bits(nm, ref_neu));
    }
    mpk_pool_free(p);
  }
}

/* f(i) = sin(i): MIN, MAX, PROD of (1 + small) */
static double chunk_min(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  double m = INFINITY;
  for (size_t i = lo; i < hi; i++)
    m = fmin(m, sin((double)i));
  return m;
}

static double chunk_max(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  double m = -INFINITY;
  for (size_t i = lo; i < hi; i++)
    m = fmax(m, sin((double)i));
  return m;
}

static double chunk_prod(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  double m = 1;
  for (size_t i = lo; i < hi; i++)
    m *= 1.0 + 1e-6 * sin((double)i);
  return m;
}

static void test_ops(void) {
  const size_t n = 100000;
  double mn = INFINITY, mx = -INFINITY, pr = 1;
  for (size_t i = 0; i < n; i++) {
    mn = fmin(mn, sin((double)i));
    mx = fmax(mx, sin((double)i));
    pr *= 1.0 + 1e-6 * sin((double)i);
  }
  mpk_pool_t *p = mk(MPK_PROCESS, 3);
  for (int flags = 0; flags <= MPK_REDUCE_FAST; flags++)
    for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
      mpk_sched s = {(mpk_sched_kind)k, 0};
      double r;
      CHECK_OK(mpk_pool_reduce_double(p, n, chunk_min, NULL, 0, MPK_MIN, s,
                                      flags, &r));
      CHECK(r == mn);
      CHECK_OK(mpk_pool_reduce_double(p, n, chunk_max, NULL, 0, MPK_MAX, s,
                                      flags, &r));
      CHECK(r == mx);
      CHECK_OK(mpk_pool_reduce_double(p, n, chunk_prod, NULL, 0, MPK_PROD, s,
                                      flags, &r));
      CHECK_NEAR(r, pr, 1e-12);
    }
  mpk_pool_free(p);
}

/* Generic reduction: sum, count and max of i^2 mod 1000 over a range. */
typedef struct {
  double sum;
  long count;
  long max;
} stats;

static int stats_kernel(size_t lo, size_t hi, void *acc, void *ctx) {
  (void)ctx;
  stats *s = acc;
  for (size_t i = lo; i < hi; i++) {
    long v = (long)((i * i) % 1000);
    s->sum += (double)v * 0.1;
    s->count++;
    if (v > s->max)
      s->max = v;
  }
  return 0;
}

static void stats_combine(void *acc, const void *other) {
  stats *a = acc;
  const stats *b = other;
  a->sum += b->sum;
  a->count += b->count;
  if (b->max > a->max)
    a->max = b->max;
}

static void test_generic(void) {
  const size_t n = 1000003;
  const stats id = {0.0, 0, -1};
  stats ref = {0, 0, 0};
  int first = 1;
  for (int w = 1; w <= 4; w++) {
    mpk_pool_t *p = mk(w % 2 ? MPK_THREAD : MPK_PROCESS, w);
    for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
      mpk_sched s = {(mpk_sched_kind)k, 0};
      stats r;
      CHECK_OK(mpk_pool_reduce(p, n, stats_kernel, stats_combine, &id,
                               sizeof id, NULL, 0, s, 0, &r));
      CHECK_EQ(r.count, (long)n);
      CHECK_EQ(r.max, 996); /* i^2 mod 1000 reaches 996, never 999 */
      if (first) {
        ref = r;
        first = 0;
      }
      CHECK(same_bits(r.sum, ref.sum));
      stats f;
      CHECK_OK(mpk_pool_reduce(p, n, stats_kernel, stats_combine, &id,
                               sizeof id, NULL, 0, s, MPK_REDUCE_FAST, &f));
      CHECK_EQ(f.count, (long)n);
      CHECK_EQ(f.max, 996);
      CHECK_NEAR(f.sum, ref.sum, 1e-6 * ref.sum);
    }
    mpk_pool_free(p);
  }
}

/* A large identity and accumulator (not inline in the job). */
typedef struct {
  long hist[64];
} histo;

static int histo_kernel(size_t lo, size_t hi, void *acc, void *ctx) {
  (void)ctx;
  histo *h = acc;
  for (size_t i = lo; i < hi; i++)
    h->hist[(i * 7) % 64]++;
  return 0;
}

static void histo_combine(void *acc, const void *other) {
  histo *a = acc;
  const histo *b = other;
  for (int i = 0; i < 64; i++)
    a->hist[i] += b->hist[i];
}

static void test_generic_large(void) {
  mpk_pool_t *p = mk(MPK_PROCESS, 2);
  histo id, r;
  memset(&id, 0, sizeof id);
  id.hist[5] = 1000; /* every chunk starts from the identity */
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1000};
  CHECK_OK(mpk_pool_reduce(p, 64000, histo_kernel, histo_combine, &id,
                           sizeof id, NULL, 0, s, 0, &r));
  for (int i = 0; i < 64; i++)
    CHECK_EQ(r.hist[i], 1000 + (i == 5 ? 64 * 1000 : 0));
  CHECK_OK(mpk_pool_reduce(p, 64000, histo_kernel, histo_combine, &id,
                           sizeof id, NULL, 0, s, MPK_REDUCE_FAST, &r));
  /* FAST: one identity per worker */
  for (int i = 0; i < 64; i++)
    CHECK_EQ(r.hist[i], 1000 + (i == 5 ? 2 * 1000 : 0));
  mpk_pool_free(p);
}

int main(void) {
  check_watchdog(150);
  CHECK_RUN(test_pi_deterministic);
  CHECK_RUN(test_pi_fast_and_neumaier);
  CHECK_RUN(test_order_sensitive);
  CHECK_RUN(test_ops);
  CHECK_RUN(test_generic);
  CHECK_RUN(test_generic_large);
  return check_done();
}
