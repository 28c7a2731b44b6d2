/* process.api: every mpk_process_* call, its errors, exit codes, names,
 * argument copies and pids. */
#include <poll.h>
#include <signal.h>
#include <stdint.h>

#include "check.h"
#include "process-util.h"
#include "mpk/process.h"

/* ---- child bodies -------------------------------------------------------- */

static int segfault(void *arg) {
  (void)arg;
  signal(SIGSEGV, SIG_DFL); /* sanitizers catch SIGSEGV: take it raw */
  raise(SIGSEGV);
  return 0;
}

/* 0 if the copied argument is the string it was created with. */
static int check_hello(void *arg) {
  return arg != NULL && strcmp((const char *)arg, "hello") == 0 ? 0 : 1;
}

static int check_null_arg(void *arg) {
  return arg == NULL ? 0 : 1;
}

/* Write getpid() and getppid() to the fd passed as argument. */
static int report_pids(void *arg) {
  int fd = *(int *)arg;
  pid_t v[2] = {getpid(), getppid()};
  return write(fd, v, sizeof v) == (ssize_t)sizeof v ? 0 : 1;
}

/* ---- helpers ------------------------------------------------------------- */

static mpk_process_t *start_fn(mpk_process_fn fn, const void *arg,
                               size_t size) {
  mpk_process_t *p = NULL;
  CHECK_OK(mpk_process_new(&p, fn, arg, size, NULL));
  CHECK_OK(mpk_process_start(p));
  return p;
}

static int run_to_code(mpk_process_fn fn, const void *arg, size_t size) {
  mpk_process_t *p = start_fn(fn, arg, size);
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  int code = 1234;
  CHECK_OK(mpk_process_exitcode(p, &code));
  mpk_process_free(p);
  return code;
}

/* The N of a "Process-N" name. */
static long name_number(const char *name) {
  long n = -1;
  CHECK(sscanf(name, "Process-%ld", &n) == 1);
  return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_new_errors(void) {
  mpk_process_t *p = (mpk_process_t *)(uintptr_t)0x1;
  int x = 1;
  CHECK_RC(mpk_process_new(NULL, pu_ret_zero, NULL, 0, NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_new(&p, NULL, NULL, 0, NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_new(&p, pu_ret_zero, NULL, 4, NULL), MPK_EINVAL);
  mpk_process_opts o = {NULL, 2, NULL};
  CHECK_RC(mpk_process_new(&p, pu_ret_zero, &x, sizeof x, &o), MPK_EINVAL);
  o.daemon = -1;
  CHECK_RC(mpk_process_new(&p, pu_ret_zero, &x, sizeof x, &o), MPK_EINVAL);
  /* a failing call leaves *p alone */
  CHECK(p == (mpk_process_t *)(uintptr_t)0x1);
}

static void test_null_handles(void) {
  int code;
  CHECK_RC(mpk_process_start(NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_join(NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_process_is_alive(NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_terminate(NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_kill(NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_exitcode(NULL, &code), MPK_EINVAL);
  CHECK_EQ(mpk_process_pid(NULL), 0);
  CHECK(mpk_process_name(NULL) == NULL);
  mpk_process_free(NULL);
}

static void test_before_start(void) {
  mpk_process_t *p;
  int code = 42;
  CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, NULL));
  CHECK_RC(mpk_process_join(p, 0), MPK_ESTATE);
  CHECK_RC(mpk_process_join(p, MPK_FOREVER), MPK_ESTATE);
  CHECK_RC(mpk_process_terminate(p), MPK_ESTATE);
  CHECK_RC(mpk_process_kill(p), MPK_ESTATE);
  CHECK_RC(mpk_process_exitcode(p, &code), MPK_ESTATE);
  CHECK_EQ(code, 42);
  CHECK_EQ(mpk_process_is_alive(p), 0);
  CHECK_EQ(mpk_process_pid(p), 0);
  CHECK_RC(mpk_process_exitcode(p, NULL), MPK_EINVAL);
  mpk_process_free(p); /* never started: nothing to reap */
}

static void test_exit_codes(void) {
  int zero = 0, seven = 7, big = 256 + 3;
  CHECK_EQ(run_to_code(pu_ret_int, &zero, sizeof zero), 0);
  CHECK_EQ(run_to_code(pu_ret_int, &seven, sizeof seven), 7);
  CHECK_EQ(run_to_code(pu_ret_int, &big, sizeof big), 3); /* low 8 bits */
  CHECK_EQ(run_to_code(segfault, NULL, 0), -SIGSEGV);
}

static void test_kill_and_terminate(void) {
  mpk_process_t *p = start_fn(pu_pause_forever, NULL, 0);
  int code;
  CHECK_EQ(mpk_process_is_alive(p), 1);
  CHECK_RC(mpk_process_exitcode(p, &code), MPK_ESTATE); /* still running */
  CHECK_OK(mpk_process_kill(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_EQ(mpk_process_is_alive(p), 0);
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -9);
  /* on a dead child: no-ops */
  CHECK_OK(mpk_process_kill(p));
  CHECK_OK(mpk_process_terminate(p));
  CHECK_OK(mpk_process_join(p, 0)); /* already joined */
  CHECK_OK(mpk_process_join(p, MPK_FOREVER));
  mpk_process_free(p);

  p = start_fn(pu_pause_forever, NULL, 0);
  CHECK_OK(mpk_process_terminate(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_EQ(mpk_process_is_alive(p), 0);
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -15);
  mpk_process_free(p);
}

static void test_start_twice(void) {
  mpk_process_t *p = start_fn(pu_ret_zero, NULL, 0);
  pid_t pid = mpk_process_pid(p);
  CHECK_RC(mpk_process_start(p), MPK_ESTATE);
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_RC(mpk_process_start(p), MPK_ESTATE); /* also after it ended */
  CHECK_EQ(mpk_process_pid(p), pid);          /* kept after the end */
  mpk_process_free(p);
}

static void test_join_timeout(void) {
  mpk_process_t *p = start_fn(pu_pause_forever, NULL, 0);
  double t0 = check_now();
  CHECK_RC(mpk_process_join(p, 0), MPK_ETIMEDOUT);
  CHECK_RC(mpk_process_join(p, 0.3), MPK_ETIMEDOUT);
  double took = check_now() - t0;
  CHECK_MSG(took >= 0.3 && took < 30, "join(0.3) took %.3f s", took);
  CHECK_EQ(mpk_process_is_alive(p), 1);
  CHECK_RC(mpk_process_join(p, NAN), MPK_EINVAL);
  CHECK_OK(mpk_process_kill(p));
  CHECK_OK(mpk_process_join(p, MPK_FOREVER));
  mpk_process_free(p);
}

static void test_arg_copy(void) {
  char buf[32];
  strcpy(buf, "hello");
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, check_hello, buf, sizeof buf, NULL));
  strcpy(buf, "changed after new");
  CHECK_OK(mpk_process_start(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  int code;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(p);
  /* NULL / 0 and non-NULL / 0 both give the child NULL */
  CHECK_EQ(run_to_code(check_null_arg, NULL, 0), 0);
  CHECK_EQ(run_to_code(check_null_arg, buf, 0), 0);
}

static void test_pid(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, report_pids, &fds[1], sizeof fds[1], NULL));
  CHECK_EQ(mpk_process_pid(p), 0);
  CHECK_OK(mpk_process_start(p));
  pid_t v[2];
  CHECK_EQ(read(fds[0], v, sizeof v), sizeof v);
  CHECK_EQ(v[0], mpk_process_pid(p));
  CHECK_NE(v[0], getpid());
  CHECK_EQ(v[1], getpid());
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_EQ(mpk_process_pid(p), v[0]);
  mpk_process_free(p);
  close(fds[0]);
  close(fds[1]);
}

/* Names: Process-N counting every new() (custom names too), none for a
   failing new(); Process-N:k inside a child; current names. */
typedef struct {
  char self[64];    /* the child's expected own name */
  char lineage[64]; /* its default name: its children are lineage:k */
  int depth;        /* levels of grandchildren still to check */
} names_arg;

static int nested_names(void *arg) {
  const names_arg *a = arg;
  CHECK_STR(mpk_current_process_name(), a->self);
  char want[96];
  mpk_process_t *x, *y;
  CHECK_OK(mpk_process_new(&x, pu_ret_zero, NULL, 0, NULL));
  CHECK_OK(mpk_process_new(&y, pu_ret_zero, NULL, 0, NULL));
  snprintf(want, sizeof want, "%s:1", a->lineage);
  CHECK_STR(mpk_process_name(x), want);
  snprintf(want, sizeof want, "%s:2", a->lineage);
  CHECK_STR(mpk_process_name(y), want);
  mpk_process_free(x);
  mpk_process_free(y);
  if (a->depth > 0) {
    names_arg b = {.depth = a->depth - 1};
    snprintf(b.self, sizeof b.self, "%.60s:3", a->lineage);
    snprintf(b.lineage, sizeof b.lineage, "%.60s:3", a->lineage);
    mpk_process_t *c;
    CHECK_OK(mpk_process_new(&c, nested_names, &b, sizeof b, NULL));
    CHECK_STR(mpk_process_name(c), b.self);
    CHECK_OK(mpk_process_start(c));
    CHECK_OK(mpk_process_join(c, CHECK_HANG_S));
    int code;
    CHECK_OK(mpk_process_exitcode(c, &code));
    CHECK_EQ(code, 0);
    mpk_process_free(c);
  }
  return 0;
}

static void test_names(void) {
  CHECK_STR(mpk_current_process_name(), "MainProcess");
  mpk_process_t *a, *b, *c, *bad;
  CHECK_OK(mpk_process_new(&a, pu_ret_zero, NULL, 0, NULL));
  long n = name_number(mpk_process_name(a));
  CHECK(n >= 1);
  /* a custom name uses number n + 1; its children are Process-(n+1):k */
  names_arg wa = {.self = "worker", .depth = 1};
  snprintf(wa.lineage, sizeof wa.lineage, "Process-%ld", n + 1);
  mpk_process_opts o = {"worker", 0, NULL};
  CHECK_OK(mpk_process_new(&b, nested_names, &wa, sizeof wa, &o));
  CHECK_STR(mpk_process_name(b), "worker");
  CHECK_RC(mpk_process_new(&bad, NULL, NULL, 0, NULL), MPK_EINVAL);
  names_arg ca = {.depth = 1}; /* the failed new() used no number */
  snprintf(ca.self, sizeof ca.self, "Process-%ld", n + 2);
  snprintf(ca.lineage, sizeof ca.lineage, "Process-%ld", n + 2);
  CHECK_OK(mpk_process_new(&c, nested_names, &ca, sizeof ca, NULL));
  CHECK_STR(mpk_process_name(c), ca.self);

  int code;
  CHECK_OK(mpk_process_start(b));
  CHECK_OK(mpk_process_start(c));
  CHECK_OK(mpk_process_join(b, CHECK_HANG_S));
  CHECK_OK(mpk_process_join(c, CHECK_HANG_S));
  CHECK_OK(mpk_process_exitcode(b, &code));
  CHECK_EQ(code, 0);
  CHECK_OK(mpk_process_exitcode(c, &code));
  CHECK_EQ(code, 0);
  CHECK_STR(mpk_current_process_name(), "MainProcess");
  mpk_process_free(a);
  mpk_process_free(b);
  mpk_process_free(c);
}

/* A child cannot join, poll or signal its siblings through inherited
   handles. */
static int use_sibling(void *arg) {
  mpk_process_t *sib = *(mpk_process_t **)arg;
  int code;
  CHECK_RC(mpk_process_join(sib, 0), MPK_ECHILD);
  CHECK_RC(mpk_process_is_alive(sib), MPK_ECHILD);
  CHECK_RC(mpk_process_kill(sib), MPK_ECHILD);
  CHECK_RC(mpk_process_terminate(sib), MPK_ECHILD);
  CHECK_RC(mpk_process_exitcode(sib, &code), MPK_ECHILD);
  CHECK(mpk_process_pid(sib) > 0);
  mpk_process_free(sib); /* frees the child's copy only */
  return 0;
}

static void test_sibling_handles(void) {
  mpk_process_t *sib = start_fn(pu_pause_forever, NULL, 0);
  CHECK_EQ(run_to_code(use_sibling, &sib, sizeof sib), 0);
  CHECK_EQ(mpk_process_is_alive(sib), 1); /* untouched by the child */
  CHECK_OK(mpk_process_kill(sib));
  CHECK_OK(mpk_process_join(sib, CHECK_HANG_S));
  mpk_process_free(sib);
}

static void test_cpu_count(void) {
  CHECK(mpk_cpu_count() >= 1);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_names);
  CHECK_RUN(test_new_errors);
  CHECK_RUN(test_null_handles);
  CHECK_RUN(test_before_start);
  CHECK_RUN(test_exit_codes);
  CHECK_RUN(test_kill_and_terminate);
  CHECK_RUN(test_start_twice);
  CHECK_RUN(test_join_timeout);
  CHECK_RUN(test_arg_copy);
  CHECK_RUN(test_pid);
  CHECK_RUN(test_sibling_handles);
  CHECK_RUN(test_cpu_count);
  return check_done();
}
