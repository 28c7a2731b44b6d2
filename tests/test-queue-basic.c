/* queue.basic: every call and error code of mpk/queue.h, FIFO, wrap-around,
   zero-length and oversized messages, full/empty/qsize, timeouts, close,
   JoinableQueue, and blocking across processes. */
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "queue/queue_internal.h"

/* Message i: length i % 97, bytes derived from i. */
static size_t msg_len(unsigned i) {
  return i % 97;
}
static void msg_fill(unsigned i, unsigned char *b) {
  for (size_t k = 0; k < msg_len(i); k++)
    b[k] = (unsigned char)(i * 31u + k * 7u);
}
static int msg_check(unsigned i, const unsigned char *b, size_t len) {
  if (len != msg_len(i))
    return 0;
  for (size_t k = 0; k < len; k++)
    if (b[k] != (unsigned char)(i * 31u + k * 7u))
      return 0;
  return 1;
}

static void test_new_errors(void) {
  mpk_queue_t *q = (mpk_queue_t *)&q; /* must stay untouched on error */
  mpk_queue_t *before = q;
  CHECK_RC(mpk_queue_new(NULL, 64, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 64, 2), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 64, -1), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, MPK_QUEUE_MAX_CAPACITY + 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, SIZE_MAX, 1), MPK_EINVAL);
  CHECK(q == before);
}

static void test_capacity(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 0, 0)); /* 0: the documented default */
  CHECK_EQ(mpk_queue_capacity(q), MPK_QUEUE_DEFAULT_CAPACITY);
  CHECK_EQ(mpk_queue_max_msg(q), MPK_QUEUE_DEFAULT_CAPACITY - 8);
  CHECK(mpk_shm_contains(q));
  mpk_queue_free(q);
  CHECK_OK(mpk_queue_new(&q, 13, 0)); /* rounded up to 8 */
  CHECK_EQ(mpk_queue_capacity(q), 16);
  CHECK_EQ(mpk_queue_max_msg(q), 8);
  mpk_queue_free(q);
  CHECK_OK(mpk_queue_new(&q, 1, 1)); /* room for one empty message */
  CHECK_EQ(mpk_queue_capacity(q), 8);
  CHECK_EQ(mpk_queue_max_msg(q), 0);
  CHECK_OK(mpk_queue_put_nowait(q, NULL, 0));
  CHECK_RC(mpk_queue_put_nowait(q, NULL, 0), MPK_EFULL);
  CHECK_RC(mpk_queue_put_nowait(q, "x", 1), MPK_EMSGSIZE);
  CHECK_EQ(mpk_queue_full(q), 1);
  mpk_queue_free(q);
  CHECK_OK(mpk_queue_new(&q, MPK_QUEUE_MAX_CAPACITY, 0)); /* largest */
  CHECK_EQ(mpk_queue_capacity(q), MPK_QUEUE_MAX_CAPACITY);
  mpk_queue_free(q);
  CHECK_EQ(MPK_QUEUE_MSG_BYTES(0), 8);
  CHECK_EQ(MPK_QUEUE_MSG_BYTES(1), 16);
  CHECK_EQ(MPK_QUEUE_MSG_BYTES(8), 16);
  CHECK_EQ(MPK_QUEUE_MSG_BYTES(9), 24);
}

static void test_null_args(void) {
  mpk_queue_t *q;
  size_t len = 7;
  char buf[8];
  CHECK_OK(mpk_queue_new(&q, 256, 0));
  CHECK_RC(mpk_queue_put(NULL, "a", 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_put(q, NULL, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_put(q, "a", 1, NAN), MPK_EINVAL);
  CHECK_RC(mpk_queue_put_nowait(NULL, "a", 1), MPK_EINVAL);
  CHECK_RC(mpk_queue_put_nowait(q, NULL, 3), MPK_EINVAL);
  CHECK_EQ(mpk_queue_qsize(q), 0); /* failed calls changed nothing */
  CHECK_OK(mpk_queue_put(q, "abc", 3, 0));
  CHECK_RC(mpk_queue_get(NULL, buf, sizeof buf, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, buf, sizeof buf, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, NULL, 4, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, buf, sizeof buf, &len, NAN), MPK_EINVAL);
  CHECK_RC(mpk_queue_get_nowait(NULL, buf, sizeof buf, &len), MPK_EINVAL);
  CHECK_RC(mpk_queue_get_nowait(q, buf, sizeof buf, NULL), MPK_EINVAL);
  CHECK_EQ(len, 7); /* untouched */
  CHECK_EQ(mpk_queue_qsize(q), 1);
  CHECK_EQ(mpk_queue_qsize(NULL), MPK_EINVAL);
  CHECK_EQ(mpk_queue_empty(NULL), MPK_EINVAL);
  CHECK_EQ(mpk_queue_full(NULL), MPK_EINVAL);
  CHECK_EQ(mpk_queue_unfinished(NULL), MPK_EINVAL);
  CHECK_EQ(mpk_queue_capacity(NULL), 0);
  CHECK_EQ(mpk_queue_max_msg(NULL), 0);
  CHECK_RC(mpk_queue_close(NULL), MPK_EINVAL);
  CHECK_RC(mpk_queue_task_done(NULL), MPK_EINVAL);
  CHECK_RC(mpk_queue_join(NULL, 0), MPK_EINVAL);
  mpk_queue_free(NULL);
  /* a block of the shared heap that is not a queue */
  void *junk = mpk_shm_calloc(1, 256);
  CHECK(junk != NULL);
  CHECK_RC(mpk_queue_put((mpk_queue_t *)junk, "a", 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get((mpk_queue_t *)junk, buf, 8, &len, 0), MPK_EINVAL);
  CHECK_EQ(mpk_queue_qsize((mpk_queue_t *)junk), MPK_EINVAL);
  mpk_queue_free((mpk_queue_t *)junk); /* not a queue: ignored */
  mpk_shm_free(junk);
  CHECK_OK(mpk_queue_get(q, buf, sizeof buf, &len, 0));
  CHECK_EQ(len, 3);
  CHECK(memcmp(buf, "abc", 3) == 0);
  mpk_queue_free(q);
}

static void test_fifo(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 1 << 16, 0));
  unsigned char b[128];
  for (unsigned i = 0; i < 300; i++) {
    msg_fill(i, b);
    CHECK_OK(mpk_queue_put(q, b, msg_len(i), MPK_FOREVER));
    CHECK_EQ(mpk_queue_qsize(q), i + 1);
  }
  CHECK_EQ(mpk_queue_empty(q), 0);
  for (unsigned i = 0; i < 300; i++) {
    size_t len = 0;
    memset(b, 0xee, sizeof b);
    CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER));
    CHECK_MSG(msg_check(i, b, len), "message %u corrupt (len %zu)", i, len);
  }
  CHECK_EQ(mpk_queue_empty(q), 1);
  CHECK_EQ(mpk_queue_qsize(q), 0);
  mpk_queue_free(q);
}

/* A small ring, many messages of varied size in flight: every record and
   payload position wraps around the end many times. */
static void test_wraparound(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 200, 0));
  CHECK_EQ(mpk_queue_capacity(q), 200);
  unsigned char b[128];
  unsigned put = 0, got = 0;
  unsigned long long bytes = 0;
  while (got < 20000) {
    /* put until full, then get a random number of messages */
    for (;;) {
      msg_fill(put, b);
      int r = mpk_queue_put_nowait(q, b, msg_len(put) % 90);
      if (r == MPK_EFULL)
        break;
      CHECK_OK(r);
      bytes += MPK_QUEUE_MSG_BYTES(msg_len(put) % 90);
      put++;
    }
    CHECK_EQ(mpk_queue_qsize(q), put - got);
    unsigned n = 1 + (unsigned)(rand() % (int)(put - got));
    for (unsigned k = 0; k < n; k++) {
      size_t len;
      CHECK_OK(mpk_queue_get_nowait(q, b, sizeof b, &len));
      CHECK_EQ(len, msg_len(got) % 90);
      for (size_t j = 0; j < len; j++)
        CHECK_EQ(b[j], (unsigned char)(got * 31u + j * 7u));
      got++;
    }
  }
  CHECK(bytes > 100 * 200); /* the ring wrapped over a hundred times */
  mpk_queue_free(q);
}

static void test_zero_length(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 64, 0));
  CHECK_OK(mpk_queue_put(q, NULL, 0, 0));
  CHECK_OK(mpk_queue_put(q, "zz", 0, 0));
  CHECK_OK(mpk_queue_put(q, "zz", 2, 0));
  CHECK_EQ(mpk_queue_qsize(q), 3);
  size_t len = 99;
  CHECK_OK(mpk_queue_get(q, NULL, 0, &len, 0));
  CHECK_EQ(len, 0);
  char b[4] = "....";
  len = 99;
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK_EQ(len, 0);
  CHECK_EQ(b[0], '.');
  len = 0;
  CHECK_RC(mpk_queue_get(q, NULL, 0, &len, 0), MPK_EMSGSIZE);
  CHECK_EQ(len, 2);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK_EQ(len, 2);
  CHECK(memcmp(b, "zz", 2) == 0);
  mpk_queue_free(q);
}

static void test_emsgsize(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 256, 0));
  static unsigned char big[512];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (unsigned char)(i ^ 0x5a);
  /* put: can never fit, whatever the timeout */
  CHECK_RC(mpk_queue_put(q, big, 249, MPK_FOREVER), MPK_EMSGSIZE);
  CHECK_RC(mpk_queue_put_nowait(q, big, 512), MPK_EMSGSIZE);
  CHECK_RC(mpk_queue_put(q, big, SIZE_MAX, 0), MPK_EMSGSIZE);
  CHECK_EQ(mpk_queue_qsize(q), 0);
  /* exactly the largest message fits an empty ring */
  CHECK_OK(mpk_queue_put(q, big, 248, 0));
  CHECK_EQ(mpk_queue_full(q), 1);
  CHECK_RC(mpk_queue_put_nowait(q, NULL, 0), MPK_EFULL);
  /* get: too small a buffer reports the size and keeps the message */
  unsigned char out[512];
  size_t len = 0;
  CHECK_RC(mpk_queue_get(q, out, 100, &len, 0), MPK_EMSGSIZE);
  CHECK_EQ(len, 248);
  CHECK_RC(mpk_queue_get_nowait(q, out, 247, &len), MPK_EMSGSIZE);
  CHECK_EQ(len, 248);
  CHECK_EQ(mpk_queue_qsize(q), 1);
  len = 0;
  CHECK_OK(mpk_queue_get(q, out, 248, &len, 0));
  CHECK_EQ(len, 248);
  CHECK(memcmp(out, big, 248) == 0);
  /* the oversized one stays at the head; later messages wait behind it */
  CHECK_OK(mpk_queue_put(q, big, 100, 0));
  CHECK_OK(mpk_queue_put(q, "tail", 4, 0));
  CHECK_RC(mpk_queue_get(q, out, 10, &len, 0), MPK_EMSGSIZE);
  CHECK_EQ(len, 100);
  CHECK_OK(mpk_queue_get(q, out, sizeof out, &len, 0));
  CHECK_EQ(len, 100);
  CHECK(memcmp(out, big, 100) == 0);
  CHECK_OK(mpk_queue_get(q, out, sizeof out, &len, 0));
  CHECK_EQ(len, 4);
  CHECK(memcmp(out, "tail", 4) == 0);
  mpk_queue_free(q);
}

static void test_full_empty_nowait(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 40, 0)); /* two 8-byte messages + 8 bytes */
  uint64_t v = 42;
  size_t len;
  CHECK_EQ(mpk_queue_empty(q), 1);
  CHECK_EQ(mpk_queue_full(q), 0);
  CHECK_RC(mpk_queue_get_nowait(q, &v, sizeof v, &len), MPK_EEMPTY);
  CHECK_RC(mpk_queue_get(q, &v, sizeof v, &len, 0), MPK_EEMPTY);
  CHECK_OK(mpk_queue_put_nowait(q, &v, sizeof v));
  CHECK_OK(mpk_queue_put_nowait(q, &v, sizeof v));
  CHECK_EQ(mpk_queue_full(q), 0); /* 8 bytes left: an empty message fits */
  CHECK_RC(mpk_queue_put_nowait(q, &v, sizeof v), MPK_EFULL);
  CHECK_RC(mpk_queue_put(q, &v, sizeof v, 0), MPK_EFULL);
  CHECK_EQ(mpk_queue_qsize(q), 2);
  CHECK_OK(mpk_queue_put_nowait(q, NULL, 0));
  CHECK_EQ(mpk_queue_full(q), 1);
  CHECK_EQ(mpk_queue_qsize(q), 3);
  CHECK_EQ(mpk_queue_empty(q), 0);
  for (int i = 0; i < 3; i++)
    CHECK_OK(mpk_queue_get_nowait(q, &v, sizeof v, &len));
  CHECK_EQ(len, 0);
  CHECK_EQ(mpk_queue_empty(q), 1);
  CHECK_EQ(mpk_queue_full(q), 0);
  mpk_queue_free(q);
}

static void test_timeouts(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 16, 0));
  uint64_t v = 1;
  size_t len;
  double t0 = check_now();
  CHECK_RC(mpk_queue_get(q, &v, sizeof v, &len, 0.05), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.049 && dt < CHECK_HANG_S, "get waited %.3f s", dt);
  CHECK_OK(mpk_queue_put(q, &v, sizeof v, 0.05));
  t0 = check_now();
  CHECK_RC(mpk_queue_put(q, &v, sizeof v, 0.05), MPK_ETIMEDOUT);
  dt = check_now() - t0;
  CHECK_MSG(dt >= 0.049 && dt < CHECK_HANG_S, "put waited %.3f s", dt);
  CHECK_EQ(mpk_queue_qsize(q), 1);
  /* a negative timeout is MPK_FOREVER: returns at once when possible */
  CHECK_OK(mpk_queue_get(q, &v, sizeof v, &len, -5.0));
  CHECK_OK(mpk_queue_put(q, &v, sizeof v, -1.0));
  mpk_queue_free(q);
}

static void test_close(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 256, 0));
  CHECK_OK(mpk_queue_put(q, "one", 3, 0));
  CHECK_OK(mpk_queue_put(q, "two", 3, 0));
  CHECK_OK(mpk_queue_close(q));
  CHECK_RC(mpk_queue_put(q, "three", 5, 0), MPK_ECLOSED);
  CHECK_RC(mpk_queue_put(q, "three", 5, MPK_FOREVER), MPK_ECLOSED);
  CHECK_RC(mpk_queue_put_nowait(q, "three", 5), MPK_ECLOSED);
  CHECK_EQ(mpk_queue_qsize(q), 2);
  char b[8];
  size_t len;
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER));
  CHECK(len == 3 && memcmp(b, "one", 3) == 0);
  CHECK_OK(mpk_queue_get_nowait(q, b, sizeof b, &len));
  CHECK(len == 3 && memcmp(b, "two", 3) == 0);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER), MPK_ECLOSED);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0.5), MPK_ECLOSED);
  CHECK_RC(mpk_queue_get_nowait(q, b, sizeof b, &len), MPK_ECLOSED);
  CHECK_OK(mpk_queue_close(q)); /* twice is fine */
  mpk_queue_free(q);
}

static int child_get_forever(void *arg) {
  mpk_queue_t *q = *(mpk_queue_t **)arg;
  char b[8];
  size_t len;
  int r = mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER);
  return r == MPK_ECLOSED ? 0 : 10;
}

static int child_put_forever(void *arg) {
  mpk_queue_t *q = *(mpk_queue_t **)arg;
  int r = mpk_queue_put(q, "12345678", 8, MPK_FOREVER);
  return r == MPK_ECLOSED ? 0 : 10;
}

/* A get blocked in another process is released by close; so is a put
   blocked on a full queue. */
static void test_close_releases_other_process(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 64, 0));
  pid_t g = check_fork(child_get_forever, &q);
  check_sleep(0.1); /* let it block (the test also passes if it has not) */
  CHECK_OK(mpk_queue_close(q));
  check_wait_ok(g, 10);
  mpk_queue_free(q);

  CHECK_OK(mpk_queue_new(&q, 16, 0));
  CHECK_OK(mpk_queue_put(q, "abcdefgh", 8, 0)); /* now full */
  pid_t p = check_fork(child_put_forever, &q);
  check_sleep(0.1);
  CHECK_OK(mpk_queue_close(q));
  check_wait_ok(p, 10);
  CHECK_EQ(mpk_queue_qsize(q), 1);
  mpk_queue_free(q);
}

static void *thread_get_forever(void *arg) {
  return (void *)(intptr_t)child_get_forever(arg);
}

static void test_close_releases_thread(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 64, 0));
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, thread_get_forever, &q), 0);
  check_sleep(0.05);
  CHECK_OK(mpk_queue_close(q));
  void *ret;
  CHECK_EQ(pthread_join(th, &ret), 0);
  CHECK_EQ((intptr_t)ret, 0);
  mpk_queue_free(q);
}

static void *thread_get_one(void *arg) {
  mpk_queue_t *q = arg;
  char b[8];
  size_t len;
  int r = mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER);
  return (void *)(intptr_t)(r == MPK_OK && len == 1 && b[0] == 'A' ? 0 : 1);
}

static void *thread_put_one(void *arg) {
  mpk_queue_t *q = arg;
  return (void *)(intptr_t)(mpk_queue_put(q, "B", 1, MPK_FOREVER) != MPK_OK);
}

/* A blocked get holds the consumer side (and a blocked put the producer
   side) while it sleeps: other gets / puts time out on the lock with the
   right code, polls answer at once, and the sleeper is served first. */
static void test_timeouts_behind_a_sleeper(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 16, 0));
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, thread_get_one, q), 0);
  check_sleep(0.05);
  char b[8];
  size_t len;
  double t0 = check_now();
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0.1), MPK_ETIMEDOUT);
  double dt = check_now() - t0;
  CHECK_MSG(dt >= 0.099 && dt < CHECK_HANG_S, "get waited %.3f s", dt);
  t0 = check_now();
  CHECK_RC(mpk_queue_get_nowait(q, b, sizeof b, &len), MPK_EEMPTY);
  CHECK(check_now() - t0 < CHECK_HANG_S);
  CHECK_OK(mpk_queue_put(q, "A", 1, 0)); /* the sleeper gets it */
  void *ret;
  CHECK_EQ(pthread_join(th, &ret), 0);
  CHECK_EQ((intptr_t)ret, 0);
  CHECK_EQ(mpk_queue_qsize(q), 0);

  CHECK_OK(mpk_queue_put(q, "12345678", 8, 0)); /* full */
  CHECK_EQ(pthread_create(&th, NULL, thread_put_one, q), 0);
  check_sleep(0.05);
  t0 = check_now();
  CHECK_RC(mpk_queue_put(q, "C", 1, 0.1), MPK_ETIMEDOUT);
  dt = check_now() - t0;
  CHECK_MSG(dt >= 0.099 && dt < CHECK_HANG_S, "put waited %.3f s", dt);
  CHECK_RC(mpk_queue_put_nowait(q, "C", 1), MPK_EFULL);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK_EQ(len, 8);
  CHECK_EQ(pthread_join(th, &ret), 0);
  CHECK_EQ((intptr_t)ret, 0);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0)); /* the sleeper's "B" */
  CHECK(len == 1 && b[0] == 'B');
  CHECK_EQ(mpk__queue_missed_wakes(q), 0);
  mpk_queue_free(q);
}

static int child_echo(void *arg) {
  /* read numbers until 0; put each back doubled into the second queue */
  mpk_queue_t **qs = arg;
  for (;;) {
    uint64_t v;
    size_t len;
    if (mpk_queue_get(qs[0], &v, sizeof v, &len, CHECK_HANG_S) != MPK_OK)
      return 11;
    if (len != sizeof v)
      return 12;
    if (v == 0)
      return 0;
    v *= 2;
    if (mpk_queue_put(qs[1], &v, sizeof v, CHECK_HANG_S) != MPK_OK)
      return 13;
  }
}

/* Blocking in both directions across processes: tiny rings, so the
   producer waits for room and the consumer for data all the time. */
static void test_cross_process_blocking(void) {
  mpk_queue_t *qs[2];
  CHECK_OK(mpk_queue_new(&qs[0], 32, 0));
  CHECK_OK(mpk_queue_new(&qs[1], 32, 0));
  pid_t c = check_fork(child_echo, qs);
  uint64_t sum = 0;
  for (uint64_t i = 1; i <= 5000; i++) {
    CHECK_OK(mpk_queue_put(qs[0], &i, sizeof i, CHECK_HANG_S));
    if (i > 1) {
      uint64_t v;
      size_t len;
      CHECK_OK(mpk_queue_get(qs[1], &v, sizeof v, &len, CHECK_HANG_S));
      CHECK_EQ(v, 2 * (i - 1));
      sum += v;
    }
  }
  uint64_t v = 0, w;
  size_t len;
  CHECK_OK(mpk_queue_get(qs[1], &w, sizeof w, &len, CHECK_HANG_S));
  CHECK_EQ(w, 10000);
  CHECK_OK(mpk_queue_put(qs[0], &v, sizeof v, CHECK_HANG_S));
  check_wait_ok(c, 30);
  CHECK_EQ(sum + w, 5000ull * 5001ull);
  CHECK_EQ(mpk__queue_missed_wakes(qs[0]), 0);
  CHECK_EQ(mpk__queue_missed_wakes(qs[1]), 0);
  mpk_queue_free(qs[0]);
  mpk_queue_free(qs[1]);
}

static int child_join(void *arg) {
  mpk_queue_t *q = *(mpk_queue_t **)arg;
  if (mpk_queue_join(q, CHECK_HANG_S) != MPK_OK)
    return 20;
  return mpk_queue_unfinished(q) == 0 ? 0 : 21;
}

static void test_joinable(void) {
  mpk_queue_t *q, *plain;
  CHECK_OK(mpk_queue_new(&q, 1024, 1));
  CHECK_OK(mpk_queue_new(&plain, 1024, 0));
  CHECK_RC(mpk_queue_task_done(plain), MPK_ENOTSUP);
  CHECK_RC(mpk_queue_join(plain, 0), MPK_ENOTSUP);
  CHECK_RC(mpk_queue_join(plain, MPK_FOREVER), MPK_ENOTSUP);
  CHECK_EQ(mpk_queue_unfinished(plain), 0);
  CHECK_OK(mpk_queue_join(q, 0)); /* nothing put: done */
  CHECK_OK(mpk_queue_join(q, MPK_FOREVER));
  CHECK_RC(mpk_queue_task_done(q), MPK_EOVERFLOW);
  CHECK_RC(mpk_queue_join(q, NAN), MPK_EINVAL);
  for (int i = 0; i < 3; i++)
    CHECK_OK(mpk_queue_put(q, &i, sizeof i, 0));
  CHECK_EQ(mpk_queue_unfinished(q), 3);
  CHECK_RC(mpk_queue_join(q, 0), MPK_ETIMEDOUT);
  double t0 = check_now();
  CHECK_RC(mpk_queue_join(q, 0.05), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.049);
  pid_t j = check_fork(child_join, &q);
  for (int i = 0; i < 3; i++) {
    int v;
    size_t len;
    CHECK_OK(mpk_queue_get(q, &v, sizeof v, &len, 0));
    CHECK_EQ(v, i);
    check_sleep(0.02);
    CHECK_OK(mpk_queue_task_done(q));
    CHECK_EQ(mpk_queue_unfinished(q), 2 - i);
  }
  check_wait_ok(j, 10);
  CHECK_OK(mpk_queue_join(q, 0));
  CHECK_RC(mpk_queue_task_done(q), MPK_EOVERFLOW);
  CHECK_EQ(mpk_queue_unfinished(q), 0);
  /* task_done may run ahead of get (Python allows it): bounded by puts */
  CHECK_OK(mpk_queue_put(q, "x", 1, 0));
  CHECK_OK(mpk_queue_task_done(q));
  CHECK_RC(mpk_queue_task_done(q), MPK_EOVERFLOW);
  CHECK_EQ(mpk_queue_qsize(q), 1);
  CHECK_EQ(mpk__queue_missed_wakes(q), 0);
  mpk_queue_free(q);
  mpk_queue_free(plain);
}

/* A header scribbled over by someone else is reported, not trusted. */
static void test_corruption_eio(void) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 4096, 0));
  unsigned char pat[64];
  memset(pat, 0xab, sizeof pat);
  CHECK_OK(mpk_queue_put(q, pat, sizeof pat, 0));
  unsigned char *p = (unsigned char *)q;
  size_t at = 0;
  while (memcmp(p + at, pat, sizeof pat) != 0)
    at += 8;
  CHECK(at >= 8 && at < 4096);
  uint32_t hdr[2];
  memcpy(hdr, p + at - 8, sizeof hdr);
  CHECK_EQ(hdr[0], 64); /* length, then the message number */
  CHECK_EQ(hdr[1], 0);
  uint32_t bad = 77;
  memcpy(p + at - 4, &bad, 4);
  unsigned char out[64];
  size_t len;
  CHECK_RC(mpk_queue_get(q, out, sizeof out, &len, 0), MPK_EIO);
  CHECK_EQ(mpk_queue_qsize(q), 1); /* nothing taken */
  memcpy(p + at - 4, &hdr[1], 4);
  CHECK_OK(mpk_queue_get(q, out, sizeof out, &len, 0));
  CHECK_EQ(len, 64);
  mpk_queue_free(q);
}

int main(void) {
  check_watchdog(60);
  /* a lost wake-up hangs (and a late waker only delays): queue_internal.h */
  mpk__queue_set_recheck(false);
  CHECK_RUN(test_new_errors);
  CHECK_RUN(test_capacity);
  CHECK_RUN(test_null_args);
  CHECK_RUN(test_fifo);
  CHECK_RUN(test_wraparound);
  CHECK_RUN(test_zero_length);
  CHECK_RUN(test_emsgsize);
  CHECK_RUN(test_full_empty_nowait);
  CHECK_RUN(test_timeouts);
  CHECK_RUN(test_close);
  CHECK_RUN(test_close_releases_other_process);
  CHECK_RUN(test_close_releases_thread);
  CHECK_RUN(test_timeouts_behind_a_sleeper);
  CHECK_RUN(test_cross_process_blocking);
  CHECK_RUN(test_joinable);
  CHECK_RUN(test_corruption_eio);
  return check_done();
}
