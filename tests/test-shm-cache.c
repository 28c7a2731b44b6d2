/* shm.cache: the per-thread caches of freed small blocks. A block freed
   and allocated again by one thread comes straight back (LIFO, no shared
   word touched); the cache goes back to the shared lists when the thread
   exits, when the process calls exit(), and when an mpk child process
   returns; a forked child starts with an empty cache; a cache that is full
   spills to the shared list, where other processes find the blocks. Each
   test uses its own size class so that caches of earlier tests do not
   interfere, and observes the shared list through a forked child, whose
   cache is empty: its allocation pops the shared list's top. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mpk/process.h"
#include "mpk/shm.h"

typedef struct {
  size_t size;
  void *got;
} probe;

/* In a forked child: what does an allocation of size get? */
static int take_one(void *arg) {
  probe *pr = arg;
  pr->got = mpk_shm_alloc(pr->size);
  return pr->got != NULL ? 0 : 1;
}

static void *shared_top(probe *pr, size_t size) {
  pr->size = size;
  pr->got = NULL;
  check_wait_ok(check_fork(take_one, pr), 10);
  return pr->got;
}

static void test_same_thread_lifo(void) {
  void *a = mpk_shm_alloc(100), *b = mpk_shm_alloc(100);
  CHECK(a != NULL && b != NULL);
  mpk_shm_free(a);
  mpk_shm_free(b);
  CHECK(mpk_shm_alloc(100) == b);
  CHECK(mpk_shm_alloc(100) == a);
  mpk_shm_free(a);
  mpk_shm_free(b);
}

static void test_forked_child_starts_empty(void) {
  probe *pr = mpk_shm_calloc(1, sizeof *pr);
  CHECK(pr != NULL);
  void *q = mpk_shm_alloc(200);
  CHECK(q != NULL);
  mpk_shm_free(q); /* in our cache */
  void *got = shared_top(pr, 200);
  CHECK(got != NULL && got != q);
  CHECK(mpk_shm_alloc(200) == q); /* still ours */
  mpk_shm_free(got);
  mpk_shm_free(q);
  mpk_shm_free(pr);
}

static void *thread_free(void *arg) {
  mpk_shm_free(arg); /* into this thread's cache, flushed at its exit */
  return NULL;
}

static void test_thread_exit_flushes(void) {
  probe *pr = mpk_shm_calloc(1, sizeof *pr);
  CHECK(pr != NULL);
  void *q = mpk_shm_alloc(300);
  CHECK(q != NULL);
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, thread_free, q), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  void *got = shared_top(pr, 300);
  CHECK(got == q); /* pushed last: the top of the shared list */
  mpk_shm_free(got);
  mpk_shm_free(pr);
}

static probe *g_pr; /* shared: set before the children are made */

static int child_frees_then_returns(void *arg) {
  (void)arg;
  void *q = mpk_shm_alloc(400);
  if (q == NULL)
    return 1;
  g_pr->got = q;
  mpk_shm_free(q); /* cached; the child's exit must give it back */
  return 0;
}

static void test_process_exit_flushes(void) {
  g_pr = mpk_shm_calloc(1, sizeof *g_pr);
  CHECK(g_pr != NULL);
  mpk_process_t *p = NULL;
  CHECK_OK(mpk_process_new(&p, child_frees_then_returns, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  int code = -1;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(p);
  void *q = g_pr->got;
  probe *pr = mpk_shm_calloc(1, sizeof *pr);
  CHECK(pr != NULL);
  CHECK(shared_top(pr, 400) == q);
  mpk_shm_free(pr->got);
  mpk_shm_free(pr);
  mpk_shm_free(g_pr);
}

static int exit_after_free(void *arg) {
  probe *pr = arg;
  void *q = mpk_shm_alloc(500);
  if (q == NULL)
    return 1;
  pr->got = q;
  mpk_shm_free(q);
  exit(0); /* atexit gives the cache back */
}

static void test_exit_flushes(void) {
  probe *pr = mpk_shm_calloc(1, sizeof *pr);
  CHECK(pr != NULL);
  check_wait_ok(check_fork(exit_after_free, pr), 10);
  void *q = pr->got;
  CHECK(shared_top(pr, 500) == q);
  mpk_shm_free(pr->got);
  mpk_shm_free(pr);
}

static void test_full_cache_spills(void) {
  /* 64-byte class: 16 blocks cached at most; free 40, the others spill */
  enum { N = 40 };
  void *b[N];
  for (int i = 0; i < N; i++)
    CHECK((b[i] = mpk_shm_alloc(64)) != NULL);
  for (int i = 0; i < N; i++)
    mpk_shm_free(b[i]);
  probe *pr = mpk_shm_calloc(1, sizeof *pr);
  CHECK(pr != NULL);
  void *got = shared_top(pr, 64);
  int found = 0;
  for (int i = 0; i < N; i++)
    found += got == b[i];
  CHECK_EQ(found, 1); /* another process got one of the spilled blocks */
  mpk_shm_free(got);
  mpk_shm_free(pr);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_same_thread_lifo);
  CHECK_RUN(test_forked_child_starts_empty);
  CHECK_RUN(test_thread_exit_flushes);
  CHECK_RUN(test_process_exit_flushes);
  CHECK_RUN(test_exit_flushes);
  CHECK_RUN(test_full_cache_spills);
  return check_done();
}
