/* sync.woken-dead: a waiter SIGKILLed after a release woke it and before it
 * took what it was woken for never keeps the other sleepers asleep.
 *
 * The kill point is made certain, not likely: both waiters are traced
 * (ptrace) and each is let into its futex wait one system call at a time
 * until /proc shows it asleep there. Then the release wakes one of them,
 * the victim, which the kernel stops at the exit of that futex call: woken,
 * but not yet back in the library. While it is held there:
 *
 * - "third": the parent takes the object on its uncontended path (for a
 *   lock: what a fast CAS from a free word would do), then the victim is
 *   killed and the parent releases again;
 * - "none": the victim is killed with nobody else about.
 *
 * The survivor must then be woken (its own futex call returns: it is traced
 * too, and reports the exit stop) and take the object. On the old robust
 * lock the "third" rounds left the survivor asleep for good: the release
 * had cleared the waiters bit, the fast-path taker did not set it, and the
 * kernel passes a dead waiter's wake-up on only while the lock is free. On
 * the old Semaphore every round did: a unit was free, nobody was woken.
 * Kinds: Lock, RLock, a locked Array's lock (untimed), Semaphore.
 */
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "process-util.h"
#include "test-sync-util.h"

enum { ROUNDS = 10 };

/* One kind of object under test, with its calls reduced to three. */
struct kind {
  const char *name;
  void *(*make)(void);  /* made held (lock) or empty (semaphore) */
  int (*take)(void *o); /* blocking, without a deadline */
  int (*try)(void *o);  /* one try: MPK_OK or MPK_ETIMEDOUT */
  int (*give)(void *o);
  void (*drop)(void *o);
};

static void *lock_make(void) {
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  CHECK_OK(mpk_lock_acquire(l, 0));
  return l;
}
static int lock_take(void *o) {
  return mpk_lock_acquire(o, MPK_FOREVER);
}
static int lock_try(void *o) {
  return mpk_lock_acquire(o, 0);
}
static int lock_give(void *o) {
  return mpk_lock_release(o);
}
static void lock_drop(void *o) {
  mpk_lock_free(o);
}

static void *array_make(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 4, 1));
  CHECK_OK(mpk_array_lock(a));
  return a;
}
/* The array lock has no timeout: it is the untimed acquire that used to
   hang for good. */
static int array_take(void *o) {
  return mpk_array_lock(o);
}
static int array_try(void *o) {
  return mpk_array_lock(o);
}
static int array_give(void *o) {
  return mpk_array_unlock(o);
}
static void array_drop(void *o) {
  mpk_array_free(o);
}

static void *rlock_make(void) {
  mpk_rlock_t *l;
  CHECK_OK(mpk_rlock_new(&l));
  CHECK_OK(mpk_rlock_acquire(l, 0));
  return l;
}
static int rlock_take(void *o) {
  return mpk_rlock_acquire(o, MPK_FOREVER);
}
static int rlock_try(void *o) {
  return mpk_rlock_acquire(o, 0);
}
static int rlock_give(void *o) {
  return mpk_rlock_release(o);
}
static void rlock_drop(void *o) {
  mpk_rlock_free(o);
}

static void *sem_make(void) {
  mpk_sem_t *s;
  CHECK_OK(mpk_sem_new(&s, 0, 0));
  return s;
}
static int sem_take(void *o) {
  return mpk_sem_acquire(o, MPK_FOREVER);
}
static int sem_try(void *o) {
  return mpk_sem_acquire(o, 0);
}
static int sem_give(void *o) {
  return mpk_sem_release(o);
}
static void sem_drop(void *o) {
  mpk_sem_free(o);
}

static const struct kind LOCK = {"Lock",   lock_make, lock_take,
                                 lock_try, lock_give, lock_drop};
static const struct kind ARRAY = {"Array lock", array_make, array_take,
                                  array_try,    array_give, array_drop};
static const struct kind RLOCK = {"RLock",   rlock_make, rlock_take,
                                  rlock_try, rlock_give, rlock_drop};
static const struct kind SEM = {"Semaphore", sem_make, sem_take,
                                sem_try,     sem_give, sem_drop};

struct round {
  const struct kind *k;
  void *obj;
  _Atomic int took; /* waiters that took the object */
};

/* A waiter: stops for its tracer first, then takes, gives back, exits. */
static int waiter(void *arg) {
  struct round *r = arg;
  CHECK_EQ(ptrace(PTRACE_TRACEME, 0, NULL, NULL), 0);
  raise(SIGSTOP);
  int rc = r->k->take(r->obj);
  CHECK_OK(rc);
  atomic_fetch_add(&r->took, 1);
  CHECK_OK(r->k->give(r->obj));
  return 0;
}

/* Wait up to 10 s for pid to stop (else fail naming `what`); returns the
   status. */
static int await_stop(pid_t pid, const char *what) {
  double end = check_now() + CHECK_HANG_S;
  int st;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG | __WALL);
    CHECK(w == 0 || w == pid);
    if (w == pid) {
      CHECK_MSG(WIFSTOPPED(st), "%s: pid %d ended instead", what, (int)pid);
      return st;
    }
    CHECK_MSG(check_now() < end, "%s: pid %d never stopped", what, (int)pid);
    check_sleep(0.0002);
  }
}

/* 1 when the tracee sits at the exit of a futex call that returned 0
   (woken: neither EAGAIN, nor EINTR, nor a timeout). */
static int at_woken_futex_exit(pid_t pid) {
  struct __ptrace_syscall_info si;
  long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si);
  CHECK(n > 0);
  return si.op == PTRACE_SYSCALL_INFO_EXIT && si.exit.is_error == 0 &&
         si.exit.rval == 0;
}

/* 1 when pid is asleep ('S' in /proc/<pid>/stat: not running, and not in
   a tracing stop, 't') inside futex(2). */
static int asleep_in_futex(pid_t pid) {
  char st = 0;
  return pu_proc_stat(pid, &st, NULL, NULL) == 0 && st == 'S' &&
         in_futex(pid, pid);
}

/* Let a stopped tracee run one system call at a time until it is asleep
   in its futex wait; it is left running under PTRACE_SYSCALL, so the
   wait's exit will stop it. */
static void step_into_sleep(pid_t pid) {
  CHECK_EQ(ptrace(PTRACE_SETOPTIONS, pid, NULL,
                  (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)),
           0);
  CHECK_EQ(ptrace(PTRACE_SYSCALL, pid, NULL, NULL), 0);
  double end = check_now() + CHECK_HANG_S;
  while (!asleep_in_futex(pid)) {
    int st;
    pid_t w = waitpid(pid, &st, WNOHANG | __WALL);
    if (w == pid) {
      CHECK(WIFSTOPPED(st));
      CHECK_EQ(ptrace(PTRACE_SYSCALL, pid, NULL, NULL), 0);
    }
    CHECK_MSG(check_now() < end, "waiter %d never fell asleep", (int)pid);
    check_sleep(0.0002);
  }
}

static void one_round(const struct kind *k, int third) {
  struct round *r = shared(sizeof *r);
  r->k = k;
  r->obj = k->make();
  pid_t p[2];
  for (int i = 0; i < 2; i++) {
    p[i] = check_fork(waiter, r);
    int st = await_stop(p[i], "initial SIGSTOP");
    CHECK(WSTOPSIG(st) == SIGSTOP);
    step_into_sleep(p[i]);
  }
  /* The release (or the first unit) wakes exactly one: the victim. */
  CHECK_OK(k->give(r->obj));
  pid_t victim = 0;
  double end = check_now() + CHECK_HANG_S;
  while (victim == 0) {
    for (int i = 0; i < 2 && victim == 0; i++) {
      int st;
      pid_t w = waitpid(p[i], &st, WNOHANG | __WALL);
      if (w != p[i])
        continue;
      CHECK(WIFSTOPPED(st));
      CHECK_MSG(at_woken_futex_exit(p[i]), "waiter %d stopped elsewhere",
                (int)p[i]);
      victim = p[i];
    }
    CHECK_MSG(victim || check_now() < end, "%s: the release woke nobody",
              k->name);
    if (victim == 0)
      check_sleep(0.0002);
  }
  pid_t survivor = victim == p[0] ? p[1] : p[0];
  if (third)
    CHECK_OK(k->try(r->obj)); /* a taker that never slept */
  kill_child(victim);
  if (third)
    CHECK_OK(k->give(r->obj));
  /* The survivor's own futex call must return now. */
  char what[96];
  snprintf(what, sizeof what, "%s, %s: the survivor's wake-up", k->name,
           third ? "third taker" : "no third taker");
  await_stop(survivor, what);
  CHECK_EQ(ptrace(PTRACE_DETACH, survivor, NULL, NULL), 0);
  check_wait_ok(survivor, 10);
  CHECK_EQ(atomic_load(&r->took), 1);
  /* Free again: the lock, or the one unit the survivor gave back. */
  CHECK_OK(k->try(r->obj));
  if (k != &SEM)
    CHECK_OK(k->give(r->obj));
  k->drop(r->obj);
  mpk_shm_free(r);
}

static void rounds(const struct kind *k, int third) {
  for (int i = 0; i < ROUNDS; i++)
    one_round(k, third);
}

static void test_lock_third_taker(void) {
  rounds(&LOCK, 1);
}
static void test_lock_alone(void) {
  rounds(&LOCK, 0);
}
static void test_array_lock_third_taker(void) {
  rounds(&ARRAY, 1);
}
static void test_array_lock_alone(void) {
  rounds(&ARRAY, 0);
}
static void test_rlock_third_taker(void) {
  rounds(&RLOCK, 1);
}
static void test_rlock_alone(void) {
  rounds(&RLOCK, 0);
}
static void test_sem_alone(void) {
  rounds(&SEM, 0);
}
static void test_sem_third_taker(void) {
  rounds(&SEM, 1);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_lock_alone);
  CHECK_RUN(test_lock_third_taker);
  CHECK_RUN(test_array_lock_alone);
  CHECK_RUN(test_array_lock_third_taker);
  CHECK_RUN(test_rlock_alone);
  CHECK_RUN(test_rlock_third_taker);
  CHECK_RUN(test_sem_alone);
  CHECK_RUN(test_sem_third_taker);
  return check_done();
}
