/* scale_stats.h - the statistics of mpk-scale's regression check: round
 * medians, within- and between-round noise, Yuen's trimmed Welch test on
 * the logs of the round medians, Holm's step-down correction over the
 * points of a sweep, and the verdicts (regressed, improved, unchanged,
 * inconclusive). Pure functions over arrays, built on GSL (gsl_sort,
 * gsl_stats_*, gsl_cdf_tdist_*); no I/O. docs/guide.md ("How the check
 * decides") gives the method, its assumptions and references.
 *
 * The statistical unit is the round: the repeats inside one round run back
 * to back in one process and are correlated, so each round contributes one
 * number, the median of its repeats. A comparison of baseline b and
 * candidate c works on x = log(round median):
 *
 *   center  = 20% trimmed mean of x          (gsl_stats_trmean_*)
 *   se2     = (n - 1) s_w^2 / (h (h - 1))     s_w: winsorized sd, h = kept
 *   d       = center_c - center_b             ratio = exp(d)
 *   se      = sqrt(se2_b + se2_c), Welch-Satterthwaite degrees of freedom
 *
 * and L = log(1 + threshold):
 *
 *   p_slower = P(T > (d - L) / se)    H0: ratio <= 1 + threshold
 *   p_faster = P(T < (d + L) / se)    H0: ratio >= 1 / (1 + threshold)
 *   p_equiv  = max of the two one-sided tests of H0: |d| >= L (TOST)
 *
 * Every function is MT-safe (no shared state).
 */
#ifndef MPK_SCALE_STATS_H
#define MPK_SCALE_STATS_H

#include <stddef.h>

#define SCALE_TRIM 0.2     /* fraction trimmed from each end */
#define SCALE_MIN_ROUNDS 3 /* per side, for any verdict but inconclusive */
#define SCALE_MAX_ROUNDS 1000

/* One side of a comparison: the summary of its round medians. */
typedef struct {
  int n;         /* rounds */
  int h;         /* rounds kept after trimming: n - 2 floor(SCALE_TRIM n) */
  double center; /* trimmed mean of log(round median) */
  double sw;     /* winsorized standard deviation of log(round median) */
  double se2;    /* Yuen's squared standard error of center; NaN for n < 2 */
} scale_side;

/* Summarise round medians med[0..n). Returns 0, or -1 for n < 1, NULL
   arguments, a value that is not finite and positive, or no memory. */
int scale_side_of(const double *med, int n, scale_side *s);

/* Yuen's squared standard error of a side with winsorized sd sw had it n
   rounds (used to project how many rounds would decide). NaN for n < 2. */
double scale_side_se2(double sw, int n);

/* The median of each round. times[i] was measured in round round[i] (>= 0);
   rounds that hold no time are skipped. Writes at most cap medians to med
   in increasing round order and returns how many, or -1 on bad arguments
   (a negative round, a time that is not finite and positive) or no
   memory. */
int scale_round_medians(const double *times, const int *round, int n,
                        double *med, int cap);

/* The side of times[0..n) measured in rounds round[0..n): their round
   medians (scale_round_medians) summarised by scale_side_of. Returns 0, or
   -1 on bad arguments, no usable time, or no memory. */
int scale_side_of_times(const double *times, const int *round, int n,
                        scale_side *s);

/* Noise of one point, both as relative standard deviations (sd of log
   time): *within, pooled over rounds, of the repeats around their round's
   mean; *between, of the round medians. NaN where undefined (no round with
   two repeats; fewer than two rounds). */
void scale_noise(const double *times, const int *round, int n, double *within,
                 double *between);

typedef enum {
  SCALE_UNCHANGED,
  SCALE_REGRESSED,
  SCALE_IMPROVED,
  SCALE_INCONCLUSIVE
} scale_verdict;

/* "unchanged", "regressed", "improved", "inconclusive". */
const char *scale_verdict_name(scale_verdict v);

typedef struct {
  int decidable; /* both sides have SCALE_MIN_ROUNDS rounds */
  double ratio;  /* candidate / baseline, exp(d) */
  double lo, hi; /* its (1 - 2 alpha) interval (NaN: undecidable) */
  double se, df; /* of d */
  double p_slower, p_faster, p_equiv; /* one-sided, before Holm */
  double p_slower_adj, p_faster_adj;  /* after Holm (scale_decide) */
  scale_verdict verdict;              /* set by scale_decide */
  int more_rounds; /* inconclusive: rounds to add to each side that would
                      decide it if the estimate and noise stay; 0: not
                      inconclusive; -1: more than SCALE_MAX_ROUNDS */
} scale_test;

/* Compare sides b (baseline) and c (candidate) at minimum effect threshold
   (> 0) and level alpha (in (0, 0.5)). Fills t except the Holm fields and
   the verdict. Returns 0, or -1 on bad arguments. An undecidable pair
   (fewer than SCALE_MIN_ROUNDS rounds on a side) gets the ratio of the
   centers, NaN interval and p-values of 1. */
int scale_test_pair(const scale_side *b, const scale_side *c, double threshold,
                    double alpha, scale_test *t);

/* The half-width, in log ratio, of the two-sided (1 - 2 alpha) interval
   of log(c / b) that scale_test_pair gives: t(1 - alpha; df) x se. An
   estimate r of c / b (or of b / c) then has the interval
   [r exp(-w), r exp(w)]. alpha in (0, 0.5); NaN when the pair is
   undecidable (fewer than SCALE_MIN_ROUNDS rounds a side) or on bad
   arguments. */
double scale_log_halfwidth(const scale_side *b, const scale_side *c,
                           double alpha);

/* Holm's step-down adjusted p-values: adj[i] for p[i], n of them (adj may
   be p). Returns 0, or -1 on no memory. */
int scale_holm(const double *p, size_t n, double *adj);

/* The verdicts of a sweep's n tests (b[i], c[i] the sides of t[i]): Holm
   over the decidable points separately for "slower" and for "faster", each
   at family-wise level alpha; regressed when p_slower_adj <= alpha,
   improved when p_faster_adj <= alpha, unchanged when p_equiv <= alpha
   (the (1 - 2 alpha) interval inside +-threshold, not corrected: it fails
   nothing), else inconclusive with more_rounds. Returns 0, or -1 on no
   memory. */
int scale_decide(scale_test *t, const scale_side *b, const scale_side *c,
                 size_t n, double threshold, double alpha);

/* Rounds per side needed so that a comparison of sides with winsorized sds
   sw_b, sw_c would have a (two-sided, level alpha_point) interval of
   half-width <= half (in log ratio). n_b_fixed > 0 holds the baseline at
   that many rounds (a saved baseline file) and grows only the candidate;
   0 grows both. Returns the rounds (>= SCALE_MIN_ROUNDS), or -1 when even
   SCALE_MAX_ROUNDS rounds would not do. */
int scale_rounds_for_width(double sw_b, double sw_c, int n_b_fixed, double half,
                           double alpha_point);

#endif
