/* scale.eval: bench/regress-eval at its smallest (--quick, K = 2) runs end
 * to end and prints every figure it promises: the time per sweep, the
 * same-build false alarms, detection at +10% and +5%, and the A/B runs.
 * The figures themselves are not checked (at these sizes they mean
 * nothing); bad arguments are exit 2. */
#include "test-scale-util.h"

static void test_quick_eval(void) {
  const char *src = need_env("MPK_SOURCE_DIR");
  const char *build = need_env("MPK_BUILD_DIR");
  char dir[256], script[512], out[512], err[512];
  make_tmpdir(dir, sizeof dir, "scale-eval");
  snprintf(script, sizeof script, "%s/bench/regress-eval", src);
  snprintf(out, sizeof out, "%s/stdout.txt", dir);
  snprintf(err, sizeof err, "%s/stderr.txt", dir);
  const char *argv[] = {"/usr/bin/env", "python3", script, "--quick", "--build",
                        build,          "--out",   dir,    "2",       NULL};
  int rc = run_prog(argv, out, err, 150);
  char *o = slurp(out), *e = slurp(err);
  CHECK_MSG(rc == 0, "regress-eval exited %d:\n%s\n%s", rc, o ? o : "",
            e ? e : "");
  static const char *const want[] = {
      "regress-eval: K=2 same-build sweeps of 10 points",
      "regress-eval: time per sweep ",
      "same build: 1 comparisons; any point REGRESSED in ",
      "simulated +10% (every time of the candidate x 1.10): 10 points, ",
      "simulated +5% (every time of the candidate x 1.05): 10 points, ",
      "A/B with a copy of the binary (--quick): 1 runs",
      "targets (issue 10, K >= 8, points >= 20 ms): "};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK_MSG(strstr(o, want[i]) != NULL, "output lacks '%s':\n%s", want[i], o);
  free(o);
  free(e);
  char path[512];
  snprintf(path, sizeof path, "%s/regress-eval.json", dir);
  CHECK(access(path, R_OK) == 0);
  rm_tree(dir);
  const char *bad[] = {"/usr/bin/env", "python3", script, "1", NULL};
  CHECK_EQ(run_prog(bad, NULL, NULL, 30), 2);
}

int main(void) {
  check_watchdog(170);
  CHECK_RUN(test_quick_eval);
  return check_done();
}
