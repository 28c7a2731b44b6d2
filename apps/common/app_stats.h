/* app_stats.h - timing, repeat statistics (GSL) and scaling metrics shared
 * by mpk-pi, mpk-square and mpk-scale (whose regression check has its own
 * statistics: bench/scaling/scale_stats.h).
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

#endif
