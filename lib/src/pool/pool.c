/* pool.c - the pool's API entry: options, creation, the pool's life cycle
 * (close / join / terminate / free), information calls, and which process
 * owns a pool. One call's life cycle is in call.c; for / map / apply in
 * ops.c, reductions in reduce.c, async calls and imap in async.c.
 */
#include <dirent.h>
#include <sched.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal/config.h"
#include "internal/error.h"
#include "internal/shm.h"
#include "internal/spawn.h"
#include "mpk/shm.h"
#include "mpk/topo.h"
#include "pool/pool_internal.h"

/* Default idle spin (microseconds) and its cap when oversubscribed. libgomp
   spins a few hundred microseconds by default and ~1000 pauses when
   throttled; we do the same by time. */
#define DEFAULT_SPIN_US 300.0
#define OVERSUB_SPIN_US 2.0
/* How long a worker that finished its static share waits for the owner of
   an unclaimed share before taking it (a running owner claims within
   nanoseconds of the publication). */
#define GRACE_NS 2000
/* Yielding. A caller is never pinned, and the kernel may place it on the
   PU of a pinned worker (a busy node, or workers on every PU). Two threads
   spinning on one PU hold each other off for a whole time slice. So a
   caller that has spun YIELD_NS in vain checks its PU: if the worker pinned
   there has yet to do its part of the call, it yields to it; and it
   advertises its PU (ctl->wait_pu) so that this worker, once idle, yields
   the PU back. When workers fill every PU ("crowded") the caller always
   shares a PU with some worker and may be descheduled before it can
   advertise, so idle workers yield every YIELD_NS, and the grace shrinks
   so that a descheduled worker's share is taken at once. Otherwise nobody
   yields: yielding to an unrelated busy process costs a time slice. */
#define CROWDED_GRACE_NS 500
#define YIELD_NS 2000

/* ---- fork generation: which process owns a pool ----------------------- */

static _Atomic unsigned g_fork_gen;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) {
  atomic_fetch_add(&g_fork_gen, 1);
}

static void once_init(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
}

static bool owned_here(const mpk_pool_t *p) {
  return p->owner_gen ==
         atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
}

int mpk__call_check(mpk_pool_t *p, bool blocking) {
  if (p == NULL)
    return mpk__errf(MPK_EINVAL, "the pool is NULL");
  if (!owned_here(p))
    return mpk__errf(MPK_ESTATE, "the pool belongs to the process that "
                                 "created it, not to this forked child");
  if (mpk__in_worker_of(p))
    return mpk__errf(MPK_ESTATE, "called from a worker of the same pool");
  if (blocking && mpk__in_completer(p))
    return mpk__errf(MPK_EDEADLK, "a blocking pool call from an async "
                                  "callback would wait for itself");
  return MPK_OK;
}

int mpk__pool_state_err(const mpk_pool_t *p) {
  int st = atomic_load(&((mpk_pool_t *)p)->state);
  return mpk__errf(MPK_ESTATE, "the pool is %s",
                   st == MPK__P_CLOSED       ? "closed (mpk_pool_close)"
                   : st == MPK__P_JOINED     ? "joined (mpk_pool_join)"
                   : st == MPK__P_TERMINATED ? "terminated (mpk_pool_terminate)"
                                             : "not accepting calls");
}

/* ---- options and creation ------------------------------------------------
 */

void mpk_pool_opts_init(mpk_pool_opts *o) {
  if (o == NULL)
    return;
  memset(o, 0, sizeof *o);
  o->backend = MPK_PROCESS;
  o->bind = MPK_BIND_COMPACT;
  o->threads_per_worker = 1;
  o->start = MPK_START_AUTO;
}

static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL)
    return 1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n > 0 ? n : 1;
}

static unsigned ring_size(unsigned W) {
  unsigned r = 64;
  while (r < 4 * W)
    r <<= 1;
  return r;
}

static void free_cpus(char **cpus, unsigned W) {
  if (cpus == NULL)
    return;
  for (unsigned i = 0; i < W; i++)
    free(cpus[i]);
  free(cpus);
}

static void pool_destroy(mpk_pool_t *p) {
  if (p->ctl)
    mpk__pool_free_mem(p, p->ctl);
  free_cpus(p->cpus, p->W);
  free(p->pu_worker);
  free(p->owner);
  mpk__fd_close(p->efd);
  mpk__fd_close(p->life_w);
  mpk__fd_close(p->life_r);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->iter_mu);
  pthread_mutex_destroy(&p->start_mu);
  pthread_cond_destroy(&p->start_cv);
  free(p);
}

static int validate_opts(const mpk_pool_opts *o) {
  if (o->workers < 0)
    return mpk__errf(MPK_EINVAL, "workers %d < 0", o->workers);
  if (o->workers > MPK_POOL_MAX_WORKERS)
    return mpk__errf(MPK_EINVAL, "workers %d > MPK_POOL_MAX_WORKERS (%d)",
                     o->workers, MPK_POOL_MAX_WORKERS);
  if (o->threads_per_worker < 1)
    return mpk__errf(MPK_EINVAL, "threads_per_worker %d < 1",
                     o->threads_per_worker);
  if (o->backend != MPK_PROCESS && o->backend != MPK_THREAD)
    return mpk__errf(MPK_EINVAL,
                     "backend %d is neither MPK_PROCESS nor MPK_THREAD",
                     (int)o->backend);
  if ((unsigned)o->bind > (unsigned)MPK_BIND_SCATTER)
    return mpk__errf(MPK_EINVAL, "bind policy %d is not an mpk_bind_policy",
                     (int)o->bind);
  if ((unsigned)o->start > (unsigned)MPK_START_FORKSERVER)
    return mpk__errf(MPK_EINVAL, "start method %d is not an mpk_start",
                     (int)o->start);
  if (isnan(o->task_timeout))
    return mpk__errf(MPK_EINVAL, "task_timeout is NaN");
  if (o->max_tasks_per_worker < 0)
    return mpk__errf(MPK_EINVAL, "max_tasks_per_worker %ld < 0",
                     o->max_tasks_per_worker);
  if (o->backend == MPK_THREAD && o->max_rss_bytes > 0)
    return mpk__errf(MPK_ENOTSUP,
                     "max_rss_bytes needs the process backend, not MPK_THREAD");
  if (o->backend == MPK_THREAD && o->task_timeout > 0)
    return mpk__errf(MPK_ENOTSUP,
                     "task_timeout needs the process backend, not MPK_THREAD");
  return MPK_OK;
}

/* Plans of every worker; sets *oversub. */
static int make_plans(mpk_pool_t *p, const mpk_pool_opts *o, int *oversub) {
  p->cpus = calloc(p->W, sizeof(char *));
  if (p->cpus == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for %u worker plans", p->W);
  *oversub = 0;
  for (unsigned i = 0; i < p->W; i++) {
    size_t cap = 64;
    for (;;) {
      char *buf = malloc(cap);
      if (buf == NULL)
        return mpk__errf(MPK_ENOMEM, "no memory for worker %u's plan", i);
      int ov = 0;
      mpk__errstate saved;
      mpk__err_save(&saved);
      int rc = mpk_topo_plan_ex((int)p->W, p->tpw, o->bind, o->cpuset, (int)i,
                                buf, cap, &ov);
      if (rc == MPK_EMSGSIZE && cap < 65536) {
        mpk__err_restore(&saved); /* absorbed: a bigger buffer follows */
        free(buf);
        cap *= 4;
        continue;
      }
      if (rc != MPK_OK) {
        free(buf);
        return rc;
      }
      p->cpus[i] = buf;
      *oversub |= ov;
      break;
    }
  }
  return MPK_OK;
}

/* pu_worker: for workers bound to a single PU ("7"), PU -> worker id. */
static int map_pus(mpk_pool_t *p) {
  int max = -1;
  for (unsigned i = 0; i < p->W && !p->bind_none; i++) {
    char *end;
    long v = strtol(p->cpus[i], &end, 10);
    if (*end == '\0' && v >= 0 && v < 65536 && v > max)
      max = (int)v;
  }
  if (max < 0)
    return MPK_OK;
  p->pu_worker = malloc(sizeof(int) * (size_t)(max + 1));
  if (p->pu_worker == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for the PU map of %d PUs", max + 1);
  p->n_pu = max + 1;
  for (int c = 0; c <= max; c++)
    p->pu_worker[c] = -1;
  for (unsigned i = 0; i < p->W; i++) {
    char *end;
    long v = strtol(p->cpus[i], &end, 10);
    if (*end == '\0' && v >= 0 && v <= max)
      p->pu_worker[v] = (int)i; /* oversubscribed: the last one wins */
  }
  return MPK_OK;
}

static void set_spin(mpk_pool_t *p, mpk__pool_ctl *c) {
  const mpk__config *cfg = mpk__config_get();
  double us;
  if (cfg->wait == MPK__WAIT_PASSIVE)
    us = 0;
  else if (cfg->wait == MPK__WAIT_ACTIVE)
    us = -1;
  else
    us = cfg->spin_us >= 0 ? cfg->spin_us : DEFAULT_SPIN_US;
  if (p->oversub && cfg->wait != MPK__WAIT_ACTIVE && us > OVERSUB_SPIN_US)
    us = OVERSUB_SPIN_US;
  p->spin_us_info = us;
  c->spin_ns = us < 0 ? INT64_MAX : (int64_t)(us * 1e3);
  bool crowded = (long)p->W * p->tpw >= (long)mpk_cpu_count();
  c->grace_ns = crowded ? CROWDED_GRACE_NS : GRACE_NS;
  c->yield_ns = YIELD_NS;
  c->crowded = crowded;
  atomic_init(&c->wait_pu, -1);
}

static int pool_setup(mpk_pool_t *p, const mpk_pool_opts *o) {
  int cores = mpk_core_count();
  if (cores < 1)
    cores = mpk_cpu_count();
  p->tpw = o->threads_per_worker;
  p->W = o->workers > 0 ? (unsigned)o->workers
                        : (unsigned)(cores / p->tpw > 0 ? cores / p->tpw : 1);
  p->R = ring_size(p->W);
  p->backend = o->backend;
  p->task_timeout = o->task_timeout > 0 ? o->task_timeout : 0;
  p->init = o->init;
  p->init_arg = o->init_arg;
  p->bind_none = o->bind == MPK_BIND_NONE && o->cpuset == NULL;
  int rc = make_plans(p, o, &p->oversub);
  if (rc == MPK_OK)
    rc = map_pus(p);
  if (rc != MPK_OK)
    return rc;
  if (p->backend == MPK_PROCESS && (rc = mpk__shm_init()) != MPK_OK)
    return rc;
  size_t bytes = sizeof(mpk__pool_ctl) + p->W * sizeof(mpk__wslot) +
                 p->R * sizeof(mpk__job);
  mpk__pool_ctl *c = mpk__pool_alloc(p, bytes);
  if (c == NULL)
    return mpk__pool_nomem(p, bytes, "the pool's control block");
  memset(c, 0, bytes);
  p->ctl = c;
  p->slots = (mpk__wslot *)(void *)(c + 1);
  p->ring = (mpk__job *)(void *)(p->slots + p->W);
  c->magic = MPK__POOL_MAGIC;
  c->version = MPK__POOL_VERSION;
  c->workers = p->W;
  c->ring = p->R;
  c->tpw = (uint32_t)p->tpw;
  c->max_tasks = o->max_tasks_per_worker;
  c->max_rss = o->max_rss_bytes;
  c->timeout_on = p->task_timeout > 0;
  set_spin(p, c);
  for (unsigned i = 0; i < p->W; i++)
    atomic_init(&p->slots[i].pos, 1);
  p->owner = calloc(p->R, sizeof *p->owner);
  if (p->owner == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for the pool's call ring");
  p->next_seq = 1;
  p->min_pos = 1;
  /* The workers write to the eventfd and poll the lifeline's read end;
     only this process holds its write end (internal/spawn.h). */
  int life[2] = {-1, -1};
  mpk__fds_lock();
  int efd = mpk__fd_own_locked(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
                               "eventfd (pool monitor)", p, MPK__FD_SHARED);
  rc = efd < 0 ? efd : MPK_OK;
  if (rc == MPK_OK && p->backend == MPK_PROCESS)
    rc = mpk__fd_own_pair_locked(pipe2(life, O_CLOEXEC), "pipe2 (lifeline)",
                                 life, p, MPK__FD_SHARED, MPK__FD_PRIVATE);
  mpk__fds_unlock();
  p->efd = efd < 0 ? -1 : efd;
  p->life_r = life[0];
  p->life_w = life[1];
  if (rc != MPK_OK)
    return rc;
  if (p->backend == MPK_THREAD)
    p->start = MPK_START_FORK;
  else if (o->start == MPK_START_AUTO)
    p->start = thread_count() > 1 ? MPK_START_FORKSERVER : MPK_START_FORK;
  else
    p->start = o->start;
  return MPK_OK;
}

int mpk_pool_create(mpk_pool_t **out, const mpk_pool_opts *o) {
  if (out == NULL)
    return mpk__errf(MPK_EINVAL, "mpk_pool_create: p is NULL");
  mpk_pool_opts def;
  if (o == NULL) {
    mpk_pool_opts_init(&def);
    o = &def;
  }
  int rc = validate_opts(o);
  if (rc != MPK_OK)
    return rc;
  pthread_once(&g_once, once_init);
  mpk_pool_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for a pool");
  p->efd = -1;
  p->life_r = p->life_w = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->iter_mu, NULL);
  pthread_mutex_init(&p->start_mu, NULL);
  pthread_cond_init(&p->start_cv, NULL);
  p->owner_gen = atomic_load(&g_fork_gen);
  pthread_sigmask(SIG_SETMASK, NULL, &p->sigmask);
  rc = pool_setup(p, o);
  if (rc == MPK_OK)
    rc = mpk__monitor_start(p);
  if (rc != MPK_OK) {
    pool_destroy(p);
    return rc;
  }
  *out = p;
  return MPK_OK;
}

int mpk_pool_size(const mpk_pool_t *p) {
  return p ? (int)p->W : 0;
}

int mpk_pool_info_get(const mpk_pool_t *p, mpk_pool_info *info) {
  if (p == NULL || info == NULL)
    return mpk__err_null(p == NULL ? "p" : "info");
  info->workers = (int)p->W;
  info->threads_per_worker = p->tpw;
  info->backend = p->backend;
  info->start = p->start;
  info->oversubscribed = p->oversub;
  info->spin_us = p->spin_us_info;
  info->replaced = atomic_load(&((mpk_pool_t *)p)->replaced);
  return MPK_OK;
}

int mpk_pool_worker_cpuset(const mpk_pool_t *p, int i, char *buf, size_t cap) {
  if (p == NULL || buf == NULL)
    return mpk__err_null(p == NULL ? "p" : "buf");
  if (i < 0 || (unsigned)i >= p->W)
    return mpk__errf(MPK_EINVAL, "worker %d outside [0, %u)", i, p->W);
  if (cap == 0)
    return mpk__errf(MPK_EINVAL, "mpk_pool_worker_cpuset: cap is 0");
  size_t len = strlen(p->cpus[i]);
  if (len + 1 > cap)
    return mpk__err_small(cap, len + 1);
  memcpy(buf, p->cpus[i], len + 1);
  return MPK_OK;
}

pid_t mpk_pool_worker_pid(const mpk_pool_t *p, int i) {
  if (p == NULL || i < 0 || (unsigned)i >= p->W)
    return -1;
  if (p->backend != MPK_PROCESS)
    return 0;
  /* Only a worker that has finished starting: killing one that is still
     in its initializer counts toward the start-failure limit, and a caller
     that kills what this returns must not take the slot out of service. */
  uint32_t st = atomic_load(&p->slots[i].state);
  if (st != MPK__W_READY && st != MPK__W_RETIRING)
    return 0;
  return (pid_t)atomic_load(&p->slots[i].pid);
}

/* ---- life cycle ------------------------------------------------------- */

int mpk_pool_close(mpk_pool_t *p) {
  int rc = mpk__call_check(p, false);
  if (rc != MPK_OK)
    return rc;
  pthread_mutex_lock(&p->mu);
  if (atomic_load(&p->state) == MPK__P_OPEN)
    atomic_store(&p->state, MPK__P_CLOSED);
  pthread_mutex_unlock(&p->mu);
  mpk__progress_wake(p->ctl);
  return MPK_OK;
}

static bool quiet_pred(void *arg) {
  mpk_pool_t *p = arg;
  bool quiet = true;
  pthread_mutex_lock(&p->mu);
  if (p->async_head != NULL)
    quiet = false;
  for (unsigned i = 0; quiet && i < p->R; i++) {
    mpk__call *c = atomic_load(&p->owner[i]);
    if (c && !mpk__call_ready(c))
      quiet = false;
  }
  pthread_mutex_unlock(&p->mu);
  return quiet;
}

int mpk_pool_join(mpk_pool_t *p) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  pthread_mutex_lock(&p->mu);
  int st = atomic_load(&p->state);
  pthread_mutex_unlock(&p->mu);
  if (st == MPK__P_JOINED)
    return MPK_OK;
  if (st != MPK__P_CLOSED)
    return st == MPK__P_OPEN
               ? mpk__errf(MPK_ESTATE, "mpk_pool_join before mpk_pool_close")
               : mpk__pool_state_err(p);
  /* Iterators count as submitted in full: their lazy chunks first. */
  mpk__iters_join(p);
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  mpk__progress_wait(p, quiet_pred, p, &forever, false);
  pthread_mutex_lock(&p->mu);
  st = atomic_load(&p->state);
  if (st == MPK__P_CLOSED)
    atomic_store(&p->state, MPK__P_JOINED);
  pthread_mutex_unlock(&p->mu);
  if (st != MPK__P_CLOSED)
    return st == MPK__P_JOINED ? MPK_OK : mpk__pool_state_err(p);
  mpk__monitor_stop(p, MPK__MON_JOIN);
  mpk__async_start_stop(p);
  return MPK_OK;
}

/* Fail every call still in flight with MPK_ECLOSED; every worker is gone. */
static void abort_inflight(mpk_pool_t *p) {
  pthread_mutex_lock(&p->mu);
  for (unsigned i = 0; i < p->R; i++) {
    mpk__call *c = atomic_load(&p->owner[i]);
    if (c == NULL)
      continue;
    /* a worker killed inside the error lock cannot release it */
    atomic_store(&c->job->err_lock, 0);
    if (!atomic_load(&c->ready) && !mpk__job_done(c->job)) {
      mpk__failure f = mpk__failure_of(MPK_ECLOSED);
      mpk__job_fail(c->job, MPK__LOCK_PARENT, &f);
    }
  }
  atomic_store(&p->aborted, 1);
  pthread_mutex_unlock(&p->mu);
  atomic_fetch_add(&p->ctl->progress, 1);
  mpk__futex_wake(&p->ctl->progress, INT32_MAX);
}

int mpk_pool_terminate(mpk_pool_t *p) {
  int rc = mpk__call_check(p, false);
  if (rc != MPK_OK)
    return rc;
  pthread_mutex_lock(&p->mu);
  int st = atomic_load(&p->state);
  if (st != MPK__P_TERMINATED && st != MPK__P_JOINED)
    atomic_store(&p->state, MPK__P_TERMINATED);
  pthread_mutex_unlock(&p->mu);
  if (st == MPK__P_TERMINATED || st == MPK__P_JOINED)
    return MPK_OK;
  mpk__monitor_stop(p, MPK__MON_TERMINATE);
  abort_inflight(p);
  return MPK_OK;
}

void mpk_pool_free(mpk_pool_t *p) {
  if (p == NULL || !owned_here(p) || mpk__in_worker_of(p))
    return;
  if (p->ext_ops != NULL)
    p->ext_ops->destroy(p); /* collective for MPI: before the local part */
  mpk_pool_terminate(p);
  mpk__async_start_stop(p);
  mpk__iters_orphan(p);
  pool_destroy(p);
}

/* ---- failures: mpk_pool_last_error and mpk_errmsg ------------------- */

void mpk__set_last_error(mpk_pool_t *p, const mpk__failure *f) {
  pthread_mutex_lock(&p->mu);
  p->last = *f;
  pthread_mutex_unlock(&p->mu);
}

int mpk_pool_last_error(mpk_pool_t *p, size_t *index, int *task_status,
                        int *signal) {
  if (p == NULL)
    return mpk__errf(MPK_EINVAL, "mpk_pool_last_error: p is NULL");
  pthread_mutex_lock(&p->mu);
  mpk__failure f = p->last;
  pthread_mutex_unlock(&p->mu);
  int code = f.code;
  if (index)
    *index = code ? (size_t)f.index : 0;
  if (task_status)
    *task_status = code ? f.status : 0;
  if (signal)
    *signal = code ? f.signal : 0;
  return code ? mpk__failure_errf(p, &f) : MPK_OK;
}

void mpk__worker_end_str(char *buf, size_t cap, int id, int pid, int ec) {
  char who[64];
  if (pid > 0)
    snprintf(who, sizeof who, "worker %d (pid %d)", id, pid);
  else
    snprintf(who, sizeof who, "worker %d", id);
  if (ec < 0) {
    const char *abbrev = sigabbrev_np(-ec);
    snprintf(buf, cap, "%s killed by signal %d (SIG%s)", who, -ec,
             abbrev ? abbrev : "?");
  } else {
    snprintf(buf, cap, "%s exited with status %d", who, ec);
  }
}

/* The call's name and how its index reads. */
static const char *kind_name(int kind) {
  switch (kind) {
  case MPK__JOB_FOR: return "for";
  case MPK__JOB_REDUCE_D:
  case MPK__JOB_REDUCE_G: return "reduce";
  case MPK__JOB_MAP: return "map";
  case MPK__JOB_APPLY: return "apply";
  default: return "call";
  }
}

static void where_str(char *buf, size_t cap, const mpk__failure *f,
                      const char *prefix) {
  unsigned long long i = (unsigned long long)f->index;
  if (f->kind == MPK__JOB_APPLY)
    buf[0] = '\0';
  else if (f->kind == MPK__JOB_MAP && f->code == MPK_ETASK)
    snprintf(buf, cap, " %s element %llu", prefix, i);
  else if (f->kind == MPK__JOB_MAP)
    snprintf(buf, cap, " %s the chunk from element %llu", prefix, i);
  else
    snprintf(buf, cap, " %s the chunk from index %llu", prefix, i);
}

int mpk__failure_errf(const mpk_pool_t *p, const mpk__failure *f) {
  char rank[24] = "", where[64], end[160];
  if (f->rank >= 0)
    snprintf(rank, sizeof rank, "rank %d: ", (int)f->rank);
  const char *call = kind_name(f->kind);
  switch (f->code) {
  case MPK_ETASK:
    where_str(where, sizeof where, f, "at");
    if (f->worker >= 0 && f->pid > 0)
      return mpk__errf(f->code, "%s%s: task returned %d%s (worker %d, pid %d)",
                       rank, call, (int)f->status, where, (int)f->worker,
                       (int)f->pid);
    if (f->worker >= 0)
      return mpk__errf(f->code, "%s%s: task returned %d%s (worker %d)", rank,
                       call, (int)f->status, where, (int)f->worker);
    return mpk__errf(f->code, "%s%s: task returned %d%s", rank, call,
                     (int)f->status, where);
  case MPK_EWORKER:
  case MPK_ETIMEDOUT:
    if (f->worker < 0 && f->code == MPK_EWORKER)
      return mpk__errf(f->code, "%s%s: every worker of the pool is gone", rank,
                       call);
    where_str(where, sizeof where, f, "in");
    if (f->worker >= 0)
      mpk__worker_end_str(end, sizeof end, (int)f->worker, (int)f->pid,
                          f->signal ? -(int)f->signal : (int)f->exit);
    else
      snprintf(end, sizeof end, "a worker was killed");
    if (f->code == MPK_ETIMEDOUT && p != NULL)
      return mpk__errf(f->code,
                       "%s%s: %s: ran longer than task_timeout "
                       "(%g s)%s",
                       rank, call, end, p->task_timeout, where);
    if (f->code == MPK_ETIMEDOUT)
      return mpk__errf(f->code, "%s%s: %s: ran longer than task_timeout%s",
                       rank, call, end, where);
    return mpk__errf(f->code, "%s%s: %s%s", rank, call, end, where);
  case MPK_ECLOSED:
    return mpk__errf(f->code,
                     "%s%s: the pool was terminated before the call "
                     "completed",
                     rank, call);
  default: return mpk__err(f->code);
  }
}
