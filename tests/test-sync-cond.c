/* sync.cond: Condition across processes - errors, timeouts, notify,
 * notify_all, and a producer/consumer pair using wait_for. */
#include "test-sync-util.h"

static int always_false(void *arg) {
  (void)arg;
  return 0;
}
static int always_true(void *arg) {
  (void)arg;
  return 1;
}

static void test_bad_input(void) {
  mpk_cond_t *c;
  CHECK_RC(mpk_cond_new(NULL, NULL), MPK_EINVAL);
  mpk_event_t *e;
  CHECK_OK(mpk_event_new(&e));
  CHECK_RC(mpk_cond_new(&c, (mpk_lock_t *)(void *)e), MPK_EINVAL);
  mpk_event_free(e);
  CHECK_RC(mpk_cond_acquire(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_cond_release(NULL), MPK_EINVAL);
  CHECK_RC(mpk_cond_wait(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_cond_wait_for(NULL, always_true, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_cond_notify(NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_cond_notify_all(NULL), MPK_EINVAL);
  CHECK(mpk_cond_lock(NULL) == NULL);
  mpk_cond_free(NULL);
  CHECK_OK(mpk_cond_new(&c, NULL));
  CHECK_OK(mpk_cond_acquire(c, 0));
  CHECK_RC(mpk_cond_wait(c, NAN), MPK_EINVAL);
  CHECK_RC(mpk_cond_wait_for(c, NULL, NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_cond_wait_for(c, always_true, NULL, NAN), MPK_EINVAL);
  CHECK_RC(mpk_cond_notify(c, -1), MPK_EINVAL);
  CHECK_EQ(mpk_lock_locked(mpk_cond_lock(c)), 1); /* still held */
  CHECK_OK(mpk_cond_release(c));
  mpk_cond_free(c);
  CHECK_RC(mpk_cond_notify_all(c), MPK_EINVAL); /* freed */
}

/* Every call that needs the lock is MPK_EPERM without it. */
static void test_not_holding(void) {
  mpk_cond_t *c;
  CHECK_OK(mpk_cond_new(&c, NULL));
  CHECK_RC(mpk_cond_release(c), MPK_EPERM);
  CHECK_RC(mpk_cond_wait(c, 0), MPK_EPERM);
  CHECK_RC(mpk_cond_wait(c, MPK_FOREVER), MPK_EPERM);
  CHECK_RC(mpk_cond_wait_for(c, always_true, NULL, 0), MPK_EPERM);
  CHECK_RC(mpk_cond_notify(c, 1), MPK_EPERM);
  CHECK_RC(mpk_cond_notify(c, 0), MPK_EPERM);
  CHECK_RC(mpk_cond_notify_all(c), MPK_EPERM);
  CHECK_EQ(mpk_lock_locked(mpk_cond_lock(c)), 0);
  mpk_cond_free(c);
}

static void test_own_and_shared_lock(void) {
  mpk_cond_t *c;
  CHECK_OK(mpk_cond_new(&c, NULL));
  mpk_lock_t *own = mpk_cond_lock(c);
  CHECK(own != NULL);
  CHECK_OK(mpk_cond_acquire(c, MPK_FOREVER));
  CHECK_EQ(mpk_lock_locked(own), 1);
  CHECK_RC(mpk_cond_acquire(c, 0), MPK_EDEADLK);
  CHECK_OK(mpk_cond_notify(c, 1)); /* nobody waits: fine */
  CHECK_OK(mpk_cond_notify(c, 0));
  CHECK_OK(mpk_cond_notify_all(c));
  CHECK_OK(mpk_cond_release(c));
  mpk_cond_free(c);

  /* A caller's lock: shared by two Conditions, not freed with them. */
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  mpk_cond_t *c1, *c2;
  CHECK_OK(mpk_cond_new(&c1, l));
  CHECK_OK(mpk_cond_new(&c2, l));
  CHECK(mpk_cond_lock(c1) == l && mpk_cond_lock(c2) == l);
  CHECK_OK(mpk_lock_acquire(l, 0));
  CHECK_OK(mpk_cond_notify(c1, 1)); /* held through the other handle */
  CHECK_RC(mpk_cond_wait(c2, 0), MPK_ETIMEDOUT);
  CHECK_OK(mpk_cond_release(c2));
  CHECK_EQ(mpk_lock_locked(l), 0);
  mpk_cond_free(c1);
  mpk_cond_free(c2);
  CHECK_OK(mpk_lock_acquire(l, 0)); /* still alive */
  CHECK_OK(mpk_lock_release(l));
  mpk_lock_free(l);
}

static void test_timeouts_keep_lock(void) {
  mpk_cond_t *c;
  CHECK_OK(mpk_cond_new(&c, NULL));
  CHECK_OK(mpk_cond_acquire(c, 0));
  CHECK_RC(mpk_cond_wait(c, 0), MPK_ETIMEDOUT);
  CHECK_EQ(mpk_lock_locked(mpk_cond_lock(c)), 1);
  double t0 = check_now();
  CHECK_RC(mpk_cond_wait(c, 0.15), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.15 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
  CHECK_RC(mpk_cond_acquire(c, 0), MPK_EDEADLK); /* held again */
  t0 = check_now();
  CHECK_RC(mpk_cond_wait_for(c, always_false, NULL, 0.1), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.1);
  CHECK_RC(mpk_cond_wait_for(c, always_false, NULL, 0), MPK_ETIMEDOUT);
  CHECK_OK(mpk_cond_wait_for(c, always_true, NULL, 0));
  CHECK_OK(mpk_cond_wait_for(c, always_true, NULL, MPK_FOREVER));
  CHECK_OK(mpk_cond_release(c));
  CHECK_RC(mpk_cond_release(c), MPK_EPERM);
  mpk_cond_free(c);
}

/* ---- producer / consumer across processes ------------------------------ */

enum { CAP = 4, ITEMS = 2000 };

struct pc {
  mpk_cond_t *c;
  long ring[CAP];
  int head, tail, n; /* guarded by the Condition's lock */
};

static int not_full(void *arg) {
  struct pc *q = arg;
  return q->n < CAP;
}
static int not_empty(void *arg) {
  struct pc *q = arg;
  return q->n > 0;
}

static int producer(void *arg) {
  struct pc *q = arg;
  for (long i = 1; i <= ITEMS; i++) {
    CHECK_OK(mpk_cond_acquire(q->c, MPK_FOREVER));
    CHECK_OK(mpk_cond_wait_for(q->c, not_full, q, CHECK_HANG_S));
    q->ring[q->tail] = i;
    q->tail = (q->tail + 1) % CAP;
    q->n++;
    CHECK_OK(mpk_cond_notify(q->c, 1));
    CHECK_OK(mpk_cond_release(q->c));
  }
  return 0;
}

static void test_producer_consumer(void) {
  struct pc *q = shared(sizeof *q);
  CHECK_OK(mpk_cond_new(&q->c, NULL));
  pid_t p = check_fork(producer, q);
  long sum = 0, expect = 1;
  for (int i = 0; i < ITEMS; i++) {
    CHECK_OK(mpk_cond_acquire(q->c, MPK_FOREVER));
    CHECK_OK(mpk_cond_wait_for(q->c, not_empty, q, CHECK_HANG_S));
    long v = q->ring[q->head];
    q->head = (q->head + 1) % CAP;
    q->n--;
    CHECK_OK(mpk_cond_notify(q->c, 1));
    CHECK_OK(mpk_cond_release(q->c));
    CHECK_EQ(v, expect); /* in order, none lost, none twice */
    expect++;
    sum += v;
  }
  check_wait_ok(p, 30);
  CHECK_EQ(sum, (long)ITEMS * (ITEMS + 1) / 2);
  CHECK_EQ(q->n, 0);
  mpk_cond_free(q->c);
  mpk_shm_free(q);
}

/* ---- notify(1) and notify_all reach sleepers in other processes --------- */

struct tickets {
  mpk_cond_t *c;
  int tickets; /* guarded by the lock */
  int go;      /* guarded by the lock */
  _Atomic int done;
};

static int has_ticket(void *arg) {
  return ((struct tickets *)arg)->tickets > 0;
}

static int child_take_ticket(void *arg) {
  struct tickets *t = arg;
  CHECK_OK(mpk_cond_acquire(t->c, MPK_FOREVER));
  CHECK_OK(mpk_cond_wait_for(t->c, has_ticket, t, CHECK_HANG_S));
  t->tickets--;
  atomic_fetch_add(&t->done, 1);
  CHECK_OK(mpk_cond_release(t->c));
  return 0;
}

static void await_done(_Atomic int *done, int n) {
  double end = check_now() + CHECK_HANG_S;
  while (atomic_load(done) < n)
    CHECK_MSG(check_now() < end, "only %d of %d woke", atomic_load(done), n);
}

static void test_notify_one(void) {
  struct tickets *t = shared(sizeof *t);
  CHECK_OK(mpk_cond_new(&t->c, NULL));
  pid_t p[2];
  for (int i = 0; i < 2; i++)
    p[i] = check_fork(child_take_ticket, t);
  for (int i = 0; i < 2; i++)
    await_futex_sleep(p[i], p[i]);
  for (int round = 1; round <= 2; round++) {
    CHECK_OK(mpk_cond_acquire(t->c, MPK_FOREVER));
    t->tickets = 1;
    CHECK_OK(mpk_cond_notify(t->c, 1));
    CHECK_OK(mpk_cond_release(t->c));
    await_done(&t->done, round);
    check_sleep(0.02);
    CHECK_EQ(atomic_load(&t->done), round); /* one ticket, one taker */
  }
  for (int i = 0; i < 2; i++)
    check_wait_ok(p[i], 10);
  mpk_cond_free(t->c);
  mpk_shm_free(t);
}

static int go_set(void *arg) {
  return ((struct tickets *)arg)->go;
}

static int child_wait_go(void *arg) {
  struct tickets *t = arg;
  CHECK_OK(mpk_cond_acquire(t->c, MPK_FOREVER));
  /* plain wait in a loop: the predicate re-check that wait_for does */
  while (!t->go)
    CHECK(mpk_cond_wait(t->c, CHECK_HANG_S) == MPK_OK);
  atomic_fetch_add(&t->done, 1);
  CHECK_OK(mpk_cond_release(t->c));
  return 0;
}

static void test_notify_all(void) {
  struct tickets *t = shared(sizeof *t);
  CHECK_OK(mpk_cond_new(&t->c, NULL));
  pid_t p[3];
  for (int i = 0; i < 3; i++)
    p[i] = check_fork(i == 2 ? child_take_ticket : child_wait_go, t);
  for (int i = 0; i < 3; i++)
    await_futex_sleep(p[i], p[i]);
  CHECK_OK(mpk_cond_acquire(t->c, MPK_FOREVER));
  t->go = 1;
  t->tickets = 1;
  CHECK_OK(mpk_cond_notify_all(t->c));
  CHECK_OK(mpk_cond_release(t->c));
  for (int i = 0; i < 3; i++)
    check_wait_ok(p[i], 10);
  CHECK_EQ(atomic_load(&t->done), 3);
  CHECK_OK(mpk_cond_acquire(t->c, 0));
  CHECK(go_set(t));
  CHECK_OK(mpk_cond_release(t->c));
  mpk_cond_free(t->c);
  mpk_shm_free(t);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_input);
  CHECK_RUN(test_not_holding);
  CHECK_RUN(test_own_and_shared_lock);
  CHECK_RUN(test_timeouts_keep_lock);
  CHECK_RUN(test_producer_consumer);
  CHECK_RUN(test_notify_one);
  CHECK_RUN(test_notify_all);
  return check_done();
}
