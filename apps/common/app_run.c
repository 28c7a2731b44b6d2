/* app_run.c - one workload, one mode, one run. See app_run.h. */
#include "app_run.h"

#include <limits.h>
#include <omp.h>
#include <string.h>

#include "app_stats.h"
#include "mpk/error.h"

/* Set the schedule(runtime) of the calling thread's next parallel loops to
   the pool schedule `k` with `chunk` iterations (static 0: one block per
   thread, as OpenMP's default static). */
static void set_omp_schedule(mpk_sched_kind k, size_t chunk) {
  int c = chunk > INT_MAX ? INT_MAX : (int)chunk;
  switch (k) {
  case MPK_SCHED_CYCLIC: omp_set_schedule(omp_sched_static, c ? c : 1); break;
  case MPK_SCHED_DYNAMIC: omp_set_schedule(omp_sched_dynamic, c ? c : 1); break;
  case MPK_SCHED_GUIDED: omp_set_schedule(omp_sched_guided, c ? c : 1); break;
  default: omp_set_schedule(omp_sched_static, c); break;
  }
}

static int valid_sched(mpk_sched_kind k) {
  return k == MPK_SCHED_STATIC || k == MPK_SCHED_CYCLIC ||
         k == MPK_SCHED_DYNAMIC || k == MPK_SCHED_GUIDED;
}

/* ------------------------------------------------------------------------ */
/* pi                                                                        */

size_t app_pi_default_chunk(size_t steps) {
  size_t c = steps / 4096 + (steps % 4096 != 0);
  return c ? c : 1;
}

typedef struct {
  double dx;
  int kernel; /* app_pi_kernel */
  int team;   /* OpenMP team inside a hybrid worker, else 1 */
} pi_ctx;

static double pi_chunk(size_t lo, size_t hi, void *ctx) {
  const pi_ctx *c = ctx;
  return app_pi_range(lo, hi, c->dx, (app_pi_kernel)c->kernel, c->team);
}

typedef struct {
  size_t chunk;
  uint64_t seed;
} mc_ctx;

static int mc_chunk(size_t lo, size_t hi, void *acc, void *ctx) {
  const mc_ctx *c = ctx;
  double h = app_mc_hits(lo, hi, c->chunk, c->seed), a;
  if (h < 0)
    return 1; /* no generator: the call fails with MPK_ETASK */
  memcpy(&a, acc, sizeof a);
  a += h;
  memcpy(acc, &a, sizeof a);
  return 0;
}

static void mc_combine(void *acc, const void *other) {
  double a, b;
  memcpy(&a, acc, sizeof a);
  memcpy(&b, other, sizeof b);
  a += b;
  memcpy(acc, &a, sizeof a);
}

static double omp_pi_midpoint(const app_exec *ex, const app_pi_problem *pb,
                              double dx) {
  const size_t n = pb->steps;
  double sum = 0.0;
  if (pb->kernel == APP_PI_NAIVE && pb->sched == MPK_SCHED_STATIC) {
    /* The OpenMP baseline, exactly as a user would write it. */
#pragma omp parallel for reduction(+ : sum) schedule(static) num_threads(ex->workers)
    for (size_t i = 0; i < n; i++) {
      double x = ((double)i + 0.5) * dx;
      sum += 4.0 / (1.0 + x * x);
    }
    return sum;
  }
  if (pb->kernel == APP_PI_NAIVE) {
    set_omp_schedule(pb->sched, pb->chunk);
#pragma omp parallel for reduction(+ : sum) schedule(runtime) num_threads(ex->workers)
    for (size_t i = 0; i < n; i++) {
      double x = ((double)i + 0.5) * dx;
      sum += 4.0 / (1.0 + x * x);
    }
    return sum;
  }
  /* SIMD: the parallel loop runs over sub-blocks of the vector kernel. */
  const size_t nb = (n + APP_PI_BLOCK - 1) / APP_PI_BLOCK;
  set_omp_schedule(pb->sched,
                   pb->sched == MPK_SCHED_STATIC
                       ? 0
                       : (pb->chunk + APP_PI_BLOCK - 1) / APP_PI_BLOCK);
#pragma omp parallel for reduction(+ : sum) schedule(runtime) num_threads(ex->workers)
  for (size_t b = 0; b < nb; b++) {
    size_t lo = b * APP_PI_BLOCK;
    size_t hi = n - lo > APP_PI_BLOCK ? lo + APP_PI_BLOCK : n;
    sum += app_pi_simd(lo, hi, dx);
  }
  return sum;
}

static int omp_mc_hits(const app_exec *ex, const app_pi_problem *pb,
                       double *out) {
  const size_t n = pb->steps, chunk = pb->chunk;
  const size_t nch = (n + chunk - 1) / chunk;
  double hits = 0.0;
  int bad = 0;
  set_omp_schedule(pb->sched, 0);
#pragma omp parallel for reduction(+ : hits) reduction(| : bad) schedule(runtime) num_threads(ex->workers)
  for (size_t c = 0; c < nch; c++) {
    size_t lo = c * chunk, hi = n - lo > chunk ? lo + chunk : n;
    double h = app_mc_hits(lo, hi, chunk, pb->seed);
    if (h < 0)
      bad = 1;
    else
      hits += h;
  }
  *out = hits;
  return bad ? MPK_ENOMEM : MPK_OK;
}

int app_pi_run(app_exec *ex, const app_pi_problem *pb, double *pi) {
  if (ex == NULL || ex->info == NULL || pb == NULL || pi == NULL ||
      pb->steps < 1 || pb->chunk < 1 || !valid_sched(pb->sched) ||
      (pb->method != APP_METHOD_MIDPOINT &&
       pb->method != APP_METHOD_MONTECARLO) ||
      (pb->kernel != APP_PI_NAIVE && pb->kernel != APP_PI_SIMD) ||
      pb->steps >= ((size_t)1 << 52))
    return MPK_EINVAL;
  const size_t n = pb->steps;
  const double dx = 1.0 / (double)n;
  const mpk_sched s = {pb->sched, pb->chunk};
  double v = 0.0;
  int rc = MPK_OK;

  if (pb->method == APP_METHOD_MONTECARLO) {
    switch (ex->info->kind) {
    case APP_KIND_SERIAL:
      v = app_mc_hits(0, n, pb->chunk, pb->seed);
      rc = v < 0 ? MPK_ENOMEM : MPK_OK;
      break;
    case APP_KIND_OMP: rc = omp_mc_hits(ex, pb, &v); break;
    case APP_KIND_POOL: {
      const mc_ctx c = {pb->chunk, pb->seed};
      const double zero = 0.0;
      rc = mpk_pool_reduce(ex->pool, n, mc_chunk, mc_combine, &zero,
                           sizeof zero, &c, sizeof c, s, 0, &v);
      break;
    }
    }
    if (rc == MPK_OK)
      *pi = 4.0 * v / (double)n;
    return rc;
  }

  switch (ex->info->kind) {
  case APP_KIND_SERIAL: v = app_pi_range(0, n, dx, pb->kernel, 1); break;
  case APP_KIND_OMP: v = omp_pi_midpoint(ex, pb, dx); break;
  case APP_KIND_POOL: {
    const pi_ctx c = {dx, (int)pb->kernel, ex->threads_per_worker};
    rc = mpk_pool_reduce_double(ex->pool, n, pi_chunk, &c, sizeof c, MPK_SUM, s,
                                0, &v);
    break;
  }
  }
  if (rc == MPK_OK)
    *pi = v * dx;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* square                                                                    */

typedef struct {
  const void *in;
  void *out;
  int type; /* app_sq_type */
  int team;
} sq_ctx;

static void square_span(const sq_ctx *c, size_t lo, size_t hi) {
  if (c->type == APP_SQ_LONG)
    app_square_long(c->in, c->out, lo, hi);
  else
    app_square_double(c->in, c->out, lo, hi);
}

static int sq_range(size_t lo, size_t hi, void *ctx) {
  const sq_ctx *c = ctx;
  if (c->team <= 1) {
    square_span(c, lo, hi);
    return 0;
  }
  /* Hybrid: the worker's team splits its range into equal pieces. */
#pragma omp parallel num_threads(c->team)
  {
    size_t t = (size_t)omp_get_thread_num(), k = (size_t)omp_get_num_threads();
    size_t len = hi - lo;
    size_t a = lo + len / k * t + (t < len % k ? t : len % k);
    size_t b = a + len / k + (t < len % k);
    square_span(c, a, b);
  }
  return 0;
}

int app_square_run(app_exec *ex, const app_square_problem *pb) {
  if (ex == NULL || ex->info == NULL || pb == NULL ||
      (pb->n > 0 && (pb->in == NULL || pb->out == NULL)) ||
      (pb->type != APP_SQ_LONG && pb->type != APP_SQ_DOUBLE) ||
      (pb->api != APP_SQ_RANGE && pb->api != APP_SQ_MAP))
    return MPK_EINVAL;
  const size_t n = pb->n;
  const sq_ctx c = {pb->in, pb->out, (int)pb->type, ex->threads_per_worker};
  switch (ex->info->kind) {
  case APP_KIND_SERIAL: square_span(&c, 0, n); return MPK_OK;
  case APP_KIND_OMP:
    if (pb->type == APP_SQ_LONG) {
      const long *in = pb->in;
      long *out = pb->out;
#pragma omp parallel for schedule(static) num_threads(ex->workers)
      for (size_t i = 0; i < n; i++)
        out[i] = in[i] * in[i];
    } else {
      const double *in = pb->in;
      double *out = pb->out;
#pragma omp parallel for schedule(static) num_threads(ex->workers)
      for (size_t i = 0; i < n; i++)
        out[i] = in[i] * in[i];
    }
    return MPK_OK;
  case APP_KIND_POOL:
    if (pb->api == APP_SQ_MAP)
      return mpk_pool_map(ex->pool,
                          pb->type == APP_SQ_LONG ? app_square_long_elem
                                                  : app_square_double_elem,
                          pb->in, 8, pb->out, 8, n, NULL, 0, pb->sched);
    return mpk_pool_for(ex->pool, n, sq_range, &c, sizeof c, pb->sched);
  }
  return MPK_EINVAL;
}

/* ------------------------------------------------------------------------ */
/* imbalanced                                                                */

typedef struct {
  size_t n;
  int team;
} imb_ctx;

static double imb_chunk(size_t lo, size_t hi, void *ctx) {
  const imb_ctx *c = ctx;
  return app_imb_range(lo, hi, c->n, c->team);
}

int app_imb_run(app_exec *ex, const app_imb_problem *pb, double *sum) {
  if (ex == NULL || ex->info == NULL || pb == NULL || sum == NULL ||
      pb->n < 1 || !valid_sched(pb->sched.kind))
    return MPK_EINVAL;
  const size_t n = pb->n;
  double v = 0.0;
  int rc = MPK_OK;
  switch (ex->info->kind) {
  case APP_KIND_SERIAL: v = app_imb_range(0, n, n, 1); break;
  case APP_KIND_OMP: set_omp_schedule(pb->sched.kind, pb->sched.chunk);
#pragma omp parallel for reduction(+ : v) schedule(runtime) num_threads(ex->workers)
    for (size_t i = 0; i < n; i++)
      v += app_imb_elem(i, n);
    break;
  case APP_KIND_POOL: {
    const imb_ctx c = {n, ex->threads_per_worker};
    rc = mpk_pool_reduce_double(ex->pool, n, imb_chunk, &c, sizeof c, MPK_SUM,
                                pb->sched, MPK_REDUCE_FAST, &v);
    break;
  }
  }
  if (rc == MPK_OK)
    *sum = v;
  return rc;
}

/* ------------------------------------------------------------------------ */

int app_time_runs(int (*run)(void *arg), void *arg, int warmup, int repeats,
                  double *times) {
  for (int i = 0; i < warmup; i++) {
    int rc = run(arg);
    if (rc != 0)
      return rc;
  }
  for (int i = 0; i < repeats; i++) {
    double t0 = app_now();
    int rc = run(arg);
    times[i] = app_now() - t0;
    if (rc != 0)
      return rc;
  }
  return 0;
}
