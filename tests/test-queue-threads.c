/* queue.threads: the queue between threads of one process (also run under
   ThreadSanitizer): MPMC exactly-once with per-producer order, blocking on a
   tiny ring, JoinableQueue workers, and close waking several blocked
   getters. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "mpk/queue.h"
#include "queue/queue_internal.h"

enum { PRODUCERS = 3, CONSUMERS = 3, PER_PRODUCER = 20000 };

typedef struct {
  mpk_queue_t *q;
  int id;
  _Atomic int *seen; /* [PRODUCERS][PER_PRODUCER] receive counts */
  _Atomic int bad;
} ctx;

typedef struct {
  ctx *c;
  int id;
} arg;

/* Message: producer, sequence, then a pattern of length 0..40 */
static size_t pattern_len(uint32_t s) {
  return s % 41;
}

static void *producer(void *p) {
  arg *a = p;
  unsigned char b[64];
  for (uint32_t s = 0; s < PER_PRODUCER; s++) {
    uint32_t h[2] = {(uint32_t)a->id, s};
    memcpy(b, h, 8);
    size_t n = pattern_len(s);
    for (size_t k = 0; k < n; k++)
      b[8 + k] = (unsigned char)(s + k);
    if (mpk_queue_put(a->c->q, b, 8 + n, CHECK_HANG_S) != MPK_OK) {
      atomic_fetch_add(&a->c->bad, 1);
      return NULL;
    }
  }
  return NULL;
}

static void *consumer(void *p) {
  arg *a = p;
  unsigned char b[64];
  uint32_t next[PRODUCERS] = {0};
  for (;;) {
    size_t len;
    int r = mpk_queue_get(a->c->q, b, sizeof b, &len, CHECK_HANG_S);
    if (r == MPK_ECLOSED)
      return NULL;
    if (r != MPK_OK || len < 8) {
      atomic_fetch_add(&a->c->bad, 1);
      return NULL;
    }
    uint32_t h[2];
    memcpy(h, b, 8);
    int ok = h[0] < PRODUCERS && h[1] < PER_PRODUCER && h[1] >= next[h[0]] &&
             len == 8 + pattern_len(h[1]);
    for (size_t k = 0; ok && k + 8 < len; k++)
      ok = b[8 + k] == (unsigned char)(h[1] + k);
    if (!ok) {
      atomic_fetch_add(&a->c->bad, 1);
      return NULL;
    }
    next[h[0]] = h[1] + 1; /* per-producer order, as this consumer saw it */
    atomic_fetch_add(&a->c->seen[h[0] * PER_PRODUCER + h[1]], 1);
  }
}

static void run_mpmc(size_t capacity) {
  ctx c = {0};
  CHECK_OK(mpk_queue_new(&c.q, capacity, 0));
  c.seen = calloc(PRODUCERS * PER_PRODUCER, sizeof *c.seen);
  CHECK(c.seen != NULL);
  pthread_t pt[PRODUCERS], ct[CONSUMERS];
  arg pa[PRODUCERS], ca[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++) {
    ca[i] = (arg){&c, i};
    CHECK_EQ(pthread_create(&ct[i], NULL, consumer, &ca[i]), 0);
  }
  for (int i = 0; i < PRODUCERS; i++) {
    pa[i] = (arg){&c, i};
    CHECK_EQ(pthread_create(&pt[i], NULL, producer, &pa[i]), 0);
  }
  for (int i = 0; i < PRODUCERS; i++)
    CHECK_EQ(pthread_join(pt[i], NULL), 0);
  CHECK_OK(mpk_queue_close(c.q)); /* consumers drain, then see ECLOSED */
  for (int i = 0; i < CONSUMERS; i++)
    CHECK_EQ(pthread_join(ct[i], NULL), 0);
  CHECK_EQ(atomic_load(&c.bad), 0);
  for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
    CHECK_MSG(atomic_load(&c.seen[i]) == 1, "message %d/%d seen %d times",
              i / PER_PRODUCER, i % PER_PRODUCER, atomic_load(&c.seen[i]));
  CHECK_EQ(mpk_queue_qsize(c.q), 0);
  CHECK_EQ(mpk__queue_missed_wakes(c.q), 0);
  free(c.seen);
  mpk_queue_free(c.q);
}

static void test_mpmc_big_ring(void) {
  run_mpmc(1 << 16);
}

/* 64 bytes: at most one or two messages fit, so every put and get waits. */
static void test_mpmc_tiny_ring(void) {
  run_mpmc(64);
}

typedef struct {
  mpk_queue_t *tasks;
  _Atomic long sum;
} join_ctx;

static void *worker(void *p) {
  join_ctx *j = p;
  for (;;) {
    long v;
    size_t len;
    int r = mpk_queue_get(j->tasks, &v, sizeof v, &len, MPK_FOREVER);
    if (r != MPK_OK)
      return NULL; /* closed */
    atomic_fetch_add(&j->sum, v);
    mpk_queue_task_done(j->tasks);
  }
}

static void test_joinable_workers(void) {
  join_ctx j = {0};
  CHECK_OK(mpk_queue_new(&j.tasks, 256, 1));
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, worker, &j), 0);
  long want = 0;
  for (int round = 0; round < 20; round++) {
    for (long v = 1; v <= 100; v++) {
      CHECK_OK(mpk_queue_put(j.tasks, &v, sizeof v, CHECK_HANG_S));
      want += v;
    }
    CHECK_OK(mpk_queue_join(j.tasks,
                            CHECK_HANG_S)); /* every task of the round done */
    CHECK_EQ(atomic_load(&j.sum), want);
    CHECK_EQ(mpk_queue_unfinished(j.tasks), 0);
  }
  CHECK_RC(mpk_queue_task_done(j.tasks), MPK_EOVERFLOW);
  CHECK_OK(mpk_queue_close(j.tasks));
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  CHECK_EQ(mpk__queue_missed_wakes(j.tasks), 0);
  mpk_queue_free(j.tasks);
}

static void *blocked_getter(void *p) {
  mpk_queue_t *q = p;
  char b[8];
  size_t len;
  return (void *)(intptr_t)mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER);
}

static void test_close_wakes_all_getters(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 128, 0));
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    CHECK_EQ(pthread_create(&t[i], NULL, blocked_getter, q), 0);
  check_sleep(0.05);
  CHECK_OK(mpk_queue_put(q, "x", 1, 0)); /* exactly one getter gets it */
  check_sleep(0.05);
  CHECK_OK(mpk_queue_close(q));
  int ok = 0, closed = 0;
  for (int i = 0; i < 4; i++) {
    void *r;
    CHECK_EQ(pthread_join(t[i], &r), 0);
    ok += (intptr_t)r == MPK_OK;
    closed += (intptr_t)r == MPK_ECLOSED;
  }
  CHECK_EQ(ok, 1);
  CHECK_EQ(closed, 3);
  mpk_queue_free(q);
}

int main(void) {
  check_watchdog(120);
  /* a lost wake-up hangs (and a late waker only delays): queue_internal.h */
  mpk__queue_set_recheck(false);
  CHECK_RUN(test_mpmc_big_ring);
  CHECK_RUN(test_mpmc_tiny_ring);
  CHECK_RUN(test_joinable_workers);
  CHECK_RUN(test_close_wakes_all_getters);
  return check_done();
}
