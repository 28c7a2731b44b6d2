/* sync.waiter-dead: processes SIGKILLed while asleep in a wait never block
 * the survivors: a later set / notify / release still reaches the live
 * waiters, a barrier whose partner died times out instead of hanging, and
 * every object stays usable. */
#include "test-sync-util.h"

enum { N = 3 };

struct world {
  mpk_lock_t *l;
  mpk_sem_t *s;
  mpk_event_t *e;
  mpk_cond_t *c;
  mpk_barrier_t *b;
  int tickets; /* guarded by c's lock */
  _Atomic int done;
  _Atomic int rc[N];
};

struct job {
  struct world *w;
  int slot;
};

static pid_t spawn(int (*fn)(void *), struct world *w, int slot) {
  struct job j = {w, slot};
  return check_fork(fn, &j);
}

/* Fork N sleepers, kill all but the last: returns the survivor. Each is
   killed asleep in a futex wait (on a word of `on`, on_size bytes, when on
   is not NULL: a Condition's waiter may also sleep on its Lock while the
   others contend for it, and killed after it took the lock it would leave
   the lock to be recovered). */
static pid_t sleepers_then_kill(int (*fn)(void *), struct world *w,
                                const void *on, size_t on_size) {
  pid_t p[N];
  for (int i = 0; i < N; i++)
    p[i] = spawn(fn, w, i);
  for (int i = 0; i < N; i++)
    await_futex_sleep_on(p[i], p[i], on, on_size);
  for (int i = 0; i < N - 1; i++)
    kill_child(p[i]);
  return p[N - 1];
}

/* ---- Event --------------------------------------------------------------- */

static int event_waiter(void *arg) {
  struct job *j = arg;
  CHECK_OK(mpk_event_wait(j->w->e, CHECK_HANG_S));
  atomic_fetch_add(&j->w->done, 1);
  return 0;
}

static void test_event(void) {
  struct world *w = shared(sizeof *w);
  CHECK_OK(mpk_event_new(&w->e));
  pid_t survivor = sleepers_then_kill(event_waiter, w, NULL, 0);
  CHECK_OK(mpk_event_set(w->e));
  check_wait_ok(survivor, 10);
  CHECK_EQ(atomic_load(&w->done), 1);
  /* Still an ordinary Event. */
  CHECK_OK(mpk_event_clear(w->e));
  CHECK_RC(mpk_event_wait(w->e, 0.02), MPK_ETIMEDOUT);
  pid_t again = spawn(event_waiter, w, 0);
  await_futex_sleep(again, again);
  CHECK_OK(mpk_event_set(w->e));
  check_wait_ok(again, 10);
  mpk_event_free(w->e);
  mpk_shm_free(w);
}

/* ---- Condition ----------------------------------------------------------- */

static int has_ticket(void *arg) {
  return ((struct world *)arg)->tickets > 0;
}

static int cond_waiter(void *arg) {
  struct job *j = arg;
  struct world *w = j->w;
  CHECK_OK(mpk_cond_acquire(w->c, MPK_FOREVER));
  CHECK_OK(mpk_cond_wait_for(w->c, has_ticket, w, CHECK_HANG_S));
  w->tickets--;
  atomic_fetch_add(&w->done, 1);
  CHECK_OK(mpk_cond_release(w->c));
  return 0;
}

/* Two of three sleepers are killed; notify(1) still wakes the live one. */
static void test_cond(void) {
  struct world *w = shared(sizeof *w);
  CHECK_OK(mpk_cond_new(&w->c, NULL));
  pid_t survivor = sleepers_then_kill(cond_waiter, w, w->c, COND_FUTEX_SPAN);
  CHECK_OK(mpk_cond_acquire(w->c, 1)); /* killed waiters did not hold it */
  w->tickets = 1;
  CHECK_OK(mpk_cond_notify(w->c, 1));
  CHECK_OK(mpk_cond_release(w->c));
  check_wait_ok(survivor, 10);
  CHECK_EQ(atomic_load(&w->done), 1);
  /* Next waiter, next notify: as usual. */
  pid_t again = spawn(cond_waiter, w, 0);
  await_futex_sleep_on(again, again, w->c, COND_FUTEX_SPAN);
  CHECK_OK(mpk_cond_acquire(w->c, 1));
  w->tickets = 1;
  CHECK_OK(mpk_cond_notify(w->c, 1));
  CHECK_OK(mpk_cond_release(w->c));
  check_wait_ok(again, 10);
  mpk_cond_free(w->c);
  mpk_shm_free(w);
}

/* ---- Semaphore ----------------------------------------------------------- */

static int sem_waiter(void *arg) {
  struct job *j = arg;
  CHECK_OK(mpk_sem_acquire(j->w->s, CHECK_HANG_S));
  atomic_fetch_add(&j->w->done, 1);
  return 0;
}

static void test_sem(void) {
  struct world *w = shared(sizeof *w);
  CHECK_OK(mpk_sem_new(&w->s, 0, 0));
  pid_t survivor = sleepers_then_kill(sem_waiter, w, NULL, 0);
  CHECK_EQ(mpk_sem_value(w->s), 0); /* the dead took nothing */
  CHECK_OK(mpk_sem_release(w->s));
  check_wait_ok(survivor, 10);
  CHECK_EQ(atomic_load(&w->done), 1);
  CHECK_EQ(mpk_sem_value(w->s), 0);
  /* Nothing lost, nothing wedged: units come and go as before. */
  CHECK_OK(mpk_sem_release(w->s));
  CHECK_OK(mpk_sem_release(w->s));
  CHECK_EQ(mpk_sem_value(w->s), 2);
  CHECK_OK(mpk_sem_acquire(w->s, 0));
  CHECK_OK(mpk_sem_acquire(w->s, 0));
  CHECK_RC(mpk_sem_acquire(w->s, 0.02), MPK_ETIMEDOUT);
  pid_t a = spawn(sem_waiter, w, 0), b = spawn(sem_waiter, w, 1);
  await_futex_sleep(a, a);
  await_futex_sleep(b, b);
  CHECK_OK(mpk_sem_release(w->s));
  CHECK_OK(mpk_sem_release(w->s));
  check_wait_ok(a, 10);
  check_wait_ok(b, 10);
  CHECK_EQ(atomic_load(&w->done), 3);
  mpk_sem_free(w->s);
  mpk_shm_free(w);
}

/* ---- Lock: a killed waiter (not holder) changes nothing ------------------ */

static int lock_waiter(void *arg) {
  struct job *j = arg;
  atomic_store(&j->w->rc[j->slot], mpk_lock_acquire(j->w->l, CHECK_HANG_S));
  atomic_fetch_add(&j->w->done, 1);
  CHECK_OK(mpk_lock_release(j->w->l));
  return 0;
}

static void test_lock_waiter(void) {
  struct world *w = shared(sizeof *w);
  CHECK_OK(mpk_lock_new(&w->l));
  CHECK_OK(mpk_lock_acquire(w->l, 0));
  pid_t survivor = sleepers_then_kill(lock_waiter, w, NULL, 0);
  CHECK_OK(mpk_lock_release(w->l));
  check_wait_ok(survivor, 10);
  CHECK_RC(atomic_load(&w->rc[N - 1]), MPK_OK); /* not EOWNERDEAD */
  CHECK_OK(mpk_lock_acquire(w->l, 0));
  CHECK_OK(mpk_lock_release(w->l));
  mpk_lock_free(w->l);
  mpk_shm_free(w);
}

/* ---- Barrier ------------------------------------------------------------- */

static int barrier_waiter(void *arg) {
  struct job *j = arg;
  int r = mpk_barrier_wait(j->w->b, CHECK_HANG_S);
  atomic_store(&j->w->rc[j->slot], r);
  return r >= 0 ? 0 : 1;
}

static int doomed_partner(void *arg) {
  (void)arg;
  for (;;) /* would arrive later; is killed first */
    pause();
  return 0;
}

/* A 2-party barrier whose partner died before arriving: the survivor's wait
   times out (MPK_ETIMEDOUT, barrier broken) instead of hanging; after a
   reset a new partner completes a round. */
static void test_barrier_partner_died(void) {
  struct world *w = shared(sizeof *w);
  CHECK_OK(mpk_barrier_new(&w->b, 2));
  pid_t partner = check_fork(doomed_partner, w);
  kill_child(partner);
  double t0 = check_now();
  CHECK_RC(mpk_barrier_wait(w->b, 0.3), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.3 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
  CHECK_EQ(mpk_barrier_broken(w->b), 1);
  CHECK_OK(mpk_barrier_reset(w->b));
  pid_t fresh = spawn(barrier_waiter, w, 0);
  int mine = mpk_barrier_wait(w->b, CHECK_HANG_S);
  check_wait_ok(fresh, 10);
  CHECK_EQ(mine + atomic_load(&w->rc[0]), 1); /* {0, 1} */
  mpk_barrier_free(w->b);
  mpk_shm_free(w);
}

/* A party killed while asleep in a 3-party barrier has arrived: the two
   survivors complete the round (as in Python), and later rounds work. */
static void test_barrier_sleeper_killed(void) {
  struct world *w = shared(sizeof *w);
  CHECK_OK(mpk_barrier_new(&w->b, 3));
  pid_t dead = spawn(barrier_waiter, w, 0);
  await_futex_sleep(dead, dead);
  kill_child(dead);
  CHECK_EQ(mpk_barrier_n_waiting(w->b), 1);
  pid_t b = spawn(barrier_waiter, w, 1);
  int mine = mpk_barrier_wait(w->b, CHECK_HANG_S);
  check_wait_ok(b, 10);
  int got = 1 << mine | 1 << atomic_load(&w->rc[1]);
  CHECK_EQ(got, 6); /* {1, 2}: index 0 went to the dead one */
  CHECK_EQ(mpk_barrier_broken(w->b), 0);
  /* next round: three live parties */
  pid_t c = spawn(barrier_waiter, w, 1), d = spawn(barrier_waiter, w, 2);
  mine = mpk_barrier_wait(w->b, CHECK_HANG_S);
  check_wait_ok(c, 10);
  check_wait_ok(d, 10);
  got = 1 << mine | 1 << atomic_load(&w->rc[1]) | 1 << atomic_load(&w->rc[2]);
  CHECK_EQ(got, 7);
  mpk_barrier_free(w->b);
  mpk_shm_free(w);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_event);
  CHECK_RUN(test_cond);
  CHECK_RUN(test_sem);
  CHECK_RUN(test_lock_waiter);
  CHECK_RUN(test_barrier_partner_died);
  CHECK_RUN(test_barrier_sleeper_killed);
  return check_done();
}
