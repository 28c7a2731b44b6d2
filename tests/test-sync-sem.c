/* sync.sem: Semaphore and BoundedSemaphore across processes. */
#include <limits.h>

#include "test-sync-util.h"

static void test_bad_input(void) {
  mpk_sem_t *s;
  CHECK_RC(mpk_sem_new(NULL, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_sem_new(&s, (unsigned)INT_MAX + 1u, 0), MPK_EINVAL);
  CHECK_RC(mpk_sem_new(&s, 1, 2), MPK_EINVAL);
  CHECK_RC(mpk_sem_new(&s, 1, -1), MPK_EINVAL);
  CHECK_RC(mpk_sem_acquire(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_sem_release(NULL), MPK_EINVAL);
  CHECK_RC(mpk_sem_value(NULL), MPK_EINVAL);
  mpk_sem_free(NULL);
  CHECK_OK(mpk_sem_new(&s, 1, 0));
  CHECK_RC(mpk_sem_acquire(s, NAN), MPK_EINVAL);
  CHECK_EQ(mpk_sem_value(s), 1); /* unchanged */
  mpk_sem_free(s);
  CHECK_RC(mpk_sem_value(s), MPK_EINVAL); /* freed */
}

static void test_counting(void) {
  mpk_sem_t *s;
  CHECK_OK(mpk_sem_new(&s, 3, 0));
  CHECK_EQ(mpk_sem_value(s), 3);
  CHECK_OK(mpk_sem_acquire(s, 0));
  CHECK_OK(mpk_sem_acquire(s, MPK_FOREVER));
  CHECK_OK(mpk_sem_acquire(s, 1));
  CHECK_EQ(mpk_sem_value(s), 0);
  CHECK_RC(mpk_sem_acquire(s, 0), MPK_ETIMEDOUT);
  double t0 = check_now();
  CHECK_RC(mpk_sem_acquire(s, 0.15), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.15 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
  CHECK_EQ(mpk_sem_value(s), 0);
  /* Unbounded: releases may pass the initial value. */
  for (int i = 0; i < 5; i++)
    CHECK_OK(mpk_sem_release(s));
  CHECK_EQ(mpk_sem_value(s), 5);
  mpk_sem_free(s);
  /* A zero semaphore starts empty. */
  CHECK_OK(mpk_sem_new(&s, 0, 0));
  CHECK_RC(mpk_sem_acquire(s, 0), MPK_ETIMEDOUT);
  CHECK_OK(mpk_sem_release(s));
  CHECK_OK(mpk_sem_acquire(s, 0));
  mpk_sem_free(s);
  /* The value is an int: INT_MAX is the ceiling of any semaphore. */
  CHECK_OK(mpk_sem_new(&s, INT_MAX, 0));
  CHECK_RC(mpk_sem_release(s), MPK_EOVERFLOW);
  CHECK_ERRMSG("the value is at INT_MAX");
  CHECK_EQ(mpk_sem_value(s), INT_MAX);
  CHECK_OK(mpk_sem_acquire(s, 0));
  CHECK_OK(mpk_sem_release(s));
  mpk_sem_free(s);
}

static void test_bounded(void) {
  mpk_sem_t *s;
  CHECK_OK(mpk_sem_new(&s, 2, 1));
  CHECK_RC(mpk_sem_release(s), MPK_EOVERFLOW); /* already at 2 */
  CHECK_ERRMSG("bounded semaphore released above its initial value");
  CHECK_EQ(mpk_sem_value(s), 2);
  CHECK_OK(mpk_sem_acquire(s, 0));
  CHECK_OK(mpk_sem_release(s));
  CHECK_RC(mpk_sem_release(s), MPK_EOVERFLOW);
  CHECK_EQ(mpk_sem_value(s), 2);
  CHECK_OK(mpk_sem_acquire(s, 0));
  CHECK_OK(mpk_sem_acquire(s, 0));
  CHECK_RC(mpk_sem_acquire(s, 0), MPK_ETIMEDOUT);
  CHECK_OK(mpk_sem_release(s));
  CHECK_OK(mpk_sem_release(s));
  CHECK_RC(mpk_sem_release(s), MPK_EOVERFLOW);
  mpk_sem_free(s);
  /* Bounded at 0: every release overflows. */
  CHECK_OK(mpk_sem_new(&s, 0, 1));
  CHECK_RC(mpk_sem_release(s), MPK_EOVERFLOW);
  CHECK_EQ(mpk_sem_value(s), 0);
  mpk_sem_free(s);
}

struct wake {
  mpk_sem_t *s;
  _Atomic int got;
};

static int child_acquire(void *arg) {
  struct wake *w = arg;
  CHECK_OK(mpk_sem_acquire(w->s, CHECK_HANG_S));
  atomic_fetch_add(&w->got, 1);
  return 0;
}

/* Each release in the parent wakes exactly one sleeping child process. */
static void test_release_wakes_sleepers(void) {
  struct wake *w = shared(sizeof *w);
  CHECK_OK(mpk_sem_new(&w->s, 0, 0));
  pid_t a = check_fork(child_acquire, w);
  pid_t b = check_fork(child_acquire, w);
  await_futex_sleep(a, a);
  await_futex_sleep(b, b);
  CHECK_EQ(atomic_load(&w->got), 0);
  CHECK_OK(mpk_sem_release(w->s));
  double end = check_now() + CHECK_HANG_S;
  while (atomic_load(&w->got) < 1 && check_now() < end)
    check_sleep(0.001);
  check_sleep(0.05);
  CHECK_EQ(atomic_load(&w->got), 1); /* one unit, one waiter */
  CHECK_EQ(mpk_sem_value(w->s), 0);
  CHECK_OK(mpk_sem_release(w->s));
  check_wait_ok(a, 10);
  check_wait_ok(b, 10);
  CHECK_EQ(atomic_load(&w->got), 2);
  CHECK_EQ(mpk_sem_value(w->s), 0);
  mpk_sem_free(w->s);
  mpk_shm_free(w);
}

enum { NPROC = 4, ROUNDS = 300, SLOTS = 2 };

struct limit {
  mpk_sem_t *s;
  _Atomic int inside, max_inside;
};

static int child_limited(void *arg) {
  struct limit *l = arg;
  for (int i = 0; i < ROUNDS; i++) {
    CHECK_OK(mpk_sem_acquire(l->s, CHECK_HANG_S));
    int now = atomic_fetch_add(&l->inside, 1) + 1;
    int m = atomic_load(&l->max_inside);
    while (now > m && !atomic_compare_exchange_weak(&l->max_inside, &m, now)) {
    }
    if (i % 16 == 0)
      sched_yield();
    atomic_fetch_sub(&l->inside, 1);
    CHECK_OK(mpk_sem_release(l->s));
  }
  return 0;
}

/* A BoundedSemaphore(2) lets at most 2 of 4 processes in at a time, and
   every unit comes back. */
static void test_limits_concurrency(void) {
  struct limit *l = shared(sizeof *l);
  CHECK_OK(mpk_sem_new(&l->s, SLOTS, 1));
  pid_t pids[NPROC];
  for (int i = 0; i < NPROC; i++)
    pids[i] = check_fork(child_limited, l);
  for (int i = 0; i < NPROC; i++)
    check_wait_ok(pids[i], 60);
  CHECK(atomic_load(&l->max_inside) >= 1);
  CHECK(atomic_load(&l->max_inside) <= SLOTS);
  CHECK_EQ(mpk_sem_value(l->s), SLOTS);
  CHECK_RC(mpk_sem_release(l->s), MPK_EOVERFLOW);
  mpk_sem_free(l->s);
  mpk_shm_free(l);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_input);
  CHECK_RUN(test_counting);
  CHECK_RUN(test_bounded);
  CHECK_RUN(test_release_wakes_sleepers);
  CHECK_RUN(test_limits_concurrency);
  return check_done();
}
