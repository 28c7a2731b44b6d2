/* process.reaped: children reaped by someone other than their handle.
 *
 *  - behind mpk's back, before start could even open the child's pidfd
 *    (SIGCHLD set to SIG_IGN, or a waitpid(-1) elsewhere): start has still
 *    happened (run ran exactly once), the status is lost (MPK_ECHILD), and
 *    the handle can never be started again;
 *  - by the exit-time handling, before a later atexit handler uses the
 *    handle: no signal may go to the pid any more (it may be reused).
 *
 * kill(2) is replaced for this program (libmpk.a is linked statically, so
 * its calls come here too): it counts the calls aimed at one watched pid,
 * which tells the tests whether mpk signalled a pid it no longer owns.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "check.h"
#include "process-util.h"
#include "mpk/process.h"
#include "mpk/shm.h"

static _Atomic pid_t watch_pid;
static atomic_int watch_kills;

int kill(pid_t pid, int sig) {
  if (pid > 0 && pid == atomic_load(&watch_pid))
    atomic_fetch_add(&watch_kills, 1);
  return (int)syscall(SYS_kill, pid, sig);
}

/* How often each handle's run function ran, in the shared heap. */
enum { NRUNS = 512 };
static _Atomic long *runs;

static int count_run(void *arg) {
  atomic_fetch_add(&runs[*(int *)arg], 1);
  return 3;
}

static int ret_three(void *arg) {
  (void)arg;
  return 3;
}

/* ---- the exit-time handling reaped the child first ------------------------
 * Runs first in main, in a fresh child that has not used mpk's process
 * layer yet, so that its atexit handler is registered before mpk's and
 * runs after it. */
static mpk_process_t *g_daemon, *g_plain;

static void late_handler(void) {
  pid_t dpid = mpk_process_pid(g_daemon), ppid = mpk_process_pid(g_plain);
  /* mpk's handler ran: the daemon was terminated and reaped, the plain
     child joined */
  CHECK(check_pid_gone(dpid));
  CHECK(check_pid_gone(ppid));
  mpk_process_t *h[2] = {g_daemon, g_plain};
  for (int i = 0; i < 2; i++) {
    atomic_store(&watch_kills, 0);
    atomic_store(&watch_pid, mpk_process_pid(h[i]));
    CHECK_OK(mpk_process_terminate(h[i]));
    CHECK_OK(mpk_process_kill(h[i]));
    CHECK_EQ(atomic_load(&watch_kills), 0); /* the pid was not signalled */
    CHECK_EQ(mpk_process_is_alive(h[i]), 0);
    CHECK_OK(mpk_process_join(h[i], 0));
    int code = 0;
    CHECK_OK(mpk_process_exitcode(h[i], &code));
    CHECK_EQ(code, i == 0 ? -SIGTERM : 3); /* the status was kept */
    CHECK_OK(mpk_process_kill(h[i]));
    CHECK_EQ(atomic_load(&watch_kills), 0);
  }
  atomic_store(&watch_pid, 0);
  mpk_process_free(g_daemon);
  mpk_process_free(g_plain);
  printf("late atexit handler: ok\n");
  fflush(stdout);
}

static int exit_scenario(void *arg) {
  (void)arg;
  atexit(late_handler); /* before mpk registers its own */
  mpk_process_opts daemon = {NULL, 1, NULL};
  CHECK_OK(mpk_process_new(&g_daemon, pu_pause_forever, NULL, 0, &daemon));
  CHECK_OK(mpk_process_new(&g_plain, ret_three, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(g_daemon));
  CHECK_OK(mpk_process_start(g_plain));
  exit(0); /* the exit handling settles both, then late_handler runs */
}

static void test_signal_after_exit_handling(void) {
  check_wait_ok(check_fork(exit_scenario, NULL), 20);
}

/* terminate and kill of a running child go through its pidfd, never
   through kill(2) on its pid. */
static void test_signals_use_pidfd(void) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, pu_pause_forever, NULL, 0, NULL));
  CHECK_OK(mpk_process_start(p));
  atomic_store(&watch_kills, 0);
  atomic_store(&watch_pid, mpk_process_pid(p));
  CHECK_OK(mpk_process_terminate(p));
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  CHECK_EQ(atomic_load(&watch_kills), 0);
  atomic_store(&watch_pid, 0);
  int code;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -SIGTERM);
  mpk_process_free(p);
}

/* ---- reaped before start could open the pidfd ----------------------------
 * A fork handler in the parent (it runs before fork() returns to mpk)
 * waits for the new child to end and reaps it: with SIGCHLD at SIG_DFL by
 * waitpid(-1) as another thread could, with SIG_IGN the kernel reaps it and
 * waitpid(-1) just waits for that. No other child may be alive then. */
static atomic_int reap_in_fork;

static void reap_new_child(void) {
  if (!atomic_load(&reap_in_fork))
    return;
  int st;
  while (waitpid(-1, &st, 0) == -1 && errno == EINTR) {
  }
}

static int first_allowed_cpu(void) {
  cpu_set_t s;
  CHECK(sched_getaffinity(0, sizeof s, &s) == 0);
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &s))
      return c;
  CHECK(0);
  return 0;
}

/* Everything a handle whose child's status is lost must answer. */
static void check_lost(mpk_process_t *p, int idx) {
  int code = 77;
  CHECK_RC(mpk_process_join(p, MPK_FOREVER), MPK_ECHILD);
  CHECK_RC(mpk_process_join(p, 0), MPK_ECHILD);
  CHECK_RC(mpk_process_exitcode(p, &code), MPK_ECHILD);
  CHECK_EQ(code, 77);
  CHECK_EQ(mpk_process_is_alive(p), 0);
  CHECK_OK(mpk_process_terminate(p)); /* ended: a no-op */
  CHECK_OK(mpk_process_kill(p));
  CHECK_RC(mpk_process_start(p), MPK_ESTATE); /* never a second run */
  CHECK_EQ(atomic_load(&runs[idx]), 1);
}

static void test_reaped_before_pidfd(void) {
  char cpu[16];
  snprintf(cpu, sizeof cpu, "%d", first_allowed_cpu());
  int idx[4];
  for (int mode = 0; mode < 4; mode++) {
    idx[mode] = 100 + mode;
    signal(SIGCHLD, mode & 1 ? SIG_IGN : SIG_DFL);
    mpk_process_opts o = {NULL, 0, mode & 2 ? cpu : NULL};
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, count_run, &idx[mode], sizeof(int), &o));
    atomic_store(&reap_in_fork, 1);
    int rc = mpk_process_start(p);
    atomic_store(&reap_in_fork, 0);
    CHECK_MSG(rc == MPK_OK, "mode %d: start returned %s", mode,
              mpk_err_name(rc));
    pid_t pid = mpk_process_pid(p);
    CHECK(pid > 0);
    /* reaped by the fork handler (SIG_DFL: gone at once) or the kernel
       (SIG_IGN: gone just after the handler's wait returned) */
    CHECK(mode & 1 ? check_pid_gone_within(pid, CHECK_HANG_S)
                   : check_pid_gone(pid));
    CHECK_EQ(atomic_load(&runs[idx[mode]]), 1);
    check_lost(p, idx[mode]);
    mpk_process_free(p);
    CHECK_EQ(atomic_load(&runs[idx[mode]]), 1);
  }
  signal(SIGCHLD, SIG_DFL);
}

/* Many starts with SIGCHLD ignored: each start either succeeds (and run
   ran exactly once) or fails with a documented code (and run never ran,
   so a retry runs it once). */
static void test_sigchld_ignored_storm(void) {
  enum { N = 300 };
  signal(SIGCHLD, SIG_IGN);
  int idx[N], retries = 0;
  for (int i = 0; i < N; i++) {
    idx[i] = 200 + i;
    mpk_process_t *p;
    CHECK_OK(mpk_process_new(&p, count_run, &idx[i], sizeof(int), NULL));
    int rc;
    while ((rc = mpk_process_start(p)) != MPK_OK) {
      CHECK_MSG(rc == MPK_EAGAIN || rc == MPK_ENOMEM, "start %d returned %s", i,
                mpk_err_name(rc));
      CHECK_EQ(atomic_load(&runs[idx[i]]), 0);
      CHECK(++retries < 1000);
      check_sleep(0.001);
    }
    /* the kernel reaps it: its status is lost */
    rc = mpk_process_join(p, CHECK_HANG_S);
    CHECK_MSG(rc == MPK_ECHILD, "join %d returned %s", i, mpk_err_name(rc));
    CHECK_EQ(atomic_load(&runs[idx[i]]), 1);
    CHECK_RC(mpk_process_start(p), MPK_ESTATE);
    mpk_process_free(p);
  }
  long total = 0;
  for (int i = 0; i < NRUNS; i++)
    total += atomic_load(&runs[i]);
  CHECK_EQ(total, N + 4); /* + the 4 of test_reaped_before_pidfd */
  signal(SIGCHLD, SIG_DFL);
  printf("  %d starts, %d retried\n", N, retries);
}

/* ---- start could not open a pidfd (out of descriptors) -----------------
 * The child exists, so start succeeds and is not undone; join opens the
 * pidfd when it can (MPK_EAGAIN, nothing changed, while it cannot). In a
 * helper process, whose descriptor table is filled up. */
static int no_descriptors(void *arg) {
  (void)arg;
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, pu_pause_forever, NULL, 0, NULL));
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = 64;
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  int fds[64], n = 0, fd;
  while (n < 64 && (fd = dup(0)) >= 0)
    fds[n++] = fd;
  CHECK(n > 0 && n < 64);
  CHECK_EQ(errno, EMFILE);
  CHECK_OK(mpk_process_start(p));
  CHECK(mpk_process_pid(p) > 0);
  CHECK_EQ(mpk_process_is_alive(p), 1);
  CHECK_RC(mpk_process_join(p, 0), MPK_EAGAIN);
  CHECK_RC(mpk_process_join(p, MPK_FOREVER), MPK_EAGAIN);
  CHECK_EQ(mpk_process_is_alive(p), 1); /* nothing changed */
  CHECK_RC(mpk_process_start(p), MPK_ESTATE);
  CHECK_OK(mpk_process_terminate(p)); /* unreaped: kill(2) is safe */
  close(fds[--n]);                    /* room for one pidfd */
  CHECK_OK(mpk_process_join(p, CHECK_HANG_S));
  int code;
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, -SIGTERM);
  mpk_process_free(p);
  while (n > 0)
    close(fds[--n]);
  return 0;
}

static void test_start_without_descriptors(void) {
  check_wait_ok(check_fork(no_descriptors, NULL), 20);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_signal_after_exit_handling); /* first: see its comment */
  runs = mpk_shm_calloc(NRUNS, sizeof *runs);
  CHECK(runs != NULL);
  pthread_atfork(NULL, reap_new_child, NULL);
  CHECK_RUN(test_signals_use_pidfd);
  CHECK_RUN(test_reaped_before_pidfd);
  CHECK_RUN(test_sigchld_ignored_storm);
  CHECK_RUN(test_start_without_descriptors);
  return check_done();
}
