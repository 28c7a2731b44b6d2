/* scale.baseline: mpk-scale's regression check on synthetic result files
 * (tests/scale-synth.py: the points of a real tiny sweep with fixed,
 * known times, 10 rounds of 3 repeats with 1% noise), so no assertion
 * depends on timing: a run compared with itself and with a differently
 * ordered copy is unchanged; +10% everywhere is REGRESSED on every point,
 * one line each (exit 1); -10% is improved (exit 0); +3% is unchanged at
 * the default 5% threshold and regressed at 1%; one slower point is the
 * only one named; files with 1 or 2 rounds are inconclusive (exit 0, and 1
 * with --strict); a different CPU model or build type is exit 2 listing
 * the difference unless --allow-mismatch, a different kernel only a note;
 * the comparison files; --compare-micro on Google Benchmark files; a sweep
 * with --baseline against a baseline 10^15 times faster or slower;
 * unreadable files are exit 2. */
#include "app_json.h"
#include "test-scale-util.h"

static const char *scale_bin, *src_dir;
static char dir[256], run_a[512], tmpl[512];

/* scale-synth.py HEAD dir/out OPTS. */
static void synth(const char *head, const char *out, const char *opts) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "python3 '%s/tests/scale-synth.py' %s '%s/%s' %s",
           src_dir, head, dir, out, opts);
  CHECK_MSG(system(cmd) == 0, "failed: %s", cmd);
}

/* A synthetic mpk-scale run dir/out from the template run. */
static void synth_run(const char *out, const char *opts) {
  char head[600];
  snprintf(head, sizeof head, "run '%s'", tmpl);
  synth(head, out, opts);
}

/* mpk-scale ARGS (NULL-terminated, at most 10): exit status; stdout and
   stderr into *out / *err (malloc'd) when not NULL. */
static int scale(char **out, char **err, const char *a0, const char *a1,
                 const char *a2, const char *a3, const char *a4, const char *a5,
                 const char *a6) {
  char o[512], e[512];
  snprintf(o, sizeof o, "%s/out.txt", dir);
  snprintf(e, sizeof e, "%s/err.txt", dir);
  const char *argv[] = {scale_bin, a0, a1, a2, a3, a4, a5, a6, NULL};
  int rc = run_prog(argv, o, e, 60);
  if (out) {
    *out = slurp(o);
    CHECK(*out != NULL);
  }
  if (err) {
    *err = slurp(e);
    CHECK(*err != NULL);
  }
  return rc;
}

static int cmp(const char *cand, const char *base, char **out, const char *x1,
               const char *x2) {
  char c[512], b[512];
  snprintf(c, sizeof c, "%s/%s", dir, cand);
  snprintf(b, sizeof b, "%s/%s", dir, base);
  return scale(out, NULL, "--compare", c, "--baseline", b, x1, x2, NULL);
}

static int count_str(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* Lines of s that begin with prefix. */
static int count_lines_with(const char *s, const char *prefix) {
  int n = 0;
  size_t l = strlen(prefix);
  for (const char *p = s; p != NULL && *p; p = strchr(p, '\n')) {
    p += *p == '\n';
    n += strncmp(p, prefix, l) == 0;
  }
  return n;
}

#define SWEEP_ARGS                                                             \
  "--kernels", "pi,imbalanced", "--modes", "omp", "--workers", "1,2",          \
      "--scaling", "strong", "--repeat", "1", "--pi-steps", "1e5",             \
      "--imbalanced-n", "2^10", "--schedules", "static,dynamic", "--out", dir
#define N_POINTS (2 + 2 * (1 + 2)) /* serial x2 + omp x 2 workers x 3 */

static void test_template_and_synthetic_runs(void) {
  const char *argv[] = {scale_bin, SWEEP_ARGS, "--name", "tmpl", NULL};
  CHECK_EQ(run_prog(argv, NULL, NULL, 60), 0);
  snprintf(tmpl, sizeof tmpl, "%s/tmpl.json", dir);
  snprintf(run_a, sizeof run_a, "%s/a.json", dir);
  synth_run("a.json", "");
  synth_run("a2.json", "--shift 7"); /* same noise, other rounds order */
  synth_run("slow10.json", "--factor 1.10 --shift 3");
  synth_run("fast10.json", "--factor 0.9090909 --shift 3");
  synth_run("slow3.json", "--factor 1.03 --shift 3");
  synth_run("one.json",
            "--factor 1.10 --where 'p[\"kernel\"]==\"imbalanced\" and "
            "p[\"schedule\"]==\"dynamic\" and p[\"cores\"]==2'");
  synth_run("r1.json", "--rounds 1 --repeat 5 --no-rounds");
  synth_run("r2.json", "--rounds 2 --repeat 2");
  synth_run("r2b.json", "--rounds 2 --repeat 2 --factor 2");
  synth_run("cpu.json", "--set machine.cpu_model=Other-CPU");
  synth_run("debug.json", "--set build.build_type=Debug");
  synth_run("kern.json", "--set machine.kernel=0.0-other");
}

static void test_self_unchanged(void) {
  char *out;
  CHECK_EQ(cmp("a.json", "a.json", &out, NULL, NULL), 0);
  CHECK_MSG(strstr(out, "8 points compared, 0 regressed, 0 improved, 8 "
                        "unchanged, 0 inconclusive") != NULL,
            "%s", out);
  CHECK_EQ(count_str(out, "REGRESSED"), 0);
  free(out);
  CHECK_EQ(cmp("a2.json", "a.json", &out, NULL, NULL), 0);
  CHECK_MSG(strstr(out, " 8 unchanged") != NULL, "%s", out);
  free(out);
}

static void test_slower_10_percent_flagged(void) {
  char *out;
  CHECK_EQ(cmp("slow10.json", "a.json", &out, NULL, NULL), 1);
  CHECK_EQ(count_lines_with(out, "REGRESSED "), N_POINTS);
  CHECK(strstr(out, "\nREGRESSED pi strong omp static workers=2 size=100000: "
                    "+10.0% [") != NULL);
  CHECK(strstr(out, "8 points compared, 8 regressed") != NULL);
  free(out);
  CHECK_EQ(cmp("fast10.json", "a.json", &out, NULL, NULL), 0);
  CHECK(strstr(out, "0 regressed, 8 improved") != NULL);
  CHECK_EQ(count_str(out, "REGRESSED"), 0);
  free(out);
}

static void test_threshold(void) {
  char *out;
  CHECK_EQ(cmp("slow3.json", "a.json", &out, NULL, NULL), 0);
  CHECK_MSG(strstr(out, " 8 unchanged") != NULL, "%s", out);
  free(out);
  CHECK_EQ(cmp("slow3.json", "a.json", &out, "--threshold", "0.01"), 1);
  CHECK_EQ(count_lines_with(out, "REGRESSED "), N_POINTS);
  free(out);
}

static void test_only_the_slower_point_is_named(void) {
  char *out;
  CHECK_EQ(cmp("one.json", "a.json", &out, NULL, NULL), 1);
  CHECK_EQ(count_lines_with(out, "REGRESSED "), 1);
  CHECK(strstr(out, "\nREGRESSED imbalanced strong omp dynamic workers=2 ") !=
        NULL);
  CHECK(strstr(out, "1 regressed, 0 improved, 7 unchanged") != NULL);
  free(out);
}

/* 1 round (an old file without round indices) or 2 rounds: never decided,
   even for a factor of 2. */
static void test_few_rounds_inconclusive(void) {
  char *out;
  CHECK_EQ(cmp("r1.json", "a.json", &out, NULL, NULL), 0);
  CHECK(strstr(out, "0 unchanged, 8 inconclusive") != NULL);
  CHECK(strstr(out, "inconclusive (needs >= 3 rounds a side)") != NULL);
  free(out);
  CHECK_EQ(cmp("r2b.json", "r2.json", &out, NULL, NULL), 0);
  CHECK(strstr(out, "0 regressed, 0 improved, 0 unchanged, 8 inconclusive") !=
        NULL);
  CHECK_EQ(count_str(out, "REGRESSED"), 0);
  free(out);
  CHECK_EQ(cmp("r2.json", "r2.json", &out, "--strict", NULL), 1);
  free(out);
  CHECK_EQ(cmp("a.json", "a.json", &out, "--strict", NULL), 0);
  free(out);
}

static void test_provenance_mismatch(void) {
  char *out, *err, c[512], b[512];
  snprintf(b, sizeof b, "%s/a.json", dir);
  snprintf(c, sizeof c, "%s/cpu.json", dir);
  CHECK_EQ(scale(&out, &err, "--compare", c, "--baseline", b, NULL, NULL, NULL),
           2);
  CHECK_MSG(strstr(err, "mismatch: CPU model: baseline '") != NULL &&
                strstr(err, "candidate 'Other-CPU'") != NULL,
            "%s", err);
  CHECK(strstr(err, "mpk-scale: the runs are not comparable (1 difference") !=
        NULL);
  CHECK_EQ(count_str(out, "REGRESSED"), 0);
  free(out);
  free(err);
  CHECK_EQ(scale(&out, NULL, "--compare", c, "--baseline", b,
                 "--allow-mismatch", NULL, NULL),
           0);
  CHECK(strstr(out, "mismatch: CPU model") != NULL);
  free(out);
  snprintf(c, sizeof c, "%s/debug.json", dir);
  CHECK_EQ(scale(NULL, &err, "--compare", c, "--baseline", b, NULL, NULL, NULL),
           2);
  CHECK(strstr(err, "mismatch: build type: baseline 'Release', candidate "
                    "'Debug'") != NULL ||
        strstr(err, "mismatch: build type: baseline '") != NULL);
  free(err);
  snprintf(c, sizeof c, "%s/kern.json", dir);
  CHECK_EQ(scale(&out, NULL, "--compare", c, "--baseline", b, NULL, NULL, NULL),
           0);
  CHECK(strstr(out, "note: kernel: baseline '") != NULL);
  free(out);
}

/* --out writes DIR/NAME-compare.json and .csv with every point. */
static void test_comparison_files(void) {
  char c[512], b[512], path[512], msg[128];
  snprintf(b, sizeof b, "%s/a.json", dir);
  snprintf(c, sizeof c, "%s/one.json", dir);
  CHECK_EQ(
      scale(NULL, NULL, "--compare", c, "--baseline", b, "--out", dir, NULL),
      1);
  snprintf(path, sizeof path, "%s/scaling-compare.json", dir);
  app_json *doc;
  CHECK_MSG(app_json_parse_file(path, &doc, msg, sizeof msg) == 0, "%s", msg);
  CHECK_STR(app_json_get_str(doc, "kind", ""), "comparison");
  const app_json *pts = app_json_get(doc, "points");
  CHECK(pts && pts->len == N_POINTS);
  int regressed = 0;
  for (size_t i = 0; i < pts->len; i++) {
    const char *v = app_json_get_str(&pts->items[i], "verdict", "");
    regressed += strcmp(v, "regressed") == 0;
    CHECK(app_json_get_num(&pts->items[i], "rounds_baseline", 0) == 10);
  }
  CHECK_EQ(regressed, 1);
  CHECK_EQ(app_json_get_num(app_json_get(doc, "summary"), "regressed", -1), 1);
  app_json_free(doc);
  snprintf(path, sizeof path, "%s/scaling-compare.csv", dir);
  char *csv = slurp(path);
  CHECK(csv && count_lines(csv) == N_POINTS + 1);
  CHECK(strncmp(csv, "point,baseline_s,candidate_s,ratio,", 35) == 0);
  free(csv);
}

static void test_micro(void) {
  synth("micro", "mb.json", "");
  synth("micro", "mc.json",
        "--factor 1.10 --where 'name==\"pool_map/mpk\"' --shift 4");
  synth("micro", "magg.json", "--aggregates-only");
  char b[512], c[512], g[512], *out, *err;
  snprintf(b, sizeof b, "%s/mb.json", dir);
  snprintf(c, sizeof c, "%s/mc.json", dir);
  snprintf(g, sizeof g, "%s/magg.json", dir);
  CHECK_EQ(scale(&out, NULL, "--compare-micro", b, c, NULL, NULL, NULL, NULL),
           1);
  CHECK_EQ(count_lines_with(out, "REGRESSED "), 1);
  CHECK(strstr(out, "\nREGRESSED pool_map/mpk: +10.") != NULL);
  CHECK(
      strstr(out, "3 points compared, 1 regressed, 0 improved, 2 unchanged") !=
      NULL);
  free(out);
  CHECK_EQ(scale(&out, NULL, "--compare-micro", b, b, NULL, NULL, NULL, NULL),
           0);
  free(out);
  CHECK_EQ(scale(NULL, &err, "--compare-micro", b, g, NULL, NULL, NULL, NULL),
           2);
  CHECK(strstr(err, "has no per-repetition results") != NULL);
  free(err);
  CHECK_EQ(
      scale(NULL, NULL, "--compare-micro", b, NULL, NULL, NULL, NULL, NULL), 2);
}

/* A fresh sweep (6 rounds) against baselines 10^15 times faster / slower:
   no machine varies that much between rounds. */
static void test_sweep_with_baseline(void) {
  synth_run("fast.json", "--factor 1e-15");
  synth_run("slow.json", "--factor 1e15");
  char fast[512], slow[512], o[512];
  snprintf(fast, sizeof fast, "%s/fast.json", dir);
  snprintf(slow, sizeof slow, "%s/slow.json", dir);
  snprintf(o, sizeof o, "%s/sweep-out.txt", dir);
  const char *a1[] = {scale_bin, SWEEP_ARGS,   "--name", "b", "--rounds",
                      "6",       "--baseline", fast,     NULL};
  CHECK_EQ(run_prog(a1, o, NULL, 90), 1);
  char *out = slurp(o);
  CHECK_MSG(out && count_lines_with(out, "REGRESSED ") == N_POINTS, "%s",
            out ? out : "");
  free(out);
  char bjson[512];
  snprintf(bjson, sizeof bjson, "%s/b.json", dir);
  CHECK(access(bjson, R_OK) == 0); /* the run was still written */
  snprintf(bjson, sizeof bjson, "%s/b-compare.json", dir);
  CHECK(access(bjson, R_OK) == 0);
  const char *a2[] = {scale_bin, SWEEP_ARGS,   "--name", "c", "--rounds",
                      "6",       "--baseline", slow,     NULL};
  CHECK_EQ(run_prog(a2, o, NULL, 90), 0);
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
  /* a sweep with an unreadable baseline stops before measuring */
  const char *a2[] = {scale_bin,    SWEEP_ARGS, "--name", "d",
                      "--baseline", missing,    NULL};
  CHECK_EQ(run_prog(a2, NULL, NULL, 30), 2);
  char d[512];
  snprintf(d, sizeof d, "%s/d.json", dir);
  CHECK(access(d, F_OK) != 0);
}

int main(void) {
  check_watchdog(150);
  scale_bin = need_env("MPK_SCALE_BIN");
  src_dir = need_env("MPK_SOURCE_DIR");
  make_tmpdir(dir, sizeof dir, "scale-baseline");
  CHECK_RUN(test_template_and_synthetic_runs);
  CHECK_RUN(test_self_unchanged);
  CHECK_RUN(test_slower_10_percent_flagged);
  CHECK_RUN(test_threshold);
  CHECK_RUN(test_only_the_slower_point_is_named);
  CHECK_RUN(test_few_rounds_inconclusive);
  CHECK_RUN(test_provenance_mismatch);
  CHECK_RUN(test_comparison_files);
  CHECK_RUN(test_micro);
  CHECK_RUN(test_sweep_with_baseline);
  CHECK_RUN(test_bad_baselines);
  rm_tree(dir);
  return check_done();
}
