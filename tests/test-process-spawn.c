/* process.spawn: the internal fork layer (internal/spawn.h) that the process
 * module and the pool's process backend share. */
#include <fcntl.h>
#include <signal.h>

#include "check.h"
#include "process-util.h"
#include "internal/spawn.h"

static void deadline(mpk__deadline *d, double s) {
  CHECK_OK(mpk__deadline_init(d, s));
}

/* A raw child blocked until a byte or EOF arrives on fd. */
static int wait_fd(void *arg) {
  int fd = *(int *)arg;
  char c;
  while (read(fd, &c, 1) == -1 && errno == EINTR) {
  }
  return 5;
}

static pid_t gone_pid(void) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0)
    _exit(0);
  CHECK_EQ(waitpid(pid, NULL, 0), pid);
  return pid; /* reaped: no longer our child, almost surely unused */
}

static void test_status_to_exitcode(void) {
  pid_t pid = fork();
  if (pid == 0)
    _exit(7);
  int st;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  CHECK_EQ(mpk__status_to_exitcode(st), 7);
  pid = fork();
  if (pid == 0)
    _exit(0);
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  CHECK_EQ(mpk__status_to_exitcode(st), 0);
  pid = fork();
  if (pid == 0) {
    for (;;)
      pause();
  }
  kill(pid, SIGTERM);
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  CHECK_EQ(mpk__status_to_exitcode(st), -SIGTERM);
  CHECK_EQ(mpk__status_to_exitcode(0x7f | (SIGSTOP << 8)), 0); /* stopped */
}

typedef struct {
  const char *name, *lineage, *first_child;
} fork_case;

static void test_fork_identity(void) {
  const fork_case cases[] = {{"Process-9", NULL, "Process-9:1"},
                             {"worker", "Process-4", "Process-4:1"},
                             {"PoolWorker-0", NULL, "PoolWorker-0:1"}};
  CHECK_RC(mpk__fork(NULL, NULL, NULL), MPK_EINVAL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pid_t parent = getpid();
    pid_t pid = mpk__fork(cases[i].name, cases[i].lineage, NULL);
    CHECK(pid >= 0);
    if (pid == 0) {
      int ok = getppid() == parent &&
               strcmp(mpk__process_name(), cases[i].name) == 0;
      char *a = mpk__next_child_name(), *b = mpk__next_child_name();
      size_t n = strlen(cases[i].first_child);
      ok = ok && a && b && strcmp(a, cases[i].first_child) == 0 &&
           strncmp(b, cases[i].first_child, n - 1) == 0 && b[n - 1] == '2';
      free(a);
      free(b);
      mpk__child_exit(ok ? 256 + 3 : 1); /* & 0xff: 3 */
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK_EQ(mpk__status_to_exitcode(st), 3);
  }
  CHECK_STR(mpk__process_name(), "MainProcess");
}

static void test_names_in_main(void) {
  char *a = mpk__next_child_name(), *b = mpk__next_child_name();
  long na, nb;
  CHECK(sscanf(a, "Process-%ld", &na) == 1);
  CHECK(sscanf(b, "Process-%ld", &nb) == 1);
  CHECK_EQ(nb, na + 1);
  free(a);
  free(b);
}

static int rename_child(void *arg) {
  (void)arg;
  CHECK_RC(mpk__set_process_name(NULL), MPK_EINVAL);
  CHECK_OK(mpk__set_process_name("renamed"));
  CHECK_STR(mpk__process_name(), "renamed");
  return 0;
}

static void test_set_process_name(void) {
  check_wait_ok(check_fork(rename_child, NULL), 10);
  CHECK_STR(mpk__process_name(), "MainProcess");
}

/* pidfd_open and its watcher fallback: readable exactly when the child has
   exited; never reaps. */
static void check_exit_fd(int (*open_fd)(pid_t)) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = check_fork(wait_fd, &fds[0]);
  int fd = open_fd(pid);
  CHECK(fd >= 0);
  mpk__deadline d;
  deadline(&d, 0);
  CHECK_RC(mpk__wait_exit(fd, &d), MPK_ETIMEDOUT);
  deadline(&d, 0.2);
  double t0 = check_now();
  CHECK_RC(mpk__wait_exit(fd, &d), MPK_ETIMEDOUT);
  CHECK(check_now() - t0 >= 0.2);
  int st = 0;
  CHECK_RC(mpk__reap(pid, &st), MPK_EAGAIN);
  CHECK_EQ(write(fds[1], "x", 1), 1);
  deadline(&d, MPK_FOREVER);
  CHECK_OK(mpk__wait_exit(fd, &d));
  CHECK_OK(mpk__wait_exit(fd, &d)); /* stays readable */
  CHECK(!check_pid_gone(pid));      /* a zombie: not reaped */
  CHECK_OK(mpk__reap(pid, &st));
  CHECK_EQ(mpk__status_to_exitcode(st), 5);
  CHECK_RC(mpk__reap(pid, &st), MPK_ECHILD);
  close(fd);
  close(fds[0]);
  close(fds[1]);
}

static void test_pidfd_open(void) {
  check_exit_fd(mpk__pidfd_open);
  CHECK_RC(mpk__pidfd_open(0), MPK_EINVAL);
  CHECK_RC(mpk__pidfd_open(-4), MPK_EINVAL);
  CHECK_RC(mpk__pidfd_open(gone_pid()), MPK_ECHILD);
}

static void test_pidfd_watcher(void) {
  check_exit_fd(mpk__pidfd_open_watcher);
  CHECK_RC(mpk__pidfd_open_watcher(0), MPK_EINVAL);
  CHECK_RC(mpk__pidfd_open_watcher(gone_pid()), MPK_ECHILD);
  CHECK_RC(mpk__pidfd_open_watcher(getppid()), MPK_ECHILD); /* not a child */
  /* the watcher also ends when someone else reaps the child first */
  pid_t pid = fork();
  if (pid == 0) {
    for (;;)
      pause();
  }
  int fd = mpk__pidfd_open_watcher(pid);
  CHECK(fd >= 0);
  kill(pid, SIGKILL);
  CHECK_EQ(waitpid(pid, NULL, 0), pid);
  mpk__deadline d;
  deadline(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_exit(fd, &d));
  close(fd);
}

/* A child forked while the watcher waits inherits copies of every
   descriptor of this process. The watcher's descriptor must still turn
   readable as soon as the watched child exits, not when that later child
   does. */
static void test_watcher_ignores_later_children(void) {
  int a[2], b[2];
  CHECK(pipe(a) == 0);
  CHECK(pipe(b) == 0);
  pid_t watched = check_fork(wait_fd, &a[0]);
  int fd = mpk__pidfd_open_watcher(watched);
  CHECK(fd >= 0);
  pid_t later = check_fork(wait_fd, &b[0]); /* runs until we write to b */
  pid_t raw = fork(); /* and one made by a raw fork, without mpk */
  CHECK(raw >= 0);
  if (raw == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
    char c;
    while (read(b[0], &c, 1) == -1 && errno == EINTR) {
    }
    _exit(0);
  }
  CHECK_EQ(write(a[1], "x", 1), 1); /* the watched child exits now */
  mpk__deadline d;
  deadline(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_exit(fd, &d));
  CHECK(!check_pid_gone(later)); /* still running: it did not matter */
  CHECK(!check_pid_gone(raw));
  int st;
  deadline(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_child(watched, fd, &d, &st));
  CHECK_EQ(mpk__status_to_exitcode(st), 5);
  close(fd);
  CHECK_EQ(write(b[1], "xx", 2), 2);
  check_wait(later, 10);
  check_wait_ok(raw, 10);
  close(a[0]);
  close(a[1]);
  close(b[0]);
  close(b[1]);
}

/* The child of a fork closes the descriptor of a watcher thread that it
   did not inherit (threads are not copied): it has the same descriptors as
   its parent minus that one. */
static int count_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    n += fcntl(fd, F_GETFD) != -1;
  return n;
}

static int fds_after_fork(void *arg) {
  return count_fds() == *(int *)arg - 1 ? 0 : 1;
}

static void test_watcher_fd_closed_in_child(void) {
  int a[2];
  CHECK(pipe(a) == 0);
  pid_t watched = check_fork(wait_fd, &a[0]);
  int fd = mpk__pidfd_open_watcher(watched);
  CHECK(fd >= 0);
  int n = count_fds(); /* ours, including the returned fd and the
                          watcher's own */
  check_wait_ok(check_fork(fds_after_fork, &n), 10);
  CHECK_EQ(write(a[1], "x", 1), 1);
  int st;
  mpk__deadline d;
  deadline(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_child(watched, fd, &d, &st));
  close(fd);
  close(a[0]);
  close(a[1]);
}

/* Signals through a pidfd: delivered while the child runs, a no-op once it
   has been reaped (its pid may be reused: nothing is sent). */
static void test_signal_child(void) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (;;)
      pause();
  }
  int fd = mpk__pidfd_open(pid);
  CHECK(fd >= 0);
  CHECK_RC(mpk__signal_child(0, fd, SIGTERM), MPK_EINVAL);
  CHECK_RC(mpk__signal_child(pid, fd, 12345), MPK_EINVAL);
  CHECK_OK(mpk__signal_child(pid, fd, SIGTERM));
  int st;
  mpk__deadline d;
  deadline(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_child(pid, fd, &d, &st));
  CHECK_EQ(mpk__status_to_exitcode(st), -SIGTERM);
  CHECK_OK(mpk__signal_child(pid, fd, SIGKILL)); /* reaped: ESRCH, no-op */
  close(fd);
  /* without a pidfd, and with the watcher's descriptor: kill(2) */
  for (int mode = 0; mode < 2; mode++) {
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      for (;;)
        pause();
    }
    fd = mode ? mpk__pidfd_open_watcher(pid) : -1;
    CHECK_OK(mpk__signal_child(pid, fd, SIGKILL));
    deadline(&d, CHECK_HANG_S);
    CHECK_OK(mpk__wait_child(pid, fd, &d, &st));
    CHECK_EQ(mpk__status_to_exitcode(st), -SIGKILL);
    if (fd >= 0)
      close(fd);
  }
}

static void test_wait_exit_errors(void) {
  mpk__deadline d;
  deadline(&d, 0);
  CHECK_RC(mpk__wait_exit(-1, &d), MPK_EINVAL);
  int fds[2];
  CHECK(pipe(fds) == 0);
  close(fds[0]);
  CHECK_RC(mpk__wait_exit(fds[0], &d), MPK_EINVAL); /* closed fd */
  close(fds[1]);
  int st;
  CHECK_RC(mpk__reap(0, &st), MPK_ECHILD);
  CHECK_RC(mpk__reap(gone_pid(), &st), MPK_ECHILD);
}

static void test_wait_child(void) {
  mpk__deadline d;
  int st = 0;
  for (int mode = 0; mode < 3; mode++) {
    /* 0: with a pidfd; 1: without (temporary pidfd); 2: without, FOREVER */
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = check_fork(wait_fd, &fds[0]);
    int fd = mode == 0 ? mpk__pidfd_open(pid) : -1;
    if (mode < 2) {
      deadline(&d, 0.1);
      CHECK_RC(mpk__wait_child(pid, fd, &d, &st), MPK_ETIMEDOUT);
    }
    CHECK_EQ(write(fds[1], "x", 1), 1);
    deadline(&d, mode == 2 ? MPK_FOREVER : CHECK_HANG_S);
    CHECK_OK(mpk__wait_child(pid, fd, &d, &st));
    CHECK_EQ(mpk__status_to_exitcode(st), 5);
    CHECK(check_pid_gone(pid));
    CHECK_RC(mpk__wait_child(pid, fd, &d, &st), MPK_ECHILD);
    if (fd >= 0)
      close(fd);
    close(fds[0]);
    close(fds[1]);
  }
  deadline(&d, 1);
  CHECK_RC(mpk__wait_child(gone_pid(), -1, &d, &st), MPK_ECHILD);
}

/* ---- the registry -------------------------------------------------------- */

static mpk__child *node_for(pid_t pid, unsigned flags) {
  mpk__child *c = calloc(1, sizeof *c);
  CHECK(c != NULL);
  c->pid = pid;
  c->pidfd = mpk__pidfd_open(pid);
  CHECK(c->pidfd >= 0);
  c->flags = flags;
  return c;
}

static void test_orphans_reaped(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = check_fork(wait_fd, &fds[0]);
  mpk__child *c = node_for(pid, 0);
  mpk__child_track(c);
  mpk__child_track(c); /* twice: no-op */
  CHECK_EQ(c->tracked, 1);
  mpk__child_orphan(c); /* still running: the registry keeps it */
  mpk__reap_orphans();
  CHECK(!check_pid_gone(pid));
  CHECK_EQ(write(fds[1], "x", 1), 1);
  int fd = mpk__pidfd_open(pid);
  mpk__deadline d;
  deadline(&d, CHECK_HANG_S);
  CHECK_OK(mpk__wait_exit(fd, &d));
  close(fd);
  mpk__reap_orphans();
  CHECK(check_pid_gone(pid));
  close(fds[0]);
  close(fds[1]);

  /* an untracked node handed over is freed at once */
  mpk__child *u = calloc(1, sizeof *u);
  u->pidfd = -1;
  mpk__child_orphan(u);
  /* untrack of an untracked node: no-op */
  mpk__child v = {.pidfd = -1};
  mpk__child_untrack(&v);
  CHECK_EQ(v.tracked, 0);
}

/* In a fresh process: one daemon (SIGTERM), one daemon that ignores it
   (SIGKILL after the grace), one plain child (joined). */
static int exit_scenario(void *arg) {
  (void)arg;
  int fds[2];
  CHECK(pipe(fds) == 0);
  signal(SIGTERM, SIG_IGN); /* the stubborn daemon inherits this */
  pid_t stubborn = check_fork(pu_pause_forever, NULL);
  signal(SIGTERM, SIG_DFL);
  pid_t daemon = check_fork(pu_pause_forever, NULL);
  pid_t plain = check_fork(wait_fd, &fds[0]);
  mpk__child *cd = node_for(daemon, MPK__CHILD_DAEMON);
  mpk__child *cs = node_for(stubborn, MPK__CHILD_DAEMON);
  mpk__child *cp = node_for(plain, 0);
  /* a daemon reaped behind the registry's back: settled as lost, and its
     pid is never signalled (the pidfd is used) */
  pid_t stolen = check_fork(pu_pause_forever, NULL);
  mpk__child *cx = node_for(stolen, MPK__CHILD_DAEMON);
  kill(stolen, SIGKILL);
  CHECK_EQ(waitpid(stolen, NULL, 0), stolen);
  mpk__child_track(cd);
  mpk__child_track(cs);
  mpk__child_track(cp);
  mpk__child_track(cx);
  mpk__child_orphan(cp); /* orphans count too */
  CHECK_EQ(write(fds[1], "x", 1), 1);
  double t0 = check_now();
  mpk__children_exit();
  double took = check_now() - t0;
  CHECK_MSG(took >= MPK__DAEMON_GRACE * 0.9, "took %.3f s", took);
  CHECK(check_pid_gone(daemon));
  CHECK(check_pid_gone(stubborn));
  CHECK(check_pid_gone(plain));
  /* the kept nodes recorded how their children ended */
  CHECK_EQ(atomic_load(&cd->reaped), MPK__REAPED_STATUS);
  CHECK_EQ(mpk__status_to_exitcode(cd->wstatus), -SIGTERM);
  CHECK_EQ(atomic_load(&cs->reaped), MPK__REAPED_STATUS);
  CHECK_EQ(mpk__status_to_exitcode(cs->wstatus), -SIGKILL);
  CHECK_EQ(atomic_load(&cx->reaped), MPK__REAPED_LOST);
  CHECK_EQ(cd->tracked, 0);
  mpk__children_exit(); /* idempotent: nothing left */
  close(cd->pidfd);
  close(cs->pidfd);
  close(cx->pidfd);
  free(cd);
  free(cs);
  free(cx);
  return 0;
}

static void test_children_exit(void) {
  check_wait_ok(check_fork(exit_scenario, NULL), 20);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_status_to_exitcode);
  CHECK_RUN(test_fork_identity);
  CHECK_RUN(test_names_in_main);
  CHECK_RUN(test_set_process_name);
  CHECK_RUN(test_pidfd_open);
  CHECK_RUN(test_pidfd_watcher);
  CHECK_RUN(test_watcher_ignores_later_children);
  CHECK_RUN(test_watcher_fd_closed_in_child);
  CHECK_RUN(test_signal_child);
  CHECK_RUN(test_wait_exit_errors);
  CHECK_RUN(test_wait_child);
  CHECK_RUN(test_orphans_reaped);
  CHECK_RUN(test_children_exit);
  return check_done();
}
