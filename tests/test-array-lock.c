/* array.lock: an Array's lock across processes: mutual exclusion,
   ownership (MPK_EPERM), and a holder that dies (MPK_EOWNERDEAD). */
#include <stdatomic.h>

#include "check.h"
#include "internal/futex.h"
#include "internal/shm.h"
#include "mpk/shm.h"

static mpk_array_t *arr; /* MPK_INT x 2, locked; [1] is a futex word */

static _Atomic uint32_t *flag(void) {
  return (_Atomic uint32_t *)((int *)mpk_array_data(arr) + 1);
}

static void wait_flag(uint32_t want) {
  mpk__deadline d;
  CHECK_OK(mpk__deadline_init(&d, CHECK_HANG_S));
  uint32_t v;
  while ((v = atomic_load(flag())) != want)
    CHECK_OK(mpk__futex_wait(flag(), v, &d));
}

static void set_flag(uint32_t v) {
  atomic_store(flag(), v);
  mpk__futex_wake(flag(), INT32_MAX);
}

/* Takes the lock, says so, then either exits or waits to be killed. */
static int holder(void *arg) {
  int how = *(int *)arg;
  CHECK_OK(mpk_array_lock(arr));
  ((int *)mpk_array_data(arr))[0] = 1234;
  set_flag(1);
  if (how == 0)
    _exit(0); /* dies holding it */
  for (;;)
    pause(); /* until SIGKILL */
}

static void test_exit_while_holding(void) {
  set_flag(0);
  int how = 0;
  check_wait_ok(check_fork(holder, &how), 10);
  CHECK_RC(mpk_array_lock(arr), MPK_EOWNERDEAD); /* held now */
  CHECK_EQ(((int *)mpk_array_data(arr))[0], 1234);
  CHECK_RC(mpk_array_lock(arr), MPK_EDEADLK);
  CHECK_OK(mpk_array_unlock(arr));
  CHECK_OK(mpk_array_lock(arr)); /* consistent again: a plain OK */
  CHECK_OK(mpk_array_unlock(arr));
}

static void test_killed_while_holding(void) {
  set_flag(0);
  int how = 1;
  pid_t pid = check_fork(holder, &how);
  wait_flag(1);
  /* held by another process: we may not release it */
  CHECK_RC(mpk_array_unlock(arr), MPK_EPERM);
  CHECK(kill(pid, SIGKILL) == 0);
  int st = check_wait(pid, 10);
  CHECK(WIFSIGNALED(st));
  CHECK_RC(mpk_array_lock(arr), MPK_EOWNERDEAD);
  CHECK_OK(mpk_array_unlock(arr));
}

/* A child blocked in lock() while we hold it gets it, with MPK_OK, when we
   unlock, and sees what we wrote under the lock. */
static int waiter(void *arg) {
  (void)arg;
  set_flag(2);
  CHECK_OK(mpk_array_lock(arr)); /* blocks until the parent unlocks */
  CHECK_EQ(((int *)mpk_array_data(arr))[0], 777);
  CHECK_OK(mpk_array_unlock(arr));
  return 0;
}

static void test_blocking_handoff(void) {
  set_flag(0);
  CHECK_OK(mpk_array_lock(arr));
  pid_t pid = check_fork(waiter, NULL);
  wait_flag(2);
  check_sleep(0.05); /* let it block (the test passes either way) */
  ((int *)mpk_array_data(arr))[0] = 777;
  CHECK_OK(mpk_array_unlock(arr));
  check_wait_ok(pid, 10);
}

/* The holder is killed while another process waits in lock(): the waiter
   is released with MPK_EOWNERDEAD, never stuck. */
static int dead_waiter(void *arg) {
  (void)arg;
  CHECK_RC(mpk_array_lock(arr), MPK_EOWNERDEAD);
  CHECK_OK(mpk_array_unlock(arr));
  return 0;
}

static void test_waiter_released_on_death(void) {
  set_flag(0);
  int how = 1;
  pid_t h = check_fork(holder, &how);
  wait_flag(1);
  pid_t w = check_fork(dead_waiter, NULL);
  check_sleep(0.05);
  CHECK(kill(h, SIGKILL) == 0);
  check_wait(h, 10);
  check_wait_ok(w, 10);
  CHECK_OK(mpk_array_lock(arr));
  CHECK_OK(mpk_array_unlock(arr));
}

int main(void) {
  check_watchdog(60);
  CHECK_OK(mpk__shm_init());
  CHECK_OK(mpk_array_new(&arr, MPK_INT, 2, 1));
  CHECK_RUN(test_exit_while_holding);
  CHECK_RUN(test_killed_while_holding);
  CHECK_RUN(test_blocking_handoff);
  CHECK_RUN(test_waiter_released_on_death);
  mpk_array_free(arr);
  return check_done();
}
