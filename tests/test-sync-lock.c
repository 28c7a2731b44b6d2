/* sync.lock: Lock across processes - every call, every error code, mutual
 * exclusion of 4 processes on a plain shared counter. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include "test-sync-util.h"

static void test_bad_input(void) {
  CHECK_RC(mpk_lock_new(NULL), MPK_EINVAL);
  CHECK_RC(mpk_lock_acquire(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_lock_acquire(NULL, MPK_FOREVER), MPK_EINVAL);
  CHECK_RC(mpk_lock_release(NULL), MPK_EINVAL);
  CHECK_RC(mpk_lock_locked(NULL), MPK_EINVAL);
  mpk_lock_free(NULL);
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  CHECK_RC(mpk_lock_acquire(l, NAN), MPK_EINVAL);
  CHECK_EQ(mpk_lock_locked(l), 0); /* the failed call changed nothing */
  /* Another kind of object is not a Lock. */
  mpk_event_t *e;
  CHECK_OK(mpk_event_new(&e));
  CHECK_RC(mpk_lock_acquire((mpk_lock_t *)(void *)e, 0), MPK_EINVAL);
  CHECK_RC(mpk_lock_release((mpk_lock_t *)(void *)e), MPK_EINVAL);
  mpk_event_free(e);
  mpk_lock_free(l);
}

static void test_acquire_release(void) {
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  CHECK(mpk_shm_contains(l));
  CHECK_EQ(mpk_lock_locked(l), 0);
  CHECK_RC(mpk_lock_release(l), MPK_EPERM); /* not held */
  CHECK_OK(mpk_lock_acquire(l, MPK_FOREVER));
  CHECK_EQ(mpk_lock_locked(l), 1);
  /* Same thread again: Python would deadlock, mpk says so. */
  CHECK_RC(mpk_lock_acquire(l, 0), MPK_EDEADLK);
  CHECK_RC(mpk_lock_acquire(l, 0.05), MPK_EDEADLK);
  CHECK_RC(mpk_lock_acquire(l, MPK_FOREVER), MPK_EDEADLK);
  CHECK_OK(mpk_lock_release(l));
  CHECK_EQ(mpk_lock_locked(l), 0);
  CHECK_RC(mpk_lock_release(l), MPK_EPERM);
  CHECK_OK(mpk_lock_acquire(l, 0)); /* poll of a free lock */
  CHECK_OK(mpk_lock_release(l));
  CHECK_OK(mpk_lock_acquire(l, 1.5));
  CHECK_OK(mpk_lock_release(l));
  mpk_lock_free(l);
}

struct held {
  mpk_lock_t *l;
  _Atomic int stage;
};

static int child_hold(void *arg) {
  struct held *h = arg;
  CHECK_OK(mpk_lock_acquire(h->l, MPK_FOREVER));
  atomic_store(&h->stage, 1);
  flag_wait(&h->stage, 2);
  CHECK_OK(mpk_lock_release(h->l));
  return 0;
}

/* Another process holds it: polls and timed acquires time out, release by
   us is MPK_EPERM; once it lets go we get it. */
static void test_held_elsewhere(void) {
  struct held *h = shared(sizeof *h);
  CHECK_OK(mpk_lock_new(&h->l));
  pid_t pid = check_fork(child_hold, h);
  flag_wait(&h->stage, 1);
  CHECK_EQ(mpk_lock_locked(h->l), 1);
  CHECK_RC(mpk_lock_acquire(h->l, 0), MPK_ETIMEDOUT);
  double t0 = check_now();
  CHECK_RC(mpk_lock_acquire(h->l, 0.2), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.2 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
  CHECK_RC(mpk_lock_release(h->l), MPK_EPERM);
  CHECK_EQ(mpk_lock_locked(h->l), 1); /* still the child's */
  atomic_store(&h->stage, 2);
  CHECK_OK(mpk_lock_acquire(h->l, CHECK_HANG_S));
  check_wait_ok(pid, 10);
  CHECK_OK(mpk_lock_release(h->l));
  mpk_lock_free(h->l);
  mpk_shm_free(h);
}

static int child_release_foreign(void *arg) {
  struct held *h = arg;
  CHECK_RC(mpk_lock_release(h->l), MPK_EPERM);
  CHECK_RC(mpk_lock_acquire(h->l, 0), MPK_ETIMEDOUT);
  return 0;
}

/* The parent holds it: a child may not release it (MPK_EPERM), also not a
   child forked while the parent held it. */
static void test_release_by_other_process(void) {
  struct held *h = shared(sizeof *h);
  CHECK_OK(mpk_lock_new(&h->l));
  CHECK_OK(mpk_lock_acquire(h->l, MPK_FOREVER));
  check_wait_ok(check_fork(child_release_foreign, h), 10);
  CHECK_EQ(mpk_lock_locked(h->l), 1);
  CHECK_OK(mpk_lock_release(h->l));
  mpk_lock_free(h->l);
  mpk_shm_free(h);
}

/* A waiter blocked in another process wakes when the holder releases. */
static int child_blocking_acquire(void *arg) {
  struct held *h = arg;
  atomic_store(&h->stage, 1);
  CHECK_OK(mpk_lock_acquire(h->l, CHECK_HANG_S));
  atomic_store(&h->stage, 2);
  CHECK_OK(mpk_lock_release(h->l));
  return 0;
}

static void test_wakes_blocked_waiter(void) {
  struct held *h = shared(sizeof *h);
  CHECK_OK(mpk_lock_new(&h->l));
  CHECK_OK(mpk_lock_acquire(h->l, MPK_FOREVER));
  pid_t pid = check_fork(child_blocking_acquire, h);
  flag_wait(&h->stage, 1);
  await_futex_sleep(pid, pid);
  CHECK_EQ(atomic_load(&h->stage), 1);
  CHECK_OK(mpk_lock_release(h->l));
  check_wait_ok(pid, 10);
  CHECK_EQ(atomic_load(&h->stage), 2);
  mpk_lock_free(h->l);
  mpk_shm_free(h);
}

enum { NPROC = 4, ITERS = 20000 };

struct counter {
  mpk_lock_t *l;
  long value; /* plain, not atomic: the lock is what protects it */
};

static int child_increment(void *arg) {
  struct counter *c = arg;
  for (int i = 0; i < ITERS; i++) {
    CHECK_OK(mpk_lock_acquire(c->l, MPK_FOREVER));
    long v = c->value;
    if ((i & 255) == 0)
      sched_yield(); /* invite a race if the lock did not exclude */
    c->value = v + 1;
    CHECK_OK(mpk_lock_release(c->l));
  }
  return 0;
}

static void test_mutual_exclusion_4_processes(void) {
  struct counter *c = shared(sizeof *c);
  CHECK_OK(mpk_lock_new(&c->l));
  pid_t pids[NPROC];
  for (int i = 0; i < NPROC; i++)
    pids[i] = check_fork(child_increment, c);
  for (int i = 0; i < NPROC; i++)
    check_wait_ok(pids[i], 60);
  CHECK_EQ(c->value, (long)NPROC * ITERS);
  CHECK_EQ(mpk_lock_locked(c->l), 0);
  mpk_lock_free(c->l);
  mpk_shm_free(c);
}

/* A freed handle is rejected (its magic word is gone), not undefined. */
static void test_free(void) {
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  CHECK_OK(mpk_lock_acquire(l, 0));
  CHECK_OK(mpk_lock_release(l));
  mpk_lock_free(l);
  CHECK_RC(mpk_lock_acquire(l, 0), MPK_EINVAL);
  CHECK_RC(mpk_lock_release(l), MPK_EINVAL);
  CHECK_RC(mpk_lock_locked(l), MPK_EINVAL);
  mpk_lock_free(l); /* a second free is ignored */
}

/* Without a kernel robust list (get_robust_list blocked by seccomp here)
   a Lock cannot be robust: creating or taking one is MPK_ENOSYS, as is
   making a Semaphore (its sleepers queue in a robust lock) or sleeping on
   one, while a Semaphore's non-sleeping paths and the objects that need no
   robust lock still work. */
struct made_before {
  mpk_lock_t *l;
  mpk_sem_t *s;
};

static int child_no_robust_list(void *arg) {
  struct made_before *mb = arg;
  mpk_lock_t *made_before = mb->l;
  struct sock_filter prog[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_get_robust_list, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog fp = {sizeof prog / sizeof prog[0], prog};
  CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
  CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp), 0);
  mpk_lock_t *l;
  CHECK_RC(mpk_lock_new(&l), MPK_ENOSYS);
  mpk_rlock_t *r;
  CHECK_RC(mpk_rlock_new(&r), MPK_ENOSYS);
  mpk_cond_t *c;
  CHECK_RC(mpk_cond_new(&c, NULL), MPK_ENOSYS);
  CHECK_RC(mpk_lock_acquire(made_before, 0), MPK_ENOSYS);
  CHECK_RC(mpk_lock_acquire(made_before, 0.01), MPK_ENOSYS);
  CHECK_RC(mpk_lock_release(made_before), MPK_EPERM);
  CHECK_EQ(mpk_lock_locked(made_before), 0);
  mpk_sem_t *s;
  CHECK_RC(mpk_sem_new(&s, 1, 0), MPK_ENOSYS);
  mpk_sem_t *sem_before = mb->s;
  CHECK_OK(mpk_sem_acquire(sem_before, 0));
  CHECK_RC(mpk_sem_acquire(sem_before, 0), MPK_ETIMEDOUT);
  CHECK_RC(mpk_sem_acquire(sem_before, 0.01), MPK_ENOSYS);
  CHECK_OK(mpk_sem_release(sem_before));
  mpk_event_t *e;
  CHECK_OK(mpk_event_new(&e));
  CHECK_OK(mpk_event_set(e));
  CHECK_OK(mpk_event_wait(e, 0));
  mpk_event_free(e);
  return 0;
}

static void test_no_robust_list(void) {
  struct made_before mb;
  CHECK_OK(mpk_lock_new(&mb.l));
  CHECK_OK(mpk_sem_new(&mb.s, 1, 0));
  check_wait_ok(check_fork(child_no_robust_list, &mb), 10);
  CHECK_OK(mpk_lock_acquire(mb.l, 0)); /* untouched */
  CHECK_OK(mpk_lock_release(mb.l));
  CHECK_EQ(mpk_sem_value(mb.s), 1);
  mpk_lock_free(mb.l);
  mpk_sem_free(mb.s);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_input);
  CHECK_RUN(test_acquire_release);
  CHECK_RUN(test_held_elsewhere);
  CHECK_RUN(test_release_by_other_process);
  CHECK_RUN(test_wakes_blocked_waiter);
  CHECK_RUN(test_mutual_exclusion_4_processes);
  CHECK_RUN(test_free);
  CHECK_RUN(test_no_robust_list);
  return check_done();
}
