/* error.sites: for each kind of failure, the code AND what mpk_errmsg()
   says: option and argument checks (pool, topo cpusets and plans, queue,
   array, dict, pipe, process, sync sizes), system calls (the call and its
   errno text), workers that fail or die (which worker, its pid, the signal
   or exit status, the index), async calls and iterators, the pool's
   state. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "check.h"
#include "mpk/dict.h"
#include "mpk/pipe.h"
#include "mpk/pool.h"
#include "mpk/process.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "mpk/sync.h"
#include "mpk/sync.h"
#include "mpk/topo.h"

/* A failed call: its code and the words of its message. */
#define CHECK_FAILS(call, code, ...)                                           \
  do {                                                                         \
    CHECK_RC(call, code);                                                      \
    CHECK_ERRMSG(__VA_ARGS__);                                                 \
  } while (0)

/* The input of every pool call here: 0, 1, ..., 19. */
static long g_in[20], g_out[20];
static const mpk_sched g_s = {MPK_SCHED_DYNAMIC, 1};

static mpk_pool_t *pool(const mpk_pool_opts *o) {
  for (int i = 0; i < 20; i++)
    g_in[i] = i;
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create(&p, o));
  return p;
}

/* map fn over the 20 inputs. */
static int map20(mpk_pool_t *p, mpk_map_fn fn) {
  return mpk_pool_map(p, fn, g_in, sizeof(long), g_out, sizeof(long), 20, NULL,
                      0, g_s);
}

static mpk_pool_opts opts(int workers) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  return o;
}

static void test_pool_options(void) {
  mpk_pool_t *p;
  mpk_pool_opts o = opts(2000);
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EINVAL, "workers 2000",
              "MPK_POOL_MAX_WORKERS (1024)");
  o = opts(1);
  o.threads_per_worker = 0;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EINVAL, "threads_per_worker 0");
  o = opts(1);
  o.backend = (mpk_backend)7;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EINVAL, "backend 7");
  o = opts(1);
  o.bind = (mpk_bind_policy)9;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EINVAL, "bind policy 9");
  o = opts(1);
  o.task_timeout = NAN;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EINVAL, "task_timeout is NaN");
  o = opts(1);
  o.backend = MPK_THREAD;
  o.max_rss_bytes = 1 << 20;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_ENOTSUP, "max_rss_bytes",
              "MPK_THREAD");
  o = opts(1);
  o.cpuset = "7-3";
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EINVAL,
              "cpuset '7-3': range end before start (7-3)");
  CHECK_FAILS(mpk_pool_create(NULL, NULL), MPK_EINVAL, "p is NULL");
}

static void test_topo(void) {
  char buf[64];
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, "0-x", 0, buf, sizeof buf),
              MPK_EINVAL, "cpuset '0-x'", "expected the end of a range",
              "offset 2");
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, "socket:77", 0, buf, sizeof buf),
              MPK_EINVAL, "socket 77 does not exist", "there are");
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, "gpu:0", 0, buf, sizeof buf),
              MPK_EINVAL, "unknown object type");
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, "0xZZ", 0, buf, sizeof buf),
              MPK_EINVAL, "hex digits");
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, "", 0, buf, sizeof buf),
              MPK_EINVAL, "cpuset '': empty");
  CHECK_FAILS(
      mpk_topo_plan(1, MPK_BIND_NONE, "99999999999", 0, buf, sizeof buf),
      MPK_EINVAL, "PU ", "the largest OS index");
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, "1000000", 0, buf, sizeof buf),
              MPK_EINVAL, "names no PU this process may use", "allowed: ");
  CHECK_FAILS(mpk_topo_plan(0, MPK_BIND_NONE, NULL, 0, buf, sizeof buf),
              MPK_EINVAL, "n = 0 workers < 1");
  CHECK_FAILS(mpk_topo_plan(2, MPK_BIND_NONE, NULL, 5, buf, sizeof buf),
              MPK_EINVAL, "worker 5 outside [0, 2)");
  CHECK_FAILS(
      mpk_topo_plan_ex(1, 0, MPK_BIND_NONE, NULL, 0, buf, sizeof buf, NULL),
      MPK_EINVAL, "per_worker 0 < 1");
  CHECK_FAILS(mpk_topo_plan(1, MPK_BIND_NONE, NULL, 0, buf, 1), MPK_EMSGSIZE,
              "buffer of 1 bytes is too small");
  CHECK_FAILS(mpk_bind_self("7-3"), MPK_EINVAL, "range end before start");
}

static void test_sizes(void) {
  mpk_queue_t *q;
  CHECK_FAILS(mpk_queue_new(&q, MPK_QUEUE_MAX_CAPACITY + 1, 0), MPK_EINVAL,
              "MPK_QUEUE_MAX_CAPACITY");
  CHECK_FAILS(mpk_queue_new(&q, 0, 0x40), MPK_EINVAL, "unknown flag bits 0x40");
  CHECK_OK(mpk_queue_new(&q, 1024, 0));
  static char big[4096];
  CHECK_FAILS(mpk_queue_put(q, big, sizeof big, 0), MPK_EMSGSIZE,
              "message of 4096 bytes", "largest");
  CHECK_OK(mpk_queue_put(q, big, 100, 0));
  char small[10];
  size_t len = 0;
  CHECK_FAILS(mpk_queue_get(q, small, sizeof small, &len, 0), MPK_EMSGSIZE,
              "message of 100 bytes > the 10-byte buffer");
  CHECK_FAILS(mpk_queue_get(q, small, sizeof small, &len, NAN), MPK_EINVAL,
              "timeout is NaN");
  CHECK_FAILS(mpk_queue_task_done(q), MPK_ENOTSUP, "MPK_QUEUE_JOINABLE");
  mpk_queue_free(q);
  CHECK_FAILS(mpk_queue_put(NULL, big, 1, 0), MPK_EINVAL, "mpk_queue_put",
              "q is NULL");

  mpk_array_t *a;
  CHECK_FAILS(mpk_array_new(&a, MPK_LONG, 0, 0), MPK_EINVAL, "n is 0");
  CHECK_FAILS(mpk_array_new(&a, (mpk_type)99, 4, 0), MPK_EINVAL, "type 99");
  CHECK_FAILS(mpk_array_new(&a, MPK_LONG, 4, 2), MPK_EINVAL, "locked is 2");
  CHECK_FAILS(mpk_array_new(&a, MPK_DOUBLE, SIZE_MAX / 2, 0), MPK_ENOMEM,
              "overflow");
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 4, 0));
  CHECK_FAILS(mpk_array_lock(a), MPK_ENOTSUP, "without a lock");
  mpk_array_free(a);

  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  char key[300];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  CHECK_FAILS(mpk_dict_set(d, key, "v", 1), MPK_EINVAL, "longer than",
              "MPK_DICT_KEY_MAX");
  CHECK_FAILS(mpk_dict_set(d, "", "v", 1), MPK_EINVAL, "empty");
  CHECK_OK(mpk_dict_set(d, "k", "value", 5));
  CHECK_FAILS(mpk_dict_get(d, "k", small, 2, &len), MPK_EMSGSIZE,
              "value of 5 bytes > the 2-byte buffer");
  CHECK_RC(mpk_dict_get(d, "nope", small, 2, &len), MPK_EEMPTY);
  CHECK_STR(mpk_errmsg(), mpk_strerror(MPK_EEMPTY));
  mpk_dict_free(d);

  mpk_barrier_t *b;
  CHECK_FAILS(mpk_barrier_new(&b, 0), MPK_EINVAL, "parties 0");
  mpk_sem_t *s;
  CHECK_FAILS(mpk_sem_new(&s, 3, 5), MPK_EINVAL, "bounded is 5");
  CHECK_OK(mpk_sem_new(&s, 1, 1));
  CHECK_FAILS(mpk_sem_release(s), MPK_EOVERFLOW, "bounded semaphore");
  CHECK_RC(mpk_sem_acquire(s, 0), MPK_OK);
  CHECK_RC(mpk_sem_acquire(s, 0), MPK_ETIMEDOUT);
  CHECK_STR(mpk_errmsg(), mpk_strerror(MPK_ETIMEDOUT));
  mpk_sem_free(s);
  mpk_rlock_t *rl;
  CHECK_OK(mpk_rlock_new(&rl));
  CHECK_FAILS(mpk_rlock_release(rl), MPK_EPERM, "does not hold");
  mpk_rlock_free(rl);

  CHECK_FAILS(mpk_shm_alloc(0) == NULL ? MPK_EINVAL : MPK_OK, MPK_EINVAL,
              "size is 0");
  CHECK(mpk_shm_alloc((size_t)1 << 62) == NULL);
  CHECK_ERRMSG("shared heap full", "MPK_SHM_SIZE");
}

/* System calls: the call's name and its errno text. */
static int pipe_without_fds(void *arg) {
  (void)arg;
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  int top = dup(0); /* the lowest free descriptor: all below are taken */
  if (top < 0)
    return 2;
  close(top);
  r.rlim_cur = (rlim_t)top; /* no new descriptor fits */
  if (setrlimit(RLIMIT_NOFILE, &r) != 0)
    return 3;
  mpk_conn_t *a, *b;
  if (mpk_pipe(&a, &b, 0) != MPK_EAGAIN)
    return 4;
  const char *m = mpk_errmsg();
  if (strstr(m, "mpk_pipe: pipe2: ") == NULL || strstr(m, "(EMFILE)") == NULL)
    return 5;
  if (mpk_pipe(&a, &b, 1) != MPK_EAGAIN ||
      strstr(mpk_errmsg(), "socketpair") == NULL)
    return 6;
  return 0;
}

static void test_syscalls(void) {
  check_wait_ok(check_fork(pipe_without_fds, NULL), 30);
}

/* Workers that fail or die: the parent says which, how, where. */
static _Atomic int *g_pid; /* shared heap: the dying worker's pid */

static int fail_at_5(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in;
  return *(const long *)in == 5 ? 7 : 0;
}

static int die_at_9(const void *in, void *out, void *ctx) {
  (void)ctx;
  (void)out;
  if (*(const long *)in == 9) {
    atomic_store(g_pid, (int)getpid());
    raise(SIGKILL);
  }
  return 0;
}

static int exit_in_task(const void *arg, void *res, void *ctx) {
  (void)arg;
  (void)res;
  (void)ctx;
  atomic_store(g_pid, (int)getpid());
  _exit(3);
}

static int block_forever(const void *arg, void *res, void *ctx) {
  (void)arg;
  (void)res;
  (void)ctx;
  while (pause() != 0 || errno != 0)
    errno = 0; /* pause() only returns -1 (EINTR): never leaves */
  return 0;
}

static int init_fails(void *arg) {
  (void)arg;
  return 1;
}

static int init_dies(void *arg) {
  (void)arg;
  raise(SIGKILL);
  return 0;
}

static void test_workers(void) {
  g_pid = mpk_shm_calloc(1, sizeof *g_pid);
  CHECK(g_pid != NULL);
  mpk_pool_opts o = opts(2);
  o.start = MPK_START_FORK;
  mpk_pool_t *p = pool(&o);
  CHECK_FAILS(map20(p, fail_at_5), MPK_ETASK,
              "map: task returned 7 at element 5 (worker ", ", pid ");
  /* the pool's last error gives the same detail, in any thread */
  CHECK_RC(mpk_queue_new(NULL, 0, 0), MPK_EINVAL);
  CHECK_FAILS(mpk_pool_last_error(p, NULL, NULL, NULL), MPK_ETASK,
              "task returned 7 at element 5");

  CHECK_RC(map20(p, die_at_9), MPK_EWORKER);
  char want[64];
  snprintf(want, sizeof want, "(pid %d) killed by signal %d (SIGKILL)",
           atomic_load(g_pid), SIGKILL);
  CHECK_ERRMSG("map: worker ", want, "in the chunk from element 9");

  CHECK_RC(mpk_pool_apply(p, exit_in_task, NULL, 0, NULL, 0), MPK_EWORKER);
  snprintf(want, sizeof want, "(pid %d) exited with status 3",
           atomic_load(g_pid));
  CHECK_ERRMSG("apply: worker ", want);

  mpk_pool_free(p);
  /* task_timeout: a task that never ends is killed */
  o = opts(1);
  o.task_timeout = 0.2;
  p = pool(&o);
  CHECK_FAILS(mpk_pool_apply(p, block_forever, NULL, 0, NULL, 0), MPK_ETIMEDOUT,
              "apply: worker 0 (pid ",
              "killed by signal 9 (SIGKILL): ran longer than task_timeout "
              "(0.2 s)");

  /* the pool's state */
  CHECK_OK(mpk_pool_close(p));
  CHECK_FAILS(map20(p, fail_at_5), MPK_ESTATE, "the pool is closed");
  CHECK_OK(mpk_pool_join(p));
  mpk_pool_free(p);

  /* start-up: an initializer that fails, a worker that dies starting */
  o.init = init_fails;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_ETASK, "worker ",
              "init returned non-zero");
  o.init = init_dies;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EWORKER,
              "killed by signal 9 (SIGKILL) while starting");
  o.start = MPK_START_FORKSERVER;
  CHECK_FAILS(mpk_pool_create(&p, &o), MPK_EWORKER,
              "killed by signal 9 (SIGKILL) while starting");

  /* the thread backend: the worker, no pid */
  o = opts(2);
  o.backend = MPK_THREAD;
  p = pool(&o);
  CHECK_RC(map20(p, fail_at_5), MPK_ETASK);
  CHECK_ERRMSG("map: task returned 7 at element 5 (worker ");
  CHECK(strstr(mpk_errmsg(), "pid") == NULL);
  mpk_pool_free(p);
  mpk_shm_free(g_pid);
}

/* Async calls and iterators: the thread that gets the code gets the
   detail; a done callback sees it too. */
typedef struct {
  char seen[MPK_ERRMSG_MAX];
  int status;
} cb_arg;

static void on_done(mpk_async_t *a, int status, void *user) {
  (void)a;
  cb_arg *c = user;
  c->status = status;
  snprintf(c->seen, sizeof c->seen, "%s", mpk_errmsg());
}

static void test_async_and_imap(void) {
  mpk_pool_opts o = opts(2);
  mpk_pool_t *p = pool(&o);
  cb_arg c = {"", 0};
  mpk_async_t *a;
  CHECK_OK(mpk_pool_map_async(p, fail_at_5, g_in, sizeof(long), g_out,
                              sizeof(long), 20, NULL, 0, g_s, on_done, &c, &a));
  CHECK_FAILS(mpk_async_wait(a, MPK_FOREVER), MPK_ETASK,
              "map: task returned 7 at element 5");
  CHECK_EQ(c.status, MPK_ETASK);
  CHECK(strstr(c.seen, "task returned 7 at element 5") != NULL);
  mpk_async_free(a);

  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, fail_at_5, g_in, sizeof(long), sizeof(long), 20,
                         NULL, 0, 3, 0, &it));
  size_t idx;
  long v;
  int rc;
  while ((rc = mpk_iter_next(it, &idx, &v, MPK_FOREVER)) == MPK_OK) {
  }
  CHECK_RC(rc, MPK_ETASK);
  CHECK_EQ(idx, 5);
  CHECK_ERRMSG("task returned 7 at element 5");
  mpk_iter_free(it);
  CHECK_FAILS(mpk_pool_imap(p, fail_at_5, g_in, sizeof(long), sizeof(long), 20,
                            NULL, 0, 3, 8, &it),
              MPK_EINVAL, "imap: unknown flag bits 0x8");
  mpk_pool_free(p);
}

static void test_process_and_pipe(void) {
  mpk_process_t *pr;
  CHECK_FAILS(mpk_process_new(&pr, NULL, NULL, 0, NULL), MPK_EINVAL,
              "run is NULL");
  mpk_process_opts po = {.name = "bound", .cpuset = "7-3"};
  CHECK_OK(mpk_process_new(&pr, init_fails, NULL, 0, &po));
  CHECK_FAILS(mpk_process_start(pr), MPK_EINVAL, "range end before start");
  int code;
  CHECK_FAILS(mpk_process_exitcode(pr, &code), MPK_ESTATE,
              "process 'bound' has not been started");
  mpk_process_free(pr);

  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, 0));
  CHECK_FAILS(mpk_conn_send(a, "x", 1), MPK_ENOTSUP,
              "the receive end of a one-way pipe");
  char buf[4];
  size_t len;
  CHECK_FAILS(mpk_conn_recv(b, buf, sizeof buf, &len, 0), MPK_ENOTSUP,
              "the send end of a one-way pipe");
  mpk_conn_free(a);
  mpk_conn_free(b);
  CHECK_FAILS(mpk_pipe(&a, &a, 0), MPK_EINVAL, "the same pointer");
}

/* The sync calls say which argument was wrong: the handle, or the timeout
   (or the predicate), never "one of them". */
#define CHECK_ONLY(call, says, not_says)                                       \
  do {                                                                         \
    CHECK_RC(call, MPK_EINVAL);                                                \
    CHECK_ERRMSG(says);                                                        \
    CHECK_MSG(strstr(mpk_errmsg(), not_says) == NULL, "'%s' also says '%s'",   \
              mpk_errmsg(), not_says);                                         \
  } while (0)

static int never(void *arg) {
  (void)arg;
  return 0;
}

static void test_sync_detail(void) {
  void *wild = (void *)0x40;
  mpk_lock_t *l;
  mpk_rlock_t *r;
  mpk_sem_t *s;
  mpk_event_t *e;
  mpk_barrier_t *b;
  mpk_cond_t *c;
  CHECK_OK(mpk_lock_new(&l));
  CHECK_OK(mpk_rlock_new(&r));
  CHECK_OK(mpk_sem_new(&s, 0, 0));
  CHECK_OK(mpk_event_new(&e));
  CHECK_OK(mpk_barrier_new(&b, 2));
  CHECK_OK(mpk_cond_new(&c, NULL));
  CHECK_ONLY(mpk_lock_acquire(wild, 0), "l is not a live mpk_lock_t", "NaN");
  CHECK_ONLY(mpk_lock_acquire(l, NAN), "timeout is NaN", "live");
  CHECK_ONLY(mpk_rlock_acquire(wild, 0), "not a live mpk_rlock_t", "NaN");
  CHECK_ONLY(mpk_rlock_acquire(r, NAN), "timeout is NaN", "live");
  CHECK_ONLY(mpk_sem_acquire(wild, 0), "not a live mpk_sem_t", "NaN");
  CHECK_ONLY(mpk_sem_acquire(s, NAN), "timeout is NaN", "live");
  CHECK_ONLY(mpk_event_wait(wild, 0), "not a live mpk_event_t", "NaN");
  CHECK_ONLY(mpk_event_wait(e, NAN), "timeout is NaN", "live");
  CHECK_ONLY(mpk_barrier_wait(wild, 0), "not a live mpk_barrier_t", "NaN");
  CHECK_ONLY(mpk_barrier_wait(b, NAN), "timeout is NaN", "live");
  CHECK_ONLY(mpk_cond_wait(wild, 0), "not a live mpk_cond_t", "NaN");
  CHECK_OK(mpk_cond_acquire(c, 0));
  CHECK_ONLY(mpk_cond_wait(c, NAN), "timeout is NaN", "live");
  CHECK_ONLY(mpk_cond_wait_for(wild, never, NULL, 0), "not a live mpk_cond_t",
             "pred");
  CHECK_ONLY(mpk_cond_wait_for(c, NULL, NULL, 0), "pred is NULL", "NaN");
  CHECK_ONLY(mpk_cond_wait_for(c, never, NULL, NAN), "timeout is NaN", "pred");
  CHECK_OK(mpk_cond_release(c));
  mpk_cond_free(c);
  mpk_barrier_free(b);
  mpk_event_free(e);
  mpk_sem_free(s);
  mpk_rlock_free(r);
  mpk_lock_free(l);
}

int main(void) {
  check_watchdog(100);
  CHECK_RUN(test_pool_options);
  CHECK_RUN(test_topo);
  CHECK_RUN(test_sizes);
  CHECK_RUN(test_sync_detail);
  CHECK_RUN(test_syscalls);
  CHECK_RUN(test_workers);
  CHECK_RUN(test_async_and_imap);
  CHECK_RUN(test_process_and_pipe);
  return check_done();
}
