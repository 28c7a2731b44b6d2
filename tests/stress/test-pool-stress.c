/* pool.stress: several threads submit sync and async calls of every kind
   while another thread SIGKILLs random workers; every call completes (OK or
   MPK_EWORKER), results of successful calls are right, every callback runs
   exactly once, nothing hangs; then pools are created and freed in a loop
   with both backends and both start methods. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "pool-util.h"

enum { THREADS = 4, ROUNDS = 150, N = 64 };

static _Atomic int g_stop;
static _Atomic long g_cb;
static _Atomic long g_failed; /* calls failed with MPK_EWORKER, all threads */

static int square(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  if (x % 8 == 0)
    check_sleep(0.0002); /* calls last long enough for kills to hit them */
  *(long *)out = x * x;
  return 0;
}

static double sum_range(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  double s = 0;
  for (size_t i = lo; i < hi; i++)
    s += (double)i;
  return s;
}

static int add_task(const void *arg, void *res, void *ctx) {
  (void)ctx;
  const long *a = arg;
  *(long *)res = a[0] + a[1];
  return 0;
}

static void count_cb(mpk_async_t *a, int status, void *user) {
  (void)a;
  (void)status;
  (void)user;
  atomic_fetch_add(&g_cb, 1);
}

typedef struct {
  mpk_pool_t *p;
  int t;
  int bad;     /* wrong results or unexpected codes */
  long failed; /* EWORKER */
  long asyncs;
} worker_arg;

static int ok_or_dead(int rc, worker_arg *w) {
  if (rc == MPK_EWORKER) {
    w->failed++;
    atomic_fetch_add(&g_failed, 1);
    return 0;
  }
  if (rc != MPK_OK)
    w->bad++;
  return rc == MPK_OK;
}

/* ROUNDS rounds, then more until some kill has hit a call in flight (in
   any thread): the killer's timing decides when, not whether. */
static void *submitter(void *arg) {
  worker_arg *w = arg;
  double t_end = 0;
  for (int r = 0; r < ROUNDS || atomic_load(&g_failed) == 0; r++) {
    if (r == ROUNDS)
      t_end = check_now();
    CHECK_MSG(r < ROUNDS || check_now() - t_end < CHECK_HANG_S,
              "no kill hit a call in flight");
    long in[N], out[N];
    for (int i = 0; i < N; i++)
      in[i] = w->t * 10000 + r * 100 + i;
    mpk_sched s = {(mpk_sched_kind)(r % 5), (size_t)(r % 3)};
    if (ok_or_dead(mpk_pool_map(w->p, square, in, sizeof(long), out,
                                sizeof(long), N, NULL, 0, s),
                   w))
      for (int i = 0; i < N; i++)
        if (out[i] != in[i] * in[i])
          w->bad++;
    double d = 0;
    if (ok_or_dead(mpk_pool_reduce_double(w->p, 1000, sum_range, NULL, 0,
                                          MPK_SUM, s, 0, &d),
                   w) &&
        d != 499500.0)
      w->bad++;
    long a[2] = {r, w->t}, res = 0;
    if (ok_or_dead(
            mpk_pool_apply(w->p, add_task, a, sizeof a, &res, sizeof res), w) &&
        res != r + w->t)
      w->bad++;
    long ares = 0;
    mpk_async_t *h;
    if (mpk_pool_apply_async(w->p, add_task, a, sizeof a, &ares, sizeof ares,
                             count_cb, NULL, &h) != MPK_OK) {
      w->bad++;
      continue;
    }
    w->asyncs++;
    if (ok_or_dead(mpk_async_wait(h, CHECK_HANG_S), w) && ares != r + w->t)
      w->bad++;
    mpk_async_free(h);
  }
  return NULL;
}

static pid_t g_killed[3]; /* the killer's last victim of each worker id */

static void *killer(void *arg) {
  mpk_pool_t *p = arg;
  unsigned seed = 12345;
  while (!atomic_load(&g_stop)) {
    check_sleep(0.02 + (rand_r(&seed) % 30) * 1e-3);
    int i = (int)(rand_r(&seed) % 3);
    pid_t pid = mpk_pool_worker_pid(p, i);
    if (pid > 0 && kill(pid, SIGKILL) == 0)
      g_killed[i] = pid;
  }
  return NULL;
}

static void test_submit_while_killing(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 3;
#if defined(__SANITIZE_ADDRESS__)
  /* Replacements are forked while the submitter threads run. GCC 12's ASan
     allocator is not fork-safe (a child can wait forever in its first
     malloc for a lock another thread held at the fork), so under ASan
     they come from the single-threaded fork server (see mpk/pool.h). */
  o.start = MPK_START_FORKSERVER;
#endif
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  atomic_store(&g_cb, 0);
  atomic_store(&g_stop, 0);
  atomic_store(&g_failed, 0);
  pthread_t k, t[THREADS];
  worker_arg a[THREADS];
  CHECK(pthread_create(&k, NULL, killer, p) == 0);
  for (int i = 0; i < THREADS; i++) {
    a[i] = (worker_arg){p, i, 0, 0, 0};
    CHECK(pthread_create(&t[i], NULL, submitter, &a[i]) == 0);
  }
  long asyncs = 0, failed = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    CHECK_EQ(a[i].bad, 0);
    asyncs += a[i].asyncs;
    failed += a[i].failed;
  }
  atomic_store(&g_stop, 1);
  pthread_join(k, NULL);
  /* the last victims may still be dying: a call they joined would rightly
     fail, so the final map waits until the pool has seen every death (an
     earlier victim of an id was replaced before that id's next kill) */
  for (int i = 0; i < 3; i++)
    if (g_killed[i] > 0)
      pool_await_gone(p, i, g_killed[i]);
  CHECK_EQ(atomic_load(&g_cb), asyncs); /* every callback exactly once */
  printf("# %ld calls failed with MPK_EWORKER\n", failed);
  CHECK(failed > 0); /* the kills did hit calls in flight (waited for) */
  long in[N], out[N];
  for (int i = 0; i < N; i++)
    in[i] = i;
  mpk_sched s = {MPK_SCHED_AUTO, 0};
  CHECK_OK(mpk_pool_map(p, square, in, sizeof(long), out, sizeof(long), N, NULL,
                        0, s));
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_join(p));
  mpk_pool_free(p);
}

static void test_create_free_loop(void) {
  for (int i = 0; i < 40; i++) {
    mpk_pool_opts o;
    mpk_pool_opts_init(&o);
    o.workers = 1 + i % 3;
    o.backend = i % 2 ? MPK_THREAD : MPK_PROCESS;
    o.start = i % 4 == 2 ? MPK_START_FORKSERVER : MPK_START_FORK;
    mpk_pool_t *p;
    CHECK_OK(mpk_pool_create(&p, &o));
    long in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
    CHECK_OK(mpk_pool_map(p, square, in, sizeof(long), out, sizeof(long), 8,
                          NULL, 0, s));
    CHECK_EQ(out[7], 64);
    if (i % 3 == 0) {
      CHECK_OK(mpk_pool_close(p));
      CHECK_OK(mpk_pool_join(p));
    }
    mpk_pool_free(p);
  }
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_submit_while_killing);
  CHECK_RUN(test_create_free_loop);
  return check_done();
}
