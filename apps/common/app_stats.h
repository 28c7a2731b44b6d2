/* app_stats.h - timing, repeat statistics (GSL), scaling metrics and the
 * regression rule shared by mpk-pi, mpk-square and mpk-scale.
 *
 * All functions are MT-safe (no shared state).
 */
#ifndef APP_STATS_H
#define APP_STATS_H

#include <stddef.h>

/* Seconds on CLOCK_MONOTONIC. */
double app_now(void);

/* Statistics of the repeats of one measurement. */
typedef struct {
  int n;                   /* samples */
  double median, min, max; /* seconds */
  double q25, q75;         /* quartiles (GSL, linear interpolation) */
  double mean, sd;         /* sd is 0 for one sample */
} app_stats;

/* Compute s from samples[0..n) (not modified; sorted in a copy with
   gsl_sort; median and quartiles by gsl_stats_*_from_sorted_data). Returns
   0, or -1 for n < 1, NULL arguments, a NaN sample or no memory. */
int app_stats_compute(const double *samples, int n, app_stats *s);

/* The relative noise of a measurement: (q75 - q25) / median, the
   interquartile range over the median (0 for one sample, NaN when the
   median is not positive). */
double app_rel_noise(const app_stats *s);

/* Speedup, parallel efficiency and the Karp-Flatt serial fraction.
   Efficiency is speedup / p. Karp-Flatt e = (1/S - 1/p) / (1 - 1/p), the
   experimentally determined serial fraction; NaN for p <= 1 or S <= 0. */
double app_speedup(double t_serial, double t_parallel);
double app_efficiency(double speedup, int p);
double app_karp_flatt(double speedup, int p);

/* The regression rule of mpk-scale --baseline.
 *
 * A point regressed when its current median time exceeds the baseline's
 * median by more than the noise both runs measured:
 *
 *   tol      = max(k * max(noise_base, noise_cur), floor)
 *   regressed  <=>  median_cur > median_base * (1 + tol)
 *
 * where noise is app_rel_noise (interquartile range / median) of each run's
 * repeats. k (default 3) scales the noise: for normally distributed times
 * the IQR is about 1.35 sigma, so 3 IQR is about 4 sigma of one run. floor
 * (default 0.05) keeps a run whose repeats happened to agree closely from
 * flagging a 1% wobble. Faster points never regress. */
typedef struct {
  double k;     /* noise multiplier, >= 0 */
  double floor; /* minimum relative tolerance, >= 0 */
} app_regress_rule;

#define APP_REGRESS_K 3.0
#define APP_REGRESS_FLOOR 0.05

/* The tolerance above (relative), from each run's app_rel_noise. */
double app_regress_tolerance(const app_regress_rule *r, double noise_base,
                             double noise_cur);

/* 1 when the current median regressed against the baseline's, else 0; the
   tolerance used goes to *tol when tol is not NULL. Non-finite or
   non-positive medians never regress (they cannot be compared). */
int app_regressed(const app_regress_rule *r, double median_base,
                  double noise_base, double median_cur, double noise_cur,
                  double *tol);

#endif
