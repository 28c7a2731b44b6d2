/* array.api: every Value/Array call and error code in one process. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "mpk/shm.h"

static const mpk_type all_types[] = {MPK_CHAR,  MPK_INT,    MPK_LONG,
                                     MPK_FLOAT, MPK_DOUBLE, MPK_SIZE};
static const size_t all_sizes[] = {sizeof(char),   sizeof(int),
                                   sizeof(long),   sizeof(float),
                                   sizeof(double), sizeof(size_t)};

static void test_new_errors(void) {
  mpk_array_t *sentinel = (mpk_array_t *)&sentinel, *a = sentinel;
  CHECK_RC(mpk_array_new(NULL, MPK_INT, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, (mpk_type)6, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, (mpk_type)-1, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, (mpk_type)1000, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, MPK_INT, 0, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, MPK_INT, 1, 2), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, MPK_INT, 1, -1), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, MPK_DOUBLE, SIZE_MAX, 0), MPK_ENOMEM);
  CHECK_RC(mpk_array_new(&a, MPK_DOUBLE, SIZE_MAX / 8, 1), MPK_ENOMEM);
  CHECK_RC(mpk_array_new(&a, MPK_CHAR, (size_t)1 << 50, 0), MPK_ENOMEM);
  CHECK(a == sentinel); /* a failed call changed nothing */
}

static void test_new_every_type(void) {
  for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++)
    for (int locked = 0; locked <= 1; locked++) {
      size_t n = 1 + t * 1000;
      mpk_array_t *a = NULL;
      CHECK_OK(mpk_array_new(&a, all_types[t], n, locked));
      CHECK(a != NULL);
      CHECK(mpk_shm_contains(a));
      CHECK_EQ(mpk_array_len(a), n);
      CHECK_EQ(mpk_array_type(a), all_types[t]);
      unsigned char *d = mpk_array_data(a);
      CHECK(d != NULL && mpk_shm_contains(d));
      CHECK_EQ((uintptr_t)d % 64, 0);
      size_t bytes = n * all_sizes[t];
      for (size_t i = 0; i < bytes; i++) /* zeroed */
        CHECK(d[i] == 0);
      memset(d, 0x7F, bytes); /* all of it is ours */
      CHECK(mpk_shm_usable_size(a) >= (size_t)(d + bytes - (unsigned char *)a));
      CHECK_RC(mpk_array_lock(a), locked ? MPK_OK : MPK_ENOTSUP);
      CHECK_RC(mpk_array_unlock(a), locked ? MPK_OK : MPK_ENOTSUP);
      mpk_array_free(a);
    }
}

/* A recycled block comes back zeroed as a new array. */
static void test_zeroed_after_reuse(void) {
  for (int round = 0; round < 3; round++) {
    mpk_array_t *a;
    CHECK_OK(mpk_array_new(&a, MPK_DOUBLE, 500, 1));
    double *d = mpk_array_data(a);
    for (int i = 0; i < 500; i++) {
      CHECK(d[i] == 0.0);
      d[i] = i + 0.5;
    }
    mpk_array_free(a);
  }
}

static void test_null_handles(void) {
  CHECK(mpk_array_data(NULL) == NULL);
  CHECK_EQ(mpk_array_len(NULL), 0);
  CHECK_EQ(mpk_array_type(NULL), MPK_CHAR);
  CHECK_RC(mpk_array_lock(NULL), MPK_EINVAL);
  CHECK_RC(mpk_array_unlock(NULL), MPK_EINVAL);
  CHECK_EQ(mpk_array_load(NULL, 0), 0);
  mpk_array_store(NULL, 0, 5);
  CHECK_EQ(mpk_array_fetch_add(NULL, 0, 5), 0);
  long e = 0;
  CHECK_RC(mpk_array_compare_exchange(NULL, 0, &e, 1), MPK_EINVAL);
  mpk_array_free(NULL);
  /* a pointer that is not an array (not in the heap, or not one of ours) */
  long not_array[32] = {0};
  CHECK_RC(mpk_array_lock((mpk_array_t *)not_array), MPK_EINVAL);
  CHECK_EQ(mpk_array_len((mpk_array_t *)not_array), 0);
  void *raw = mpk_shm_calloc(1, 256);
  CHECK_RC(mpk_array_lock((mpk_array_t *)raw), MPK_EINVAL);
  CHECK(mpk_array_data((mpk_array_t *)raw) == NULL);
  mpk_shm_free(raw);
}

static void test_lock_errors(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_INT, 4, 1));
  CHECK_RC(mpk_array_unlock(a), MPK_EPERM); /* not held */
  CHECK_OK(mpk_array_lock(a));
  CHECK_RC(mpk_array_lock(a), MPK_EDEADLK); /* held by us already */
  CHECK_OK(mpk_array_unlock(a));
  CHECK_RC(mpk_array_unlock(a), MPK_EPERM);
  CHECK_OK(mpk_array_lock(a));
  CHECK_OK(mpk_array_unlock(a));
  mpk_array_free(a);
  CHECK_OK(mpk_array_new(&a, MPK_INT, 4, 0));
  CHECK_RC(mpk_array_lock(a), MPK_ENOTSUP);
  CHECK_RC(mpk_array_unlock(a), MPK_ENOTSUP);
  mpk_array_free(a);
}

static void *unlock_from_thread(void *arg) {
  return (void *)(intptr_t)mpk_array_unlock(arg);
}

static void test_unlock_by_other_thread(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 1, 1));
  CHECK_OK(mpk_array_lock(a));
  pthread_t t;
  void *rc;
  CHECK(pthread_create(&t, NULL, unlock_from_thread, a) == 0);
  CHECK(pthread_join(t, &rc) == 0);
  CHECK_EQ((intptr_t)rc, MPK_EPERM);
  CHECK_OK(mpk_array_unlock(a));
  mpk_array_free(a);
}

static void test_atomics_long(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 3, 0));
  long *d = mpk_array_data(a);
  CHECK_EQ(mpk_array_load(a, 2), 0);
  mpk_array_store(a, 2, LONG_MIN);
  CHECK_EQ(d[2], LONG_MIN);
  CHECK_EQ(mpk_array_load(a, 2), LONG_MIN);
  CHECK_EQ(mpk_array_fetch_add(a, 0, 5), 0);
  CHECK_EQ(mpk_array_fetch_add(a, 0, -7), 5);
  CHECK_EQ(mpk_array_load(a, 0), -2);
  long e = 3;
  CHECK_EQ(mpk_array_compare_exchange(a, 0, &e, 10), 0); /* mismatch */
  CHECK_EQ(e, -2);                                       /* current value */
  CHECK_EQ(mpk_array_load(a, 0), -2);                    /* unchanged */
  CHECK_EQ(mpk_array_compare_exchange(a, 0, &e, 10), 1);
  CHECK_EQ(e, -2);
  CHECK_EQ(d[0], 10);
  CHECK_EQ(d[1], 0); /* neighbours untouched */
  mpk_array_free(a);
}

static void test_atomics_int_narrowing(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_INT, 2, 1));
  int *d = mpk_array_data(a);
  mpk_array_store(a, 0, 0x100000005L); /* narrowed modulo 2^32 */
  CHECK_EQ(d[0], 5);
  mpk_array_store(a, 0, -3);
  CHECK_EQ(mpk_array_load(a, 0), -3); /* sign-extended back */
  mpk_array_store(a, 1, INT_MAX);
  CHECK_EQ(mpk_array_fetch_add(a, 1, 1), INT_MAX);
  CHECK_EQ(d[1], INT_MIN); /* wraps like every atomic int */
  long e = -3;
  CHECK_EQ(mpk_array_compare_exchange(a, 0, &e, 40), 1);
  CHECK_EQ(d[0], 40);
  e = 40L + (1L << 32); /* no int equals it */
  CHECK_EQ(mpk_array_compare_exchange(a, 0, &e, 7), 0);
  CHECK_EQ(e, 40);
  CHECK_EQ(d[0], 40);
  mpk_array_free(a);
}

static void test_atomics_size_widening(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_SIZE, 1, 0));
  size_t *d = mpk_array_data(a);
  mpk_array_store(a, 0, -1);
  CHECK(d[0] == SIZE_MAX);
  CHECK_EQ(mpk_array_load(a, 0), -1);
  CHECK_EQ(mpk_array_fetch_add(a, 0, 2), -1);
  CHECK(d[0] == 1);
  CHECK_EQ(mpk_array_fetch_add(a, 0, -1), 1); /* a decrement */
  CHECK(d[0] == 0);
  d[0] = (size_t)1 << 40;
  CHECK_EQ(mpk_array_load(a, 0), 1L << 40);
  long e = 1L << 40;
  CHECK_EQ(mpk_array_compare_exchange(a, 0, &e, 9), 1);
  CHECK(d[0] == 9);
  e = 8;
  CHECK_EQ(mpk_array_compare_exchange(a, 0, &e, 1), 0);
  CHECK_EQ(e, 9);
  mpk_array_free(a);
}

/* Atomics on a non-integer type, out of range or with NULL expected: the
   documented "no effect" results. */
static void test_atomics_bad_input(void) {
  mpk_type bad[] = {MPK_CHAR, MPK_FLOAT, MPK_DOUBLE};
  for (size_t t = 0; t < 3; t++) {
    mpk_array_t *a;
    CHECK_OK(mpk_array_new(&a, bad[t], 4, 0));
    unsigned char *d = mpk_array_data(a);
    memset(d, 0x11, 4);
    CHECK_EQ(mpk_array_load(a, 0), 0);
    mpk_array_store(a, 0, 99);
    CHECK_EQ(mpk_array_fetch_add(a, 0, 99), 0);
    CHECK(d[0] == 0x11 && d[1] == 0x11 && d[2] == 0x11 && d[3] == 0x11);
    long e = 0;
    CHECK_RC(mpk_array_compare_exchange(a, 0, &e, 1), MPK_EINVAL);
    mpk_array_free(a);
  }
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 4, 0));
  long *d = mpk_array_data(a);
  mpk_array_store(a, 4, 1); /* i == len */
  CHECK_EQ(mpk_array_fetch_add(a, SIZE_MAX, 1), 0);
  CHECK_EQ(mpk_array_load(a, 4), 0);
  long e = 0;
  CHECK_RC(mpk_array_compare_exchange(a, 4, &e, 1), MPK_EINVAL);
  CHECK_RC(mpk_array_compare_exchange(a, 0, NULL, 1), MPK_EINVAL);
  CHECK(d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == 0);
  mpk_array_free(a);
}

static void test_free_twice_is_ignored(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 1, 1));
  mpk_shm_stats_t s0, s1;
  CHECK_OK(mpk_shm_stats(&s0));
  mpk_array_free(a);
  CHECK_RC(mpk_array_lock(a), MPK_EINVAL); /* no longer an array */
  mpk_array_free(a);
  CHECK_OK(mpk_shm_stats(&s1));
  CHECK_EQ(s1.frees, s0.frees + 1);
}

int main(void) {
  check_watchdog(30);
  CHECK_RUN(test_new_errors);
  CHECK_RUN(test_new_every_type);
  CHECK_RUN(test_zeroed_after_reuse);
  CHECK_RUN(test_null_handles);
  CHECK_RUN(test_lock_errors);
  CHECK_RUN(test_unlock_by_other_thread);
  CHECK_RUN(test_atomics_long);
  CHECK_RUN(test_atomics_int_narrowing);
  CHECK_RUN(test_atomics_size_widening);
  CHECK_RUN(test_atomics_bad_input);
  CHECK_RUN(test_free_twice_is_ignored);
  return check_done();
}
