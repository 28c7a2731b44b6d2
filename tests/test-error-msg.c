/* error.msg: the contract of mpk_errmsg (mpk/error.h): never NULL, set by
   every failed call, unchanged by successful ones, a fixed buffer that cuts
   long text safely, and a forked child that starts with its parent's
   thread's message. (Per thread: error.threads.) */
#include "check.h"
#include "internal/error.h"
#include "mpk/dict.h"
#include "mpk/pipe.h"
#include "mpk/pool.h"
#include "mpk/process.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "mpk/sync.h"
#include "mpk/topo.h"

static void test_never_null(void) {
  /* a code with no more to say: its mpk_strerror text */
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 0, 0));
  char buf[8];
  size_t len;
  CHECK_RC(mpk_queue_get_nowait(q, buf, sizeof buf, &len), MPK_EEMPTY);
  CHECK(mpk_errmsg() != NULL);
  CHECK_STR(mpk_errmsg(), mpk_strerror(MPK_EEMPTY));
  mpk_queue_free(q);
  /* a detail */
  CHECK_RC(mpk_queue_new(NULL, 0, 0), MPK_EINVAL);
  CHECK(mpk_errmsg() != NULL && *mpk_errmsg() != '\0');
}

/* The headline examples of issue 9. */
static void test_issue_examples(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 2000;
  mpk_pool_t *p = NULL;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  CHECK_STR(mpk_errmsg(), "workers 2000 > MPK_POOL_MAX_WORKERS (1024)");
  char buf[64];
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, "7-3", 0, buf, sizeof buf),
           MPK_EINVAL);
  CHECK_STR(mpk_errmsg(), "cpuset '7-3': range end before start (7-3)");
}

/* A successful call leaves the last failure's message as it was, also
   calls that absorb a failure inside (a plan retried with a bigger buffer,
   a cpuset check, a refilled iterator). */
static int sq(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in * *(const long *)in;
  return 0;
}

static int child_zero(void *arg) {
  (void)arg;
  return 0;
}

static void test_success_leaves_it(void) {
  mpk_queue_t *q;
  CHECK_RC(mpk_queue_new(&q, (size_t)1 << 40, 0), MPK_EINVAL);
  char want[MPK_ERRMSG_MAX];
  snprintf(want, sizeof want, "%s", mpk_errmsg());
  CHECK(strstr(want, "MPK_QUEUE_MAX_CAPACITY") != NULL);

  CHECK_OK(mpk_queue_new(&q, 0, 0));
  CHECK_OK(mpk_queue_put(q, "hi", 2, MPK_FOREVER));
  char buf[8];
  size_t len;
  CHECK_OK(mpk_queue_get(q, buf, sizeof buf, &len, MPK_FOREVER));
  mpk_queue_free(q);
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  CHECK_OK(mpk_dict_set(d, "k", "v", 1));
  CHECK_OK(mpk_dict_get(d, "k", buf, sizeof buf, &len));
  CHECK_EQ(mpk_dict_contains(d, "absent"), 0); /* an answer, no failure */
  mpk_dict_free(d);
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  CHECK_OK(mpk_lock_acquire(l, 1.0));
  CHECK_OK(mpk_lock_release(l));
  mpk_lock_free(l);
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, 1));
  CHECK_OK(mpk_conn_send(a, "x", 1));
  CHECK_OK(mpk_conn_recv(b, buf, sizeof buf, &len, CHECK_HANG_S));
  CHECK_EQ(mpk_conn_poll(b, 0), 0); /* nothing: an answer, no failure */
  mpk_conn_free(a);
  mpk_conn_free(b);
  char plan[64];
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, "0", 0, plan, sizeof plan));
  CHECK_STR(mpk_errmsg(), want);

  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 2;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  long in[64], out[64];
  for (int i = 0; i < 64; i++)
    in[i] = i;
  mpk_sched s = {MPK_SCHED_DYNAMIC, 4};
  CHECK_OK(
      mpk_pool_map(p, sq, in, sizeof(long), out, sizeof(long), 64, NULL, 0, s));
  mpk_iter_t *it;
  /* chunks of 1: more than the window, so iter_next refills as it goes */
  CHECK_OK(mpk_pool_imap(p, sq, in, sizeof(long), sizeof(long), 64, NULL, 0, 1,
                         0, &it));
  size_t idx;
  long v;
  int got = 0;
  while (mpk_iter_next(it, &idx, &v, MPK_FOREVER) == MPK_OK)
    got++;
  CHECK_EQ(got, 64); /* the last call answered MPK_EEOF */
  mpk_iter_free(it);
  mpk_async_t *as;
  CHECK_OK(mpk_pool_map_async(p, sq, in, sizeof(long), out, sizeof(long), 64,
                              NULL, 0, s, NULL, NULL, &as));
  CHECK_OK(mpk_async_wait(as, MPK_FOREVER));
  mpk_async_free(as);
  size_t li;
  CHECK_OK(mpk_pool_last_error(p, &li, NULL, NULL));
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_join(p));
  mpk_pool_free(p);
  /* the EEOF answer above set it: fail again, then succeed */
  CHECK_RC(mpk_queue_new(&q, (size_t)1 << 40, 0), MPK_EINVAL);
  char allowed[256]; /* a cpuset that is checked before the fork */
  CHECK_OK(mpk_topo_allowed(allowed, sizeof allowed));
  mpk_process_opts po = {.cpuset = allowed};
  mpk_process_t *pr;
  CHECK_OK(mpk_process_new(&pr, child_zero, NULL, 0, &po));
  CHECK_OK(mpk_process_start(pr));
  CHECK_OK(mpk_process_join(pr, MPK_FOREVER));
  mpk_process_free(pr);
  CHECK_STR(mpk_errmsg(), want);
}

/* A 10 KB cpuset: quoted cut to 40 bytes, the reason kept; a formatted
   detail longer than the buffer: cut at MPK_ERRMSG_MAX - 1 with "...". */
static void test_truncation(void) {
  size_t n = 10 * 1024;
  char *big = malloc(n + 1);
  CHECK(big != NULL);
  for (size_t i = 0; i + 4 < n; i += 2)
    memcpy(big + i, "0,", 2);
  memcpy(big + n - 4 - (n % 2), "7-3", 4); /* ...,0,7-3 */
  char buf[64];
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_NONE, big, 0, buf, sizeof buf),
           MPK_EINVAL);
  const char *m = mpk_errmsg();
  CHECK(strlen(m) < MPK_ERRMSG_MAX);
  CHECK_ERRMSG("cpuset '0,0,0,0,", "...': range end before start (7-3)");
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  o.cpuset = big;
  mpk_pool_t *p;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  CHECK_ERRMSG("range end before start (7-3)");
  /* the setter itself, with a detail far over the buffer */
  memset(big, 'x', n);
  big[n] = '\0';
  CHECK_RC(mpk__errf(MPK_EIO, "%s", big), MPK_EIO);
  m = mpk_errmsg();
  CHECK_EQ(strlen(m), MPK_ERRMSG_MAX - 1);
  CHECK(strcmp(m + MPK_ERRMSG_MAX - 4, "...") == 0);
  CHECK(strspn(m, "x") == MPK_ERRMSG_MAX - 4);
  /* a detail that quotes the current message (formatted aside) */
  CHECK_RC(mpk__errf(MPK_EINVAL, "short"), MPK_EINVAL);
  CHECK_RC(mpk__errf(MPK_EIO, "again: %s", mpk_errmsg()), MPK_EIO);
  CHECK_STR(mpk_errmsg(), "again: short");
  free(big);
}

/* The child of fork() starts with the forking thread's message. */
static int child_sees(void *arg) {
  return strcmp(mpk_errmsg(), (const char *)arg) == 0 ? 0 : 1;
}

static void test_fork_inherits(void) {
  CHECK_RC(mpk_pool_worker_cpuset(NULL, 0, NULL, 0), MPK_EINVAL);
  char want[MPK_ERRMSG_MAX];
  snprintf(want, sizeof want, "%s", mpk_errmsg());
  CHECK(want[0] != '\0');
  check_wait_ok(check_fork(child_sees, want), 30);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_never_null);
  CHECK_RUN(test_issue_examples);
  CHECK_RUN(test_success_leaves_it);
  CHECK_RUN(test_truncation);
  CHECK_RUN(test_fork_inherits);
  return check_done();
}
