/* sync.event: Event across processes. */
#include "test-sync-util.h"

static void test_bad_input(void) {
  CHECK_RC(mpk_event_new(NULL), MPK_EINVAL);
  CHECK_RC(mpk_event_set(NULL), MPK_EINVAL);
  CHECK_RC(mpk_event_clear(NULL), MPK_EINVAL);
  CHECK_RC(mpk_event_is_set(NULL), MPK_EINVAL);
  CHECK_RC(mpk_event_wait(NULL, 0), MPK_EINVAL);
  mpk_event_free(NULL);
  mpk_event_t *e;
  CHECK_OK(mpk_event_new(&e));
  CHECK_RC(mpk_event_wait(e, NAN), MPK_EINVAL);
  CHECK_OK(mpk_event_set(e));
  CHECK_RC(mpk_event_wait(e, NAN), MPK_EINVAL); /* even when set */
  mpk_event_free(e);
  CHECK_RC(mpk_event_is_set(e), MPK_EINVAL); /* freed */
}

static void test_flag(void) {
  mpk_event_t *e;
  CHECK_OK(mpk_event_new(&e));
  CHECK_EQ(mpk_event_is_set(e), 0);
  CHECK_RC(mpk_event_wait(e, 0), MPK_ETIMEDOUT);
  double t0 = check_now();
  CHECK_RC(mpk_event_wait(e, 0.15), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.15 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
  CHECK_OK(mpk_event_set(e));
  CHECK_EQ(mpk_event_is_set(e), 1);
  CHECK_OK(mpk_event_set(e)); /* idempotent */
  CHECK_EQ(mpk_event_is_set(e), 1);
  CHECK_OK(mpk_event_wait(e, 0));
  CHECK_OK(mpk_event_wait(e, MPK_FOREVER));
  CHECK_OK(mpk_event_clear(e));
  CHECK_EQ(mpk_event_is_set(e), 0);
  CHECK_OK(mpk_event_clear(e));
  CHECK_EQ(mpk_event_is_set(e), 0);
  CHECK_RC(mpk_event_wait(e, 0.01), MPK_ETIMEDOUT);
  mpk_event_free(e);
}

struct ev {
  mpk_event_t *e;
  _Atomic int woke;
  long payload; /* plain: published by set, read after wait */
};

static int child_wait(void *arg) {
  struct ev *v = arg;
  CHECK_OK(mpk_event_wait(v->e, CHECK_HANG_S));
  CHECK_EQ(v->payload, 42);
  atomic_fetch_add(&v->woke, 1);
  return 0;
}

/* Three processes sleep in wait; one set in the parent wakes them all, and
   they see what the parent wrote before set. */
static void test_cross_process_set(void) {
  struct ev *v = shared(sizeof *v);
  CHECK_OK(mpk_event_new(&v->e));
  pid_t p[3];
  for (int i = 0; i < 3; i++)
    p[i] = check_fork(child_wait, v);
  for (int i = 0; i < 3; i++)
    await_futex_sleep(p[i], p[i]);
  CHECK_EQ(atomic_load(&v->woke), 0);
  v->payload = 42;
  CHECK_OK(mpk_event_set(v->e));
  for (int i = 0; i < 3; i++)
    check_wait_ok(p[i], 10);
  CHECK_EQ(atomic_load(&v->woke), 3);
  mpk_event_free(v->e);
  mpk_shm_free(v);
}

static int child_set(void *arg) {
  struct ev *v = arg;
  v->payload = 42;
  CHECK_OK(mpk_event_set(v->e));
  return 0;
}

/* The other direction: the child sets, the parent was waiting. */
static void test_set_by_child(void) {
  struct ev *v = shared(sizeof *v);
  CHECK_OK(mpk_event_new(&v->e));
  pid_t p = check_fork(child_set, v);
  CHECK_OK(mpk_event_wait(v->e, CHECK_HANG_S));
  CHECK_EQ(v->payload, 42);
  check_wait_ok(p, 10);
  mpk_event_free(v->e);
  mpk_shm_free(v);
}

/* A set followed at once by a clear still releases the sleeping waiters
   (the flag was set during their wait), as in Python's threading.Event. */
static void test_pulse_wakes_sleepers(void) {
  struct ev *v = shared(sizeof *v);
  CHECK_OK(mpk_event_new(&v->e));
  pid_t p[2];
  for (int i = 0; i < 2; i++)
    p[i] = check_fork(child_wait, v);
  for (int i = 0; i < 2; i++)
    await_futex_sleep(p[i], p[i]);
  v->payload = 42;
  CHECK_OK(mpk_event_set(v->e));
  CHECK_OK(mpk_event_clear(v->e));
  for (int i = 0; i < 2; i++)
    check_wait_ok(p[i], 10);
  CHECK_EQ(atomic_load(&v->woke), 2);
  CHECK_EQ(mpk_event_is_set(v->e), 0);
  mpk_event_free(v->e);
  mpk_shm_free(v);
}

static int child_expect_timeout(void *arg) {
  struct ev *v = arg;
  CHECK_RC(mpk_event_wait(v->e, 0.2), MPK_ETIMEDOUT);
  return 0;
}

/* A waiter in another process times out when nobody sets. */
static void test_cross_process_timeout(void) {
  struct ev *v = shared(sizeof *v);
  CHECK_OK(mpk_event_new(&v->e));
  check_wait_ok(check_fork(child_expect_timeout, v), 10);
  mpk_event_free(v->e);
  mpk_shm_free(v);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_input);
  CHECK_RUN(test_flag);
  CHECK_RUN(test_cross_process_set);
  CHECK_RUN(test_set_by_child);
  CHECK_RUN(test_pulse_wakes_sleepers);
  CHECK_RUN(test_cross_process_timeout);
  return check_done();
}
