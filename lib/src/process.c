/* process.c - mpk_process_*: Python's Process on top of internal/spawn.h.
 *
 * A handle moves NEW -> STARTING -> RUNNING -> DONE (or LOST when its exit
 * status was taken by someone else: reaped behind mpk's back, even before
 * start could open its pidfd). Once fork() succeeded, start has happened:
 * nothing after that undoes it, except a binding failure reported by the
 * child before `run`. The handle lock guards the state and the reaping; it
 * is never held while waiting for the child (join sleeps on the pidfd
 * unlocked). Every signal and every reap of the child happens under the
 * lock, after checking that it has not been reaped (by us, or by the
 * exit-time handling), and signals go through the pidfd, so a signal can
 * never reach a recycled pid.
 *
 * A handle belongs to the process that created it (as in Python). The
 * child of a fork gets a copy of the handle, including a copy of its lock
 * that may have been held by a thread that does not exist in the child:
 * every entry point checks the owner BEFORE touching the lock, and a copy
 * is only ever freed (memory only).
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
#include "internal/error.h"
#include "internal/spawn.h"

enum { ST_NEW, ST_STARTING, ST_RUNNING, ST_DONE, ST_LOST };

/* The child's exit code when binding to its cpuset failed before `run`. */
#define BIND_FAILED_EXIT 127

struct mpk_process {
  /* mpk__self_pid() of the creating process: written once before
     mpk_process_new returns the handle, read-only afterwards, so read
     without the lock (the lock of a forked copy must not be touched). */
  pid_t owner;
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
  int pidfd;        /* open from start until reaped and no joiner uses it;
                       -1 while RUNNING only if start could not open one */
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

static int not_owner(const mpk_process_t *p) {
  return p->owner != mpk__self_pid();
}

static void close_pidfd_locked(mpk_process_t *p) {
  if (p->pidfd >= 0 && p->waiters == 0) {
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
  int settled = atomic_load_explicit(&p->node->reaped, memory_order_acquire);
  if (settled) {
    /* The exit-time handling reaped it (and kept its status) or found it
       gone: its pid may already belong to another process, so never wait
       for it again. */
    finish_locked(p, settled == MPK__REAPED_STATUS ? ST_DONE : ST_LOST,
                  p->node->wstatus);
    return MPK_OK;
  }
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
  finish_locked(p, rc == MPK_OK ? ST_DONE : ST_LOST, rc == MPK_OK ? st : 0);
  return MPK_OK;
}

/* A RUNNING handle without a pidfd (start could not open one): open it now.
   MPK_OK (p->pidfd set, or the child turned out to be reaped already: p is
   then DONE or LOST), or MPK_EAGAIN / MPK_ENOMEM (no descriptor to be had;
   p unchanged). */
static int ensure_pidfd_locked(mpk_process_t *p) {
  if (p->state != ST_RUNNING || p->pidfd >= 0)
    return MPK_OK;
  int fd = mpk__pidfd_open(p->pid);
  /* The pid may have been reaped behind our back and reused: a pidfd is
     only ours if the pid is still our unreaped child afterwards. */
  if (reap_locked(p, 0) != MPK_EAGAIN) {
    if (fd >= 0)
      close(fd);
    return MPK_OK;
  }
  if (fd == MPK_ECHILD)
    return mpk__errf(MPK_EAGAIN,
                     "pidfd_open(%d): no such process, yet not "
                     "reaped",
                     (int)p->pid);
  if (fd < 0)
    return fd;
  p->pidfd = fd;
  mpk__child_set_pidfd(p->node, fd);
  return MPK_OK;
}

/* The common failures, recorded. */
static int not_owner_err(const char *fn) {
  return mpk__errf(MPK_ECHILD,
                   "%s: the handle belongs to the process that "
                   "made it, not to this forked child",
                   fn);
}

static int not_started_err(const char *fn, const mpk_process_t *p) {
  return mpk__errf(MPK_ESTATE,
                   "%s: process '" MPK__QFMT "' has not been "
                   "started",
                   fn, MPK__Q(p->name));
}

static int lost_err(const mpk_process_t *p) {
  return mpk__errf(MPK_ECHILD,
                   "process '" MPK__QFMT "' (pid %d) was reaped "
                   "behind mpk's back (SIGCHLD ignored, or a waitpid(-1)): "
                   "its exit status is lost",
                   MPK__Q(p->name), (int)p->pid);
}

/* ---- new / free ---------------------------------------------------------- */

int mpk_process_new(mpk_process_t **out, mpk_process_fn run, const void *arg,
                    size_t arg_size, const mpk_process_opts *opts) {
  if (out == NULL || run == NULL)
    return mpk__err_null(out == NULL ? "p" : "run");
  if (arg == NULL && arg_size > 0)
    return mpk__errf(MPK_EINVAL,
                     "mpk_process_new: arg is NULL with arg_size "
                     "%zu",
                     arg_size);
  if (opts && opts->daemon != 0 && opts->daemon != 1)
    return mpk__errf(MPK_EINVAL, "mpk_process_new: daemon is %d, not 0 or 1",
                     opts->daemon);
  mpk__reap_orphans();
  mpk_process_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for a process handle");
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
    return mpk__errf(MPK_ENOMEM, "no memory for a process handle");
  }
  if (p->name == NULL)
    p->name = p->lineage;
  p->owner = mpk__self_pid();
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
  if (not_owner(p)) {
    /* A copy inherited across fork: its lock may be a copy of one held by
       a thread of the parent, its node is the parent's (forgotten by the
       registry reset) and its pidfd was closed by the fork handler. Only
       the memory is ours. */
    free(p->node);
  } else {
    pthread_mutex_lock(&p->mu);
    if (p->state == ST_RUNNING && reap_locked(p, 0) == MPK_EAGAIN) {
      /* still running: the registry takes over the node and the pidfd
         (node->pidfd is the same descriptor) */
      p->pidfd = -1;
      mpk__child_orphan(p->node);
      p->node = NULL;
    }
    close_pidfd_locked(p);
    free(p->node);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_destroy(&p->mu);
  }
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
/* The child (of mpk__fork(..., p): of the report pipe only the write end
   `wfd` is open, if there is one). */
_Noreturn static void child_main(mpk_process_t *p, int wfd) {
  if (wfd >= 0) {
    int rc = mpk_bind_self(p->cpuset);
    ssize_t w;
    do
      w = write(wfd, &rc, sizeof rc);
    while (w == -1 && errno == EINTR);
    mpk__fd_close(wfd);
    if (rc != MPK_OK)
      _exit(BIND_FAILED_EXIT);
  }
  mpk__child_exit(p->run(p->arg));
}

/* In the parent: wait for the child's binding report. MPK_OK when bound (or
   when the child died before reporting: it did start, join tells how it
   ended), else the binding error. `gone`: the child has been reaped
   already, so whatever it wrote is there now. `pidfd` may be -1 (out of
   descriptors; poll skips it): then only the pipe tells, and a child killed
   before reporting is seen when its write end closes (no other process
   holds a copy: the pipe is registered, see internal/spawn.h). */
static int await_bind(int rfd, int pidfd, int gone) {
  struct pollfd f[2] = {{.fd = rfd, .events = POLLIN},
                        {.fd = pidfd, .events = POLLIN}};
  for (;;) {
    int n = poll(f, 2, gone ? 0 : -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0 || (n > 0 && f[0].revents == 0))
      return MPK_OK; /* exited without a word */
    break; /* a report or EOF; or poll failed, and read waits instead */
  }
  int rc = MPK_OK;
  ssize_t r;
  do
    r = read(rfd, &rc, sizeof rc);
  while (r == -1 && errno == EINTR);
  return r == (ssize_t)sizeof rc ? rc : MPK_OK;
}

/* Check a cpuset before forking: it must parse and name at least one PU
   this process may use (mpk_topo_plan's MPK_EINVAL). This also loads the
   topology in the parent, so the child inherits it instead of loading it. */
static int check_cpuset(const char *cpuset) {
  char buf[256];
  mpk__errstate saved;
  mpk__err_save(&saved);
  int rc = mpk_topo_plan(1, MPK_BIND_NONE, cpuset, 0, buf, sizeof buf);
  if (rc != MPK_EMSGSIZE)
    return rc;
  mpk__err_restore(&saved); /* a long list is no error */
  return MPK_OK;
}

static void reset_to_new(mpk_process_t *p) {
  pthread_mutex_lock(&p->mu);
  p->state = ST_NEW;
  pthread_mutex_unlock(&p->mu);
}

/* Check the cpuset (and open the report pipe for it), then fork. Returns
   the child's pid with pipefd[0] open if there is a cpuset (the write end
   is closed), or a negative code: nothing was forked, no pipe is open. */
static pid_t fork_child(mpk_process_t *p, int pipefd[2]) {
  if (p->cpuset) {
    int rc = check_cpuset(p->cpuset);
    if (rc != MPK_OK)
      return rc;
    /* Registered, so that no other child (a pool's worker forked by
       another thread meanwhile) ever holds the write end. */
    mpk__fds_lock();
    rc = mpk__fd_own_pair_locked(pipe2(pipefd, O_CLOEXEC),
                                 "pipe2 (start report)", pipefd, p,
                                 MPK__FD_PRIVATE, MPK__FD_SHARED);
    mpk__fds_unlock();
    if (rc != MPK_OK)
      return rc;
  }
  pid_t pid = mpk__fork(p->name, p->lineage, p);
  if (pid == 0)
    child_main(p, pipefd[1]);
  if (pid < 0)
    mpk__fd_close(pipefd[0]);
  mpk__fd_close(pipefd[1]);
  return pid;
}

/* The binding report of a child forked with a cpuset (read end `rfd`, which
   is closed): MPK_OK, or the binding error once the child, which exits
   without running `run`, has been reaped. */
static int bind_result(const mpk_process_t *p, pid_t pid, int pidfd, int gone,
                       int rfd) {
  int rc = await_bind(rfd, pidfd, gone);
  mpk__fd_close(rfd);
  if (rc != MPK_OK && !gone) {
    mpk__deadline forever;
    int st;
    mpk__deadline_init(&forever, MPK_FOREVER);
    mpk__wait_child(pid, pidfd, &forever, &st);
  }
  if (rc != MPK_OK)
    mpk__errf_(rc,
               "process '" MPK__QFMT "' (pid %d) could not bind to "
               "cpuset '" MPK__QFMT "': %s",
               MPK__Q(p->name), (int)pid, MPK__Q(p->cpuset), mpk_strerror(rc));
  return rc;
}

int mpk_process_start(mpk_process_t *p) {
  if (p == NULL)
    return mpk__err_null("p");
  if (not_owner(p))
    return not_owner_err(__func__);
  mpk__reap_orphans();
  pthread_mutex_lock(&p->mu);
  if (p->state != ST_NEW) {
    pthread_mutex_unlock(&p->mu);
    return mpk__errf(MPK_ESTATE,
                     "mpk_process_start: process '" MPK__QFMT
                     "' was started already",
                     MPK__Q(p->name));
  }
  p->state = ST_STARTING; /* the lock is not held across fork */
  pthread_mutex_unlock(&p->mu);

  int pipefd[2] = {-1, -1};
  mpk__child *node = calloc(1, sizeof *node);
  pid_t pid = node ? fork_child(p, pipefd)
                   : mpk__errf(MPK_ENOMEM, "no memory for a child record");
  if (pid < 0) {
    free(node);
    reset_to_new(p);
    return (int)pid;
  }
  /* The child exists and may be running `run` already: from here on the
     start has happened and is never undone (no kill), unless the child
     reports a binding failure (it then exits before `run`). If the child
     has been reaped behind our back before we could open its pidfd
     (SIGCHLD ignored, a waitpid(-1) in another thread), its status is
     lost. Any other failure to open the pidfd leaves it -1: join opens one
     later. */
  mpk__errstate saved;
  mpk__err_save(&saved);
  int pidfd = mpk__pidfd_open(pid);
  mpk__err_restore(&saved); /* absorbed: join opens one later */
  int gone = pidfd == MPK_ECHILD;
  if (pidfd < 0)
    pidfd = -1;
  if (pipefd[0] >= 0) {
    int rc = bind_result(p, pid, pidfd, gone, pipefd[0]);
    if (rc != MPK_OK) {
      if (pidfd >= 0)
        close(pidfd);
      free(node);
      reset_to_new(p);
      return rc;
    }
  }

  pthread_mutex_lock(&p->mu);
  atomic_store_explicit(&p->pid, pid, memory_order_relaxed);
  if (gone) {
    free(node);
    p->state = ST_LOST;
  } else {
    node->pid = pid;
    node->pidfd = pidfd;
    node->flags = p->daemon ? MPK__CHILD_DAEMON : 0;
    mpk__child_track(node);
    p->node = node;
    p->pidfd = pidfd;
    p->state = ST_RUNNING;
  }
  pthread_mutex_unlock(&p->mu);
  return MPK_OK;
}

/* ---- join / is_alive / signals / exitcode -------------------------------- */

int mpk_process_join(mpk_process_t *p, double timeout) {
  if (p == NULL)
    return mpk__err_null("p");
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  if (not_owner(p))
    return not_owner_err(__func__);
  mpk__reap_orphans();
  pthread_mutex_lock(&p->mu);
  int rc = p->state == ST_NEW || p->state == ST_STARTING
               ? not_started_err(__func__, p)
               : ensure_pidfd_locked(p);
  if (rc != MPK_OK || p->state != ST_RUNNING) {
    if (rc == MPK_OK && p->state == ST_LOST)
      rc = lost_err(p);
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
    rc = lost_err(p);
  pthread_mutex_unlock(&p->mu);
  return mpk__err_answer(rc);
}

int mpk_process_is_alive(mpk_process_t *p) {
  if (p == NULL)
    return mpk__err_null("p");
  if (not_owner(p))
    return not_owner_err(__func__);
  mpk__reap_orphans();
  pthread_mutex_lock(&p->mu);
  int rc = p->state == ST_RUNNING && reap_locked(p, 0) == MPK_EAGAIN;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

static int send_signal(const char *fn, mpk_process_t *p, int sig) {
  if (p == NULL)
    return mpk__errf(MPK_EINVAL, "%s: p is NULL", fn);
  if (not_owner(p))
    return not_owner_err(fn);
  pthread_mutex_lock(&p->mu);
  int rc = MPK_OK;
  if (p->state == ST_NEW || p->state == ST_STARTING)
    rc = not_started_err(fn, p);
  else if (p->state == ST_RUNNING && reap_locked(p, 0) == MPK_EAGAIN)
    /* Unreaped (we hold the lock), so still our child; the pidfd makes
       sure of it even if someone reaps it behind our back right now. */
    mpk__signal_child(p->pid, p->pidfd, sig);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

int mpk_process_terminate(mpk_process_t *p) {
  return send_signal(__func__, p, SIGTERM);
}

int mpk_process_kill(mpk_process_t *p) {
  return send_signal(__func__, p, SIGKILL);
}

int mpk_process_exitcode(const mpk_process_t *cp, int *code) {
  if (cp == NULL || code == NULL)
    return mpk__err_null(cp == NULL ? "p" : "code");
  if (not_owner(cp))
    return not_owner_err(__func__);
  /* Every handle is allocated writable by mpk_process_new; the const only
     promises that the caller's view (the code) is not changed. */
  mpk_process_t *p = (mpk_process_t *)cp;
  pthread_mutex_lock(&p->mu);
  int rc;
  if (p->state == ST_NEW || p->state == ST_STARTING)
    rc = not_started_err(__func__, p);
  else if (p->state == ST_RUNNING && reap_locked(p, 0) == MPK_EAGAIN)
    rc = mpk__errf(MPK_ESTATE,
                   "mpk_process_exitcode: process '" MPK__QFMT
                   "' is still running",
                   MPK__Q(p->name));
  else
    rc = MPK_OK;
  if (rc == MPK_OK && p->state == ST_LOST)
    rc = lost_err(p);
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
