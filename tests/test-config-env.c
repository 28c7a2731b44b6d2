/* config.env: MPK_* environment parsing (sizes, wait policy, spin time). */
#include "check.h"
#include "internal/config.h"

static void test_parse_size(void) {
  size_t v = 0;
  CHECK_EQ(mpk__parse_size("123", &v), 0);
  CHECK_EQ(v, 123);
  CHECK_EQ(mpk__parse_size("64K", &v), 0);
  CHECK_EQ(v, 64 << 10);
  CHECK_EQ(mpk__parse_size("512m", &v), 0);
  CHECK_EQ(v, 512ull << 20);
  CHECK_EQ(mpk__parse_size("2G", &v), 0);
  CHECK_EQ(v, 2ull << 30);
  CHECK_EQ(mpk__parse_size("2GiB", &v), 0);
  CHECK_EQ(v, 2ull << 30);
  CHECK_EQ(mpk__parse_size("1T", &v), 0);
  CHECK_EQ(v, 1ull << 40);
  CHECK_EQ(mpk__parse_size("", &v), -1);
  CHECK_EQ(mpk__parse_size("-5", &v), -1);
  CHECK_EQ(mpk__parse_size("12Q", &v), -1);
  CHECK_EQ(mpk__parse_size("G", &v), -1);
  CHECK_EQ(mpk__parse_size("99999999999999999999", &v), -1);
  CHECK_EQ(mpk__parse_size("99999999999T", &v), -1);
  CHECK_EQ(mpk__parse_size(NULL, &v), -1);
}

static int child_bad_values(void *arg) {
  (void)arg;
  setenv("MPK_SHM_SIZE", "lots", 1);
  setenv("MPK_WAIT_POLICY", "sometimes", 1);
  setenv("MPK_SPIN_US", "-3", 1);
  const mpk__config *c = mpk__config_get();
  /* defaults kept */
  CHECK_EQ(c->shm_size, 0);
  CHECK_EQ(c->wait, MPK__WAIT_DEFAULT);
  CHECK(c->spin_us < 0);
  return 0;
}

static int child_good_values(void *arg) {
  (void)arg;
  setenv("MPK_SHM_SIZE", "3G", 1);
  setenv("MPK_WAIT_POLICY", "passive", 1);
  setenv("OMP_WAIT_POLICY", "active", 1);
  setenv("MPK_SPIN_US", "25.5", 1);
  const mpk__config *c = mpk__config_get();
  CHECK_EQ(c->shm_size, 3ull << 30);
  CHECK_EQ(c->wait, MPK__WAIT_PASSIVE); /* MPK_ beats OMP_ */
  CHECK_NEAR(c->spin_us, 25.5, 0);
  return 0;
}

static int child_omp_fallback(void *arg) {
  (void)arg;
  unsetenv("MPK_WAIT_POLICY");
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  CHECK_EQ(mpk__config_get()->wait, MPK__WAIT_ACTIVE);
  return 0;
}

static void test_env_bad_values_keep_defaults(void) {
  check_wait_ok(check_fork(child_bad_values, NULL), 10);
}
static void test_env_good_values(void) {
  check_wait_ok(check_fork(child_good_values, NULL), 10);
}
static void test_env_omp_wait_policy(void) {
  check_wait_ok(check_fork(child_omp_fallback, NULL), 10);
}

int main(void) {
  check_watchdog(30);
  CHECK_RUN(test_parse_size);
  CHECK_RUN(test_env_bad_values_keep_defaults);
  CHECK_RUN(test_env_good_values);
  CHECK_RUN(test_env_omp_wait_policy);
  return check_done();
}
