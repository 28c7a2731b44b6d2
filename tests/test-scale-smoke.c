/* scale.smoke: mpk-scale on a tiny sweep writes a JSON file that parses
 * (python3 -m json.tool and mpk's own reader) with every planned point, a
 * CSV with one row per point, derived metrics where they are defined; the
 * renderer turns it into Markdown with PNG plots in a temporary directory;
 * bad options exit 2 with one line. */
#include "app_json.h"
#include "test-scale-util.h"

static const char *scale_bin, *src_dir;
static char dir[256];

/* serial: 3 kernels; omp, pool, threads x workers 1, 2 x (pi strong+weak,
   square strong+weak, imbalanced 2 schedules x strong+weak) */
#define EXPECTED_POINTS (3 + 3 * 2 * (2 + 2 + 4))

static void test_tiny_sweep(void) {
  char err[512], out[512];
  snprintf(err, sizeof err, "%s/stderr.txt", dir);
  snprintf(out, sizeof out, "%s/stdout.txt", dir);
  const char *argv[] = {scale_bin,
                        "--workers",
                        "1,2",
                        "--repeat",
                        "3",
                        "--pi-steps",
                        "2e5",
                        "--square-n",
                        "2^14",
                        "--imbalanced-n",
                        "2^11",
                        "--schedules",
                        "static,dynamic",
                        "--out",
                        dir,
                        "--name",
                        "tiny",
                        NULL};
  int rc = run_prog(argv, out, err, 60);
  char *e = slurp(err);
  CHECK_MSG(rc == 0, "mpk-scale exited %d: %s", rc, e ? e : "");
  CHECK(e != NULL && strstr(e, "points in") != NULL);
  CHECK(strchr(e, '\r') == NULL); /* no progress line: not a terminal */
  free(e);
  char *o = slurp(out);
  CHECK(o != NULL && o[0] == '\0'); /* results go to files */
  free(o);

  char path[512], cmd[1024];
  snprintf(path, sizeof path, "%s/tiny.json", dir);
  snprintf(cmd, sizeof cmd, "python3 -m json.tool '%s' >/dev/null", path);
  CHECK_EQ(system(cmd), 0);
  app_json *doc;
  char msg[128];
  CHECK_MSG(app_json_parse_file(path, &doc, msg, sizeof msg) == 0, "%s", msg);
  CHECK_STR(app_json_get_str(doc, "tool", ""), "mpk-scale");
  const app_json *m = app_json_get(doc, "machine");
  CHECK(app_json_get_num(m, "cores", 0) >= 1);
  CHECK(app_json_get(app_json_get(doc, "build"), "gsl") != NULL);
  CHECK(strstr(app_json_get_str(doc, "command", ""), "--workers 1,2") != NULL);
  const app_json *pts = app_json_get(doc, "points");
  CHECK(pts != NULL && pts->type == APP_JSON_ARRAY);
  CHECK_EQ(pts->len, EXPECTED_POINTS);
  int serial = 0, weak = 0, kf = 0;
  for (size_t i = 0; i < pts->len; i++) {
    const app_json *p = &pts->items[i];
    const app_json *ok = app_json_get(p, "ok");
    CHECK_MSG(ok && ok->number == 1, "point %zu failed: %s", i,
              app_json_get_str(p, "check", "?"));
    CHECK_STR(app_json_get_str(p, "check", ""), "ok");
    double med = app_json_get_num(p, "median", -1);
    CHECK(med > 0);
    CHECK(app_json_get_num(p, "min", -1) <= med &&
          med <= app_json_get_num(p, "max", -1));
    CHECK_EQ(app_json_get(p, "times")->len, 3);
    CHECK(app_json_get_num(p, "speedup", -1) > 0);
    CHECK(app_json_get_num(p, "efficiency", -1) > 0);
    CHECK(app_json_get_num(p, "rate", -1) > 0);
    const char *sc = app_json_get_str(p, "scaling", "");
    double cores = app_json_get_num(p, "cores", 0);
    const app_json *k = app_json_get(p, "karp_flatt");
    serial += strcmp(sc, "serial") == 0;
    weak += strcmp(sc, "weak") == 0;
    if (strcmp(sc, "strong") == 0 && cores > 1) {
      CHECK(k->type == APP_JSON_NUMBER);
      kf++;
    } else {
      CHECK(k->type == APP_JSON_NULL); /* undefined at p = 1 and for weak */
    }
    if (strcmp(sc, "weak") == 0) /* the size grows with the cores */
      CHECK(app_json_get_num(p, "size", 0) > 0);
    if (strcmp(app_json_get_str(p, "kernel", ""), "pi") == 0)
      CHECK_NEAR(app_json_get_num(p, "value", 0), M_PI, 1e-9);
  }
  CHECK_EQ(serial, 3);
  CHECK_EQ(weak, 3 * 2 * 4);
  CHECK_EQ(kf, 3 * 4); /* strong points at 2 cores */
  app_json_free(doc);

  snprintf(path, sizeof path, "%s/tiny.csv", dir);
  char *csv = slurp(path);
  CHECK(csv != NULL);
  CHECK_EQ(count_lines(csv), EXPECTED_POINTS + 1);
  CHECK(strncmp(csv, "kernel,scaling,mode,schedule,chunk,workers,", 43) == 0);
  CHECK(strstr(csv, "\npi,serial,serial,static,0,1,1,1,200000,3,1,") != NULL);
  free(csv);
}

/* The renderer on that sweep: Markdown and PNGs in the temporary dir. */
static void test_render(void) {
  char script[512], jsonp[512], scaling[512], md[512], png[512];
  snprintf(script, sizeof script, "%s/scripts/render-results", src_dir);
  snprintf(jsonp, sizeof jsonp, "%s/tiny.json", dir);
  snprintf(scaling, sizeof scaling, "%s/scaling.json", dir);
  CHECK_EQ(rename(jsonp, scaling), 0);
  snprintf(md, sizeof md, "%s/RESULTS.md", dir);
  const char *argv[] = {"/usr/bin/env", "python3", script, "--results-dir", dir,
                        "--output",     md,        NULL};
  char err[512];
  snprintf(err, sizeof err, "%s/render-err.txt", dir);
  int rc = run_prog(argv, NULL, err, 60);
  char *e = slurp(err);
  CHECK_MSG(rc == 0, "render-results exited %d: %s", rc, e ? e : "");
  free(e);
  char *text = slurp(md);
  CHECK(text != NULL);
  static const char *const want[] = {"# mpk results",
                                     "## Machine",
                                     "## Versions",
                                     "## Scaling",
                                     "### pi",
                                     "### square",
                                     "### imbalanced",
                                     "| serial (baseline) |",
                                     "Strong scaling:",
                                     "Weak scaling",
                                     "(./pi-speedup.png)",
                                     "(./square-time.png)",
                                     "omp/dynamic",
                                     "## Headline: pi",
                                     "(micro.json missing or without limit",
                                     "## Micro-benchmark ratios"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK_MSG(strstr(text, want[i]) != NULL, "RESULTS.md lacks '%s'", want[i]);
  free(text);
  static const char *const pngs[] = {"pi", "square", "imbalanced"};
  static const char *const kinds[] = {"speedup", "efficiency", "time"};
  for (int k = 0; k < 3; k++)
    for (int j = 0; j < 3; j++) {
      snprintf(png, sizeof png, "%s/%s-%s.png", dir, pngs[k], kinds[j]);
      CHECK_MSG(is_png(png), "%s is not a PNG", png);
    }
}

static void expect_usage_error(const char *a1, const char *a2, const char *a3) {
  char err[512];
  snprintf(err, sizeof err, "%s/bad.txt", dir);
  const char *argv[] = {scale_bin, a1, a2, a3, NULL};
  int rc = run_prog(argv, NULL, err, 30);
  char *e = slurp(err);
  CHECK_MSG(rc == 2, "'%s %s %s' exited %d", a1, a2 ? a2 : "", a3 ? a3 : "",
            rc);
  CHECK(e != NULL && count_lines(e) == 1 && strncmp(e, "mpk-scale: ", 11) == 0);
  free(e);
}

static void test_bad_options(void) {
  expect_usage_error("--kernels", "pi,bogus", NULL);
  expect_usage_error("--modes", "mpi", NULL);
  expect_usage_error("--workers", "0", NULL);
  expect_usage_error("--workers", "1,,2", NULL);
  expect_usage_error("--scaling", "sideways", NULL);
  expect_usage_error("--schedules", "auto", NULL);
  expect_usage_error("--repeat", "0", NULL);
  expect_usage_error("--pi-steps", "1e99", NULL);
  expect_usage_error("--name", "a/b", NULL);
  expect_usage_error("--threads-per-worker", "1", NULL);
  expect_usage_error("--noise-k", "3", NULL); /* the old rule is gone */
  expect_usage_error("--rounds", "0", NULL);
  expect_usage_error("--threshold", "0", NULL);
  expect_usage_error("--alpha", "0.5", NULL);
  expect_usage_error("--seed", "-1", NULL);
  expect_usage_error("--max-time", "0", NULL);
  expect_usage_error("--compare-micro", "a.json", NULL);
  expect_usage_error("--compare", "x.json", NULL);
  expect_usage_error("--bogus", NULL, NULL);
  expect_usage_error("--repeat", NULL, NULL);
  expect_usage_error("stray", NULL, NULL);
  const char *argv[] = {scale_bin, "--help", NULL};
  char out[512];
  snprintf(out, sizeof out, "%s/help.txt", dir);
  CHECK_EQ(run_prog(argv, out, NULL, 30), 0);
  char *h = slurp(out);
  CHECK(h && strstr(h, "usage: mpk-scale") && strstr(h, "Regression rule"));
  free(h);
}

int main(void) {
  check_watchdog(120);
  scale_bin = need_env("MPK_SCALE_BIN");
  src_dir = need_env("MPK_SOURCE_DIR");
  make_tmpdir(dir, sizeof dir, "scale-smoke");
  CHECK_RUN(test_tiny_sweep);
  CHECK_RUN(test_render);
  CHECK_RUN(test_bad_options);
  rm_tree(dir);
  return check_done();
}
