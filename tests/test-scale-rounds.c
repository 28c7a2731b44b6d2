/* scale.rounds: mpk-scale in rounds, at tiny sizes; no assertion reads a
 * timing. --rounds 3 --repeat 2 runs each round as a process and keeps the
 * JSON fields others read (points[] kernel, scaling, mode, workers, size,
 * times: every timed repeat) and adds the round of each time, round
 * medians, within- and between-round noise, the seed and the provenance;
 * --max-time adds whole rounds; an A/B run (--against) with two copies of
 * one binary writes both sides and flags nothing; the default output
 * directory is ./mpk-scale-results outside a source tree and refused
 * inside one; bad --against / --only-points are usage errors. */
#include "app_json.h"
#include "test-scale-util.h"

static const char *scale_bin, *src_dir;
static char dir[256];

#define SWEEP_ARGS                                                             \
  "--kernels", "pi,square", "--modes", "omp,pool", "--workers", "1,2",         \
      "--scaling", "strong", "--pi-steps", "1e5", "--square-n", "2^12"
#define N_POINTS (2 + 2 * 2 * 2)

static app_json *load(const char *name) {
  char path[512], msg[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  app_json *doc;
  CHECK_MSG(app_json_parse_file(path, &doc, msg, sizeof msg) == 0, "%s: %s",
            path, msg);
  return doc;
}

static int has(const app_json *o, const char *key) {
  return app_json_get(o, key) != NULL;
}

/* Every point has rounds x repeat times, each with its round index, and
   the round fields. */
static void check_points(const app_json *doc, int rounds, int repeat) {
  const app_json *pts = app_json_get(doc, "points");
  CHECK(pts && pts->type == APP_JSON_ARRAY && pts->len == N_POINTS);
  for (size_t i = 0; i < pts->len; i++) {
    const app_json *p = &pts->items[i];
    static const char *const keys[] = {
        "kernel",       "scaling",       "mode",   "workers",
        "size",         "times",         "ok",     "median",
        "noise_within", "noise_between", "rounds", "round_medians",
        "time_rounds",  "repeats"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
      CHECK_MSG(has(p, keys[k]), "point %zu lacks %s", i, keys[k]);
    CHECK_MSG(app_json_get(p, "ok")->number == 1, "point %zu: %s", i,
              app_json_get_str(p, "check", "?"));
    /* every round checked it: "ok", as a point of one round says */
    CHECK_MSG(strcmp(app_json_get_str(p, "check", "?"), "ok") == 0,
              "point %zu: check '%s'", i, app_json_get_str(p, "check", "?"));
    const app_json *t = app_json_get(p, "times");
    const app_json *r = app_json_get(p, "time_rounds");
    int n = (int)app_json_get_num(p, "rounds", 0);
    CHECK(rounds > 0 ? n == rounds : n >= -rounds);
    CHECK_EQ((int)t->len, n * repeat);
    CHECK_EQ(r->len, t->len);
    CHECK_EQ(app_json_get_num(p, "repeats", 0), (double)t->len);
    CHECK_EQ((int)app_json_get(p, "round_medians")->len, n);
    for (size_t j = 0; j < t->len; j++) {
      CHECK(t->items[j].number > 0);
      CHECK(r->items[j].number >= 0 && r->items[j].number < n);
    }
    if (n >= 2)
      CHECK(app_json_get(p, "noise_between")->type == APP_JSON_NUMBER);
    if (repeat >= 2)
      CHECK(app_json_get(p, "noise_within")->type == APP_JSON_NUMBER);
    /* speedup and efficiency intervals: from 3 rounds on, around the
       estimate; none for the serial point (the baseline) */
    static const char *const iv[] = {"speedup", "efficiency"};
    int serial = strcmp(app_json_get_str(p, "scaling", ""), "serial") == 0;
    for (int k = 0; k < 2; k++) {
      char lo[32], hi[32];
      snprintf(lo, sizeof lo, "%s_lo", iv[k]);
      snprintf(hi, sizeof hi, "%s_hi", iv[k]);
      CHECK_MSG(has(p, lo) && has(p, hi), "point %zu lacks %s", i, lo);
      if (n < 3 || serial) {
        CHECK(app_json_get(p, lo)->type == APP_JSON_NULL);
        continue;
      }
      double v = app_json_get_num(p, iv[k], NAN);
      CHECK(app_json_get_num(p, lo, NAN) <= v);
      CHECK(v <= app_json_get_num(p, hi, NAN));
    }
  }
}

static void test_rounds_json(void) {
  const char *argv[] = {scale_bin, SWEEP_ARGS, "--rounds", "3",     "--repeat",
                        "2",       "--seed",   "12345",    "--out", dir,
                        "--name",  "r3",       NULL};
  char err[512];
  snprintf(err, sizeof err, "%s/err.txt", dir);
  int rc = run_prog(argv, NULL, err, 120);
  char *e = slurp(err);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, e ? e : "");
  free(e);
  app_json *doc = load("r3.json");
  CHECK_STR(app_json_get_str(doc, "tool", ""), "mpk-scale");
  const app_json *cfg = app_json_get(doc, "config");
  CHECK_EQ(app_json_get_num(cfg, "rounds", 0), 3);
  CHECK_EQ(app_json_get_num(cfg, "repeat", 0), 2);
  CHECK_EQ(app_json_get_num(cfg, "seed", 0), 12345);
  CHECK_EQ(app_json_get(cfg, "process_per_round")->number, 1);
  const app_json *m = app_json_get(doc, "machine");
  static const char *const mk[] = {"cpu_model",
                                   "cores",
                                   "allowed",
                                   "kernel",
                                   "governor",
                                   "load_average_at_start",
                                   "load_average_at_end"};
  for (size_t k = 0; k < sizeof mk / sizeof mk[0]; k++)
    CHECK_MSG(has(m, mk[k]), "machine lacks %s", mk[k]);
  const app_json *b = app_json_get(doc, "build");
  static const char *const bk[] = {"mpk",        "compiler",   "c_flags",
                                   "build_type", "git_commit", "git_dirty"};
  for (size_t k = 0; k < sizeof bk / sizeof bk[0]; k++)
    CHECK_MSG(has(b, bk[k]), "build lacks %s", bk[k]);
  CHECK(strlen(app_json_get_str(b, "compiler", "")) > 0);
  check_points(doc, 3, 2);
  app_json_free(doc);
}

static void test_max_time(void) {
  const char *argv[] = {scale_bin,  SWEEP_ARGS, "--rounds",   "3",
                        "--repeat", "1",        "--max-time", "0.02",
                        "--out",    dir,        "--name",     "mt",
                        NULL};
  CHECK_EQ(run_prog(argv, NULL, NULL, 150), 0);
  app_json *doc = load("mt.json");
  CHECK_NEAR(app_json_get_num(app_json_get(doc, "config"), "max_time", 0), 0.02,
             1e-12);
  check_points(doc, -3, 1); /* at least 3 rounds each */
  app_json_free(doc);
}

/* Both sides are this binary: whatever the machine does, nothing can be
   slower by half beyond doubt at level 1e-6 (the verdicts printed are
   unchanged or inconclusive; timing decides which). */
static void test_against_copy(void) {
  char copy[512], cmd[1100], out[512];
  snprintf(copy, sizeof copy, "%s/other-mpk-scale", dir);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", scale_bin, copy);
  CHECK_EQ(system(cmd), 0);
  snprintf(out, sizeof out, "%s/ab.txt", dir);
  const char *argv[] = {
      scale_bin,   SWEEP_ARGS, "--rounds",    "4",   "--repeat", "1",
      "--against", copy,       "--threshold", "0.5", "--alpha",  "1e-6",
      "--out",     dir,        "--name",      "ab",  NULL};
  int rc = run_prog(argv, out, NULL, 150);
  char *o = slurp(out);
  CHECK_MSG(rc == 0, "exit %d:\n%s", rc, o ? o : "");
  CHECK(strstr(o, "REGRESSED") == NULL);
  CHECK(strstr(o, "10 points compared, 0 regressed") != NULL);
  free(o);
  app_json *c = load("ab.json"), *b = load("ab-baseline.json");
  CHECK_STR(app_json_get_str(app_json_get(c, "config"), "side", ""),
            "candidate");
  CHECK_STR(app_json_get_str(app_json_get(b, "config"), "side", ""),
            "baseline");
  check_points(c, 4, 1);
  check_points(b, 4, 1);
  app_json_free(c);
  app_json_free(b);
  app_json *cmp = load("ab-compare.json");
  CHECK_EQ(app_json_get(cmp, "points")->len, N_POINTS);
  app_json_free(cmp);
}

/* sh -c "cd WHERE && exec mpk-scale ...": exit status, stderr in *err. */
static int run_in(const char *where, const char *args, char **err) {
  char cmd[2048], e[512];
  snprintf(cmd, sizeof cmd, "cd '%s' && exec '%s' %s", where, scale_bin, args);
  snprintf(e, sizeof e, "%s/run-in-err.txt", dir);
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  int rc = run_prog(argv, NULL, e, 60);
  *err = slurp(e);
  CHECK(*err != NULL);
  return rc;
}

static void test_default_out(void) {
  char *err, path[512], sub[512];
  const char *tiny = "--kernels pi --modes omp --workers 1 --scaling strong "
                     "--pi-steps 1e4 --repeat 1";
  CHECK_EQ(run_in(dir, tiny, &err), 0);
  free(err);
  snprintf(path, sizeof path, "%s/mpk-scale-results/scaling.json", dir);
  CHECK_MSG(access(path, R_OK) == 0, "%s missing", path);
  snprintf(sub, sizeof sub, "%s/bench", src_dir);
  CHECK_EQ(run_in(sub, tiny, &err), 2);
  CHECK(strstr(err, "inside an mpk source tree: give --out DIR") != NULL);
  CHECK_EQ(count_lines(err), 1);
  free(err);
  snprintf(path, sizeof path, "%s/bench/mpk-scale-results", src_dir);
  CHECK(access(path, F_OK) != 0);
}

static void test_bad_usage(void) {
  char e[512];
  snprintf(e, sizeof e, "%s/bad.txt", dir);
  const char *a1[] = {scale_bin, "--against", "/nonexistent/mpk-scale",
                      "--out",   dir,         NULL};
  CHECK_EQ(run_prog(a1, NULL, e, 30), 2);
  const char *a2[] = {scale_bin, SWEEP_ARGS, "--only-points", "99", "--out",
                      dir,       NULL};
  CHECK_EQ(run_prog(a2, NULL, e, 30), 2);
  const char *a3[] = {scale_bin, "--against", scale_bin, "--baseline",
                      "x.json",  "--out",     dir,       NULL};
  CHECK_EQ(run_prog(a3, NULL, e, 30), 2);
}

int main(void) {
  check_watchdog(390); /* 44 s seen in a loaded make test */
  scale_bin = need_env("MPK_SCALE_BIN");
  src_dir = need_env("MPK_SOURCE_DIR");
  make_tmpdir(dir, sizeof dir, "scale-rounds");
  CHECK_RUN(test_rounds_json);
  CHECK_RUN(test_max_time);
  CHECK_RUN(test_against_copy);
  CHECK_RUN(test_default_out);
  CHECK_RUN(test_bad_usage);
  rm_tree(dir);
  return check_done();
}
