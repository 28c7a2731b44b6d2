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

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_readme_example);
  return check_done();
}
