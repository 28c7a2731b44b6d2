/* readme.example: the program shown in README.md, checked. Keep in sync. */
#include "check.h"
#include "mpk.h"

static int work(void *arg) {
  mpk_array_t *hits = *(mpk_array_t **)arg;
  for (int i = 0; i < 1000; i++)
    mpk_array_fetch_add(hits, 0, 1);
  return 0;
}

static void test_readme_example(void) {
  mpk_array_t *hits;
  CHECK_OK(mpk_array_new(&hits, MPK_LONG, 1, 0));
  mpk_process_t *p[4];
  for (int i = 0; i < 4; i++) {
    CHECK_OK(mpk_process_new(&p[i], work, &hits, sizeof hits, NULL));
    CHECK_OK(mpk_process_start(p[i]));
  }
  for (int i = 0; i < 4; i++) {
    CHECK_OK(mpk_process_join(p[i], MPK_FOREVER));
    int code = -1;
    CHECK_OK(mpk_process_exitcode(p[i], &code));
    CHECK_EQ(code, 0);
    mpk_process_free(p[i]);
  }
  CHECK_EQ(mpk_array_load(hits, 0), 4000);
  mpk_array_free(hits);
}

static double partial(size_t lo, size_t hi, void *ctx) {
  double dx = *(double *)ctx, s = 0;
  for (size_t i = lo; i < hi; i++) {
    double x = ((double)i + 0.5) * dx;
    s += 4.0 / (1.0 + x * x);
  }
  return s * dx;
}

static void test_readme_pool_example(void) {
  mpk_pool_t *pool;
  CHECK_OK(mpk_pool_create(&pool, NULL));
  size_t n = 10000000; /* the README uses 1e8; smaller keeps the test quick */
  double dx = 1.0 / (double)n, pi = 0, again = 0;
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1 << 20};
  CHECK_OK(mpk_pool_reduce_double(pool, n, partial, &dx, sizeof dx, MPK_SUM, s,
                                  0, &pi));
  mpk_pool_free(pool);
  CHECK_NEAR(pi, M_PI, 1e-12);
  /* bit-identical with a one-worker pool at the same chunk */
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  CHECK_OK(mpk_pool_create(&pool, &o));
  CHECK_OK(mpk_pool_reduce_double(pool, n, partial, &dx, sizeof dx, MPK_SUM, s,
                                  0, &again));
  mpk_pool_free(pool);
  CHECK(memcmp(&pi, &again, sizeof pi) == 0);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_readme_example);
  CHECK_RUN(test_readme_pool_example);
  return check_done();
}
