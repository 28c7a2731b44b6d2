/* tests/check.h - assertions, a watchdog and fork helpers for mpk's tests.
 *
 * Each test program is a set of `static void test_x(void)` run from main()
 * with CHECK_RUN(test_x). A failed CHECK prints file:line and the values and
 * exits 1 (in a forked child too, so the parent sees the failure). The
 * program ends with check_done(), which prints "N passed, 0 failed".
 * check_watchdog(s) turns a hang into a failure: after s seconds (at least
 * CHECK_WATCHDOG_MIN_S) it kills the whole process group (the test and
 * every child it forked) and exits.
 */
#ifndef MPK_TESTS_CHECK_H
#define MPK_TESTS_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpk/error.h"

/* The bound, in seconds, of "this returns and does not hang": a call that
   must come back at once, or a process that must go, is checked against
   CHECK_HANG_S, never against a latency a loaded machine can exceed.
   Latencies are measured by benchmarks and by mpk-chaos, not asserted. */
#define CHECK_HANG_S 30.0

static int check__passed;
static const char *check__current = "?";

#define CHECK__FAIL(...)                                                       \
  do {                                                                         \
    fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, check__current);        \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    fflush(stderr);                                                            \
    _exit(1);                                                                  \
  } while (0)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      CHECK__FAIL("CHECK(%s) failed", #cond);                                  \
  } while (0)

#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    if (!(cond))                                                               \
      CHECK__FAIL(__VA_ARGS__);                                                \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    long long check__a = (long long)(a), check__b = (long long)(b);            \
    if (check__a != check__b)                                                  \
      CHECK__FAIL("%s == %s failed: %lld != %lld", #a, #b, check__a,           \
                  check__b);                                                   \
  } while (0)

#define CHECK_NE(a, b)                                                         \
  do {                                                                         \
    long long check__a = (long long)(a), check__b = (long long)(b);            \
    if (check__a == check__b)                                                  \
      CHECK__FAIL("%s != %s failed: both %lld", #a, #b, check__a);             \
  } while (0)

#define CHECK_STR(a, b)                                                        \
  do {                                                                         \
    const char *check__a = (a), *check__b = (b);                               \
    if (check__a == NULL || check__b == NULL || strcmp(check__a, check__b))    \
      CHECK__FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b,                 \
                  check__a ? check__a : "(null)",                              \
                  check__b ? check__b : "(null)");                             \
  } while (0)

/* mpk_errmsg() (never NULL) contains every one of the strings. */
#define CHECK_ERRMSG(...)                                                      \
  do {                                                                         \
    const char *check__w[] = {__VA_ARGS__, NULL};                              \
    const char *check__m = mpk_errmsg();                                       \
    CHECK(check__m != NULL);                                                   \
    for (int check__i = 0; check__w[check__i]; check__i++)                     \
      CHECK_MSG(strstr(check__m, check__w[check__i]) != NULL,                  \
                "mpk_errmsg() \"%s\" lacks \"%s\"", check__m,                  \
                check__w[check__i]);                                           \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
  do {                                                                         \
    double check__a = (a), check__b = (b);                                     \
    if (!(fabs(check__a - check__b) <= (tol)))                                 \
      CHECK__FAIL("%s ~ %s failed: %.17g vs %.17g (tol %g)", #a, #b, check__a, \
                  check__b, (double)(tol));                                    \
  } while (0)

/* An mpk call that must return `code` (MPK_OK, MPK_EINVAL, ...). */
#define CHECK_RC(call, code)                                                   \
  do {                                                                         \
    int check__r = (call), check__want = (code);                               \
    if (check__r != check__want)                                               \
      CHECK__FAIL("%s returned %s (%d), expected %s", #call,                   \
                  mpk_err_name(check__r), check__r,                            \
                  mpk_err_name(check__want));                                  \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, MPK_OK)

#define CHECK_RUN(fn)                                                          \
  do {                                                                         \
    check__current = #fn;                                                      \
    fn();                                                                      \
    check__passed++;                                                           \
    printf("ok - %s\n", #fn);                                                  \
    fflush(stdout);                                                            \
  } while (0)

static inline int check_done(void) {
  printf("%d passed, 0 failed\n", check__passed);
  return 0;
}

static inline double check_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void check_sleep(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static void check__alarm(int sig) {
  (void)sig;
  static const char msg[] = "check: watchdog fired: the test hung\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  signal(SIGTERM, SIG_IGN);
  kill(0, SIGKILL); /* the process group: us and every child */
  _exit(3);
}

/* The shortest watchdog: a correct run may be descheduled for up to
   CHECK_HANG_S inside any wait (and more than once), so a program's budget
   is never below two of them. */
#define CHECK_WATCHDOG_MIN_S ((unsigned)(2 * CHECK_HANG_S))

/* Make this test the leader of its own process group and arm a watchdog of
   `seconds` (at least CHECK_WATCHDOG_MIN_S): the budget of the whole
   program, so give a long-running one more. */
static inline void check_watchdog(unsigned seconds) {
  setpgid(0, 0);
  signal(SIGALRM, check__alarm);
  alarm(seconds < CHECK_WATCHDOG_MIN_S ? CHECK_WATCHDOG_MIN_S : seconds);
}

/* Fork; the child runs fn(arg) and _exits with its return value. The child
   dies with the test (PR_SET_PDEATHSIG). Returns the child's pid. */
static inline pid_t check_fork(int (*fn)(void *), void *arg) {
  fflush(NULL);
  pid_t parent = getpid();
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(99);
    alarm(0);
    int rc = fn(arg);
    fflush(NULL);
    _exit(rc);
  }
  return pid;
}

/* Wait for pid up to `timeout` seconds, never less than CHECK_HANG_S (a
   child that must end is only checked against a hang bound; pass more for
   one with long work). It is SIGKILLed and the test fails when it takes
   longer. Returns the wait status. */
static inline int check_wait(pid_t pid, double timeout) {
  if (!(timeout >= CHECK_HANG_S))
    timeout = CHECK_HANG_S;
  double end = check_now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    CHECK(r == 0);
    if (check_now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      CHECK__FAIL("child %d did not finish within %.1f s", (int)pid, timeout);
    }
    check_sleep(0.001);
  }
}

/* Wait for pid (as check_wait) and require a normal exit with code 0. */
static inline void check_wait_ok(pid_t pid, double timeout) {
  int st = check_wait(pid, timeout);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed: %s %d",
            (int)pid, WIFEXITED(st) ? "exit" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* 1 when process pid no longer exists (not even as a zombie of ours). */
static inline int check_pid_gone(pid_t pid) {
  return kill(pid, 0) == -1 && errno == ESRCH;
}

/* 1 once pid no longer exists, 0 if it still does after timeout seconds
   (a hang bound, not a latency). For a child the kernel reaps itself
   (SIGCHLD ignored): its parent's wait returns ECHILD as soon as the child
   is dead, a moment before the kernel releases its pid, so check_pid_gone
   right after that wait can still find it. */
static inline int check_pid_gone_within(pid_t pid, double timeout) {
  double t0 = check_now();
  while (!check_pid_gone(pid)) {
    if (check_now() - t0 > timeout)
      return 0;
    check_sleep(0.0005);
  }
  return 1;
}

#endif
