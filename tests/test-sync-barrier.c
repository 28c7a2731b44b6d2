/* sync.barrier: Barrier across processes - indices, abort, reset, timeouts
 * that break it, and 1000 rounds of a 3-party barrier. */
#include "test-sync-util.h"

static void test_bad_input(void) {
  mpk_barrier_t *b;
  CHECK_RC(mpk_barrier_new(NULL, 2), MPK_EINVAL);
  CHECK_RC(mpk_barrier_new(&b, 0), MPK_EINVAL);
  CHECK_RC(mpk_barrier_new(&b, 1u << 24), MPK_EINVAL);
  CHECK_RC(mpk_barrier_wait(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_barrier_abort(NULL), MPK_EINVAL);
  CHECK_RC(mpk_barrier_reset(NULL), MPK_EINVAL);
  CHECK_RC(mpk_barrier_n_waiting(NULL), MPK_EINVAL);
  CHECK_RC(mpk_barrier_broken(NULL), MPK_EINVAL);
  CHECK_RC(mpk_barrier_parties(NULL), MPK_EINVAL);
  mpk_barrier_free(NULL);
  CHECK_OK(mpk_barrier_new(&b, (1u << 24) - 1));
  CHECK_EQ(mpk_barrier_parties(b), (1 << 24) - 1);
  mpk_barrier_free(b);
  CHECK_OK(mpk_barrier_new(&b, 2));
  CHECK_RC(mpk_barrier_wait(b, NAN), MPK_EINVAL);
  CHECK_EQ(mpk_barrier_n_waiting(b), 0); /* NaN did not arrive */
  CHECK_EQ(mpk_barrier_broken(b), 0);
  mpk_barrier_free(b);
  CHECK_RC(mpk_barrier_wait(b, 0), MPK_EINVAL); /* freed */
}

static void test_one_party(void) {
  mpk_barrier_t *b;
  CHECK_OK(mpk_barrier_new(&b, 1));
  CHECK_EQ(mpk_barrier_parties(b), 1);
  for (int i = 0; i < 10; i++)
    CHECK_EQ(mpk_barrier_wait(b, 0), 0);
  CHECK_EQ(mpk_barrier_n_waiting(b), 0);
  mpk_barrier_free(b);
}

struct bar {
  mpk_barrier_t *b;
  _Atomic int idx[8];
  _Atomic int rc[8];
  _Atomic int arrived;
};

struct who {
  struct bar *s;
  int slot;
  double timeout;
};

static int child_wait(void *arg) {
  struct who *w = arg;
  atomic_fetch_add(&w->s->arrived, 1);
  int r = mpk_barrier_wait(w->s->b, w->timeout);
  atomic_store(&w->s->rc[w->slot], r);
  return 0;
}

static pid_t spawn_waiter(struct bar *s, int slot, double timeout) {
  struct who w = {s, slot, timeout};
  return check_fork(child_wait, &w); /* the child has its own copy of w */
}

/* Two processes: both pass, with indices {0, 1}; the last one to arrive
   gets parties - 1. */
static void test_two_processes(void) {
  struct bar *s = shared(sizeof *s);
  CHECK_OK(mpk_barrier_new(&s->b, 2));
  pid_t a = spawn_waiter(s, 0, CHECK_HANG_S);
  await_futex_sleep(a, a);
  CHECK_EQ(mpk_barrier_n_waiting(s->b), 1);
  pid_t b = spawn_waiter(s, 1, CHECK_HANG_S);
  check_wait_ok(a, 10);
  check_wait_ok(b, 10);
  CHECK_EQ(atomic_load(&s->rc[0]), 0); /* first to arrive */
  CHECK_EQ(atomic_load(&s->rc[1]), 1); /* last: parties - 1 */
  CHECK_EQ(mpk_barrier_n_waiting(s->b), 0);
  CHECK_EQ(mpk_barrier_broken(s->b), 0);
  mpk_barrier_free(s->b);
  mpk_shm_free(s);
}

/* abort: the sleepers get MPK_EBROKEN, later waiters too, until reset. */
static void test_abort(void) {
  struct bar *s = shared(sizeof *s);
  CHECK_OK(mpk_barrier_new(&s->b, 3));
  pid_t a = spawn_waiter(s, 0, CHECK_HANG_S);
  pid_t b = spawn_waiter(s, 1, CHECK_HANG_S);
  await_futex_sleep(a, a);
  await_futex_sleep(b, b);
  CHECK_EQ(mpk_barrier_n_waiting(s->b), 2);
  CHECK_OK(mpk_barrier_abort(s->b));
  check_wait_ok(a, 10);
  check_wait_ok(b, 10);
  CHECK_RC(atomic_load(&s->rc[0]), MPK_EBROKEN);
  CHECK_RC(atomic_load(&s->rc[1]), MPK_EBROKEN);
  CHECK_EQ(mpk_barrier_broken(s->b), 1);
  CHECK_EQ(mpk_barrier_n_waiting(s->b), 0);
  CHECK_RC(mpk_barrier_wait(s->b, 1), MPK_EBROKEN); /* future waiters */
  CHECK_RC(mpk_barrier_wait(s->b, 0), MPK_EBROKEN);
  CHECK_OK(mpk_barrier_abort(s->b)); /* again: still fine */
  CHECK_OK(mpk_barrier_reset(s->b));
  CHECK_EQ(mpk_barrier_broken(s->b), 0);
  /* usable again: a full round */
  pid_t c = spawn_waiter(s, 2, CHECK_HANG_S);
  pid_t d = spawn_waiter(s, 3, CHECK_HANG_S);
  int mine = mpk_barrier_wait(s->b, CHECK_HANG_S);
  check_wait_ok(c, 10);
  check_wait_ok(d, 10);
  int seen =
      1 << mine | 1 << atomic_load(&s->rc[2]) | 1 << atomic_load(&s->rc[3]);
  CHECK_EQ(seen, 7); /* {0, 1, 2} */
  mpk_barrier_free(s->b);
  mpk_shm_free(s);
}

/* reset while processes wait: they get MPK_EBROKEN; the barrier is not
   broken afterwards and the next round works. */
static void test_reset_with_waiters(void) {
  struct bar *s = shared(sizeof *s);
  CHECK_OK(mpk_barrier_new(&s->b, 2));
  pid_t a = spawn_waiter(s, 0, CHECK_HANG_S);
  await_futex_sleep(a, a);
  CHECK_OK(mpk_barrier_reset(s->b));
  check_wait_ok(a, 10);
  CHECK_RC(atomic_load(&s->rc[0]), MPK_EBROKEN);
  CHECK_EQ(mpk_barrier_broken(s->b), 0);
  CHECK_EQ(mpk_barrier_n_waiting(s->b), 0);
  CHECK_OK(mpk_barrier_reset(s->b)); /* on an idle barrier: harmless */
  pid_t b = spawn_waiter(s, 1, CHECK_HANG_S);
  int mine = mpk_barrier_wait(s->b, CHECK_HANG_S);
  check_wait_ok(b, 10);
  CHECK_EQ(mine + atomic_load(&s->rc[1]), 1); /* {0, 1} */
  mpk_barrier_free(s->b);
  mpk_shm_free(s);
}

/* A waiter whose timeout passes gets MPK_ETIMEDOUT and breaks the barrier;
   the others get MPK_EBROKEN. */
static void test_timeout_breaks(void) {
  struct bar *s = shared(sizeof *s);
  CHECK_OK(mpk_barrier_new(&s->b, 3));
  pid_t a = spawn_waiter(s, 0, CHECK_HANG_S);
  await_futex_sleep(a, a);
  double t0 = check_now();
  CHECK_RC(mpk_barrier_wait(s->b, 0.2), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.2 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
  check_wait_ok(a, 10);
  CHECK_RC(atomic_load(&s->rc[0]), MPK_EBROKEN);
  CHECK_EQ(mpk_barrier_broken(s->b), 1);
  CHECK_RC(mpk_barrier_wait(s->b, 1), MPK_EBROKEN);
  CHECK_OK(mpk_barrier_reset(s->b));
  /* A poll that is not the last arrival also times out and breaks it. */
  CHECK_RC(mpk_barrier_wait(s->b, 0), MPK_ETIMEDOUT);
  CHECK_EQ(mpk_barrier_broken(s->b), 1);
  CHECK_OK(mpk_barrier_reset(s->b));
  mpk_barrier_free(s->b);
  mpk_shm_free(s);
}

static int child_rounds_of_two(void *arg) {
  struct who *w = arg; /* w->slot: how many rounds to take part in */
  for (int k = 0; k < w->slot; k++)
    CHECK(mpk_barrier_wait(w->s->b, CHECK_HANG_S) >= 0);
  return 0;
}

/* A waiter that does not run while its round ends and later rounds go by
   (SIGSTOPped here) still learns how its own round ended: torn down by a
   reset -> MPK_EBROKEN, even though later rounds completed; completed ->
   its index, even though a later round was reset. */
static void test_late_waiter_history(void) {
  struct bar *s = shared(sizeof *s);
  CHECK_OK(mpk_barrier_new(&s->b, 2));
  /* reset first, then three complete rounds */
  atomic_store(&s->rc[0], 1);
  pid_t w = spawn_waiter(s, 0, CHECK_HANG_S);
  await_futex_sleep(w, w);
  CHECK_EQ(kill(w, SIGSTOP), 0);
  CHECK_OK(mpk_barrier_reset(s->b));
  struct who three = {s, 3, 0};
  pid_t x = check_fork(child_rounds_of_two, &three);
  for (int k = 0; k < 3; k++)
    CHECK(mpk_barrier_wait(s->b, CHECK_HANG_S) >= 0);
  check_wait_ok(x, 10);
  CHECK_EQ(atomic_load(&s->rc[0]), 1); /* still stopped */
  CHECK_EQ(kill(w, SIGCONT), 0);
  check_wait_ok(w, 10);
  CHECK_RC(atomic_load(&s->rc[0]), MPK_EBROKEN);

  /* complete first (while stopped), then two rounds, a reset, a round */
  atomic_store(&s->rc[1], 1);
  w = spawn_waiter(s, 1, CHECK_HANG_S);
  await_futex_sleep(w, w);
  CHECK_EQ(kill(w, SIGSTOP), 0);
  CHECK_EQ(mpk_barrier_wait(s->b, CHECK_HANG_S), 1); /* completes w's round */
  struct who two = {s, 2, 0};
  x = check_fork(child_rounds_of_two, &two);
  for (int k = 0; k < 2; k++)
    CHECK(mpk_barrier_wait(s->b, CHECK_HANG_S) >= 0);
  check_wait_ok(x, 10);
  CHECK_OK(mpk_barrier_reset(s->b));
  struct who one = {s, 1, 0};
  x = check_fork(child_rounds_of_two, &one);
  CHECK(mpk_barrier_wait(s->b, CHECK_HANG_S) >= 0);
  check_wait_ok(x, 10);
  CHECK_EQ(atomic_load(&s->rc[1]), 1); /* still stopped */
  CHECK_EQ(kill(w, SIGCONT), 0);
  check_wait_ok(w, 10);
  CHECK_EQ(atomic_load(&s->rc[1]), 0); /* released, first to arrive */
  mpk_barrier_free(s->b);
  mpk_shm_free(s);
}

enum { ROUNDS = 1000, PARTIES = 3 };

struct rounds {
  mpk_barrier_t *b;
  int seen[ROUNDS][PARTIES]; /* seen[r][i]: who got index i in round r */
  long stage[PARTIES];       /* plain: each party writes its own */
};

struct party {
  struct rounds *r;
  int me;
};

static int child_rounds(void *arg) {
  struct party *p = arg;
  struct rounds *r = p->r;
  for (int k = 0; k < ROUNDS; k++) {
    r->stage[p->me] = k; /* before the barrier ... */
    int i = mpk_barrier_wait(r->b, CHECK_HANG_S);
    CHECK(i >= 0 && i < PARTIES);
    r->seen[k][i] = p->me + 1;
    for (int j = 0; j < PARTIES; j++) /* ... seen by all after it */
      CHECK(r->stage[j] >= k);
    /* A second barrier so nobody writes stage k+1 before all checked. */
    CHECK(mpk_barrier_wait(r->b, CHECK_HANG_S) >= 0);
  }
  return 0;
}

/* 1000 rounds (2000 barrier waits) of a 3-party barrier across processes:
   every round hands out each index exactly once, and the writes made before
   the barrier are visible after it. */
static void test_many_rounds(void) {
  struct rounds *r = shared(sizeof *r);
  CHECK_OK(mpk_barrier_new(&r->b, PARTIES));
  pid_t pids[PARTIES];
  for (int i = 0; i < PARTIES; i++) {
    struct party p = {r, i};
    pids[i] = check_fork(child_rounds, &p);
  }
  for (int i = 0; i < PARTIES; i++)
    check_wait_ok(pids[i], 60);
  for (int k = 0; k < ROUNDS; k++) {
    int who = 0;
    for (int i = 0; i < PARTIES; i++) {
      CHECK(r->seen[k][i] >= 1 && r->seen[k][i] <= PARTIES);
      who |= 1 << (r->seen[k][i] - 1);
    }
    CHECK_EQ(who, (1 << PARTIES) - 1); /* three distinct parties */
  }
  CHECK_EQ(mpk_barrier_broken(r->b), 0);
  CHECK_EQ(mpk_barrier_n_waiting(r->b), 0);
  mpk_barrier_free(r->b);
  mpk_shm_free(r);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_input);
  CHECK_RUN(test_one_party);
  CHECK_RUN(test_two_processes);
  CHECK_RUN(test_abort);
  CHECK_RUN(test_reset_with_waiters);
  CHECK_RUN(test_timeout_breaks);
  CHECK_RUN(test_late_waiter_history);
  CHECK_RUN(test_many_rounds);
  return check_done();
}
