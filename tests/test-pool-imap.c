/* pool.imap: mpk_pool_imap / mpk_iter_next / mpk_iter_free. Ordered and
   unordered results, bounded run-ahead, chunk errors, timeouts, early free,
   use after close and after the pool is freed. Both backends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "pool-util.h"

static mpk_backend g_backend = MPK_PROCESS;
static _Atomic long *g_started; /* shared: allocated before any pool */
static const mpk_sched AUTO0 = {MPK_SCHED_AUTO, 0};

static mpk_pool_t *mk(int workers) {
  return pool_new(workers, g_backend);
}

static void fill_in(long *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    in[i] = (long)i;
}

static void test_imap_ordered(void) {
  mpk_pool_t *p = mk(3);
  enum { N = 1000 };
  long in[N];
  fill_in(in, N);
  for (size_t chunk = 0; chunk < 40; chunk = chunk * 3 + 1) {
    mpk_iter_t *it;
    CHECK_OK(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N,
                           NULL, 0, chunk, 0, &it));
    for (size_t i = 0; i < N; i++) {
      size_t idx = 9999;
      long v;
      CHECK_OK(mpk_iter_next(it, &idx, &v, 10));
      CHECK_EQ(idx, i);
      CHECK_EQ(v, (long)(i * i));
    }
    long v;
    CHECK_RC(mpk_iter_next(it, NULL, &v, 10), MPK_EEOF);
    CHECK_RC(mpk_iter_next(it, NULL, &v, 0), MPK_EEOF);
    mpk_iter_free(it);
  }
  mpk_pool_free(p);
}

static int uneven(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  if (x % 10 == 0)
    check_sleep(0.02);
  *(long *)out = x + 1;
  return 0;
}

static void test_imap_unordered(void) {
  mpk_pool_t *p = mk(3);
  enum { N = 200 };
  long in[N];
  fill_in(in, N);
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, uneven, in, sizeof(long), sizeof(long), N, NULL, 0,
                         5, MPK_UNORDERED, &it));
  char seen[N] = {0};
  int out_of_order = 0;
  size_t prev = 0;
  for (int k = 0; k < N; k++) {
    size_t idx;
    long v;
    CHECK_OK(mpk_iter_next(it, &idx, &v, 10));
    CHECK(idx < N);
    CHECK(!seen[idx]);
    seen[idx] = 1;
    CHECK_EQ(v, (long)idx + 1);
    out_of_order += k > 0 && idx < prev;
    prev = idx;
  }
  long v;
  CHECK_RC(mpk_iter_next(it, NULL, &v, 10), MPK_EEOF);
  mpk_iter_free(it);
  (void)out_of_order; /* usually > 0; not required */
  mpk_pool_free(p);
}

/* A consumer that does not read: at most ~2 x workers chunks run ahead. */
static int counted(const void *in, void *out, void *ctx) {
  (void)ctx;
  atomic_fetch_add(g_started, 1);
  *(long *)out = *(const long *)in;
  return 0;
}

static void test_imap_bounded(void) {
  mpk_pool_t *p = mk(2);
  enum { N = 500 };
  long in[N];
  fill_in(in, N);
  atomic_store(g_started, 0);
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, counted, in, sizeof(long), sizeof(long), N, NULL, 0,
                         1, 0, &it));
  check_sleep(0.1); /* the workers would finish everything in this time */
  long ahead = atomic_load(g_started);
  CHECK_MSG(ahead <= 4, "%ld elements ran ahead of the consumer", ahead);
  CHECK(ahead >= 1);
  for (int i = 0; i < N; i++) {
    long v;
    size_t idx;
    CHECK_OK(mpk_iter_next(it, &idx, &v, 10));
    CHECK_EQ(v, i);
    CHECK(atomic_load(g_started) <= i + 1 + 4);
  }
  mpk_iter_free(it);
  mpk_pool_free(p);
}

static int fail37(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  *(long *)out = -x;
  return x == 37 ? 5 : 0;
}

static void test_imap_error(void) {
  mpk_pool_t *p = mk(2);
  enum { N = 100 };
  long in[N];
  fill_in(in, N);
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, fail37, in, sizeof(long), sizeof(long), N, NULL, 0,
                         10, 0, &it));
  size_t expect = 0;
  int errors = 0;
  for (;;) {
    size_t idx;
    long v;
    int rc = mpk_iter_next(it, &idx, &v, 10);
    if (rc == MPK_EEOF)
      break;
    if (rc == MPK_ETASK) {
      CHECK_EQ(idx, 37);
      errors++;
      expect = 40; /* the rest of the failed chunk is skipped */
      continue;
    }
    CHECK_OK(rc);
    CHECK_EQ(idx, expect);
    CHECK_EQ(v, -(long)idx);
    expect++;
  }
  CHECK_EQ(errors, 1);
  CHECK_EQ(expect, N);
  mpk_iter_free(it);
  mpk_pool_free(p);
}

static int slow_elem(const void *in, void *out, void *ctx) {
  (void)ctx;
  atomic_fetch_add(g_started, 1);
  check_sleep(0.2);
  *(long *)out = *(const long *)in;
  return 0;
}

static void test_imap_timeout_and_free(void) {
  mpk_pool_t *p = mk(2);
  long in[8] = {0, 1, 2, 3, 4, 5, 6, 7}, v;
  mpk_iter_t *it;
  atomic_store(g_started, 0);
  CHECK_OK(mpk_pool_imap(p, slow_elem, in, sizeof(long), sizeof(long), 8, NULL,
                         0, 1, 0, &it));
  CHECK_RC(mpk_iter_next(it, NULL, &v, 0.01), MPK_ETIMEDOUT);
  CHECK_RC(mpk_iter_next(it, NULL, &v, 0), MPK_ETIMEDOUT);
  size_t idx;
  CHECK_OK(mpk_iter_next(it, &idx, &v, 10));
  CHECK_EQ(idx, 0);
  /* 2 workers, window 4: elements 0-3 have started (or 0-2), 4 is queued */
  double t0 = check_now();
  mpk_iter_free(it); /* cancels what has not started, waits for the rest */
  CHECK(check_now() - t0 < 5.0);
  check_sleep(0.3);
  long started = atomic_load(g_started);
  CHECK_MSG(started <= 4, "%ld elements ran after the iterator was freed",
            started);
  CHECK_RC(mpk_iter_next(NULL, NULL, &v, 1), MPK_EINVAL);
  mpk_iter_free(NULL);
  /* n = 0, and errors at creation */
  CHECK_OK(mpk_pool_imap(p, square_long, NULL, sizeof(long), sizeof(long), 0,
                         NULL, 0, 0, 0, &it));
  CHECK_RC(mpk_iter_next(it, NULL, &v, 1), MPK_EEOF);
  CHECK_RC(mpk_iter_next(it, NULL, NULL, 1), MPK_EINVAL);
  mpk_iter_free(it);
  it = (mpk_iter_t *)0x1;
  CHECK_RC(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), 8,
                         NULL, 0, 0, 8, &it),
           MPK_EINVAL);
  CHECK(it == NULL);
  CHECK_RC(mpk_pool_imap(p, NULL, in, sizeof(long), sizeof(long), 8, NULL, 0, 0,
                         0, &it),
           MPK_EINVAL);
  CHECK_RC(
      mpk_pool_imap(p, square_long, in, 0, sizeof(long), 8, NULL, 0, 0, 0, &it),
      MPK_EINVAL);
  CHECK_RC(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), 8,
                         NULL, 0, 0, 0, NULL),
           MPK_EINVAL);
  /* the pool works after the early free */
  long out[8];
  CHECK_OK(mpk_pool_map(p, square_long, in, sizeof(long), out, sizeof(long), 8,
                        NULL, 0, AUTO0));
  CHECK_EQ(out[7], 49);
  mpk_pool_free(p);
}

/* An iterator keeps working after close (its chunks were promised), and
   reports MPK_ECLOSED once the pool is freed. */
static void test_imap_after_close(void) {
  mpk_pool_t *p = mk(2);
  enum { N = 60 };
  long in[N], v;
  fill_in(in, N);
  long k[1] = {3};
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N, k,
                         sizeof k, 1, 0, &it));
  CHECK_OK(mpk_pool_close(p));
  for (int i = 0; i < N; i++) {
    CHECK_OK(mpk_iter_next(it, NULL, &v, 10));
    CHECK_EQ(v, (long)i * i);
  }
  CHECK_RC(mpk_iter_next(it, NULL, &v, 10), MPK_EEOF);
  mpk_iter_t *it2;
  CHECK_RC(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N,
                         NULL, 0, 1, 0, &it2),
           MPK_ESTATE);
  CHECK_OK(mpk_pool_join(p));
  mpk_iter_free(it);
  mpk_pool_free(p);
  /* freed pool under a live iterator */
  p = mk(2);
  CHECK_OK(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N,
                         NULL, 0, 1, 0, &it));
  CHECK_OK(mpk_iter_next(it, NULL, &v, 10));
  mpk_pool_free(p);
  CHECK_RC(mpk_iter_next(it, NULL, &v, 1), MPK_ECLOSED);
  mpk_iter_free(it);
}

static void run_all(void) {
  CHECK_RUN(test_imap_ordered);
  CHECK_RUN(test_imap_unordered);
  CHECK_RUN(test_imap_bounded);
  CHECK_RUN(test_imap_error);
  CHECK_RUN(test_imap_timeout_and_free);
  CHECK_RUN(test_imap_after_close);
}

int main(void) {
  check_watchdog(120);
  g_started = mpk_shm_calloc(1, sizeof *g_started);
  CHECK(g_started != NULL);
  pool_run_backends(&g_backend, run_all);
  return check_done();
}
