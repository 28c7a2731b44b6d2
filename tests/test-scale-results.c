/* scale.results: `scripts/make-results --quick` end to end into a temporary
 * directory (never the real RESULTS.md): it runs mpk-topo, mpk-scale and
 * mpk-bench-micro (with its limit benchmarks) with bench/micro/ratios
 * from the build directory, then renders RESULTS.md with its headline
 * tables (rows of the sweep), intervals, physical limits, the exact
 * commands and PNG plots, and the section of the sweep over simulated
 * hosts (measured where MPI is built and namespaces can be made, else the
 * reason it was not); and it refuses bad arguments. The renderer's
 * numbers on a fixed input are checked by scale.render. */
#include "test-scale-util.h"

static void test_quick_run(void) {
  const char *src = need_env("MPK_SOURCE_DIR");
  const char *build = need_env("MPK_BUILD_DIR");
  char dir[256], script[512], md[512], err[512], path[512];
  make_tmpdir(dir, sizeof dir, "scale-results");
  snprintf(script, sizeof script, "%s/scripts/make-results", src);
  snprintf(md, sizeof md, "%s/RESULTS.md", dir);
  snprintf(err, sizeof err, "%s/stderr.txt", dir);
  const char *argv[] = {"/bin/bash",     script, "--quick",  "--build", build,
                        "--results-dir", dir,    "--output", md,        NULL};
  int rc = run_prog(argv, NULL, err, 150);
  char *e = slurp(err);
  CHECK_MSG(rc == 0, "make-results exited %d:\n%s", rc, e ? e : "");
  CHECK(e && strstr(e, "make-results: wrote "));
  free(e);
  char *text = slurp(md);
  CHECK(text != NULL);
  static const char *const want[] = {"# mpk results",
                                     "Quick run",
                                     "## Machine",
                                     "CPU: ",
                                     "## Versions",
                                     "## Commands",
                                     "bench/scaling/mpk-scale --workers 1,2",
                                     "## How to read the numbers",
                                     "## Physical limits",
                                     "| STREAM copy",
                                     "double divide",
                                     "## Headline: pi",
                                     "| serial | 1 |",
                                     "| % of divider |",
                                     "| pool | 2 |",
                                     "## Headline: square map",
                                     "| % of bandwidth |",
                                     "| threads |",
                                     "## Scaling",
                                     "(./pi-speedup.png)",
                                     "## Scaling over simulated hosts",
                                     "## Micro-benchmark ratios",
                                     "| benchmark |",
                                     "cpu_count"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK_MSG(strstr(text, want[i]) != NULL, "RESULTS.md lacks '%s'", want[i]);
  CHECK(strstr(text, "(micro.json missing") == NULL);
  CHECK(strstr(text, "(micro-ratios.md missing") == NULL);
  snprintf(path, sizeof path, "%s/hosts.json", dir);
  const int hosts = access(path, R_OK) == 0; /* the sweep over hosts ran */
  CHECK_MSG(strstr(text, hosts ? "**1 host x 2 ranks against 2 hosts x 1 "
                                 "rank**"
                               : "Not measured in this run: ") != NULL,
            "RESULTS.md lacks the %s of the simulated hosts",
            hosts ? "comparison" : "reason for no sweep");
  if (hosts)
    CHECK(strstr(text, "| 2 x 1 | ") != NULL &&
          strstr(text, "TCP over loopback") != NULL);
  free(text);
  static const char *const files[] = {"scaling.json", "scaling.csv",
                                      "topo.json",    "micro.json",
                                      "commands.txt", "meta.json"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    CHECK_MSG(access(path, R_OK) == 0, "%s missing", path);
  }
  snprintf(path, sizeof path, "%s/commands.txt", dir);
  char *cmds = slurp(path);
  CHECK(cmds && count_lines(cmds) == 4 + hosts);
  free(cmds);
  snprintf(path, sizeof path, "%s/square-efficiency.png", dir);
  CHECK(is_png(path));
  rm_tree(dir);
}

static void test_bad_arguments(void) {
  const char *src = need_env("MPK_SOURCE_DIR");
  char script[512];
  snprintf(script, sizeof script, "%s/scripts/make-results", src);
  const char *a1[] = {"/bin/bash", script, "--frobnicate", NULL};
  CHECK_EQ(run_prog(a1, NULL, NULL, 30), 2);
  const char *a2[] = {"/bin/bash",
                      script,
                      "--build",
                      "/nonexistent/build",
                      "--results-dir",
                      "/nonexistent/results",
                      NULL};
  CHECK_EQ(run_prog(a2, NULL, NULL, 30), 1); /* nothing built there */
  const char *a3[] = {"/bin/bash", script, "--help", NULL};
  CHECK_EQ(run_prog(a3, NULL, NULL, 30), 0);
}

int main(void) {
  check_watchdog(180);
  CHECK_RUN(test_quick_run);
  CHECK_RUN(test_bad_arguments);
  return check_done();
}
