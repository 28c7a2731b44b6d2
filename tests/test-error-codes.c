/* error.codes: the code table, mpk_strerror and mpk_err_name. */
#include "check.h"

static void test_values_mirror_errno(void) {
  CHECK_EQ(MPK_OK, 0);
  CHECK_EQ(MPK_EINVAL, -EINVAL);
  CHECK_EQ(MPK_ENOMEM, -ENOMEM);
  CHECK_EQ(MPK_ETIMEDOUT, -ETIMEDOUT);
  CHECK_EQ(MPK_EPERM, -EPERM);
  CHECK_EQ(MPK_EMSGSIZE, -EMSGSIZE);
  CHECK_EQ(MPK_EOVERFLOW, -EOVERFLOW);
  CHECK_EQ(MPK_EOWNERDEAD, -EOWNERDEAD);
  CHECK_EQ(MPK_EDEADLK, -EDEADLK);
}

static void test_own_codes_below_minus_1000(void) {
  int own[] = {MPK_EEMPTY, MPK_EFULL,   MPK_EEOF,   MPK_ECLOSED, MPK_EBROKEN,
               MPK_ETASK,  MPK_EWORKER, MPK_ESTATE, MPK_ENOTSUP};
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
    CHECK(own[i] <= -1001);
    for (size_t j = 0; j < i; j++)
      CHECK_NE(own[i], own[j]);
  }
  CHECK_EQ(MPK_EEMPTY, -1001);
  CHECK_EQ(MPK_ENOTSUP, -1009);
}

static void test_strerror(void) {
  CHECK_STR(mpk_strerror(MPK_OK), "success");
  CHECK_STR(mpk_strerror(MPK_EINVAL), "invalid argument");
  CHECK_STR(mpk_strerror(MPK_EBROKEN), "barrier is broken");
  CHECK_STR(mpk_strerror(-424242), "unknown error");
  CHECK_STR(mpk_strerror(5), "unknown error");
  /* every code has its own message */
  int codes[] = {MPK_EINVAL,  MPK_ENOMEM, MPK_ETIMEDOUT, MPK_EEMPTY,
                 MPK_EFULL,   MPK_EEOF,   MPK_ECLOSED,   MPK_ETASK,
                 MPK_EWORKER, MPK_ESTATE};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(mpk_strerror(codes[i]), mpk_strerror(codes[j])) != 0);
}

static void test_err_name(void) {
  CHECK_STR(mpk_err_name(MPK_OK), "MPK_OK");
  CHECK_STR(mpk_err_name(MPK_ETIMEDOUT), "MPK_ETIMEDOUT");
  CHECK_STR(mpk_err_name(MPK_EOWNERDEAD), "MPK_EOWNERDEAD");
  CHECK_STR(mpk_err_name(MPK_EWORKER), "MPK_EWORKER");
  CHECK_STR(mpk_err_name(1), "MPK_UNKNOWN");
}

int main(void) {
  CHECK_RUN(test_values_mirror_errno);
  CHECK_RUN(test_own_codes_below_minus_1000);
  CHECK_RUN(test_strerror);
  CHECK_RUN(test_err_name);
  return check_done();
}
