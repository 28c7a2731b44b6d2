/* process.parentdeath: processes that die at the worst moment.
 * - A parent SIGKILLed with running children (plain, daemon, and a child
 *   with its own grandchild): every one of them is killed (the bound,
 *   CHECK_HANG_S, only turns a survivor into a failure: mpk-chaos measures
 *   how fast).
 * - A parent SIGKILLed right after start(), racing the child's
 *   PR_SET_PDEATHSIG setup: the child never survives it.
 * - A child killed while its parent waits in join(MPK_FOREVER): join
 *   returns and the exit code is -9.
 * The test is a child subreaper, so the orphans reparent to it and it can
 * reap them (PID 1 in a sandbox may not reap zombies). */
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include "check.h"
#include "process-util.h"
#include "mpk/process.h"

static void write_pid(int fd, pid_t pid) {
  CHECK_EQ(write(fd, &pid, sizeof pid), sizeof pid);
}

static pid_t read_pid(int fd) {
  pid_t pid = 0;
  CHECK_EQ(read(fd, &pid, sizeof pid), sizeof pid);
  return pid;
}

/* A child that starts a grandchild, reports its pid, and waits. */
static int with_grandchild(void *arg) {
  int fd = *(int *)arg;
  mpk_process_t *g;
  CHECK_OK(mpk_process_new(&g, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(g));
  write_pid(fd, mpk_process_pid(g));
  for (;;)
    pause();
  return 0;
}

enum { NCHILD = 4 }; /* plain, daemon, freed, with-grandchild */

static int intermediate(void *arg) {
  int fd = *(int *)arg;
  mpk_process_opts daemon = {NULL, 1, NULL};
  mpk_process_t *p[NCHILD];
  CHECK_OK(mpk_process_new(&p[0], pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_new(&p[1], pu_pause_forever, NULL, 0, &daemon));
  CHECK_OK(mpk_process_new(&p[2], pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_new(&p[3], with_grandchild, &fd, sizeof fd, NULL));
  for (int i = 0; i < NCHILD; i++)
    CHECK_OK(mpk_process_start(p[i]));
  for (int i = 0; i < NCHILD; i++)
    write_pid(fd, mpk_process_pid(p[i]));
  mpk_process_free(p[2]);
  /* the grandchild's pid follows from p[3] */
  for (;;)
    pause();
  return 0;
}

/* Wait (as the subreaper) for pid to end; it must have died of SIGKILL. */
static void expect_killed(pid_t pid) {
  int st = check_wait(pid, CHECK_HANG_S);
  CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
            "pid %d ended with status 0x%x, not SIGKILL", (int)pid, st);
}

/* Wait (as the subreaper) until every pid has ended, each of SIGKILL; the
   test fails when one is still alive CHECK_HANG_S from now. */
static void expect_all_killed(const pid_t *pids, int n) {
  int done[16] = {0}, left = n;
  CHECK(n <= 16);
  double end = check_now() + CHECK_HANG_S;
  while (left > 0) {
    for (int i = 0; i < n; i++) {
      siginfo_t si = {0};
      if (done[i] ||
          waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOHANG | WNOWAIT) ==
              -1 ||
          si.si_pid == 0)
        continue;             /* not ours yet, or still running */
      expect_killed(pids[i]); /* it has exited: reap it */
      done[i] = 1;
      left--;
    }
    CHECK_MSG(left == 0 || check_now() < end,
              "%d process(es) still alive %.1f s after their parent died", left,
              CHECK_HANG_S);
    check_sleep(0.001);
  }
}

static void test_parent_sigkilled(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t mid = check_fork(intermediate, &fds[1]);
  close(fds[1]);
  pid_t kids[NCHILD + 1];
  for (int i = 0; i < NCHILD + 1; i++)
    kids[i] = read_pid(fds[0]); /* 4 children + the grandchild, any order */
  close(fds[0]);
  CHECK(kill(mid, SIGKILL) == 0);
  int st = check_wait(mid, CHECK_HANG_S);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  /* Each must be killed. The children were reparented to us
     before the intermediate could be reaped; the grandchild is reparented
     only when its own parent ends, so until then it is not ours to wait
     for (waitid reports ECHILD). */
  expect_all_killed(kids, NCHILD + 1);
}

/* The parent dies immediately after start(), often before the child has
   armed PR_SET_PDEATHSIG: the child's getppid() check must catch that. */
static int start_and_die(void *arg) {
  int fd = *(int *)arg;
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p));
  write_pid(fd, mpk_process_pid(p));
  raise(SIGKILL);
  return 0;
}

static void test_parent_dies_at_start(void) {
  for (int round = 0; round < 20; round++) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t mid = check_fork(start_and_die, &fds[1]);
    close(fds[1]);
    pid_t kid = read_pid(fds[0]);
    close(fds[0]);
    int st = check_wait(mid, CHECK_HANG_S);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    expect_all_killed(&kid, 1);
  }
}

/* Kill the child from another thread while this one sits in join. */
typedef struct {
  pid_t pid;
  double delay;
} killer_arg;

static void *killer(void *arg) {
  killer_arg *k = arg;
  check_sleep(k->delay);
  kill(k->pid, SIGKILL);
  return NULL;
}

static void test_child_killed_during_join(void) {
  for (int i = 0; i < 2; i++) {
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, pu_pause_forever, NULL, 0, NULL));
    CHECK_OK(mpk_process_start(p));
    killer_arg k = {mpk_process_pid(p), i ? 0.2 : 0.0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, killer, &k) == 0);
    CHECK_OK(mpk_process_join(p, MPK_FOREVER));
    pthread_join(t, NULL);
    int code;
    CHECK_OK(mpk_process_exitcode(p, &code));
    CHECK_EQ(code, -9);
    CHECK_EQ(mpk_process_is_alive(p), 0);
    mpk_process_free(p);
  }
  /* and from another process */
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p));
  pid_t killer_pid = fork();
  CHECK(killer_pid >= 0);
  if (killer_pid == 0) {
    check_sleep(0.1);
    kill(mpk_process_pid(p), SIGKILL);
    _exit(0);
  }
  CHECK_OK(mpk_process_join(p, MPK_FOREVER));
  check_wait_ok(killer_pid, CHECK_HANG_S);
  int code;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -9);
  mpk_process_free(p);
}

/* The tests run in a child in its own process group, so that whatever a
   failing test leaves behind (a child that survived its parent is exactly
   what a failure here looks like) is killed by group afterwards. */
static pid_t g_runner;

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "check: watchdog fired: the test hung\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  kill(-g_runner, SIGKILL);
  kill(0, SIGKILL);
  _exit(3);
}

static int run_tests(void *arg) {
  (void)arg;
  setpgid(0, 0);
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  CHECK_RUN(test_parent_sigkilled);
  CHECK_RUN(test_parent_dies_at_start);
  CHECK_RUN(test_child_killed_during_join);
  return check_done();
}

int main(void) {
  check_watchdog(60);
  signal(SIGALRM, on_alarm);
  /* subreaper here too: leftovers of the runner's tree come to us */
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  g_runner = check_fork(run_tests, NULL);
  setpgid(g_runner, g_runner); /* also here: no race with the first fork */
  int st;
  while (waitpid(g_runner, &st, 0) == -1 && errno == EINTR) {
  }
  kill(-g_runner, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
