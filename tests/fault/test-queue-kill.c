/* queue.kill: 100 rounds of SIGKILL at random instants of producers and
   consumers in the middle of traffic (mid-put, mid-get, asleep on a full or
   empty ring, holding a side lock), with replacements started each time.
   Checked: nothing hangs (after every kill the survivors make progress);
   every message whose put returned MPK_OK is received exactly once, or is
   still queued at the end, or was taken by a consumer killed before it
   could log it (then it sits, whole, in that consumer's receive buffer in
   the shared heap: at most one such message per killed consumer); no
   message is duplicated, torn, or invented; and the queue still works. */
#include "process-util.h"
#include "queue-kill-harness.h"

static void test_kill_rounds(void) {
  kill_rounds(0);
}

static void test_killed_producer_then_close(void) {
  killed_producer_then_close(0);
}

/* A put asleep on a full ring holds the producer lock, a get asleep on an
   empty one the consumer lock. SIGKILL them there: the lock passes to the
   next caller at once (robust mutex), which repairs the dead sleeper's
   waiter count, and traffic goes on in both directions. */
static void test_kill_sleeping_lock_holders(void) {
  S = mpk_shm_calloc(1, sizeof *S);
  CHECK(S != NULL);
  CHECK_OK(mpk_queue_new(&S->q, 16, 0));
  CHECK_OK(mpk_queue_put(S->q, "12345678", 8, 0)); /* full */
  pid_t p = check_fork(put_forever, NULL);
  pu_await_sleeping(p); /* blocked (or weaker, never wrong) */
  kill(p, SIGKILL);
  int st = check_wait(p, CHECK_HANG_S);
  CHECK(WIFSIGNALED(st));
  char b[16];
  size_t len;
  double t0 = check_now();
  CHECK_RC(mpk_queue_put(S->q, "x", 1, 0.05), MPK_ETIMEDOUT); /* still full */
  CHECK_OK(mpk_queue_get(S->q, b, sizeof b, &len, 0));
  CHECK(len == 8 && memcmp(b, "12345678", 8) == 0);
  CHECK_OK(mpk_queue_put(S->q, "after", 5, 0));
  CHECK(check_now() - t0 < CHECK_HANG_S);

  CHECK_OK(mpk_queue_get(S->q, b, sizeof b, &len, 0)); /* now empty */
  pid_t g = check_fork(get_forever, NULL);
  pu_await_sleeping(g);
  kill(g, SIGKILL);
  st = check_wait(g, CHECK_HANG_S);
  CHECK(WIFSIGNALED(st));
  t0 = check_now();
  CHECK_RC(mpk_queue_get_nowait(S->q, b, sizeof b, &len), MPK_EEMPTY);
  CHECK_RC(mpk_queue_get(S->q, b, sizeof b, &len, 0.05), MPK_ETIMEDOUT);
  CHECK_OK(mpk_queue_put(S->q, "ok", 2, 0));
  CHECK_OK(mpk_queue_get(S->q, b, sizeof b, &len, CHECK_HANG_S));
  CHECK(len == 2 && memcmp(b, "ok", 2) == 0);
  CHECK(check_now() - t0 < CHECK_HANG_S);
  /* nobody sleeps now: the dead sleepers' registrations were repaired, so
     a blocking get in a live process is woken normally (no missed wake) */
  uint32_t missed = mpk__queue_missed_wakes(S->q);
  mpk__queue_set_recheck(false); /* in g2: a lost wake-up hangs its get */
  pid_t g2 = check_fork(get_forever, NULL);
  mpk__queue_set_recheck(true);
  pu_await_sleeping(g2); /* asleep in its get (or weaker, never wrong) */
  CHECK_OK(mpk_queue_put(S->q, "wake", 4, 0));
  st = check_wait(g2, CHECK_HANG_S);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 9);
  CHECK_EQ(mpk__queue_missed_wakes(S->q), missed);
  mpk_queue_free(S->q);
  mpk_shm_free(S);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_kill_rounds);
  CHECK_RUN(test_killed_producer_then_close);
  CHECK_RUN(test_kill_sleeping_lock_holders);
  return check_done();
}
