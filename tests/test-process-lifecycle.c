/* process.lifecycle: what happens to children around free() and exit:
 * freed children are reaped (no zombie), daemon children are terminated and
 * the others joined at normal exit, a raw fork()'s child leaves its parent's
 * children alone; and binding to a cpuset. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>

#include "check.h"
#include "process-util.h"
#include "internal/spawn.h"
#include "mpk/process.h"

/* Block until a byte (or EOF) arrives on the fd given as argument. */
static int wait_byte(void *arg) {
  int fd = *(int *)arg;
  char c;
  while (read(fd, &c, 1) == -1 && errno == EINTR) {
  }
  return 0;
}

static void wait_exited(pid_t pid) {
  int fd = mpk__pidfd_open(pid);
  CHECK(fd >= 0);
  mpk__deadline d;
  mpk__deadline_init(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_exit(fd, &d));
  close(fd);
}

static void write_pid(int fd, pid_t pid) {
  CHECK_EQ(write(fd, &pid, sizeof pid), sizeof pid);
}

static pid_t read_pid(int fd) {
  pid_t pid = 0;
  CHECK_EQ(read(fd, &pid, sizeof pid), sizeof pid);
  return pid;
}

/* ---- free ---------------------------------------------------------------- */

static void test_free_running_leaves_no_zombie(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, wait_byte, &fds[0], sizeof fds[0], NULL));
  CHECK_OK(mpk_process_start(p));
  pid_t pid = mpk_process_pid(p);
  mpk_process_free(p); /* kills nothing */
  CHECK(!check_pid_gone(pid));
  CHECK_EQ(waitpid(pid, NULL, WNOHANG), 0); /* still running */
  CHECK_EQ(write(fds[1], "x", 1), 1);
  wait_exited(pid); /* a zombie now, until an mpk call reaps it */
  mpk_process_t *q;
  CHECK_OK(mpk_process_new(&q, pu_ret_zero, NULL, 0, NULL));
  CHECK(check_pid_gone(pid));
  mpk_process_free(q);
  close(fds[0]);
  close(fds[1]);
}

static void test_free_ended_and_unstarted(void) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p));
  pid_t pid = mpk_process_pid(p);
  wait_exited(pid);
  mpk_process_free(p); /* ended but never joined: free reaps it */
  CHECK(check_pid_gone(pid));
  CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, NULL));
  mpk_process_free(p);
}

/* ---- exit ---------------------------------------------------------------- */

/* Shared with the intermediates (each runs in its own forked process). */
static int g_fd = -1; /* a daemon child writes here from its SIGTERM handler */

static void on_term(int sig) {
  (void)sig;
  ssize_t w = write(g_fd, "T", 1);
  (void)w;
  _exit(0);
}

/* A daemon child: SIGTERM is blocked by its parent before the start, so it
   cannot arrive before the handler is installed. */
static int daemon_with_handler(void *arg) {
  g_fd = *(int *)arg;
  signal(SIGTERM, on_term);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &s, NULL);
  for (;;)
    pause();
  return 0;
}

static int daemon_ignoring_term(void *arg) {
  (void)arg;
  signal(SIGTERM, SIG_IGN);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &s, NULL);
  for (;;)
    pause();
  return 0;
}

typedef struct {
  int report; /* the intermediate writes its children's pids here */
  int out;    /* children write their marks here */
} exit_pipes;

static void block_term(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigprocmask(SIG_BLOCK, &s, NULL);
}

/* The intermediate starts one daemon (a handler daemon or one that ignores
   SIGTERM), reports its pid and exits normally (the atexit handling ends
   the daemon). For the handler daemon the grace is far longer than any
   stall of a loaded machine (the exit still returns as soon as the daemon
   has ended: check_wait bounds it by CHECK_HANG_S, below the grace); the
   daemon that ignores SIGTERM gets the real grace. */
typedef struct {
  exit_pipes pipes;
  int stubborn; /* 1: daemon_ignoring_term, 0: daemon_with_handler */
} exit_case;

static int intermediate_daemon(void *arg) {
  exit_case *ec = arg;
  block_term();
  mpk_process_opts o = {NULL, 1, NULL};
  mpk_process_t *d;
  if (ec->stubborn)
    CHECK_OK(mpk_process_new(&d, daemon_ignoring_term, NULL, 0, &o));
  else
    CHECK_OK(mpk_process_new(&d, daemon_with_handler, &ec->pipes.out,
                             sizeof(int), &o));
  CHECK_OK(mpk_process_start(d));
  write_pid(ec->pipes.report, mpk_process_pid(d));
  if (!ec->stubborn)
    mpk__set_daemon_grace(2 * CHECK_HANG_S);
  mpk_process_free(d); /* a freed daemon is still a daemon at exit */
  exit(0);             /* normal exit: runs the atexit handling */
}

/* Runs the intermediate; returns how long it took, the daemon reaped. */
static double run_exit_case(int stubborn, int *out_r) {
  int rep[2], out[2];
  CHECK(pipe(rep) == 0 && pipe(out) == 0);
  exit_case ec = {{rep[1], out[1]}, stubborn};
  double t0 = check_now();
  pid_t mid = check_fork(intermediate_daemon, &ec);
  close(rep[1]);
  close(out[1]);
  pid_t d = read_pid(rep[0]);
  check_wait_ok(mid, CHECK_HANG_S);
  double took = check_now() - t0;
  /* the intermediate reaped it before it ended: no zombie anywhere */
  CHECK(check_pid_gone(d));
  close(rep[0]);
  *out_r = out[0];
  return took;
}

static void test_daemons_end_with_parent_exit(void) {
  int out;
  run_exit_case(0, &out);
  char c = 0;
  CHECK_EQ(read(out, &c, 1), 1); /* a got SIGTERM (not SIGKILL) */
  CHECK_EQ(c, 'T');
  close(out);
  /* b ignores SIGTERM and is SIGKILLed after the grace */
  double took = run_exit_case(1, &out);
  CHECK_MSG(took >= MPK__DAEMON_GRACE * 0.9, "exit took only %.3f s", took);
  close(out);
}

/* Non-daemon children (one of them freed) are joined at normal exit. */
static int g_release = -1; /* write end the intermediate's atexit closes */

static void release_children(void) {
  close(g_release);
}

typedef struct {
  int release;   /* read end: EOF once the parent is exiting */
  int release_w; /* the write end, inherited: the child closes its copy */
  int out;
} late_arg;

static int late_writer(void *arg) {
  late_arg *la = arg;
  close(la->release_w);
  char c;
  while (read(la->release, &c, 1) == -1 && errno == EINTR) {
  }
  /* Long enough that PDEATHSIG would win if the parent did not join. */
  check_sleep(0.3);
  CHECK_EQ(write(la->out, "X", 1), 1);
  return 0;
}

static int intermediate_joins(void *arg) {
  exit_pipes *ep = arg;
  int rel[2];
  CHECK(pipe(rel) == 0);
  late_arg la = {rel[0], rel[1], ep->out};
  mpk_process_t *a, *b;
  CHECK_OK(mpk_process_new(&a, late_writer, &la, sizeof la, NULL));
  CHECK_OK(mpk_process_new(&b, late_writer, &la, sizeof la, NULL));
  CHECK_OK(mpk_process_start(a));
  CHECK_OK(mpk_process_start(b));
  close(rel[0]);
  write_pid(ep->report, mpk_process_pid(a));
  write_pid(ep->report, mpk_process_pid(b));
  mpk_process_free(b);
  /* Registered after mpk's handler (installed by the first start), so it
     runs first: the children can only finish once exit() has begun. */
  g_release = rel[1];
  atexit(release_children);
  exit(0);
}

static void test_non_daemons_joined_at_exit(void) {
  int rep[2], out[2];
  CHECK(pipe(rep) == 0 && pipe(out) == 0);
  exit_pipes ep = {rep[1], out[1]};
  pid_t mid = check_fork(intermediate_joins, &ep);
  close(rep[1]);
  close(out[1]);
  pid_t a = read_pid(rep[0]), b = read_pid(rep[0]);
  check_wait_ok(mid, 10);
  CHECK(check_pid_gone(a));
  CHECK(check_pid_gone(b));
  char buf[4];
  CHECK_EQ(read(out[0], buf, sizeof buf), 2); /* both wrote before the end */
  CHECK(buf[0] == 'X' && buf[1] == 'X');
  close(rep[0]);
  close(out[0]);
}

/* A raw fork()'s child that exits normally must not wait for, or terminate,
   its parent's children. */
static int exit_at_once(void *arg) {
  (void)arg;
  exit(0);
}

static void test_raw_fork_child_leaves_parents_children(void) {
  mpk_process_opts o = {NULL, 1, NULL};
  mpk_process_t *plain, *daemon;
  CHECK_OK(mpk_process_new(&plain, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_new(&daemon, pu_pause_forever, NULL, 0, &o));
  CHECK_OK(mpk_process_start(plain));
  CHECK_OK(mpk_process_start(daemon));
  check_wait_ok(check_fork(exit_at_once, NULL), 10); /* no join: no hang */
  CHECK_EQ(mpk_process_is_alive(plain), 1);
  CHECK_EQ(mpk_process_is_alive(daemon), 1); /* not terminated */
  CHECK_OK(mpk_process_kill(plain));
  CHECK_OK(mpk_process_kill(daemon));
  CHECK_OK(mpk_process_join(plain, CHECK_HANG_S));
  CHECK_OK(mpk_process_join(daemon, CHECK_HANG_S));
  mpk_process_free(plain);
  mpk_process_free(daemon);
}

/* ---- cpuset -------------------------------------------------------------- */

static int first_allowed_cpu(void) {
  cpu_set_t s;
  CHECK(sched_getaffinity(0, sizeof s, &s) == 0);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &s))
      return c;
  CHECK(0);
  return -1;
}

static int bound_to(void *arg) {
  int want = *(int *)arg;
  cpu_set_t s;
  if (sched_getaffinity(0, sizeof s, &s) != 0 || CPU_COUNT(&s) != 1 ||
      !CPU_ISSET(want, &s))
    return 1;
  return mpk_current_cpu() == want ? 0 : 2;
}

static void test_cpuset_binding(void) {
  int cpu = first_allowed_cpu(); /* "0" on the usual machine */
  char list[16];
  snprintf(list, sizeof list, "%d", cpu);
  mpk_process_opts o = {NULL, 0, list};
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, bound_to, &cpu, sizeof cpu, &o));
  list[0] = 'x'; /* the cpuset was copied */
  CHECK_OK(mpk_process_start(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  int code;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(p);
}

/* Bad cpusets fail start() in the parent; no child is created and the
   object stays unstarted. Runs in a fresh process that has no children. */
static int bad_cpusets(void *arg) {
  (void)arg;
  const char *bad[] = {"abc", "", "3-1", "99999", "0-", "core:100000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mpk_process_opts o = {NULL, 0, bad[i]};
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, &o));
    CHECK_RC(mpk_process_start(p), MPK_EINVAL);
    CHECK_EQ(mpk_process_pid(p), 0);
    CHECK_EQ(mpk_process_is_alive(p), 0);
    CHECK_RC(mpk_process_join(p, 0), MPK_ESTATE);
    CHECK_RC(mpk_process_start(p), MPK_EINVAL); /* still startable */
    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    mpk_process_free(p);
  }
  return 0;
}

static void test_cpuset_invalid(void) {
  check_wait_ok(check_fork(bad_cpusets, NULL), 10);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_free_running_leaves_no_zombie);
  CHECK_RUN(test_free_ended_and_unstarted);
  CHECK_RUN(test_daemons_end_with_parent_exit);
  CHECK_RUN(test_non_daemons_joined_at_exit);
  CHECK_RUN(test_raw_fork_child_leaves_parents_children);
  CHECK_RUN(test_cpuset_binding);
  CHECK_RUN(test_cpuset_invalid);
  return check_done();
}
