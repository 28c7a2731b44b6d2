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
    return MPK_EINVAL;
  if (!owned_here(p) || mpk__in_worker_of(p))
    return MPK_ESTATE;
  if (blocking && mpk__in_completer(p))
    return MPK_EDEADLK;
  return MPK_OK;
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
  if (o->workers < 0 || o->workers > MPK_POOL_MAX_WORKERS ||
      o->threads_per_worker < 1 ||
      (o->backend != MPK_PROCESS && o->backend != MPK_THREAD) ||
      (unsigned)o->bind > (unsigned)MPK_BIND_SCATTER ||
      (unsigned)o->start > (unsigned)MPK_START_FORKSERVER ||
      isnan(o->task_timeout) || o->max_tasks_per_worker < 0)
    return MPK_EINVAL;
  if (o->backend == MPK_THREAD && (o->max_rss_bytes > 0 || o->task_timeout > 0))
    return MPK_ENOTSUP;
  return MPK_OK;
}

/* Plans of every worker; sets *oversub. */
static int make_plans(mpk_pool_t *p, const mpk_pool_opts *o, int *oversub) {
  p->cpus = calloc(p->W, sizeof(char *));
  if (p->cpus == NULL)
    return MPK_ENOMEM;
  *oversub = 0;
  for (unsigned i = 0; i < p->W; i++) {
    size_t cap = 64;
    for (;;) {
      char *buf = malloc(cap);
      if (buf == NULL)
        return MPK_ENOMEM;
      int ov = 0;
      int rc = mpk_topo_plan_ex((int)p->W, p->tpw, o->bind, o->cpuset, (int)i,
                                buf, cap, &ov);
      if (rc == MPK_EMSGSIZE && cap < 65536) {
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
    return MPK_ENOMEM;
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
  if (p->backend == MPK_PROCESS && mpk__shm_init() != MPK_OK)
    return MPK_ENOMEM;
  size_t bytes = sizeof(mpk__pool_ctl) + p->W * sizeof(mpk__wslot) +
                 p->R * sizeof(mpk__job);
  mpk__pool_ctl *c = mpk__pool_alloc(p, bytes);
  if (c == NULL)
    return MPK_ENOMEM;
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
    return MPK_ENOMEM;
  p->next_seq = 1;
  p->min_pos = 1;
  /* The workers write to the eventfd and poll the lifeline's read end;
     only this process holds its write end (internal/spawn.h). */
  int life[2] = {-1, -1};
  mpk__fds_lock();
  int efd = mpk__fd_own_locked(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), p,
                               MPK__FD_SHARED);
  rc = efd < 0 ? efd : MPK_OK;
  if (rc == MPK_OK && p->backend == MPK_PROCESS)
    rc = mpk__fd_own_pair_locked(pipe2(life, O_CLOEXEC), life, p,
                                 MPK__FD_SHARED, MPK__FD_PRIVATE);
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
    return MPK_EINVAL;
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
    return MPK_ENOMEM;
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
    return MPK_EINVAL;
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
  if (p == NULL || i < 0 || (unsigned)i >= p->W || buf == NULL || cap == 0)
    return MPK_EINVAL;
  size_t len = strlen(p->cpus[i]);
  if (len + 1 > cap)
    return MPK_EMSGSIZE;
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
    return MPK_ESTATE;
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
    return st == MPK__P_JOINED ? MPK_OK : MPK_ESTATE;
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
    if (!atomic_load(&c->ready) && !mpk__job_done(c->job))
      mpk__job_fail(c->job, MPK__LOCK_PARENT, MPK_ECLOSED, 0, 0, 0);
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

void mpk__set_last_error(mpk_pool_t *p, int code, uint64_t index, int status,
                         int signal) {
  pthread_mutex_lock(&p->mu);
  p->last_code = code;
  p->last_index = index;
  p->last_status = status;
  p->last_signal = signal;
  pthread_mutex_unlock(&p->mu);
}

int mpk_pool_last_error(mpk_pool_t *p, size_t *index, int *task_status,
                        int *signal) {
  if (p == NULL)
    return MPK_EINVAL;
  pthread_mutex_lock(&p->mu);
  int code = p->last_code;
  if (index)
    *index = code ? (size_t)p->last_index : 0;
  if (task_status)
    *task_status = code ? p->last_status : 0;
  if (signal)
    *signal = code ? p->last_signal : 0;
  pthread_mutex_unlock(&p->mu);
  return code;
}
