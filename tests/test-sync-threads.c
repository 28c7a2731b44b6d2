/* sync.threads: every primitive between threads of one process (also run
 * under ThreadSanitizer): the owner is the (process, thread), and waits
 * work the same as between processes. */
#include <pthread.h>

#include "test-sync-util.h"

#define NT 4

static void run_threads(int n, void *(*fn)(void *), void *arg) {
  pthread_t t[NT];
  for (int i = 0; i < n; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, fn, arg), 0);
  for (int i = 0; i < n; i++)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
}

/* ---- Lock ---------------------------------------------------------------- */

enum { ITERS = 20000 };

struct counter {
  mpk_lock_t *l;
  mpk_rlock_t *r;
  long value; /* plain: protected by the lock under test */
};

static void *lock_increment(void *arg) {
  struct counter *c = arg;
  for (int i = 0; i < ITERS; i++) {
    CHECK_OK(mpk_lock_acquire(c->l, MPK_FOREVER));
    c->value++;
    CHECK_OK(mpk_lock_release(c->l));
  }
  return NULL;
}

static void test_lock_mutual_exclusion(void) {
  struct counter *c = shared(sizeof *c);
  CHECK_OK(mpk_lock_new(&c->l));
  run_threads(NT, lock_increment, c);
  CHECK_EQ(c->value, (long)NT * ITERS);
  mpk_lock_free(c->l);
  mpk_shm_free(c);
}

struct owner {
  mpk_lock_t *l;
  mpk_rlock_t *r;
};

static void *foreign_thread(void *arg) {
  struct owner *o = arg;
  /* The main thread holds both: this thread owns neither. */
  CHECK_RC(mpk_lock_release(o->l), MPK_EPERM);
  CHECK_RC(mpk_lock_acquire(o->l, 0), MPK_ETIMEDOUT);
  CHECK_RC(mpk_lock_acquire(o->l, 0.05), MPK_ETIMEDOUT);
  CHECK_RC(mpk_rlock_release(o->r), MPK_EPERM);
  CHECK_RC(mpk_rlock_acquire(o->r, 0), MPK_ETIMEDOUT);
  CHECK_RC(mpk_rlock_acquire(o->r, 0.05), MPK_ETIMEDOUT);
  return NULL;
}

static void test_owner_is_thread(void) {
  struct owner o;
  CHECK_OK(mpk_lock_new(&o.l));
  CHECK_OK(mpk_rlock_new(&o.r));
  CHECK_OK(mpk_lock_acquire(o.l, 0));
  CHECK_OK(mpk_rlock_acquire(o.r, 0));
  CHECK_OK(mpk_rlock_acquire(o.r, 0));
  run_threads(1, foreign_thread, &o);
  CHECK_RC(mpk_lock_acquire(o.l, 0), MPK_EDEADLK);
  CHECK_OK(mpk_lock_release(o.l));
  CHECK_OK(mpk_rlock_release(o.r));
  CHECK_OK(mpk_rlock_release(o.r));
  CHECK_RC(mpk_rlock_release(o.r), MPK_EPERM);
  mpk_lock_free(o.l);
  mpk_rlock_free(o.r);
}

static void *rlock_nested(void *arg) {
  struct counter *c = arg;
  for (int i = 0; i < ITERS / 4; i++) {
    CHECK_OK(mpk_rlock_acquire(c->r, MPK_FOREVER));
    CHECK_OK(mpk_rlock_acquire(c->r, CHECK_HANG_S));
    c->value++;
    CHECK_OK(mpk_rlock_release(c->r));
    c->value++;
    CHECK_OK(mpk_rlock_release(c->r));
  }
  return NULL;
}

static void test_rlock_threads(void) {
  struct counter *c = shared(sizeof *c);
  CHECK_OK(mpk_rlock_new(&c->r));
  run_threads(NT, rlock_nested, c);
  CHECK_EQ(c->value, (long)NT * (ITERS / 4) * 2);
  mpk_rlock_free(c->r);
  mpk_shm_free(c);
}

/* ---- Semaphore ----------------------------------------------------------- */

struct semtest {
  mpk_sem_t *items, *slots;
  long buf[8];
  int head, tail; /* each touched by one side only */
  long sum;
};

enum { SEM_ITEMS = 5000 };

static void *sem_producer(void *arg) {
  struct semtest *t = arg;
  for (long i = 1; i <= SEM_ITEMS; i++) {
    CHECK_OK(mpk_sem_acquire(t->slots, CHECK_HANG_S));
    t->buf[t->tail] = i;
    t->tail = (t->tail + 1) % 8;
    CHECK_OK(mpk_sem_release(t->items));
  }
  return NULL;
}

static void test_sem_producer_consumer(void) {
  struct semtest *t = shared(sizeof *t);
  CHECK_OK(mpk_sem_new(&t->items, 0, 0));
  CHECK_OK(mpk_sem_new(&t->slots, 8, 1));
  pthread_t p;
  CHECK_EQ(pthread_create(&p, NULL, sem_producer, t), 0);
  for (long i = 1; i <= SEM_ITEMS; i++) {
    CHECK_OK(mpk_sem_acquire(t->items, CHECK_HANG_S));
    CHECK_EQ(t->buf[t->head], i);
    t->head = (t->head + 1) % 8;
    CHECK_OK(mpk_sem_release(t->slots));
  }
  CHECK_EQ(pthread_join(p, NULL), 0);
  CHECK_EQ(mpk_sem_value(t->slots), 8);
  CHECK_RC(mpk_sem_release(t->slots), MPK_EOVERFLOW);
  CHECK_EQ(mpk_sem_value(t->items), 0);
  mpk_sem_free(t->items);
  mpk_sem_free(t->slots);
  mpk_shm_free(t);
}

/* ---- Event --------------------------------------------------------------- */

struct evtest {
  mpk_event_t *e;
  long payload;
  _Atomic int woke;
};

static void *event_waiter(void *arg) {
  struct evtest *t = arg;
  CHECK_OK(mpk_event_wait(t->e, CHECK_HANG_S));
  CHECK_EQ(t->payload, 7);
  atomic_fetch_add(&t->woke, 1);
  return NULL;
}

static void test_event_threads(void) {
  struct evtest *t = shared(sizeof *t);
  CHECK_OK(mpk_event_new(&t->e));
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, event_waiter, t), 0);
  check_sleep(0.02);
  t->payload = 7;
  CHECK_OK(mpk_event_set(t->e));
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_join(th[i], NULL), 0);
  CHECK_EQ(atomic_load(&t->woke), 3);
  CHECK_OK(mpk_event_clear(t->e));
  CHECK_RC(mpk_event_wait(t->e, 0.01), MPK_ETIMEDOUT);
  mpk_event_free(t->e);
  mpk_shm_free(t);
}

/* ---- Condition ----------------------------------------------------------- */

enum { CAP = 4, COND_ITEMS = 3000 };

struct pc {
  mpk_cond_t *c;
  long ring[CAP];
  int head, tail, n; /* guarded by the Condition's lock */
  long consumed;
};

static int not_full(void *arg) {
  return ((struct pc *)arg)->n < CAP;
}
static int not_empty(void *arg) {
  return ((struct pc *)arg)->n > 0;
}

static void *cond_producer(void *arg) {
  struct pc *q = arg;
  for (long i = 1; i <= COND_ITEMS; i++) {
    CHECK_OK(mpk_cond_acquire(q->c, MPK_FOREVER));
    CHECK_OK(mpk_cond_wait_for(q->c, not_full, q, CHECK_HANG_S));
    q->ring[q->tail] = i;
    q->tail = (q->tail + 1) % CAP;
    q->n++;
    CHECK_OK(mpk_cond_notify_all(q->c));
    CHECK_OK(mpk_cond_release(q->c));
  }
  return NULL;
}

static void *cond_consumer(void *arg) {
  struct pc *q = arg;
  for (int i = 0; i < COND_ITEMS / 2; i++) {
    CHECK_OK(mpk_cond_acquire(q->c, MPK_FOREVER));
    CHECK_OK(mpk_cond_wait_for(q->c, not_empty, q, CHECK_HANG_S));
    q->consumed += q->ring[q->head];
    q->head = (q->head + 1) % CAP;
    q->n--;
    CHECK_OK(mpk_cond_notify(q->c, 1));
    CHECK_OK(mpk_cond_release(q->c));
  }
  return NULL;
}

/* One producer, two consumers: notify(1) may wake the wrong kind of
   waiter, which wait_for's predicate loop absorbs; nothing is lost. */
static void test_cond_producer_consumers(void) {
  struct pc *q = shared(sizeof *q);
  CHECK_OK(mpk_cond_new(&q->c, NULL));
  pthread_t t[3];
  CHECK_EQ(pthread_create(&t[0], NULL, cond_producer, q), 0);
  CHECK_EQ(pthread_create(&t[1], NULL, cond_consumer, q), 0);
  CHECK_EQ(pthread_create(&t[2], NULL, cond_consumer, q), 0);
  for (int i = 0; i < 3; i++)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  CHECK_EQ(q->consumed, (long)COND_ITEMS * (COND_ITEMS + 1) / 2);
  CHECK_EQ(q->n, 0);
  mpk_cond_free(q->c);
  mpk_shm_free(q);
}

static void *cond_wait_not_holding(void *arg) {
  mpk_cond_t *c = arg; /* the main thread holds the lock */
  CHECK_RC(mpk_cond_wait(c, 0), MPK_EPERM);
  CHECK_RC(mpk_cond_notify(c, 1), MPK_EPERM);
  CHECK_RC(mpk_cond_notify_all(c), MPK_EPERM);
  CHECK_RC(mpk_cond_release(c), MPK_EPERM);
  return NULL;
}

static void test_cond_other_thread_holds(void) {
  mpk_cond_t *c;
  CHECK_OK(mpk_cond_new(&c, NULL));
  CHECK_OK(mpk_cond_acquire(c, 0));
  run_threads(1, cond_wait_not_holding, c);
  CHECK_OK(mpk_cond_release(c));
  mpk_cond_free(c);
}

/* ---- Barrier ------------------------------------------------------------- */

enum { B_ROUNDS = 1000, B_PARTIES = 3 };

struct btest {
  mpk_barrier_t *b;
  _Atomic int seen[B_ROUNDS];
  long stage[B_PARTIES]; /* plain: ordered by the barrier */
  _Atomic int next_id;
  _Atomic int broken;
};

static void *barrier_rounds(void *arg) {
  struct btest *t = arg;
  int me = atomic_fetch_add(&t->next_id, 1);
  for (int k = 0; k < B_ROUNDS; k++) {
    t->stage[me] = k;
    int i = mpk_barrier_wait(t->b, CHECK_HANG_S);
    CHECK(i >= 0 && i < B_PARTIES);
    atomic_fetch_or(&t->seen[k], 1 << i);
    for (int j = 0; j < B_PARTIES; j++)
      CHECK(t->stage[j] >= k);
    CHECK(mpk_barrier_wait(t->b, CHECK_HANG_S) >= 0);
  }
  return NULL;
}

static void test_barrier_rounds(void) {
  struct btest *t = shared(sizeof *t);
  CHECK_OK(mpk_barrier_new(&t->b, B_PARTIES));
  run_threads(B_PARTIES, barrier_rounds, t);
  for (int k = 0; k < B_ROUNDS; k++)
    CHECK_EQ(atomic_load(&t->seen[k]), (1 << B_PARTIES) - 1);
  mpk_barrier_free(t->b);
  mpk_shm_free(t);
}

static void *barrier_expect_broken(void *arg) {
  struct btest *t = arg;
  atomic_fetch_add(&t->next_id, 1);
  CHECK_RC(mpk_barrier_wait(t->b, CHECK_HANG_S), MPK_EBROKEN);
  atomic_fetch_add(&t->broken, 1);
  return NULL;
}

static void test_barrier_abort_reset(void) {
  struct btest *t = shared(sizeof *t);
  CHECK_OK(mpk_barrier_new(&t->b, 3));
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, barrier_expect_broken, t), 0);
  double end = check_now() + CHECK_HANG_S;
  while (mpk_barrier_n_waiting(t->b) < 2)
    CHECK(check_now() < end);
  CHECK_OK(mpk_barrier_abort(t->b));
  for (int i = 0; i < 2; i++)
    CHECK_EQ(pthread_join(th[i], NULL), 0);
  CHECK_EQ(atomic_load(&t->broken), 2);
  CHECK_OK(mpk_barrier_reset(t->b));
  /* reset with waiters */
  for (int i = 0; i < 2; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, barrier_expect_broken, t), 0);
  end = check_now() + CHECK_HANG_S;
  while (mpk_barrier_n_waiting(t->b) < 2)
    CHECK(check_now() < end);
  CHECK_OK(mpk_barrier_reset(t->b));
  for (int i = 0; i < 2; i++)
    CHECK_EQ(pthread_join(th[i], NULL), 0);
  CHECK_EQ(atomic_load(&t->broken), 4);
  CHECK_EQ(mpk_barrier_broken(t->b), 0);
  mpk_barrier_free(t->b);
  mpk_shm_free(t);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_lock_mutual_exclusion);
  CHECK_RUN(test_owner_is_thread);
  CHECK_RUN(test_rlock_threads);
  CHECK_RUN(test_sem_producer_consumer);
  CHECK_RUN(test_event_threads);
  CHECK_RUN(test_cond_producer_consumers);
  CHECK_RUN(test_cond_other_thread_holds);
  CHECK_RUN(test_barrier_rounds);
  CHECK_RUN(test_barrier_abort_reset);
  return check_done();
}
