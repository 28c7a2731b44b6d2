/* scale_stats.c - round statistics, Yuen's test and Holm's correction for
 * mpk-scale's regression check. See scale_stats.h. */
#include "scale_stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int trimmed_count(int n) {
  return (int)floor(SCALE_TRIM * n);
}

int scale_side_of(const double *med, int n, scale_side *s) {
  if (med == NULL || s == NULL || n < 1)
    return -1;
  double *x = malloc((size_t)n * sizeof *x);
  if (x == NULL)
    return -1;
  for (int i = 0; i < n; i++) {
    if (!isfinite(med[i]) || !(med[i] > 0.0)) {
      free(x);
      return -1;
    }
    x[i] = log(med[i]);
  }
  gsl_sort(x, 1, (size_t)n);
  int g = trimmed_count(n);
  s->n = n;
  s->h = n - 2 * g;
  s->center = gsl_stats_trmean_from_sorted_data(SCALE_TRIM, x, 1, (size_t)n);
  for (int i = 0; i < g; i++) { /* winsorize */
    x[i] = x[g];
    x[n - 1 - i] = x[n - 1 - g];
  }
  s->sw = n > 1 ? gsl_stats_sd(x, 1, (size_t)n) : NAN;
  s->se2 = scale_side_se2(s->sw, n);
  free(x);
  return 0;
}

int scale_side_of_times(const double *times, const int *round, int n,
                        scale_side *s) {
  if (times == NULL || round == NULL || s == NULL || n < 1)
    return -1;
  double *med = malloc((size_t)n * sizeof *med);
  if (med == NULL)
    return -1;
  int k = scale_round_medians(times, round, n, med, n);
  int rc = k >= 1 ? scale_side_of(med, k, s) : -1;
  free(med);
  return rc;
}

double scale_side_se2(double sw, int n) {
  int h = n - 2 * trimmed_count(n);
  if (n < 2 || h < 2)
    return NAN;
  return (double)(n - 1) * sw * sw / ((double)h * (h - 1));
}

int scale_round_medians(const double *times, const int *round, int n,
                        double *med, int cap) {
  if (n < 0 || (n > 0 && (times == NULL || round == NULL)) || med == NULL)
    return -1;
  int maxr = -1;
  for (int i = 0; i < n; i++) {
    if (round[i] < 0 || !isfinite(times[i]) || !(times[i] > 0.0))
      return -1;
    maxr = round[i] > maxr ? round[i] : maxr;
  }
  double *v = malloc((n > 0 ? (size_t)n : 1) * sizeof *v);
  if (v == NULL)
    return -1;
  int k = 0;
  for (int r = 0; r <= maxr && k < cap; r++) {
    size_t m = 0;
    for (int i = 0; i < n; i++)
      if (round[i] == r)
        v[m++] = times[i];
    if (m == 0)
      continue;
    gsl_sort(v, 1, m);
    med[k++] = gsl_stats_median_from_sorted_data(v, 1, m);
  }
  free(v);
  return k;
}

void scale_noise(const double *times, const int *round, int n, double *within,
                 double *between) {
  *within = *between = NAN;
  if (n < 1 || times == NULL || round == NULL)
    return;
  double *med = malloc((size_t)n * sizeof *med);
  double *v = malloc((size_t)n * sizeof *v);
  int maxr = -1;
  for (int i = 0; i < n; i++)
    maxr = round[i] > maxr ? round[i] : maxr;
  if (med == NULL || v == NULL || maxr < 0) {
    free(med);
    free(v);
    return;
  }
  double ss = 0.0;
  int dof = 0, nmed = 0;
  for (int r = 0; r <= maxr; r++) {
    size_t m = 0;
    for (int i = 0; i < n; i++)
      if (round[i] == r && times[i] > 0.0 && isfinite(times[i]))
        v[m++] = log(times[i]);
    if (m == 0)
      continue;
    if (m > 1) {
      ss += gsl_stats_variance(v, 1, m) * (double)(m - 1);
      dof += (int)m - 1;
    }
    gsl_sort(v, 1, m);
    med[nmed++] = gsl_stats_median_from_sorted_data(v, 1, m);
  }
  if (dof > 0)
    *within = sqrt(ss / dof);
  if (nmed > 1)
    *between = gsl_stats_sd(med, 1, (size_t)nmed);
  free(med);
  free(v);
}

const char *scale_verdict_name(scale_verdict v) {
  switch (v) {
  case SCALE_UNCHANGED: return "unchanged";
  case SCALE_REGRESSED: return "regressed";
  case SCALE_IMPROVED: return "improved";
  case SCALE_INCONCLUSIVE: break;
  }
  return "inconclusive";
}

/* Welch-Satterthwaite degrees of freedom of two Yuen sides. */
static double welch_df(double se2_b, int h_b, double se2_c, int h_c) {
  double num = (se2_b + se2_c) * (se2_b + se2_c);
  double den = se2_b * se2_b / (h_b - 1) + se2_c * se2_c / (h_c - 1);
  return den > 0.0 ? num / den : (double)(h_b + h_c - 2);
}

/* P(T > x) with a degenerate (se = 0) test mapped to 0 or 1. */
static double upper(double x, double df) {
  if (isnan(x))
    return 1.0;
  if (isinf(x))
    return x > 0 ? 0.0 : 1.0;
  return gsl_cdf_tdist_Q(x, df);
}

int scale_test_pair(const scale_side *b, const scale_side *c, double threshold,
                    double alpha, scale_test *t) {
  if (b == NULL || c == NULL || t == NULL || !(threshold > 0.0) ||
      !(alpha > 0.0 && alpha < 0.5))
    return -1;
  memset(t, 0, sizeof *t);
  double d = c->center - b->center, L = log1p(threshold);
  t->ratio = exp(d);
  t->lo = t->hi = t->se = t->df = NAN;
  t->p_slower = t->p_faster = t->p_equiv = 1.0;
  t->p_slower_adj = t->p_faster_adj = 1.0;
  t->verdict = SCALE_INCONCLUSIVE;
  t->decidable = b->n >= SCALE_MIN_ROUNDS && c->n >= SCALE_MIN_ROUNDS &&
                 isfinite(b->se2) && isfinite(c->se2);
  if (!t->decidable)
    return 0;
  t->se = sqrt(b->se2 + c->se2);
  t->df = welch_df(b->se2, b->h, c->se2, c->h);
  double q = t->se > 0.0 ? gsl_cdf_tdist_Qinv(alpha, t->df) : 0.0;
  t->lo = exp(d - q * t->se);
  t->hi = exp(d + q * t->se);
  double zs = (d - L) / t->se, zf = (d + L) / t->se;
  if (t->se == 0.0) { /* identical rounds: the sign decides */
    zs = d > L ? INFINITY : -INFINITY;
    zf = d < -L ? -INFINITY : INFINITY;
  }
  t->p_slower = upper(zs, t->df);
  t->p_faster = upper(-zf, t->df);
  double p_low = upper(zf, t->df);   /* H0: d <= -L */
  double p_high = upper(-zs, t->df); /* H0: d >= L */
  t->p_equiv = p_low > p_high ? p_low : p_high;
  return 0;
}

double scale_log_halfwidth(const scale_side *b, const scale_side *c,
                           double alpha) {
  scale_test t;
  if (scale_test_pair(b, c, 0.05, alpha, &t) != 0 || !t.decidable)
    return NAN;
  return log(t.hi) - log(t.ratio);
}

int scale_holm(const double *p, size_t n, double *adj) {
  if (n == 0)
    return 0;
  size_t *idx = malloc(n * sizeof *idx);
  double *v = malloc(n * sizeof *v);
  if (idx == NULL || v == NULL) {
    free(idx);
    free(v);
    return -1;
  }
  memcpy(v, p, n * sizeof *v);
  gsl_sort_index(idx, v, 1, n);
  double run = 0.0;
  for (size_t j = 0; j < n; j++) {
    double a = (double)(n - j) * v[idx[j]];
    a = a < 1.0 ? a : 1.0;
    run = a > run ? a : run; /* adjusted p-values never decrease */
    adj[idx[j]] = run;
  }
  free(idx);
  free(v);
  return 0;
}

/* Rounds to add to each side of t (sides b, c) so that, with the same
   estimate and noise, its test would pass at level `level` against the
   boundary it is nearest to deciding; -1 beyond SCALE_MAX_ROUNDS. */
static int more_rounds(const scale_side *b, const scale_side *c, double L,
                       double level) {
  if (b->n < 2 || c->n < 2 || !isfinite(b->sw) || !isfinite(c->sw))
    return -1;
  double d = c->center - b->center;
  double margin = fabs(d) > L ? fabs(d) - L : L - fabs(d);
  if (!(margin > 0.0))
    return -1;
  int least = b->n < c->n ? b->n : c->n;
  int first = least < SCALE_MIN_ROUNDS ? SCALE_MIN_ROUNDS - least : 1;
  for (int extra = first; b->n + extra <= SCALE_MAX_ROUNDS; extra++) {
    int nb = b->n + extra, nc = c->n + extra;
    double sb = scale_side_se2(b->sw, nb), sc = scale_side_se2(c->sw, nc);
    double se = sqrt(sb + sc);
    int hb = nb - 2 * trimmed_count(nb), hc = nc - 2 * trimmed_count(nc);
    double q = gsl_cdf_tdist_Qinv(level, welch_df(sb, hb, sc, hc));
    if (margin >= q * se)
      return extra;
  }
  return -1;
}

int scale_decide(scale_test *t, const scale_side *b, const scale_side *c,
                 size_t n, double threshold, double alpha) {
  double *ps = calloc(n ? n : 1, sizeof *ps);
  double *pf = calloc(n ? n : 1, sizeof *pf);
  size_t *at = malloc((n ? n : 1) * sizeof *at);
  if (ps == NULL || pf == NULL || at == NULL) {
    free(ps);
    free(pf);
    free(at);
    return -1;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (t[i].decidable) {
      ps[m] = t[i].p_slower;
      pf[m] = t[i].p_faster;
      at[m++] = i;
    }
  int rc = scale_holm(ps, m, ps) || scale_holm(pf, m, pf) ? -1 : 0;
  for (size_t j = 0; rc == 0 && j < m; j++) {
    t[at[j]].p_slower_adj = ps[j];
    t[at[j]].p_faster_adj = pf[j];
  }
  double L = log1p(threshold);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    scale_test *x = &t[i];
    x->more_rounds = 0;
    if (x->decidable && x->p_slower_adj <= alpha)
      x->verdict = SCALE_REGRESSED;
    else if (x->decidable && x->p_faster_adj <= alpha)
      x->verdict = SCALE_IMPROVED;
    else if (x->decidable && x->p_equiv <= alpha)
      x->verdict = SCALE_UNCHANGED;
    else {
      x->verdict = SCALE_INCONCLUSIVE;
      /* unchanged is tested at alpha; a change at Holm's first level */
      double d = log(x->ratio);
      double level = fabs(d) > L ? alpha / (double)(m > 0 ? m : 1) : alpha;
      x->more_rounds = more_rounds(&b[i], &c[i], L, level);
    }
  }
  free(ps);
  free(pf);
  free(at);
  return rc;
}

int scale_rounds_for_width(double sw_b, double sw_c, int n_b_fixed, double half,
                           double alpha_point) {
  if (!(half > 0.0) || !isfinite(sw_b) || !isfinite(sw_c))
    return -1;
  for (int n = SCALE_MIN_ROUNDS; n <= SCALE_MAX_ROUNDS; n++) {
    int nb = n_b_fixed > 0 ? n_b_fixed : n;
    double sb = scale_side_se2(sw_b, nb), sc = scale_side_se2(sw_c, n);
    if (!isfinite(sb) || !isfinite(sc))
      continue;
    int hb = nb - 2 * trimmed_count(nb), hc = n - 2 * trimmed_count(n);
    double q = gsl_cdf_tdist_Qinv(alpha_point / 2, welch_df(sb, hb, sc, hc));
    if (q * sqrt(sb + sc) <= half)
      return n;
  }
  return -1;
}
