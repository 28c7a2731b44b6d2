/* monitor.c - the parent's monitor thread: spawns the workers, sees them
 * die (pidfds, the fork server's reports, or thread exits, all through
 * poll(2) on descriptors: no polling with sleeps), fails the job a dead
 * worker was inside, replaces the worker (same id, same binding), and kills
 * workers whose chunk outlives task_timeout.
 *
 * Every worker process is forked from this thread (or from the fork
 * server), never from the caller's threads: PR_SET_PDEATHSIG fires when the
 * forking THREAD ends, and this thread lives exactly as long as the pool.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/spawn.h"
#include "pool/pool_internal.h"

struct mpk__mon {
  mpk__procs *procs;  /* process backend */
  pthread_t *threads; /* thread backend */
  bool *tlive;
  unsigned *fails; /* consecutive deaths before READY, per slot */
  unsigned number; /* worker names: PoolWorker-<number> */
  unsigned live;   /* workers running */
  bool starting;   /* initial start in progress */
  int start_rc;
  struct pollfd fds[MPK_POOL_MAX_WORKERS + 2]; /* round_once's poll set */
  int raw[MPK_POOL_MAX_WORKERS];
  unsigned ids[MPK_POOL_MAX_WORKERS + 2];
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mpk__monitor_kick(mpk_pool_t *p) {
  uint64_t one = 1;
  ssize_t r;
  do
    r = write(p->efd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

static void drain_efd(mpk_pool_t *p) {
  uint64_t v;
  while (read(p->efd, &v, sizeof v) > 0) {
  }
}

static void wake_all(mpk_pool_t *p) {
  atomic_fetch_add(&p->ctl->progress, 1);
  mpk__futex_wake(&p->ctl->progress, INT32_MAX);
}

static int spawn(mpk_pool_t *p, unsigned id) {
  struct mpk__mon *m = p->mon;
  mpk__wslot *s = &p->slots[id];
  atomic_store(&s->cur, 0);
  atomic_store(&s->unit_start, 0);
  atomic_store(&s->sleeping, 0);
  atomic_store(&s->kill_reason, MPK__KILL_NONE);
  atomic_store(&s->pid, 0);
  atomic_fetch_add(&s->epoch, 1);
  atomic_store(&s->state, MPK__W_STARTING);
  int rc;
  if (p->backend == MPK_PROCESS) {
    rc = mpk__procs_spawn(m->procs, id, ++m->number);
  } else {
    rc = mpk__threads_spawn(p, &m->threads[id], id);
    m->tlive[id] = rc == MPK_OK;
  }
  if (rc == MPK_OK)
    m->live++;
  return rc;
}

/* Every in-flight call fails (no worker left). */
static void pool_broken(mpk_pool_t *p) {
  atomic_store(&p->broken, 1);
  pthread_mutex_lock(&p->mu);
  for (unsigned i = 0; i < p->R; i++) {
    mpk__call *c = atomic_load(&p->owner[i]);
    if (c && !mpk__call_ready(c)) {
      mpk__failure f = mpk__failure_of(MPK_EWORKER); /* worker -1: all */
      mpk__job_fail(c->job, MPK__LOCK_MONITOR, &f);
    }
  }
  atomic_store(&p->aborted, 1);
  pthread_mutex_unlock(&p->mu);
}

/* Slot out of service: no worker will take its place. */
static void slot_gone(mpk_pool_t *p, unsigned id) {
  mpk__wslot *s = &p->slots[id];
  atomic_store(&s->state, MPK__W_GONE);
  /* Nobody will visit jobs for this slot any more: it must not hold back
     ring reuse (release: pairs with the parent's acquire of pos). */
  atomic_store_explicit(&s->pos, UINT64_MAX, memory_order_release);
  for (unsigned i = 0; i < p->W; i++)
    if (atomic_load(&p->slots[i].state) != MPK__W_GONE)
      return;
  if (atomic_load(&p->mon_cmd) == MPK__MON_NONE)
    pool_broken(p);
}

/* The worker of slot id died inside job cur: fail that job and take the
   dead worker out of it. cur == s implies pos == s (worker.c, visit), so
   ring slot s has not been reused. */
static void fail_current(mpk_pool_t *p, unsigned id, int ec) {
  mpk__wslot *s = &p->slots[id];
  uint64_t seq = atomic_load(&s->cur);
  if (seq == 0)
    return;
  mpk__job *j = &p->ring[seq & (p->R - 1)];
  if (j->seq == seq) {
    mpk__job_err_unlock_dead(j, id);
    int code = atomic_load(&s->kill_reason) == MPK__KILL_TIMEOUT ? MPK_ETIMEDOUT
                                                                 : MPK_EWORKER;
    mpk__failure f = mpk__failure_of(code);
    f.index = atomic_load_explicit(&s->unit_lo, memory_order_relaxed);
    f.signal = ec < 0 ? -ec : 0;
    f.exit = ec > 0 ? ec : 0;
    f.worker = (int32_t)id;
    f.pid = (int32_t)atomic_load(&s->pid);
    mpk__job_fail(j, MPK__LOCK_MONITOR, &f);
    atomic_fetch_and(&j->bits[id >> 6].inside, ~(1ULL << (id & 63)));
  }
  atomic_store(&s->cur, 0);
}

/* Why the start failed, for the creator's mpk_errmsg (p->start_msg). */
static void start_failed(mpk_pool_t *p, unsigned id, pid_t pid, int ec) {
  char *b = p->start_msg;
  size_t cap = sizeof p->start_msg;
  if (ec == MPK__WEXIT_INITFAIL && pid == 0 && p->backend == MPK_PROCESS)
    snprintf(b, cap, "the fork server could not start worker %u", id);
  else if (ec == MPK__WEXIT_INITFAIL && pid == 0)
    snprintf(b, cap, "worker %u: init returned non-zero", id);
  else if (ec == MPK__WEXIT_INITFAIL)
    snprintf(b, cap, "worker %u (pid %d): init returned non-zero", id,
             (int)pid);
  else {
    char end[160];
    mpk__worker_end_str(end, sizeof end, (int)id, (int)pid, ec);
    snprintf(b, cap, "%s while starting", end);
  }
}

/* A worker ended; ec is its exit code (>= 0) or -signal. */
static void on_exit_code(mpk_pool_t *p, unsigned id, int ec) {
  struct mpk__mon *m = p->mon;
  mpk__wslot *s = &p->slots[id];
  if (m->live > 0)
    m->live--;
  uint32_t st = atomic_load(&s->state);
  bool initfail = ec == MPK__WEXIT_INITFAIL;
  bool voluntary = st == MPK__W_RETIRING &&
                   (ec == MPK__WEXIT_STOP || ec == MPK__WEXIT_RETIRE);
  if (!voluntary)
    fail_current(p, id, ec);
  pid_t pid = (pid_t)atomic_load(&s->pid);
  atomic_store(&s->pid, 0);
  if (m->starting) {
    if (m->start_rc == MPK_OK) {
      m->start_rc = initfail ? MPK_ETASK : MPK_EWORKER;
      start_failed(p, id, pid, ec);
    }
    atomic_store(&s->state, MPK__W_GONE);
    return;
  }
  if (atomic_load(&p->mon_cmd) != MPK__MON_NONE) {
    atomic_store(&s->state, MPK__W_GONE);
    wake_all(p);
    return;
  }
  if (st == MPK__W_STARTING)
    m->fails[id]++;
  else
    m->fails[id] = 0;
  if (initfail || m->fails[id] >= 3) {
    slot_gone(p, id);
  } else {
    atomic_store(&s->state, MPK__W_DEAD);
    /* counted before the fork: a replacement never runs uncounted */
    atomic_fetch_add(&p->replaced, 1);
    if (spawn(p, id) != MPK_OK) {
      atomic_fetch_sub(&p->replaced, 1);
      slot_gone(p, id);
    }
  }
  wake_all(p);
}

static void on_exit_status(mpk_pool_t *p, unsigned id, int wstatus) {
  on_exit_code(p, id, mpk__status_to_exitcode(wstatus));
}

/* Thread backend: join workers that have left their loop. */
static void reap_threads(mpk_pool_t *p) {
  struct mpk__mon *m = p->mon;
  for (unsigned i = 0; i < p->W; i++) {
    if (!m->tlive[i] || atomic_load(&p->slots[i].state) != MPK__W_RETIRING)
      continue;
    void *ret = NULL;
    pthread_join(m->threads[i], &ret);
    m->tlive[i] = false;
    on_exit_code(p, i, (int)(intptr_t)ret);
  }
}

/* task_timeout: kill workers whose chunk is too old; returns the poll
   timeout in ms until the next check (-1: none needed). */
static int check_timeouts(mpk_pool_t *p) {
  if (!(p->task_timeout > 0) || p->backend != MPK_PROCESS)
    return -1;
  uint64_t lim = (uint64_t)(p->task_timeout * 1e9);
  if (lim == 0)
    lim = 1;
  uint64_t next = lim / 4 ? lim / 4 : 1, now = now_ns();
  for (unsigned i = 0; i < p->W; i++) {
    mpk__wslot *s = &p->slots[i];
    uint64_t st = atomic_load_explicit(&s->unit_start, memory_order_relaxed);
    if (st == 0 || atomic_load(&s->state) != MPK__W_READY)
      continue;
    if (now - st >= lim) {
      if (atomic_load(&s->kill_reason) == MPK__KILL_NONE) {
        atomic_store(&s->kill_reason, MPK__KILL_TIMEOUT);
        mpk__procs_kill(p->mon->procs, i, SIGKILL);
      }
    } else if (st + lim - now < next) {
      next = st + lim - now;
    }
  }
  return (int)(next / 1000000u) + 1;
}

/* One round: poll descriptors, dispatch events. */
static void round_once(mpk_pool_t *p, int timeout_ms) {
  struct mpk__mon *m = p->mon;
  enum { CAP = MPK_POOL_MAX_WORKERS + 2 };
  struct pollfd *fds = m->fds;
  unsigned *ids = m->ids;
  int n = 0;
  fds[n].fd = p->efd;
  fds[n++].events = POLLIN;
  if (p->backend == MPK_PROCESS) {
    int efd2 = mpk__procs_event_fd(m->procs);
    if (efd2 >= 0) {
      fds[n].fd = efd2;
      fds[n++].events = POLLIN;
    }
    int k = mpk__procs_pollfds(m->procs, m->raw, ids + n, CAP - n);
    for (int i = 0; i < k; i++) {
      fds[n + i].fd = m->raw[i];
      fds[n + i].events = POLLIN;
    }
    n += k;
  }
  int r = poll(fds, (nfds_t)n, timeout_ms);
  if (r < 0)
    return; /* EINTR: the caller loops */
  if (fds[0].revents)
    drain_efd(p);
  if (p->backend == MPK_PROCESS) {
    for (int i = 1; i < n; i++)
      if (fds[i].revents)
        mpk__procs_handle(m->procs, fds[i].fd, on_exit_status);
  } else {
    reap_threads(p);
  }
}

static bool all_ready(mpk_pool_t *p) {
  for (unsigned i = 0; i < p->W; i++)
    if (atomic_load(&p->slots[i].state) != MPK__W_READY)
      return false;
  return true;
}

/* Stop every worker (kill: at once) and reap them all. */
static void stop_all(mpk_pool_t *p, bool kill) {
  struct mpk__mon *m = p->mon;
  if (p->backend == MPK_PROCESS) {
    if (m->procs)
      mpk__procs_close(m->procs, kill);
    m->procs = NULL;
  } else {
    atomic_store(&p->ctl->stop, kill ? MPK__STOP_NOW : MPK__STOP_IDLE);
    atomic_fetch_add(&p->ctl->pub_tok, 1);
    mpk__futex_wake(&p->ctl->pub_tok, INT32_MAX);
    for (unsigned i = 0; i < p->W; i++)
      if (m->tlive[i]) {
        pthread_join(m->threads[i], NULL);
        m->tlive[i] = false;
      }
  }
  m->live = 0;
}

static void report(mpk_pool_t *p, int rc) {
  pthread_mutex_lock(&p->start_mu);
  p->start_rc = rc;
  p->start_done = 1;
  pthread_cond_signal(&p->start_cv);
  pthread_mutex_unlock(&p->start_mu);
}

static void *monitor_main(void *arg) {
  mpk_pool_t *p = arg;
  struct mpk__mon *m = p->mon;
  m->starting = true;
  int rc = MPK_OK;
  if (p->backend == MPK_PROCESS)
    rc = mpk__procs_open(p, &m->procs);
  for (unsigned i = 0; rc == MPK_OK && i < p->W; i++)
    rc = spawn(p, i);
  while (rc == MPK_OK && m->start_rc == MPK_OK && !all_ready(p))
    round_once(p, -1);
  if (rc == MPK_OK)
    rc = m->start_rc;
  else /* procs_open or a spawn failed here: its record is this thread's */
    snprintf(p->start_msg, sizeof p->start_msg, "starting the workers: %s",
             mpk_errmsg());
  m->starting = false;
  if (rc != MPK_OK) {
    atomic_store(&p->ctl->stop, MPK__STOP_NOW);
    stop_all(p, true);
    report(p, rc);
    return NULL;
  }
  report(p, MPK_OK);
  for (;;) {
    int cmd = atomic_load(&p->mon_cmd);
    if (cmd == MPK__MON_TERMINATE) {
      stop_all(p, true);
      break;
    }
    if (cmd == MPK__MON_JOIN && m->live == 0) {
      stop_all(p, false);
      break;
    }
    round_once(p, check_timeouts(p));
  }
  return NULL;
}

int mpk__monitor_start(mpk_pool_t *p) {
  struct mpk__mon *m = calloc(1, sizeof *m);
  if (m == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for the pool monitor");
  m->fails = calloc(p->W, sizeof *m->fails);
  m->threads = calloc(p->W, sizeof *m->threads);
  m->tlive = calloc(p->W, sizeof *m->tlive);
  if (!m->fails || !m->threads || !m->tlive) {
    free(m->fails);
    free(m->threads);
    free(m->tlive);
    free(m);
    return mpk__errf(MPK_ENOMEM, "no memory for the pool monitor");
  }
  p->mon = m;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int r = pthread_create(&p->monitor, NULL, monitor_main, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) {
    p->mon = NULL;
    free(m->fails);
    free(m->threads);
    free(m->tlive);
    free(m);
    return mpk__errsys(r, MPK_EAGAIN, "pthread_create (pool monitor)");
  }
  pthread_mutex_lock(&p->start_mu);
  while (!p->start_done)
    pthread_cond_wait(&p->start_cv, &p->start_mu);
  int rc = p->start_rc;
  pthread_mutex_unlock(&p->start_mu);
  if (rc != MPK_OK) {
    mpk__errf_(rc, "%s", p->start_msg);
    pthread_join(p->monitor, NULL);
    p->mon = NULL;
    free(m->fails);
    free(m->threads);
    free(m->tlive);
    free(m);
    return rc;
  }
  p->monitor_on = true;
  return MPK_OK;
}

void mpk__monitor_stop(mpk_pool_t *p, int how) {
  if (!p->monitor_on)
    return;
  /* mon_cmd first: a worker that stops because of `stop` must be seen as
     stopping, not replaced. */
  atomic_store(&p->mon_cmd, how);
  atomic_store(&p->ctl->stop,
               how == MPK__MON_JOIN ? MPK__STOP_IDLE : MPK__STOP_NOW);
  atomic_fetch_add(&p->ctl->pub_tok, 1);
  mpk__futex_wake(&p->ctl->pub_tok, INT32_MAX);
  mpk__monitor_kick(p);
  pthread_join(p->monitor, NULL);
  p->monitor_on = false;
  struct mpk__mon *m = p->mon;
  p->mon = NULL;
  free(m->fails);
  free(m->threads);
  free(m->tlive);
  free(m);
}
