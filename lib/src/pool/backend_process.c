/* backend_process.c - worker processes: fork (from the monitor thread) or a
 * fork server, and the worker process entry.
 *
 * Every fork goes through mpk__fork (spawn.h): shared heap mapped, stdio
 * flushed, PR_SET_PDEATHSIG, parent-race check, per-process state reset.
 *
 * Fork server. A single-threaded process forked (from the monitor thread)
 * at pool creation. It forks every worker and every replacement, watches
 * them with pidfds, reaps them and reports over a SOCK_SEQPACKET socket:
 *   parent -> server  SPAWN {id, number}, KILL {id, signal}
 *   server -> parent  SPAWNED {id, pid}, FAILED {id, error},
 *                     EXITED {id, pid, wait status}
 * When the parent closes its end (or dies: the server has PDEATHSIG too) the
 * server SIGKILLs its workers, reaps them and exits, so no zombie is left.
 *
 * The worker process. The forking thread's copy is the only thread of the
 * child; it restores the creator's signal mask, binds itself (threads it
 * creates inherit the binding), and runs the worker loop on a FRESH thread:
 * GNU libgomp's per-thread state of a thread that ran OpenMP before the fork
 * is stale in the child and makes `omp parallel` hang there, while a thread
 * created after the fork starts clean. The worker thread ends the process
 * itself (mpk__child_exit) when its loop returns.
 *
 * Parent death. PR_SET_PDEATHSIG (set by mpk__fork) is tied to the forking
 * THREAD and, under heavy load, we have seen workers outlive an exiting
 * parent on this kernel. So the main thread of every worker also sleeps in
 * poll(2) on the read end of the pool's lifeline pipe, whose write end only
 * the pool's process holds: when that process dies, for any reason, the
 * kernel closes the write end, poll returns, and the worker _exits. No
 * polling loop, no race with the fork.
 *
 * Descriptors. Every descriptor here is registered with its pool
 * (internal/spawn.h) and every fork is mpk__fork(..., p): the fork server
 * and the workers keep only their own pool's eventfd and lifeline read end
 * (and the server its socket end) and hold nothing of another pool, so
 * each pool's server sees end-of-file on its socket as soon as its own
 * parent closes it, whatever other pools exist and in whatever order they
 * are freed. The lifeline write ends, the parent's socket ends and all
 * pidfds are MPK__FD_PRIVATE: no child holds them.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/spawn.h"
#include "mpk/topo.h"
#include "pool/pool_internal.h"

enum { M_SPAWN = 1, M_KILL, M_SPAWNED, M_FAILED, M_EXITED };

typedef struct {
  int32_t op;
  uint32_t id;
  uint32_t number;
  int32_t pid;
  int32_t value; /* signal, error, or wait status */
} msg;

struct mpk__procs {
  mpk_pool_t *p;
  bool server_mode;
  pid_t *pid; /* per slot, 0: none (FORK: our child; server: its child) */
  int *pidfd; /* FORK: per slot, -1: none */
  pid_t server;
  int server_pidfd;
  int sock; /* server mode: our end, -1 once the server is gone */
};

static void *proc_worker_main(void *arg) {
  void *ret = mpk__worker_thread(arg);
  mpk__child_exit((int)(intptr_t)ret);
}

/* The worker process, in the child of mpk__fork(..., p): the forking
   side's descriptors are closed already; forget (server mode) frees the
   fork server's tables. */
static _Noreturn void worker_child(mpk_pool_t *p, unsigned id,
                                   void (*forget)(void *), void *arg) {
  if (forget)
    forget(arg);
  mpk__set_worker_process((int)id, (int)p->W);
  pthread_sigmask(SIG_SETMASK, &p->sigmask, NULL);
  if (!p->bind_none)
    mpk_bind_self(p->cpus[id]);
  mpk__wstart *st = malloc(sizeof *st);
  pthread_t t;
  if (st == NULL)
    mpk__child_exit(MPK__WEXIT_INITFAIL);
  *st = (mpk__wstart){.pool = p, .id = id, .bind_here = 0};
  if (pthread_create(&t, NULL, proc_worker_main, st) != 0)
    mpk__child_exit(MPK__WEXIT_INITFAIL);
  /* The lifeline: returns only when the pool's process is gone. */
  struct pollfd pf = {.fd = p->life_r, .events = POLLIN};
  for (;;)
    if (poll(&pf, 1, -1) > 0)
      _exit(0);
}

static void worker_name(char *buf, size_t cap, unsigned number) {
  snprintf(buf, cap, "PoolWorker-%u", number);
}

static void send_msg(int sock, msg m) {
  ssize_t r;
  do
    r = send(sock, &m, sizeof m, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
}

/* ---- the fork server ---------------------------------------------------- */

typedef struct {
  mpk_pool_t *p;
  int sock;
  unsigned W;
  pid_t *pid; /* per slot: our child, 0 none */
  int *pfd;   /* per slot: its pidfd, -1 none */
  struct pollfd *fds;
  unsigned *ids;
} server;

/* In a worker forked by the server: free the server's tables (the worker
   never returns to them; the server's descriptors are private to it and
   were closed by the fork). */
static void server_forget_cb(void *arg) {
  server *s = arg;
  free(s->pid);
  free(s->pfd);
  free(s->fds);
  free(s->ids);
}

/* The parent is gone (or the pool stops): kill, reap, exit. */
static _Noreturn void server_shutdown(server *s) {
  for (unsigned i = 0; i < s->W; i++)
    if (s->pid[i] > 0)
      kill(s->pid[i], SIGKILL);
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  for (unsigned i = 0; i < s->W; i++)
    if (s->pid[i] > 0) {
      int st;
      mpk__wait_child(s->pid[i], s->pfd[i], &forever, &st);
      mpk__fd_close(s->pfd[i]);
    }
  mpk__child_exit(0);
}

/* One request from the parent. */
static void server_request(server *s, const msg *m) {
  if (m->op == M_KILL) {
    if (s->pid[m->id] > 0)
      kill(s->pid[m->id], m->value);
    return;
  }
  if (m->op != M_SPAWN)
    return;
  char name[32];
  worker_name(name, sizeof name, m->number);
  pid_t c = mpk__fork(name, NULL, s->p);
  if (c == 0)
    worker_child(s->p, m->id, server_forget_cb, s);
  int fd = c > 0 ? mpk__pidfd_open_owned(c, s->p) : -1;
  if (c > 0 && fd < 0) {
    kill(c, SIGKILL);
    int st;
    mpk__deadline forever;
    mpk__deadline_init(&forever, MPK_FOREVER);
    mpk__wait_child(c, -1, &forever, &st);
    c = fd;
  }
  if (c > 0) {
    s->pid[m->id] = c;
    s->pfd[m->id] = fd;
    send_msg(s->sock, (msg){M_SPAWNED, m->id, 0, c, 0});
  } else {
    send_msg(s->sock, (msg){M_FAILED, m->id, 0, 0, (int32_t)c});
  }
}

static _Noreturn void server_main(mpk_pool_t *p, int sock) {
  /* Ours alone: our workers must not hold it. */
  mpk__fd_set_flags(sock, MPK__FD_PRIVATE);
  server s = {.p = p, .sock = sock, .W = p->W};
  s.pid = calloc(s.W, sizeof *s.pid);
  s.pfd = malloc(s.W * sizeof *s.pfd);
  s.fds = malloc((s.W + 1) * sizeof *s.fds);
  s.ids = malloc((s.W + 1) * sizeof *s.ids);
  struct pollfd *fds = s.fds;
  unsigned *ids = s.ids;
  if (!s.pid || !s.pfd || !fds || !ids)
    mpk__child_exit(1);
  for (unsigned i = 0; i < s.W; i++)
    s.pfd[i] = -1;
  for (;;) {
    nfds_t n = 0;
    fds[n].fd = sock;
    fds[n++].events = POLLIN;
    for (unsigned i = 0; i < s.W; i++)
      if (s.pfd[i] >= 0) {
        fds[n].fd = s.pfd[i];
        fds[n].events = POLLIN;
        ids[n++] = i;
      }
    if (poll(fds, n, -1) < 0)
      continue; /* EINTR */
    if (fds[0].revents) {
      msg m;
      ssize_t r = recv(sock, &m, sizeof m, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
        server_shutdown(&s);
      if (r == (ssize_t)sizeof m && m.id < s.W)
        server_request(&s, &m);
    }
    for (nfds_t k = 1; k < n; k++) {
      unsigned i = ids[k];
      int st = 0;
      if (!fds[k].revents || mpk__reap(s.pid[i], &st) == MPK_EAGAIN)
        continue;
      send_msg(sock, (msg){M_EXITED, i, 0, s.pid[i], st});
      mpk__fd_close(s.pfd[i]);
      s.pfd[i] = -1;
      s.pid[i] = 0;
    }
  }
}

/* ---- parent side (monitor thread) --------------------------------------- */

int mpk__procs_open(mpk_pool_t *p, mpk__procs **out) {
  mpk__procs *pr = calloc(1, sizeof *pr);
  if (pr == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for the worker table");
  pr->p = p;
  pr->pid = calloc(p->W, sizeof *pr->pid);
  pr->pidfd = malloc(p->W * sizeof *pr->pidfd);
  if (!pr->pid || !pr->pidfd) {
    free(pr->pid);
    free(pr->pidfd);
    free(pr);
    return mpk__errf(MPK_ENOMEM, "no memory for the worker table");
  }
  for (unsigned i = 0; i < p->W; i++)
    pr->pidfd[i] = -1;
  pr->sock = -1;
  pr->server_pidfd = -1;
  *out = pr;
  if (p->start != MPK_START_FORKSERVER)
    return MPK_OK;
  pr->server_mode = true;
  /* sv[0] is ours alone; sv[1] goes to the server (and is closed here). */
  int sv[2];
  mpk__fds_lock();
  int rc = mpk__fd_own_pair_locked(
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
      "socketpair (fork server)", sv, p, MPK__FD_PRIVATE, MPK__FD_SHARED);
  mpk__fds_unlock();
  if (rc != MPK_OK)
    return rc;
  pid_t s = mpk__fork("PoolForkServer", NULL, p);
  if (s == 0)
    server_main(p, sv[1]);
  mpk__fd_close(sv[1]);
  if (s < 0) {
    mpk__fd_close(sv[0]);
    return (int)s;
  }
  pr->server = s;
  pr->sock = sv[0];
  pr->server_pidfd = mpk__pidfd_open_owned(s, p);
  return MPK_OK;
}

int mpk__procs_spawn(mpk__procs *pr, unsigned id, unsigned number) {
  mpk_pool_t *p = pr->p;
  if (pr->server_mode) {
    if (pr->sock < 0)
      return mpk__errf(MPK_EAGAIN, "the fork server is gone");
    send_msg(pr->sock, (msg){M_SPAWN, id, number, 0, 0});
    return MPK_OK;
  }
  char name[32];
  worker_name(name, sizeof name, number);
  pid_t pid = mpk__fork(name, NULL, p);
  if (pid == 0)
    worker_child(p, id, NULL, NULL);
  if (pid < 0)
    return (int)pid;
  int fd = mpk__pidfd_open_owned(pid, p);
  if (fd < 0) {
    kill(pid, SIGKILL);
    int st;
    mpk__deadline forever;
    mpk__deadline_init(&forever, MPK_FOREVER);
    mpk__wait_child(pid, -1, &forever, &st);
    return fd;
  }
  pr->pid[id] = pid;
  pr->pidfd[id] = fd;
  atomic_store(&p->slots[id].pid, pid);
  return MPK_OK;
}

int mpk__procs_event_fd(mpk__procs *pr) {
  return pr->server_mode ? pr->sock : -1;
}

int mpk__procs_pollfds(mpk__procs *pr, int *fds, unsigned *ids, int cap) {
  int k = 0;
  if (pr->server_mode)
    return 0;
  for (unsigned i = 0; i < pr->p->W && k < cap; i++)
    if (pr->pidfd[i] >= 0) {
      fds[k] = pr->pidfd[i];
      ids[k++] = i;
    }
  return k;
}

static void server_lost(mpk__procs *pr,
                        void (*cb)(mpk_pool_t *, unsigned, int)) {
  mpk__fd_close(pr->sock);
  pr->sock = -1;
  /* The server died: its workers died with it (PR_SET_PDEATHSIG). */
  for (unsigned i = 0; i < pr->p->W; i++) {
    uint32_t st = atomic_load(&pr->p->slots[i].state);
    if (st == MPK__W_STARTING || st == MPK__W_READY || st == MPK__W_RETIRING) {
      pr->pid[i] = 0;
      cb(pr->p, i, SIGKILL); /* wait status of a SIGKILLed process */
    }
  }
}

void mpk__procs_handle(mpk__procs *pr, int fd,
                       void (*cb)(mpk_pool_t *, unsigned, int)) {
  mpk_pool_t *p = pr->p;
  if (pr->server_mode) {
    if (fd != pr->sock)
      return;
    for (;;) {
      msg m;
      ssize_t r = recv(pr->sock, &m, sizeof m, MSG_DONTWAIT);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && errno == EAGAIN)
        return;
      if (r <= 0) {
        server_lost(pr, cb);
        return;
      }
      if (r != (ssize_t)sizeof m || m.id >= p->W)
        continue;
      if (m.op == M_SPAWNED) {
        pr->pid[m.id] = m.pid;
        atomic_store(&p->slots[m.id].pid, m.pid);
      } else if (m.op == M_FAILED) {
        cb(p, m.id, MPK__WEXIT_INITFAIL << 8); /* as an exit status */
      } else if (m.op == M_EXITED) {
        if (pr->pid[m.id] == m.pid)
          pr->pid[m.id] = 0;
        cb(p, m.id, m.value);
      }
    }
  }
  for (unsigned i = 0; i < p->W; i++) {
    if (pr->pidfd[i] != fd)
      continue;
    int st = 0;
    if (mpk__reap(pr->pid[i], &st) == MPK_EAGAIN)
      return;
    mpk__fd_close(pr->pidfd[i]);
    pr->pidfd[i] = -1;
    pr->pid[i] = 0;
    cb(p, i, st);
    return;
  }
}

int mpk__procs_kill(mpk__procs *pr, unsigned id, int sig) {
  if (pr->server_mode) {
    if (pr->sock < 0)
      return MPK_ECHILD;
    send_msg(pr->sock, (msg){M_KILL, id, 0, 0, sig});
    return MPK_OK;
  }
  if (pr->pid[id] <= 0)
    return MPK_ECHILD;
  return kill(pr->pid[id], sig) == 0 ? MPK_OK : MPK_ECHILD;
}

void mpk__procs_close(mpk__procs *pr, bool kill_first) {
  mpk_pool_t *p = pr->p;
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  if (pr->server_mode) {
    /* Closing our end makes the server kill, reap and exit. */
    mpk__fd_close(pr->sock);
    int st;
    mpk__wait_child(pr->server, pr->server_pidfd, &forever, &st);
    mpk__fd_close(pr->server_pidfd);
  } else {
    for (unsigned i = 0; i < p->W; i++)
      if (pr->pid[i] > 0 && kill_first)
        kill(pr->pid[i], SIGKILL);
    for (unsigned i = 0; i < p->W; i++) {
      if (pr->pid[i] <= 0)
        continue;
      int st;
      mpk__wait_child(pr->pid[i], pr->pidfd[i], &forever, &st);
      mpk__fd_close(pr->pidfd[i]);
    }
  }
  for (unsigned i = 0; i < p->W; i++)
    atomic_store(&p->slots[i].pid, 0);
  free(pr->pid);
  free(pr->pidfd);
  free(pr);
}
