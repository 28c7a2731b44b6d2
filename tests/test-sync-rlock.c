/* sync.rlock: RLock across processes - recursion, ownership, errors. */
#include "internal/sync.h"
#include "test-sync-util.h"

static void test_bad_input(void) {
  CHECK_RC(mpk_rlock_new(NULL), MPK_EINVAL);
  CHECK_RC(mpk_rlock_acquire(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_rlock_release(NULL), MPK_EINVAL);
  mpk_rlock_free(NULL);
  mpk_rlock_t *r;
  CHECK_OK(mpk_rlock_new(&r));
  CHECK_RC(mpk_rlock_acquire(r, NAN), MPK_EINVAL);
  CHECK_RC(mpk_rlock_release(r), MPK_EPERM); /* NaN acquired nothing */
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l)); /* a Lock is not an RLock, and back */
  CHECK_RC(mpk_rlock_acquire((mpk_rlock_t *)(void *)l, 0), MPK_EINVAL);
  CHECK_RC(mpk_lock_acquire((mpk_lock_t *)(void *)r, 0), MPK_EINVAL);
  mpk_lock_free(l);
  mpk_rlock_free(r);
  CHECK_RC(mpk_rlock_acquire(r, 0), MPK_EINVAL); /* freed */
}

static void test_recursion(void) {
  mpk_rlock_t *r;
  CHECK_OK(mpk_rlock_new(&r));
  CHECK_RC(mpk_rlock_release(r), MPK_EPERM);
  for (int i = 0; i < 100; i++)
    CHECK_OK(mpk_rlock_acquire(r, i % 2 ? 0 : MPK_FOREVER));
  for (int i = 0; i < 100; i++)
    CHECK_OK(mpk_rlock_release(r));
  CHECK_RC(mpk_rlock_release(r), MPK_EPERM); /* one release too many */
  CHECK_OK(mpk_rlock_acquire(r, 0));
  CHECK_OK(mpk_rlock_release(r));
  mpk_rlock_free(r);
}

struct shared_rlock {
  mpk_rlock_t *r;
  _Atomic int stage;
};

static int child_non_owner(void *arg) {
  struct shared_rlock *s = arg;
  /* The parent owns it at depth 3: we can neither release nor take it. */
  CHECK_RC(mpk_rlock_release(s->r), MPK_EPERM);
  CHECK_RC(mpk_rlock_acquire(s->r, 0), MPK_ETIMEDOUT);
  double t0 = check_now();
  CHECK_RC(mpk_rlock_acquire(s->r, 0.1), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.1);
  CHECK_RC(mpk_rlock_release(s->r), MPK_EPERM);
  atomic_store(&s->stage, 1);
  /* Blocks until the parent's last release, then recursion is ours. */
  CHECK_OK(mpk_rlock_acquire(s->r, CHECK_HANG_S));
  CHECK_OK(mpk_rlock_acquire(s->r, 0));
  atomic_store(&s->stage, 2);
  flag_wait(&s->stage, 3);
  CHECK_OK(mpk_rlock_release(s->r));
  CHECK_OK(mpk_rlock_release(s->r));
  CHECK_RC(mpk_rlock_release(s->r), MPK_EPERM);
  return 0;
}

static void test_non_owner_process(void) {
  struct shared_rlock *s = shared(sizeof *s);
  CHECK_OK(mpk_rlock_new(&s->r));
  for (int i = 0; i < 3; i++)
    CHECK_OK(mpk_rlock_acquire(s->r, MPK_FOREVER));
  pid_t pid = check_fork(child_non_owner, s);
  flag_wait(&s->stage, 1);
  CHECK_OK(mpk_rlock_release(s->r));
  CHECK_OK(mpk_rlock_release(s->r));
  check_sleep(0.05);
  CHECK_EQ(atomic_load(&s->stage), 1); /* still depth 1: child waits */
  CHECK_OK(mpk_rlock_release(s->r));
  flag_wait(&s->stage, 2);
  /* Now the child owns it twice: ours to neither release nor take. */
  CHECK_RC(mpk_rlock_release(s->r), MPK_EPERM);
  CHECK_RC(mpk_rlock_acquire(s->r, 0), MPK_ETIMEDOUT);
  atomic_store(&s->stage, 3);
  check_wait_ok(pid, 10);
  CHECK_OK(mpk_rlock_acquire(s->r, 0));
  CHECK_OK(mpk_rlock_release(s->r));
  mpk_rlock_free(s->r);
  mpk_shm_free(s);
}

/* Recursion is per (process, thread): a child forked while the parent
   owned the RLock is a different owner. */
static int child_forked_while_owned(void *arg) {
  struct shared_rlock *s = arg;
  CHECK_RC(mpk_rlock_release(s->r), MPK_EPERM);
  CHECK_RC(mpk_rlock_acquire(s->r, 0), MPK_ETIMEDOUT);
  return 0;
}

static void test_fork_is_other_owner(void) {
  struct shared_rlock *s = shared(sizeof *s);
  CHECK_OK(mpk_rlock_new(&s->r));
  CHECK_OK(mpk_rlock_acquire(s->r, MPK_FOREVER));
  check_wait_ok(check_fork(child_forked_while_owned, s), 10);
  CHECK_OK(mpk_rlock_acquire(s->r, 0)); /* still ours, depth 2 */
  CHECK_OK(mpk_rlock_release(s->r));
  CHECK_OK(mpk_rlock_release(s->r));
  CHECK_RC(mpk_rlock_release(s->r), MPK_EPERM);
  mpk_rlock_free(s->r);
  mpk_shm_free(s);
}

/* The depth limit: MPK_EOVERFLOW, nothing changed. */
static void test_depth_overflow(void) {
  mpk_rlock_t *r;
  CHECK_OK(mpk_rlock_new(&r));
  CHECK_OK(mpk_rlock_acquire(r, 0));
  r->count = UINT32_MAX - 1; /* as if acquired that often */
  CHECK_OK(mpk_rlock_acquire(r, 0));
  CHECK_EQ(r->count, UINT32_MAX);
  CHECK_RC(mpk_rlock_acquire(r, 0), MPK_EOVERFLOW);
  CHECK_RC(mpk_rlock_acquire(r, MPK_FOREVER), MPK_EOVERFLOW);
  CHECK_EQ(r->count, UINT32_MAX);
  CHECK_OK(mpk_rlock_release(r));
  CHECK_EQ(r->count, UINT32_MAX - 1);
  r->count = 1;
  CHECK_OK(mpk_rlock_release(r));
  CHECK_RC(mpk_rlock_release(r), MPK_EPERM);
  mpk_rlock_free(r);
}

enum { NPROC = 3, ITERS = 5000 };

struct counter {
  mpk_rlock_t *r;
  long value;
};

static int child_nested_increment(void *arg) {
  struct counter *c = arg;
  for (int i = 0; i < ITERS; i++) {
    CHECK_OK(mpk_rlock_acquire(c->r, MPK_FOREVER));
    CHECK_OK(mpk_rlock_acquire(c->r, MPK_FOREVER));
    long v = c->value;
    CHECK_OK(mpk_rlock_release(c->r));
    if ((i & 127) == 0)
      sched_yield();
    c->value = v + 1; /* still held at depth 1 */
    CHECK_OK(mpk_rlock_release(c->r));
  }
  return 0;
}

static void test_mutual_exclusion(void) {
  struct counter *c = shared(sizeof *c);
  CHECK_OK(mpk_rlock_new(&c->r));
  pid_t pids[NPROC];
  for (int i = 0; i < NPROC; i++)
    pids[i] = check_fork(child_nested_increment, c);
  for (int i = 0; i < NPROC; i++)
    check_wait_ok(pids[i], 60);
  CHECK_EQ(c->value, (long)NPROC * ITERS);
  mpk_rlock_free(c->r);
  mpk_shm_free(c);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_input);
  CHECK_RUN(test_recursion);
  CHECK_RUN(test_non_owner_process);
  CHECK_RUN(test_fork_is_other_owner);
  CHECK_RUN(test_depth_overflow);
  CHECK_RUN(test_mutual_exclusion);
  return check_done();
}
