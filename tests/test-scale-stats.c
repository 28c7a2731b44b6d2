/* scale.stats: the statistics of mpk-scale's regression check
 * (bench/scaling/scale_stats.h) on synthetic round medians with known
 * answers: Yuen's test agrees with SciPy; a shift of 0, 3% and 10%; a
 * bimodal baseline; one outlier round; 1 and 2 rounds; 5 vs 5 rounds reach
 * Holm's level over 20 points; Holm's adjusted p-values; round medians,
 * within- and between-round noise; the rounds a target width needs; the
 * speedup interval's half-width on a hand-computed case. Every
 * input is fixed, so no assertion depends on timing or chance. */
#include <gsl/gsl_cdf.h>

#include "check.h"
#include "scale_stats.h"

/* Fixed "noise" for the synthetic rounds (mean 0). */
static const double Z[12] = {-1.2, 0.4,  0.9, -0.3, 1.5, -0.8,
                             0.1,  -1.6, 0.7, 0.3,  0.0, 0.0};
static const double W[12] = {0.5,  -0.9, 1.1,  0.2, -1.4, 0.8,
                             -0.2, 1.3,  -0.6, 0.0, 0.9,  -0.4};

/* med[i] = scale * exp(sd * noise[i]) for i < n. */
static void rounds(double *med, int n, double scale, double sd,
                   const double *noise) {
  for (int i = 0; i < n; i++)
    med[i] = scale * exp(sd * noise[i]);
}

/* One comparison of nb baseline and nc candidate rounds, decided alone
   (a sweep of one point). */
static scale_test compare(const double *b, int nb, const double *c, int nc,
                          double threshold) {
  scale_side sb, sc;
  scale_test t;
  CHECK_EQ(scale_side_of(b, nb, &sb), 0);
  CHECK_EQ(scale_side_of(c, nc, &sc), 0);
  CHECK_EQ(scale_test_pair(&sb, &sc, threshold, 0.05, &t), 0);
  CHECK_EQ(scale_decide(&t, &sb, &sc, 1, threshold, 0.05), 0);
  return t;
}

/* SciPy 1.10: stats.ttest_ind(log(c), log(b), equal_var=False, trim=0.2)
   on these samples gives t = 0.999838900262079, p = 0.3372086302317391;
   stats.trim_mean(log(b), 0.2) = 0.0033333333333333, of log(c)
   0.03180262729617972. */
static void test_yuen_matches_scipy(void) {
  double b[10], c[12];
  rounds(b, 10, 1.0, 0.05, Z);
  rounds(c, 12, 1.02, 0.08, W);
  scale_side sb, sc;
  scale_test t;
  CHECK_EQ(scale_side_of(b, 10, &sb), 0);
  CHECK_EQ(scale_side_of(c, 12, &sc), 0);
  CHECK_NEAR(sb.center, 0.0033333333333333, 1e-12);
  CHECK_NEAR(sc.center, 0.03180262729617972, 1e-12);
  CHECK_EQ(sb.h, 6);
  CHECK_EQ(sc.h, 8);
  CHECK_EQ(scale_test_pair(&sb, &sc, 0.05, 0.05, &t), 0);
  double tstat = log(t.ratio) / t.se;
  CHECK_NEAR(tstat, 0.999838900262079, 1e-9);
  CHECK_NEAR(2 * gsl_cdf_tdist_Q(tstat, t.df), 0.3372086302317391, 1e-9);
  CHECK(t.decidable);
  CHECK(t.lo < t.ratio && t.ratio < t.hi);
}

static void test_shift_zero(void) {
  double b[10];
  rounds(b, 10, 1.0, 0.01, Z);
  scale_test t = compare(b, 10, b, 10, 0.05);
  CHECK_NEAR(t.ratio, 1.0, 1e-15);
  CHECK_EQ(t.verdict, SCALE_UNCHANGED);
  CHECK(t.lo > 1 / 1.05 && t.hi < 1.05);
  CHECK(t.p_slower > 0.99 && t.p_faster > 0.99 && t.p_equiv < 1e-4);
  CHECK_EQ(t.more_rounds, 0);
}

static void test_shift_3_percent(void) {
  double b[10], c[10];
  rounds(b, 10, 1.0, 0.01, Z);
  rounds(c, 10, 1.03, 0.01, Z);
  scale_test t = compare(b, 10, c, 10, 0.05);
  CHECK_NEAR(t.ratio, 1.03, 1e-12);
  CHECK_EQ(t.verdict, SCALE_UNCHANGED); /* below the 5% that counts */
  CHECK(t.hi < 1.05);
  t = compare(b, 10, c, 10, 0.01);
  CHECK_EQ(t.verdict, SCALE_REGRESSED); /* above a 1% threshold */
}

static void test_shift_10_percent(void) {
  double b[10], c[10];
  rounds(b, 10, 1.0, 0.01, Z);
  rounds(c, 10, 1.10, 0.01, Z);
  scale_test t = compare(b, 10, c, 10, 0.05);
  CHECK_NEAR(t.ratio, 1.10, 1e-12);
  CHECK_EQ(t.verdict, SCALE_REGRESSED);
  CHECK(t.lo > 1.05 && t.hi > 1.10);
  CHECK(t.p_slower_adj < 1e-4);
  t = compare(c, 10, b, 10, 0.05); /* the other way round */
  CHECK_NEAR(t.ratio, 1 / 1.10, 1e-12);
  CHECK_EQ(t.verdict, SCALE_IMPROVED);
}

/* 7 rounds in a fast mode, 3 in a mode 30% slower (as OpenMP on this VM
   now and then): 20% trimming keeps one slow round, so the spread is
   large and nothing is claimed either way. */
static void test_bimodal_baseline(void) {
  double b[10], c[10], fast[10];
  rounds(b, 10, 1.0, 0.01, Z);
  for (int i = 7; i < 10; i++)
    b[i] *= 1.3;
  scale_test t = compare(b, 10, b, 10, 0.05);
  CHECK_NEAR(t.ratio, 1.0, 1e-15);
  CHECK_EQ(t.verdict, SCALE_INCONCLUSIVE);
  CHECK(t.more_rounds > 0);
  for (int i = 0; i < 10; i++)
    c[i] = b[i] * 1.10;
  t = compare(b, 10, c, 10, 0.05);
  CHECK_NEAR(t.ratio, 1.10, 1e-12);
  CHECK_EQ(t.verdict, SCALE_INCONCLUSIVE); /* too noisy to claim 10% */
  CHECK(t.lo < 1.05);
  rounds(fast, 10, 1.0, 0.01, Z); /* the slow mode gone */
  t = compare(b, 10, fast, 10, 0.05);
  CHECK(t.verdict != SCALE_REGRESSED);
  CHECK(t.ratio < 1.0);
}

/* One round 3x slower: trimmed away, the verdicts stand. */
static void test_one_outlier_round(void) {
  double b[10], c[10];
  rounds(b, 10, 1.0, 0.01, Z);
  rounds(c, 10, 1.0, 0.01, Z);
  c[4] *= 3.0;
  scale_test t = compare(b, 10, c, 10, 0.05);
  CHECK_EQ(t.verdict, SCALE_UNCHANGED);
  CHECK_NEAR(t.ratio, 1.0, 0.01);
  rounds(c, 10, 1.10, 0.01, Z);
  c[4] *= 3.0;
  t = compare(b, 10, c, 10, 0.05);
  CHECK_EQ(t.verdict, SCALE_REGRESSED);
  c[2] /= 3.0; /* and one 3x faster round on top */
  t = compare(b, 10, c, 10, 0.05);
  CHECK_EQ(t.verdict, SCALE_REGRESSED);
}

/* Fewer than SCALE_MIN_ROUNDS rounds: never decided, whatever the data. */
static void test_too_few_rounds(void) {
  double b[2] = {1.0, 1.0001}, c[2] = {2.0, 2.0001}, one = 1.0;
  scale_test t = compare(b, 2, c, 2, 0.05);
  CHECK_EQ(t.verdict, SCALE_INCONCLUSIVE);
  CHECK(!t.decidable);
  CHECK(t.more_rounds >= 1);
  CHECK(isnan(t.lo) && isnan(t.hi));
  CHECK_NEAR(t.ratio, 2.0, 1e-4); /* the trimmed mean of 2 logs: their mean */
  t = compare(b, 2, b, 2, 0.05);
  CHECK_EQ(t.verdict, SCALE_INCONCLUSIVE);
  t = compare(&one, 1, &one, 1, 0.05);
  CHECK_EQ(t.verdict, SCALE_INCONCLUSIVE);
  CHECK_EQ(t.more_rounds, -1); /* one round has no spread to project */
}

/* A rank test on 5 vs 5 rounds cannot go below p = 1/252 = 0.004, above
   Holm's first level 0.05 / 20, whatever the data; Yuen's test on rounds
   with 0.5% noise can (its resolution is the t distribution's). */
static void test_resolution_5_rounds_20_points(void) {
  enum { N = 20 };
  double b[5], c[5];
  rounds(b, 5, 1.0, 0.005, Z);
  rounds(c, 5, 1.10, 0.005, W);
  scale_side sb[N], sc[N];
  scale_test t[N];
  for (int i = 0; i < N; i++) {
    CHECK_EQ(scale_side_of(b, 5, &sb[i]), 0);
    CHECK_EQ(scale_side_of(c, 5, &sc[i]), 0);
    CHECK_EQ(scale_test_pair(&sb[i], &sc[i], 0.05, 0.05, &t[i]), 0);
  }
  CHECK(t[0].p_slower < 0.05 / N);
  CHECK_EQ(scale_decide(t, sb, sc, N, 0.05, 0.05), 0);
  for (int i = 0; i < N; i++)
    CHECK_EQ(t[i].verdict, SCALE_REGRESSED);
}

static void test_holm(void) {
  double p[4] = {0.01, 0.04, 0.03, 0.005}, adj[4];
  CHECK_EQ(scale_holm(p, 4, adj), 0);
  CHECK_NEAR(adj[0], 0.03, 1e-15);
  CHECK_NEAR(adj[1], 0.06, 1e-15);
  CHECK_NEAR(adj[2], 0.06, 1e-15);
  CHECK_NEAR(adj[3], 0.02, 1e-15);
  double q[3] = {0.5, 0.9, 0.8};
  CHECK_EQ(scale_holm(q, 3, q), 0); /* in place, capped at 1 */
  CHECK_NEAR(q[0], 1.0, 0);
  CHECK_NEAR(q[1], 1.0, 0);
  CHECK_EQ(scale_holm(q, 0, q), 0);
}

/* Holm over a sweep: one point at +10% among 9 unchanged is the only
   regression; the unchanged ones stay unchanged. */
static void test_decide_sweep(void) {
  enum { N = 10 };
  double b[10], c[10];
  rounds(b, 10, 1.0, 0.01, Z);
  scale_side sb[N], sc[N];
  scale_test t[N];
  for (int i = 0; i < N; i++) {
    rounds(c, 10, i == 3 ? 1.10 : 1.0, 0.01, W);
    CHECK_EQ(scale_side_of(b, 10, &sb[i]), 0);
    CHECK_EQ(scale_side_of(c, 10, &sc[i]), 0);
    CHECK_EQ(scale_test_pair(&sb[i], &sc[i], 0.05, 0.05, &t[i]), 0);
  }
  CHECK_EQ(scale_decide(t, sb, sc, N, 0.05, 0.05), 0);
  for (int i = 0; i < N; i++)
    CHECK_EQ(t[i].verdict, i == 3 ? SCALE_REGRESSED : SCALE_UNCHANGED);
}

static void test_identical_rounds(void) {
  double one[5] = {1, 1, 1, 1, 1}, slow[5] = {1.2, 1.2, 1.2, 1.2, 1.2};
  CHECK_EQ(compare(one, 5, one, 5, 0.05).verdict, SCALE_UNCHANGED);
  CHECK_EQ(compare(one, 5, slow, 5, 0.05).verdict, SCALE_REGRESSED);
  CHECK_EQ(compare(slow, 5, one, 5, 0.05).verdict, SCALE_IMPROVED);
}

static void test_round_medians_and_noise(void) {
  double t[] = {1, 2, 3, 10, 20, 30}, med[4];
  int r[] = {0, 0, 0, 1, 1, 1};
  CHECK_EQ(scale_round_medians(t, r, 6, med, 4), 2);
  CHECK_NEAR(med[0], 2, 0);
  CHECK_NEAR(med[1], 20, 0);
  int gap[] = {0, 0, 2, 2, 2, 5};
  CHECK_EQ(scale_round_medians(t, gap, 6, med, 4),
           3); /* empty rounds skipped */
  CHECK_NEAR(med[0], 1.5, 0);
  CHECK_NEAR(med[1], 10, 0);
  CHECK_NEAR(med[2], 30, 0);
  int neg[] = {0, -1, 0, 0, 0, 0};
  CHECK_EQ(scale_round_medians(t, neg, 6, med, 4), -1);
  double bad[] = {1, 0, 3};
  CHECK_EQ(scale_round_medians(bad, r, 3, med, 4), -1);
  /* logs (0, 0.1) and (0.5, 0.6): within sd sqrt(0.005), between the sd of
     the medians 0.05 and 0.55 */
  double u[] = {1, exp(0.1), exp(0.5), exp(0.6)};
  int ur[] = {0, 0, 1, 1};
  double within, between;
  scale_noise(u, ur, 4, &within, &between);
  CHECK_NEAR(within, sqrt(0.005), 1e-12);
  CHECK_NEAR(between, 0.5 / sqrt(2.0), 1e-12);
  int same[] = {0, 1, 2, 3};
  scale_noise(u, same, 4, &within, &between);
  CHECK(isnan(within)); /* no round with two repeats */
  scale_noise(u, ur, 1, &within, &between);
  CHECK(isnan(between)); /* one round */
  scale_side s;
  CHECK_EQ(scale_side_of(bad, 3, &s), -1);
  CHECK_EQ(scale_side_of(u, 0, &s), -1);
}

static void test_rounds_for_width(void) {
  int quiet = scale_rounds_for_width(0.01, 0.01, 0, 0.025, 0.005);
  int noisy = scale_rounds_for_width(0.04, 0.04, 0, 0.025, 0.005);
  CHECK(quiet >= SCALE_MIN_ROUNDS && quiet < noisy);
  CHECK(noisy > 0 && noisy <= SCALE_MAX_ROUNDS);
  /* a fixed baseline of 3 rounds this noisy leaves no room */
  CHECK_EQ(scale_rounds_for_width(0.2, 0.01, 3, 0.025, 0.005), -1);
  CHECK_EQ(scale_rounds_for_width(NAN, 0.01, 0, 0.025, 0.005), -1);
  /* the answer has the width it promises */
  double se = sqrt(2 * scale_side_se2(0.04, noisy));
  CHECK(gsl_cdf_tdist_Qinv(0.0025, 2.0 * (noisy - 2 * (int)(0.2 * noisy) - 1)) *
            se <=
        0.025 * 1.05);
}

/* Rounds of 3 repeats whose medians have logs 0, .01, .02, .03, .04 (and
   +0.1 for c): 20% trimming keeps h = 3, the winsorized sd is 0.01, so
   se2 = 4 x 1e-4 / 6 a side, se = sqrt(2 se2), Welch df = 2 (h - 1) = 4
   and the 95% half-width is t(0.975; 4) se = 2.7764451051978 x
   0.0115470053838 = 0.0320596265775. */
static void test_log_halfwidth(void) {
  double tb[15], tc[15];
  int rd[15];
  for (int r = 0; r < 5; r++)
    for (int k = 0; k < 3; k++) {
      double f = k == 0 ? 0.97 : k == 1 ? 1.0 : 1.2; /* median: the middle */
      tb[3 * r + k] = f * exp(0.01 * r);
      tc[3 * r + k] = f * exp(0.01 * r + 0.1);
      rd[3 * r + k] = 4 - r; /* any order of rounds */
    }
  scale_side sb, sc;
  CHECK_EQ(scale_side_of_times(tb, rd, 15, &sb), 0);
  CHECK_EQ(scale_side_of_times(tc, rd, 15, &sc), 0);
  CHECK_EQ(sb.n, 5);
  CHECK_EQ(sb.h, 3);
  CHECK_NEAR(sb.center, 0.02, 1e-12);
  CHECK_NEAR(sc.center - sb.center, 0.1, 1e-12);
  CHECK_NEAR(sb.sw, 0.01, 1e-12);
  double w = scale_log_halfwidth(&sb, &sc, 0.025);
  CHECK_NEAR(w, 0.0320596265775, 1e-10);
  scale_test t; /* the same interval as the regression check's */
  CHECK_EQ(scale_test_pair(&sb, &sc, 0.05, 0.025, &t), 0);
  CHECK_NEAR(log(t.hi / t.ratio), w, 1e-12);
  CHECK_NEAR(log(t.ratio / t.lo), w, 1e-12);
  /* undecidable and bad input */
  CHECK_EQ(scale_side_of_times(tb, rd, 6, &sb), 0); /* 2 rounds */
  CHECK(isnan(scale_log_halfwidth(&sb, &sc, 0.025)));
  CHECK(isnan(scale_log_halfwidth(&sc, &sc, 0.0)));
  CHECK(isnan(scale_log_halfwidth(NULL, &sc, 0.025)));
  CHECK_EQ(scale_side_of_times(tb, rd, 0, &sb), -1);
  CHECK_EQ(scale_side_of_times(NULL, rd, 3, &sb), -1);
  tb[0] = -1.0;
  CHECK_EQ(scale_side_of_times(tb, rd, 3, &sb), -1);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_yuen_matches_scipy);
  CHECK_RUN(test_shift_zero);
  CHECK_RUN(test_shift_3_percent);
  CHECK_RUN(test_shift_10_percent);
  CHECK_RUN(test_bimodal_baseline);
  CHECK_RUN(test_one_outlier_round);
  CHECK_RUN(test_too_few_rounds);
  CHECK_RUN(test_resolution_5_rounds_20_points);
  CHECK_RUN(test_holm);
  CHECK_RUN(test_decide_sweep);
  CHECK_RUN(test_identical_rounds);
  CHECK_RUN(test_round_medians_and_noise);
  CHECK_RUN(test_rounds_for_width);
  CHECK_RUN(test_log_halfwidth);
  return check_done();
}
