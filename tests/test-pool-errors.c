/* pool.errors: every error code of the pool API on both backends: bad
   arguments (MPK_EINVAL / MPK_ENOTSUP), n = 0, failing tasks (MPK_ETASK with
   the first failing index, the rest cancelled promptly), the life cycle
   (close / join / terminate / free -> MPK_ESTATE), calls from a worker and
   from a forked child (MPK_ESTATE, not a deadlock). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "pool-util.h"
#include "process-util.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "pool/pool_internal.h" /* ctl->stop: terminate has told workers */

static mpk_backend g_backend = MPK_PROCESS;
static const mpk_sched AUTO0 = {MPK_SCHED_AUTO, 0};

static mpk_pool_t *mk(int workers) {
  return pool_new(workers, g_backend);
}

static int nop_range(size_t lo, size_t hi, void *ctx) {
  (void)lo;
  (void)hi;
  (void)ctx;
  return 0;
}

static int nop_map(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(char *)out = *(const char *)in;
  return 0;
}

static int nop_task(const void *arg, void *res, void *ctx) {
  (void)arg;
  (void)res;
  (void)ctx;
  return 0;
}

static double nop_sum(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return (double)(hi - lo);
}

static int nop_red(size_t lo, size_t hi, void *acc, void *ctx) {
  (void)ctx;
  *(long *)acc += (long)(hi - lo);
  return 0;
}

static void add_long(void *acc, const void *other) {
  *(long *)acc += *(const long *)other;
}

static void test_create_errors(void) {
  mpk_pool_opts o;
  mpk_pool_t *p = (mpk_pool_t *)0x1;
  mpk_pool_opts_init(&o);
  CHECK_RC(mpk_pool_create(NULL, &o), MPK_EINVAL);
  o.workers = -1;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  o.workers = MPK_POOL_MAX_WORKERS + 1;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.threads_per_worker = 0;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.backend = (mpk_backend)7;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.bind = (mpk_bind_policy)9;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.start = (mpk_start)9;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.task_timeout = NAN;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.max_tasks_per_worker = -1;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.cpuset = "not-a-list";
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  o.cpuset = "9999";
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL); /* no allowed PU */
  mpk_pool_opts_init(&o);
  o.backend = MPK_THREAD;
  o.max_rss_bytes = 1 << 20;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_ENOTSUP);
  o.max_rss_bytes = 0;
  o.task_timeout = 1.0;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_ENOTSUP);
  CHECK(p == (mpk_pool_t *)0x1); /* untouched on error */
  mpk_pool_opts_init(NULL);      /* no crash */
}

static void test_bad_arguments(void) {
  mpk_pool_t *p = mk(2);
  mpk_sched bad = {(mpk_sched_kind)42, 0};
  long x = 1;
  char in[4] = {1, 2, 3, 4}, out[4];
  double d = 5;
  long acc = 0, id = 0;
  /* for */
  CHECK_RC(mpk_pool_for(NULL, 10, nop_range, NULL, 0, AUTO0), MPK_EINVAL);
  CHECK_RC(mpk_pool_for(p, 10, NULL, NULL, 0, AUTO0), MPK_EINVAL);
  CHECK_RC(mpk_pool_for(p, 10, nop_range, NULL, 8, AUTO0), MPK_EINVAL);
  CHECK_RC(mpk_pool_for(p, 10, nop_range, NULL, 0, bad), MPK_EINVAL);
  /* map */
  CHECK_RC(mpk_pool_map(NULL, nop_map, in, 1, out, 1, 4, NULL, 0, AUTO0),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map(p, NULL, in, 1, out, 1, 4, NULL, 0, AUTO0), MPK_EINVAL);
  CHECK_RC(mpk_pool_map(p, nop_map, in, 0, out, 1, 4, NULL, 0, AUTO0),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map(p, nop_map, in, 1, out, 0, 4, NULL, 0, AUTO0),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map(p, nop_map, NULL, 1, out, 1, 4, NULL, 0, AUTO0),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map(p, nop_map, in, 1, NULL, 1, 4, NULL, 0, AUTO0),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map(p, nop_map, in, 1, out, 1, 4, NULL, 3, AUTO0),
           MPK_EINVAL);
  CHECK_RC(
      mpk_pool_map(p, nop_map, in, 16, out, 1, SIZE_MAX / 8, NULL, 0, AUTO0),
      MPK_EINVAL); /* n * in_size overflows */
  CHECK_RC(mpk_pool_map(p, nop_map, in, 1, out, 1, 4, NULL, 0, bad),
           MPK_EINVAL);
  /* apply */
  CHECK_RC(mpk_pool_apply(NULL, nop_task, NULL, 0, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_pool_apply(p, NULL, NULL, 0, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_pool_apply(p, nop_task, NULL, 4, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_pool_apply(p, nop_task, &x, sizeof x, NULL, 4), MPK_EINVAL);
  /* reduce_double */
  CHECK_RC(
      mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, MPK_SUM, AUTO0, 0, NULL),
      MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce_double(p, 10, NULL, NULL, 0, MPK_SUM, AUTO0, 0, &d),
           MPK_EINVAL);
  CHECK_RC(
      mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, (mpk_op)9, AUTO0, 0, &d),
      MPK_EINVAL);
  CHECK_RC(
      mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, MPK_SUM, AUTO0, 8, &d),
      MPK_EINVAL); /* unknown flag bit */
  CHECK_RC(mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, MPK_SUM, AUTO0,
                                  MPK_UNORDERED, &d),
           MPK_EINVAL); /* imap's flag */
  CHECK_RC(mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, MPK_MAX, AUTO0,
                                  MPK_REDUCE_NEUMAIER, &d),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, MPK_SUM, bad, 0, &d),
           MPK_EINVAL);
  CHECK_EQ(d, 5); /* unchanged */
  /* reduce */
  CHECK_RC(mpk_pool_reduce(p, 10, NULL, add_long, &id, sizeof id, NULL, 0,
                           AUTO0, 0, &acc),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce(p, 10, nop_red, NULL, &id, sizeof id, NULL, 0, AUTO0,
                           0, &acc),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce(p, 10, nop_red, add_long, NULL, sizeof id, NULL, 0,
                           AUTO0, 0, &acc),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce(p, 10, nop_red, add_long, &id, 0, NULL, 0, AUTO0, 0,
                           &acc),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce(p, 10, nop_red, add_long, &id, sizeof id, NULL, 0,
                           AUTO0, MPK_REDUCE_NEUMAIER, &acc),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_reduce(p, 10, nop_red, add_long, &id, sizeof id, NULL, 0,
                           AUTO0, 0, NULL),
           MPK_EINVAL);
  /* last_error */
  CHECK_RC(mpk_pool_last_error(NULL, NULL, NULL, NULL), MPK_EINVAL);
  size_t idx = 7;
  int st = 7, sig = 7;
  CHECK_OK(mpk_pool_last_error(p, &idx, &st, &sig)); /* nothing failed */
  CHECK(idx == 0 && st == 0 && sig == 0);
  CHECK_OK(mpk_pool_last_error(p, NULL, NULL, NULL));
  /* the pool still works after all that */
  CHECK_OK(mpk_pool_map(p, nop_map, in, 1, out, 1, 4, NULL, 0, AUTO0));
  CHECK(memcmp(in, out, 4) == 0);
  mpk_pool_free(p);
}

static _Atomic long *g_runs; /* shared counter, set before pools exist */

static int count_range(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  atomic_fetch_add(g_runs, (long)(hi - lo) + 1);
  return 0;
}

static void test_n_zero(void) {
  mpk_pool_t *p = mk(2);
  atomic_store(g_runs, 0);
  for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
    mpk_sched s = {(mpk_sched_kind)k, 0};
    CHECK_OK(mpk_pool_for(p, 0, count_range, NULL, 0, s));
    CHECK_OK(mpk_pool_map(p, nop_map, NULL, 1, NULL, 1, 0, NULL, 0, s));
  }
  CHECK_EQ(atomic_load(g_runs), 0); /* nothing ran */
  const mpk_op ops[4] = {MPK_SUM, MPK_PROD, MPK_MIN, MPK_MAX};
  const double want[4] = {0.0, 1.0, INFINITY, -INFINITY};
  for (int i = 0; i < 4; i++) {
    double r = 42;
    CHECK_OK(
        mpk_pool_reduce_double(p, 0, nop_sum, NULL, 0, ops[i], AUTO0, 0, &r));
    CHECK(r == want[i]);
  }
  long id = 17, acc = 0;
  CHECK_OK(mpk_pool_reduce(p, 0, nop_red, add_long, &id, sizeof id, NULL, 0,
                           AUTO0, 0, &acc));
  CHECK_EQ(acc, 17);
  mpk_pool_free(p);
}

/* ---- failing tasks --------------------------------------------------------
 */

static int fail_at(size_t lo, size_t hi, void *ctx) {
  size_t bad = *(size_t *)ctx;
  return lo <= bad && bad < hi ? 7 : 0;
}

static int map_fail37(const void *in, void *out, void *ctx) {
  (void)ctx;
  long v = *(const long *)in;
  *(long *)out = v;
  return v == 37 ? -5 : 0;
}

static int task_fail(const void *arg, void *res, void *ctx) {
  (void)arg;
  (void)res;
  (void)ctx;
  return 3;
}

static int red_fail(size_t lo, size_t hi, void *acc, void *ctx) {
  (void)acc;
  (void)ctx;
  return lo <= 500 && 500 < hi ? 11 : 0;
}

static void test_task_failures(void) {
  mpk_pool_t *p = mk(2);
  size_t idx;
  int st, sig;
  /* for: index = start of the failing chunk */
  size_t bad = 500;
  mpk_sched dyn10 = {MPK_SCHED_DYNAMIC, 10};
  CHECK_RC(mpk_pool_for(p, 1000, fail_at, &bad, sizeof bad, dyn10), MPK_ETASK);
  CHECK_RC(mpk_pool_last_error(p, &idx, &st, &sig), MPK_ETASK);
  CHECK_EQ(idx, 500);
  CHECK_EQ(st, 7);
  CHECK_EQ(sig, 0);
  mpk_sched st0 = {MPK_SCHED_STATIC, 0}; /* 2 blocks: [0,500) [500,1000) */
  bad = 999;
  CHECK_RC(mpk_pool_for(p, 1000, fail_at, &bad, sizeof bad, st0), MPK_ETASK);
  CHECK_RC(mpk_pool_last_error(p, &idx, NULL, NULL), MPK_ETASK);
  CHECK_EQ(idx, 500);
  /* map: index = the element */
  long in[100], out[100];
  for (int i = 0; i < 100; i++) {
    in[i] = i;
    out[i] = -1;
  }
  for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
    mpk_sched s = {(mpk_sched_kind)k, 3};
    CHECK_RC(mpk_pool_map(p, map_fail37, in, sizeof(long), out, sizeof(long),
                          100, NULL, 0, s),
             MPK_ETASK);
    CHECK_RC(mpk_pool_last_error(p, &idx, &st, &sig), MPK_ETASK);
    CHECK_EQ(idx, 37);
    CHECK_EQ(st, -5);
  }
  if (g_backend == MPK_PROCESS) /* staged out: unchanged on failure */
    for (int i = 0; i < 100; i++)
      CHECK_EQ(out[i], -1);
  /* apply */
  CHECK_RC(mpk_pool_apply(p, task_fail, NULL, 0, NULL, 0), MPK_ETASK);
  CHECK_RC(mpk_pool_last_error(p, &idx, &st, &sig), MPK_ETASK);
  CHECK_EQ(idx, 0);
  CHECK_EQ(st, 3);
  /* generic reduction: result unchanged */
  long id = 0, acc = 99;
  mpk_sched c100 = {MPK_SCHED_CYCLIC, 100};
  CHECK_RC(mpk_pool_reduce(p, 1000, red_fail, add_long, &id, sizeof id, NULL, 0,
                           c100, 0, &acc),
           MPK_ETASK);
  CHECK_EQ(acc, 99);
  CHECK_RC(mpk_pool_last_error(p, &idx, &st, NULL), MPK_ETASK);
  CHECK_EQ(idx, 500);
  CHECK_EQ(st, 11);
  /* the pool works afterwards */
  CHECK_OK(mpk_pool_for(p, 1000, nop_range, NULL, 0, dyn10));
  CHECK_RC(mpk_pool_last_error(p, &idx, &st, NULL), MPK_ETASK); /* sticky */
  mpk_pool_free(p);
}

/* After a failure the rest of the call is cancelled promptly: of 2000
   elements (1 ms each) fewer than 1000 run. Element 10 fails; it first
   publishes its thread, and every element after it waits until that
   thread sleeps: it can only sleep once it has recorded the failure and
   set the call's cancel flag (mpk__job_fail takes a spin lock, no sleep).
   So however the workers are scheduled, the elements that run are the 11
   before the failure and, per worker, what it had claimed before it saw
   cancel (its chunk, at most 64 elements of a static share). A worker
   delayed at the start can no longer run its whole share first. */
typedef struct {
  _Atomic pid_t pid, tid; /* of the thread that ran element 10 (tid 0: none) */
} fail_thread;

static fail_thread *g_failer; /* shared, set before pools exist */

static int slow_fail(const void *in, void *out, void *ctx) {
  (void)ctx;
  (void)out;
  long v = *(const long *)in;
  atomic_fetch_add(g_runs, 1);
  pid_t self = (pid_t)syscall(SYS_gettid);
  if (v == 10) {
    atomic_store(&g_failer->pid, getpid());
    atomic_store(&g_failer->tid, self);
    return 1;
  }
  if (v > 10) {
    double t0 = check_now();
    pid_t tid;
    while ((tid = atomic_load(&g_failer->tid)) == 0 ||
           (tid != self &&
            pu_task_state(atomic_load(&g_failer->pid), tid) != 'S')) {
      CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "element 10 never failed");
      check_sleep(0.0005);
    }
  }
  check_sleep(0.001);
  return 0;
}

static void test_cancel_prompt(void) {
  mpk_pool_t *p = mk(2);
  size_t n = 2000;
  long *in = malloc(n * sizeof(long)), *out = malloc(n * sizeof(long));
  for (size_t i = 0; i < n; i++)
    in[i] = (long)i;
  for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
    atomic_store(g_runs, 0);
    atomic_store(&g_failer->tid, 0);
    mpk_sched s = {(mpk_sched_kind)k, k == MPK_SCHED_AUTO ? 0 : 5};
    double t0 = check_now();
    CHECK_RC(mpk_pool_map(p, slow_fail, in, sizeof(long), out, sizeof(long), n,
                          NULL, 0, s),
             MPK_ETASK);
    double el = check_now() - t0;
    long runs = atomic_load(g_runs);
    CHECK_MSG(runs < 1000, "kind %d: %ld of 2000 elements ran", k, runs);
    /* The bound only turns a run-to-the-end into a failure (2000 x 1 ms
       on 2 workers); promptness is in the element count above. */
    CHECK_MSG(el < 30, "kind %d: took %.3f s", k, el);
  }
  free(in);
  free(out);
  mpk_pool_free(p);
}

/* n near SIZE_MAX: nothing overflows on the execution path either. */
static int fail_first(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return lo < hi ? 9 : 8;
}

static void test_huge_n(void) {
  mpk_pool_t *p = mk(2);
  for (int k = MPK_SCHED_STATIC; k <= MPK_SCHED_GUIDED; k++) {
    mpk_sched s = {(mpk_sched_kind)k, k == MPK_SCHED_STATIC ? 0 : SIZE_MAX / 4};
    CHECK_RC(mpk_pool_for(p, SIZE_MAX, fail_first, NULL, 0, s), MPK_ETASK);
    int st;
    CHECK_RC(mpk_pool_last_error(p, NULL, &st, NULL), MPK_ETASK);
    CHECK_EQ(st, 9);
  }
  mpk_pool_free(p);
}

/* ---- life cycle -----------------------------------------------------------
 */

static void test_lifecycle(void) {
  mpk_pool_t *p = mk(2);
  char in[2] = {1, 2}, out[2];
  long r;
  CHECK_RC(mpk_pool_join(p), MPK_ESTATE); /* join before close */
  CHECK_OK(mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0));
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_close(p)); /* idempotent */
  CHECK_RC(mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0), MPK_ESTATE);
  CHECK_RC(mpk_pool_for(p, 0, nop_range, NULL, 0, AUTO0), MPK_ESTATE);
  CHECK_RC(mpk_pool_map(p, nop_map, in, 1, out, 1, 2, NULL, 0, AUTO0),
           MPK_ESTATE);
  CHECK_RC(mpk_pool_apply(p, nop_task, NULL, 0, NULL, 0), MPK_ESTATE);
  double d;
  CHECK_RC(
      mpk_pool_reduce_double(p, 10, nop_sum, NULL, 0, MPK_SUM, AUTO0, 0, &d),
      MPK_ESTATE);
  mpk_async_t *a = (mpk_async_t *)0x1;
  CHECK_RC(mpk_pool_apply_async(p, nop_task, NULL, 0, NULL, 0, NULL, NULL, &a),
           MPK_ESTATE);
  CHECK(a == NULL);
  mpk_iter_t *it = (mpk_iter_t *)0x1;
  CHECK_RC(mpk_pool_imap(p, nop_map, in, 1, 1, 2, NULL, 0, 0, 0, &it),
           MPK_ESTATE);
  CHECK(it == NULL);
  CHECK_OK(mpk_pool_join(p));
  CHECK_OK(mpk_pool_join(p));      /* second join: at once */
  CHECK_OK(mpk_pool_terminate(p)); /* after join: nothing to do */
  CHECK_RC(mpk_pool_apply(p, nop_task, NULL, 0, &r, 0), MPK_ESTATE);
  mpk_pool_free(p);

  p = mk(2);
  CHECK_OK(mpk_pool_terminate(p));
  CHECK_OK(mpk_pool_terminate(p));
  CHECK_RC(mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0), MPK_ESTATE);
  CHECK_RC(mpk_pool_join(p), MPK_ESTATE);
  CHECK_OK(mpk_pool_close(p));
  CHECK_RC(mpk_pool_join(p), MPK_ESTATE);
  mpk_pool_free(p);
  mpk_pool_free(NULL);
}

/* terminate while a call runs: the call fails with MPK_ECLOSED, never
   MPK_OK over results that were not computed. Elements (chunks) 0 and 1 hold
   both workers until terminate has told the workers to stop (ctl->stop,
   seen here before the gate opens); a worker that still runs then claims
   chunk 2 and must not leave it undone as if it were finished. Before the
   fix map returned MPK_OK with out[2] never written and reduce a sum
   without chunk 2 (threads: every time; processes: whenever a worker saw
   the gate open before it was killed). */
typedef struct {
  _Atomic int entered, go;
} mid_gate;
static mid_gate *g_mid; /* shared, set before pools exist */

static void mid_hold(void) {
  atomic_fetch_add(&g_mid->entered, 1);
  while (!atomic_load(&g_mid->go))
    check_sleep(0.0005);
}

static int mid_map(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  if (x < 2)
    mid_hold();
  *(long *)out = x + 1;
  return 0;
}

static double mid_sum(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  if (lo < 2)
    mid_hold();
  return (double)(hi - lo);
}

typedef struct {
  mpk_pool_t *p;
  bool reduce;
  int rc;
  long in[3], out[3];
  double sum;
} mid_call;

static void *mid_caller(void *arg) {
  mid_call *m = arg;
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  m->rc = m->reduce ? mpk_pool_reduce_double(m->p, 3, mid_sum, NULL, 0, MPK_SUM,
                                             s, 0, &m->sum)
                    : mpk_pool_map(m->p, mid_map, m->in, sizeof(long), m->out,
                                   sizeof(long), 3, NULL, 0, s);
  return NULL;
}

static void *mid_terminator(void *arg) {
  return (void *)(intptr_t)mpk_pool_terminate(arg);
}

static void test_terminate_mid_job(void) {
  for (int reduce = 0; reduce < 2; reduce++) {
    atomic_store(&g_mid->entered, 0);
    atomic_store(&g_mid->go, 0);
    mid_call m = {
        .p = mk(2), .reduce = reduce, .in = {0, 1, 2}, .out = {-1, -1, -1}};
    pthread_t caller, term;
    CHECK(pthread_create(&caller, NULL, mid_caller, &m) == 0);
    double t0 = check_now();
    while (atomic_load(&g_mid->entered) < 2)
      CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "chunks 0 and 1 never ran");
    CHECK(pthread_create(&term, NULL, mid_terminator, m.p) == 0);
    while (atomic_load(&m.p->ctl->stop) != MPK__STOP_NOW)
      CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "terminate never began");
    atomic_store(&g_mid->go, 1);
    void *trc;
    pthread_join(term, &trc);
    CHECK_OK((int)(intptr_t)trc);
    pthread_join(caller, NULL);
    CHECK_MSG(m.rc == MPK_ECLOSED, "%s: %s (out[2] %ld, sum %g)",
              reduce ? "reduce" : "map", mpk_err_name(m.rc), m.out[2], m.sum);
    mpk_pool_free(m.p);
  }
}

/* mpk_pool_free without close stops and reaps every worker. */
static void test_free_reaps(void) {
  if (g_backend != MPK_PROCESS)
    return;
  mpk_pool_t *p = mk(3);
  pid_t pids[3];
  for (int i = 0; i < 3; i++) {
    pids[i] = mpk_pool_worker_pid(p, i);
    CHECK(pids[i] > 0);
  }
  CHECK_OK(mpk_pool_for(p, 3, nop_range, NULL, 0, AUTO0));
  mpk_pool_free(p);
  for (int i = 0; i < 3; i++)
    CHECK_MSG(check_pid_gone(pids[i]), "worker %d left behind", pids[i]);
}

/* A pool call from inside one of its workers: MPK_ESTATE, no deadlock. The
   pool's address travels in ctx (a worker forked inside mpk_pool_create
   never sees the caller's variable being set). */
static int nested_call(size_t lo, size_t hi, void *ctx) {
  (void)lo;
  (void)hi;
  mpk_pool_t *p = *(mpk_pool_t **)ctx;
  int rc = mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0);
  int rc2 = mpk_pool_apply(p, nop_task, NULL, 0, NULL, 0);
  int rc3 = mpk_pool_close(p);
  int rc4 = mpk_pool_join(p);
  mpk_async_t *a;
  int rc5 = mpk_pool_apply_async(p, nop_task, NULL, 0, NULL, 0, NULL, NULL, &a);
  int rc6 = mpk_pool_terminate(p);
  mpk_pool_free(p); /* a no-op here */
  int bad = (rc != MPK_ESTATE) + 2 * (rc2 != MPK_ESTATE) +
            4 * (rc3 != MPK_ESTATE) + 8 * (rc4 != MPK_ESTATE) +
            16 * (rc5 != MPK_ESTATE) + 32 * (rc6 != MPK_ESTATE);
  return bad ? 200 + bad : 100;
}

static void test_call_from_worker(void) {
  mpk_pool_t *p = mk(2);
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_RC(mpk_pool_for(p, 2, nested_call, &p, sizeof p, s), MPK_ETASK);
  int st;
  CHECK_RC(mpk_pool_last_error(p, NULL, &st, NULL), MPK_ETASK);
  CHECK_EQ(st, 100);
  CHECK_OK(mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0));
  mpk_pool_free(p);
}

/* A forked child that inherited the pool handle cannot use it, and freeing
   it there leaves the parent's workers alone. */
static int child_uses_pool(void *arg) {
  mpk_pool_t *p = arg;
  if (mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0) != MPK_ESTATE)
    return 1;
  if (mpk_pool_close(p) != MPK_ESTATE || mpk_pool_terminate(p) != MPK_ESTATE)
    return 2;
  mpk_pool_free(p);
  return 0;
}

static void test_call_from_child(void) {
  mpk_pool_t *p = mk(2);
  pid_t c = check_fork(child_uses_pool, p);
  check_wait_ok(c, 10);
  CHECK_OK(mpk_pool_for(p, 4, nop_range, NULL, 0, AUTO0));
  CHECK_OK(mpk_pool_close(p)); /* still open in the parent */
  CHECK_OK(mpk_pool_join(p));
  mpk_pool_free(p);
}

/* A worker may create (and own) a pool of its own. */
static int inner_square(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in * *(const long *)in;
  return 0;
}

static int nested_pool(const void *arg, void *res, void *ctx) {
  (void)ctx;
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 2;
  o.backend = *(const mpk_backend *)arg;
  o.bind = MPK_BIND_NONE;
  mpk_pool_t *inner;
  int rc = mpk_pool_create(&inner, &o);
  if (rc != MPK_OK)
    return 10;
  long in[5] = {1, 2, 3, 4, 5}, out[5] = {0};
  rc = mpk_pool_map(inner, inner_square, in, sizeof(long), out, sizeof(long), 5,
                    NULL, 0, AUTO0);
  long sum = out[0] + out[1] + out[2] + out[3] + out[4];
  if (mpk_pool_close(inner) != MPK_OK || mpk_pool_join(inner) != MPK_OK)
    rc = 20;
  mpk_pool_free(inner);
  *(long *)res = sum;
  return rc == MPK_OK ? 0 : 30;
}

static void test_nested_pool(void) {
  mpk_pool_t *p = mk(1);
  for (int b = 0; b < 2; b++) {
    mpk_backend inner = b ? MPK_THREAD : MPK_PROCESS;
    long sum = 0;
    CHECK_OK(
        mpk_pool_apply(p, nested_pool, &inner, sizeof inner, &sum, sizeof sum));
    CHECK_EQ(sum, 55);
  }
  mpk_pool_free(p);
}

static void run_all(void) {
  CHECK_RUN(test_create_errors);
  CHECK_RUN(test_bad_arguments);
  CHECK_RUN(test_n_zero);
  CHECK_RUN(test_task_failures);
  CHECK_RUN(test_cancel_prompt);
  CHECK_RUN(test_huge_n);
  CHECK_RUN(test_lifecycle);
  CHECK_RUN(test_free_reaps);
  CHECK_RUN(test_call_from_worker);
  CHECK_RUN(test_call_from_child);
  CHECK_RUN(test_nested_pool);
  CHECK_RUN(test_terminate_mid_job);
}

int main(void) {
  check_watchdog(120);
  g_runs = mpk_shm_calloc(1, sizeof *g_runs);
  g_failer = mpk_shm_calloc(1, sizeof *g_failer);
  g_mid = mpk_shm_calloc(1, sizeof *g_mid);
  CHECK(g_runs != NULL && g_failer != NULL && g_mid != NULL);
  g_backend = MPK_PROCESS;
  run_all();
  g_backend = MPK_THREAD;
  run_all();
  return check_done();
}
