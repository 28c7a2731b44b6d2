/* sync.owner-dead: a process SIGKILLed while holding a Lock or an RLock.
 * The next acquirer (already blocked, or coming later) gets MPK_EOWNERDEAD
 * within its timeout, holds the lock, and the lock works normally after.
 * A Condition waiter whose lock's holder died gets MPK_EOWNERDEAD from the
 * re-acquire. */
#include <errno.h>
#include <pthread.h>

#include "test-sync-util.h"

/* A glibc robust, process-shared, error-checking pthread mutex, as other
   code in an mpk program may use: mpk's locks share each thread's kernel
   robust list with these. Results mapped to MPK codes. */
static int glibc_init(pthread_mutex_t *m) {
  pthread_mutexattr_t a;
  CHECK_EQ(pthread_mutexattr_init(&a), 0);
  CHECK_EQ(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED), 0);
  CHECK_EQ(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST), 0);
  CHECK_EQ(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK), 0);
  int r = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return -r;
}

static int glibc_lock(pthread_mutex_t *m) {
  int r = pthread_mutex_lock(m);
  if (r == EOWNERDEAD) {
    CHECK_EQ(pthread_mutex_consistent(m), 0);
    return MPK_EOWNERDEAD;
  }
  return -r;
}

static int glibc_unlock(pthread_mutex_t *m) {
  return -pthread_mutex_unlock(m);
}

struct victim {
  mpk_lock_t *l;
  mpk_rlock_t *r;
  mpk_cond_t *c;
  _Atomic int stage;
  _Atomic int rc;
};

static int child_hold_lock_forever(void *arg) {
  struct victim *v = arg;
  CHECK_OK(mpk_lock_acquire(v->l, MPK_FOREVER));
  atomic_store(&v->stage, 1);
  for (;;)
    pause();
}

/* The holder is killed; then we try: MPK_EOWNERDEAD at once. */
static void test_lock_holder_killed(void) {
  struct victim *v = shared(sizeof *v);
  CHECK_OK(mpk_lock_new(&v->l));
  pid_t pid = check_fork(child_hold_lock_forever, v);
  flag_wait(&v->stage, 1);
  CHECK_RC(mpk_lock_acquire(v->l, 0), MPK_ETIMEDOUT);
  kill_child(pid);
  CHECK_EQ(mpk_lock_locked(v->l), 1); /* until somebody recovers it */
  double t0 = check_now();
  CHECK_RC(mpk_lock_acquire(v->l, CHECK_HANG_S), MPK_EOWNERDEAD);
  CHECK(check_now() - t0 < CHECK_HANG_S);
  CHECK_EQ(mpk_lock_locked(v->l), 1);
  CHECK_RC(mpk_lock_acquire(v->l, 0), MPK_EDEADLK); /* ours now */
  CHECK_OK(mpk_lock_release(v->l));
  CHECK_EQ(mpk_lock_locked(v->l), 0);
  /* and normal from here on */
  CHECK_OK(mpk_lock_acquire(v->l, 0));
  CHECK_OK(mpk_lock_release(v->l));
  mpk_lock_free(v->l);
  mpk_shm_free(v);
}

static int child_blocked_acquire(void *arg) {
  struct victim *v = arg;
  atomic_store(&v->rc, mpk_lock_acquire(v->l, MPK_FOREVER));
  CHECK_OK(mpk_lock_release(v->l));
  return 0;
}

/* The holder is killed while another process is already asleep waiting:
   that waiter is woken with MPK_EOWNERDEAD (the kernel's robust list). */
static void test_lock_waiter_gets_ownerdead(void) {
  struct victim *v = shared(sizeof *v);
  CHECK_OK(mpk_lock_new(&v->l));
  atomic_store(&v->rc, 1);
  pid_t holder = check_fork(child_hold_lock_forever, v);
  flag_wait(&v->stage, 1);
  pid_t waiter = check_fork(child_blocked_acquire, v);
  await_futex_sleep(waiter, waiter);
  double t0 = check_now();
  kill_child(holder);
  check_wait_ok(waiter, CHECK_HANG_S);
  CHECK(check_now() - t0 < CHECK_HANG_S);
  CHECK_RC(atomic_load(&v->rc), MPK_EOWNERDEAD);
  CHECK_OK(mpk_lock_acquire(v->l, 0)); /* released by the waiter */
  CHECK_OK(mpk_lock_release(v->l));
  mpk_lock_free(v->l);
  mpk_shm_free(v);
}

static int child_hold_rlock_deep(void *arg) {
  struct victim *v = arg;
  for (int i = 0; i < 3; i++)
    CHECK_OK(mpk_rlock_acquire(v->r, MPK_FOREVER));
  atomic_store(&v->stage, 1);
  for (;;)
    pause();
}

static int child_rlock_poll(void *arg) {
  struct victim *v = arg;
  CHECK_OK(mpk_rlock_acquire(v->r, 0));
  CHECK_OK(mpk_rlock_release(v->r));
  return 0;
}

/* RLock held 3 deep by a killed process: we get MPK_EOWNERDEAD with a
   fresh count of 1, so one release frees it for everyone. */
static void test_rlock_owner_killed(void) {
  struct victim *v = shared(sizeof *v);
  CHECK_OK(mpk_rlock_new(&v->r));
  pid_t pid = check_fork(child_hold_rlock_deep, v);
  flag_wait(&v->stage, 1);
  CHECK_RC(mpk_rlock_acquire(v->r, 0.05), MPK_ETIMEDOUT);
  kill_child(pid);
  CHECK_RC(mpk_rlock_acquire(v->r, CHECK_HANG_S), MPK_EOWNERDEAD);
  CHECK_OK(mpk_rlock_acquire(v->r, 0)); /* recursion works: depth 2 */
  CHECK_OK(mpk_rlock_release(v->r));
  CHECK_OK(mpk_rlock_release(v->r)); /* depth 0: free */
  CHECK_RC(mpk_rlock_release(v->r), MPK_EPERM);
  check_wait_ok(check_fork(child_rlock_poll, v), CHECK_HANG_S);
  mpk_rlock_free(v->r);
  mpk_shm_free(v);
}

/* Waits until the grabber, holding the Condition's lock, has notified it:
   that wait's re-acquire meets the grabber's lock, which the grabber holds
   until it is killed, so it can only end in recovering the lock. */
static int child_cond_waiter(void *arg) {
  struct victim *v = arg;
  CHECK_OK(mpk_cond_acquire(v->c, MPK_FOREVER));
  atomic_store(&v->stage, 1);
  int rc;
  do {
    rc = mpk_cond_wait(v->c, MPK_FOREVER);
    CHECK_MSG(rc == MPK_OK || rc == MPK_EOWNERDEAD, "wait: %s",
              mpk_err_name(rc));
  } while (atomic_load(&v->stage) != 2);
  atomic_store(&v->rc, rc);
  CHECK_EQ(mpk_lock_locked(mpk_cond_lock(v->c)), 1);
  CHECK_OK(mpk_cond_notify_all(v->c)); /* we hold it: allowed */
  CHECK_OK(mpk_cond_release(v->c));
  return 0;
}

static int child_grab_cond_lock(void *arg) {
  struct victim *v = arg;
  CHECK_OK(mpk_cond_acquire(v->c, MPK_FOREVER));
  atomic_store(&v->stage, 2);
  CHECK_OK(mpk_cond_notify_all(v->c));
  for (;;)
    pause();
}

static void test_cond_reacquire_ownerdead(void) {
  struct victim *v = shared(sizeof *v);
  CHECK_OK(mpk_cond_new(&v->c, NULL));
  atomic_store(&v->rc, 1);
  pid_t waiter = check_fork(child_cond_waiter, v);
  flag_wait(&v->stage, 1);
  await_futex_sleep(waiter, waiter); /* in wait: the lock is free */
  pid_t grabber = check_fork(child_grab_cond_lock, v);
  flag_wait(&v->stage, 2);
  await_futex_sleep(waiter, waiter); /* (usually) asleep on the lock */
  kill_child(grabber);               /* dies holding the Condition's lock */
  check_wait_ok(waiter, CHECK_HANG_S);
  CHECK_RC(atomic_load(&v->rc), MPK_EOWNERDEAD);
  CHECK_OK(mpk_cond_acquire(v->c, 0));
  CHECK_OK(mpk_cond_release(v->c));
  mpk_cond_free(v->c);
  mpk_shm_free(v);
}

/* mpk Locks share each thread's kernel robust list with glibc's robust
   mutexes. Mixed, out-of-order acquires and releases keep
   the list intact: after the holder is killed, exactly the locks it still
   held report MPK_EOWNERDEAD and the others are simply free. */
struct mixed {
  pthread_mutex_t ga, gb, gc; /* glibc robust mutexes */
  mpk_lock_t *l[4];
  _Atomic int stage;
};

static int child_mixed(void *arg) {
  struct mixed *m = arg;
  for (int round = 0; round < 100; round++) {
    CHECK_OK(glibc_lock(&m->ga));
    CHECK_OK(mpk_lock_acquire(m->l[0], 0));
    CHECK_OK(glibc_lock(&m->gb));
    CHECK_OK(mpk_lock_acquire(m->l[1], 0));
    CHECK_OK(mpk_lock_acquire(m->l[2], 0));
    /* release from the middle of the list, both kinds */
    CHECK_OK(glibc_unlock(&m->gb));
    CHECK_OK(mpk_lock_release(m->l[1]));
    CHECK_OK(glibc_lock(&m->gc));
    CHECK_OK(mpk_lock_release(m->l[0]));
    CHECK_OK(glibc_unlock(&m->ga));
    CHECK_OK(mpk_lock_acquire(m->l[3], 0));
    CHECK_OK(glibc_unlock(&m->gc));
    CHECK_OK(mpk_lock_release(m->l[2]));
    CHECK_OK(mpk_lock_release(m->l[3]));
  }
  /* Die holding ga, l[1], gc, l[3]. */
  CHECK_OK(glibc_lock(&m->ga));
  CHECK_OK(mpk_lock_acquire(m->l[0], 0));
  CHECK_OK(mpk_lock_acquire(m->l[1], 0));
  CHECK_OK(glibc_lock(&m->gb));
  CHECK_OK(glibc_lock(&m->gc));
  CHECK_OK(mpk_lock_acquire(m->l[3], 0));
  CHECK_OK(mpk_lock_release(m->l[0]));
  CHECK_OK(glibc_unlock(&m->gb));
  atomic_store(&m->stage, 1);
  for (;;)
    pause();
  return 0;
}

static void test_mixed_with_glibc_robust_mutexes(void) {
  struct mixed *m = shared(sizeof *m);
  CHECK_OK(glibc_init(&m->ga));
  CHECK_OK(glibc_init(&m->gb));
  CHECK_OK(glibc_init(&m->gc));
  for (int i = 0; i < 4; i++)
    CHECK_OK(mpk_lock_new(&m->l[i]));
  pid_t pid = check_fork(child_mixed, m);
  flag_wait(&m->stage, 1);
  kill_child(pid);
  CHECK_RC(glibc_lock(&m->ga), MPK_EOWNERDEAD);
  CHECK_RC(glibc_lock(&m->gb), MPK_OK);
  CHECK_RC(glibc_lock(&m->gc), MPK_EOWNERDEAD);
  CHECK_RC(mpk_lock_acquire(m->l[0], CHECK_HANG_S), MPK_OK);
  CHECK_RC(mpk_lock_acquire(m->l[1], CHECK_HANG_S), MPK_EOWNERDEAD);
  CHECK_RC(mpk_lock_acquire(m->l[2], CHECK_HANG_S), MPK_OK);
  CHECK_RC(mpk_lock_acquire(m->l[3], CHECK_HANG_S), MPK_EOWNERDEAD);
  /* Our own list holds all seven now; release in a scrambled order. */
  CHECK_OK(mpk_lock_release(m->l[2]));
  CHECK_OK(glibc_unlock(&m->gb));
  CHECK_OK(mpk_lock_release(m->l[0]));
  CHECK_OK(glibc_unlock(&m->ga));
  CHECK_OK(mpk_lock_release(m->l[3]));
  CHECK_OK(glibc_unlock(&m->gc));
  CHECK_OK(mpk_lock_release(m->l[1]));
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(mpk_lock_locked(m->l[i]), 0);
    mpk_lock_free(m->l[i]);
  }
  pthread_mutex_destroy(&m->ga);
  pthread_mutex_destroy(&m->gb);
  pthread_mutex_destroy(&m->gc);
  mpk_shm_free(m);
}

/* A thread (not a process) that ends while holding a Lock and an RLock:
   the kernel releases them at thread exit, the next acquirer is told. */
struct two {
  mpk_lock_t *l;
  mpk_rlock_t *r;
};

static void *thread_exits_holding(void *arg) {
  struct two *t = arg;
  CHECK_OK(mpk_lock_acquire(t->l, 0));
  CHECK_OK(mpk_rlock_acquire(t->r, 0));
  CHECK_OK(mpk_rlock_acquire(t->r, 0));
  return NULL; /* no release */
}

static void test_thread_exit_holding(void) {
  struct two t;
  CHECK_OK(mpk_lock_new(&t.l));
  CHECK_OK(mpk_rlock_new(&t.r));
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, thread_exits_holding, &t), 0);
  CHECK_EQ(pthread_join(th, NULL), 0);
  CHECK_RC(mpk_lock_acquire(t.l, CHECK_HANG_S), MPK_EOWNERDEAD);
  CHECK_RC(mpk_rlock_acquire(t.r, CHECK_HANG_S), MPK_EOWNERDEAD);
  CHECK_OK(mpk_rlock_release(t.r)); /* fresh count of 1 */
  CHECK_RC(mpk_rlock_release(t.r), MPK_EPERM);
  CHECK_OK(mpk_lock_release(t.l));
  mpk_lock_free(t.l);
  mpk_rlock_free(t.r);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_lock_holder_killed);
  CHECK_RUN(test_lock_waiter_gets_ownerdead);
  CHECK_RUN(test_rlock_owner_killed);
  CHECK_RUN(test_cond_reacquire_ownerdead);
  CHECK_RUN(test_mixed_with_glibc_robust_mutexes);
  CHECK_RUN(test_thread_exit_holding);
  return check_done();
}
