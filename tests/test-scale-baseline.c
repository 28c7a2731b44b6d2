/* scale.baseline: the regression check of mpk-scale --baseline. A run
 * compared with itself passes; a synthetic baseline 10^6 times faster is
 * flagged point by point (exit 1); one 10^6 times slower passes; a single
 * faster point is the only one named; the noise widens the tolerance and
 * --noise-k / --noise-floor change it; a sweep run with --baseline does the
 * same; an unreadable baseline or one without common points is exit 2.
 * (Factors of 10^6 because at these tiny sizes a loaded machine's timings
 * vary by 100x, and a run's own noise widens its tolerance.) */
#include "test-scale-util.h"

static const char *scale_bin;
static char dir[256], run_a[512];

/* Write `dst`: the run in `src` with every timing of the points selected by
   the Python expression `which` (over p) multiplied by `f`, and rel_noise
   set to `noise` when noise >= 0. */
static void synth(const char *src, const char *dst, double f, const char *which,
                  double noise) {
  char cmd[2048];
  snprintf(
      cmd, sizeof cmd,
      "python3 -c 'import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "for p in d[\"points\"]:\n"
      "  if %s:\n"
      "    for k in (\"median\",\"min\",\"max\",\"q25\",\"q75\",\"mean\"):\n"
      "      p[k]*=%.17g\n"
      "    if %.17g>=0: p[\"rel_noise\"]=%.17g\n"
      "json.dump(d,open(sys.argv[2],\"w\"))' '%s' '%s'",
      which, f, noise, noise, src, dst);
  CHECK_MSG(system(cmd) == 0, "python failed: %s", cmd);
}

/* mpk-scale --compare cur --baseline base [extra...]: exit status; stdout
   into *out (malloc'd). */
static int compare(const char *cur, const char *base, const char *x1,
                   const char *x2, char **out) {
  char o[512];
  snprintf(o, sizeof o, "%s/cmp.txt", dir);
  const char *argv[] = {scale_bin, "--compare", cur, "--baseline",
                        base,      x1,          x2,  NULL};
  int rc = run_prog(argv, o, NULL, 30);
  *out = slurp(o);
  CHECK(*out != NULL);
  return rc;
}

static int count_str(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

#define SWEEP_ARGS                                                             \
  "--kernels", "pi,imbalanced", "--modes", "omp", "--workers", "1,2",          \
      "--scaling", "strong", "--repeat", "3", "--pi-steps", "1e5",             \
      "--imbalanced-n", "2^10", "--schedules", "static,dynamic", "--out", dir
#define N_POINTS (2 + 2 * (1 + 2)) /* serial x2 + omp x 2 workers x 3 */

static void test_sweep_for_baseline(void) {
  const char *argv[] = {scale_bin, SWEEP_ARGS, "--name", "a", NULL};
  CHECK_EQ(run_prog(argv, NULL, NULL, 60), 0);
  snprintf(run_a, sizeof run_a, "%s/a.json", dir);
}

static void test_self_passes(void) {
  char *out;
  CHECK_EQ(compare(run_a, run_a, NULL, NULL, &out), 0);
  CHECK(strstr(out, "8 points compared, 0 regressed") != NULL);
  CHECK_EQ(count_str(out, "REGRESSED"), 0);
  free(out);
}

static void test_much_faster_baseline_flagged(void) {
  char fast[512];
  snprintf(fast, sizeof fast, "%s/fast.json", dir);
  synth(run_a, fast, 1e-6, "True", -1);
  char *out;
  CHECK_EQ(compare(run_a, fast, NULL, NULL, &out), 1);
  CHECK_EQ(count_str(out, "REGRESSED "), N_POINTS);
  CHECK(strstr(out, "REGRESSED pi strong omp static workers=2 size=100000: ") !=
        NULL);
  CHECK(strstr(out, "+99999900.0%") != NULL);
  CHECK(strstr(out, "8 points compared, 8 regressed") != NULL);
  free(out);
}

static void test_much_slower_baseline_passes(void) {
  char slow[512];
  snprintf(slow, sizeof slow, "%s/slow.json", dir);
  synth(run_a, slow, 1e6, "True", -1);
  char *out;
  CHECK_EQ(compare(run_a, slow, NULL, NULL, &out), 0);
  CHECK_EQ(count_str(out, "REGRESSED"), 0);
  free(out);
}

static void test_only_the_slower_point_is_named(void) {
  char one[512];
  snprintf(one, sizeof one, "%s/one.json", dir);
  synth(run_a, one, 1e-6,
        "p[\"kernel\"]==\"imbalanced\" and p[\"schedule\"]==\"dynamic\" and "
        "p[\"cores\"]==2",
        -1);
  char *out;
  CHECK_EQ(compare(run_a, one, NULL, NULL, &out), 1);
  CHECK_EQ(count_str(out, "REGRESSED "), 1);
  CHECK(strstr(out, "REGRESSED imbalanced strong omp dynamic workers=2 ") !=
        NULL);
  free(out);
}

/* Baseline 20% faster than the run: with 20% noise the tolerance is 3 x 20%
   = 60% and it passes; with k = 0 and a 10% floor it is flagged; with the
   defaults and no noise (the 5% floor) it is flagged. */
static void test_noise_sets_tolerance(void) {
  char noisy[512], quiet[512];
  snprintf(noisy, sizeof noisy, "%s/noisy.json", dir);
  snprintf(quiet, sizeof quiet, "%s/quiet.json", dir);
  synth(run_a, noisy, 1.0 / 1.2, "True", 0.2);
  synth(noisy, quiet, 1.0, "True", 0.0);
  char *out;
  /* the current run's own noise counts too: make it quiet as well */
  char cur[512];
  snprintf(cur, sizeof cur, "%s/cur.json", dir);
  synth(run_a, cur, 1.0, "True", 0.0);
  CHECK_EQ(compare(cur, noisy, NULL, NULL, &out), 0);
  free(out);
  CHECK_EQ(compare(cur, noisy, "--noise-k", "0", &out), 1);
  CHECK_EQ(count_str(out, "REGRESSED "), N_POINTS);
  CHECK(strstr(out, "tolerance 5.0%") != NULL);
  free(out);
  CHECK_EQ(compare(cur, quiet, NULL, NULL, &out), 1);
  free(out);
  CHECK_EQ(compare(cur, quiet, "--noise-floor", "0.25", &out), 0);
  free(out);
}

/* A fresh sweep against baselines a million times faster / slower (a fresh
   run on a loaded machine can differ from run a by 100x at these tiny
   sizes, never by 10^6). */
static void test_sweep_with_baseline(void) {
  char fast[512], slow[512], o[512];
  snprintf(fast, sizeof fast, "%s/fast.json", dir);
  snprintf(slow, sizeof slow, "%s/slow.json", dir);
  snprintf(o, sizeof o, "%s/sweep-out.txt", dir);
  const char *a1[] = {scale_bin,    SWEEP_ARGS, "--name", "b",
                      "--baseline", fast,       NULL};
  CHECK_EQ(run_prog(a1, o, NULL, 60), 1);
  char *out = slurp(o);
  CHECK_MSG(out && count_str(out, "REGRESSED ") == N_POINTS, "%s",
            out ? out : "");
  free(out);
  char bjson[512];
  snprintf(bjson, sizeof bjson, "%s/b.json", dir);
  CHECK(access(bjson, R_OK) == 0); /* the run was still written */
  const char *a2[] = {scale_bin,    SWEEP_ARGS, "--name", "c",
                      "--baseline", slow,       NULL};
  CHECK_EQ(run_prog(a2, o, NULL, 60), 0);
  out = slurp(o);
  CHECK_MSG(out && strstr(out, "8 points compared, 0 regressed"), "%s",
            out ? out : "");
  free(out);
}

static void test_bad_baselines(void) {
  char missing[512], garbage[512], other[512], e[512];
  snprintf(missing, sizeof missing, "%s/missing.json", dir);
  snprintf(garbage, sizeof garbage, "%s/garbage.json", dir);
  snprintf(other, sizeof other, "%s/other.json", dir);
  snprintf(e, sizeof e, "%s/err.txt", dir);
  FILE *f = fopen(garbage, "w");
  CHECK(f != NULL);
  fputs("{\"points\": [1, 2", f);
  fclose(f);
  /* same run, other sizes: nothing in common */
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "python3 -c 'import json,sys\nd=json.load(open(sys.argv[1]))\n"
           "for p in d[\"points\"]: p[\"size\"]+=1\n"
           "json.dump(d,open(sys.argv[2],\"w\"))' '%s' '%s'",
           run_a, other);
  CHECK_EQ(system(cmd), 0);
  const char *bases[] = {missing, garbage, other};
  for (int i = 0; i < 3; i++) {
    const char *argv[] = {scale_bin,    "--compare", run_a,
                          "--baseline", bases[i],    NULL};
    CHECK_EQ(run_prog(argv, NULL, e, 30), 2);
    char *msg = slurp(e);
    CHECK(msg && strncmp(msg, "mpk-scale: ", 11) == 0);
    free(msg);
  }
  /* an unreadable current run is exit 2 as well */
  const char *argv[] = {scale_bin,    "--compare", missing,
                        "--baseline", run_a,       NULL};
  CHECK_EQ(run_prog(argv, NULL, NULL, 30), 2);
}

int main(void) {
  check_watchdog(120);
  scale_bin = need_env("MPK_SCALE_BIN");
  make_tmpdir(dir, sizeof dir, "scale-baseline");
  CHECK_RUN(test_sweep_for_baseline);
  CHECK_RUN(test_self_passes);
  CHECK_RUN(test_much_faster_baseline_flagged);
  CHECK_RUN(test_much_slower_baseline_passes);
  CHECK_RUN(test_only_the_slower_point_is_named);
  CHECK_RUN(test_noise_sets_tolerance);
  CHECK_RUN(test_sweep_with_baseline);
  CHECK_RUN(test_bad_baselines);
  rm_tree(dir);
  return check_done();
}
