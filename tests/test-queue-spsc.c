/* queue.spsc: the lock-free single-producer / single-consumer mode
   (MPK_QUEUE_SPSC): every call and error code, wrap-around with varied
   sizes, ownership (MPK_EPERM for a second live producer / consumer,
   takeover after the owner thread exited or its process was killed), close,
   EDEADLK from a signal handler, JoinableQueue, and 1M numbered messages
   across processes in order. Run with the argument "threads" it runs only
   the threaded tests (queue.spsc-threads, also under ThreadSanitizer). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "check.h"
#include "process-util.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "queue/queue_internal.h"
#include "queue/ring_internal.h"

static mpk_queue_t *new_spsc(size_t cap) {
  mpk_queue_t *q = NULL;
  CHECK_OK(mpk_queue_new(&q, cap, MPK_QUEUE_SPSC));
  CHECK(q != NULL);
  return q;
}

static void test_new_flags(void) {
  mpk_queue_t *q = (mpk_queue_t *)&q, *before = q;
  CHECK_RC(mpk_queue_new(&q, 64, 2), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 64, 8), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 64, MPK_QUEUE_SPSC | 16), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 64, -1), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(NULL, 64, MPK_QUEUE_SPSC), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, MPK_QUEUE_MAX_CAPACITY + 1, MPK_QUEUE_SPSC),
           MPK_EINVAL);
  CHECK(q == before);
  CHECK_OK(mpk_queue_new(&q, 0, MPK_QUEUE_SPSC | MPK_QUEUE_JOINABLE));
  CHECK_EQ(mpk_queue_capacity(q), MPK_QUEUE_DEFAULT_CAPACITY);
  mpk_queue_free(q);
}

static void test_calls_and_errors(void) {
  mpk_queue_t *q = new_spsc(61); /* rounds up to 64 */
  char b[64];
  size_t len = 99;
  CHECK_EQ(mpk_queue_capacity(q), 64);
  CHECK_EQ(mpk_queue_max_msg(q), 56);
  CHECK_EQ(mpk_queue_qsize(q), 0);
  CHECK_EQ(mpk_queue_empty(q), 1);
  CHECK_EQ(mpk_queue_full(q), 0);
  /* argument errors, before any ownership is taken */
  CHECK_RC(mpk_queue_put(q, NULL, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_put(q, "x", 1, NAN), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, NULL, 1, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, NAN), MPK_EINVAL);
  CHECK_RC(mpk_queue_put(q, b, 57, 0), MPK_EMSGSIZE);
  CHECK_RC(mpk_queue_get_nowait(q, b, sizeof b, &len), MPK_EEMPTY);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0), MPK_EEMPTY);
  double t0 = check_now();
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0.05), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.04);
  CHECK_RC(mpk_queue_task_done(q), MPK_ENOTSUP);
  CHECK_RC(mpk_queue_join(q, 0), MPK_ENOTSUP);
  CHECK_EQ(mpk_queue_unfinished(q), 0);

  CHECK_OK(mpk_queue_put(q, NULL, 0, 0)); /* empty message: 8 bytes */
  CHECK_OK(mpk_queue_put_nowait(q, "hello", 5));
  CHECK_OK(mpk_queue_put(q, "0123456789abcdef", 16, 1)); /* 8+8+8+16 = 40 */
  CHECK_EQ(mpk_queue_qsize(q), 3);
  CHECK_EQ(mpk_queue_empty(q), 0);
  CHECK_RC(mpk_queue_put_nowait(q, b, 17), MPK_EFULL); /* needs 32 */
  t0 = check_now();
  CHECK_RC(mpk_queue_put(q, b, 17, 0.05), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.04);
  CHECK_OK(mpk_queue_put(q, b, 8, 0)); /* exactly fills: 48 + 16 = 64 */
  CHECK_EQ(mpk_queue_full(q), 1);
  CHECK_RC(mpk_queue_put_nowait(q, NULL, 0), MPK_EFULL);

  CHECK_OK(mpk_queue_get(q, NULL, 0, &len, 0));
  CHECK_EQ(len, 0);
  CHECK_RC(mpk_queue_get(q, b, 4, &len, 0), MPK_EMSGSIZE);
  CHECK_EQ(len, 5); /* needed size; message stays */
  CHECK_EQ(mpk_queue_qsize(q), 3);
  CHECK_OK(mpk_queue_get_nowait(q, b, 5, &len));
  CHECK(len == 5 && memcmp(b, "hello", 5) == 0);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER));
  CHECK(len == 16 && memcmp(b, "0123456789abcdef", 16) == 0);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 1));
  CHECK_EQ(len, 8);
  CHECK_EQ(mpk_queue_qsize(q), 0);
  CHECK_EQ(mpk__queue_missed_wakes(q), 0);
  mpk_queue_free(q);
}

/* Varied sizes through a small odd ring: every wrap point of header and
   payload, one thread as both producer and consumer. */
static void test_wraparound(void) {
  mpk_queue_t *q = new_spsc(200);
  unsigned char in[192], out[192];
  size_t len;
  uint32_t seed = 7;
  int queued = 0, put_n = 0, got_n = 0;
  for (int step = 0; step < 20000; step++) {
    seed = seed * 1103515245u + 12345u;
    if ((seed >> 16) % 3 != 0 || queued == 0) {
      size_t n = (seed >> 8) % 100;
      for (size_t k = 0; k < n; k++)
        in[k] = (unsigned char)(put_n * 31 + k);
      int r = mpk_queue_put_nowait(q, in, n);
      if (r == MPK_EFULL)
        continue;
      CHECK_OK(r);
      put_n++;
      queued++;
    } else {
      CHECK_OK(mpk_queue_get_nowait(q, out, sizeof out, &len));
      for (size_t k = 0; k < len; k++)
        CHECK_EQ(out[k], (unsigned char)(got_n * 31 + k));
      got_n++;
      queued--;
    }
    CHECK_EQ(mpk_queue_qsize(q), queued);
  }
  while (queued-- > 0)
    CHECK_OK(mpk_queue_get_nowait(q, out, sizeof out, &len));
  CHECK_EQ(mpk_queue_empty(q), 1);
  CHECK(put_n > 5000);
  mpk_queue_free(q);
}

/* ---- ownership ------------------------------------------------------- */

typedef struct {
  mpk_queue_t *q;
  int rc;
} targ;

static void *put_one(void *p) {
  targ *a = p;
  a->rc = mpk_queue_put(a->q, "t", 1, 0);
  return NULL;
}

static void *get_one(void *p) {
  targ *a = p;
  char b[8];
  size_t len;
  a->rc = mpk_queue_get(a->q, b, sizeof b, &len, 0);
  return NULL;
}

static int run_in_thread(void *(*fn)(void *), mpk_queue_t *q) {
  pthread_t t;
  targ a = {q, 12345};
  CHECK_EQ(pthread_create(&t, NULL, fn, &a), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  return a.rc;
}

typedef struct {
  mpk_queue_t *q;
  _Atomic int phase;
  int rc;
  pid_t tid;
} owner_arg;

/* The calling thread's id, for pu_await_task_gone after its join. */
static pid_t self_tid(void) {
  return (pid_t)syscall(SYS_gettid);
}

/* Own both sides, then stay alive until told to go. */
static void *owner_thread(void *p) {
  owner_arg *a = p;
  char b[8];
  size_t len;
  a->tid = self_tid();
  a->rc = mpk_queue_put(a->q, "own", 3, 0);
  if (a->rc == MPK_OK)
    a->rc = mpk_queue_get(a->q, b, sizeof b, &len, 0);
  atomic_store(&a->phase, 1);
  while (atomic_load(&a->phase) != 2)
    check_sleep(0.001);
  return NULL;
}

static int child_put(void *p) {
  return mpk_queue_put(p, "c", 1, 0) == MPK_EPERM ? 0 : 1;
}

static int child_get(void *p) {
  char b[8];
  size_t len;
  return mpk_queue_get(p, b, sizeof b, &len, 0) == MPK_EPERM ? 0 : 1;
}

static void test_owner_eperm_and_thread_takeover(void) {
  mpk_queue_t *q = new_spsc(256);
  owner_arg a = {q, 0, 1, 0};
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, owner_thread, &a), 0);
  while (atomic_load(&a.phase) != 1)
    check_sleep(0.001);
  CHECK_OK(a.rc);
  /* The owner lives: other threads and processes are refused, and a
     refused call changes nothing. */
  CHECK_RC(mpk_queue_put(q, "x", 1, 0), MPK_EPERM);
  CHECK_RC(mpk_queue_put_nowait(q, "x", 1), MPK_EPERM);
  char b[8];
  size_t len;
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0), MPK_EPERM);
  CHECK_RC(mpk_queue_get_nowait(q, b, sizeof b, &len), MPK_EPERM);
  CHECK_EQ(run_in_thread(put_one, q), MPK_EPERM);
  CHECK_EQ(run_in_thread(get_one, q), MPK_EPERM);
  check_wait_ok(check_fork(child_put, q), 10);
  check_wait_ok(check_fork(child_get, q), 10);
  CHECK_EQ(mpk_queue_qsize(q), 0);
  /* Anyone may look and close-check: qsize / empty / full work. */
  CHECK_EQ(mpk_queue_empty(q), 1);
  /* The owner thread exits: the next caller takes both sides over (once
     the kernel has ended the thread, a little after the join returns). */
  atomic_store(&a.phase, 2);
  CHECK_EQ(pthread_join(t, NULL), 0);
  pu_await_task_gone(getpid(), a.tid);
  CHECK_OK(mpk_queue_put(q, "mine", 4, 0));
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK(len == 4 && memcmp(b, "mine", 4) == 0);
  /* and now other threads are refused again */
  CHECK_EQ(run_in_thread(put_one, q), MPK_EPERM);
  CHECK_EQ(run_in_thread(get_one, q), MPK_EPERM);
  mpk_queue_free(q);
}

static int put_then_die(void *p) {
  CHECK_OK(mpk_queue_put(p, "last words", 10, 0));
  raise(SIGKILL);
  return 1;
}

static int get_then_die(void *p) {
  char b[16];
  size_t len;
  CHECK_OK(mpk_queue_get(p, b, sizeof b, &len, CHECK_HANG_S));
  raise(SIGKILL);
  return 1;
}

/* The owner process is SIGKILLed; its zombie is not reaped yet (waitid with
   WNOWAIT): it counts as dead, and its completed put is delivered. */
static void test_process_takeover(void) {
  mpk_queue_t *q = new_spsc(256);
  pid_t p = check_fork(put_then_die, q);
  siginfo_t si;
  CHECK_EQ(waitid(P_PID, (id_t)p, &si, WEXITED | WNOWAIT), 0);
  CHECK_EQ(si.si_status, SIGKILL);
  CHECK_OK(mpk_queue_put(q, "next", 4, 0)); /* takeover while a zombie */
  int st = check_wait(p, 10);
  CHECK(WIFSIGNALED(st));
  char b[16];
  size_t len;
  /* a consumer process takes the first message and dies (reaped) */
  pid_t g = check_fork(get_then_die, q);
  st = check_wait(g, 10);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  CHECK_EQ(mpk_queue_qsize(q), 1);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0)); /* consumer takeover */
  CHECK(len == 4 && memcmp(b, "next", 4) == 0);
  CHECK_OK(mpk_queue_put(q, "again", 5, 0));
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK(len == 5 && memcmp(b, "again", 5) == 0);
  mpk_queue_free(q);
}

/* ---- close ------------------------------------------------------------- */

static int get_until_closed(void *p) {
  char b[8];
  size_t len;
  int r = mpk_queue_get(p, b, sizeof b, &len, CHECK_HANG_S);
  if (r != MPK_OK || len != 1)
    return 1;
  return mpk_queue_get(p, b, sizeof b, &len, CHECK_HANG_S) == MPK_ECLOSED ? 0
                                                                          : 2;
}

static int put_until_closed(void *p) {
  for (;;) {
    int r = mpk_queue_put(p, "12345678", 8, CHECK_HANG_S);
    if (r == MPK_ECLOSED)
      return 0;
    if (r != MPK_OK)
      return 1;
  }
}

static void test_close(void) {
  mpk_queue_t *q = new_spsc(64);
  char b[16];
  size_t len;
  CHECK_OK(mpk_queue_put(q, "a", 1, 0));
  CHECK_OK(mpk_queue_put(q, "bb", 2, 0));
  CHECK_OK(mpk_queue_close(q));
  CHECK_OK(mpk_queue_close(q)); /* twice */
  CHECK_RC(mpk_queue_put(q, "c", 1, 0), MPK_ECLOSED);
  CHECK_RC(mpk_queue_put(q, "c", 1, 1), MPK_ECLOSED);
  CHECK_RC(mpk_queue_put(q, b, 100, 0), MPK_EMSGSIZE); /* checked first */
  CHECK_EQ(mpk_queue_qsize(q), 2);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK(len == 1 && b[0] == 'a');
  CHECK_RC(mpk_queue_get(q, b, 1, &len, 0), MPK_EMSGSIZE);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER));
  CHECK(len == 2 && memcmp(b, "bb", 2) == 0);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0), MPK_ECLOSED);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, MPK_FOREVER), MPK_ECLOSED);
  mpk_queue_free(q);

  /* A get blocked in another process is woken by close. */
  q = new_spsc(64);
  pid_t g = check_fork(get_until_closed, q);
  CHECK_OK(mpk_queue_put(q, "x", 1, 0));
  check_sleep(0.05);
  CHECK_OK(mpk_queue_close(q));
  check_wait_ok(g, 10);
  mpk_queue_free(q);

  /* A put blocked on a full ring in another process is woken by close, and
     nothing is added after close returned. */
  q = new_spsc(64);
  pid_t p = check_fork(put_until_closed, q);
  while (mpk_queue_full(q) != 1)
    check_sleep(0.001);
  check_sleep(0.05);
  long before = mpk_queue_qsize(q);
  CHECK_OK(mpk_queue_close(q)); /* by a non-owner: allowed */
  check_wait_ok(p, 10);
  CHECK_EQ(mpk_queue_qsize(q), before);
  mpk_queue_free(q);

  /* A closer that died after setting `closing`: the next get finishes the
     close (seals the tail) and drains, then reports MPK_ECLOSED. */
  q = new_spsc(64);
  CHECK_OK(mpk_queue_put(q, "z", 1, 0));
  atomic_store(&((struct mpk_queue *)q)->closing, 1);
  CHECK_RC(mpk_queue_put(q, "y", 1, 0), MPK_ECLOSED);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK_RC(mpk_queue_get(q, b, sizeof b, &len, 0), MPK_ECLOSED);
  CHECK(atomic_load(&((struct mpk_queue *)q)->tail) & TAIL_SEALED);
  mpk_queue_free(q);
}

static void test_joinable(void) {
  mpk_queue_t *q = NULL;
  CHECK_OK(mpk_queue_new(&q, 256, MPK_QUEUE_SPSC | MPK_QUEUE_JOINABLE));
  char b[8];
  size_t len;
  CHECK_OK(mpk_queue_join(q, 0));
  CHECK_OK(mpk_queue_put(q, "1", 1, 0));
  CHECK_OK(mpk_queue_put(q, "2", 1, 0));
  CHECK_EQ(mpk_queue_unfinished(q), 2);
  CHECK_RC(mpk_queue_join(q, 0.02), MPK_ETIMEDOUT);
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK_OK(mpk_queue_task_done(q));
  CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
  CHECK_OK(mpk_queue_task_done(q));
  CHECK_RC(mpk_queue_task_done(q), MPK_EOVERFLOW);
  CHECK_OK(mpk_queue_join(q, 1));
  CHECK_EQ(mpk_queue_unfinished(q), 0);
  mpk_queue_free(q);
}

/* ---- EDEADLK from a signal handler --------------------------------------- */

static mpk_queue_t *sig_q;
static volatile sig_atomic_t sig_put_rc = 1, sig_get_rc = 1;
static volatile sig_atomic_t sig_mode; /* 0: put, 1: get */

static void on_usr1(int sig) {
  (void)sig;
  char b[8];
  size_t len;
  if (sig_mode == 0)
    sig_put_rc = mpk_queue_put_nowait(sig_q, "h", 1);
  else
    sig_get_rc = mpk_queue_get_nowait(sig_q, b, sizeof b, &len);
}

typedef struct {
  pthread_t target;
  _Atomic int stop;
} sig_arg;

static void *signaller(void *p) {
  sig_arg *a = p;
  while (!atomic_load(&a->stop)) {
    pthread_kill(a->target, SIGUSR1);
    check_sleep(0.002);
  }
  return NULL;
}

/* The owner blocks in put on a full ring (get on an empty one) while a
   helper signals it repeatedly; a handler's put (get) on the same queue
   that lands inside the blocked call gets MPK_EDEADLK. */
static void test_edeadlk(void) {
  struct sigaction sa = {.sa_handler = on_usr1};
  sigemptyset(&sa.sa_mask);
  CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
  sig_q = new_spsc(16);
  CHECK_OK(mpk_queue_put(sig_q, "full", 4, 0));
  sig_arg a = {pthread_self(), 0};
  pthread_t t;
  sig_mode = 0;
  CHECK_EQ(pthread_create(&t, NULL, signaller, &a), 0);
  while (sig_put_rc != MPK_EDEADLK) {
    int r = mpk_queue_put(sig_q, "x", 1, 0.02);
    CHECK(r == MPK_ETIMEDOUT);
    CHECK(sig_put_rc == MPK_EFULL || sig_put_rc == MPK_EDEADLK ||
          sig_put_rc == 1);
  }
  atomic_store(&a.stop, 1);
  CHECK_EQ(pthread_join(t, NULL), 0);
  char b[8];
  size_t len;
  CHECK_OK(mpk_queue_get(sig_q, b, sizeof b, &len, 0)); /* now empty */
  sig_mode = 1;
  atomic_store(&a.stop, 0);
  CHECK_EQ(pthread_create(&t, NULL, signaller, &a), 0);
  while (sig_get_rc != MPK_EDEADLK) {
    int r = mpk_queue_get(sig_q, b, sizeof b, &len, 0.02);
    CHECK(r == MPK_ETIMEDOUT);
    CHECK(sig_get_rc == MPK_EEMPTY || sig_get_rc == MPK_EDEADLK ||
          sig_get_rc == 1);
  }
  atomic_store(&a.stop, 1);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_EQ(mpk_queue_qsize(sig_q), 0);
  signal(SIGUSR1, SIG_DFL);
  mpk_queue_free(sig_q);
}

/* ---- streams ------------------------------------------------------------- */

enum { STREAM_N = 1000000 };

/* n numbered messages of 9..58 bytes: the number, then bytes whose last
   one is derived from it (a torn copy shows). */
static size_t stream_len(uint64_t i) {
  return 9 + (size_t)(i % 8) * 7;
}

static int stream_put(mpk_queue_t *q, uint64_t n) {
  unsigned char b[64];
  for (uint64_t i = 0; i < n; i++) {
    size_t len = stream_len(i);
    memcpy(b, &i, 8);
    b[len - 1] = (unsigned char)(i ^ 0x5a);
    if (mpk_queue_put(q, b, len, CHECK_HANG_S) != MPK_OK)
      return 1;
  }
  return 0;
}

static int stream_get(mpk_queue_t *q, uint64_t n) {
  unsigned char b[64];
  size_t len;
  for (uint64_t i = 0; i < n; i++) {
    if (mpk_queue_get(q, b, sizeof b, &len, CHECK_HANG_S) != MPK_OK)
      return 1;
    uint64_t v;
    memcpy(&v, b, 8);
    if (v != i || len != stream_len(i) ||
        b[len - 1] != (unsigned char)(i ^ 0x5a))
      return 2;
  }
  return 0;
}

static mpk_queue_t *stream_q;

static int stream_producer_proc(void *p) {
  (void)p;
  return stream_put(stream_q, STREAM_N);
}

/* 1M numbered messages producer process -> consumer (this process), through
   a small ring so both sides sleep and wake often. */
static void test_stream_processes(void) {
  stream_q = new_spsc(4096);
  pid_t p = check_fork(stream_producer_proc, NULL);
  CHECK_EQ(stream_get(stream_q, STREAM_N), 0);
  check_wait_ok(p, 30);
  CHECK_EQ(mpk_queue_qsize(stream_q), 0);
  CHECK_EQ(mpk__queue_missed_wakes(stream_q), 0);
  mpk_queue_free(stream_q);
}

typedef struct {
  mpk_queue_t *q;
  uint64_t n;
  int rc;
  _Atomic int release; /* the producer thread stays alive until set */
  pid_t tid;
} stream_arg;

static void *stream_put_thread(void *p) {
  stream_arg *a = p;
  a->tid = self_tid();
  a->rc = stream_put(a->q, a->n);
  while (!atomic_load(&a->release))
    check_sleep(0.0005);
  return NULL;
}

static void *stream_get_thread(void *p) {
  stream_arg *a = p;
  a->tid = self_tid();
  a->rc = stream_get(a->q, a->n);
  return NULL;
}

/* Producer and consumer threads (ThreadSanitizer checks the payload
   hand-over); a third thread is refused both sides meanwhile. */
static void test_stream_threads(void) {
  uint64_t n = 200000;
  for (size_t cap = 256; cap <= 65536; cap *= 256) {
    mpk_queue_t *q = new_spsc(cap);
    stream_arg pa = {q, n, 1, 0, 0}, ga = {q, n, 1, 1, 0};
    pthread_t pt, gt;
    CHECK_EQ(pthread_create(&gt, NULL, stream_get_thread, &ga), 0);
    CHECK_EQ(pthread_create(&pt, NULL, stream_put_thread, &pa), 0);
    while (atomic_load(&q->powner) == 0)
      check_sleep(0.0005);
    CHECK_RC(mpk_queue_put(q, "x", 1, 0), MPK_EPERM); /* producer alive */
    atomic_store(&pa.release, 1);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_EQ(pthread_join(gt, NULL), 0);
    CHECK_EQ(ga.rc, 0);
    CHECK_EQ(pa.rc, 0);
    CHECK_EQ(mpk__queue_missed_wakes(q), 0);
    /* both owner threads are gone: this thread takes over both sides */
    pu_await_task_gone(getpid(), pa.tid);
    pu_await_task_gone(getpid(), ga.tid);
    CHECK_OK(mpk_queue_put(q, "end", 3, 0));
    char b[8];
    size_t len;
    CHECK_OK(mpk_queue_get(q, b, sizeof b, &len, 0));
    CHECK_EQ(len, 3);
    mpk_queue_free(q);
  }
}

/* Threads: close wakes a consumer thread blocked in get. */
static void *get_until_closed_thread(void *p) {
  targ *a = p;
  char b[8];
  size_t len;
  a->rc = mpk_queue_get(a->q, b, sizeof b, &len, CHECK_HANG_S);
  return NULL;
}

static void test_close_thread(void) {
  mpk_queue_t *q = new_spsc(64);
  targ a = {q, 1};
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, get_until_closed_thread, &a), 0);
  check_sleep(0.05);
  CHECK_OK(mpk_queue_close(q));
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_RC(a.rc, MPK_ECLOSED);
  mpk_queue_free(q);
}

int main(int argc, char **argv) {
  check_watchdog(60);
  /* a lost wake-up hangs (and a late waker only delays): queue_internal.h */
  mpk__queue_set_recheck(false);
  if (argc > 1 && strcmp(argv[1], "threads") == 0) {
    CHECK_RUN(test_stream_threads);
    CHECK_RUN(test_close_thread);
    return check_done();
  }
  CHECK_RUN(test_new_flags);
  CHECK_RUN(test_calls_and_errors);
  CHECK_RUN(test_wraparound);
  CHECK_RUN(test_owner_eperm_and_thread_takeover);
  CHECK_RUN(test_process_takeover);
  CHECK_RUN(test_close);
  CHECK_RUN(test_joinable);
  CHECK_RUN(test_edeadlk);
  CHECK_RUN(test_stream_processes);
  CHECK_RUN(test_stream_threads);
  return check_done();
}
