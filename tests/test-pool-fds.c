/* pool.fds: a pool's internal descriptors stay with that pool.

   The parent has a second thread (blocked on a pipe the test holds), so
   every pool uses the fork server. Two and three pools are freed in every
   order: each free returns (the watchdog turns a hang into a failure),
   every pool still works until it is freed, its workers are gone once it
   is, and no child at all is left at the end. Workers inherit the user's
   descriptors but hold no socket and no pidfd (another pool's fork-server
   socket or worker pidfds); an mpk_process child or a raw fork() alive
   while the pools are freed holds none of them either and does not keep
   the free waiting. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/process.h"

enum { W = 2, ITEMS = 16, MAXP = 3 };

static int g_user[2];      /* the user's pipe: workers must inherit it */
static int g_base_sockets; /* sockets the test process had before any pool */

/* Descriptors of this process whose /proc/self/fd link starts with
   prefix. */
static int count_fds(const char *prefix) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
      continue;
    char link[128];
    ssize_t len = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
    if (len < 0)
      continue;
    link[len] = '\0';
    if (strncmp(link, prefix, strlen(prefix)) == 0)
      n++;
  }
  closedir(d);
  return n;
}

typedef struct {
  pid_t pid;
  int sockets, pidfds, user_open;
} fd_info;

static void fill_info(fd_info *r) {
  r->pid = getpid();
  r->sockets = count_fds("socket:");
  r->pidfds = count_fds("anon_inode:[pidfd]");
  r->user_open =
      fcntl(g_user[0], F_GETFD) != -1 && fcntl(g_user[1], F_GETFD) != -1;
}

static int info_kernel(const void *in, void *out, void *ctx) {
  (void)in;
  (void)ctx;
  fill_info(out);
  return 0;
}

static mpk_pool_t *mk(mpk_start start) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = W;
  o.backend = MPK_PROCESS;
  o.start = start;
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create(&p, &o));
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(p, &info));
  CHECK_EQ(info.start, start == MPK_START_AUTO ? MPK_START_FORKSERVER : start);
  return p;
}

/* One call on p works; every worker that ran it holds the user's pipe and,
   with `strict`, nothing of another pool (no socket, no pidfd). */
static void check_pool_fds(mpk_pool_t *p, int strict) {
  int in[ITEMS] = {0};
  fd_info out[ITEMS];
  memset(out, 0, sizeof out);
  mpk_sched dyn = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(mpk_pool_map(p, info_kernel, in, sizeof in[0], out, sizeof out[0],
                        ITEMS, NULL, 0, dyn));
  for (int i = 0; i < ITEMS; i++) {
    CHECK(out[i].pid > 0 && out[i].pid != getpid());
    CHECK_EQ(out[i].user_open, 1);
    if (strict) {
      CHECK_EQ(out[i].sockets, g_base_sockets);
      CHECK_EQ(out[i].pidfds, 0);
    }
  }
}

/* Create n pools, free them in `order`; after each free the remaining
   pools still work and the freed pool's workers are gone. */
static void run_order(mpk_start start, int strict, int n, const int *order) {
  mpk_pool_t *p[MAXP];
  pid_t wpid[MAXP][W];
  for (int i = 0; i < n; i++)
    p[i] = mk(start);
  for (int i = 0; i < n; i++) {
    check_pool_fds(p[i], strict);
    for (int w = 0; w < W; w++) {
      wpid[i][w] = mpk_pool_worker_pid(p[i], w);
      CHECK(wpid[i][w] > 0);
    }
  }
  for (int k = 0; k < n; k++) {
    int i = order[k];
    mpk_pool_free(p[i]); /* hung here when another server held i's socket */
    p[i] = NULL;
    for (int w = 0; w < W; w++)
      CHECK_MSG(check_pid_gone(wpid[i][w]), "worker %d of pool %d is left",
                (int)wpid[i][w], i);
    for (int j = 0; j < n; j++)
      if (p[j])
        check_pool_fds(p[j], strict);
  }
  int st;
  errno = 0;
  CHECK_EQ(waitpid(-1, &st, WNOHANG), -1); /* no child, not even a zombie */
  CHECK_EQ(errno, ECHILD);
}

static void test_two_pools_every_order(void) {
  static const int orders[][2] = {{0, 1}, {1, 0}};
  for (size_t k = 0; k < sizeof orders / sizeof orders[0]; k++)
    run_order(MPK_START_AUTO, 0, 2, orders[k]);
}

static void test_three_pools_every_order(void) {
  static const int orders[][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                  {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (size_t k = 0; k < sizeof orders / sizeof orders[0]; k++)
    run_order(MPK_START_AUTO, 0, 3, orders[k]);
}

/* The same with the descriptors checked: the workers of every pool, fork
   server (AUTO) or not, hold the user's pipe but no other pool's socket or
   pidfds, before and after other pools are freed. */
static void test_workers_hold_nothing_foreign(void) {
  static const int orders[][3] = {{0, 1, 2}, {2, 1, 0}};
  for (size_t k = 0; k < sizeof orders / sizeof orders[0]; k++) {
    run_order(MPK_START_AUTO, 1, 3, orders[k]);
    run_order(MPK_START_FORK, 1, 3, orders[k]);
  }
}

/* ---- other children alive while the pools are freed -------------------- */

static int g_gate[2]; /* a child waits for one byte on g_gate[0] */

static int wait_gate(void) {
  char c;
  ssize_t r;
  do
    r = read(g_gate[0], &c, 1);
  while (r < 0 && errno == EINTR);
  return r == 1 ? 0 : 10;
}

/* The child's body: it holds the user's pipe and nothing of the pools;
   then waits at the gate. */
static int gated_child(void *arg) {
  (void)arg;
  fd_info r;
  fill_info(&r);
  if (!r.user_open)
    return 2;
  if (r.sockets != g_base_sockets)
    return 3;
  if (r.pidfds != 0)
    return 4;
  return wait_gate();
}

static void open_gate(void) {
  char c = 1;
  CHECK_EQ(write(g_gate[1], &c, 1), 1);
}

static void test_process_child_holds_no_pool(void) {
  mpk_pool_t *a = mk(MPK_START_AUTO), *b = mk(MPK_START_AUTO);
  check_pool_fds(a, 0);
  check_pool_fds(b, 0);
  mpk_process_t *pr = NULL;
  CHECK_OK(mpk_process_new(&pr, gated_child, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(pr));
  /* The child lives on until the gate opens, after both frees. */
  mpk_pool_free(a);
  mpk_pool_free(b);
  open_gate();
  CHECK_OK(mpk_process_join(pr, MPK_FOREVER));
  int code = -1;
  CHECK_OK(mpk_process_exitcode(pr, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(pr);
  int st;
  errno = 0;
  CHECK_EQ(waitpid(-1, &st, WNOHANG), -1);
  CHECK_EQ(errno, ECHILD);
}

static void test_raw_fork_child_holds_no_pool(void) {
  mpk_pool_t *a = mk(MPK_START_AUTO);
  check_pool_fds(a, 0);
  pid_t c = check_fork(gated_child, NULL);
  mpk_pool_t *b = mk(MPK_START_AUTO);
  check_pool_fds(b, 0);
  mpk_pool_free(a);
  mpk_pool_free(b);
  open_gate();
  check_wait_ok(c, 30);
  int st;
  errno = 0;
  CHECK_EQ(waitpid(-1, &st, WNOHANG), -1);
  CHECK_EQ(errno, ECHILD);
}

/* ---- the second thread -------------------------------------------------- */

static int g_hold[2];

static void *blocked_thread(void *arg) {
  (void)arg;
  char c;
  while (read(g_hold[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

int main(void) {
  check_watchdog(100);
  CHECK_EQ(pipe(g_user), 0);
  CHECK_EQ(pipe(g_gate), 0);
  CHECK_EQ(pipe(g_hold), 0);
  g_base_sockets = count_fds("socket:");
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, blocked_thread, NULL), 0);
  CHECK_RUN(test_two_pools_every_order);
  CHECK_RUN(test_three_pools_every_order);
  CHECK_RUN(test_workers_hold_nothing_foreign);
  CHECK_RUN(test_process_child_holds_no_pool);
  CHECK_RUN(test_raw_fork_child_holds_no_pool);
  close(g_hold[1]); /* EOF: the thread ends */
  CHECK_EQ(pthread_join(t, NULL), 0);
  return check_done();
}
