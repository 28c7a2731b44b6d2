/* process.forkrace: children forked while other threads of the parent are
 * inside calls on a handle (and hold its lock). The child's copy of the
 * handle carries a copy of that lock, held by a thread that does not exist
 * in the child: every call on the copy must return at once (MPK_ECHILD;
 * free releases memory only) instead of blocking on it. */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "process-util.h"
#include "mpk/process.h"

enum { NHAMMER = 2, ROUNDS = 150 };

static mpk_process_t *running; /* a started child that runs until killed */
static mpk_process_t *unstarted;
static atomic_int stop;
static atomic_int bad; /* a hammer saw a wrong result */

/* Keep the handles' locks busy: at almost every instant one of these
   threads holds one of them. */
static void *hammer(void *arg) {
  (void)arg;
  int code;
  while (!atomic_load(&stop)) {
    if (mpk_process_is_alive(running) != 1 ||
        mpk_process_exitcode(running, &code) != MPK_ESTATE ||
        mpk_process_join(running, 0) != MPK_ETIMEDOUT ||
        mpk_process_is_alive(unstarted) != 0 ||
        mpk_process_exitcode(unstarted, &code) != MPK_ESTATE)
      atomic_store(&bad, 1);
  }
  return NULL;
}

/* In the child: the inherited copies belong to the parent. */
static int probe(void *arg) {
  (void)arg;
  mpk_process_t *h[2] = {running, unstarted};
  for (int i = 0; i < 2; i++) {
    int code = 77;
    CHECK_RC(mpk_process_is_alive(h[i]), MPK_ECHILD);
    CHECK_RC(mpk_process_join(h[i], 0), MPK_ECHILD);
    CHECK_RC(mpk_process_join(h[i], MPK_FOREVER), MPK_ECHILD);
    CHECK_RC(mpk_process_exitcode(h[i], &code), MPK_ECHILD);
    CHECK_EQ(code, 77);
    CHECK_RC(mpk_process_terminate(h[i]), MPK_ECHILD);
    CHECK_RC(mpk_process_kill(h[i]), MPK_ECHILD);
    CHECK_RC(mpk_process_start(h[i]), MPK_ECHILD);
    mpk_process_free(h[i]); /* the copy's memory only */
  }
  return 0;
}

static void test_fork_while_locked(void) {
  CHECK_OK(mpk_process_new(&running, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(running));
  CHECK_OK(mpk_process_new(&unstarted, pu_ret_zero, NULL, 0, NULL));
  pthread_t t[NHAMMER];
  for (int i = 0; i < NHAMMER; i++)
    CHECK(pthread_create(&t[i], NULL, hammer, NULL) == 0);
  for (int round = 0; round < ROUNDS; round++) {
    mpk_process_t *c;
    CHECK_OK(mpk_process_new(&c, probe, NULL, 0, NULL));
    CHECK_OK(mpk_process_start(c));
    int rc = mpk_process_join(c, CHECK_HANG_S);
    if (rc == MPK_ETIMEDOUT) { /* it hangs on a copied lock */
      mpk_process_kill(c);
      mpk_process_join(c, MPK_FOREVER);
    }
    CHECK_MSG(rc == MPK_OK, "round %d: the child hung (join: %s)", round,
              mpk_err_name(rc));
    int code;
    CHECK_OK(mpk_process_exitcode(c, &code));
    CHECK_MSG(code == 0, "round %d: the child's checks failed", round);
    mpk_process_free(c);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < NHAMMER; i++)
    pthread_join(t[i], NULL);
  CHECK_EQ(atomic_load(&bad), 0);
  /* the parent's handles are untouched by the children */
  CHECK_EQ(mpk_process_is_alive(running), 1);
  CHECK_OK(mpk_process_kill(running));
  CHECK_OK(mpk_process_join(running, CHECK_HANG_S));
  int code;
  CHECK_OK(mpk_process_exitcode(running, &code));
  CHECK_EQ(code, -SIGKILL);
  CHECK_OK(mpk_process_start(unstarted));
  CHECK_OK(mpk_process_join(unstarted, CHECK_HANG_S));
  CHECK_OK(mpk_process_exitcode(unstarted, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(running);
  mpk_process_free(unstarted);
}

/* A raw fork() (not mpk's) gets the same treatment. */
static int raw_probe(void *arg) {
  return probe(arg);
}

static void test_raw_fork_copy(void) {
  CHECK_OK(mpk_process_new(&running, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(running));
  CHECK_OK(mpk_process_new(&unstarted, pu_ret_zero, NULL, 0, NULL));
  atomic_store(&stop, 0);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, hammer, NULL) == 0);
  for (int round = 0; round < 20; round++)
    check_wait_ok(check_fork(raw_probe, NULL), 10);
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  CHECK_EQ(atomic_load(&bad), 0);
  CHECK_OK(mpk_process_kill(running));
  CHECK_OK(mpk_process_join(running, CHECK_HANG_S));
  mpk_process_free(running);
  mpk_process_free(unstarted);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_fork_while_locked);
  CHECK_RUN(test_raw_fork_copy);
  return check_done();
}
