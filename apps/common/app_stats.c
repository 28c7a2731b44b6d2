/* app_stats.c - statistics of repeated timings and scaling metrics. See
 * app_stats.h. */
#include "app_stats.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double app_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int app_stats_compute(const double *samples, int n, app_stats *s) {
  if (samples == NULL || s == NULL || n < 1)
    return -1;
  for (int i = 0; i < n; i++)
    if (isnan(samples[i]))
      return -1;
  double *v = malloc((size_t)n * sizeof *v);
  if (v == NULL)
    return -1;
  memcpy(v, samples, (size_t)n * sizeof *v);
  gsl_sort(v, 1, (size_t)n);
  s->n = n;
  s->median = gsl_stats_median_from_sorted_data(v, 1, (size_t)n);
  s->q25 = gsl_stats_quantile_from_sorted_data(v, 1, (size_t)n, 0.25);
  s->q75 = gsl_stats_quantile_from_sorted_data(v, 1, (size_t)n, 0.75);
  s->min = gsl_stats_min(v, 1, (size_t)n);
  s->max = gsl_stats_max(v, 1, (size_t)n);
  s->mean = gsl_stats_mean(v, 1, (size_t)n);
  s->sd = n > 1 ? gsl_stats_sd_m(v, 1, (size_t)n, s->mean) : 0.0;
  free(v);
  return 0;
}

double app_rel_noise(const app_stats *s) {
  if (!(s->median > 0.0))
    return NAN;
  return (s->q75 - s->q25) / s->median;
}

double app_speedup(double t_serial, double t_parallel) {
  if (!(t_serial > 0.0) || !(t_parallel > 0.0))
    return NAN;
  return t_serial / t_parallel;
}

double app_efficiency(double speedup, int p) {
  return p >= 1 ? speedup / p : NAN;
}

double app_karp_flatt(double speedup, int p) {
  if (p <= 1 || !(speedup > 0.0))
    return NAN;
  double ip = 1.0 / p;
  return (1.0 / speedup - ip) / (1.0 - ip);
}
