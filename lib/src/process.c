/* process.c - mpk_process_*: Python's Process on top of internal/spawn.h.
 *
 * A handle moves NEW -> STARTING -> RUNNING -> DONE (or LOST when its exit
 * status was taken by someone else). The handle lock guards the state and
 * the reaping; it is never held while waiting for the child (join sleeps on
 * the pidfd unlocked) nor across fork() (so a child never inherits it
 * held). Every signal and every reap of the child happens under the lock,
 * so a signal can never reach a recycled pid.
 */
#include "mpk/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/spawn.h"

enum { ST_NEW, ST_STARTING, ST_RUNNING, ST_DONE, ST_LOST };

/* The child's exit code when binding to its cpuset failed before `run`. */
#define BIND_FAILED_EXIT 127

struct mpk_process {
  pthread_mutex_t mu; /* guards everything below `daemon` */
  mpk_process_fn run;
  void *arg;     /* private copy, or NULL */
  char *name;    /* what mpk_process_name returns */
  char *lineage; /* default name "Process-N": children become Process-N:k */
  char *cpuset;  /* NULL: no binding */
  int daemon;
  int state;
  /* 0 before start; written once under the lock, read by mpk_process_pid
     without it (relaxed: it publishes nothing else). */
  _Atomic pid_t pid;
  pid_t owner;      /* pid of the process that started it */
  int pidfd;        /* open from start until reaped and no joiner uses it */
  int waiters;      /* joiners sleeping on pidfd (it must stay open) */
  int wstatus;      /* valid in ST_DONE */
  mpk__child *node; /* registry node while RUNNING */
};

/* ---- helpers ------------------------------------------------------------- */

static char *dup_or_null(const char *s, int *oom) {
  if (s == NULL)
    return NULL;
  char *c = strdup(s);
  if (c == NULL)
    *oom = 1;
  return c;
}

static void close_pidfd_locked(mpk_process_t *p) {
  if (p->pidfd >= 0 && p->waiters == 0 && p->owner == mpk__self_pid()) {
    close(p->pidfd);
    p->pidfd = -1;
  }
}

/* Record a reaped status (or a lost one) and drop the registry node. */
static void finish_locked(mpk_process_t *p, int state, int wstatus) {
  p->state = state;
  p->wstatus = wstatus;
  mpk__child_untrack(p->node);
  free(p->node);
  p->node = NULL;
  close_pidfd_locked(p);
}

/* Reap the child if it has ended: MPK_OK (now DONE or LOST), MPK_EAGAIN
   (still running). `block`: it is known to have exited, so wait for the
   reap rather than trust a WNOHANG race. */
static int reap_locked(mpk_process_t *p, int block) {
  if (p->state != ST_RUNNING)
    return MPK_OK;
  int st = 0, rc;
  if (block) {
    mpk__deadline forever;
    mpk__deadline_init(&forever, MPK_FOREVER);
    rc = mpk__wait_child(p->pid, p->pidfd, &forever, &st);
  } else {
    rc = mpk__reap(p->pid, &st);
  }
  if (rc == MPK_EAGAIN)
    return rc;
  if (rc == MPK_OK) {
    finish_locked(p, ST_DONE, st);
  } else if (atomic_load_explicit(&p->node->reaped, memory_order_acquire)) {
    /* the exit-time handling reaped it and kept its status */
    finish_locked(p, ST_DONE, p->node->wstatus);
  } else {
    finish_locked(p, ST_LOST, 0);
  }
  return MPK_OK;
}

/* Common entry checks of the calls that touch the running child. */
static int running_locked(const mpk_process_t *p) {
  if (p->state == ST_NEW || p->state == ST_STARTING)
    return MPK_ESTATE;
  if (p->owner != mpk__self_pid())
    return MPK_ECHILD;
  return MPK_OK;
}

/* ---- new / free ---------------------------------------------------------- */

int mpk_process_new(mpk_process_t **out, mpk_process_fn run, const void *arg,
                    size_t arg_size, const mpk_process_opts *opts) {
  if (out == NULL || run == NULL || (arg == NULL && arg_size > 0))
    return MPK_EINVAL;
  if (opts && opts->daemon != 0 && opts->daemon != 1)
    return MPK_EINVAL;
  mpk__reap_orphans();
  mpk_process_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return MPK_ENOMEM;
  int oom = 0;
  if (arg_size > 0) {
    p->arg = malloc(arg_size);
    if (p->arg)
      memcpy(p->arg, arg, arg_size);
    else
      oom = 1;
  }
  p->name = dup_or_null(opts ? opts->name : NULL, &oom);
  p->cpuset = dup_or_null(opts ? opts->cpuset : NULL, &oom);
  if (!oom) {
    p->lineage = mpk__next_child_name(); /* last: uses up a number */
    oom = p->lineage == NULL;
  }
  if (oom) {
    free(p->arg);
    free(p->name);
    free(p->cpuset);
    free(p);
    return MPK_ENOMEM;
  }
  if (p->name == NULL)
    p->name = p->lineage;
  pthread_mutex_init(&p->mu, NULL);
  p->run = run;
  p->daemon = opts ? opts->daemon : 0;
  p->state = ST_NEW;
  p->pidfd = -1;
  *out = p;
  return MPK_OK;
}

void mpk_process_free(mpk_process_t *p) {
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->mu);
  if (p->state == ST_RUNNING && p->owner == mpk__self_pid() &&
      reap_locked(p, 0) == MPK_EAGAIN) {
    /* still running: the registry takes over the node and the pidfd */
    p->node->pidfd = p->pidfd;
    p->pidfd = -1;
    mpk__child_orphan(p->node);
    p->node = NULL;
  }
  close_pidfd_locked(p);
  /* In a child, an inherited handle's node is the parent's (already
     forgotten by the registry reset): only its memory is ours to free. */
  free(p->node);
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_destroy(&p->mu);
  if (p->name != p->lineage)
    free(p->name);
  free(p->lineage);
  free(p->cpuset);
  free(p->arg);
  free(p);
  mpk__reap_orphans();
}

/* ---- start --------------------------------------------------------------- */

/* In the child: bind, report the result on `wfd` (if any), run, exit. */
_Noreturn static void child_main(mpk_process_t *p, int rfd, int wfd) {
  if (wfd >= 0) {
    close(rfd);
    int rc = mpk_bind_self(p->cpuset);
    ssize_t w;
    do
      w = write(wfd, &rc, sizeof rc);
    while (w == -1 && errno == EINTR);
    close(wfd);
    if (rc != MPK_OK)
      _exit(BIND_FAILED_EXIT);
  }
  mpk__child_exit(p->run(p->arg));
}

/* In the parent: wait for the child's binding report. MPK_OK when bound (or
   when the child died before reporting: it did start, join tells how it
   ended), else the binding error. */
static int await_bind(int rfd, int pidfd) {
  struct pollfd f[2] = {{.fd = rfd, .events = POLLIN},
                        {.fd = pidfd, .events = POLLIN}};
  for (;;) {
    int n = poll(f, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return MPK_EAGAIN;
    if (f[0].revents == 0)
      return MPK_OK; /* exited without a word */
    int rc = MPK_OK;
    ssize_t r;
    do
      r = read(rfd, &rc, sizeof rc);
    while (r == -1 && errno == EINTR);
    return r == (ssize_t)sizeof rc ? rc : MPK_OK;
  }
}

/* Check a cpuset before forking: it must parse and name at least one PU
   this process may use (mpk_topo_plan's MPK_EINVAL). This also loads the
   topology in the parent, so the child inherits it instead of loading it. */
static int check_cpuset(const char *cpuset) {
  char buf[256];
  int rc = mpk_topo_plan(1, MPK_BIND_NONE, cpuset, 0, buf, sizeof buf);
  return rc == MPK_EMSGSIZE ? MPK_OK : rc; /* a long list is no error */
}

int mpk_process_start(mpk_process_t *p) {
  if (p == NULL)
    return MPK_EINVAL;
  mpk__reap_orphans();
  pthread_mutex_lock(&p->mu);
  if (p->state != ST_NEW) {
    pthread_mutex_unlock(&p->mu);
    return MPK_ESTATE;
  }
  p->state = ST_STARTING; /* the lock is not held across fork */
  pthread_mutex_unlock(&p->mu);

  int rc = MPK_OK;
  int pipefd[2] = {-1, -1};
  mpk__child *node = calloc(1, sizeof *node);
  if (node == NULL)
    rc = MPK_ENOMEM;
  if (rc == MPK_OK && p->cpuset) {
    rc = check_cpuset(p->cpuset);
    if (rc == MPK_OK && pipe2(pipefd, O_CLOEXEC) == -1)
      rc = errno == ENOMEM ? MPK_ENOMEM : MPK_EAGAIN;
  }
  pid_t pid = 0;
  if (rc == MPK_OK) {
    pid = mpk__fork(p->name, p->lineage);
    if (pid == 0)
      child_main(p, pipefd[0], pipefd[1]);
    if (pid < 0)
      rc = (int)pid;
  }
  int pidfd = -1;
  if (rc == MPK_OK) {
    if (pipefd[1] >= 0)
      close(pipefd[1]);
    pipefd[1] = -1;
    pidfd = mpk__pidfd_open(pid);
    if (pidfd < 0)
      rc = pidfd;
    else if (pipefd[0] >= 0)
      rc = await_bind(pipefd[0], pidfd);
    if (rc != MPK_OK) {
      /* undo: the child never ran `run` (binding failed) or must not */
      int st;
      kill(pid, SIGKILL);
      while (waitpid(pid, &st, 0) == -1 && errno == EINTR) {
      }
      if (pidfd >= 0)
        close(pidfd);
    }
  }
  for (int i = 0; i < 2; i++)
    if (pipefd[i] >= 0)
      close(pipefd[i]);

  pthread_mutex_lock(&p->mu);
  if (rc != MPK_OK) {
    free(node);
    p->state = ST_NEW;
  } else {
    node->pid = pid;
    node->pidfd = pidfd;
    node->flags = p->daemon ? MPK__CHILD_DAEMON : 0;
    mpk__child_track(node);
    p->node = node;
    atomic_store_explicit(&p->pid, pid, memory_order_relaxed);
    p->pidfd = pidfd;
    p->owner = mpk__self_pid();
    p->state = ST_RUNNING;
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* ---- join / is_alive / signals / exitcode -------------------------------- */

int mpk_process_join(mpk_process_t *p, double timeout) {
  if (p == NULL)
    return MPK_EINVAL;
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  mpk__reap_orphans();
  pthread_mutex_lock(&p->mu);
  int rc = running_locked(p);
  if (rc != MPK_OK || p->state != ST_RUNNING) {
    if (rc == MPK_OK && p->state == ST_LOST)
      rc = MPK_ECHILD;
    pthread_mutex_unlock(&p->mu);
    return rc;
  }
  /* Not reaped yet: sleep on the pidfd without the lock (it polls readable
     at once if the child has already exited). */
  int fd = p->pidfd;
  p->waiters++;
  pthread_mutex_unlock(&p->mu);
  rc = mpk__wait_exit(fd, &d);
  pthread_mutex_lock(&p->mu);
  p->waiters--;
  if (rc == MPK_OK)
    rc = reap_locked(p, 1);
  if (p->state != ST_RUNNING)
    close_pidfd_locked(p); /* the last joiner closes it */
  if (rc == MPK_OK && p->state == ST_LOST)
    rc = MPK_ECHILD;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int mpk_process_is_alive(mpk_process_t *p) {
  if (p == NULL)
    return MPK_EINVAL;
  mpk__reap_orphans();
  pthread_mutex_lock(&p->mu);
  int rc;
  if (p->state == ST_NEW || p->state == ST_STARTING)
    rc = 0;
  else if (p->owner != mpk__self_pid())
    rc = MPK_ECHILD;
  else
    rc = reap_locked(p, 0) == MPK_EAGAIN ? 1 : 0;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static int send_signal(mpk_process_t *p, int sig) {
  if (p == NULL)
    return MPK_EINVAL;
  pthread_mutex_lock(&p->mu);
  int rc = running_locked(p);
  if (rc == MPK_OK && p->state == ST_RUNNING)
    kill(p->pid, sig); /* unreaped (we hold the lock): still our child */
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int mpk_process_terminate(mpk_process_t *p) {
  return send_signal(p, SIGTERM);
}

int mpk_process_kill(mpk_process_t *p) {
  return send_signal(p, SIGKILL);
}

int mpk_process_exitcode(const mpk_process_t *cp, int *code) {
  if (cp == NULL || code == NULL)
    return MPK_EINVAL;
  /* Every handle is allocated writable by mpk_process_new; the const only
     promises that the caller's view (the code) is not changed. */
  mpk_process_t *p = (mpk_process_t *)cp;
  pthread_mutex_lock(&p->mu);
  int rc;
  if (p->state == ST_NEW || p->state == ST_STARTING) {
    rc = MPK_ESTATE;
  } else if (p->state == ST_RUNNING) {
    if (p->owner != mpk__self_pid())
      rc = MPK_ECHILD;
    else
      rc = reap_locked(p, 0) == MPK_EAGAIN ? MPK_ESTATE : MPK_OK;
  } else {
    rc = MPK_OK;
  }
  if (rc == MPK_OK && p->state == ST_LOST)
    rc = MPK_ECHILD;
  if (rc == MPK_OK)
    *code = mpk__status_to_exitcode(p->wstatus);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* ---- names and pids ------------------------------------------------------ */

pid_t mpk_process_pid(const mpk_process_t *p) {
  return p ? atomic_load_explicit(&p->pid, memory_order_relaxed) : 0;
}

const char *mpk_process_name(const mpk_process_t *p) {
  return p ? p->name : NULL;
}

const char *mpk_current_process_name(void) {
  return mpk__process_name();
}
