/* robust.rmutex: the library's one robust lock (internal/robust.h) and its
 * one spin policy (internal/spin.h), called directly: every result code,
 * a holder killed while holding, a lock freed by its holder, threads
 * handing the lock back and forth (also run under ThreadSanitizer). */
#include <pthread.h>
#include <signal.h>

#include "check.h"
#include "internal/robust.h"
#include "internal/spin.h"
#include "mpk/shm.h"

struct shared_lock {
  mpk__rmutex m;
  _Atomic int stage;
  long counter;
};

static struct shared_lock *new_shared(void) {
  struct shared_lock *s = mpk_shm_calloc(1, sizeof *s);
  CHECK(s != NULL);
  CHECK_OK(mpk__rmutex_init(&s->m));
  return s;
}

static void test_codes(void) {
  struct shared_lock *s = new_shared();
  mpk__deadline past = {.forever = false};
  CHECK_EQ(mpk__rmutex_locked(&s->m), 0);
  CHECK_EQ(mpk__rmutex_held(&s->m), 0);
  CHECK_RC(mpk__rmutex_unlock(&s->m), MPK_EPERM); /* not held */
  CHECK_OK(mpk__rmutex_lock(&s->m, &past));       /* a poll of a free lock */
  CHECK_EQ(mpk__rmutex_held(&s->m), 1);
  CHECK_EQ(mpk__rmutex_locked(&s->m), 1);
  CHECK_RC(mpk__rmutex_lock(&s->m, &past), MPK_EDEADLK);
  CHECK_RC(mpk__rmutex_lock_forever(&s->m), MPK_EDEADLK);
  CHECK_RC(mpk__rmutex_lock_slow(&s->m, NULL), MPK_EDEADLK);
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  CHECK_RC(mpk__rmutex_unlock(&s->m), MPK_EPERM); /* twice */
  CHECK_OK(mpk__rmutex_lock_slow(&s->m, NULL));   /* the slow path alone */
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  mpk_shm_free(s);
}

static int child_hold(void *arg) {
  struct shared_lock *s = arg;
  CHECK_OK(mpk__rmutex_lock_forever(&s->m));
  atomic_store(&s->stage, 1);
  for (;;)
    pause();
}

static void reap_killed(pid_t pid) {
  int st = check_wait(pid, 10);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void wait_stage(_Atomic int *f, int v) {
  double t0 = check_now();
  while (atomic_load(f) != v) {
    CHECK(check_now() - t0 < CHECK_HANG_S);
    check_sleep(0.001);
  }
}

/* Held by another process: poll and timed lock time out, unlock is EPERM;
   the holder is killed: the next lock gets MPK_EOWNERDEAD and holds it. */
static void test_other_process_and_owner_dead(void) {
  struct shared_lock *s = new_shared();
  pid_t pid = check_fork(child_hold, s);
  wait_stage(&s->stage, 1);
  mpk__deadline past = {.forever = false}, d;
  CHECK_RC(mpk__rmutex_lock(&s->m, &past), MPK_ETIMEDOUT);
  CHECK_RC(mpk__rmutex_lock_slow(&s->m, NULL), MPK_ETIMEDOUT);
  mpk__deadline_init(&d, 0.05);
  double t0 = check_now();
  CHECK_RC(mpk__rmutex_lock(&s->m, &d), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.045);
  CHECK_RC(mpk__rmutex_unlock(&s->m), MPK_EPERM);
  CHECK_EQ(mpk__rmutex_held(&s->m), 0);
  CHECK_EQ(mpk__rmutex_locked(&s->m), 1);
  kill(pid, SIGKILL);
  reap_killed(pid);
  mpk__deadline_init(&d, CHECK_HANG_S);
  CHECK_RC(mpk__rmutex_lock(&s->m, &d), MPK_EOWNERDEAD);
  CHECK_EQ(mpk__rmutex_held(&s->m), 1);
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  CHECK_OK(mpk__rmutex_lock_forever(&s->m)); /* consistent again */
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  mpk_shm_free(s);
}

static int kill_later(void *arg) {
  check_sleep(0.1); /* let the parent fall asleep (not needed to pass) */
  return kill(*(pid_t *)arg, SIGKILL) == 0 ? 0 : 1;
}

/* A sleeper blocked in the kernel is woken with MPK_EOWNERDEAD when the
   holder dies. */
static void test_sleeper_woken_by_death(void) {
  struct shared_lock *s = new_shared();
  pid_t pid = check_fork(child_hold, s);
  wait_stage(&s->stage, 1);
  static pid_t victim;
  victim = pid;
  pid_t killer = check_fork(kill_later, &victim);
  mpk__deadline d;
  mpk__deadline_init(&d, CHECK_HANG_S);
  CHECK_RC(mpk__rmutex_lock(&s->m, &d), MPK_EOWNERDEAD);
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  check_wait_ok(killer, 10);
  reap_killed(pid);
  mpk_shm_free(s);
}

/* Until *n reaches v (a hang guard only). */
static void wait_count(_Atomic uint32_t *n, uint32_t v) {
  double t0 = check_now();
  while (atomic_load(n) != v) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "count %u, want %u",
              (unsigned)atomic_load(n), (unsigned)v);
    check_sleep(0.0005);
  }
}

static int child_wait_forever(void *arg) {
  struct shared_lock *s = arg;
  mpk__rmutex_lock_forever(&s->m); /* killed asleep */
  return 3;
}

static void *thread_take_release(void *arg) {
  struct shared_lock *s = arg;
  CHECK_OK(mpk__rmutex_lock_forever(&s->m));
  s->counter++;
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  return NULL;
}

/* FUTEX_WAITERS and `sleepers`: a contended hand-over ends with the word
   back at 0 (the next take is the fast one); a waiter killed while counted
   leaves the bit for good, and the lock goes on working, waking a later
   sleeper. */
static void test_waiters_bit(void) {
  struct shared_lock *s = new_shared();
  CHECK_OK(mpk__rmutex_lock_forever(&s->m));
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_take_release, s) == 0);
  wait_count(&s->m.sleepers, 1); /* counted: it sets the bit, then sleeps */
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_EQ(s->counter, 1);
  CHECK_EQ(atomic_load(&s->m.sleepers), 0);
  CHECK_EQ(atomic_load(&s->m.word), 0); /* taken without the bit */
  CHECK(mpk__rmutex_trylock_fast(&s->m));
  CHECK_OK(mpk__rmutex_unlock(&s->m));

  CHECK_OK(mpk__rmutex_lock_forever(&s->m));
  pid_t pid = check_fork(child_wait_forever, s);
  wait_count(&s->m.sleepers, 1);
  double t0 = check_now();
  while (!(atomic_load(&s->m.word) & FUTEX_WAITERS)) { /* then it sleeps */
    CHECK(check_now() - t0 < CHECK_HANG_S);
    check_sleep(0.0005);
  }
  kill(pid, SIGKILL);
  reap_killed(pid);
  CHECK_EQ(atomic_load(&s->m.sleepers), 1); /* never uncounted */
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  CHECK_EQ(atomic_load(&s->m.word), FUTEX_WAITERS);
  CHECK(!mpk__rmutex_trylock_fast(&s->m));
  CHECK_OK(mpk__rmutex_lock_forever(&s->m)); /* the slow path keeps the bit */
  CHECK_EQ(atomic_load(&s->m.word) & FUTEX_WAITERS, FUTEX_WAITERS);
  CHECK(pthread_create(&t, NULL, thread_take_release, s) == 0);
  wait_count(&s->m.sleepers, 2);
  CHECK_OK(mpk__rmutex_unlock(&s->m)); /* wakes the thread */
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_EQ(s->counter, 2);
  mpk_shm_free(s);
}

static int child_destroy_held_then_die(void *arg) {
  struct shared_lock *s = arg;
  mpk__rmutex *tmp = mpk_shm_alloc(sizeof *tmp);
  CHECK(tmp != NULL);
  CHECK_OK(mpk__rmutex_init(tmp));
  CHECK_OK(mpk__rmutex_lock_forever(&s->m));
  CHECK_OK(mpk__rmutex_lock_forever(tmp));
  /* Freed while held: destroy takes it off this thread's robust list, so
     the kernel does not write into the reused block when we die. */
  mpk__rmutex_destroy(tmp);
  CHECK_EQ(mpk__rmutex_locked(tmp), 0);
  mpk_shm_free(tmp);
  long *reuse = mpk_shm_alloc(sizeof *tmp); /* likely the same block */
  CHECK(reuse != NULL);
  for (size_t i = 0; i < sizeof *tmp / sizeof(long); i++)
    reuse[i] = 0;
  s->counter = (long)((char *)reuse - (char *)s);
  atomic_store(&s->stage, 1);
  for (;;)
    pause();
}

static void test_destroy_while_held(void) {
  struct shared_lock *s = new_shared();
  pid_t pid = check_fork(child_destroy_held_then_die, s);
  wait_stage(&s->stage, 1);
  kill(pid, SIGKILL);
  reap_killed(pid);
  long *reuse = (long *)(void *)((char *)s + s->counter);
  for (size_t i = 0; i < sizeof(mpk__rmutex) / sizeof(long); i++)
    CHECK_EQ(reuse[i], 0); /* the kernel left the reused block alone */
  CHECK_RC(mpk__rmutex_lock_forever(&s->m), MPK_EOWNERDEAD);
  CHECK_OK(mpk__rmutex_unlock(&s->m));
  mpk_shm_free(reuse);
  mpk_shm_free(s);
}

enum { ROUNDS = 20000 };

static void *thread_count(void *arg) {
  struct shared_lock *s = arg;
  for (int i = 0; i < ROUNDS; i++) {
    int r = mpk__rmutex_lock_forever(&s->m);
    if (r != MPK_OK)
      return (void *)1;
    s->counter++; /* a plain access: TSan checks the lock orders it */
    if (mpk__rmutex_unlock(&s->m) != MPK_OK)
      return (void *)1;
  }
  return NULL;
}

static void test_threads(void) {
  struct shared_lock *s = new_shared();
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, thread_count, s), 0);
  for (int i = 0; i < 3; i++) {
    void *res;
    CHECK_EQ(pthread_join(t[i], &res), 0);
    CHECK(res == NULL);
  }
  CHECK_EQ(s->counter, 3L * ROUNDS);
  CHECK_EQ(mpk__rmutex_locked(&s->m), 0);
  mpk_shm_free(s);
}

/* The spin policy with the default configuration: 50 us, adaptive; a
   deadline in the past or a finished spin never spins; a spin ends. */
static void test_spin_policy(void) {
  bool adaptive = false;
  CHECK_EQ(mpk__spin_budget_ns(&adaptive), 50000);
  CHECK_EQ(adaptive, 1);
  mpk__deadline past = {.forever = false};
  mpk__spin a = MPK__SPIN_INIT(&past);
  CHECK_EQ(mpk__spin_more(&a), 0);
  CHECK_EQ(mpk__spin_more(&a), 0);
  mpk__deadline forever = {.forever = true};
  mpk__spin b = MPK__SPIN_INIT(&forever);
  double t0 = check_now();
  unsigned long n = 0;
  while (mpk__spin_more(&b))
    n++;
  CHECK(n > 0);
  CHECK(check_now() - t0 < CHECK_HANG_S); /* a 50 us budget: it ends */
  for (int i = 0; i < 8; i++)
    CHECK_EQ(mpk__spin_more(&b), 0); /* over stays over */
  mpk__deadline soon;
  mpk__deadline_init(&soon, 1e-6);
  mpk__spin c = MPK__SPIN_INIT(&soon);
  t0 = check_now();
  while (mpk__spin_more(&c)) {
  }
  CHECK(check_now() - t0 < CHECK_HANG_S);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_codes);
  CHECK_RUN(test_other_process_and_owner_dead);
  CHECK_RUN(test_sleeper_woken_by_death);
  CHECK_RUN(test_destroy_while_held);
  CHECK_RUN(test_waiters_bit);
  CHECK_RUN(test_threads);
  CHECK_RUN(test_spin_policy);
  return check_done();
}
