/* process.threads: one process object used from several threads at once:
 * concurrent start (exactly one wins), concurrent joiners with a timeout and
 * without, is_alive / exitcode polling while others join. */
#include <pthread.h>
#include <signal.h>

#include "check.h"
#include "process-util.h"
#include "mpk/process.h"

enum { NTHREADS = 4 };

typedef struct {
  mpk_process_t *p;
  pthread_barrier_t *go;
  double timeout;
  int rc;
} job;

static void *do_start(void *arg) {
  job *j = arg;
  pthread_barrier_wait(j->go);
  j->rc = mpk_process_start(j->p);
  return NULL;
}

static void *do_join(void *arg) {
  job *j = arg;
  pthread_barrier_wait(j->go);
  j->rc = mpk_process_join(j->p, j->timeout);
  return NULL;
}

static void test_concurrent_start(void) {
  for (int round = 0; round < 5; round++) {
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, NULL));
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NTHREADS);
    pthread_t t[NTHREADS];
    job j[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
      j[i] = (job){p, &go, 0, 1};
      CHECK(pthread_create(&t[i], NULL, do_start, &j[i]) == 0);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < NTHREADS; i++) {
      pthread_join(t[i], NULL);
      ok += j[i].rc == MPK_OK;
      busy += j[i].rc == MPK_ESTATE;
    }
    CHECK_EQ(ok, 1);
    CHECK_EQ(busy, NTHREADS - 1);
    CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
    pthread_barrier_destroy(&go);
    mpk_process_free(p);
  }
}

static void test_concurrent_joiners(void) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p));
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, NTHREADS + 1);
  pthread_t t[NTHREADS];
  job j[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    /* half wait forever, half with a timeout far beyond the kill */
    j[i] = (job){p, &go, i % 2 ? MPK_FOREVER : 30.0, 1};
    CHECK(pthread_create(&t[i], NULL, do_join, &j[i]) == 0);
  }
  pthread_barrier_wait(&go);
  /* Poll from this thread while they wait; then kill. */
  int code;
  CHECK_EQ(mpk_process_is_alive(p), 1);
  CHECK_RC(mpk_process_exitcode(p, &code), MPK_ESTATE);
  CHECK_RC(mpk_process_join(p, 0.05), MPK_ETIMEDOUT);
  CHECK_OK(mpk_process_kill(p));
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(t[i], NULL);
    CHECK_RC(j[i].rc, MPK_OK);
  }
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -9);
  CHECK_EQ(mpk_process_is_alive(p), 0);
  pthread_barrier_destroy(&go);
  mpk_process_free(p);
}

/* Joiners with short timeouts race a reaping is_alive loop. */
static void *poll_alive(void *arg) {
  mpk_process_t *p = arg;
  while (mpk_process_is_alive(p) == 1) {
  }
  return NULL;
}

static void test_join_races_is_alive(void) {
  for (int round = 0; round < 10; round++) {
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, NULL));
    CHECK_OK(mpk_process_start(p));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, poll_alive, p) == 0);
    CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
    pthread_join(t, NULL);
    int code;
    CHECK_OK(mpk_process_exitcode(p, &code));
    CHECK_EQ(code, 0);
    mpk_process_free(p);
  }
}

/* Documented caveat: PR_SET_PDEATHSIG follows the THREAD that forked. A
   child started from a thread that then ends is SIGKILLed. The thread waits
   until the child runs (so the signal is armed) before it ends. */
static int signal_then_pause(void *arg) {
  int fd = *(int *)arg;
  CHECK_EQ(write(fd, "r", 1), 1);
  for (;;)
    pause();
  return 0;
}

typedef struct {
  mpk_process_t *p;
  int ready; /* read end */
} starter_arg;

static void *start_wait_return(void *arg) {
  starter_arg *a = arg;
  CHECK_OK(mpk_process_start(a->p));
  char c;
  CHECK_EQ(read(a->ready, &c, 1), 1);
  return NULL;
}

static void test_pdeathsig_follows_thread(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  mpk_process_t *p;
  CHECK_OK(
      mpk_process_new(&p, signal_then_pause, &fds[1], sizeof fds[1], NULL));
  starter_arg a = {p, fds[0]};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, start_wait_return, &a) == 0);
  pthread_join(t, NULL);
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S)); /* no kill from us */
  int code;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -SIGKILL);
  mpk_process_free(p);
  close(fds[0]);
  close(fds[1]);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_concurrent_start);
  CHECK_RUN(test_concurrent_joiners);
  CHECK_RUN(test_join_races_is_alive);
  CHECK_RUN(test_pdeathsig_follows_thread);
  return check_done();
}
