/* pipe.basic: every mpk_pipe / mpk_conn_* call and error code, for duplex
   (socketpair) and one-way (pipe(2)) pipes; EOF across fork; a 64 MiB
   message; EMSGSIZE keeps the message; timeouts; poll; no SIGPIPE. */
#include <poll.h>
#include <stdint.h>

#include "check.h"
#include "mpk/pipe.h"

/* ---- helpers ------------------------------------------------------------ */

static void send_str(mpk_conn_t *c, const char *s) {
  CHECK_OK(mpk_conn_send(c, s, strlen(s)));
}

static void recv_str(mpk_conn_t *c, const char *want) {
  char buf[256];
  size_t len = 0;
  CHECK_OK(mpk_conn_recv(c, buf, sizeof buf - 1, &len, CHECK_HANG_S));
  buf[len] = '\0';
  CHECK_STR(buf, want);
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    p[i] = (unsigned char)(x >> 24);
  }
}

typedef struct {
  mpk_conn_t *a, *b;
  size_t size;
} pair_arg;

/* ---- argument checking ------------------------------------------------ */

static void test_bad_arguments(void) {
  mpk_conn_t *a = NULL, *b = NULL;
  CHECK_RC(mpk_pipe(NULL, &b, 1), MPK_EINVAL);
  CHECK_RC(mpk_pipe(&a, NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_pipe(&a, &a, 1), MPK_EINVAL);
  CHECK_RC(mpk_pipe(&a, &b, 2), MPK_EINVAL);
  CHECK_RC(mpk_pipe(&a, &b, -1), MPK_EINVAL);
  CHECK(a == NULL && b == NULL); /* untouched on error */

  CHECK_OK(mpk_pipe(&a, &b, 1));
  char buf[8];
  size_t len = 99;
  void *p = NULL;
  CHECK_RC(mpk_conn_send(NULL, "x", 1), MPK_EINVAL);
  CHECK_RC(mpk_conn_send(a, NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv(NULL, buf, sizeof buf, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv(a, NULL, 4, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, NAN), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv_alloc(NULL, &p, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv_alloc(a, NULL, &len, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv_alloc(a, &p, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv_alloc(a, &p, &len, NAN), MPK_EINVAL);
  CHECK_RC(mpk_conn_poll(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_poll(a, NAN), MPK_EINVAL);
  CHECK_RC(mpk_conn_close(NULL), MPK_EINVAL);
  CHECK_RC(mpk_conn_fileno(NULL), MPK_EINVAL);
  CHECK(p == NULL);
  CHECK_EQ(len, 99); /* failed calls change nothing */
  /* the pipe still works after all those failures */
  send_str(a, "still fine");
  recv_str(b, "still fine");
  mpk_conn_free(a);
  mpk_conn_free(b);
  mpk_conn_free(NULL); /* no-op */
}

/* ---- messages ----------------------------------------------------------- */

static void test_duplex_both_ways(void) {
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, 1));
  CHECK(mpk_conn_fileno(a) >= 0);
  CHECK(mpk_conn_fileno(b) >= 0);
  CHECK_NE(mpk_conn_fileno(a), mpk_conn_fileno(b));
  send_str(a, "ping");
  send_str(a, "second");
  send_str(b, "pong");
  recv_str(b, "ping");
  recv_str(a, "pong");
  recv_str(b, "second");
  /* zero-length messages are messages */
  CHECK_OK(mpk_conn_send(a, NULL, 0));
  CHECK_OK(mpk_conn_send(a, "", 0));
  send_str(a, "after");
  size_t len = 7;
  char buf[16];
  CHECK_OK(mpk_conn_recv(b, NULL, 0, &len, 1));
  CHECK_EQ(len, 0);
  void *p = NULL;
  CHECK_OK(mpk_conn_recv_alloc(b, &p, &len, 1));
  CHECK(p != NULL);
  CHECK_EQ(len, 0);
  free(p);
  CHECK_OK(mpk_conn_recv(b, buf, sizeof buf, &len, 1));
  CHECK_EQ(len, 5);
  CHECK(memcmp(buf, "after", 5) == 0);
  mpk_conn_free(a);
  mpk_conn_free(b);
}

static void test_oneway_roles(void) {
  mpk_conn_t *r, *w;
  CHECK_OK(mpk_pipe(&r, &w, 0));
  char buf[16];
  size_t len = 0;
  void *p = NULL;
  /* a receives, b sends: the wrong direction is MPK_ENOTSUP */
  CHECK_RC(mpk_conn_send(r, "x", 1), MPK_ENOTSUP);
  CHECK_RC(mpk_conn_recv(w, buf, sizeof buf, &len, 0), MPK_ENOTSUP);
  CHECK_RC(mpk_conn_recv_alloc(w, &p, &len, 0), MPK_ENOTSUP);
  CHECK_RC(mpk_conn_poll(w, 0), MPK_ENOTSUP);
  CHECK(mpk_conn_fileno(r) >= 0 && mpk_conn_fileno(w) >= 0);
  send_str(w, "one");
  send_str(w, "two");
  recv_str(r, "one");
  CHECK_OK(mpk_conn_recv_alloc(r, &p, &len, 1));
  CHECK_EQ(len, 3);
  CHECK(memcmp(p, "two", 3) == 0);
  free(p);
  mpk_conn_free(r);
  mpk_conn_free(w);
}

static void emsgsize_keeps(int duplex) {
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, duplex));
  mpk_conn_t *rx = a, *tx = b; /* one-way: a receives */
  unsigned char big[1000], out[1000];
  fill_pattern(big, sizeof big, 7);
  CHECK_OK(mpk_conn_send(tx, big, sizeof big));
  send_str(tx, "next");
  size_t len = 0;
  CHECK_RC(mpk_conn_recv(rx, out, 10, &len, 1), MPK_EMSGSIZE);
  CHECK_EQ(len, sizeof big);
  len = 0;
  CHECK_RC(mpk_conn_recv(rx, NULL, 0, &len, 1), MPK_EMSGSIZE); /* size query */
  CHECK_EQ(len, sizeof big);
  CHECK_EQ(mpk_conn_poll(rx, 0), 1); /* the message is still there */
  CHECK_RC(mpk_conn_recv(rx, out, sizeof big - 1, &len, 1), MPK_EMSGSIZE);
  CHECK_OK(mpk_conn_recv(rx, out, sizeof out, &len, 1));
  CHECK_EQ(len, sizeof big);
  CHECK(memcmp(out, big, sizeof big) == 0);
  recv_str(rx, "next");
  /* EMSGSIZE then recv_alloc */
  CHECK_OK(mpk_conn_send(tx, big, 100));
  CHECK_RC(mpk_conn_recv(rx, out, 99, &len, 1), MPK_EMSGSIZE);
  void *p = NULL;
  CHECK_OK(mpk_conn_recv_alloc(rx, &p, &len, 1));
  CHECK_EQ(len, 100);
  CHECK(memcmp(p, big, 100) == 0);
  free(p);
  CHECK_RC(mpk_conn_recv(rx, out, sizeof out, &len, 0), MPK_ETIMEDOUT);
  mpk_conn_free(a);
  mpk_conn_free(b);
}

static void test_emsgsize_keeps_message(void) {
  emsgsize_keeps(1);
  emsgsize_keeps(0);
}

static void test_recv_timeout(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpk_conn_t *a, *b;
    CHECK_OK(mpk_pipe(&a, &b, duplex));
    char buf[8];
    size_t len = 5;
    void *p = NULL;
    double t0 = check_now();
    CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 0), MPK_ETIMEDOUT);
    CHECK(check_now() - t0 < CHECK_HANG_S);
    t0 = check_now();
    CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 0.1), MPK_ETIMEDOUT);
    double dt = check_now() - t0;
    CHECK_MSG(dt >= 0.1 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
    t0 = check_now();
    CHECK_RC(mpk_conn_recv_alloc(a, &p, &len, 0.05), MPK_ETIMEDOUT);
    dt = check_now() - t0;
    CHECK_MSG(dt >= 0.05 && dt < CHECK_HANG_S, "timed out after %.3f s", dt);
    CHECK(p == NULL);
    CHECK_EQ(len, 5);
    /* a message that arrives later is received normally */
    send_str(b, "late");
    recv_str(a, "late");
    mpk_conn_free(a);
    mpk_conn_free(b);
  }
}

static void test_poll(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpk_conn_t *a, *b;
    CHECK_OK(mpk_pipe(&a, &b, duplex));
    CHECK_EQ(mpk_conn_poll(a, 0), 0);
    double t0 = check_now();
    CHECK_EQ(mpk_conn_poll(a, 0.1), 0);
    double dt = check_now() - t0;
    CHECK_MSG(dt >= 0.1 && dt < CHECK_HANG_S, "poll waited %.3f s", dt);
    send_str(b, "x");
    CHECK_EQ(mpk_conn_poll(a, 0), 1);
    CHECK_EQ(mpk_conn_poll(a, MPK_FOREVER), 1);
    CHECK_EQ(mpk_conn_poll(a, 0), 1); /* poll consumes nothing */
    recv_str(a, "x");
    CHECK_EQ(mpk_conn_poll(a, 0), 0);
    /* EOF pending counts as readable */
    CHECK_OK(mpk_conn_close(b));
    CHECK_EQ(mpk_conn_poll(a, 0), 1);
    char buf[4];
    size_t len;
    CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 0), MPK_EEOF);
    mpk_conn_free(a);
    mpk_conn_free(b);
  }
}

static void test_close_and_use_after_close(void) {
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, 1));
  CHECK_OK(mpk_conn_close(a));
  CHECK_RC(mpk_conn_close(a), MPK_ECLOSED);
  char buf[4];
  size_t len = 0;
  void *p = NULL;
  CHECK_RC(mpk_conn_send(a, "x", 1), MPK_ECLOSED);
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 0), MPK_ECLOSED);
  CHECK_RC(mpk_conn_recv_alloc(a, &p, &len, 0), MPK_ECLOSED);
  CHECK_RC(mpk_conn_poll(a, 0), MPK_ECLOSED);
  CHECK_RC(mpk_conn_fileno(a), MPK_ECLOSED);
  mpk_conn_free(a); /* free after close */
  mpk_conn_free(b); /* free of an open end closes it */
}

static void test_eof_same_process(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpk_conn_t *a, *b;
    CHECK_OK(mpk_pipe(&a, &b, duplex));
    send_str(b, "m1");
    send_str(b, "m2");
    CHECK_OK(mpk_conn_close(b));
    /* queued messages drain first, then EOF, repeatedly */
    recv_str(a, "m1");
    recv_str(a, "m2");
    char buf[4];
    size_t len;
    void *p = NULL;
    CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, MPK_FOREVER), MPK_EEOF);
    CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 0), MPK_EEOF);
    CHECK_RC(mpk_conn_recv_alloc(a, &p, &len, 1), MPK_EEOF);
    if (duplex) /* the peer of a's sending side is gone too */
      CHECK_RC(mpk_conn_send(a, "x", 1), MPK_ECLOSED);
    mpk_conn_free(a);
    mpk_conn_free(b);
  }
}

/* ---- across fork ---------------------------------------------------------
 */

static int child_sends_three(void *arg) {
  pair_arg *pa = arg;
  mpk_conn_close(pa->a); /* this process never reads */
  send_str(pa->b, "0");
  send_str(pa->b, "1");
  send_str(pa->b, "2");
  CHECK_OK(mpk_conn_close(pa->b));
  return 0;
}

static void test_eof_across_fork(void) {
  for (int duplex = 0; duplex <= 1; duplex++) {
    pair_arg pa;
    CHECK_OK(mpk_pipe(&pa.a, &pa.b, duplex));
    pid_t pid = check_fork(child_sends_three, &pa);
    recv_str(pa.a, "0");
    recv_str(pa.a, "1");
    recv_str(pa.a, "2");
    check_wait_ok(pid, 10);
    /* The child closed its copy and exited, but this process still holds
       its own copy of the send end: no EOF yet, just a timeout. */
    char buf[4];
    size_t len;
    CHECK_RC(mpk_conn_recv(pa.a, buf, sizeof buf, &len, 0.1), MPK_ETIMEDOUT);
    CHECK_EQ(mpk_conn_poll(pa.a, 0), 0);
    CHECK_OK(mpk_conn_close(pa.b));
    CHECK_EQ(mpk_conn_poll(pa.a, 1), 1);
    CHECK_RC(mpk_conn_recv(pa.a, buf, sizeof buf, &len, 1), MPK_EEOF);
    mpk_conn_free(pa.a);
    mpk_conn_free(pa.b);
  }
}

/* Child: receive one big message on a (duplex) and answer its checksum. */
static int child_checksum(void *arg) {
  pair_arg *pa = arg;
  void *p = NULL;
  size_t len = 0;
  CHECK_OK(mpk_conn_recv_alloc(pa->b, &p, &len, 30));
  CHECK_EQ(len, pa->size);
  uint64_t h = fnv1a(p, len);
  free(p);
  CHECK_OK(mpk_conn_send(pa->b, &h, sizeof h));
  return 0;
}

/* Child: send one big message on a one-way pipe. */
static int child_big_sender(void *arg) {
  pair_arg *pa = arg;
  mpk_conn_close(pa->a);
  unsigned char *p = malloc(pa->size);
  CHECK(p != NULL);
  fill_pattern(p, pa->size, 64);
  CHECK_OK(mpk_conn_send(pa->b, p, pa->size));
  free(p);
  return 0;
}

static void test_64mib_message(void) {
  const size_t size = (size_t)64 << 20;
  unsigned char *msg = malloc(size);
  CHECK(msg != NULL);
  fill_pattern(msg, size, 64);
  uint64_t want = fnv1a(msg, size);

  /* duplex: parent -> child, the child answers the checksum */
  pair_arg pa = {.size = size};
  CHECK_OK(mpk_pipe(&pa.a, &pa.b, 1));
  pid_t pid = check_fork(child_checksum, &pa);
  CHECK_OK(mpk_conn_send(pa.a, msg, size));
  uint64_t got = 0;
  size_t len = 0;
  CHECK_OK(mpk_conn_recv(pa.a, &got, sizeof got, &len, 30));
  CHECK_EQ(len, sizeof got);
  CHECK(got == want);
  check_wait_ok(pid, 30);
  mpk_conn_free(pa.a);
  mpk_conn_free(pa.b);

  /* one-way: child -> parent into the caller's buffer, then EOF */
  CHECK_OK(mpk_pipe(&pa.a, &pa.b, 0));
  pid = check_fork(child_big_sender, &pa);
  CHECK_OK(mpk_conn_close(pa.b));
  memset(msg, 0, size);
  CHECK_OK(mpk_conn_recv(pa.a, msg, size, &len, 30));
  CHECK_EQ(len, size);
  CHECK(fnv1a(msg, size) == want);
  CHECK_RC(mpk_conn_recv(pa.a, msg, size, &len, 30), MPK_EEOF);
  check_wait_ok(pid, 30);
  mpk_conn_free(pa.a);
  mpk_conn_free(pa.b);
  free(msg);
}

/* A receive that times out part-way through a message keeps what it read;
   the next receive completes the same message. The sender is stopped with
   SIGSTOP after its first bytes arrive, and the test waits until the kernel
   reports it stopped (kill() only queues the signal: a sender that never
   has to wait inside its one big write() would finish the whole message
   before it notices the signal). Once it is stopped, at most the kernel's
   buffer of the message is readable, far less than its size, so the
   message cannot complete however fast or slow the machine is. */
static void partial_then_complete(int duplex) {
  const size_t size = (size_t)8 << 20;
  pair_arg pa = {.size = size};
  CHECK_OK(mpk_pipe(&pa.a, &pa.b, duplex));
  pid_t pid = check_fork(child_big_sender, &pa);
  CHECK_EQ(mpk_conn_poll(pa.a, CHECK_HANG_S), 1);
  CHECK_EQ(kill(pid, SIGSTOP), 0);
  int st = 0;
  CHECK_EQ(waitpid(pid, &st, WUNTRACED), pid);
  CHECK(WIFSTOPPED(st));
  unsigned char *buf = malloc(size);
  CHECK(buf != NULL);
  size_t len = 0;
  CHECK_RC(mpk_conn_recv(pa.a, buf, size, &len, 0.05), MPK_ETIMEDOUT);
  CHECK_EQ(mpk_conn_poll(pa.a, 0), 1); /* part of a message is buffered */
  CHECK_RC(mpk_conn_recv(pa.a, buf, 1, &len, 0), MPK_EMSGSIZE);
  CHECK_EQ(len, size);
  CHECK_RC(mpk_conn_recv(pa.a, buf, size, &len, 0), MPK_ETIMEDOUT);
  memset(buf, 0, size);
  CHECK_EQ(kill(pid, SIGCONT), 0);
  CHECK_OK(mpk_conn_recv(pa.a, buf, size, &len, 30));
  CHECK_EQ(len, size);
  unsigned char *want = malloc(size);
  CHECK(want != NULL);
  fill_pattern(want, size, 64);
  CHECK(memcmp(buf, want, size) == 0);
  check_wait_ok(pid, 30);
  CHECK_OK(mpk_conn_close(pa.b));
  CHECK_RC(mpk_conn_recv(pa.a, buf, size, &len, CHECK_HANG_S), MPK_EEOF);
  mpk_conn_free(pa.a);
  mpk_conn_free(pa.b);
  free(buf);
  free(want);
}

static void test_timeout_mid_message_keeps_it(void) {
  partial_then_complete(0);
  partial_then_complete(1);
}

/* ---- SIGPIPE -------------------------------------------------------------
 */

static volatile sig_atomic_t sigpipe_seen;
static void on_sigpipe(int sig) {
  (void)sig;
  sigpipe_seen++;
}

/* Runs in a child with the default SIGPIPE disposition (terminate): a
   SIGPIPE that leaked would kill it. */
static int child_send_to_closed(void *arg) {
  (void)arg;
  signal(SIGPIPE, SIG_DFL);
  for (int duplex = 0; duplex <= 1; duplex++) {
    mpk_conn_t *a, *b;
    CHECK_OK(mpk_pipe(&a, &b, duplex));
    CHECK_OK(mpk_conn_close(a)); /* the only receiver of b */
    CHECK_RC(mpk_conn_send(b, "x", 1), MPK_ECLOSED);
    CHECK_RC(mpk_conn_send(b, NULL, 0), MPK_ECLOSED);
    unsigned char big[100000] = {0};
    CHECK_RC(mpk_conn_send(b, big, sizeof big), MPK_ECLOSED);
    mpk_conn_free(a);
    mpk_conn_free(b);
  }
  /* A handler is not called either, and no SIGPIPE is left pending. */
  signal(SIGPIPE, on_sigpipe);
  mpk_conn_t *r, *w;
  CHECK_OK(mpk_pipe(&r, &w, 0));
  mpk_conn_close(r);
  CHECK_RC(mpk_conn_send(w, "x", 1), MPK_ECLOSED);
  CHECK_EQ(sigpipe_seen, 0);
  sigset_t pend;
  sigpending(&pend);
  CHECK(!sigismember(&pend, SIGPIPE));
  /* A SIGPIPE the caller already had pending (blocked) is not consumed. */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  raise(SIGPIPE);
  CHECK_RC(mpk_conn_send(w, "x", 1), MPK_ECLOSED);
  sigpending(&pend);
  CHECK(sigismember(&pend, SIGPIPE));
  pthread_sigmask(SIG_SETMASK, &old, NULL); /* delivered now: exactly one */
  CHECK_EQ(sigpipe_seen, 1);
  /* and the caller's signal mask is restored by every send */
  pthread_sigmask(SIG_SETMASK, NULL, &set);
  CHECK(!sigismember(&set, SIGPIPE));
  mpk_conn_free(r);
  mpk_conn_free(w);
  return 0;
}

static void test_no_sigpipe(void) {
  pid_t pid = check_fork(child_send_to_closed, NULL);
  int st = check_wait(pid, 20);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s %d",
            WIFEXITED(st) ? "exited" : "killed by signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* A stream of messages of mixed sizes (0 .. 3x the receive buffer)
   received in every way: into a buffer, with recv_alloc, after a too-small
   buffer, with timeout 0 polling. Exercises frames split across reads,
   several frames in one read, and large frames read straight through. */
enum { MIX_N = 3000, MIX_MAX = 200000 };

static size_t mix_len(unsigned i) {
  uint32_t x = i * 2654435761u;
  switch (i % 4) {
  case 0: return x % 64;
  case 1: return x % 2048;
  case 2: return x % 70000;
  default: return x % MIX_MAX;
  }
}

static int child_sends_mix(void *arg) {
  pair_arg *pa = arg;
  unsigned char *buf = malloc(MIX_MAX);
  CHECK(buf != NULL);
  for (unsigned i = 0; i < MIX_N; i++) {
    size_t n = mix_len(i);
    fill_pattern(buf, n, i);
    CHECK_OK(mpk_conn_send(pa->b, buf, n));
  }
  free(buf);
  return 0;
}

static void mixed_sizes(int duplex) {
  pair_arg pa;
  CHECK_OK(mpk_pipe(&pa.a, &pa.b, duplex));
  pid_t pid = check_fork(child_sends_mix, &pa);
  CHECK_OK(mpk_conn_close(pa.b));
  unsigned char *buf = malloc(MIX_MAX), *want = malloc(MIX_MAX);
  CHECK(buf != NULL && want != NULL);
  for (unsigned i = 0; i < MIX_N; i++) {
    size_t n = mix_len(i), len = 0;
    fill_pattern(want, n, i);
    const unsigned char *got = buf;
    void *p = NULL;
    switch (i % 5) {
    case 0: CHECK_OK(mpk_conn_recv(pa.a, buf, MIX_MAX, &len, 30)); break;
    case 1:
      CHECK_OK(mpk_conn_recv_alloc(pa.a, &p, &len, 30));
      got = p;
      break;
    case 2:
      if (n > 0) {
        CHECK_RC(mpk_conn_recv(pa.a, buf, n - 1, &len, 30), MPK_EMSGSIZE);
        CHECK_EQ(len, n);
      }
      CHECK_OK(mpk_conn_recv(pa.a, buf, n, &len, 30));
      break;
    case 3: {
      int r;
      double end = check_now() + 30;
      while ((r = mpk_conn_recv(pa.a, buf, MIX_MAX, &len, 0)) == MPK_ETIMEDOUT)
        CHECK(check_now() < end);
      CHECK_OK(r);
      break;
    }
    default:
      CHECK_EQ(mpk_conn_poll(pa.a, 30), 1);
      CHECK_OK(mpk_conn_recv(pa.a, buf, MIX_MAX, &len, MPK_FOREVER));
    }
    CHECK_EQ(len, n);
    CHECK(n == 0 || memcmp(got, want, n) == 0);
    free(p);
  }
  size_t len;
  CHECK_RC(mpk_conn_recv(pa.a, buf, MIX_MAX, &len, 30), MPK_EEOF);
  check_wait_ok(pid, 30);
  free(buf);
  free(want);
  mpk_conn_free(pa.a);
  mpk_conn_free(pa.b);
}

static void test_mixed_sizes_stream(void) {
  mixed_sizes(0);
  mixed_sizes(1);
}

/* The receiver reads ahead: one read can take several queued messages into
   the handle. They stay with that handle, including its copy in a child
   forked afterwards, which receives them in order. */
static int child_reads_rest(void *arg) {
  pair_arg *pa = arg;
  recv_str(pa->a, "second");
  recv_str(pa->a, "third");
  send_str(pa->b, "fourth"); /* the rest of the stream follows */
  recv_str(pa->a, "fourth");
  return 0;
}

static void test_read_ahead_inherited_by_fork(void) {
  pair_arg pa;
  CHECK_OK(mpk_pipe(&pa.a, &pa.b, 0));
  send_str(pa.b, "first");
  send_str(pa.b, "second");
  send_str(pa.b, "third");
  recv_str(pa.a, "first");
  check_wait_ok(check_fork(child_reads_rest, &pa), 10);
  mpk_conn_free(pa.a);
  mpk_conn_free(pa.b);
}

/* An end can be handed to another process once its handle is drained: the
   first process receives everything sent so far and exits; the next one
   receives what is sent afterwards. */
static int child_reads_one(void *arg) {
  pair_arg *pa = arg;
  recv_str(pa->a, "first");
  CHECK_EQ(mpk_conn_poll(pa->a, 0), 0); /* nothing left in the handle */
  return 0;
}

static int child_reads_two(void *arg) {
  pair_arg *pa = arg;
  recv_str(pa->a, "second");
  recv_str(pa->a, "third");
  return 0;
}

static void test_handoff_between_processes(void) {
  pair_arg pa;
  CHECK_OK(mpk_pipe(&pa.a, &pa.b, 0));
  send_str(pa.b, "first");
  check_wait_ok(check_fork(child_reads_one, &pa), 10);
  send_str(pa.b, "second");
  send_str(pa.b, "third");
  check_wait_ok(check_fork(child_reads_two, &pa), 10);
  mpk_conn_free(pa.a);
  mpk_conn_free(pa.b);
}

static void test_fileno_pollable(void) {
  mpk_conn_t *a, *b;
  CHECK_OK(mpk_pipe(&a, &b, 0));
  send_str(b, "x");
  struct pollfd p = {.fd = mpk_conn_fileno(a), .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 1000), 1);
  recv_str(a, "x");
  mpk_conn_free(a);
  mpk_conn_free(b);
}

int main(void) {
  check_watchdog(110); /* ~3 s normally; sanitizer builds are slower */
  CHECK_RUN(test_bad_arguments);
  CHECK_RUN(test_duplex_both_ways);
  CHECK_RUN(test_oneway_roles);
  CHECK_RUN(test_emsgsize_keeps_message);
  CHECK_RUN(test_recv_timeout);
  CHECK_RUN(test_poll);
  CHECK_RUN(test_close_and_use_after_close);
  CHECK_RUN(test_eof_same_process);
  CHECK_RUN(test_eof_across_fork);
  CHECK_RUN(test_64mib_message);
  CHECK_RUN(test_timeout_mid_message_keeps_it);
  CHECK_RUN(test_no_sigpipe);
  CHECK_RUN(test_mixed_sizes_stream);
  CHECK_RUN(test_read_ahead_inherited_by_fork);
  CHECK_RUN(test_handoff_between_processes);
  CHECK_RUN(test_fileno_pollable);
  return check_done();
}
