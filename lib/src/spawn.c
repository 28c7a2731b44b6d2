/* spawn.c - the fork layer: mpk__fork, pidfds, waiting, names and the child
 * registry settled at exit. Contracts are in internal/spawn.h. */
#include "internal/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/error.h"
#include "internal/shm.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* same number on every architecture */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424 /* same number on every architecture */
#endif

/* ---- per-process identity -------------------------------------------------
 * Written only in a child right after the fork (mpk__fork, atfork_child:
 * single-threaded at that point) and by mpk__set_process_name; read by
 * anyone. The names live in static buffers, so the child allocates nothing:
 * after a fork every page a process writes costs a copy-on-write fault, and
 * these buffers usually share a page with the registry that the child's
 * atfork handler writes anyway. A
 * name that does not fit is strdup()ed (and truncated into the buffer if
 * even that fails). Replaced strings are never freed: a caller may still
 * hold the old pointer. */
#define NAME_BUF 128
static const char *g_name = "MainProcess";
static const char *g_lineage = NULL; /* NULL: "Process-N" names */
static char g_name_buf[NAME_BUF], g_lineage_buf[NAME_BUF];
/* Children numbered so far. Relaxed order: only the uniqueness of the
   returned values matters, no other memory is published through it. */
static atomic_ulong g_child_count;
/* getpid() of this process, refreshed in the child of every fork by
   atfork_child; 0 until the registry is set up. Relaxed: each process only
   ever reads the value its own (single) writer stored before any thread
   could ask. */
static _Atomic pid_t g_pid;

static const char *keep_name(const char *s, char *buf) {
  size_t n = strlen(s);
  if (n < NAME_BUF) {
    memmove(buf, s, n + 1); /* s may be buf itself */
    return buf;
  }
  char *copy = strdup(s);
  if (copy)
    return copy;
  memcpy(buf, s, NAME_BUF - 1);
  buf[NAME_BUF - 1] = '\0';
  return buf;
}

const char *mpk__process_name(void) {
  return g_name;
}

int mpk__set_process_name(const char *name) {
  if (name == NULL)
    return mpk__errf(MPK_EINVAL, "process name is NULL");
  char *copy = strdup(name);
  if (copy == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for the process name");
  g_name = copy;
  return MPK_OK;
}

char *mpk__next_child_name(void) {
  const char *lin = g_lineage;
  /* Allocate before taking the number so that a failure uses none. */
  size_t cap = (lin ? strlen(lin) + 1 : sizeof "Process-" - 1) + 21;
  char *s = malloc(cap);
  if (s == NULL)
    return NULL;
  unsigned long n =
      atomic_fetch_add_explicit(&g_child_count, 1, memory_order_relaxed) + 1;
  if (lin)
    snprintf(s, cap, "%s:%lu", lin, n);
  else
    snprintf(s, cap, "Process-%lu", n);
  return s;
}

/* ---- the child registry -------------------------------------------------- */
static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static mpk__child g_reg_head = {&g_reg_head, &g_reg_head, 0, -1, 0, 0, 0, 0};
/* Orphans in the registry, so mpk__reap_orphans can skip the lock when there
   are none. Written under the lock; read without it with relaxed order: a
   stale 0 only delays reaping to the next call, never loses an orphan. */
static atomic_int g_orphans;
static pthread_once_t g_reg_once = PTHREAD_ONCE_INIT;

/* A running exit watcher (mpk__pidfd_open_watcher): the thread's own
   descriptor of the eventfd it signals. Linked in g_watches under the
   registry lock, so that the child of a fork, where the thread does not
   exist, can close its copy of the descriptor. */
typedef struct watch {
  struct watch *next, *prev; /* registry lock */
  pid_t pid;
  int efd;
} watch;
static watch g_watches = {&g_watches, &g_watches, 0, -1};

/* ---- the library's own descriptors ----------------------------------------
 * Contract in internal/spawn.h. g_fd_lock is held across every fork()
 * (atfork_prepare takes it before the registry lock), so a descriptor that
 * is created and registered under it is either in no child or in the table
 * of every child that has a copy. Order: g_fd_lock before g_reg_lock
 * (mpk__pidfd_open_owned may start a watcher, which takes the registry
 * lock). */
typedef struct {
  int fd;
  unsigned flags; /* MPK__FD_* */
  const void *owner;
} own_fd;
static pthread_mutex_t g_fd_lock = PTHREAD_MUTEX_INITIALIZER;
static own_fd *g_fds; /* g_fd_lock */
static size_t g_nfds, g_fds_cap;
/* What the child of the fork this thread is making keeps: set by mpk__fork
   around fork(), read by atfork_child in the child, whose only thread is a
   copy of this one. NULL (a raw fork()): the child keeps none. */
static _Thread_local const void *t_fork_keep;

/* In the child of a fork (single-threaded): close and forget every
   registered descriptor it does not keep. */
static void close_unkept_fds(const void *keep) {
  size_t k = 0;
  for (size_t i = 0; i < g_nfds; i++) {
    if (keep != NULL && g_fds[i].owner == keep &&
        !(g_fds[i].flags & MPK__FD_PRIVATE))
      g_fds[k++] = g_fds[i];
    else
      close(g_fds[i].fd);
  }
  g_nfds = k;
}

static void atfork_prepare(void) {
  pthread_mutex_lock(&g_fd_lock);
  pthread_mutex_lock(&g_reg_lock);
}
static void atfork_parent(void) {
  pthread_mutex_unlock(&g_reg_lock);
  pthread_mutex_unlock(&g_fd_lock);
}
/* The child of any fork: its parent's children are not its children. Close
   the inherited descriptors (handles in the child never use them: they check
   that they are used by the process that created them) and forget the
   nodes, which belong to the parent's copy of the heap. The watcher threads
   were not copied: close their descriptors and free their records (this
   process's copies). Then close the library descriptors this child does
   not keep (mpk__fork's `keep`). */
static void atfork_child(void) {
  for (mpk__child *c = g_reg_head.next; c != &g_reg_head; c = c->next) {
    if (c->pidfd >= 0)
      close(c->pidfd);
    c->tracked = 0;
  }
  g_reg_head.next = g_reg_head.prev = &g_reg_head;
  for (watch *w = g_watches.next, *nx; w != &g_watches; w = nx) {
    nx = w->next;
    close(w->efd);
    free(w);
  }
  g_watches.next = g_watches.prev = &g_watches;
  atomic_store_explicit(&g_orphans, 0, memory_order_relaxed);
  atomic_store_explicit(&g_pid, getpid(), memory_order_relaxed);
  close_unkept_fds(t_fork_keep);
  t_fork_keep = NULL;
  /* This thread held the locks across fork() (atfork_prepare). */
  pthread_mutex_unlock(&g_reg_lock);
  pthread_mutex_unlock(&g_fd_lock);
}

static void exit_handler(void) {
  mpk__children_exit();
}

static void reg_init(void) {
  atomic_store_explicit(&g_pid, getpid(), memory_order_relaxed);
  /* Call once here what every child calls first thing: with lazy binding,
     a function the parent never called is resolved again in each child
     (a symbol lookup and a copy-on-write fault on the GOT). */
  int sig = 0;
  prctl(PR_GET_PDEATHSIG, &sig);
  (void)getppid();
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  atexit(exit_handler);
}

static void reg_ensure(void) {
  pthread_once(&g_reg_once, reg_init);
}

pid_t mpk__self_pid(void) {
  reg_ensure();
  return atomic_load_explicit(&g_pid, memory_order_relaxed);
}

static void unlink_locked(mpk__child *c) {
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->next = c->prev = c;
  c->tracked = 0;
  if (c->flags & MPK__CHILD_ORPHAN)
    atomic_fetch_sub_explicit(&g_orphans, 1, memory_order_relaxed);
}

void mpk__child_track(mpk__child *c) {
  reg_ensure();
  pthread_mutex_lock(&g_reg_lock);
  if (!c->tracked) {
    atomic_store_explicit(&c->reaped, 0, memory_order_relaxed);
    c->flags &= ~(unsigned)MPK__CHILD_ORPHAN;
    c->next = &g_reg_head;
    c->prev = g_reg_head.prev;
    g_reg_head.prev->next = c;
    g_reg_head.prev = c;
    c->tracked = 1;
  }
  pthread_mutex_unlock(&g_reg_lock);
}

void mpk__child_untrack(mpk__child *c) {
  pthread_mutex_lock(&g_reg_lock);
  if (c->tracked)
    unlink_locked(c);
  pthread_mutex_unlock(&g_reg_lock);
}

void mpk__child_set_pidfd(mpk__child *c, int pidfd) {
  pthread_mutex_lock(&g_reg_lock);
  c->pidfd = pidfd;
  pthread_mutex_unlock(&g_reg_lock);
}

static void free_node(mpk__child *c) {
  if (c->pidfd >= 0)
    close(c->pidfd);
  free(c);
}

void mpk__child_orphan(mpk__child *c) {
  pthread_mutex_lock(&g_reg_lock);
  int tracked = c->tracked;
  if (tracked) {
    c->flags |= MPK__CHILD_ORPHAN;
    atomic_fetch_add_explicit(&g_orphans, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&g_reg_lock);
  if (!tracked)
    free_node(c);
  else
    mpk__reap_orphans(); /* it may have ended already */
}

void mpk__reap_orphans(void) {
  if (atomic_load_explicit(&g_orphans, memory_order_relaxed) == 0)
    return;
  mpk__child *done = NULL; /* freed outside the lock */
  pthread_mutex_lock(&g_reg_lock);
  for (mpk__child *c = g_reg_head.next, *nx; c != &g_reg_head; c = nx) {
    nx = c->next;
    int st;
    if (!(c->flags & MPK__CHILD_ORPHAN) || mpk__reap(c->pid, &st) == MPK_EAGAIN)
      continue;
    unlink_locked(c);
    c->next = done;
    done = c;
  }
  pthread_mutex_unlock(&g_reg_lock);
  while (done) {
    mpk__child *nx = done->next;
    free_node(done);
    done = nx;
  }
}

/* Reap c (already signalled, or to be joined) and record how it ended. */
static void settle(mpk__child *c, const mpk__deadline *d) {
  int st = 0;
  int rc = mpk__wait_child(c->pid, c->pidfd, d, &st);
  if (rc != MPK_OK && rc != MPK_ECHILD) {
    /* A daemon's grace ran out (or there was no descriptor to wait with):
       still unreaped, so still this child. A joined child is never
       killed. Then wait in waitpid, which needs no descriptor. */
    if (!d->forever)
      mpk__signal_child(c->pid, c->pidfd, SIGKILL);
    mpk__deadline forever;
    mpk__deadline_init(&forever, MPK_FOREVER);
    rc = mpk__wait_child(c->pid, -1, &forever, &st);
  }
  c->wstatus = rc == MPK_OK ? st : 0;
  atomic_store_explicit(&c->reaped,
                        rc == MPK_OK ? MPK__REAPED_STATUS : MPK__REAPED_LOST,
                        memory_order_release);
}

static double g_daemon_grace = MPK__DAEMON_GRACE;

void mpk__set_daemon_grace(double seconds) {
  g_daemon_grace = seconds;
}

void mpk__children_exit(void) {
  /* Take the whole list: nodes stay owned by their handles (or by us, for
     orphans), but nobody else walks them any more. */
  pthread_mutex_lock(&g_reg_lock);
  mpk__child *list = NULL, **tail = &list;
  for (mpk__child *c = g_reg_head.next, *nx; c != &g_reg_head; c = nx) {
    nx = c->next;
    unlink_locked(c); /* keeps c->flags, so orphans stay marked */
    *tail = c;
    tail = &c->next;
  }
  *tail = NULL;
  pthread_mutex_unlock(&g_reg_lock);
  if (list == NULL)
    return;

  int daemons = 0;
  for (mpk__child *c = list; c; c = c->next)
    if (c->flags & MPK__CHILD_DAEMON) {
      /* Not reaped by us yet; through its pidfd the signal cannot reach
         another process even if someone else reaped it. */
      mpk__signal_child(c->pid, c->pidfd, SIGTERM);
      daemons++;
    }
  if (daemons) {
    mpk__deadline grace;
    mpk__deadline_init(&grace, g_daemon_grace);
    for (mpk__child *c = list; c; c = c->next)
      if (c->flags & MPK__CHILD_DAEMON)
        settle(c, &grace);
  }
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  for (mpk__child *c = list; c; c = c->next)
    if (!(c->flags & MPK__CHILD_DAEMON))
      settle(c, &forever);
  while (list) {
    mpk__child *nx = list->next;
    if (list->flags & MPK__CHILD_ORPHAN)
      free_node(list);
    else
      list->next = list->prev = list;
    list = nx;
  }
}

/* ---- fork ---------------------------------------------------------------- */
/* errno of a failed descriptor, fork or thread call as an MPK code: a
   resource limit (EAGAIN, EMFILE, ENFILE...) unless it says otherwise. */
static int errno_to_mpk(int e) {
  return mpk__errno_code(e, MPK_EAGAIN);
}

/* The same, recording "<what>: <errno text>" (a final failure). */
static int sys_failed(int e, const char *what) {
  return mpk__errsys(e, MPK_EAGAIN, "%s", what);
}

void mpk__fds_lock(void) {
  reg_ensure(); /* the atfork handlers must exist before any entry */
  pthread_mutex_lock(&g_fd_lock);
}

void mpk__fds_unlock(void) {
  pthread_mutex_unlock(&g_fd_lock);
}

static own_fd *find_fd_locked(int fd) {
  for (size_t i = 0; i < g_nfds; i++)
    if (g_fds[i].fd == fd)
      return &g_fds[i];
  return NULL;
}

static void remove_fd_locked(int fd) {
  own_fd *e = find_fd_locked(fd);
  if (e)
    *e = g_fds[--g_nfds];
}

static int add_fd_locked(int fd, const void *owner, unsigned flags) {
  own_fd *e = find_fd_locked(fd);
  if (e == NULL) {
    if (g_nfds == g_fds_cap) {
      size_t cap = g_fds_cap ? 2 * g_fds_cap : 16;
      own_fd *n = realloc(g_fds, cap * sizeof *n);
      if (n == NULL)
        return mpk__errf(MPK_ENOMEM, "no memory to register descriptor %d", fd);
      g_fds = n;
      g_fds_cap = cap;
    }
    e = &g_fds[g_nfds++];
  }
  *e = (own_fd){fd, flags, owner};
  return MPK_OK;
}

int mpk__fd_own_locked(int fd, const char *what, const void *owner,
                       unsigned flags) {
  if (fd < 0)
    return sys_failed(errno, what);
  int rc = owner ? add_fd_locked(fd, owner, flags)
                 : mpk__errf(MPK_EINVAL, "%s: descriptor owner is NULL", what);
  if (rc != MPK_OK) {
    close(fd);
    return rc;
  }
  return fd;
}

int mpk__fd_own_pair_locked(int rc, const char *what, int fds[2],
                            const void *owner, unsigned flags0,
                            unsigned flags1) {
  if (rc != 0)
    return sys_failed(errno, what);
  rc = owner ? add_fd_locked(fds[0], owner, flags0)
             : mpk__errf(MPK_EINVAL, "%s: descriptor owner is NULL", what);
  if (rc == MPK_OK) {
    rc = add_fd_locked(fds[1], owner, flags1);
    if (rc != MPK_OK)
      remove_fd_locked(fds[0]);
  }
  if (rc != MPK_OK) {
    close(fds[0]);
    close(fds[1]);
    fds[0] = fds[1] = -1;
  }
  return rc;
}

int mpk__pidfd_open_owned(pid_t pid, const void *owner) {
  mpk__fds_lock();
  int fd = mpk__pidfd_open(pid);
  if (fd >= 0) {
    int rc = owner ? add_fd_locked(fd, owner, MPK__FD_PRIVATE)
                   : mpk__errf(MPK_EINVAL, "pidfd owner is NULL");
    if (rc != MPK_OK) {
      close(fd);
      fd = rc;
    }
  }
  mpk__fds_unlock();
  return fd;
}

void mpk__fd_set_flags(int fd, unsigned flags) {
  mpk__fds_lock();
  own_fd *e = find_fd_locked(fd);
  if (e)
    e->flags = flags;
  mpk__fds_unlock();
}

void mpk__fd_close(int fd) {
  if (fd < 0)
    return;
  /* Unregister and close under the lock. Otherwise a fork in between
     would either inherit the descriptor unregistered (unregistered first)
     or find its number still registered after another thread's open()
     reused it (closed first), and close that descriptor in the child. */
  mpk__fds_lock();
  remove_fd_locked(fd);
  close(fd);
  mpk__fds_unlock();
}

pid_t mpk__fork(const char *child_name, const char *lineage, const void *keep) {
  if (child_name == NULL)
    return mpk__errf(MPK_EINVAL, "child name is NULL");
  int rc = mpk__shm_init();
  if (rc != MPK_OK)
    return rc;
  reg_ensure();
  pid_t parent = mpk__self_pid();
  fflush(NULL);
  t_fork_keep = keep;
  pid_t pid = fork();
  t_fork_keep = NULL;
  if (pid < 0)
    return mpk__errsys(errno, MPK_EAGAIN, "fork");
  if (pid > 0)
    return pid;
  /* Child. The registry was reset and g_pid refreshed by atfork_child. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    raise(SIGKILL); /* the parent died before prctl: die as it would have */
  /* Lineage first: child_name may be mpk__process_name(), i.e. g_name_buf. */
  g_lineage = keep_name(lineage ? lineage : child_name, g_lineage_buf);
  g_name = keep_name(child_name, g_name_buf);
  atomic_store_explicit(&g_child_count, 0, memory_order_relaxed);
  return 0;
}

_Noreturn void mpk__child_exit(int code) {
  mpk__children_exit();
  mpk__shm_flush_cache();
  fflush(NULL);
  _exit(code & 0xff);
}

/* ---- pidfds and waiting -------------------------------------------------- */

/* The watcher writes to its own descriptor of the eventfd once the child
   has exited; readiness is the counter, not an end-of-file, so descriptor
   copies inherited by other children (a fork while the watcher waits)
   cannot delay it. The record is unlinked and the descriptor closed under
   the registry lock, so a concurrent fork either sees both or neither. */
static void *watcher_main(void *p) {
  watch *w = p;
  siginfo_t si;
  while (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOWAIT) == -1 &&
         errno == EINTR) {
  }
  /* Exited, or already reaped (ECHILD): either way the fd turns readable. */
  uint64_t one = 1;
  while (write(w->efd, &one, sizeof one) == -1 && errno == EINTR) {
  }
  pthread_mutex_lock(&g_reg_lock);
  w->prev->next = w->next;
  w->next->prev = w->prev;
  close(w->efd);
  pthread_mutex_unlock(&g_reg_lock);
  free(w);
  return NULL;
}

int mpk__pidfd_open_watcher(pid_t pid) {
  if (pid <= 0)
    return mpk__errf(MPK_EINVAL, "pid %d <= 0", (int)pid);
  reg_ensure();
  /* Fail early, without a thread, when pid is not a child of ours. */
  siginfo_t si;
  si.si_pid = 0;
  if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1 &&
      errno != EINTR)
    return errno_to_mpk(errno); /* ECHILD: not recorded, callers absorb it */
  int fd = eventfd(0, EFD_CLOEXEC);
  if (fd == -1)
    return sys_failed(errno, "eventfd (pid watcher)");
  watch *w = malloc(sizeof *w);
  int wfd = w ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (wfd == -1) {
    int rc = w ? sys_failed(errno, "fcntl F_DUPFD_CLOEXEC (pid watcher)")
               : mpk__errf(MPK_ENOMEM, "no memory for a pid watcher");
    free(w);
    close(fd);
    return rc;
  }
  w->pid = pid;
  w->efd = wfd;
  pthread_mutex_lock(&g_reg_lock);
  w->next = &g_watches;
  w->prev = g_watches.prev;
  g_watches.prev->next = w;
  g_watches.prev = w;
  pthread_mutex_unlock(&g_reg_lock);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  /* The watcher takes no signals: they belong to the application's
     threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int e = pthread_create(&t, &attr, watcher_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    pthread_mutex_lock(&g_reg_lock);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    close(w->efd);
    pthread_mutex_unlock(&g_reg_lock);
    free(w);
    close(fd);
    return sys_failed(e, "pthread_create (pid watcher)");
  }
  return fd;
}

int mpk__pidfd_open(pid_t pid) {
  if (pid <= 0)
    return mpk__errf(MPK_EINVAL, "pid %d <= 0", (int)pid);
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0)
    return (int)fd;
  if (errno == ENOSYS)
    return mpk__pidfd_open_watcher(pid);
  if (errno == ESRCH)
    return MPK_ECHILD; /* not recorded: callers absorb it */
  return sys_failed(errno, "pidfd_open");
}

int mpk__signal_child(pid_t pid, int pidfd, int sig) {
  if (pid <= 0)
    return mpk__errf(MPK_EINVAL, "pid %d <= 0", (int)pid);
  if (pidfd >= 0) {
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
      return MPK_OK;
    if (errno == ESRCH)
      return MPK_OK; /* already reaped: nothing to signal */
    if (errno != EBADF && errno != ENOSYS)
      return mpk__errsys(errno, MPK_EPERM, "pidfd_send_signal(pid %d, %d)",
                         (int)pid, sig);
    /* EBADF: the watcher's eventfd, not a pidfd (no pidfds here) */
  }
  if (kill(pid, sig) == 0 || errno == ESRCH)
    return MPK_OK;
  return mpk__errsys(errno, MPK_EPERM, "kill(pid %d, %d)", (int)pid, sig);
}

int mpk__wait_exit(int fd, const mpk__deadline *d) {
  if (fd < 0)
    return mpk__errf(MPK_EINVAL, "pid descriptor %d < 0", fd);
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, mpk__deadline_poll_ms(d));
    if (n > 0) {
      if (pfd.revents & POLLNVAL)
        return mpk__errf(MPK_EINVAL, "pid descriptor %d is not open", fd);
      return MPK_OK; /* POLLIN, or POLLHUP / POLLERR: the child is gone */
    }
    if (n == 0) {
      if (mpk__deadline_expired(d))
        return MPK_ETIMEDOUT;
      continue; /* poll's millisecond rounding woke us a little early */
    }
    if (errno != EINTR)
      return sys_failed(errno, "poll (child exit)");
  }
}

int mpk__reap(pid_t pid, int *wstatus) {
  if (pid <= 0)
    return MPK_ECHILD;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      *wstatus = st;
      return MPK_OK;
    }
    if (r == 0)
      return MPK_EAGAIN;
    if (errno != EINTR)
      return MPK_ECHILD;
  }
}

/* waitpid without WNOHANG, EINTR retried: for a child known to have exited,
   or a FOREVER wait without a pidfd. */
static int reap_blocking(pid_t pid, int *wstatus) {
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, 0);
    if (r == pid) {
      *wstatus = st;
      return MPK_OK;
    }
    if (errno != EINTR)
      return MPK_ECHILD;
  }
}

int mpk__wait_child(pid_t pid, int pidfd, const mpk__deadline *d,
                    int *wstatus) {
  int rc = mpk__reap(pid, wstatus);
  if (rc != MPK_EAGAIN)
    return rc;
  if (pidfd < 0 && d->forever)
    return reap_blocking(pid, wstatus);
  int own = -1;
  if (pidfd < 0) {
    if (mpk__deadline_expired(d))
      return MPK_ETIMEDOUT;
    own = pidfd = mpk__pidfd_open(pid);
    if (own < 0)
      return own;
  }
  rc = mpk__wait_exit(pidfd, d);
  if (rc == MPK_OK)
    rc = reap_blocking(pid, wstatus); /* readable: it has exited */
  if (own >= 0)
    close(own);
  return rc;
}

int mpk__status_to_exitcode(int wstatus) {
  if (WIFEXITED(wstatus))
    return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus))
    return -WTERMSIG(wstatus);
  return 0;
}
