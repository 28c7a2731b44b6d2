/* queue.mpmc: N producers x M consumers moving 200k numbered messages of
   varied sizes through a small ring (it wraps thousands of times and both
   sides block often): every message is received exactly once, intact, and
   each consumer sees each producer's messages in the order they were put.
   Variant 1: 3 producer processes x 3 consumer processes.
   Variant 2: a mix: 2 producer processes with 2 threads each, 2 consumer
   processes with 2 threads each, and a consumer thread in the parent. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "mpk/process.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "queue/queue_internal.h"

enum { TOTAL = 200000, MAX_PRODUCERS = 8 };

typedef struct {
  mpk_queue_t *q;
  int producers;         /* producer streams (process or thread) */
  int per_producer;      /* messages per stream */
  _Atomic uint8_t *seen; /* [producers * per_producer], in the shared heap */
  _Atomic int bad;
  _Atomic long received;
} shared;

typedef struct {
  shared *s;
  int first_id; /* stream ids first_id .. first_id + threads - 1 */
  int threads;
} job;

static size_t extra_len(uint32_t seq) {
  return (seq * 7u) % 93;
}

static int produce(shared *s, int id) {
  unsigned char b[128];
  for (uint32_t seq = 0; seq < (uint32_t)s->per_producer; seq++) {
    uint32_t h[2] = {(uint32_t)id, seq};
    memcpy(b, h, 8);
    size_t n = extra_len(seq);
    memset(b + 8, (int)(id * 16 + seq), n);
    int r = mpk_queue_put(s->q, b, 8 + n, 60);
    if (r != MPK_OK) {
      fprintf(stderr, "producer %d: put %u: %s\n", id, seq, mpk_err_name(r));
      atomic_fetch_add(&s->bad, 1);
      return 1;
    }
  }
  return 0;
}

static int consume(shared *s) {
  unsigned char b[128];
  uint32_t next[MAX_PRODUCERS] = {0};
  for (;;) {
    size_t len;
    int r = mpk_queue_get(s->q, b, sizeof b, &len, 60);
    if (r == MPK_ECLOSED)
      return 0;
    if (r != MPK_OK || len < 8) {
      fprintf(stderr, "consumer: get: %s\n", mpk_err_name(r));
      atomic_fetch_add(&s->bad, 1);
      return 1;
    }
    uint32_t h[2];
    memcpy(h, b, 8);
    int ok = h[0] < (uint32_t)s->producers &&
             h[1] < (uint32_t)s->per_producer && h[1] >= next[h[0]] &&
             len == 8 + extra_len(h[1]);
    for (size_t k = 8; ok && k < len; k++)
      ok = b[k] == (unsigned char)(h[0] * 16 + h[1]);
    if (!ok) {
      fprintf(stderr, "consumer: bad message %u/%u len %zu\n", h[0], h[1], len);
      atomic_fetch_add(&s->bad, 1);
      return 1;
    }
    next[h[0]] = h[1] + 1;
    atomic_fetch_add(&s->seen[h[0] * s->per_producer + h[1]], 1);
    atomic_fetch_add(&s->received, 1);
  }
}

static void *producer_thread(void *p) {
  job *j = p;
  return (void *)(intptr_t)produce(j->s, j->first_id);
}

static void *consumer_thread(void *p) {
  return (void *)(intptr_t)consume(p);
}

/* A process running j->threads producer (or consumer) threads. */
static int run_threads(job *j, int producers) {
  pthread_t t[4];
  job tj[4];
  for (int i = 0; i < j->threads; i++) {
    tj[i] = (job){j->s, j->first_id + i, 1};
    if (pthread_create(&t[i], NULL,
                       producers ? producer_thread : consumer_thread,
                       producers ? (void *)&tj[i] : (void *)j->s) != 0)
      return 2;
  }
  int rc = 0;
  for (int i = 0; i < j->threads; i++) {
    void *r;
    pthread_join(t[i], &r);
    rc |= (int)(intptr_t)r;
  }
  return rc;
}

static int producer_main(void *p) {
  return run_threads(p, 1);
}
static int consumer_main(void *p) {
  return run_threads(p, 0);
}

static shared *new_shared(int producers, size_t capacity) {
  shared *s = mpk_shm_calloc(1, sizeof *s);
  CHECK(s != NULL);
  s->producers = producers;
  s->per_producer = TOTAL / producers;
  s->seen = mpk_shm_calloc((size_t)producers * (size_t)s->per_producer, 1);
  CHECK(s->seen != NULL);
  CHECK_OK(mpk_queue_new(&s->q, capacity, 0));
  return s;
}

static mpk_process_t *spawn(int (*fn)(void *), job *j) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, fn, j, sizeof *j, NULL));
  CHECK_OK(mpk_process_start(p));
  return p;
}

static void reap(mpk_process_t *p) {
  CHECK_OK(mpk_process_join(p, 120));
  int code = -1;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_MSG(code == 0, "%s exited with %d", mpk_process_name(p), code);
  mpk_process_free(p);
}

static void verify(shared *s) {
  CHECK_EQ(atomic_load(&s->bad), 0);
  long n = (long)s->producers * s->per_producer;
  CHECK_EQ(atomic_load(&s->received), n);
  for (long i = 0; i < n; i++)
    CHECK_MSG(atomic_load(&s->seen[i]) == 1, "message %ld/%ld seen %d times",
              i / s->per_producer, i % s->per_producer,
              (int)atomic_load(&s->seen[i]));
  CHECK_EQ(mpk_queue_qsize(s->q), 0);
  CHECK_EQ(mpk__queue_missed_wakes(s->q), 0);
  printf("# %ld messages, missed wake-ups %u\n", n,
         (unsigned)mpk__queue_missed_wakes(s->q));
}

static void free_shared(shared *s) {
  mpk_queue_free(s->q);
  mpk_shm_free((void *)s->seen);
  mpk_shm_free(s);
}

static void test_processes_3x3(void) {
  shared *s = new_shared(3, 16 << 10);
  mpk_process_t *cons[3], *prod[3];
  for (int i = 0; i < 3; i++) {
    job j = {s, 0, 1};
    cons[i] = spawn(consumer_main, &j);
  }
  for (int i = 0; i < 3; i++) {
    job j = {s, i, 1};
    prod[i] = spawn(producer_main, &j);
  }
  for (int i = 0; i < 3; i++)
    reap(prod[i]);
  CHECK_OK(mpk_queue_close(s->q)); /* consumers drain, then exit */
  for (int i = 0; i < 3; i++)
    reap(cons[i]);
  verify(s);
  free_shared(s);
}

static void test_processes_and_threads(void) {
  shared *s = new_shared(4, 4 << 10);
  mpk_process_t *cons[2], *prod[2];
  for (int i = 0; i < 2; i++) {
    job j = {s, 0, 2};
    cons[i] = spawn(consumer_main, &j);
  }
  for (int i = 0; i < 2; i++) {
    job j = {s, 2 * i, 2};
    prod[i] = spawn(producer_main, &j);
  }
  /* Our own consumer thread starts only after the last fork: a fork while
     another thread is inside malloc can leave a sanitizer's allocator lock
     held forever in the child (GCC 12's ASan has no fork handler for it). */
  pthread_t local;
  CHECK_EQ(pthread_create(&local, NULL, consumer_thread, s), 0);
  for (int i = 0; i < 2; i++)
    reap(prod[i]);
  CHECK_OK(mpk_queue_close(s->q));
  for (int i = 0; i < 2; i++)
    reap(cons[i]);
  void *r;
  CHECK_EQ(pthread_join(local, &r), 0);
  CHECK_EQ((intptr_t)r, 0);
  verify(s);
  free_shared(s);
}

int main(void) {
  check_watchdog(150);
  /* a lost wake-up hangs (and a late waker only delays): queue_internal.h */
  mpk__queue_set_recheck(false);
  CHECK_RUN(test_processes_3x3);
  CHECK_RUN(test_processes_and_threads);
  return check_done();
}
