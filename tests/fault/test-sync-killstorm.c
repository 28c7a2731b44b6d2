/* sync.killstorm: four processes hammer one Lock (and one RLock) while the
 * parent SIGKILLs a random one every few milliseconds, KILLS times, and
 * replaces it. Whoever takes the lock after a holder was killed must be
 * told (MPK_EOWNERDEAD) - checked with a two-step update that a kill can
 * tear - and nobody may ever wait past CHECK_HANG_S: a holder or a waiter
 * killed at any instruction (inside the robust-list bookkeeping too) never
 * wedges the lock, and after the storm the survivors still commit. */
#include "test-sync-util.h"

enum { WORKERS = 4, KILLS = 300 };

struct storm {
  mpk_lock_t *l;
  mpk_rlock_t *r;
  long value, shadow;   /* guarded by l: equal between critical sections */
  long rvalue, rshadow; /* guarded by r */
  _Atomic int stop;
  _Atomic long commits, recoveries, timeouts;
};

static void burn(int n) {
  for (volatile int i = 0; i < n; i++) {
  }
}

static int worker(void *arg) {
  struct storm *s = arg;
  unsigned seed = (unsigned)getpid();
  while (!atomic_load(&s->stop)) {
    int rc = mpk_lock_acquire(s->l, CHECK_HANG_S);
    if (rc == MPK_ETIMEDOUT) {
      atomic_fetch_add(&s->timeouts, 1);
      return 2;
    }
    CHECK(rc == MPK_OK || rc == MPK_EOWNERDEAD);
    if (rc == MPK_EOWNERDEAD) {
      s->value = s->shadow; /* roll back a torn update */
      atomic_fetch_add(&s->recoveries, 1);
    }
    CHECK_MSG(s->value == s->shadow, "torn state without EOWNERDEAD");
    s->value++; /* step 1 */
    burn((int)(rand_r(&seed) % 2000));
    s->shadow = s->value; /* step 2 */
    atomic_fetch_add(&s->commits, 1);
    CHECK_OK(mpk_lock_release(s->l));

    /* the same through an RLock taken twice */
    rc = mpk_rlock_acquire(s->r, CHECK_HANG_S);
    if (rc == MPK_ETIMEDOUT) {
      atomic_fetch_add(&s->timeouts, 1);
      return 2;
    }
    CHECK(rc == MPK_OK || rc == MPK_EOWNERDEAD);
    if (rc == MPK_EOWNERDEAD)
      s->rvalue = s->rshadow;
    CHECK_OK(mpk_rlock_acquire(s->r, 0));
    CHECK_MSG(s->rvalue == s->rshadow, "torn RLock state without EOWNERDEAD");
    s->rvalue++;
    burn((int)(rand_r(&seed) % 1000));
    s->rshadow = s->rvalue;
    CHECK_OK(mpk_rlock_release(s->r));
    CHECK_OK(mpk_rlock_release(s->r));
  }
  return 0;
}

static void test_kill_storm(void) {
  struct storm *s = shared(sizeof *s);
  CHECK_OK(mpk_lock_new(&s->l));
  CHECK_OK(mpk_rlock_new(&s->r));
  pid_t w[WORKERS];
  for (int i = 0; i < WORKERS; i++)
    w[i] = check_fork(worker, s);
  unsigned seed = 12345;
  int kills = 0;
  for (; kills < KILLS; kills++) {
    check_sleep(0.001 * (1 + rand_r(&seed) % 10));
    int i = (int)(rand_r(&seed) % WORKERS);
    kill_child(w[i]);
    w[i] = check_fork(worker, s);
  }
  /* the storm is over: the survivors must still get the lock */
  long c0 = atomic_load(&s->commits);
  double t0 = check_now();
  while (atomic_load(&s->commits) <= c0) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "no commit after the storm");
    check_sleep(0.001);
  }
  atomic_store(&s->stop, 1);
  for (int i = 0; i < WORKERS; i++)
    check_wait_ok(w[i], CHECK_HANG_S);
  CHECK_EQ(atomic_load(&s->timeouts), 0);
  /* The locks still work and their state is consistent; a holder killed
     just before the stop may have left them to us to recover. */
  int rc = mpk_lock_acquire(s->l, CHECK_HANG_S);
  CHECK(rc == MPK_OK || rc == MPK_EOWNERDEAD);
  if (rc == MPK_EOWNERDEAD)
    s->value = s->shadow;
  CHECK_EQ(s->value, s->shadow);
  CHECK_OK(mpk_lock_release(s->l));
  rc = mpk_rlock_acquire(s->r, CHECK_HANG_S);
  CHECK(rc == MPK_OK || rc == MPK_EOWNERDEAD);
  if (rc == MPK_EOWNERDEAD)
    s->rvalue = s->rshadow;
  CHECK_EQ(s->rvalue, s->rshadow);
  CHECK_OK(mpk_rlock_release(s->r));
  printf("# %d kills, %ld commits, %ld recoveries\n", kills,
         atomic_load(&s->commits), atomic_load(&s->recoveries));
  mpk_rlock_free(s->r);
  mpk_lock_free(s->l);
  mpk_shm_free(s);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_kill_storm);
  return check_done();
}
