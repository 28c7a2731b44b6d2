/* pool.basic: for / map / apply on the process backend (test-pool-threads.c
   runs this file on the thread backend), every schedule, ctx copies,
   staging and zero-copy, worker identity, names, binding, oversubscription,
   and the seed programs (Python Pool tutorials) in C. */
#ifndef TEST_THREADS
#define TEST_THREADS 0
#endif
#define TEST_BACKEND (TEST_THREADS ? MPK_THREAD : MPK_PROCESS)

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "pool-util.h"
#include "mpk/pool.h"
#include "mpk/process.h"
#include "mpk/shm.h"
#include "mpk/topo.h"

static const mpk_sched AUTO0 = {MPK_SCHED_AUTO, 0};

static mpk_pool_t *mk(int workers) {
  mpk_pool_t *p = pool_new(workers, TEST_BACKEND);
  CHECK(p != NULL);
  CHECK_EQ(mpk_pool_size(p), workers);
  return p;
}

static void done(mpk_pool_t *p) {
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_join(p));
  mpk_pool_free(p);
}

/* ---- seeds ----------------------------------------------------------------
 */

/* with Pool(5) as p: print(p.map(f, [1, 2, 3]))  ->  [2, 4, 6] */
static int f_double(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in * 2;
  return 0;
}

static void test_seed_pool5_map_double(void) {
  mpk_pool_t *p = mk(5);
  long in[3] = {1, 2, 3}, out[3] = {0};
  CHECK_OK(mpk_pool_map(p, f_double, in, sizeof(long), out, sizeof(long), 3,
                        NULL, 0, AUTO0));
  CHECK_EQ(out[0], 2);
  CHECK_EQ(out[1], 4);
  CHECK_EQ(out[2], 6);
  mpk_pool_free(p); /* "with" block: terminate on exit */
}

/* pool = Pool(processes=4); pool.map(function_square, range(100)) */
static int square(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  *(long *)out = x * x;
  return 0;
}

static void test_seed_square_range100(void) {
  mpk_pool_t *p = mk(4);
  long in[100], out[100];
  for (long i = 0; i < 100; i++) {
    in[i] = i;
    out[i] = -1;
  }
  CHECK_OK(mpk_pool_map(p, square, in, sizeof(long), out, sizeof(long), 100,
                        NULL, 0, AUTO0));
  for (long i = 0; i < 100; i++)
    CHECK_EQ(out[i], i * i);
  done(p); /* pool.close(); pool.join() */
}

/* square over [1..5], each call reporting which worker ran it (the
   tutorial prints os.getpid()). */
typedef struct {
  long sq;
  pid_t pid;
  int wid;
} sq_pid;

static int square_pid(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  sq_pid *r = out;
  r->sq = x * x;
  r->pid = getpid();
  r->wid = mpk_worker_id();
  return 0;
}

static void test_seed_square_pids(void) {
  int W = mpk_cpu_count();
  mpk_pool_t *p = mk(W);
  long in[5] = {1, 2, 3, 4, 5};
  sq_pid out[5];
  memset(out, 0, sizeof out);
  CHECK_OK(mpk_pool_map(p, square_pid, in, sizeof(long), out, sizeof out[0], 5,
                        NULL, 0, AUTO0));
  int distinct = 0;
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(out[i].sq, in[i] * in[i]);
    CHECK(out[i].wid >= 0 && out[i].wid < W);
    if (TEST_BACKEND == MPK_PROCESS) {
      CHECK_NE(out[i].pid, getpid());
      CHECK_EQ(out[i].pid, mpk_pool_worker_pid(p, out[i].wid));
    } else {
      CHECK_EQ(out[i].pid, getpid());
    }
    int seen = 0;
    for (int k = 0; k < i; k++)
      seen |= out[k].wid == out[i].wid;
    distinct += !seen;
  }
  CHECK(distinct >= 1);
  done(p);
}

/* work_log: Pool(2).map over (A,5) (B,2) (C,1) (D,3) seconds of sleep, as
   the seed does; here each item sleeps units x 10 ms. What the seed shows
   with its timing (the two workers run items at the same time) is asserted
   without it: every item waits until two items have started, which only
   happens when both workers run one. Run one after another, the first item
   would wait for good (the watchdog turns that into a failure). */
typedef struct {
  char name;
  int units;
} work_item;

static int work_log(const void *in, void *out, void *ctx) {
  const work_item *w = in;
  _Atomic int *started = *(_Atomic int *const *)ctx;
  atomic_fetch_add(started, 1);
  while (atomic_load(started) < 2)
    check_sleep(0.0005);
  check_sleep(0.010 * w->units);
  *(char *)out = w->name;
  return 0;
}

static void test_seed_work_log(void) {
  mpk_pool_t *p = mk(2);
  work_item work[4] = {{'A', 5}, {'B', 2}, {'C', 1}, {'D', 3}};
  char out[4] = {0};
  _Atomic int *started = mpk_shm_calloc(1, sizeof *started);
  CHECK(started != NULL);
  CHECK_OK(mpk_pool_map(p, work_log, work, sizeof work[0], out, 1, 4, &started,
                        sizeof started, AUTO0));
  CHECK(out[0] == 'A' && out[1] == 'B' && out[2] == 'C' && out[3] == 'D');
  CHECK_EQ(atomic_load(started), 4);
  mpk_shm_free(started);
  done(p);
}

/* ---- for: every schedule covers every index exactly once ---------------- */

typedef struct {
  _Atomic int *hits;
  size_t n;
} hit_ctx;

static int mark(size_t lo, size_t hi, void *ctx) {
  hit_ctx *h = ctx;
  if (lo >= hi || hi > h->n)
    return 99;
  for (size_t i = lo; i < hi; i++)
    atomic_fetch_add(&h->hits[i], 1);
  return 0;
}

static void test_for_schedules(void) {
  mpk_pool_t *p = mk(3);
  const size_t ns[] = {0, 1, 2, 5, 100, 12345};
  const size_t chunks[] = {0, 1, 7, 1000, 20000};
  size_t cap = 12345;
  _Atomic int *hits = mpk_shm_calloc(cap, sizeof *hits);
  CHECK(hits != NULL);
  for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++)
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
      for (size_t b = 0; b < sizeof chunks / sizeof chunks[0]; b++) {
        size_t n = ns[a];
        memset((void *)hits, 0, cap * sizeof *hits);
        hit_ctx h = {hits, n};
        mpk_sched s = {(mpk_sched_kind)k, chunks[b]};
        CHECK_OK(mpk_pool_for(p, n, mark, &h, sizeof h, s));
        for (size_t i = 0; i < n; i++)
          CHECK_MSG(atomic_load(&hits[i]) == 1,
                    "kind %d chunk %zu n %zu: index %zu hit %d times", k,
                    chunks[b], n, i, atomic_load(&hits[i]));
      }
  mpk_shm_free((void *)hits);
  done(p);
}

/* ---- map: order, staging, zero-copy, every schedule -------------------- */

static int map_affine(const void *in, void *out, void *ctx) {
  const long *k = ctx;
  *(long *)out = *(const long *)in * k[0] + k[1];
  return 0;
}

static void test_map_schedules(void) {
  mpk_pool_t *p = mk(3);
  size_t n = 5000;
  long *in = malloc(n * sizeof(long)), *out = malloc(n * sizeof(long));
  CHECK(in && out);
  for (size_t i = 0; i < n; i++)
    in[i] = (long)i - 77;
  long k[2] = {3, 11};
  for (int kind = MPK_SCHED_AUTO; kind <= MPK_SCHED_GUIDED; kind++)
    for (size_t chunk = 0; chunk < 300; chunk = chunk * 7 + 1) {
      for (size_t i = 0; i < n; i++)
        out[i] = -1;
      mpk_sched s = {(mpk_sched_kind)kind, chunk};
      CHECK_OK(mpk_pool_map(p, map_affine, in, sizeof(long), out, sizeof(long),
                            n, k, sizeof k, s));
      for (size_t i = 0; i < n; i++)
        CHECK_EQ(out[i], in[i] * 3 + 11);
    }
  free(in);
  free(out);
  done(p);
}

/* Records where its input and output live: shared buffers are used in
   place, private ones are staged (process backend). */
typedef struct {
  const void *in;
  void *out;
} where;

static int map_where(const void *in, void *out, void *ctx) {
  (void)ctx;
  where *w = out;
  w->in = in;
  w->out = out;
  return 0;
}

static void test_map_zero_copy(void) {
  mpk_pool_t *p = mk(2);
  size_t n = 64;
  char *sin = mpk_shm_alloc(n);
  where *sout = mpk_shm_alloc(n * sizeof(where));
  CHECK(sin && sout);
  CHECK_OK(mpk_pool_map(p, map_where, sin, 1, sout, sizeof(where), n, NULL, 0,
                        AUTO0));
  for (size_t i = 0; i < n; i++) {
    CHECK(sout[i].in == sin + i);   /* in place */
    CHECK(sout[i].out == &sout[i]); /* in place */
  }
  char pin[64];
  where pout[64];
  CHECK_OK(mpk_pool_map(p, map_where, pin, 1, pout, sizeof(where), n, NULL, 0,
                        AUTO0));
  for (size_t i = 0; i < n; i++) {
    if (TEST_BACKEND == MPK_PROCESS) {
      CHECK(pout[i].in != pin + i); /* staged through the shared heap */
      CHECK(mpk_shm_contains(pout[i].in));
      CHECK(mpk_shm_contains(pout[i].out));
    } else {
      CHECK(pout[i].in == pin + i);
      CHECK(pout[i].out == &pout[i]);
    }
  }
  mpk_shm_free(sin);
  mpk_shm_free(sout);
  done(p);
}

static void test_map_large(void) {
  mpk_pool_t *p = mk(2);
  size_t n = 1u << 20;
  long *in = malloc(n * sizeof(long)), *out = malloc(n * sizeof(long));
  CHECK(in && out);
  for (size_t i = 0; i < n; i++)
    in[i] = (long)i;
  CHECK_OK(mpk_pool_map(p, square, in, sizeof(long), out, sizeof(long), n, NULL,
                        0, AUTO0));
  for (size_t i = 0; i < n; i++)
    CHECK_EQ(out[i], (long)i * (long)i);
  free(in);
  free(out);
  done(p);
}

/* ---- ctx is copied per call -------------------------------------------- */

typedef struct {
  char bytes[1000];
  long sum;
  const void *self; /* the caller's address */
} big_ctx;

static int check_big(size_t lo, size_t hi, void *ctx) {
  big_ctx *b = ctx;
  (void)lo;
  (void)hi;
  long s = 0;
  for (int i = 0; i < 1000; i++)
    s += b->bytes[i];
  if (s != b->sum)
    return 1;
  return ctx == b->self ? 2 : 0; /* a copy, never the caller's struct */
}

static void test_ctx_copied(void) {
  mpk_pool_t *p = mk(2);
  big_ctx b;
  b.sum = 0;
  for (int i = 0; i < 1000; i++) {
    b.bytes[i] = (char)(i % 100);
    b.sum += b.bytes[i];
  }
  b.self = &b;
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_for(p, 10, check_big, &b, sizeof b, s));
  CHECK_OK(mpk_pool_for(p, 10, check_big, &b, sizeof b, s)); /* again */
  /* small ctx (inline in the job) */
  long k[2] = {2, 5};
  long in = 10, out = 0;
  CHECK_OK(mpk_pool_map(p, map_affine, &in, sizeof in, &out, sizeof out, 1, k,
                        sizeof k, AUTO0));
  CHECK_EQ(out, 25);
  done(p);
}

/* ---- apply -------------------------------------------------------------- */

static int add_task(const void *arg, void *result, void *ctx) {
  (void)ctx;
  const long *a = arg;
  *(long *)result = a[0] + a[1];
  return 0;
}

typedef struct {
  double v[200];
} big_res;

static int fill_task(const void *arg, void *result, void *ctx) {
  (void)ctx;
  const big_res *in = arg;
  big_res *r = result;
  for (int i = 0; i < 200; i++)
    r->v[i] = in->v[199 - i] * 2;
  return 0;
}

static _Atomic int *g_flag;

static int noarg_task(const void *arg, void *result, void *ctx) {
  (void)ctx;
  if (arg != NULL || result != NULL)
    return 5;
  atomic_fetch_add(g_flag, 1);
  return 0;
}

static void test_apply(void) {
  /* g_flag is a global: workers see it only if set before they fork */
  g_flag = mpk_shm_calloc(1, sizeof *g_flag);
  mpk_pool_t *p = mk(2);
  long a[2] = {40, 2}, r = 0;
  CHECK_OK(mpk_pool_apply(p, add_task, a, sizeof a, &r, sizeof r));
  CHECK_EQ(r, 42);
  big_res in, out;
  for (int i = 0; i < 200; i++)
    in.v[i] = i;
  CHECK_OK(mpk_pool_apply(p, fill_task, &in, sizeof in, &out, sizeof out));
  for (int i = 0; i < 200; i++)
    CHECK_EQ(out.v[i], (199 - i) * 2);
  CHECK_OK(mpk_pool_apply(p, noarg_task, NULL, 0, NULL, 0));
  CHECK_EQ(atomic_load(g_flag), 1);
  mpk_shm_free((void *)g_flag);
  done(p);
}

/* ---- worker identity ----------------------------------------------------- */

typedef struct {
  int id, count;
} ident;

static int who(const void *in, void *out, void *ctx) {
  (void)in;
  (void)ctx;
  ident *r = out;
  r->id = mpk_worker_id();
  r->count = mpk_worker_count();
  return 0;
}

static void test_worker_identity(void) {
  CHECK_EQ(mpk_worker_id(), -1);
  CHECK_EQ(mpk_worker_count(), 0);
  mpk_pool_t *p = mk(3);
  char in[30];
  ident out[30];
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(p, who, in, 1, out, sizeof out[0], 30, NULL, 0, s));
  for (int i = 0; i < 30; i++) {
    CHECK(out[i].id >= 0 && out[i].id < 3);
    CHECK_EQ(out[i].count, 3);
  }
  CHECK_EQ(mpk_worker_id(), -1);
  CHECK_EQ(mpk_worker_count(), 0);
  done(p);
}

#if !TEST_THREADS
typedef struct {
  char name[32];
} pname;

static int name_of(const void *in, void *out, void *ctx) {
  (void)in;
  (void)ctx;
  snprintf(((pname *)out)->name, 32, "%s", mpk_current_process_name());
  return 0;
}

static void test_worker_names(void) {
  mpk_pool_t *p = mk(2);
  char in[4];
  pname out[4];
  CHECK_OK(
      mpk_pool_map(p, name_of, in, 1, out, sizeof out[0], 4, NULL, 0, AUTO0));
  for (int i = 0; i < 4; i++)
    CHECK_MSG(strncmp(out[i].name, "PoolWorker-", 11) == 0, "name %s",
              out[i].name);
  CHECK_STR(mpk_current_process_name(), "MainProcess");
  done(p);
}
#endif

/* ---- binding: worker i runs on the PUs of its plan ------------------------
 */

static int list_has(const char *list, int cpu) {
  const char *s = list;
  while (*s) {
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (*end == '-')
      b = strtol(end + 1, &end, 10);
    if (cpu >= a && cpu <= b)
      return 1;
    s = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0')
      return 0;
  }
  return 0;
}

typedef struct {
  int id;
  int ok; /* every allowed cpu of the thread is in the plan list */
  int ncpu;
} aff;

typedef struct {
  char lists[8][64];
} plan_ctx;

static int affinity_of(const void *in, void *out, void *ctx) {
  (void)in;
  const plan_ctx *pc = ctx;
  aff *a = out;
  cpu_set_t set;
  CPU_ZERO(&set);
  a->id = mpk_worker_id();
  a->ok = sched_getaffinity(0, sizeof set, &set) == 0;
  a->ncpu = CPU_COUNT(&set);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set) && !list_has(pc->lists[a->id], c))
      a->ok = 0;
  return 0;
}

static void test_binding(void) {
  int W = mpk_cpu_count() < 8 ? mpk_cpu_count() : 8;
  mpk_pool_t *p = mk(W);
  plan_ctx pc;
  for (int i = 0; i < W; i++) {
    CHECK_OK(mpk_pool_worker_cpuset(p, i, pc.lists[i], sizeof pc.lists[i]));
    char want[64];
    CHECK_OK(mpk_topo_plan(W, MPK_BIND_COMPACT, NULL, i, want, sizeof want));
    CHECK_STR(pc.lists[i], want);
  }
  char in[64];
  aff out[64];
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(p, affinity_of, in, 1, out, sizeof out[0], 64, &pc,
                        sizeof pc, s));
  for (int i = 0; i < 64; i++)
    CHECK_MSG(out[i].ok, "worker %d runs outside %s", out[i].id,
              pc.lists[out[i].id]);
  char small[2];
  CHECK_RC(mpk_pool_worker_cpuset(p, 0, small, 1), MPK_EMSGSIZE);
  CHECK_RC(mpk_pool_worker_cpuset(p, W, small, 2), MPK_EINVAL);
  CHECK_RC(mpk_pool_worker_cpuset(p, -1, small, 2), MPK_EINVAL);
  done(p);
}

/* ---- more workers than PUs ------------------------------------------------
 */

static void test_oversubscribed(void) {
  int W = 2 * mpk_cpu_count() + 1;
  mpk_pool_t *p = mk(W);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK_EQ(info.workers, W);
  CHECK_EQ(info.oversubscribed, 1);
  CHECK(info.spin_us >= 0 && info.spin_us <= 2.0); /* throttled */
  long in[200], out[200];
  for (int i = 0; i < 200; i++)
    in[i] = i;
  for (int r = 0; r < 20; r++) {
    mpk_sched s = {(mpk_sched_kind)(r % 5), (size_t)(r % 3)};
    CHECK_OK(mpk_pool_map(p, square, in, sizeof(long), out, sizeof(long), 200,
                          NULL, 0, s));
    for (int i = 0; i < 200; i++)
      CHECK_EQ(out[i], (long)i * i);
  }
  done(p);
}

static void test_info(void) {
  mpk_pool_t *p = mk(1);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK_EQ(info.workers, 1);
  CHECK_EQ(info.threads_per_worker, 1);
  CHECK_EQ(info.backend, TEST_BACKEND);
  CHECK(info.start == MPK_START_FORK || info.start == MPK_START_FORKSERVER);
  CHECK_EQ(info.oversubscribed, 0);
  CHECK_EQ(info.replaced, 0);
  CHECK_RC(mpk_pool_info_get(NULL, &info), MPK_EINVAL);
  CHECK_RC(mpk_pool_info_get(p, NULL), MPK_EINVAL);
  CHECK_EQ(mpk_pool_size(NULL), 0);
  CHECK_EQ(mpk_pool_worker_pid(p, 1), -1);
  if (TEST_BACKEND == MPK_PROCESS)
    CHECK(mpk_pool_worker_pid(p, 0) > 0);
  else
    CHECK_EQ(mpk_pool_worker_pid(p, 0), 0);
  done(p);
}

/* A worker that has run a task has its pid published: the pid a task sees
   is what mpk_pool_worker_pid says, in both start modes, at creation and
   after a replacement (the parent used to learn a fork-server worker's pid
   only when the server's message arrived, after the worker could have run
   a whole map). */
static void test_pid_published(void) {
  if (TEST_BACKEND != MPK_PROCESS)
    return;
  const mpk_start starts[2] = {MPK_START_FORK, MPK_START_FORKSERVER};
  for (int k = 0; k < 2; k++)
    for (int round = 0; round < 20; round++) {
      mpk_pool_opts o;
      mpk_pool_opts_init(&o);
      o.workers = 1;
      o.start = starts[k];
      mpk_pool_t *p;
      CHECK_OK(mpk_pool_create(&p, &o));
      long in = 3;
      sq_pid r;
      CHECK_OK(mpk_pool_map(p, square_pid, &in, sizeof in, &r, sizeof r, 1,
                            NULL, 0, AUTO0));
      CHECK_EQ(mpk_pool_worker_pid(p, 0), r.pid);
      if (round % 5 == 0) { /* and for a replacement */
        kill(r.pid, SIGKILL);
        pid_t old = r.pid;
        /* A map can finish before the kill lands (old pid), or be handed
           to the dying worker (MPK_EWORKER): repeat until the replacement
           ran it. */
        int rc;
        do
          rc = mpk_pool_map(p, square_pid, &in, sizeof in, &r, sizeof r, 1,
                            NULL, 0, AUTO0);
        while ((rc == MPK_OK && r.pid == old) || rc == MPK_EWORKER);
        CHECK_OK(rc);
        CHECK_EQ(mpk_pool_worker_pid(p, 0), r.pid);
      }
      done(p);
    }
}

/* Default pool: one worker per core. */
static void test_default_pool(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  CHECK_EQ(o.workers, 0);
  CHECK_EQ(o.backend, MPK_PROCESS);
  CHECK_EQ(o.bind, MPK_BIND_COMPACT);
  CHECK_EQ(o.threads_per_worker, 1);
  CHECK_EQ(o.start, MPK_START_AUTO);
  o.backend = TEST_BACKEND;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  CHECK_EQ(mpk_pool_size(p), mpk_core_count());
  long in = 7, out = 0;
  CHECK_OK(mpk_pool_map(p, square, &in, sizeof in, &out, sizeof out, 1, NULL, 0,
                        AUTO0));
  CHECK_EQ(out, 49);
  mpk_pool_free(p);
  if (TEST_BACKEND == MPK_PROCESS) {
    CHECK_OK(mpk_pool_create(&p, NULL)); /* NULL options */
    mpk_pool_free(p);
  }
}

/* Thousands of small calls: the job ring wraps many times. */
static int inc_range(size_t lo, size_t hi, void *ctx) {
  _Atomic long *c = *(_Atomic long **)ctx;
  atomic_fetch_add(c, (long)(hi - lo));
  return 0;
}

static void test_many_calls(void) {
  mpk_pool_t *p = mk(2);
  _Atomic long *cnt = mpk_shm_calloc(1, sizeof *cnt);
  long total = 0;
  for (int r = 0; r < 3000; r++) {
    size_t n = (size_t)(r % 17);
    mpk_sched s = {(mpk_sched_kind)(r % 5), (size_t)(r % 4)};
    CHECK_OK(mpk_pool_for(p, n, inc_range, &cnt, sizeof cnt, s));
    total += (long)n;
    if (r % 3 == 0) {
      long a[2] = {r, 1}, res = 0;
      CHECK_OK(mpk_pool_apply(p, add_task, a, sizeof a, &res, sizeof res));
      CHECK_EQ(res, r + 1);
    }
  }
  CHECK_EQ(atomic_load(cnt), total);
  mpk_shm_free((void *)cnt);
  done(p);
}

/* Calls from several threads of the parent at once. */
typedef struct {
  mpk_pool_t *p;
  int t;
  int ok;
} thr_arg;

static void *caller(void *arg) {
  thr_arg *a = arg;
  a->ok = 1;
  for (int r = 0; r < 200 && a->ok; r++) {
    long in[50], out[50];
    for (int i = 0; i < 50; i++)
      in[i] = a->t * 1000 + i + r;
    if (mpk_pool_map(a->p, square, in, sizeof(long), out, sizeof(long), 50,
                     NULL, 0, AUTO0) != MPK_OK)
      a->ok = 0;
    for (int i = 0; i < 50; i++)
      if (out[i] != in[i] * in[i])
        a->ok = 0;
  }
  return NULL;
}

static void test_concurrent_callers(void) {
  mpk_pool_t *p = mk(2);
  pthread_t t[4];
  thr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thr_arg){p, i, 0};
    CHECK(pthread_create(&t[i], NULL, caller, &a[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    CHECK(a[i].ok);
  }
  done(p);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_seed_pool5_map_double);
  CHECK_RUN(test_seed_square_range100);
  CHECK_RUN(test_seed_square_pids);
  CHECK_RUN(test_seed_work_log);
  CHECK_RUN(test_for_schedules);
  CHECK_RUN(test_map_schedules);
  CHECK_RUN(test_map_zero_copy);
  CHECK_RUN(test_map_large);
  CHECK_RUN(test_ctx_copied);
  CHECK_RUN(test_apply);
  CHECK_RUN(test_worker_identity);
#if !TEST_THREADS
  CHECK_RUN(test_worker_names);
#endif
  CHECK_RUN(test_binding);
  CHECK_RUN(test_oversubscribed);
  CHECK_RUN(test_info);
  CHECK_RUN(test_default_pool);
  CHECK_RUN(test_pid_published);
  CHECK_RUN(test_many_calls);
  CHECK_RUN(test_concurrent_callers);
  return check_done();
}
