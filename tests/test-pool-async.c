/* pool.async: apply_async / map_async with callbacks (one completion thread,
   completion order, exactly once, after the result is written), many calls
   in flight, mpk_async_wait / ready / free, rejected submissions, blocking
   calls from a callback (MPK_EDEADLK), join and terminate with calls in
   flight. Both backends. imap is tested in pool.imap. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "mpk/sync.h"
#include "pool-util.h"

static mpk_backend g_backend = MPK_PROCESS;
static _Atomic long *g_started; /* shared: allocated before any pool */
static mpk_event_t *g_gate;     /* shared: gated_double waits for it */
static const mpk_sched AUTO0 = {MPK_SCHED_AUTO, 0};

static mpk_pool_t *mk(int workers) {
  return pool_new(workers, g_backend);
}

/* apply task: sleep arg[0] ms, return arg[1] * 2 */
static int sleepy_double(const void *arg, void *res, void *ctx) {
  (void)ctx;
  const long *a = arg;
  atomic_fetch_add(g_started, 1);
  if (a[0] < 0) /* until killed: only a process worker runs this */
    for (;;)
      pause();
  check_sleep((double)a[0] * 1e-3);
  *(long *)res = a[1] * 2;
  return a[1] < 0 ? (int)a[1] : 0;
}

/* apply task: wait for g_gate, return arg[0] * 2. A call that must still
   run while the test looks (or must finish after others) waits here
   instead of sleeping: no ordering rests on timing. */
static int gated_double(const void *arg, void *res, void *ctx) {
  (void)ctx;
  int rc = mpk_event_wait(g_gate, MPK_FOREVER);
  *(long *)res = *(const long *)arg * 2;
  return rc;
}

static void open_gate(void) {
  CHECK_OK(mpk_event_set(g_gate));
}

static void close_gate(void) {
  CHECK_OK(mpk_event_clear(g_gate));
}

/* ---- callbacks -------------------------------------------------------- */

enum { MAXCB = 64 };
typedef struct {
  _Atomic int calls;
  int status;
  long seen_result; /* what the result held when the callback ran */
  pthread_t thread;
} cb_rec;

static cb_rec g_cb[MAXCB];
static long g_res[MAXCB];
static _Atomic int g_order[MAXCB], g_norder;

static void record(mpk_async_t *a, int status, void *user) {
  (void)a;
  int i = (int)(intptr_t)user;
  g_cb[i].status = status;
  g_cb[i].seen_result = g_res[i];
  g_cb[i].thread = pthread_self();
  atomic_store(&g_order[atomic_fetch_add(&g_norder, 1)], i);
  atomic_fetch_add(&g_cb[i].calls, 1);
}

static void reset_cb(void) {
  memset(g_cb, 0, sizeof g_cb);
  memset(g_res, 0, sizeof g_res);
  atomic_store(&g_norder, 0);
}

static void test_apply_async_many(void) {
  mpk_pool_t *p = mk(4);
  reset_cb();
  enum { N = 20 };
  mpk_async_t *a[N];
  for (int i = 0; i < N; i++) {
    long arg[2] = {50, i};
    CHECK_OK(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg, &g_res[i],
                                  sizeof g_res[i], record, (void *)(intptr_t)i,
                                  &a[i]));
  }
  for (int i = 0; i < N; i++) {
    CHECK_OK(mpk_async_wait(a[i], MPK_FOREVER));
    CHECK_EQ(mpk_async_ready(a[i]), 1);
    CHECK_EQ(g_res[i], 2 * i);
    CHECK_EQ(atomic_load(&g_cb[i].calls), 1);
    CHECK_EQ(g_cb[i].status, MPK_OK);
    CHECK_EQ(g_cb[i].seen_result, 2 * i); /* written before the callback */
    CHECK(!pthread_equal(g_cb[i].thread, pthread_self()));
    CHECK(pthread_equal(g_cb[i].thread, g_cb[0].thread)); /* one thread */
    mpk_async_free(a[i]);
  }
  /* How fast they ran together is a benchmark's business (bench/micro);
     pool.basic's work_log proves that workers run at the same time. */
  mpk_pool_free(p);
}

/* Callbacks run in completion order: a call submitted first that completes
   last (it waits at the gate until the others are done) has its callback
   last. */
static void test_completion_order(void) {
  mpk_pool_t *p = mk(2);
  reset_cb();
  mpk_async_t *a[4];
  long held = 0;
  CHECK_OK(mpk_pool_apply_async(p, gated_double, &held, sizeof held, &g_res[0],
                                sizeof(long), record, (void *)0, &a[0]));
  for (int i = 1; i < 4; i++) {
    long arg[2] = {0, i};
    CHECK_OK(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg, &g_res[i],
                                  sizeof(long), record, (void *)(intptr_t)i,
                                  &a[i]));
  }
  for (int i = 1; i < 4; i++)
    CHECK_OK(mpk_async_wait(a[i], MPK_FOREVER));
  CHECK_EQ(mpk_async_ready(a[0]), 0);
  open_gate();
  for (int i = 0; i < 4; i++) {
    CHECK_OK(mpk_async_wait(a[i], MPK_FOREVER));
    mpk_async_free(a[i]);
  }
  close_gate();
  CHECK_EQ(atomic_load(&g_norder), 4);
  CHECK_EQ(atomic_load(&g_order[3]), 0); /* the held one last */
  mpk_pool_free(p);
}

static void test_map_async(void) {
  mpk_pool_t *p = mk(3);
  reset_cb();
  enum { N = 1000 };
  long *in = malloc(N * sizeof(long)), *out = malloc(N * sizeof(long));
  for (int i = 0; i < N; i++)
    in[i] = i - 300;
  mpk_async_t *a;
  CHECK_OK(mpk_pool_map_async(p, square_long, in, sizeof(long), out,
                              sizeof(long), N, NULL, 0, AUTO0, record,
                              (void *)5, &a));
  memset(in, 0, N * sizeof(long)); /* staged (process) or in place? */
  CHECK_OK(mpk_async_wait(a, CHECK_HANG_S));
  CHECK_EQ(atomic_load(&g_cb[5].calls), 1);
  mpk_async_free(a);
  if (g_backend == MPK_PROCESS) /* `in` was copied at submit */
    for (int i = 0; i < N; i++)
      CHECK_EQ(out[i], (long)(i - 300) * (i - 300));
  /* shared in / out: zero-copy, results visible at completion */
  long *sin = mpk_shm_alloc(N * sizeof(long)),
       *sout = mpk_shm_alloc(N * sizeof(long));
  for (int i = 0; i < N; i++)
    sin[i] = i;
  CHECK_OK(mpk_pool_map_async(p, square_long, sin, sizeof(long), sout,
                              sizeof(long), N, NULL, 0, AUTO0, NULL, NULL, &a));
  CHECK_OK(mpk_async_wait(a, CHECK_HANG_S));
  mpk_async_free(a);
  for (int i = 0; i < N; i++)
    CHECK_EQ(sout[i], (long)i * i);
  /* n = 0 completes with a callback */
  CHECK_OK(mpk_pool_map_async(p, square_long, NULL, sizeof(long), NULL,
                              sizeof(long), 0, NULL, 0, AUTO0, record,
                              (void *)6, &a));
  CHECK_OK(mpk_async_wait(a, CHECK_HANG_S));
  CHECK_EQ(atomic_load(&g_cb[6].calls), 1);
  mpk_async_free(a);
  mpk_shm_free(sin);
  mpk_shm_free(sout);
  free(in);
  free(out);
  mpk_pool_free(p);
}

static void test_wait_timeout(void) {
  mpk_pool_t *p = mk(1);
  long arg[2] = {300, 21}, res = 0;
  mpk_async_t *a;
  /* held at the gate: it cannot finish while the timeouts are checked */
  CHECK_OK(mpk_pool_apply_async(p, gated_double, &arg[1], sizeof arg[1], &res,
                                sizeof res, NULL, NULL, &a));
  double t0 = check_now();
  CHECK_RC(mpk_async_wait(a, 0.02), MPK_ETIMEDOUT);
  double el = check_now() - t0;
  CHECK(el >= 0.015); /* never early; late only on a loaded machine */
  CHECK_RC(mpk_async_wait(a, 0), MPK_ETIMEDOUT);
  CHECK_EQ(mpk_async_ready(a), 0);
  CHECK_RC(mpk_async_wait(a, NAN), MPK_EINVAL);
  CHECK_RC(mpk_async_wait(NULL, 1), MPK_EINVAL);
  CHECK_EQ(mpk_async_ready(NULL), 0);
  open_gate();
  CHECK_OK(mpk_async_wait(a, MPK_FOREVER));
  CHECK_OK(mpk_async_wait(a, 0)); /* status again */
  CHECK_EQ(res, 42);
  mpk_async_free(a);
  close_gate();
  res = 0;
  /* free waits for a running call */
  CHECK_OK(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg, &res,
                                sizeof res, NULL, NULL, &a));
  mpk_async_free(a);
  CHECK_EQ(res, 42);
  mpk_async_free(NULL);
  mpk_pool_free(p);
}

static void test_async_errors(void) {
  mpk_pool_t *p = mk(2);
  reset_cb();
  long arg[2] = {1, -9}, res = 77;
  mpk_async_t *a = (mpk_async_t *)0x1;
  /* failing task: status through wait and callback; result unchanged */
  CHECK_OK(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg, &res,
                                sizeof res, record, (void *)1, &a));
  CHECK_RC(mpk_async_wait(a, MPK_FOREVER), MPK_ETASK);
  CHECK_EQ(g_cb[1].status, MPK_ETASK);
  CHECK_EQ(res, 77);
  int st;
  CHECK_RC(mpk_pool_last_error(p, NULL, &st, NULL), MPK_ETASK);
  CHECK_EQ(st, -9);
  mpk_async_free(a);
  /* rejected at submit: error, *a NULL, callback never runs */
  a = (mpk_async_t *)0x1;
  CHECK_RC(
      mpk_pool_apply_async(p, NULL, NULL, 0, NULL, 0, record, (void *)2, &a),
      MPK_EINVAL);
  CHECK(a == NULL);
  CHECK_RC(mpk_pool_apply_async(NULL, sleepy_double, arg, sizeof arg, &res,
                                sizeof res, record, (void *)2, &a),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map_async(p, square_long, NULL, sizeof(long), &res, 8, 1,
                              NULL, 0, AUTO0, record, (void *)2, &a),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map_async(p, square_long, &res, 0, &res, 8, 1, NULL, 0,
                              AUTO0, record, (void *)2, &a),
           MPK_EINVAL);
  CHECK_OK(mpk_pool_close(p));
  CHECK_RC(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg, &res,
                                sizeof res, record, (void *)2, &a),
           MPK_ESTATE);
  CHECK_RC(mpk_pool_map_async(p, square_long, &res, 8, &res, 8, 1, NULL, 0,
                              AUTO0, record, (void *)2, &a),
           MPK_ESTATE);
  CHECK_OK(mpk_pool_join(p));
  CHECK_EQ(atomic_load(&g_cb[2].calls), 0);
  mpk_pool_free(p);
}

/* Fire and forget: a NULL handle frees itself after the callback. */
static void test_null_handle(void) {
  mpk_pool_t *p = mk(2);
  reset_cb();
  for (int i = 0; i < 10; i++) {
    long arg[2] = {1, i};
    CHECK_OK(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg, &g_res[i],
                                  sizeof(long), record, (void *)(intptr_t)i,
                                  NULL));
  }
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_join(p)); /* waits for the calls and their callbacks */
  for (int i = 0; i < 10; i++) {
    CHECK_EQ(atomic_load(&g_cb[i].calls), 1);
    CHECK_EQ(g_res[i], 2 * i);
  }
  mpk_pool_free(p);
}

/* Inside a callback: blocking calls are MPK_EDEADLK, async submission is
   fine. */
static mpk_pool_t *g_cbpool;
static mpk_async_t *g_other;
static _Atomic int g_cb_rc[4];

static void blocking_cb(mpk_async_t *a, int status, void *user) {
  (void)a;
  (void)status;
  (void)user;
  long r;
  atomic_store(&g_cb_rc[0],
               mpk_pool_apply(g_cbpool, sleepy_double, NULL, 0, &r, 0));
  atomic_store(&g_cb_rc[1], mpk_async_wait(g_other, MPK_FOREVER));
  atomic_store(&g_cb_rc[2], mpk_pool_join(g_cbpool));
  long arg[2] = {1, 50};
  atomic_store(&g_cb_rc[3],
               mpk_pool_apply_async(g_cbpool, sleepy_double, arg, sizeof arg,
                                    &g_res[50], sizeof(long), record,
                                    (void *)50, NULL));
}

static void test_callback_rules(void) {
  mpk_pool_t *p = mk(2);
  g_cbpool = p;
  reset_cb();
  /* g_other is held at the gate, so the callback's wait on it must block */
  long held = 1, fast[2] = {1, 2}, r1, r2;
  CHECK_OK(mpk_pool_apply_async(p, gated_double, &held, sizeof held, &r1,
                                sizeof r1, NULL, NULL, &g_other));
  mpk_async_t *a;
  CHECK_OK(mpk_pool_apply_async(p, sleepy_double, fast, sizeof fast, &r2,
                                sizeof r2, blocking_cb, NULL, &a));
  CHECK_OK(mpk_async_wait(a, MPK_FOREVER));
  CHECK_EQ(atomic_load(&g_cb_rc[0]), MPK_EDEADLK);
  CHECK_EQ(atomic_load(&g_cb_rc[1]), MPK_EDEADLK);
  CHECK_EQ(atomic_load(&g_cb_rc[2]), MPK_EDEADLK);
  CHECK_EQ(atomic_load(&g_cb_rc[3]), MPK_OK);
  open_gate();
  CHECK_OK(mpk_async_wait(g_other, MPK_FOREVER));
  close_gate();
  mpk_async_free(a);
  mpk_async_free(g_other);
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_join(p));
  CHECK_EQ(atomic_load(&g_cb[50].calls), 1);
  CHECK_EQ(g_res[50], 100);
  mpk_pool_free(p);
}

/* terminate / free with calls in flight: they fail, callbacks run once. */
static void test_terminate_in_flight(void) {
  for (int mode = 0; mode < 2; mode++) {
    mpk_pool_t *p = mk(2);
    reset_cb();
    mpk_async_t *a[6];
    /* processes are killed at once: their tasks that never end do not
       hold terminate up (it would hang); threads finish their current
       task first */
    long slow = g_backend == MPK_PROCESS ? -1 : 300;
    for (int i = 0; i < 6; i++) {
      long arg[2] = {i < 2 ? 1 : slow, i};
      CHECK_OK(mpk_pool_apply_async(p, sleepy_double, arg, sizeof arg,
                                    &g_res[i], sizeof(long), record,
                                    (void *)(intptr_t)i, &a[i]));
    }
    CHECK_OK(mpk_async_wait(a[0], CHECK_HANG_S));
    CHECK_OK(mpk_async_wait(a[1], CHECK_HANG_S));
    if (mode == 0)
      CHECK_OK(mpk_pool_terminate(p));
    else
      mpk_pool_free(p); /* handles stay valid */
    for (int i = 0; i < 6; i++) {
      int rc = mpk_async_wait(a[i], CHECK_HANG_S);
      CHECK_EQ(atomic_load(&g_cb[i].calls), 1);
      CHECK_EQ(g_cb[i].status, rc);
      if (i < 2)
        CHECK_OK(rc);
      else
        CHECK_MSG(rc == MPK_ECLOSED || rc == MPK_OK, "call %d: %s", i,
                  mpk_err_name(rc));
      mpk_async_free(a[i]);
    }
    if (mode == 0)
      mpk_pool_free(p);
  }
}

static void run_all(void) {
  CHECK_RUN(test_apply_async_many);
  CHECK_RUN(test_completion_order);
  CHECK_RUN(test_map_async);
  CHECK_RUN(test_wait_timeout);
  CHECK_RUN(test_async_errors);
  CHECK_RUN(test_null_handle);
  CHECK_RUN(test_callback_rules);
  CHECK_RUN(test_terminate_in_flight);
}

int main(void) {
  check_watchdog(120);
  g_started = mpk_shm_calloc(1, sizeof *g_started);
  CHECK(g_started != NULL);
  CHECK_OK(mpk_event_new(&g_gate));
  pool_run_backends(&g_backend, run_all);
  return check_done();
}
