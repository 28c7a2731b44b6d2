/* pool.recycle: max_tasks_per_worker (new pid, re-pinned, init again),
   init / init_arg (runs once in every new worker; failure fails create and
   leaves nothing running), a broken pool under an imap (each chunk
   reported once, then MPK_EEOF), max_rss_bytes (a leaking worker retires and is
   replaced), task_timeout (a hung chunk is killed with its worker: the call
   fails with MPK_ETIMEDOUT naming the chunk that ran, the worker is
   replaced; chunks within the limit are left alone). */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "pool-util.h"

typedef struct {
  _Atomic int inits;
  _Atomic int fail_from; /* init fails once inits reaches this (0: never) */
  /* the pids of the workers whose init ran, 0 for a slot not (yet)
     written: a worker killed between taking its slot and writing it (a
     pool torn down mid-start) leaves 0, never a stale pid that a new
     process may have been given since (pid_max is 32768 here) */
  _Atomic pid_t init_pids[256];
} shared;

static shared *g_sh;               /* shared heap, before any pool */
static _Thread_local int t_inited; /* set by init in the worker's thread */
static int p_inited;               /* ... and process-wide */

static int my_init(void *arg) {
  shared *s = arg;
  int k = atomic_fetch_add(&s->inits, 1);
  if (k < 256)
    atomic_store(&s->init_pids[k], getpid());
  t_inited = 1;
  p_inited = 1;
  int ff = atomic_load(&s->fail_from);
  return ff && k + 1 >= ff ? 1 : 0;
}

static void clear_init_pids(void) {
  for (int k = 0; k < 256; k++)
    atomic_store(&g_sh->init_pids[k], 0);
}

/* The worker of init slot k is gone (reaped), or never wrote its pid. */
static int init_pid_gone(int k) {
  pid_t pid = atomic_load(&g_sh->init_pids[k]);
  return pid == 0 || check_pid_gone(pid);
}

typedef struct {
  pid_t pid;
  long tid;
  int inited;
  int id;
} who;

static int who_am_i(const void *in, void *out, void *ctx) {
  (void)in;
  (void)ctx;
  who *w = out;
  w->pid = getpid();
  w->tid = (long)syscall(SYS_gettid);
  w->inited = t_inited || p_inited;
  w->id = mpk_worker_id();
  return 0;
}

static mpk_pool_t *mk(mpk_backend b, int workers, long max_tasks) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  o.backend = b;
  o.max_tasks_per_worker = max_tasks;
  o.init = my_init;
  o.init_arg = g_sh;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  return p;
}

static void test_max_tasks(void) {
  for (int b = 0; b < 2; b++) {
    mpk_backend be = b ? MPK_THREAD : MPK_PROCESS;
    clear_init_pids();
    atomic_store(&g_sh->inits, 0);
    mpk_pool_t *p = mk(be, 2, 3);
    CHECK_EQ(atomic_load(&g_sh->inits), 2);
    enum { N = 60 };
    char in[N];
    who out[N];
    mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
    CHECK_OK(
        mpk_pool_map(p, who_am_i, in, 1, out, sizeof out[0], N, NULL, 0, s));
    int distinct = 0;
    for (int i = 0; i < N; i++) {
      CHECK(out[i].inited); /* init ran in the worker that ran it */
      CHECK(out[i].id == 0 || out[i].id == 1);
      int same = 0, seen_before = 0;
      for (int k = 0; k < N; k++) {
        int eq = be == MPK_PROCESS ? out[k].pid == out[i].pid
                                   : out[k].tid == out[i].tid;
        same += eq;
        seen_before |= eq && k < i;
      }
      CHECK_MSG(same <= 3, "a worker ran %d chunks", same);
      distinct += !seen_before;
    }
    CHECK(distinct >= N / 3);
    mpk_pool_info info;
    CHECK_OK(mpk_pool_info_get(p, &info));
    CHECK(info.replaced >= N / 3 - 2);
    /* init ran once per worker ever started */
    double t0 = check_now();
    while (atomic_load(&g_sh->inits) != 2 + info.replaced) {
      CHECK(check_now() - t0 <
            CHECK_HANG_S); /* the last replacements may be starting */
      check_sleep(0.001);
      CHECK_OK(mpk_pool_info_get(p, &info));
    }
    CHECK_OK(mpk_pool_close(p));
    CHECK_OK(mpk_pool_join(p));
    mpk_pool_free(p);
    if (be == MPK_PROCESS) /* every recycled worker was reaped */
      for (int k = 0; k < atomic_load(&g_sh->inits) && k < 256; k++)
        CHECK(init_pid_gone(k));
  }
}

/* A failing init fails mpk_pool_create; nothing is left running. */
static void test_init_fails(void) {
  for (int b = 0; b < 2; b++) {
    clear_init_pids();
    atomic_store(&g_sh->inits, 0);
    atomic_store(&g_sh->fail_from, 2); /* the second worker's init fails */
    mpk_pool_opts o;
    mpk_pool_opts_init(&o);
    o.workers = 3;
    o.backend = b ? MPK_THREAD : MPK_PROCESS;
    o.init = my_init;
    o.init_arg = g_sh;
    mpk_pool_t *p = (mpk_pool_t *)0x1;
    CHECK_RC(mpk_pool_create(&p, &o), MPK_ETASK);
    CHECK(p == (mpk_pool_t *)0x1);
    atomic_store(&g_sh->fail_from, 0);
    if (!b)
      for (int k = 0; k < atomic_load(&g_sh->inits); k++)
        CHECK(init_pid_gone(k));
  }
}

/* A replacement whose init fails takes its slot out of service; when no
   worker is left, calls fail with MPK_EWORKER instead of hanging. */
static int die_task(const void *arg, void *res, void *ctx) {
  (void)arg;
  (void)res;
  (void)ctx;
  raise(SIGKILL);
  return 0;
}

static void test_broken_pool(void) {
  clear_init_pids();
  atomic_store(&g_sh->inits, 0);
  mpk_pool_t *p = mk(MPK_PROCESS, 1, 0);
  atomic_store(&g_sh->fail_from, 2); /* every replacement fails its init */
  CHECK_RC(mpk_pool_apply(p, die_task, NULL, 0, NULL, 0), MPK_EWORKER);
  double t0 = check_now();
  int rc;
  char in[1] = {0};
  who w;
  for (;;) {
    rc = mpk_pool_map(p, who_am_i, in, 1, &w, sizeof w, 1, NULL, 0,
                      (mpk_sched){MPK_SCHED_AUTO, 0});
    if (rc == MPK_EWORKER)
      break;
    CHECK_OK(rc); /* may still run before the replacement failed */
    CHECK(check_now() - t0 < CHECK_HANG_S);
  }
  CHECK_RC(mpk_pool_apply(p, die_task, NULL, 0, NULL, 0), MPK_EWORKER);
  atomic_store(&g_sh->fail_from, 0);
  mpk_pool_free(p);
}

/* imap on a pool that loses its last worker: 1 worker, 40 elements in
   chunks of 5, element 7 kills its worker and every replacement fails its
   init. Ordered: chunk 0's results; chunk 1 MPK_EWORKER at 5; chunks 2 and
   3 (submitted before or after the pool broke) MPK_EWORKER or MPK_ECLOSED
   at their first element; chunks 4-7 (submitted only after chunk 2 was
   reported, by then the pool had no worker) MPK_ECLOSED once each; then
   MPK_EEOF. The old iterator returned MPK_ECLOSED forever, without an
   index. */
static int die_at_7(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  if (x == 7)
    raise(SIGKILL);
  *(long *)out = -x;
  return 0;
}

static void test_imap_broken_pool(void) {
  enum { N = 40, CH = 5 };
  long in[N];
  for (int i = 0; i < N; i++)
    in[i] = i;
  clear_init_pids();
  atomic_store(&g_sh->inits, 0);
  mpk_pool_t *p = mk(MPK_PROCESS, 1, 0);
  atomic_store(&g_sh->fail_from, 2); /* every replacement fails its init */
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, die_at_7, in, sizeof(long), sizeof(long), N, NULL,
                         0, CH, 0, &it));
  size_t expect = 0;
  for (int calls = 0;; calls++) {
    CHECK(calls <= N);
    size_t idx = SIZE_MAX;
    long v;
    int rc = mpk_iter_next(it, &idx, &v, CHECK_HANG_S);
    if (rc == MPK_EEOF)
      break;
    CHECK_EQ(idx, expect);
    if (idx < CH) {
      CHECK_RC(rc, MPK_OK);
      CHECK_EQ(v, -(long)idx);
      expect++;
      continue;
    }
    if (idx == CH)
      CHECK_RC(rc, MPK_EWORKER);
    else if (idx < 4 * CH)
      CHECK_MSG(rc == MPK_EWORKER || rc == MPK_ECLOSED, "chunk at %zu: %s", idx,
                mpk_err_name(rc));
    else
      CHECK_RC(rc, MPK_ECLOSED);
    expect += CH;
  }
  CHECK_EQ(expect, N);
  long v;
  CHECK_RC(mpk_iter_next(it, NULL, &v, 0), MPK_EEOF);
  mpk_iter_free(it);
  atomic_store(&g_sh->fail_from, 0);
  mpk_pool_free(p);
}

/* max_rss_bytes: each chunk leaks 24 MiB; the worker retires once past the
   limit and a fresh one continues. */
static void *volatile g_sink; /* keeps the leak from being optimised out */

static int leak(const void *in, void *out, void *ctx) {
  (void)in;
  (void)ctx;
  size_t sz = 24u << 20;
  char *m = malloc(sz);
  if (m == NULL)
    return 1;
  memset(m, 1, sz);
  g_sink = m;
  *(pid_t *)out = getpid();
  return 0; /* leaked on purpose */
}

static long rss_now(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
      res = 0;
    fclose(f);
  }
  return res * sysconf(_SC_PAGESIZE);
}

static void test_max_rss(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  o.max_rss_bytes = (size_t)rss_now() + (64u << 20);
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  enum { N = 12 };
  char in[N];
  pid_t out[N];
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(p, leak, in, 1, out, sizeof out[0], N, NULL, 0, s));
  int distinct = 1, run = 1, maxrun = 1;
  for (int i = 1; i < N; i++) {
    if (out[i] != out[i - 1]) {
      distinct++;
      run = 1;
    } else if (++run > maxrun) {
      maxrun = run;
    }
  }
  CHECK_MSG(distinct >= 3, "%d workers for 12 x 24 MiB leaks", distinct);
  CHECK_MSG(maxrun <= 4, "a worker ran %d leaking chunks", maxrun);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK(info.replaced >= 2);
  mpk_pool_free(p);
}

/* task_timeout: the hung element's worker is killed, the call fails with
   MPK_ETIMEDOUT and reports the element that was running, the worker is
   replaced. Element 5 never returns; every other element returns at once,
   but a loaded machine may still deschedule a worker past the 0.3 s limit
   anywhere in a chunk, so the test does not assume which chunk is killed:
   each element records which worker entered it and whether it returned,
   and the reported index must be the killed worker's chunk. */
typedef struct {
  _Atomic long last[2]; /* the element worker w entered last, -1: none */
  _Atomic pid_t pid[2]; /* worker w's pid when it entered it */
  _Atomic int started[10], done[10];
} tt_log;

static int tt_elem(const void *in, void *out, void *ctx) {
  tt_log *l = *(tt_log *const *)ctx;
  long x = *(const long *)in;
  int w = mpk_worker_id();
  CHECK(w >= 0 && w < 2);
  atomic_store(&l->pid[w], getpid());
  atomic_store(&l->last[w], x);
  atomic_store(&l->started[x], 1);
  if (x == 5)
    for (;;)
      pause(); /* until task_timeout's SIGKILL */
  atomic_store(&l->done[x], 1);
  *(long *)out = x;
  return 0;
}

/* The worker and pid named by the failure's mpk_errmsg ("worker W (pid
   P) killed ..."). */
static void failed_worker(int *w, pid_t *pid) {
  const char *m = strstr(mpk_errmsg(), "worker ");
  int pp = 0;
  CHECK_MSG(m && sscanf(m, "worker %d (pid %d)", w, &pp) == 2,
            "no worker in \"%s\"", mpk_errmsg());
  *pid = pp;
}

/* Two workers with task_timeout t. */
static mpk_pool_t *tt_pool(double t) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 2;
  o.task_timeout = t;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  return p;
}

static void test_task_timeout(void) {
  tt_log *l = mpk_shm_calloc(1, sizeof *l);
  CHECK(l != NULL);
  l->last[0] = l->last[1] = -1;
  mpk_pool_t *p = tt_pool(0.3);
  long in[10], out[10];
  for (int i = 0; i < 10; i++)
    in[i] = i;
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  double t0 = check_now();
  CHECK_RC(mpk_pool_map(p, tt_elem, in, sizeof(long), out, sizeof(long), 10, &l,
                        sizeof l, s),
           MPK_ETIMEDOUT);
  double el = check_now() - t0;
  CHECK_MSG(el >= 0.25, "timed out after %.3f s", el);
  int w;
  pid_t pid;
  failed_worker(&w, &pid);
  size_t idx;
  int sig;
  CHECK_RC(mpk_pool_last_error(p, &idx, NULL, &sig), MPK_ETIMEDOUT);
  CHECK_EQ(sig, SIGKILL);
  CHECK(w >= 0 && w < 2 && idx < 10);
  CHECK_EQ(atomic_load(&l->pid[w]), pid);
  /* The killed worker's chunk: the element it entered last, unless that
     one had returned (killed between chunks, before or after its kernel
     call): then that one or one nobody entered. On an idle machine only
     element 5 outlives the limit. */
  long last = atomic_load(&l->last[w]);
  CHECK(last >= 0);
  if (!atomic_load(&l->done[last]))
    CHECK_EQ(idx, last);
  else
    CHECK_MSG((long)idx == last || !atomic_load(&l->started[idx]),
              "reported element %zu; worker %d last ran %ld", idx, w, last);
  /* it is replaced: the same id gets a new process */
  pool_await_gone(p, w, pid);
  pool_pid_of(p, w);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK(info.replaced >= 1);
  mpk_pool_free(p);
  mpk_shm_free(l);
}

/* Chunks shorter than task_timeout are left alone (no worker is killed).
   The limit is CHECK_HANG_S, so no correct chunk outlives it on a loaded
   machine. */
static int tt_short(const void *in, void *out, void *ctx) {
  (void)ctx;
  check_sleep(0.02);
  *(long *)out = *(const long *)in;
  return 0;
}

static void test_task_timeout_spares(void) {
  mpk_pool_t *p = tt_pool(CHECK_HANG_S);
  long in[10], out[10];
  for (int i = 0; i < 10; i++)
    in[i] = i;
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(p, tt_short, in, sizeof(long), out, sizeof(long), 10,
                        NULL, 0, s));
  for (int i = 0; i < 10; i++)
    CHECK_EQ(out[i], in[i]);
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK_EQ(info.replaced, 0);
  mpk_pool_free(p);
}

int main(void) {
  check_watchdog(120);
  g_sh = mpk_shm_calloc(1, sizeof *g_sh);
  CHECK(g_sh != NULL);
  CHECK_RUN(test_max_tasks);
  CHECK_RUN(test_init_fails);
  CHECK_RUN(test_broken_pool);
  CHECK_RUN(test_imap_broken_pool);
  CHECK_RUN(test_max_rss);
  CHECK_RUN(test_task_timeout);
  CHECK_RUN(test_task_timeout_spares);
  return check_done();
}
