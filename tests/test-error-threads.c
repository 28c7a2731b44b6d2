/* error.threads: mpk_errmsg is per thread (mpk/error.h): "" in a thread
   that has not failed, and two threads that fail at the same time (while a
   third fails too) each see their own message. Runs under TSan. */
#include <pthread.h>

#include "check.h"
#include "mpk/dict.h"
#include "mpk/pool.h"
#include "mpk/topo.h"

static void *fresh_thread(void *arg) {
  const char **out = arg;
  *out = mpk_errmsg();
  return NULL;
}

static void test_empty_before_any_failure(void) {
  const char *m = NULL;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, fresh_thread, &m) == 0);
  pthread_join(t, NULL);
  CHECK(m != NULL);
  CHECK_STR(m, "");
}

/* Two threads fail differently at the same time; each sees its own. */
typedef struct {
  pthread_barrier_t *bar;
  int which;
  char seen[MPK_ERRMSG_MAX];
  int rc;
} iso_arg;

static void *iso_thread(void *arg) {
  iso_arg *a = arg;
  if (a->which == 0) {
    mpk_pool_opts o;
    mpk_pool_opts_init(&o);
    o.workers = -5;
    mpk_pool_t *p;
    a->rc = mpk_pool_create(&p, &o);
  } else {
    char buf[16];
    a->rc = mpk_topo_plan(1, MPK_BIND_NONE, "core:99999", 0, buf, sizeof buf);
  }
  pthread_barrier_wait(a->bar); /* both have failed */
  pthread_barrier_wait(a->bar); /* the main thread has failed too */
  snprintf(a->seen, sizeof a->seen, "%s", mpk_errmsg());
  return NULL;
}

static void test_per_thread(void) {
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 3);
  iso_arg a[2] = {{&bar, 0, "", 0}, {&bar, 1, "", 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&t[i], NULL, iso_thread, &a[i]) == 0);
  pthread_barrier_wait(&bar);
  CHECK_RC(mpk_dict_new(NULL), MPK_EINVAL); /* a third failure, here */
  pthread_barrier_wait(&bar);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&bar);
  CHECK_RC(a[0].rc, MPK_EINVAL);
  CHECK_RC(a[1].rc, MPK_EINVAL);
  CHECK_STR(a[0].seen, "workers -5 < 0");
  CHECK(strstr(a[1].seen, "core 99999 does not exist") != NULL);
  CHECK_ERRMSG("mpk_dict_new", "is NULL");
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_empty_before_any_failure);
  CHECK_RUN(test_per_thread);
  return check_done();
}
