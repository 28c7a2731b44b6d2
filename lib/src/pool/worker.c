/* worker.c - the one worker loop, shared by the process and thread backends.
 *
 * A worker visits every published job in order. In a job it claims chunks
 * as the plan says (its own static share first, then shares of absent
 * workers; or the next DYNAMIC / GUIDED chunks from the shared counter),
 * runs them, and leaves. Between jobs it spins on ctl->pub for
 * ctl->spin_ns, then sleeps on the futex word ctl->pub_tok. Nothing here
 * makes a system call while work keeps coming, except reading the clock
 * (vDSO) when a spin or a task_timeout needs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/spawn.h"
#include "internal/topo.h"
#include "mpk/topo.h"
#include "pool/pool_internal.h"

/* Worker identity: a worker thread has its TLS set; a worker process also
   sets the process-wide values, so OpenMP threads of a hybrid worker (which
   have no TLS of ours) see them too. */
/* initial-exec: a kernel may call mpk_worker_id() per chunk; the default
   (global-dynamic) model would make every access a __tls_get_addr call. */
#define MPK__TLS _Thread_local __attribute__((tls_model("initial-exec")))
static MPK__TLS int tls_id = -1;
static MPK__TLS int tls_count;
static MPK__TLS const mpk_pool_t *tls_pool;
static int proc_id = -1;
static int proc_count;

int mpk_worker_id(void) {
  return tls_id >= 0 ? tls_id : proc_id;
}

int mpk_worker_count(void) {
  return tls_id >= 0 ? tls_count : proc_count;
}

void mpk__set_worker_process(int id, int count) {
  proc_id = id;
  proc_count = count;
}

bool mpk__in_worker_of(const mpk_pool_t *p) {
  return tls_pool == p;
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum { CONT = 0, RETIRE = 1 };

typedef struct {
  mpk_pool_t *p;
  mpk__pool_ctl *ctl;
  mpk__wslot *slot;
  mpk__wslot *slots;
  mpk__job *ring;
  uint64_t mask;
  unsigned id;
  long tasks;     /* chunks run since this worker started */
  bool retire_on; /* max_tasks or max_rss set */
  int pu;         /* the single PU this worker is pinned to, -1 if not */
  int statm;      /* /proc/self/statm, for max_rss (-1: not open) */
} wk;

/* Stop working on j: it was cancelled (its failure is recorded), or the
   pool is being terminated. In the second case j fails with MPK_ECLOSED
   here, before we leave it: the chunks we claimed and skipped (or a run we
   cut short) would otherwise count as done, and the call would return
   MPK_OK over results never computed (pool.errors
   test_terminate_mid_job). Relaxed loads: a stale read only runs one more
   chunk before noticing. */
static bool halted(const wk *w, mpk__job *j) {
  if (atomic_load_explicit(&j->cancel, memory_order_relaxed))
    return true;
  if (atomic_load_explicit(&w->ctl->stop, memory_order_relaxed) !=
      MPK__STOP_NOW)
    return false;
  mpk__failure f = mpk__failure_of(MPK_ECLOSED);
  mpk__job_fail(j, w->id + 1, &f);
  return true;
}

static size_t rss_bytes(wk *w) {
  if (w->statm < 0) {
    /* Registered: a fork from a kernel (or, with MPK_THREAD, from the
       parent) must not carry it off. */
    mpk__fds_lock();
    int fd = mpk__fd_own_locked(open("/proc/self/statm", O_RDONLY | O_CLOEXEC),
                                "open /proc/self/statm", w, MPK__FD_PRIVATE);
    mpk__fds_unlock();
    w->statm = fd < 0 ? -1 : fd;
  }
  if (w->statm < 0)
    return 0;
  char buf[128];
  ssize_t r = pread(w->statm, buf, sizeof buf - 1, 0);
  if (r <= 0)
    return 0;
  buf[r] = '\0';
  unsigned long size = 0, resident = 0;
  if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
    return 0;
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static bool should_retire(wk *w) {
  const mpk__pool_ctl *c = w->ctl;
  if (!w->retire_on)
    return false;
  if (c->max_tasks > 0 && w->tasks >= c->max_tasks)
    return true;
  return c->max_rss > 0 && rss_bytes(w) > c->max_rss;
}

static void task_failed(wk *w, mpk__job *j, uint64_t index, int status) {
  mpk__failure f = mpk__failure_of(MPK_ETASK);
  f.index = index;
  f.status = status;
  f.worker = (int32_t)w->id;
  f.pid = w->p->backend == MPK_PROCESS ? (int32_t)mpk__self_pid() : 0;
  mpk__job_fail(j, w->id + 1, &f);
}

static double apply_op(int op, double a, double b) {
  switch (op) {
  case MPK_PROD: return a * b;
  case MPK_MIN: return b < a ? b : a;
  case MPK_MAX: return b > a ? b : a;
  default: return a + b;
  }
}

/* reduce_double: FAST folds the run into this worker's accumulator (with
   Neumaier compensation: acc[0] sum, acc[1] compensation); otherwise each
   chunk writes its own partial. Never fails. */
static void run_reduce_d(wk *w, mpk__job *j, size_t c0, size_t c1, size_t lo,
                         size_t hi) {
  if (j->flags & MPK__JF_FAST) {
    double v = j->fn.sum(lo, hi, j->ctx);
    double *acc = (double *)(void *)(j->acc + w->id * j->acc_stride);
    if (j->flags & MPK__JF_NEUMAIER) {
      double t = acc[0] + v;
      acc[1] += fabs(acc[0]) >= fabs(v) ? (acc[0] - t) + v : (v - t) + acc[0];
      acc[0] = t;
    } else {
      acc[0] = apply_op(j->op, acc[0], v);
    }
    return;
  }
  double *part = (double *)(void *)j->acc;
  for (size_t c = c0; c < c1; c++) {
    if (c > c0 && halted(w, j))
      return;
    size_t a, b;
    mpk__plan_chunk(&j->plan, c, &a, &b);
    part[c] = j->fn.sum(a, b, j->ctx);
  }
}

/* generic reduction: as run_reduce_d; each chunk's accumulator starts as a
   copy of the identity. false when a kernel failed. */
static bool run_reduce_g(wk *w, mpk__job *j, size_t c0, size_t c1, size_t lo,
                         size_t hi) {
  if (j->flags & MPK__JF_FAST) {
    int r = j->fn.red(lo, hi, j->acc + w->id * j->acc_stride, j->ctx);
    if (r != 0)
      task_failed(w, j, lo, r);
    return r == 0;
  }
  for (size_t c = c0; c < c1; c++) {
    if (c > c0 && halted(w, j))
      return true;
    size_t a, b;
    mpk__plan_chunk(&j->plan, c, &a, &b);
    char *part = j->acc + c * j->elem_size;
    memcpy(part, j->identity, j->elem_size);
    int r = j->fn.red(a, b, part, j->ctx);
    if (r != 0) {
      task_failed(w, j, a, r);
      return false;
    }
  }
  return true;
}

/* map over elements [lo, hi). false when a kernel failed. */
static bool run_map(wk *w, mpk__job *j, size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; i++) {
    if (((i - lo) & 63) == 63 && halted(w, j))
      return true; /* every 64 elements: cancellation stays prompt */
    int r = j->fn.map(j->in + i * j->in_size, j->out + i * j->out_size, j->ctx);
    if (r != 0) {
      task_failed(w, j, j->base + i, r);
      return false;
    }
  }
  return true;
}

/* Run the chunk run [c0, c1) of j. false when the job failed. */
static bool exec_run(wk *w, mpk__job *j, size_t c0, size_t c1) {
  size_t lo, hi;
  mpk__plan_run(&j->plan, c0, c1, &lo, &hi);
  atomic_store_explicit(&w->slot->unit_lo,
                        j->kind == MPK__JOB_MAP ? j->base + lo : lo,
                        memory_order_relaxed);
  bool timed = w->ctl->timeout_on;
  if (timed)
    atomic_store_explicit(&w->slot->unit_start, now_ns(), memory_order_relaxed);
  bool ok = true;
  int r;
  switch (j->kind) {
  case MPK__JOB_FOR:
    r = j->fn.range(lo, hi, j->ctx);
    if (r != 0) {
      task_failed(w, j, lo, r);
      ok = false;
    }
    break;
  case MPK__JOB_REDUCE_D: run_reduce_d(w, j, c0, c1, lo, hi); break;
  case MPK__JOB_REDUCE_G: ok = run_reduce_g(w, j, c0, c1, lo, hi); break;
  case MPK__JOB_MAP: ok = run_map(w, j, lo, hi); break;
  case MPK__JOB_APPLY:
    r = j->fn.task(j->in, j->out, j->ctx);
    if (r != 0) {
      task_failed(w, j, 0, r);
      ok = false;
    }
    break;
  }
  if (timed)
    atomic_store_explicit(&w->slot->unit_start, 0, memory_order_relaxed);
  w->tasks++;
  return ok;
}

static inline bool claim_share(mpk__job *j, unsigned k) {
  uint64_t bit = 1ULL << (k & 63);
  /* relaxed pre-check keeps a claimed share's line shared among readers */
  if (atomic_load_explicit(&j->bits[k >> 6].claimed, memory_order_relaxed) &
      bit)
    return false;
  return !(atomic_fetch_or(&j->bits[k >> 6].claimed, bit) & bit);
}

/* Run share k (claimed by us). false when the job failed. */
static bool run_share(wk *w, mpk__job *j, unsigned k) {
  const mpk__plan *pl = &j->plan;
  if (pl->kind == MPK__PLAN_BLOCK) {
    size_t c0, c1;
    mpk__plan_block(pl, k, &c0, &c1);
    return c0 >= c1 || exec_run(w, j, c0, c1);
  }
  for (size_t c = k; c < pl->nchunks; c = mpk__plan_cyclic_next(pl, c)) {
    if (c != k && halted(w, j))
      return true;
    if (!exec_run(w, j, c, c + 1))
      return false;
  }
  return true;
}

/* Is the owner of share k unlikely to claim it soon? */
static bool owner_absent(const wk *w, unsigned k, uint64_t s) {
  mpk__wslot *o = &w->slots[k];
  if (atomic_load_explicit(&o->state, memory_order_relaxed) != MPK__W_READY)
    return true;
  if (atomic_load_explicit(&o->sleeping, memory_order_relaxed))
    return true;
  if (atomic_load_explicit(&o->pos, memory_order_relaxed) < s)
    return true; /* still busy with an earlier job */
  uint64_t cur = atomic_load_explicit(&o->cur, memory_order_relaxed);
  return cur != 0 && cur != s;
}

/* After our own share: take the shares of absent owners, and of any owner
   that has not claimed its share grace_ns after we started waiting. */
static int steal(wk *w, mpk__job *j, uint64_t s) {
  unsigned W = j->plan.workers;
  int64_t grace_end = 0; /* 0: not started; -1: over */
  for (;;) {
    bool waiting = false;
    for (unsigned d = 1; d < W; d++) {
      unsigned k = w->id + d < W ? w->id + d : w->id + d - W;
      uint64_t bit = 1ULL << (k & 63);
      if (atomic_load_explicit(&j->bits[k >> 6].claimed, memory_order_relaxed) &
          bit)
        continue;
      if (halted(w, j))
        return CONT;
      if (grace_end < 0 || owner_absent(w, k, s)) {
        if (claim_share(j, k)) {
          if (!run_share(w, j, k))
            return CONT;
          if (should_retire(w))
            return RETIRE;
        }
      } else {
        waiting = true;
      }
    }
    if (!waiting)
      return CONT;
    int64_t now = (int64_t)now_ns();
    if (grace_end == 0)
      grace_end = now + w->ctl->grace_ns;
    else if (now >= grace_end)
      grace_end = -1;
    for (int i = 0; i < 16; i++)
      mpk__cpu_relax();
  }
}

/* DYNAMIC `for` without task_timeout: the per-chunk path of
   exec_run without its switch. With one worker nobody competes for the
   counter, so it takes 64 chunks per atomic (still one call per chunk). */
static int dynamic_for(wk *w, mpk__job *j) {
  const mpk__plan *pl = &j->plan;
  uint64_t step = pl->workers == 1 ? 64 : 1;
  for (;;) {
    uint64_t c0 = atomic_fetch_add(&j->next, step);
    if (c0 >= pl->nchunks)
      return CONT;
    uint64_t c1 = pl->nchunks - c0 > step ? c0 + step : pl->nchunks;
    for (uint64_t c = c0; c < c1; c++) {
      if (halted(w, j))
        return CONT;
      size_t lo, hi;
      mpk__plan_chunk(pl, c, &lo, &hi);
      atomic_store_explicit(&w->slot->unit_lo, lo, memory_order_relaxed);
      int r = j->fn.range(lo, hi, j->ctx);
      w->tasks++;
      if (r != 0) {
        task_failed(w, j, lo, r);
        return CONT;
      }
    }
    if (should_retire(w))
      return RETIRE;
  }
}

static int work(wk *w, mpk__job *j, uint64_t s) {
  const mpk__plan *pl = &j->plan;
  switch (pl->kind) {
  case MPK__PLAN_BLOCK:
  case MPK__PLAN_CYCLIC:
    if (w->id < pl->workers && claim_share(j, w->id)) {
      if (!run_share(w, j, w->id))
        return CONT;
      if (should_retire(w))
        return RETIRE;
    }
    return steal(w, j, s);
  case MPK__PLAN_DYNAMIC:
    if (j->kind == MPK__JOB_FOR && !w->ctl->timeout_on)
      return dynamic_for(w, j);
    for (;;) {
      /* claim first: `cancel` shares the counter's line, which the claim
         has just made ours, so the check costs no extra transfer */
      uint64_t c = atomic_fetch_add(&j->next, 1);
      if (c >= pl->nchunks || halted(w, j))
        return CONT;
      if (!exec_run(w, j, c, c + 1))
        return CONT;
      if (should_retire(w))
        return RETIRE;
    }
  case MPK__PLAN_GUIDED:
    for (;;) {
      if (halted(w, j))
        return CONT;
      uint64_t c = atomic_load(&j->next);
      size_t k;
      do {
        if (c >= pl->nchunks)
          return CONT;
        k = mpk__plan_guided_grab(pl, c);
      } while (!atomic_compare_exchange_weak(&j->next, &c, c + k));
      if (!exec_run(w, j, c, c + k))
        return CONT;
      if (should_retire(w))
        return RETIRE;
    }
  }
  return CONT;
}

/* Visit job s: enter, work, leave. */
static int visit(wk *w, mpk__job *j, uint64_t s) {
  uint64_t bit = 1ULL << (w->id & 63);
  _Atomic uint64_t *word = &j->bits[w->id >> 6].inside;
  /* Read now: once our pos passes s the slot may be reused, and its plan
     rewritten under us (a data race TSan saw in pool.threads). */
  mpk__job_shape shape = mpk__job_shape_of(j);
  /* cur before the bit (a dead worker inside a job is found by cur): the
     seq_cst RMW below orders this store before it. */
  atomic_store_explicit(&w->slot->cur, s, memory_order_relaxed);
  atomic_fetch_or(word, bit); /* seq_cst: before any claim */
  int r = CONT;
  if (!atomic_load_explicit(&j->cancel, memory_order_relaxed))
    r = work(w, j, s);
  atomic_fetch_and(word, ~bit);  /* seq_cst: after our last chunk */
  atomic_fetch_add(&j->left, 1); /* seq_cst: after the bit (call.c) */
  /* cur before pos: a worker found dead with cur == s still has pos == s,
     so slot s cannot have been reused (see monitor.c). */
  atomic_store_explicit(&w->slot->cur, 0, memory_order_release);
  atomic_store(&w->slot->pos, r == RETIRE ? s : s + 1); /* seq_cst */
  /* A waiter increments `waiters` before re-testing its predicate, which
     may read our bit, `left` or our pos (a submitter waiting for slot s to
     be free of every worker); we publish all three before reading
     `waiters`: one of us sees the other. The last worker to publish its
     pos finds the job done, so someone wakes the waiter after the last. */
  if (atomic_load(&w->ctl->waiters) && mpk__job_done_as(j, shape))
    mpk__progress_wake(w->ctl);
  return r;
}

static void idle(wk *w, uint64_t pos) {
  mpk__pool_ctl *ctl = w->ctl;
  int64_t spin = ctl->spin_ns;
  if (spin > 0) {
    uint64_t now = now_ns(), last_yield = now;
    uint64_t end = spin == INT64_MAX ? UINT64_MAX : now + (uint64_t)spin;
    for (;;) {
      for (int i = 0; i < 64; i++) {
        if (atomic_load_explicit(&ctl->pub, memory_order_acquire) >= pos ||
            atomic_load_explicit(&ctl->stop, memory_order_relaxed))
          return;
        mpk__cpu_relax();
      }
      now = now_ns();
      /* a caller may want our PU (pool.c, Yielding): let it run */
      if (w->pu >= 0 &&
          ((ctl->crowded && now - last_yield >= (uint64_t)ctl->yield_ns) ||
           atomic_load_explicit(&ctl->wait_pu, memory_order_relaxed) ==
               w->pu)) {
        sched_yield();
        last_yield = now;
      }
      if (now >= end)
        break;
    }
  }
  /* Sleep. seq_cst: sleepers++ before re-reading pub pairs with the
     publisher's pub store before it reads sleepers. */
  atomic_store(&w->slot->sleeping, 1);
  atomic_fetch_add(&ctl->sleepers, 1);
  uint32_t tok = atomic_load(&ctl->pub_tok);
  if (atomic_load(&ctl->pub) < pos && !atomic_load(&ctl->stop)) {
    mpk__deadline forever;
    mpk__deadline_init(&forever, MPK_FOREVER);
    mpk__futex_wait(&ctl->pub_tok, tok, &forever);
  }
  atomic_fetch_sub(&ctl->sleepers, 1);
  atomic_store(&w->slot->sleeping, 0);
}

int mpk__worker_loop(mpk_pool_t *p, unsigned id) {
  wk w = {.p = p,
          .ctl = p->ctl,
          .slot = &p->slots[id],
          .slots = p->slots,
          .ring = p->ring,
          .mask = p->R - 1,
          .id = id,
          .retire_on = p->ctl->max_tasks > 0 || p->ctl->max_rss > 0,
          .pu = -1,
          .statm = -1};
  for (int c = 0; c < p->n_pu; c++)
    if (p->pu_worker[c] == (int)id)
      w.pu = c;
  uint64_t pos = atomic_load_explicit(&w.slot->pos, memory_order_acquire);
  int rc = MPK__WEXIT_STOP;
  for (;;) {
    uint32_t stop = atomic_load_explicit(&w.ctl->stop, memory_order_acquire);
    if (stop == MPK__STOP_NOW)
      break;
    uint64_t pub = atomic_load_explicit(&w.ctl->pub, memory_order_acquire);
    if (pos <= pub) {
      if (visit(&w, &w.ring[pos & w.mask], pos) == RETIRE) {
        rc = MPK__WEXIT_RETIRE;
        break;
      }
      pos++;
      continue;
    }
    if (stop == MPK__STOP_IDLE)
      break;
    idle(&w, pos);
  }
  mpk__fd_close(w.statm);
  return rc;
}

/* ---- worker start-up ---------------------------------------------------- */

/* The OpenMP team of a hybrid worker (threads_per_worker = k > 1). One
   region of k threads at start-up: every team thread takes the worker's
   identity (our thread-locals), and with OMP_PROC_BIND set (not false) binds
   itself to one PU of the worker's cpuset, `close` packing team thread t
   onto PU t and `spread` spacing them evenly. libgomp keeps a master's team
   threads between regions, so both hold for later regions of up to k
   threads. */
static void team_setup(mpk_pool_t *p, unsigned id) {
  const char *cpus = p->bind_none ? NULL : p->cpus[id];
  omp_proc_bind_t pb = omp_get_proc_bind();
  int *pu = NULL, npu = 0;
  if (cpus != NULL && pb != omp_proc_bind_false) {
    hwloc_topology_t topo;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set && mpk__topo_get(&topo) == MPK_OK &&
        mpk__topo_parse(topo, cpus, set) == MPK_OK &&
        hwloc_bitmap_weight(set) > 0) {
      pu = malloc(sizeof(int) * (size_t)hwloc_bitmap_weight(set));
      if (pu) {
        int i;
        hwloc_bitmap_foreach_begin(i, set) {
          pu[npu++] = i;
        }
        hwloc_bitmap_foreach_end();
      }
    }
    hwloc_bitmap_free(set);
  }
  int tpw = p->tpw;
#pragma omp parallel num_threads(tpw)
  {
    tls_id = (int)id;
    tls_count = (int)p->W;
    tls_pool = p;
    if (npu > 0) {
      int t = omp_get_thread_num();
      int idx =
          pb == omp_proc_bind_spread ? (int)((long)t * npu / tpw) : t % npu;
      char one[16];
      snprintf(one, sizeof one, "%d", pu[idx % npu]);
      mpk_bind_self(one);
    }
  }
  free(pu);
}

static void notify(mpk_pool_t *p) {
  uint64_t one = 1;
  ssize_t r;
  do
    r = write(p->efd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

void *mpk__worker_thread(void *arg) {
  mpk__wstart st = *(mpk__wstart *)arg;
  free(arg);
  mpk_pool_t *p = st.pool;
  unsigned id = st.id;
  mpk__wslot *slot = &p->slots[id];
  pthread_sigmask(SIG_SETMASK, &p->sigmask, NULL);
  tls_id = (int)id;
  tls_count = (int)p->W;
  tls_pool = p;
  if (st.bind_here && !p->bind_none)
    mpk_bind_self(p->cpus[id]);
  /* The OpenMP team of this worker: threads_per_worker threads (1 keeps a
     stray `omp parallel` from oversubscribing the node). */
  omp_set_num_threads(p->tpw);
  if (p->tpw > 1)
    team_setup(p, id);
  int rc;
  if (p->init && p->init(p->init_arg) != 0) {
    rc = MPK__WEXIT_INITFAIL;
  } else {
    /* The pid is published here, before READY, by the worker itself: the
       parent's copy (stored after fork returns, or when the fork server's
       M_SPAWNED arrives) can come after this worker has already run a task,
       and mpk_pool_worker_pid must never say 0 for a worker that is READY. */
    if (p->backend == MPK_PROCESS)
      atomic_store(&slot->pid, (int32_t)getpid());
    atomic_store(&slot->state, MPK__W_READY);
    notify(p);
    rc = mpk__worker_loop(p, id);
  }
  atomic_store(&slot->state, MPK__W_RETIRING);
  notify(p);
  return (void *)(intptr_t)rc;
}
