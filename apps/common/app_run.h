/* app_run.h - run one workload once in one mode (app_exec): pi (midpoint or
 * Monte Carlo), square, and the imbalanced kernel. mpk-pi, mpk-square and
 * mpk-scale time these calls; nothing else is timed.
 *
 * Each runner returns MPK_OK or a negative code: MPK_EINVAL for a bad
 * problem, the pool call's error (MPK_ETASK, MPK_EWORKER, ...) in pool
 * modes, MPK_ENOMEM when a Monte Carlo generator cannot be allocated in the
 * serial or OpenMP modes. Not MT-safe on one app_exec (an OpenMP team or a
 * pool is driven by one caller at a time).
 */
#ifndef APP_RUN_H
#define APP_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "app_kernels.h"
#include "app_modes.h"

/* ------------------------------------------------------------------------ */
/* pi                                                                        */

typedef enum { APP_METHOD_MIDPOINT, APP_METHOD_MONTECARLO } app_pi_method;

typedef struct {
  app_pi_method method;
  app_pi_kernel kernel; /* midpoint only */
  size_t steps;         /* intervals, or Monte Carlo samples; >= 1 */
  mpk_sched_kind sched; /* pool and OpenMP modes */
  size_t chunk;         /* >= 1: the reduction chunk (pool modes: the unit
                           of the bit-reproducible reduction; Monte Carlo:
                           the samples of one RNG stream) */
  uint64_t seed;        /* Monte Carlo */
} app_pi_problem;

/* The default chunk: ceil(steps / 4096), at least 1 (the pool's own rule
   for reductions), which depends on steps only. */
size_t app_pi_default_chunk(size_t steps);

/* Compute pi once into *pi.
   serial   app_pi_range(0, steps) with the kernel (Monte Carlo: every chunk's
            stream in order);
   omp      naive + static: `#pragma omp parallel for reduction(+:sum)
            schedule(static)` over the naive loop, the OpenMP baseline; simd:
            the same over APP_PI_BLOCK sub-blocks of the SIMD kernel; other
            schedules use schedule(runtime) set to the same kind and chunk;
            Monte Carlo: a parallel for over the chunks;
   pool     mpk_pool_reduce_double over chunks of `chunk` with the schedule
            (deterministic tree: bit-identical for any worker count, backend
            and schedule); Monte Carlo: mpk_pool_reduce of the hit counts. */
int app_pi_run(app_exec *ex, const app_pi_problem *pb, double *pi);

/* ------------------------------------------------------------------------ */
/* square                                                                    */

typedef enum { APP_SQ_LONG, APP_SQ_DOUBLE } app_sq_type;
typedef enum { APP_SQ_RANGE, APP_SQ_MAP } app_sq_api;

typedef struct {
  app_sq_type type;
  app_sq_api api; /* pool modes: mpk_pool_for over index ranges (RANGE)
                     or mpk_pool_map, one call per element (MAP) */
  size_t n;
  const void *in;  /* n elements; in the shared heap for zero-copy */
  void *out;       /* n elements */
  mpk_sched sched; /* pool modes; OpenMP uses schedule(static) */
} app_square_problem;

/* out[i] = in[i]^2 for i in [0, n) once. */
int app_square_run(app_exec *ex, const app_square_problem *pb);

/* ------------------------------------------------------------------------ */
/* imbalanced                                                                */

typedef struct {
  size_t n;        /* elements, >= 1 */
  mpk_sched sched; /* static chunk 0: one block per worker / thread */
} app_imb_problem;

/* Sum of app_imb_elem over [0, n) into *sum. Pool modes use
   mpk_pool_reduce_double with MPK_REDUCE_FAST (blocks as mpk_pool_for, so
   static really is one block per worker); OpenMP uses the same schedule.
   The sum's rounding depends on the partition: compare with a relative
   tolerance (1e-12 is ample). */
int app_imb_run(app_exec *ex, const app_imb_problem *pb, double *sum);

/* ------------------------------------------------------------------------ */

/* Call run(arg) `warmup` times untimed, then `repeats` times, each timed
   alone into times[i]. Returns the first non-zero return of run, else 0. */
int app_time_runs(int (*run)(void *arg), void *arg, int warmup, int repeats,
                  double *times);

#endif
