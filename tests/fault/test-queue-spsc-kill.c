/* queue.spsc-kill: 100 rounds of SIGKILL at random instants of the one
   producer or the one consumer of an SPSC queue (MPK_QUEUE_SPSC) in the
   middle of traffic (mid-put, mid-get, asleep on a full or empty ring),
   with a replacement started each time, which must take the dead owner's
   side over. Checked: nothing hangs (after every kill the traffic goes on);
   every message whose put returned MPK_OK is received exactly once, or is
   still queued at the end, or was taken by a consumer killed before it
   could log it (then it sits, whole, in that consumer's receive buffer in
   the shared heap: at most one such message per killed consumer); no
   message is duplicated, torn, invented or out of order; and the queue
   still works (the test process takes both sides over at the end). */
#include "process-util.h"
#include "queue-kill-harness.h"

static void test_kill_rounds(void) {
  kill_rounds(MPK_QUEUE_SPSC);
}

static void test_killed_producer_then_close(void) {
  killed_producer_then_close(MPK_QUEUE_SPSC);
}

static int put_then_die_full(void *arg) {
  (void)arg;
  CHECK_OK(mpk_queue_put(S->q, "12345678", 8, 0));
  raise(SIGKILL);
  return 0;
}

static int get_one_exit(void *arg) {
  (void)arg;
  char b[16];
  size_t len;
  return mpk_queue_get(S->q, b, sizeof b, &len, CHECK_HANG_S) == MPK_OK ? 0 : 1;
}

/* Takes the consumer side over from a killed sleeper: the queue is empty,
   then it is woken by the parent's put (no missed wake-up). */
static int get_after_takeover(void *arg) {
  (void)arg;
  char b[16];
  size_t len;
  if (mpk_queue_get_nowait(S->q, b, sizeof b, &len) != MPK_EEMPTY)
    return 1;
  if (mpk_queue_get(S->q, b, sizeof b, &len, 0.05) != MPK_ETIMEDOUT)
    return 2;
  atomic_store(&S->ready, 1); /* the parent puts "wake" only now */
  if (mpk_queue_get(S->q, b, sizeof b, &len, CHECK_HANG_S) != MPK_OK ||
      len != 4 || memcmp(b, "wake", 4) != 0)
    return 3;
  return 0;
}

/* The producer owner asleep on a full ring, and the consumer owner asleep
   on an empty one, are SIGKILLed there: the next caller takes the side
   over at once, repairs the dead sleeper's flag, and traffic goes on. */
static void test_kill_sleeping_owners(void) {
  S = mpk_shm_calloc(1, sizeof *S);
  CHECK(S != NULL);
  CHECK_OK(mpk_queue_new(&S->q, 16, MPK_QUEUE_SPSC));
  pid_t p0 = check_fork(put_then_die_full, NULL); /* full; owner dead */
  CHECK(WIFSIGNALED(check_wait(p0, CHECK_HANG_S)));
  pid_t p = check_fork(put_forever, NULL); /* takes over, sleeps */
  pu_await_sleeping(p);
  kill(p, SIGKILL);
  CHECK(WIFSIGNALED(check_wait(p, CHECK_HANG_S)));
  double t0 = check_now();
  CHECK_RC(mpk_queue_put(S->q, "x", 1, 0.05), MPK_ETIMEDOUT);  /* still full */
  check_wait_ok(check_fork(get_one_exit, NULL), CHECK_HANG_S); /* "12345678" */
  CHECK_OK(mpk_queue_put(S->q, "after", 5, 0));
  check_wait_ok(check_fork(get_one_exit, NULL),
                CHECK_HANG_S); /* "after": empty */
  CHECK(check_now() - t0 < CHECK_HANG_S);

  pid_t g = check_fork(get_forever, NULL); /* takes over, sleeps */
  pu_await_sleeping(g);
  kill(g, SIGKILL);
  CHECK(WIFSIGNALED(check_wait(g, CHECK_HANG_S)));
  uint32_t missed = mpk__queue_missed_wakes(S->q);
  atomic_store(&S->ready, 0);
  mpk__queue_set_recheck(false); /* in g2: a lost wake-up hangs its get */
  pid_t g2 = check_fork(get_after_takeover, NULL);
  mpk__queue_set_recheck(true);
  while (!atomic_load(&S->ready)) { /* its timed get is over */
    CHECK(check_now() - t0 < 2 * CHECK_HANG_S);
    check_sleep(0.0005);
  }
  pu_await_sleeping(g2); /* asleep in its untimed get (or weaker) */
  CHECK_OK(mpk_queue_put(S->q, "wake", 4, 0));
  check_wait_ok(g2, CHECK_HANG_S);
  CHECK_EQ(mpk__queue_missed_wakes(S->q), missed);
  CHECK_EQ(mpk_queue_qsize(S->q), 0);
  mpk_queue_free(S->q);
  mpk_shm_free(S);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_kill_rounds);
  CHECK_RUN(test_killed_producer_then_close);
  CHECK_RUN(test_kill_sleeping_owners);
  return check_done();
}
